//! Metrics and experiments as stored (`docs/experiments.md`, "Running an experiment").
//!
//! A [`Metric`] (kind `metric`, scope the project, keyed by its key) is defined once per project
//! and reused. An [`Experiment`] (kind `experiment`, scope the project, keyed by a random id)
//! compares variations of one flag on one rule (or the fallthrough) of one environment. While it
//! runs, that rule serves the engine's experiment rollout ([`Experiment::begin`]), so SDKs report
//! `in_experiment` with nothing new; stopping puts the previous serving back
//! ([`Experiment::restore`]) and shipping serves the winner ([`Experiment::ship`]).
//!
//! Everything here is pure: the API loads the flag and metrics and writes what this returns.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use switchyard_engine::model::{Rollout, Serve, Targeting, WeightedVariation};

use super::record::Record;

mod metric;
use crate::error::{ApiError, Code, Invalid};
pub use metric::{DEFAULT_WINDOW_HOURS, Direction, MAX_WINDOW_HOURS, Metric, MetricKind};

/// The weight units of a rollout: 0.001 %, so 100 % is 100 000.
const FULL: u32 = 100_000;

/// How results are computed (`docs/experiments.md`, "Methods").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    #[default]
    FixedHorizon,
    Sequential,
    Bayesian,
}

/// A Bayesian prior on the relative effect; absent: uninformative.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Prior {
    pub mean: f64,
    pub stddev: f64,
}

/// The multiple-comparison correction across variations and secondary metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Correction {
    #[default]
    Holm,
    BenjaminiHochberg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExperimentState {
    #[default]
    Draft,
    Running,
    Stopped,
    Shipped,
}

fn default_alpha() -> f64 {
    0.05
}
fn default_true() -> bool {
    true
}
fn default_pre_period_hours() -> u32 {
    168
}

/// What a person writes: the serving (flag, rule, variations, weights, traffic) and the
/// pre-registered analysis plan (control, metrics, method and its settings).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExperimentPlan {
    pub flag: String,
    /// The rule (by id) the experiment runs on; absent: the fallthrough.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hypothesis: Option<String>,
    /// The compared variations' keys (at least 2).
    pub variations: Vec<String>,
    /// One of `variations`.
    pub control: String,
    /// Percent per variation, in `variations`' order, summing to 100 (absent: equal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<Vec<f64>>,
    /// The share of the rule's contexts in the experiment (0 < p ≤ 100); the rest keep the
    /// variation the rule served before.
    pub traffic_percent: f64,
    pub primary_metric: String,
    #[serde(default)]
    pub secondary_metrics: Vec<String>,
    #[serde(default)]
    pub guardrail_metrics: Vec<String>,
    #[serde(default)]
    pub method: Method,
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prior: Option<Prior>,
    #[serde(default = "default_true")]
    pub cuped: bool,
    /// CUPED's covariate window before a unit's first exposure (default 168).
    #[serde(default = "default_pre_period_hours")]
    pub pre_period_hours: u32,
    #[serde(default)]
    pub correction: Correction,
}

impl ExperimentPlan {
    /// A plan with every default and nothing named: where inputs take their defaults from.
    pub fn defaults() -> ExperimentPlan {
        ExperimentPlan {
            flag: String::new(),
            rule: None,
            name: String::new(),
            hypothesis: None,
            variations: Vec::new(),
            control: String::new(),
            weights: None,
            traffic_percent: 100.0,
            primary_metric: String::new(),
            secondary_metrics: Vec::new(),
            guardrail_metrics: Vec::new(),
            method: Method::default(),
            alpha: default_alpha(),
            prior: None,
            cuped: true,
            pre_period_hours: default_pre_period_hours(),
            correction: Correction::default(),
        }
    }

    /// Every metric key the plan names, primary first.
    pub fn metric_keys(&self) -> impl Iterator<Item = &String> {
        std::iter::once(&self.primary_metric)
            .chain(&self.secondary_metrics)
            .chain(&self.guardrail_metrics)
    }

