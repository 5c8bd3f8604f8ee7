//! The release document, its plan and its assessment, checked together.

#![allow(clippy::unwrap_used, clippy::panic)]

use switchyard_engine::model::{Serve, Targeting};
use switchyard_store::events::{MetricMoments, StageCohorts};

use super::plan::parse_window;
use super::*;

mod simulation;

/// A flag that is on and serves everyone `off`, with no rules.
fn serving_off() -> Targeting {
    Targeting {
        on: true,
        off_variation: Some(1),
        prerequisites: vec![],
        targets: vec![],
        rules: vec![],
        fallthrough: Serve::Variation(1),
    }
}

fn release(guardrails: Vec<Guardrail>) -> Release {
    let input: ReleaseInput = serde_json::from_value(serde_json::json!({
        "flag": "checkout", "variation": "on",
        "stages": [{"percent": 5, "min_bake_s": 60, "min_treated": 10},
                   {"percent": 50, "min_bake_s": 60}],
    }))
    .unwrap();
    let mut release = Release::new(
        "r1".into(),
        ("p", "production"),
        ReleaseInput {
            guardrails,
            ..input
        },
        &["on".into(), "off".into()],
        &serving_off(),
        0,
    )
    .unwrap();
    release.stage_started_ms = 0;
    release
}

fn errors() -> Guardrail {
    Guardrail {
        metric: "error".into(),
        kind: GuardrailKind::BadEvents,
        direction: Direction::IncreaseIsBad,
        margin: 0.0,
        max_treated_rate: Some(0.5),
    }
}

fn cohorts(treated: i64, control: i64, y_t: i64, y_c: i64) -> StageCohorts {
    let mut c = StageCohorts::default();
    c.evaluations.insert("treated".into(), treated);
    c.evaluations.insert("control".into(), control);
    c.contexts.insert("treated".into(), treated / 10);
    c.contexts.insert("control".into(), control / 10);
    for (cohort, n) in [("treated", y_t), ("control", y_c)] {
        c.metrics.insert(
            ("error".into(), cohort.into()),
            MetricMoments {
                count: n,
                sum: n as f64,
                sum_of_squares: n as f64,
            },
        );
    }
    c
}

fn fresh(now_ms: i64) -> Freshness {
    Freshness {
        evaluations: 1,
        changed_ms: now_ms,
    }
}

#[test]
fn a_five_fold_regression_at_five_percent_breaches_with_the_shared_value() {
    // guardrail-statistics.md: ρ = 0.05, y_T = 20, y_C = 100 → ln E 9.572424 with M = 4;
    // here M = 1 (threshold ln 100), and the evidence reports the same ln E formula.
    let r = release(vec![errors()]);
    let a = assess(&r, &cohorts(500, 9500, 20, 100), fresh(1000), 1000);
    let e = &a.guardrails[0];
    assert!((e.threshold.unwrap() - 100f64.ln()).abs() < 1e-9);
    assert!(e.ln_e_total.unwrap() > e.threshold.unwrap(), "{e:?}");
    assert!(matches!(a.verdict, Verdict::Breach { .. }), "{a:?}");
}

#[test]
fn equal_rates_continue_and_a_baked_stage_advances() {
    let r = release(vec![errors()]);
    let a = assess(&r, &cohorts(500, 9500, 5, 95), fresh(1000), 1000);
    assert!(matches!(a.verdict, Verdict::Continue { .. }), "{a:?}");
    let a = assess(&r, &cohorts(500, 9500, 5, 95), fresh(61_000), 61_000);
    assert_eq!(a.verdict, Verdict::Advance);
}

#[test]
fn tier0_breaches_on_absolute_rate_without_control() {
    let r = release(vec![errors()]);
    let a = assess(&r, &cohorts(30, 0, 20, 0), fresh(1000), 1000);
    assert!(matches!(a.verdict, Verdict::Breach { .. }), "{a:?}");
    assert!(a.guardrails[0].treated_rate.unwrap() > 0.5);
}

#[test]
fn sample_ratio_mismatch_and_stale_data_hold() {
    let r = release(vec![errors()]);
    let a = assess(&r, &cohorts(5000, 5000, 0, 0), fresh(1000), 1000);
    assert!(matches!(a.verdict, Verdict::Hold { ref reason } if reason.contains("sample ratio")));
    let stale = Freshness {
        evaluations: 1,
        changed_ms: 0,
    };
    let a = assess(&r, &cohorts(500, 9500, 0, 0), stale, 601_000);
    assert!(matches!(a.verdict, Verdict::Hold { ref reason } if reason.contains("stale")));
}

