"""Reads Prometheus text on stdin with prometheus-client's own parser and
prints its samples as JSON lines: {"name", "labels", "value"}. A document
the parser refuses fails with its error."""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

for family in text_string_to_metric_families(sys.stdin.read()):
    for sample in family.samples:
        print(json.dumps({"family": family.name, "type": family.type, "name": sample.name, "labels": sample.labels, "value": sample.value}))
