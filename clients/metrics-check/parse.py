"""Parses a /metrics exposition (stdin) with prometheus_client's reference parsers and prints
its families as JSON: {"families": {name: {"type", "samples": [[name, labels, value]]}}}.

The OpenMetrics parser is strict (what /metrics serves: every family typed, counters ending in
_total, histograms with cumulative buckets up to +Inf, the closing # EOF); the classic text
parser (what older Prometheus servers and many tools read) must accept it too. Either failing
exits non-zero with the parser's message.
"""

import json
import math
import sys

from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families as classic_families


def value(v):
    # JSON has no NaN or infinities: say them as strings.
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return v


def main():
    text = sys.stdin.read()
    families = {}
    for family in openmetrics_families(text):
        if family.name in families:
            raise SystemExit(f"family {family.name} appears twice")
        families[family.name] = {
            "type": family.type,
            "samples": [[s.name, s.labels, value(s.value)] for s in family.samples],
        }
    classic = sorted({f.name for f in classic_families(text)})
    print(json.dumps({"families": families, "classic": classic}))


if __name__ == "__main__":
    main()