    /// Checks the plan against the flag's variation keys and the project's metrics.
    pub fn validate(
        &self,
        flag_variations: &[String],
        metrics: &BTreeMap<String, Metric>,
    ) -> Result<(), Invalid> {
        if self.name.trim().is_empty() {
            return Err(Invalid::new("name", "an experiment needs a name"));
        }
        if self.variations.len() < 2 {
            return Err(Invalid::new(
                "variations",
                "compare at least 2 variations (the control and a treatment)",
            ));
        }
        for (i, key) in self.variations.iter().enumerate() {
            if !flag_variations.contains(key) {
                return Err(Invalid::new(
                    format!("variations[{i}]"),
                    format!("flag {:?} has no variation {key:?}", self.flag),
                ));
            }
            if self.variations[..i].contains(key) {
                return Err(Invalid::new(
                    format!("variations[{i}]"),
                    format!("{key:?} is listed twice"),
                ));
            }
        }
        if !self.variations.contains(&self.control) {
            return Err(Invalid::new(
                "control",
                format!(
                    "the control {:?} is not one of the compared variations {:?}",
                    self.control, self.variations
                ),
            ));
        }
        self.shares()?;
        if !(self.traffic_percent.is_finite()
            && self.traffic_percent > 0.0
            && self.traffic_percent <= 100.0)
        {
            return Err(Invalid::new(
                "traffic_percent",
                "the share of traffic in the experiment is above 0 and at most 100",
            ));
        }
        if (self.traffic_percent * 1000.0).round() < self.variations.len() as f64 {
            return Err(Invalid::new(
                "traffic_percent",
                "too small a share to give every variation some traffic (0.001 % steps)",
            ));
        }
        let mut seen = Vec::new();
        // The store keeps one value per unit and event name: two windows on one event cannot
        // both be counted. event → (window in hours, the metric that set it).
        let mut windows: BTreeMap<&str, (u32, &str)> = BTreeMap::new();
        let named = [("primary_metric", vec![&self.primary_metric])]
            .into_iter()
            .chain([
                ("secondary_metrics", self.secondary_metrics.iter().collect()),
                ("guardrail_metrics", self.guardrail_metrics.iter().collect()),
            ]);
        for (field, keys) in named {
            for (i, key) in keys.into_iter().enumerate() {
                let field = match field {
                    "primary_metric" => field.to_owned(),
                    _ => format!("{field}[{i}]"),
                };
                let Some(metric) = metrics.get(key) else {
                    return Err(Invalid::new(
                        field,
                        format!("no metric {key:?} in this project: define it first"),
                    ));
                };
                let events = std::iter::once(&metric.event).chain(&metric.denominator_event);
                for event in events {
                    let (window, first) = *windows
                        .entry(event.as_str())
                        .or_insert((metric.window_hours, key.as_str()));
                    if window != metric.window_hours {
                        return Err(Invalid::new(
                            field,
                            format!(
                                "metric {key:?} reads event {event:?} with a {}-hour window, \
                                 but metric {first:?} reads it with {window} hours: an \
                                 experiment counts each event in one window",
                                metric.window_hours
                            ),
                        ));
                    }
                }
                if seen.contains(&key) {
                    return Err(Invalid::new(
                        field,
                        format!("metric {key:?} is named twice"),
                    ));
                }
                seen.push(key);
            }
        }
        if !(self.alpha.is_finite() && self.alpha > 0.0 && self.alpha < 1.0) {
            return Err(Invalid::new("alpha", "must be between 0 and 1 (0.05)"));
        }
        if let Some(prior) = self.prior {
            if self.method != Method::Bayesian {
                return Err(Invalid::new(
                    "prior",
                    "only the bayesian method has a prior",
                ));
            }
            if !(prior.mean.is_finite() && prior.stddev.is_finite() && prior.stddev > 0.0) {
                return Err(Invalid::new(
                    "prior",
                    "a prior is a finite mean and a standard deviation above 0",
                ));
            }
        }
        if self.pre_period_hours > MAX_WINDOW_HOURS {
            return Err(Invalid::new(
                "pre_period_hours",
                format!("must be 0 to {MAX_WINDOW_HOURS} hours"),
            ));
        }
        Ok(())
    }

