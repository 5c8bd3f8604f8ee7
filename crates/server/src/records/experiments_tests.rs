#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::json;
use switchyard_engine::model::{Condition, Rule};

use super::*;

fn keys() -> Vec<String> {
    ["a", "b", "c"].map(String::from).to_vec()
}

fn metrics() -> BTreeMap<String, Metric> {
    let metric: Metric = serde_json::from_value(json!({
        "key": "conversion", "event": "purchase", "kind": "proportion",
        "direction": "increase_is_good", "mde": 0.02
    }))
    .unwrap();
    BTreeMap::from([("conversion".to_owned(), metric)])
}

fn plan() -> ExperimentPlan {
    serde_json::from_value(json!({
        "flag": "checkout", "name": "new checkout", "variations": ["a", "b"], "control": "a",
        "traffic_percent": 50.0, "primary_metric": "conversion"
    }))
    .unwrap()
}

fn experiment(plan: ExperimentPlan) -> Experiment {
    Experiment {
        id: "abcd".into(),
        project: "default".into(),
        environment: "production".into(),
        plan,
        seed: Experiment::seed_of("abcd"),
        state: ExperimentState::Draft,
        phase: 1,
        started_ms: None,
        stopped_ms: None,
        shipped_variation: None,
        previous: None,
        metrics: Vec::new(),
        history: Vec::new(),
        created_ms: 0,
        updated_ms: 0,
    }
}

fn targeting(fallthrough: Serve) -> Targeting {
    Targeting {
        on: true,
        off_variation: Some(0),
        prerequisites: Vec::new(),
        targets: Vec::new(),
        rules: vec![Rule {
            id: "beta".into(),
            condition: Condition::always(),
            serve: Serve::Variation(2),
        }],
        fallthrough,
    }
}

#[test]
fn a_metric_refuses_each_bad_field_by_name() {
    let good = metrics()["conversion"].clone();
    assert!(good.validate().is_ok());
    assert_eq!(good.window_hours, 72);
    let field = |metric: Metric| metric.validate().unwrap_err().field;
    let ratio = Metric {
        kind: MetricKind::Ratio,
        ..good.clone()
    };
    assert_eq!(field(ratio), "denominator_event");
    let with_denominator = Metric {
        denominator_event: Some("orders".into()),
        ..good.clone()
    };
    assert_eq!(field(with_denominator), "denominator_event");
    for mde in [0.0, -0.1, f64::NAN] {
        assert_eq!(
            field(Metric {
                mde,
                ..good.clone()
            }),
            "mde"
        );
    }
    for window_hours in [0, 2161] {
        let metric = Metric {
            window_hours,
            ..good.clone()
        };
        assert_eq!(field(metric), "window_hours");
    }
    let unknown_kind = serde_json::from_value::<Metric>(json!({
        "key": "m", "event": "e", "kind": "median", "direction": "increase_is_good", "mde": 0.1
    }));
    assert!(unknown_kind.unwrap_err().to_string().contains("median"));
}

#[test]
fn metrics_reading_one_event_in_different_windows_are_refused_on_the_later_one() {
    let metric = |key: &str, event: &str, window_hours: u32, denominator: Option<&str>| {
        let mut metric = Metric {
            key: key.into(),
            event: event.into(),
            window_hours,
            ..metrics()["conversion"].clone()
        };
        if let Some(denominator) = denominator {
            metric.kind = MetricKind::Ratio;
            metric.denominator_event = Some(denominator.into());
        }
        (key.to_owned(), metric)
    };
    let all = BTreeMap::from([
        metric("conversion", "purchase", 72, None),
        metric("purchases_week", "purchase", 168, None),
        metric("purchases_3d", "purchase", 72, None),
        metric("orders", "order", 24, None),
        metric("revenue_per_order", "revenue", 72, Some("order")),
    ]);
    let with = |secondary: &[&str], guardrail: &[&str]| ExperimentPlan {
        secondary_metrics: secondary.iter().map(|s| s.to_string()).collect(),
        guardrail_metrics: guardrail.iter().map(|s| s.to_string()).collect(),
        ..plan()
    };
    assert!(
        with(&["purchases_3d"], &["orders"])
            .validate(&keys(), &all)
            .is_ok()
    );
    let refused = with(&["orders"], &["purchases_week"])
        .validate(&keys(), &all)
        .unwrap_err();
    assert_eq!(refused.field, "guardrail_metrics[0]");
    assert!(
        refused.message.contains("\"purchase\"") && refused.message.contains("\"conversion\""),
        "{}",
        refused.message
    );
    let denominator = with(&["orders", "revenue_per_order"], &[]);
    assert_eq!(
        denominator.validate(&keys(), &all).unwrap_err().field,
        "secondary_metrics[1]",
        "a ratio's denominator event is read in the ratio's window"
    );
    let primary = ExperimentPlan {
        primary_metric: "purchases_week".into(),
        secondary_metrics: vec!["conversion".into()],
        ..plan()
    };
    assert_eq!(
        primary.validate(&keys(), &all).unwrap_err().field,
        "secondary_metrics[0]"
    );
}

