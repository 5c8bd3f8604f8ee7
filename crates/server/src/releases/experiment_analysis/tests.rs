#![allow(clippy::unwrap_used)]

use switchyard_stats::experiments::{
    ArmAggregate, Correction, Method, MetricKind, Prior, Settings, holm_bonferroni,
};

use super::*;

fn metric(key: &str, kind: MetricKind, role: Role) -> PlannedMetric {
    PlannedMetric {
        key: key.to_owned(),
        name: key.to_owned(),
        kind,
        lower_is_better: false,
        mde: 0.05,
        role,
    }
}

fn plan(method: Method, metrics: Vec<PlannedMetric>) -> Plan {
    Plan {
        variations: vec!["A".to_owned(), "B".to_owned()],
        control: 0,
        weights: vec![50.0, 50.0],
        settings: Settings::new(method),
        correction: Correction::HolmBonferroni,
        metrics,
    }
}

fn converted(units: u64, conversions: u64) -> ArmAggregate {
    ArmAggregate {
        units,
        sum: conversions as f64,
        sum_sq: conversions as f64,
        ..ArmAggregate::default()
    }
}

/// A variation with the given relative lift and evidence, as `analyze` would produce it.
fn lifted(estimate: f64, low: f64, high: f64, evidence: Evidence) -> VariationMetric {
    let (p_value, chance) = match evidence {
        Evidence::PValue(p) => (Some(p), None),
        Evidence::Bayesian { chance_to_win, .. } => (None, Some(chance_to_win)),
    };
    VariationMetric {
        variation: "B".to_owned(),
        units: 10_000,
        mean: 0.5,
        lift: Some(LiftView {
            relative: Some(Estimate {
                estimate,
                low,
                high,
            }),
            absolute: None,
            p_value,
            adjusted_p_value: p_value,
            chance_to_beat_control: chance,
            risk: None,
        }),
        significant: !(low <= 0.0 && 0.0 <= high),
        better: None,
        problem: None,
    }
}

fn bayesian() -> Method {
    Method::Bayesian {
        prior: Prior::Uninformative,
    }
}

fn chance(chance_to_win: f64) -> Evidence {
    Evidence::Bayesian {
        chance_to_win,
        risk: switchyard_stats::experiments::Risk {
            control: 0.0,
            treatment: 0.0,
        },
    }
}

#[test]
fn a_bayesian_win_reads_as_the_issue_words_it() {
    let conversion = metric("conversion", MetricKind::Proportion, Role::Primary);
    let plan = plan(bayesian(), vec![conversion.clone()]);
    let b = lifted(0.031, 0.012, 0.050, chance(0.97));
    assert_eq!(
        verdict(&plan, &conversion, &[b]),
        "B raised conversion by 3.1 % [1.2 %, 5.0 %], 97 % chance to beat A."
    );
}

#[test]
fn an_interval_spanning_zero_is_no_detectable_difference_yet() {
    let conversion = metric("conversion", MetricKind::Proportion, Role::Primary);
    let fixed = plan(Method::FixedHorizon, vec![conversion.clone()]);
    let b = lifted(0.004, -0.012, 0.02, Evidence::PValue(0.61));
    assert_eq!(
        verdict(&fixed, &conversion, &[b]),
        "No detectable difference yet between B and A on conversion: +0.4 % [-1.2 %, +2.0 %], \
         p = 0.61."
    );
    let bayes = plan(bayesian(), vec![conversion.clone()]);
    let b = lifted(-0.004, -0.02, 0.012, chance(0.3149));
    assert_eq!(
        verdict(&bayes, &conversion, &[b]),
        "No detectable difference yet between B and A on conversion: -0.4 % [-2.0 %, +1.2 %], \
         31 % chance to beat A."
    );
}