    /// Each variation's share of the experiment, in percent.
    fn shares(&self) -> Result<Vec<f64>, Invalid> {
        let Some(weights) = &self.weights else {
            let equal = 100.0 / self.variations.len().max(1) as f64;
            return Ok(vec![equal; self.variations.len()]);
        };
        if weights.len() != self.variations.len() {
            return Err(Invalid::new(
                "weights",
                format!(
                    "give one weight per variation ({}), in their order",
                    self.variations.len()
                ),
            ));
        }
        if weights.iter().any(|w| !(w.is_finite() && *w > 0.0)) {
            return Err(Invalid::new("weights", "every weight is above 0"));
        }
        let sum: f64 = weights.iter().sum();
        if (sum - 100.0).abs() > 1e-6 {
            return Err(Invalid::new(
                "weights",
                format!("weights are percentages summing to 100, not {sum}"),
            ));
        }
        Ok(weights.clone())
    }

    /// Whether `other` changes what this plan serves (flag, rule, variations, weights, traffic).
    pub fn serving_differs(&self, other: &ExperimentPlan) -> bool {
        self.flag != other.flag
            || self.rule != other.rule
            || self.variations != other.variations
            || self.weights != other.weights
            || self.traffic_percent != other.traffic_percent
    }

    /// Whether `other` changes the pre-registered analysis (a running experiment's new phase).
    pub fn analysis_differs(&self, other: &ExperimentPlan) -> bool {
        self.control != other.control
            || self.primary_metric != other.primary_metric
            || self.secondary_metrics != other.secondary_metrics
            || self.guardrail_metrics != other.guardrail_metrics
            || self.method != other.method
            || self.alpha != other.alpha
            || self.prior != other.prior
            || self.cuped != other.cuped
            || self.pre_period_hours != other.pre_period_hours
            || self.correction != other.correction
    }
}

/// One line of an experiment's history (the audit log has the full record).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExperimentEvent {
    pub at_ms: i64,
    pub actor: String,
    pub event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// An experiment (kind `experiment`, scope the project, keyed by `id`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Experiment {
    pub id: String,
    pub project: String,
    pub environment: String,
    #[serde(flatten)]
    pub plan: ExperimentPlan,
    /// The hash prefix of its rollout (`experiment-{id}`), independent of releases.
    pub seed: String,
    pub state: ExperimentState,
    /// Starts at 1; a change of the pre-registered analysis while running starts the next
    /// (its data start again).
    pub phase: u32,
    /// When the current phase started (Unix ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipped_variation: Option<String>,
    /// What the rule served before the experiment started (put back by a stop).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Serve>,
    /// The metrics' definitions as they were when the current phase started (the
    /// pre-registered plan), in the plan's order: primary, secondaries, guardrails.
    #[serde(default)]
    pub metrics: Vec<Metric>,
    #[serde(default)]
    pub history: Vec<ExperimentEvent>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

impl Record for Experiment {
    const KIND: &'static str = "experiment";
}

/// The id of the experiment whose rollout `serve` is, if it is one.
pub fn running_experiment(serve: &Serve) -> Option<&str> {
    match serve {
        Serve::Rollout(Rollout {
            experiment: true,
            seed: Some(seed),
            ..
        }) => seed.strip_prefix("experiment-"),
        _ => None,
    }
}

/// The serving of `rule` (by id; `None`: the fallthrough) in `targeting`.
pub fn serve_of<'t>(
    targeting: &'t mut Targeting,
    rule: Option<&str>,
) -> Result<&'t mut Serve, Invalid> {
    match rule {
        None => Ok(&mut targeting.fallthrough),
        Some(rule) => targeting
            .rules
            .iter_mut()
            .find(|r| r.id == rule)
            .map(|r| &mut r.serve)
            .ok_or_else(|| Invalid::new("rule", format!("the flag has no rule {rule:?} here"))),
    }
}

/// Whether an experiment can start on `serve`: a single variation (its index), else why not.
pub fn startable(serve: &Serve) -> Result<usize, ApiError> {
    match serve {
        Serve::Variation(variation) => Ok(*variation),
        Serve::Release(layer) => Err(ApiError::new(
            Code::Conflict,
            format!(
                "a release ({}) is running on this rule: one release or experiment per rule",
                layer.stage
            ),
        )
        .field("rule")),
        serve => match running_experiment(serve) {
            Some(id) => Err(ApiError::new(
                Code::Conflict,
                format!("experiment {id} is running on this rule: one experiment per rule"),
            )
            .field("rule")),
            None => Err(ApiError::invalid(
                "rule",
                "an experiment replaces a single-variation serving; this rule serves a rollout",
            )),
        },
    }
}