#[test]
fn templates_ramp_monotonically_and_end_with_a_holdback() {
    let default = template_stages(&Template::Default { min_treated: 1000 }, true).unwrap();
    let weights: Vec<u32> = default.iter().map(|s| s.weight).collect();
    assert_eq!(weights, [0, 1000, 5000, 25000, 50000, 98000]);
    let linear = template_stages(
        &Template::Linear {
            step_percent: 20.0,
            every_s: 360,
            final_bake_s: 600,
            min_treated: 0,
        },
        false,
    )
    .unwrap();
    let weights: Vec<u32> = linear.iter().map(|s| s.weight).collect();
    assert_eq!(weights, [20000, 40000, 60000, 80000, 98000]);
    let exponential = template_stages(
        &Template::Exponential {
            start_percent: 1.0,
            every_s: 60,
            final_bake_s: 600,
            min_treated: 0,
        },
        false,
    )
    .unwrap();
    let weights: Vec<u32> = exponential.iter().map(|s| s.weight).collect();
    assert_eq!(
        weights,
        [1000, 2000, 4000, 8000, 16000, 32000, 64000, 98000]
    );
}

#[test]
fn windows_are_utc_days_and_times() {
    // 2026-11-23 is a Monday; 10:00 UTC.
    let monday_10 = 1_795_428_000_000;
    let window = |days: &[&str], start: &str, end: &str| {
        parse_window(&Window {
            days: days.iter().map(|d| (*d).to_owned()).collect(),
            start: start.into(),
            end: end.into(),
        })
        .unwrap()
    };
    assert!(window(&["mon"], "09:00", "17:00").contains(monday_10));
    assert!(!window(&["tue"], "09:00", "17:00").contains(monday_10));
    assert!(!window(&[], "11:00", "17:00").contains(monday_10));
    assert!(window(&[], "22:00", "11:00").contains(monday_10));
    assert!(
        parse_window(&Window {
            days: vec!["someday".into()],
            start: "09:00".into(),
            end: "10:00".into()
        })
        .is_err()
    );
}

#[test]
fn stages_apply_as_one_layer_and_roll_back_to_exactly_the_previous_serving() {
    let mut r = release(vec![]);
    let mut targeting = serving_off();
    let before = targeting.clone();
    r.apply_stage(&mut targeting, 0).unwrap();
    r.stage = 1;
    r.apply_stage(&mut targeting, 0).unwrap();
    let Serve::Release(layer) = &targeting.fallthrough else {
        panic!("no layer");
    };
    assert_eq!((layer.stage.as_str(), layer.weight), ("r1.1", 50_000));
    assert_eq!(layer.previous, Serve::Variation(1));
    let other = Release {
        id: "r2".into(),
        ..r.clone()
    };
    assert!(other.apply_stage(&mut targeting.clone(), 0).is_err());
    assert!(r.remove_layer(&mut targeting, |previous| previous).unwrap());
    assert_eq!(targeting, before);
    assert!(!r.remove_layer(&mut targeting, |p| p).unwrap());
}

#[test]
fn mean_guardrails_report_each_cohorts_quantiles_and_decide_as_without_them() {
    let latency = Guardrail {
        metric: "latency_ms".into(),
        kind: GuardrailKind::Mean,
        direction: Direction::IncreaseIsBad,
        margin: 0.0,
        max_treated_rate: None,
    };
    let r = release(vec![errors(), latency]);
    let mut c = cohorts(500, 9500, 5, 95);
    // Treated: 1…200 ms; control: 1…100 ms.
    for (cohort, top) in [("treated", 200), ("control", 100)] {
        let mut histogram = switchyard_stats::Histogram::new();
        let mut moments = MetricMoments::default();
        for v in 1..=top {
            histogram.add(f64::from(v)).unwrap();
            moments.count += 1;
            moments.sum += f64::from(v);
            moments.sum_of_squares += f64::from(v * v);
        }
        c.metrics
            .insert(("latency_ms".into(), cohort.into()), moments);
        c.histograms
            .insert(("latency_ms".into(), cohort.into()), histogram);
    }
    let a = assess(&r, &c, fresh(1000), 1000);
    let (errors_evidence, latency_evidence) = (&a.guardrails[0], &a.guardrails[1]);
    assert_eq!(errors_evidence.treated_quantiles, None, "bad_events: none");
    let near = |got: f64, exact: f64| (got - exact).abs() <= 0.01 * exact * (1.0 + 1e-9);
    let treated = latency_evidence.treated_quantiles.unwrap();
    let control = latency_evidence.control_quantiles.unwrap();
    // Exact sample quantiles at rank ⌊q (n − 1)⌋.
    for (got, exact) in [
        (treated.p50, 100.0),
        (treated.p90, 180.0),
        (treated.p99, 198.0),
        (control.p50, 50.0),
        (control.p90, 90.0),
        (control.p99, 99.0),
    ] {
        assert!(near(got, exact), "{got} for {exact}: {latency_evidence:?}");
    }
    assert!(latency_evidence.treated_mean.is_some());
    let json = serde_json::to_value(latency_evidence).unwrap();
    assert!(json["treated_quantiles"]["p99"].is_number(), "{json}");
    // The distributions are shown, not judged: without them the decision is the same.
    c.histograms.clear();
    let without = assess(&r, &c, fresh(1000), 1000);
    assert_eq!(without.verdict, a.verdict);
    assert_eq!(without.guardrails[1].interval, latency_evidence.interval);
    assert_eq!(without.guardrails[1].treated_quantiles, None);
}
