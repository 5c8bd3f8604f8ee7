//! The pure assessment that turns a stage's cohorts into a decision
//! (`../shared/guardrail-statistics.md`): Tier 0 limit, Tier 1 e-value, Tier 2 confidence
//! sequence, then the health holds (SRM, crossed contexts, stale data) and the advance
//! conditions.

use std::collections::BTreeMap;

use super::document::{Direction, GuardrailKind, Release};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use switchyard_stats::{
    Alternative, ArmMoments, DEFAULT_N_OPT, DEFAULT_N_TUNE, Histogram, MIN_SAMPLES_PER_ARM, k_for,
    ln_e_one_sided, mean_difference_cs, rollback_threshold, srm_check,
};
use switchyard_store::events::StageCohorts;

/// Tier 0 applies once the treated side has this many evaluations in the stage.
pub const TIER0_MIN_EVALUATIONS: i64 = 20;
/// Contexts seen in both cohorts of one stage above this share hold the release.
pub const CROSSED_CONTEXTS_MAX_SHARE: f64 = 0.01;

/// The evidence for one guardrail at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]

pub struct GuardrailEvidence {
    pub metric: String,
    pub kind: GuardrailKind,
    /// Bad events (or samples) in the treated and control cohorts this stage.
    pub treated: i64,
    pub control: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub treated_mean: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub control_mean: Option<f64>,
    /// `mean` guardrails: the treated and control values' p50, p90 and p99 this stage, from
    /// their histograms (within 1 %). Shown beside the means; no decision uses them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub treated_quantiles: Option<Quantiles>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub control_quantiles: Option<Quantiles>,
    /// Tier 1: this stage's ln E, the ramp's total and the roll back threshold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ln_e_stage: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ln_e_total: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Tier 2: the confidence sequence for mean(treated) − mean(control), as `[lower, upper]`.
    // Described as a two-number array: OpenAPI 3.0 has no tuple `items`, and client generators
    // refuse the document that has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Vec<f64>>", length(min = 2, max = 2))]
    pub interval: Option<(f64, f64)>,
    /// Tier 0: bad events per treated evaluation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub treated_rate: Option<f64>,
    pub breached: bool,
    /// Why it breached, or why it cannot judge yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A cohort's distribution of a metric: quantiles of its histogram, each within
/// [`switchyard_stats::RELATIVE_ACCURACY`] (1 %) of the sample's own.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Quantiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
}

impl Quantiles {
    /// `None` for an empty histogram.
    pub fn of(histogram: &Histogram) -> Option<Quantiles> {
        Some(Quantiles {
            p50: histogram.quantile(0.5).ok()?,
            p90: histogram.quantile(0.9).ok()?,
            p99: histogram.quantile(0.99).ok()?,
        })
    }
}

/// What the guard concluded about a running stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Verdict {
    /// Keep going; nothing to do yet.
    Continue { waiting_for: String },
    /// The stage is done: go to the next one (or complete after the last).
    Advance,
    /// A guardrail breached: roll back (or hold, as configured).
    Breach { reason: String },
    /// A health check failed: hold for a person.
    Hold { reason: String },
}

/// A stage's cohorts and each guardrail's evidence, with the verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Assessment {
    pub stage: String,
    pub at_ms: i64,
    /// Evaluations per cohort this stage.
    pub evaluations: BTreeMap<String, i64>,
    /// Distinct contexts per cohort this stage.
    pub contexts: BTreeMap<String, i64>,
    /// The observed treated share of eligible evaluations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rho: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub srm_p: Option<f64>,
    pub guardrails: Vec<GuardrailEvidence>,
    pub verdict: Verdict,
}

/// What the guard remembers between checks (not stored: a replica that takes over starts
/// counting staleness afresh).
#[derive(Debug, Clone, Copy, Default)]
pub struct Freshness {
    pub evaluations: i64,
    pub changed_ms: i64,
}

