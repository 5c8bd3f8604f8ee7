#!/usr/bin/env python3
"""Runs GrowthBook's statistics engine (gbstats 0.8.0) on experiment aggregates and prints its
numbers, for crates/stats/tests/gbstats.rs to compare with switchyard-stats.

stdin:  {"cases": [{"id", "kind": "proportion"|"count"|"mean"|"ratio", "cuped": bool,
                    "weights": [..], "alpha", "tuning", "inverse": bool,
                    "prior": {"proper": bool, "mean", "stddev"},
                    "arms": [{"units", "sum", "sum_sq", "den_sum", "den_sum_sq", "den_cross",
                              "cov_sum", "cov_sum_sq", "cov_cross"}]}],
         "p_values": [..]}
stdout: {"cases": [{"id", "srm", "analyses": {"<engine>/<difference>": [one entry per
         variation after the control, arm 0: {"error", "mean", "stddev", "ci",
         "p_value" | "chance_to_win" and "risk"}]}}],
         "bh": scipy's Benjamini-Hochberg adjustment of "p_values"}

Each case goes through gbstats' own entry point for one metric (process_single_metric), with
one analysis per engine (bayesian, frequentist fixed horizon, frequentist sequential) and
difference type (relative, absolute), exactly as GrowthBook's back end calls it.
"""

import json
import math
import sys
import warnings

import scipy.stats
from gbstats.gbstats import process_single_metric
from gbstats.models.settings import (
    AnalysisSettingsForStatsEngine,
    MetricSettingsForStatsEngine,
)

warnings.simplefilter("ignore")

ENGINES = ("bayesian", "frequentist", "sequential")
DIFFERENCES = ("relative", "absolute")


def number(v):
    """A JSON-safe float: non-finite values become strings (serde_json has no NaN)."""
    v = float(v)
    return v if math.isfinite(v) else str(v)


def metric_settings(case):
    main_type = "binomial" if case["kind"] == "proportion" else "count"
    settings = dict(
        id="m",
        name="m",
        main_metric_type=main_type,
        inverse=case["inverse"],
        prior_proper=case["prior"]["proper"],
        prior_mean=case["prior"]["mean"],
        prior_stddev=case["prior"]["stddev"],
    )
    if case["kind"] == "ratio":
        settings.update(statistic_type="ratio", denominator_metric_type="count")
    elif case["cuped"]:
        settings.update(statistic_type="mean_ra", covariate_metric_type=main_type)
    else:
        settings.update(statistic_type="mean")
    return MetricSettingsForStatsEngine(**settings)


def rows(case):
    out = []
    for i, arm in enumerate(case["arms"]):
        out.append(
            {
                "dimension": "All",
                "variation": str(i),
                "users": arm["units"],
                "count": arm["units"],
                "main_sum": arm["sum"],
                "main_sum_squares": arm["sum_sq"],
                "denominator_sum": arm.get("den_sum", 0),
                "denominator_sum_squares": arm.get("den_sum_sq", 0),
                "main_denominator_sum_product": arm.get("den_cross", 0),
                "covariate_sum": arm.get("cov_sum", 0),
                "covariate_sum_squares": arm.get("cov_sum_sq", 0),
                "main_covariate_sum_product": arm.get("cov_cross", 0),
            }
        )
    return out


def analyses(case):
    ids = [str(i) for i in range(len(case["arms"]))]
    out = []
    for engine in ENGINES:
        for difference in DIFFERENCES:
            out.append(
                AnalysisSettingsForStatsEngine(
                    var_names=ids,
                    var_ids=ids,
                    weights=case["weights"],
                    stats_engine="bayesian" if engine == "bayesian" else "frequentist",
                    sequential_testing_enabled=engine == "sequential",
                    sequential_tuning_parameter=case["tuning"],
                    difference_type=difference,
                    alpha=case["alpha"],
                )
            )
    return out


def variation(v):
    entry = {
        "error": v.errorMessage,
        "mean": number(v.uplift.mean),
        "stddev": number(v.uplift.stddev),
        "ci": [number(x) for x in v.ci],
    }
    if hasattr(v, "pValue"):
        entry["p_value"] = number(v.pValue)
    else:
        entry["chance_to_win"] = number(v.chanceToWin)
        entry["risk"] = [number(x) for x in v.risk]
    return entry


def run(case):
    result = process_single_metric(rows(case), metric_settings(case), analyses(case))
    out = {"id": case["id"], "analyses": {}}
    i = 0
    for engine in ENGINES:
        for difference in DIFFERENCES:
            dimension = result.analyses[i].dimensions[0]
            out["srm"] = number(dimension.srm)
            out["analyses"][f"{engine}/{difference}"] = [
                variation(v) for v in dimension.variations[1:]
            ]
            i += 1
    return out


def main():
    data = json.load(sys.stdin)
    cases = [run(case) for case in data["cases"]]
    p_values = data.get("p_values", [])
    bh = scipy.stats.false_discovery_control(p_values, method="bh") if p_values else []
    json.dump({"cases": cases, "bh": [number(x) for x in bh]}, sys.stdout)


if __name__ == "__main__":
    main()