#[test]
fn a_plan_refuses_each_bad_field_by_name() {
    assert!(plan().validate(&keys(), &metrics()).is_ok());
    let field = |plan: ExperimentPlan| plan.validate(&keys(), &metrics()).unwrap_err().field;
    let control = ExperimentPlan {
        control: "c".into(),
        ..plan()
    };
    assert_eq!(field(control), "control");
    for traffic_percent in [0.0, 100.5, -1.0, f64::INFINITY] {
        let plan = ExperimentPlan {
            traffic_percent,
            ..plan()
        };
        assert_eq!(field(plan), "traffic_percent");
    }
    let unknown = ExperimentPlan {
        primary_metric: "revenue".into(),
        ..plan()
    };
    assert_eq!(field(unknown), "primary_metric");
    let secondary = ExperimentPlan {
        secondary_metrics: vec!["nope".into()],
        ..plan()
    };
    assert_eq!(field(secondary), "secondary_metrics[0]");
    let one = ExperimentPlan {
        variations: vec!["a".into()],
        ..plan()
    };
    assert_eq!(field(one), "variations");
    let missing = ExperimentPlan {
        variations: vec!["a".into(), "z".into()],
        ..plan()
    };
    assert_eq!(field(missing), "variations[1]");
    let weights = ExperimentPlan {
        weights: Some(vec![50.0, 40.0]),
        ..plan()
    };
    assert_eq!(field(weights), "weights");
    let prior = ExperimentPlan {
        prior: Some(Prior {
            mean: 0.0,
            stddev: 0.3,
        }),
        ..plan()
    };
    assert_eq!(field(prior), "prior");
}

#[test]
fn the_rollout_splits_the_traffic_by_weight_and_leaves_the_rest_to_the_previous_variation() {
    let plan = ExperimentPlan {
        variations: vec!["a".into(), "b".into(), "c".into()],
        weights: Some(vec![50.0, 25.0, 25.0]),
        traffic_percent: 40.0,
        ..plan()
    };
    let rollout = experiment(plan).rollout(&keys(), 0).unwrap();
    let slices: Vec<(usize, u32, bool)> = rollout
        .variations
        .iter()
        .map(|s| (s.variation, s.weight, s.untracked))
        .collect();
    assert_eq!(
        slices,
        [
            (0, 20_000, false),
            (1, 10_000, false),
            (2, 10_000, false),
            (0, 60_000, true)
        ]
    );
    assert!(rollout.experiment);
    assert_eq!(rollout.seed.as_deref(), Some("experiment-abcd"));
}

#[test]
fn uneven_shares_still_sum_to_the_traffic_and_full_traffic_has_no_untracked_slice() {
    let plan = ExperimentPlan {
        variations: keys(),
        traffic_percent: 100.0,
        ..plan()
    };
    let rollout = experiment(plan).rollout(&keys(), 1).unwrap();
    let total: u32 = rollout.variations.iter().map(|s| s.weight).sum();
    assert_eq!(total, 100_000);
    assert_eq!(rollout.variations.len(), 3);
    assert!(rollout.variations.iter().all(|s| !s.untracked));
}

#[test]
fn begin_then_restore_puts_back_exactly_what_was_served() {
    let mut on_rule = experiment(ExperimentPlan {
        rule: Some("beta".into()),
        ..plan()
    });
    let before = targeting(Serve::Variation(1));
    let mut during = before.clone();
    on_rule.begin(&mut during, &keys()).unwrap();
    assert_eq!(on_rule.previous, Some(Serve::Variation(2)));
    assert_eq!(
        during.fallthrough, before.fallthrough,
        "only the rule changes"
    );
    assert_eq!(running_experiment(&during.rules[0].serve), Some("abcd"));
    assert!(on_rule.serving_present(&mut during));
    assert!(on_rule.restore(&mut during));
    assert_eq!(during, before);
    assert!(!on_rule.restore(&mut during), "nothing left to restore");
}

#[test]
fn ship_serves_the_winner_and_an_edited_rule_is_left_alone() {
    let mut fallthrough = experiment(plan());
    let mut during = targeting(Serve::Variation(0));
    fallthrough.begin(&mut during, &keys()).unwrap();
    let mut shipped = during.clone();
    assert!(fallthrough.ship(&mut shipped, 1));
    assert_eq!(shipped.fallthrough, Serve::Variation(1));
    let mut edited = targeting(Serve::Variation(2));
    assert!(!fallthrough.ship(&mut edited, 1));
    assert_eq!(edited.fallthrough, Serve::Variation(2));
}

#[test]
fn only_a_single_variation_serving_can_start_an_experiment() {
    let mut first = experiment(plan());
    let mut during = targeting(Serve::Variation(0));
    first.begin(&mut during, &keys()).unwrap();
    let mut second = experiment(plan());
    second.id = "ef01".into();
    let error = second.begin(&mut during.clone(), &keys()).unwrap_err();
    assert_eq!(
        (error.code, error.field.as_deref()),
        (Code::Conflict, Some("rule"))
    );
    let split = Serve::Rollout(Rollout {
        experiment: false,
        seed: None,
        ..first.rollout(&keys(), 0).unwrap()
    });
    let error = second.begin(&mut targeting(split), &keys()).unwrap_err();
    assert_eq!(
        (error.code, error.field.as_deref()),
        (Code::ValidationFailed, Some("rule"))
    );
    let no_rule = ExperimentPlan {
        rule: Some("gone".into()),
        ..plan()
    };
    let error = experiment(no_rule)
        .begin(&mut targeting(Serve::Variation(0)), &keys())
        .unwrap_err();
    assert_eq!(error.field.as_deref(), Some("rule"));
}

#[test]
fn serving_and_analysis_changes_are_told_apart() {
    let base = plan();
    let traffic = ExperimentPlan {
        traffic_percent: 20.0,
        ..plan()
    };
    assert!(base.serving_differs(&traffic) && !base.analysis_differs(&traffic));
    let method = ExperimentPlan {
        method: Method::Sequential,
        ..plan()
    };
    assert!(!base.serving_differs(&method) && base.analysis_differs(&method));
    let name = ExperimentPlan {
        name: "renamed".into(),
        ..plan()
    };
    assert!(!base.serving_differs(&name) && !base.analysis_differs(&name));
}