#[test]
fn words_follow_the_metric_direction_and_the_method() {
    let mut latency = metric("page load time", MetricKind::Mean, Role::Guardrail);
    latency.lower_is_better = true;
    let sequential = plan(Method::Sequential { tuning: 5000.0 }, vec![latency.clone()]);
    // Lower latency is good news; the interval reads as the size of the drop.
    let b = lifted(-0.04, -0.07, -0.01, Evidence::PValue(0.0004));
    assert_eq!(
        verdict(&sequential, &latency, &[b]),
        "B lowered page load time by 4.0 % [1.0 %, 7.0 %] (better), always-valid p < 0.001."
    );
    let b = lifted(0.04, 0.01, 0.07, Evidence::PValue(0.004));
    assert_eq!(
        verdict(&sequential, &latency, &[b]),
        "B raised page load time by 4.0 % [1.0 %, 7.0 %] (worse), always-valid p = 0.004."
    );
    let conversion = metric("conversion", MetricKind::Proportion, Role::Primary);
    let bayes = plan(bayesian(), vec![conversion.clone()]);
    let b = lifted(-0.05, -0.08, -0.02, chance(0.0004));
    assert_eq!(
        verdict(&bayes, &conversion, &[b]),
        "B lowered conversion by 5.0 % [2.0 %, 8.0 %] (worse), <1 % chance to beat A."
    );
}

#[test]
fn a_correction_that_removes_significance_is_said() {
    let conversion = metric("conversion", MetricKind::Proportion, Role::Primary);
    let fixed = plan(Method::FixedHorizon, vec![conversion.clone()]);
    let mut b = lifted(0.03, 0.001, 0.059, Evidence::PValue(0.04));
    b.significant = false;
    if let Some(lift) = b.lift.as_mut() {
        lift.adjusted_p_value = Some(0.08);
    }
    assert_eq!(
        verdict(&fixed, &conversion, &[b]),
        "No detectable difference yet between B and A on conversion: +3.0 % [+0.1 %, +5.9 %], \
         p = 0.04 (= 0.08 after correcting for multiple comparisons)."
    );
}

#[test]
fn percentages_and_missing_lifts_read_plainly() {
    assert_eq!(format_percent(0.031, false), "3.1 %");
    assert_eq!(format_percent(0.031, true), "+3.1 %");
    assert_eq!(format_percent(-0.0004, true), "0.0 %");
    assert_eq!(format_percent(-0.25, true), "-25.0 %");
    let revenue = metric("revenue", MetricKind::Mean, Role::Secondary);
    let fixed = plan(Method::FixedHorizon, vec![revenue.clone()]);
    let mut b = lifted(0.0, 0.0, 0.0, Evidence::PValue(0.5));
    b.lift = Some(LiftView {
        relative: None,
        absolute: None,
        p_value: None,
        adjusted_p_value: None,
        chance_to_beat_control: None,
        risk: None,
    });
    b.problem = Some("not enough data yet: an arm has no units".to_owned());
    assert_eq!(
        verdict(&fixed, &revenue, &[b]),
        "B against A on revenue: not enough data yet: an arm has no units."
    );
}