impl Experiment {
    pub fn seed_of(id: &str) -> String {
        format!("experiment-{id}")
    }

    /// The experiment's rollout: one tracked slice per compared variation (traffic × its
    /// share, in 0.001 % units, the last taking the rounding), then one untracked slice
    /// serving `previous` to the rest.
    pub fn rollout(&self, flag_variations: &[String], previous: usize) -> Result<Rollout, Invalid> {
        let shares = self.plan.shares()?;
        let tracked = ((self.plan.traffic_percent * 1000.0).round() as u32).min(FULL);
        let mut slices = Vec::with_capacity(shares.len() + 1);
        let mut given = 0;
        for (i, (key, share)) in self.plan.variations.iter().zip(&shares).enumerate() {
            let variation = flag_variations
                .iter()
                .position(|k| k == key)
                .ok_or_else(|| {
                    Invalid::new(format!("variations[{i}]"), format!("no variation {key:?}"))
                })?;
            let weight = if i + 1 == shares.len() {
                tracked - given
            } else {
                ((f64::from(tracked) * share / 100.0).round() as u32).min(tracked - given)
            };
            given += weight;
            slices.push(WeightedVariation {
                variation,
                weight,
                untracked: false,
            });
        }
        if tracked < FULL {
            slices.push(WeightedVariation {
                variation: previous,
                weight: FULL - tracked,
                untracked: true,
            });
        }
        Ok(Rollout {
            variations: slices,
            context_kind: "user".into(),
            bucket_by: None,
            seed: Some(self.seed.clone()),
            experiment: true,
        })
    }

    /// Writes the experiment's rollout over its rule's single-variation serving and keeps
    /// that serving in `previous`.
    pub fn begin(
        &mut self,
        targeting: &mut Targeting,
        flag_variations: &[String],
    ) -> Result<(), ApiError> {
        let serve = serve_of(targeting, self.plan.rule.as_deref())?;
        let previous = startable(serve)?;
        let rollout = self.rollout(flag_variations, previous)?;
        self.previous = Some(std::mem::replace(serve, Serve::Rollout(rollout)));
        Ok(())
    }

    /// Whether `targeting` still serves this experiment's rollout on its rule.
    pub fn serving_present(&self, targeting: &mut Targeting) -> bool {
        serve_of(targeting, self.plan.rule.as_deref())
            .is_ok_and(|serve| running_experiment(serve) == Some(self.id.as_str()))
    }

    /// Replaces the experiment's rollout by `serve`; `false` (nothing changed) when the rule
    /// no longer serves it (someone edited the targeting by hand).
    fn replace(&self, targeting: &mut Targeting, serve: Serve) -> bool {
        match serve_of(targeting, self.plan.rule.as_deref()) {
            Ok(slot) if running_experiment(slot) == Some(self.id.as_str()) => {
                *slot = serve;
                true
            }
            _ => false,
        }
    }

    /// Puts back what the rule served before the experiment.
    pub fn restore(&self, targeting: &mut Targeting) -> bool {
        match &self.previous {
            Some(previous) => self.replace(targeting, previous.clone()),
            None => false,
        }
    }

    /// Serves `winner` (an index into the flag's variations) on the rule.
    pub fn ship(&self, targeting: &mut Targeting, winner: usize) -> bool {
        self.replace(targeting, Serve::Variation(winner))
    }

    /// Adds a line to the history (bounded, as releases' are).
    pub fn record(&mut self, at_ms: i64, actor: &str, event: &str, detail: Option<String>) {
        if self.history.len() >= 200 {
            self.history.remove(0);
        }
        self.history.push(ExperimentEvent {
            at_ms,
            actor: actor.to_owned(),
            event: event.to_owned(),
            detail,
        });
        self.updated_ms = at_ms;
    }
}

#[cfg(test)]
#[path = "experiments_tests.rs"]
mod tests;
