#!/usr/bin/env python3
"""Parses OpenMetrics text from stdin strictly with the Prometheus project's own parser
(prometheus_client) and prints its families and samples as JSON; exits non-zero on bad text."""
import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families

out = []
for f in text_string_to_metric_families(sys.stdin.read()):
    out.append({"name": f.name, "type": f.type, "unit": f.unit,
                "samples": [[s.name, s.labels, s.value] for s in f.samples]})
print(json.dumps(out))
