//! The results in words, for a product manager: one verdict sentence per variation against the
//! control, and the data-quality warnings that come before any verdict.

use switchyard_stats::StatsError;
use switchyard_stats::experiments::Method;

use super::{Observed, Plan, PlannedMetric, SrmView, VariationMetric, VariationUnits};

/// A ratio as a percentage with one decimal ("3.1 %"), signed ("+3.1 %") when `signed`.
pub fn format_percent(ratio: f64, signed: bool) -> String {
    let percent = ratio * 100.0;
    let text = format!("{:.1}", percent.abs());
    let zero = text.chars().all(|c| c == '0' || c == '.');
    let sign = match (signed, percent < 0.0, zero) {
        (_, _, true) => "",
        (true, false, false) => "+",
        (_, true, false) => "-",
        (false, false, false) => "",
    };
    format!("{sign}{text} %")
}

/// A number in the metric's own unit, with three significant digits or so.
fn format_number(value: f64, signed: bool) -> String {
    let magnitude = value.abs();
    let decimals = if magnitude >= 100.0 {
        0
    } else if magnitude >= 1.0 {
        2
    } else {
        3
    };
    let text = format!("{:.*}", decimals, magnitude);
    let zero = text.chars().all(|c| c == '0' || c == '.');
    let sign = if zero {
        ""
    } else if value < 0.0 {
        "-"
    } else if signed {
        "+"
    } else {
        ""
    };
    format!("{sign}{text}")
}

/// A probability as a whole percentage, never rounded to a certainty.
fn format_chance(chance: f64) -> String {
    let percent = chance * 100.0;
    if percent > 99.0 {
        ">99 %".to_owned()
    } else if percent < 1.0 {
        "<1 %".to_owned()
    } else {
        format!("{percent:.0} %")
    }
}

fn format_p(p: f64) -> String {
    if p < 0.001 {
        "< 0.001".to_owned()
    } else if p < 0.01 {
        format!("= {p:.3}")
    } else {
        format!("= {p:.2}")
    }
}

/// `ms` as its UTC day, `YYYY-MM-DD`.
pub(super) fn utc_day(ms: i64) -> String {
    let mut text = switchyard_engine::time::format_rfc3339_ms(ms);
    text.truncate(10);
    text
}

/// Why a lift is missing, in words.
pub(super) fn problem(error: &StatsError) -> String {
    match error {
        StatsError::InsufficientData(what) => format!("not enough data yet: {what}"),
        StatsError::InvalidParameter { name, .. } if *name == "covariate" => {
            "the pre-exposure data CUPED needs is missing".to_owned()
        }
        other => format!("cannot be computed yet: {other}"),
    }
}

/// The metric's verdict: one sentence per variation against the control.
pub fn verdict(plan: &Plan, metric: &PlannedMetric, variations: &[VariationMetric]) -> String {
    let control = plan
        .variations
        .get(plan.control)
        .map(String::as_str)
        .unwrap_or("the control");
    variations
        .iter()
        .filter(|variation| variation.lift.is_some() || variation.problem.is_some())
        .map(|variation| sentence(plan, metric, control, variation))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One variation's sentence: "B raised conversion by 3.1 % [1.2 %, 5.0 %], 97 % chance to beat
/// A." when the evidence is beyond chance, "No detectable difference yet …" when it is not.
fn sentence(
    plan: &Plan,
    metric: &PlannedMetric,
    control: &str,
    variation: &VariationMetric,
) -> String {
    let name = &metric.name;
    let who = &variation.variation;
    let lift = variation.lift.as_ref();
    let (estimate, percent) = match (lift.and_then(|l| l.relative), lift.and_then(|l| l.absolute)) {
        (Some(relative), _) => (relative, true),
        (None, Some(absolute)) => (absolute, false),
        (None, None) => {
            let why = variation
                .problem
                .as_deref()
                .unwrap_or("not enough data yet");
            return format!("{who} against {control} on {name}: {why}.");
        }
    };
    let show = |value: f64, signed: bool| {
        if percent {
            format_percent(value, signed)
        } else {
            format_number(value, signed)
        }
    };
    let evidence = evidence(plan, control, variation);
    if variation.significant {
        let raised = estimate.estimate > 0.0;
        let (low, high) = if raised {
            (estimate.low, estimate.high)
        } else {
            (-estimate.high, -estimate.low)
        };
        let moved = if raised { "raised" } else { "lowered" };
        // The usual good news reads plainly; anything else says which way it cuts.
        let judgment = match (raised, metric.lower_is_better) {
            (true, false) => "",
            (false, true) => " (better)",
            _ => " (worse)",
        };
        format!(
            "{who} {moved} {name} by {} [{}, {}]{judgment}, {evidence}.",
            show(estimate.estimate.abs(), false),
            show(low, false),
            show(high, false),
        )
    } else {
        format!(
            "No detectable difference yet between {who} and {control} on {name}: {} [{}, {}], \
             {evidence}.",
            show(estimate.estimate, true),
            show(estimate.low, true),
            show(estimate.high, true),
        )
    }
}

fn evidence(plan: &Plan, control: &str, variation: &VariationMetric) -> String {
    let Some(lift) = variation.lift.as_ref() else {
        return String::new();
    };
    if let Some(chance) = lift.chance_to_beat_control {
        return format!("{} chance to beat {control}", format_chance(chance));
    }
    let Some(p) = lift.p_value else {
        return String::new();
    };
    let label = match plan.settings.method {
        Method::Sequential { .. } => "always-valid p",
        _ => "p",
    };
    let mut text = format!("{label} {}", format_p(p));
    if let Some(adjusted) = lift.adjusted_p_value
        && format_p(adjusted) != format_p(p)
    {
        text.push_str(&format!(
            " ({} after correcting for multiple comparisons)",
            format_p(adjusted)
        ));
    }
    text
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Data-quality warnings, the most serious first: a sample ratio mismatch (every result is
/// untrustworthy), no units yet, units excluded for seeing two variations, units over the bound.
pub(super) fn warnings(
    units: &[VariationUnits],
    srm: Option<&SrmView>,
    observed: &Observed,
    total_units: u64,
) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Some(srm) = srm.filter(|srm| !srm.trustworthy) {
        let share = |n: u64| n as f64 / total_units.max(1) as f64;
        let received = units
            .iter()
            .map(|u| {
                format!(
                    "{} {} ({})",
                    u.variation,
                    thousands(u.units),
                    format_percent(share(u.units), false)
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let expected = units
            .iter()
            .map(|u| format_percent(u.expected_percent / 100.0, false))
            .collect::<Vec<_>>()
            .join(" / ");
        warnings.push(format!(
            "Sample ratio mismatch (p {}): the variations received {received} of the units \
             where the plan expects {expected}. Assignment or event delivery is broken: do not \
             trust these results until the cause is found.",
            format_p(srm.p_value)
        ));
    }
    if total_units == 0 {
        warnings.push("No units yet: nobody has been exposed to the experiment.".to_owned());
    }
    if observed.excluded > 0 {
        let all = total_units + observed.excluded;
        warnings.push(format!(
            "{} units ({}) were exposed to more than one variation and are left out of every \
             result.",
            thousands(observed.excluded),
            format_percent(observed.excluded as f64 / all as f64, false)
        ));
    }
    if observed.overflow > 0 {
        warnings.push(format!(
            "{} units arrived after the experiment reached the number of units stored per \
             phase and are not analysed: the results describe the earlier units only.",
            thousands(observed.overflow)
        ));
    }
    warnings
}
