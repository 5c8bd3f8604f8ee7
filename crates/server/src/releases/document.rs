//! The release document: what a person asks for (`ReleaseInput`), its stages, guardrails,
//! windows and state, and the history a release keeps of itself.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::records::Record;

/// What a person asks for when starting a release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseInput {
    pub flag: String,
    /// The rule (by id) the release layers on; absent: the fallthrough.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The target variation's key.
    pub variation: String,
    /// Ordered stages; absent: built from `template` (default: the default ramp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stages: Option<Vec<StageInput>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<Template>,
    /// A segment served the target from the first stage on, outside both cohorts (internal
    /// users). With the default template it adds a first stage at 0 % with Tier 0 only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    #[serde(default)]
    pub guardrails: Vec<Guardrail>,
    #[serde(default)]
    pub on_breach: BreachAction,
    /// α over the whole ramp, shared by the guardrails (default 0.01).
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    /// A hold not resolved by a person in this time rolls back (default 3600).
    #[serde(default = "default_hold_timeout")]
    pub hold_timeout_s: u64,
    /// No events for this long in a running stage holds the release (default 600).
    #[serde(default = "default_stale_after")]
    pub stale_after_s: u64,
    /// Start later (Unix ms); absent: now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at_ms: Option<i64>,
    /// When new stages may begin (UTC); empty: any time. Roll backs are always allowed.
    #[serde(default)]
    pub windows: Vec<Window>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

pub(super) fn default_alpha() -> f64 {
    switchyard_stats::DEFAULT_ALPHA_TOTAL
}
pub(super) fn default_hold_timeout() -> u64 {
    3600
}
pub(super) fn default_stale_after() -> u64 {
    600
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StageInput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Treated share of the eligible contexts, 0–100 (steps of 0.001).
    pub percent: f64,
    /// Minimum time in the stage before the next one (seconds).
    #[serde(default)]
    pub min_bake_s: u64,
    /// Minimum treated contexts (units) before the next stage.
    #[serde(default)]
    pub min_treated: u64,
}

/// Ramps in the style of AWS AppConfig's deployment strategies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Template {
    /// internal users (when an audience is given) → 1 → 5 → 25 → 50 → 100 % with a 2 %
    /// holdback, with the shared document's bake times.
    Default {
        #[serde(default = "default_min_treated")]
        min_treated: u64,
    },
    /// `step_percent` more every `every_s`, then the final bake.
    Linear {
        step_percent: f64,
        every_s: u64,
        #[serde(default = "default_final_bake")]
        final_bake_s: u64,
        #[serde(default)]
        min_treated: u64,
    },
    /// Starts at `start_percent` and doubles every `every_s`, then the final bake.
    Exponential {
        start_percent: f64,
        every_s: u64,
        #[serde(default = "default_final_bake")]
        final_bake_s: u64,
        #[serde(default)]
        min_treated: u64,
    },
}

pub(super) fn default_min_treated() -> u64 {
    1000
}
fn default_final_bake() -> u64 {
    3600
}

/// A metric watched per cohort.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Guardrail {
    /// The metric event name (`track(name, …)`).
    pub metric: String,
    #[serde(default)]
    pub kind: GuardrailKind,
    /// Which change is harm (means only; a bad event is always harm when it increases).
    #[serde(default)]
    pub direction: Direction,
    /// Tolerated change: a relative increase of the bad-event rate (0.1 = 10 %), or an absolute
    /// difference of means.
    #[serde(default)]
    pub margin: f64,
    /// Tier 0: roll back at once when bad events reach this share of treated evaluations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_treated_rate: Option<f64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GuardrailKind {
    /// Each event is a bad event (an error, a timeout, a request slower than L): Tier 1.
    #[default]
    BadEvents,
    /// The events' values are compared by mean (latency, a KPI): Tier 2.
    Mean,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    #[default]
    IncreaseIsBad,
    DecreaseIsBad,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BreachAction {
    #[default]
    RollBack,
    Hold,
}

/// Days (`mon`…`sun`; empty: every day) and a UTC time span `HH:MM`–`HH:MM`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Window {
    #[serde(default)]
    pub days: Vec<String>,
    pub start: String,
    pub end: String,
}

/// A stage as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Stage {
    pub name: String,
    /// In 0.001 % units, as the layer's weight.
    pub weight: u32,
    pub min_bake_s: u64,
    pub min_treated: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Scheduled,
    Running,
    Holding,
    Completed,
    RolledBack,
    Aborted,
}

impl State {
    pub fn is_active(self) -> bool {
        matches!(self, State::Scheduled | State::Running | State::Holding)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Hold {
    pub reason: String,
    pub since_ms: i64,
    /// When the hold turns into a roll back; `None` for a person's pause.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolls_back_at_ms: Option<i64>,
}

/// One line of a release's history (the audit log has the full record).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HistoryEntry {
    pub at_ms: i64,
    /// `release:<id>` for automated decisions, else the person's token actor.
    pub actor: String,
    pub event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The stored release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Release {
    pub id: String,
    pub project: String,
    pub environment: String,
    pub flag: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    pub variation: String,
    pub stages: Vec<Stage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    pub guardrails: Vec<Guardrail>,
    pub on_breach: BreachAction,
    pub alpha: f64,
    pub hold_timeout_s: u64,
    pub stale_after_s: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at_ms: Option<i64>,
    pub windows: Vec<Window>,
    /// The layer's hash seed (`release-{id}`).
    pub seed: String,
    pub state: State,
    /// The current stage's index.
    pub stage: usize,
    pub stage_started_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<Hold>,
    /// ln E of finished stages per guardrail metric: stage values multiply (logs add), so the
    /// error guarantee covers the whole ramp.
    #[serde(default)]
    pub carried_ln_e: BTreeMap<String, f64>,
    pub created_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_ms: Option<i64>,
    #[serde(default)]
    pub history: Vec<HistoryEntry>,
}

/// Releases are stored globally by id, with their project and environment in the body.
impl Record for Release {
    const KIND: &'static str = "release";
}

impl Release {
    /// The current stage's cohort label, as the layer and the SDKs' events carry it.
    pub fn stage_key(&self) -> String {
        format!("{}.{}", self.id, self.stage)
    }

    pub fn current_stage(&self) -> &Stage {
        &self.stages[self.stage.min(self.stages.len() - 1)]
    }

    pub fn is_last_stage(&self) -> bool {
        self.stage + 1 >= self.stages.len()
    }

    pub fn record(&mut self, at_ms: i64, actor: &str, event: &str, detail: Option<String>) {
        // Bounded: the audit log keeps everything; the document keeps the recent story.
        if self.history.len() >= 200 {
            self.history.remove(0);
        }
        self.history.push(HistoryEntry {
            at_ms,
            actor: actor.to_owned(),
            event: event.to_owned(),
            detail,
        });
    }
}
