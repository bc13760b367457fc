#!/usr/bin/env python3
"""Independent ground truth for a PodOps feed, for the Rust tests.

Reads the feed at argv[1] with feedparser and podcastparser, validates every
podcast:* element the 2021 namespace XSD declares with xmllint (wrapped in
<podcast:test-wrapper>, the schema's own convention), and prints one JSON
object with what each of them saw. The Rust test asserts on it.
"""
import io
import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

import feedparser
import podcastparser

PODCAST_NS = "https://podcastindex.org/namespace/1.0"
# Elements the 2021 XSD declares; newer ones (guid, alternateEnclosure) are checked by the tests.
XSD_DECLARED = {"chapters", "episode", "funding", "images", "location", "locked", "person",
                "season", "soundbite", "transcript", "value", "valueRecipient"}


def xsd_check(raw: bytes, schema_dir: str):
    root = ET.fromstring(raw)
    found = [el for el in root.iter() if el.tag.startswith("{%s}" % PODCAST_NS)]
    declared = [el for el in found if el.tag.split("}")[1] in XSD_DECLARED]
    ET.register_namespace("podcast", PODCAST_NS)
    wrapper = ET.Element("{%s}test-wrapper" % PODCAST_NS)
    for el in declared:
        wrapper.append(el)
    with tempfile.NamedTemporaryFile("wb", suffix=".xml", delete=False) as f:
        f.write(ET.tostring(wrapper, encoding="utf-8", xml_declaration=True))
        path = f.name
    try:
        r = subprocess.run(["xmllint", "--noout", "--schema", os.path.join(schema_dir, "podcast-wrapper.xsd"), path],
                           capture_output=True, text=True)
    finally:
        os.unlink(path)
    return {"valid": r.returncode == 0, "checked": len(declared),
            "elements": sorted({el.tag.split("}")[1] for el in found}), "output": r.stderr.strip()[-2000:]}


def main():
    path, schema_dir = sys.argv[1], sys.argv[2]
    raw = open(path, "rb").read()
    fp = feedparser.parse(raw)
    items = []
    for e in fp.entries:
        enc = (e.get("enclosures") or [{}])[0]
        items.append({"title": e.get("title"), "guid": e.get("id"), "duration": e.get("itunes_duration"),
                      "enclosure": {"url": enc.get("href"), "length": enc.get("length"), "type": enc.get("type")},
                      "episode": e.get("itunes_episode"), "season": e.get("itunes_season"),
                      "summary": e.get("summary"), "published": e.get("published")})
    channel = fp.feed
    pp = podcastparser.parse(path, io.BytesIO(raw))
    out = {
        "feedparser": {
            "bozo": bool(fp.bozo), "bozo_exception": str(fp.get("bozo_exception", "")),
            "version": fp.version, "title": channel.get("title"), "language": channel.get("language"),
            "author": channel.get("author"), "image": (channel.get("image") or {}).get("href"),
            "explicit": channel.get("itunes_explicit"), "categories": [t.get("term") for t in channel.get("tags", [])],
            "items": items,
        },
        "podcastparser": {
            "title": pp.get("title"), "type": pp.get("type"), "cover_url": pp.get("cover_url"),
            "episodes": [{"title": e.get("title"), "guid": e.get("guid"), "total_time": e.get("total_time"),
                          "enclosures": [{"url": x.get("url"), "file_size": x.get("file_size"), "mime_type": x.get("mime_type")} for x in e.get("enclosures", [])],
                          "chapters": e.get("chapters"), "number": e.get("number")}
                         for e in pp.get("episodes", [])],
        },
        "xsd": xsd_check(raw, schema_dir),
    }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