/// 50 % against 52.5 % over 10,000 units each: a 5 % relative lift, significant by every
/// method, with Holm's correction over the primary and one secondary metric.
#[test]
fn the_assembly_finds_a_five_percent_lift_and_corrects_across_metrics() {
    let metrics = vec![
        metric("signup", MetricKind::Proportion, Role::Secondary),
        metric("checkout", MetricKind::Proportion, Role::Primary),
        metric("errors", MetricKind::Proportion, Role::Guardrail),
    ];
    let observed = Observed {
        units: vec![10_000, 10_000],
        arms: vec![
            vec![converted(10_000, 3_000), converted(10_000, 3_010)],
            vec![converted(10_000, 5_000), converted(10_000, 5_250)],
            vec![converted(10_000, 100), converted(10_000, 101)],
        ],
        units_per_day: Some(2_000.0),
        daily: vec![
            (
                1_700_000_000_000,
                vec![converted(1_000, 500), converted(1_000, 520)],
            ),
            (
                1_700_086_400_000,
                vec![converted(10_000, 5_000), converted(10_000, 5_250)],
            ),
        ],
        ..Observed::default()
    };
    for method in [
        Method::FixedHorizon,
        Method::Sequential { tuning: 5000.0 },
        bayesian(),
    ] {
        let results = analyze(&plan(method, metrics.clone()), &observed);
        assert!(results.trustworthy, "{results:?}");
        assert!(results.warnings.is_empty(), "{:?}", results.warnings);
        let roles: Vec<Role> = results.metrics.iter().map(|m| m.role).collect();
        assert_eq!(roles, [Role::Primary, Role::Secondary, Role::Guardrail]);
        let primary = &results.metrics[0];
        assert_eq!(primary.metric, "checkout");
        assert_eq!(primary.variations[0].variation, "A");
        assert_eq!(primary.variations[0].mean, 0.5);
        let b = &primary.variations[1];
        assert!(b.significant, "{method:?}: {b:?}");
        assert_eq!(b.better, Some(true));
        let relative = b.lift.as_ref().unwrap().relative.unwrap();
        assert!((relative.estimate - 0.05).abs() < 1e-12, "{relative:?}");
        assert!(relative.low > 0.0, "{relative:?}");
        assert!(
            primary.verdict.starts_with("B raised checkout by 5.0 % ["),
            "{}",
            primary.verdict
        );
        assert!(!results.metrics[1].variations[1].significant);
        assert!(
            results.metrics[1]
                .verdict
                .starts_with("No detectable difference yet between B and A on signup"),
            "{}",
            results.metrics[1].verdict
        );
        assert_eq!(results.cumulative.len(), 2);
        assert_eq!(results.cumulative[0].day, "2023-11-14");
        assert!((results.cumulative[1].estimate - 0.05).abs() < 1e-12);
    }

    // Holm over the family {checkout, signup}; the guardrail is judged alone.
    let results = analyze(&plan(Method::FixedHorizon, metrics.clone()), &observed);
    let p = |m: usize| results.metrics[m].variations[1].lift.clone().unwrap();
    let expected = holm_bonferroni(&[p(1).p_value.unwrap(), p(0).p_value.unwrap()]).unwrap();
    assert_eq!(p(1).adjusted_p_value, Some(expected[0]));
    assert_eq!(p(0).adjusted_p_value, Some(expected[1]));
    assert_eq!(p(2).adjusted_p_value, None);

    // The fixed horizon's plan: 50 % → 52.5 % at α 0.05 and power 0.8, at 2,000 units a day.
    let plan_size = results.metrics[0].sample_size.clone().unwrap();
    assert_eq!(plan_size.units_per_variation, 6_272);
    assert_eq!(plan_size.total_units, 12_544);
    assert_eq!(plan_size.days, Some(7));
    assert_eq!(plan_size.remaining_days, Some(0));
    let bayes = analyze(&plan(bayesian(), metrics), &observed);
    assert_eq!(bayes.metrics[0].sample_size, None);
    let b = bayes.metrics[0].variations[1].lift.clone().unwrap();
    assert!(b.chance_to_beat_control.unwrap() > 0.99);
    assert!(b.risk.is_some() && b.p_value.is_none());
}

#[test]
fn a_sample_ratio_mismatch_comes_first_and_marks_the_results_untrustworthy() {
    let conversion = metric("conversion", MetricKind::Proportion, Role::Primary);
    let observed = Observed {
        units: vec![10_000, 9_000],
        excluded: 40,
        overflow: 7,
        arms: vec![vec![converted(10_000, 5_000), converted(9_000, 4_500)]],
        ..Observed::default()
    };
    let results = analyze(&plan(bayesian(), vec![conversion]), &observed);
    assert!(!results.trustworthy);
    let srm = results.srm.unwrap();
    assert!(!srm.trustworthy && srm.p_value < 0.001, "{srm:?}");
    assert_eq!(results.warnings.len(), 3, "{:?}", results.warnings);
    assert!(
        results.warnings[0].starts_with(
            "Sample ratio mismatch (p < 0.001): the variations received A 10,000 (52.6 %), \
             B 9,000 (47.4 %) of the units where the plan expects 50.0 % / 50.0 %."
        ),
        "{}",
        results.warnings[0]
    );
    assert!(results.warnings[1].starts_with("40 units (0.2 %) were exposed to more than one"));
    assert!(results.warnings[2].starts_with("7 units arrived after"));
}

#[test]
fn no_units_yet_is_a_warning_not_an_error() {
    let conversion = metric("conversion", MetricKind::Proportion, Role::Primary);
    let observed = Observed {
        units: vec![0, 0],
        arms: vec![vec![converted(0, 0), converted(0, 0)]],
        ..Observed::default()
    };
    let results = analyze(&plan(Method::FixedHorizon, vec![conversion]), &observed);
    assert!(results.trustworthy);
    assert_eq!(results.srm, None);
    assert_eq!(
        results.warnings,
        ["No units yet: nobody has been exposed to the experiment."]
    );
    let b = &results.metrics[0].variations[1];
    assert!(
        !b.significant && b.lift.is_none() && b.problem.is_some(),
        "{b:?}"
    );
    assert!(
        results.metrics[0]
            .verdict
            .starts_with("B against A on conversion: not enough data"),
        "{}",
        results.metrics[0].verdict
    );
}
