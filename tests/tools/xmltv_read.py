"""Reads an XMLTV file with python-xmltv (PyPI; an XMLTV reader apart from
ours) and prints what it found as JSON: {"channels": [...], "programmes": [...]}.

python-xmltv 1.4.3, its latest release, is Python 2 code (`dict.has_key`):
its source is converted by lib2to3's standard fixers in memory and run as is,
so what reads the guide is still that library's parser."""
import importlib.util
import json
import sys
import types
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from lib2to3 import refactor

spec = importlib.util.find_spec("xmltv")
source = open(spec.origin, encoding="utf-8").read()
tool = refactor.RefactoringTool(refactor.get_fixers_from_package("lib2to3.fixes"))
xmltv = types.ModuleType("xmltv")
exec(compile(str(tool.refactor_string(source + "\n", "xmltv")), spec.origin, "exec"), xmltv.__dict__)

with open(sys.argv[1], "rb") as f:
    channels = xmltv.read_channels(f)
with open(sys.argv[1], "rb") as f:
    programmes = xmltv.read_programmes(f)

print(json.dumps({
    "channels": [{"id": c["id"], "names": [n[0] for n in c.get("display-name", [])]} for c in channels],
    "programmes": [{"channel": p["channel"], "start": p["start"], "stop": p.get("stop"), "titles": [t[0] for t in p.get("title", [])]} for p in programmes],
}))