/// Judges a running stage from its cohorts. Pure: the same inputs give the same verdict.
pub fn assess(
    release: &Release,
    cohorts: &StageCohorts,
    freshness: Freshness,
    now_ms: i64,
) -> Assessment {
    let count = |map: &BTreeMap<String, i64>, cohort: &str| map.get(cohort).copied().unwrap_or(0);
    let treated = count(&cohorts.evaluations, "treated");
    let control = count(&cohorts.evaluations, "control");
    let audience = count(&cohorts.evaluations, "audience");
    let stage = release.current_stage();
    let rho = (treated > 0 && control > 0).then(|| treated as f64 / (treated + control) as f64);
    let metrics = release.guardrails.len().max(1) as u32;
    let threshold = rollback_threshold(metrics, release.alpha).unwrap_or(f64::INFINITY);
    let alpha_j = release.alpha / metrics as f64;
    let k = k_for(DEFAULT_N_OPT, alpha_j).unwrap_or(6.664392);
    let moments = |metric: &str, cohort: &str| {
        cohorts
            .metrics
            .get(&(metric.to_owned(), cohort.to_owned()))
            .copied()
            .unwrap_or_default()
    };
    let mut breach = None;
    let mut evidence = Vec::new();
    for guardrail in &release.guardrails {
        let (t, c, a) = (
            moments(&guardrail.metric, "treated"),
            moments(&guardrail.metric, "control"),
            moments(&guardrail.metric, "audience"),
        );
        let mut e = GuardrailEvidence {
            metric: guardrail.metric.clone(),
            kind: guardrail.kind,
            treated: t.count,
            control: c.count,
            treated_mean: None,
            control_mean: None,
            treated_quantiles: None,
            control_quantiles: None,
            ln_e_stage: None,
            ln_e_total: None,
            threshold: None,
            interval: None,
            treated_rate: None,
            breached: false,
            note: None,
        };
        if guardrail.kind == GuardrailKind::Mean {
            let quantiles = |cohort: &str| {
                cohorts
                    .histograms
                    .get(&(guardrail.metric.clone(), cohort.to_owned()))
                    .and_then(Quantiles::of)
            };
            e.treated_quantiles = quantiles("treated");
            e.control_quantiles = quantiles("control");
        }
        // Tier 0 on everyone served the target (the audience included): no statistics.
        let exposed = treated + audience;
        if let Some(limit) = guardrail.max_treated_rate
            && exposed >= TIER0_MIN_EVALUATIONS
        {
            let rate = (t.count + a.count) as f64 / exposed as f64;
            e.treated_rate = Some(rate);
            if rate >= limit {
                e.breached = true;
                e.note = Some(format!(
                    "treated bad-event rate {rate:.3} ≥ the absolute limit {limit}"
                ));
            }
        }
        match (guardrail.kind, rho) {
            (_, None) => {
                e.note
                    .get_or_insert_with(|| "no treated and control traffic yet".into());
            }
            (GuardrailKind::BadEvents, Some(rho)) => {
                let stage_ln_e = ln_e_one_sided(
                    t.count.max(0) as u64,
                    c.count.max(0) as u64,
                    rho,
                    k,
                    guardrail.margin,
                )
                .unwrap_or(0.0);
                let carried = release
                    .carried_ln_e
                    .get(&guardrail.metric)
                    .copied()
                    .unwrap_or(0.0);
                let total = carried + stage_ln_e;
                e.ln_e_stage = Some(stage_ln_e);
                e.ln_e_total = Some(total);
                e.threshold = Some(threshold);
                if total >= threshold && !e.breached {
                    e.breached = true;
                    e.note = Some(format!(
                        "ln E {total:.3} ≥ {threshold:.3}: {} treated vs {} control bad events at ρ = {rho:.4}",
                        t.count, c.count
                    ));
                }
            }
            (GuardrailKind::Mean, Some(_)) => {
                e.treated_mean = (t.count > 0).then(|| t.sum / t.count as f64);
                e.control_mean = (c.count > 0).then(|| c.sum / c.count as f64);
                let arms = (t.count as u64) >= MIN_SAMPLES_PER_ARM
                    && (c.count as u64) >= MIN_SAMPLES_PER_ARM;
                let (treated_arm, control_arm) = (
                    ArmMoments::from_sums(t.count as u64, t.sum, t.sum_of_squares),
                    ArmMoments::from_sums(c.count as u64, c.sum, c.sum_of_squares),
                );
                let alternative = match guardrail.direction {
                    Direction::IncreaseIsBad => Alternative::Greater,
                    Direction::DecreaseIsBad => Alternative::Less,
                };
                match (arms, treated_arm, control_arm) {
                    (true, Ok(tr), Ok(co)) => {
                        if let Ok(interval) =
                            mean_difference_cs(&tr, &co, alpha_j, DEFAULT_N_TUNE, alternative)
                        {
                            e.interval = Some((interval.lower, interval.upper));
                            let harm = match guardrail.direction {
                                Direction::IncreaseIsBad => interval.lower > guardrail.margin,
                                Direction::DecreaseIsBad => interval.upper < -guardrail.margin,
                            };
                            if harm && !e.breached {
                                e.breached = true;
                                e.note = Some(format!(
                                    "the difference of means is beyond the margin {} with \
                                     confidence: interval [{:.4}, {:.4}]",
                                    guardrail.margin, interval.lower, interval.upper
                                ));
                            }
                        }
                    }
                    _ => {
                        e.note.get_or_insert_with(|| {
                            format!("waiting for {MIN_SAMPLES_PER_ARM} samples per cohort")
                        });
                    }
                }
            }
        }
        if e.breached && breach.is_none() {
            breach = Some(format!(
                "{}: {}",
                e.metric,
                e.note.clone().unwrap_or_default()
            ));
        }
        evidence.push(e);
    }
    // SRM counts contexts, the unit the layer randomizes: evaluation counts are clustered (a
    // busy user evaluates a thousand times), so a ratio test on them would hold healthy
    // releases.
    let (treated_units, control_units) = (
        count(&cohorts.contexts, "treated"),
        count(&cohorts.contexts, "control"),
    );
    let srm = (stage.weight > 0 && stage.weight < 100_000 && treated_units + control_units > 0)
        .then(|| {
            srm_check(
                &[treated_units as u64, control_units as u64],
                &[f64::from(stage.weight), f64::from(100_000 - stage.weight)],
            )
            .ok()
        })
        .flatten();
    let exposed_contexts: i64 = cohorts.contexts.values().sum();
    let verdict = if let Some(reason) = breach {
        Verdict::Breach { reason }
    } else if let Some(srm) = srm.as_ref().filter(|s| s.mismatch) {
        Verdict::Hold {
            reason: format!(
                "sample ratio mismatch: {treated_units} treated vs {control_units} control contexts at {} % (p = {:.3e})",
                f64::from(stage.weight) / 1000.0,
                srm.chi_square_p
            ),
        }
    } else if exposed_contexts > 0
        && cohorts.crossed_contexts as f64 > CROSSED_CONTEXTS_MAX_SHARE * exposed_contexts as f64
    {
        Verdict::Hold {
            reason: format!(
                "{} of {exposed_contexts} contexts were seen in both cohorts this stage",
                cohorts.crossed_contexts
            ),
        }
    } else if now_ms - freshness.changed_ms.max(release.stage_started_ms)
        > release.stale_after_s as i64 * 1000
    {
        Verdict::Hold {
            reason: format!(
                "no evaluations reported for {} s (missing or stale data)",
                (now_ms - freshness.changed_ms.max(release.stage_started_ms)) / 1000
            ),
        }
    } else {
        let baked_at = release.stage_started_ms + stage.min_bake_s as i64 * 1000;
        let units = count(&cohorts.contexts, "treated") + count(&cohorts.contexts, "audience");
        if now_ms < baked_at {
            Verdict::Continue {
                waiting_for: format!("bake time ({} s left)", (baked_at - now_ms + 999) / 1000),
            }
        } else if (units as u64) < stage.min_treated {
            Verdict::Continue {
                waiting_for: format!("{units} of {} treated contexts", stage.min_treated),
            }
        } else if !release.in_window(now_ms) {
            Verdict::Continue {
                waiting_for: "an allowed time window".into(),
            }
        } else {
            Verdict::Advance
        }
    };
    Assessment {
        stage: release.stage_key(),
        at_ms: now_ms,
        evaluations: cohorts.evaluations.clone(),
        contexts: cohorts.contexts.clone(),
        rho,
        srm_p: srm.map(|s| s.chi_square_p),
        guardrails: evidence,
        verdict,
    }
}
