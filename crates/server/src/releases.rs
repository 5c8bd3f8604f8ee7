//! Guarded progressive releases (`docs/releases.md`): the release document, its stages, how a
//! stage is written into a flag's targeting, and the pure assessment that turns a stage's
//! cohorts into a decision (`../shared/guardrail-statistics.md`).
//!
//! A release moves one flag's rule (or fallthrough) in one environment to a target variation
//! through a [`ReleaseLayer`] whose weight only grows. Every transition commits the release
//! document and the targeting together, audited (see `guard.rs`).
//!
//! **Invariant:** a roll back or abort restores exactly the serving the rule had before the
//! release started (the layer's `previous`), and every path off a running release removes the
//! layer.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use switchyard_engine::model::{Clause, Condition, Operator, ReleaseLayer, Serve, Targeting};
use switchyard_stats::{
    Alternative, ArmMoments, DEFAULT_N_OPT, DEFAULT_N_TUNE, MIN_SAMPLES_PER_ARM, k_for,
    ln_e_one_sided, mean_difference_cs, rollback_threshold, srm_check,
};
use switchyard_store::events::StageCohorts;

use crate::error::{ApiError, ApiResult};

/// Tier 0 applies once the treated side has this many evaluations in the stage.
pub const TIER0_MIN_EVALUATIONS: i64 = 20;
/// Contexts seen in both cohorts of one stage above this share hold the release.
pub const CROSSED_CONTEXTS_MAX_SHARE: f64 = 0.01;

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

fn default_alpha() -> f64 {
    switchyard_stats::DEFAULT_ALPHA_TOTAL
}
fn default_hold_timeout() -> u64 {
    3600
}
fn default_stale_after() -> u64 {
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

fn default_min_treated() -> u64 {
    1000
}
fn default_final_bake() -> u64 {
    3600
}

/// The share kept on the previous serving during the final bake, so a control still exists.
pub const FINAL_HOLDBACK_PERCENT: f64 = 2.0;

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

impl Release {
    /// Checks `input` against the flag's variations and rules and builds the release.
    pub fn new(
        id: String,
        (project, environment): (&str, &str),
        input: ReleaseInput,
        variations: &[String],
        targeting: &Targeting,
        now_ms: i64,
    ) -> ApiResult<Release> {
        if !variations.contains(&input.variation) {
            return Err(ApiError::invalid(
                "variation",
                format!("the flag has no variation {:?}", input.variation),
            ));
        }
        if let Some(rule) = &input.rule
            && !targeting.rules.iter().any(|r| &r.id == rule)
        {
            return Err(ApiError::invalid(
                "rule",
                format!("no rule {rule:?} in this environment"),
            ));
        }
        if !(input.alpha > 0.0 && input.alpha < 0.5) {
            return Err(ApiError::invalid("alpha", "must be in (0, 0.5)"));
        }
        for (i, guardrail) in input.guardrails.iter().enumerate() {
            if guardrail.metric.is_empty() {
                return Err(ApiError::invalid(
                    format!("guardrails[{i}].metric"),
                    "required",
                ));
            }
            let margin_ok = guardrail.margin.is_finite()
                && (guardrail.margin >= 0.0)
                && (guardrail.kind == GuardrailKind::Mean || guardrail.margin < 10.0);
            if !margin_ok {
                return Err(ApiError::invalid(
                    format!("guardrails[{i}].margin"),
                    "must be a finite number ≥ 0 (and < 10 for bad events)",
                ));
            }
            if guardrail
                .max_treated_rate
                .is_some_and(|r| !(r > 0.0 && r <= 1.0))
            {
                return Err(ApiError::invalid(
                    format!("guardrails[{i}].max_treated_rate"),
                    "must be in (0, 1]",
                ));
            }
        }
        for (i, window) in input.windows.iter().enumerate() {
            parse_window(window).map_err(|m| ApiError::invalid(format!("windows[{i}]"), m))?;
        }
        let stages = match (&input.stages, &input.template) {
            (Some(_), Some(_)) => {
                return Err(ApiError::invalid(
                    "template",
                    "give stages or a template, not both",
                ));
            }
            (Some(stages), None) => stages
                .iter()
                .enumerate()
                .map(|(i, s)| stage(i, s))
                .collect::<ApiResult<Vec<_>>>()?,
            (None, template) => template_stages(
                template.as_ref().unwrap_or(&Template::Default {
                    min_treated: default_min_treated(),
                }),
                input.audience.is_some(),
            )?,
        };
        if stages.is_empty() {
            return Err(ApiError::invalid("stages", "at least one stage"));
        }
        if stages.windows(2).any(|w| w[1].weight < w[0].weight) {
            return Err(ApiError::invalid(
                "stages",
                "percentages must not decrease: nobody treated earlier may be untreated later",
            ));
        }
        let scheduled = input.start_at_ms.is_some_and(|t| t > now_ms);
        let mut release = Release {
            seed: format!("release-{id}"),
            id,
            project: project.to_owned(),
            environment: environment.to_owned(),
            flag: input.flag,
            rule: input.rule,
            variation: input.variation,
            stages,
            audience: input.audience,
            guardrails: input.guardrails,
            on_breach: input.on_breach,
            alpha: input.alpha,
            hold_timeout_s: input.hold_timeout_s,
            stale_after_s: input.stale_after_s,
            start_at_ms: input.start_at_ms,
            windows: input.windows,
            state: if scheduled {
                State::Scheduled
            } else {
                State::Running
            },
            stage: 0,
            stage_started_ms: now_ms,
            hold: None,
            carried_ln_e: BTreeMap::new(),
            created_ms: now_ms,
            ended_ms: None,
            history: Vec::new(),
        };
        // The first stage is a new stage too: outside the windows, it waits for one.
        if !release.in_window(now_ms) {
            release.state = State::Scheduled;
        }
        Ok(release)
    }

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

    /// Whether a new stage may begin at `now_ms` (no windows: always).
    pub fn in_window(&self, now_ms: i64) -> bool {
        self.windows.is_empty()
            || self
                .windows
                .iter()
                .filter_map(|w| parse_window(w).ok())
                .any(|w| w.contains(now_ms))
    }

    /// Writes the current stage into `targeting`: wraps the rule's serving in this release's
    /// layer, or updates the layer this release already owns.
    pub fn apply_stage(&self, targeting: &mut Targeting, variation: usize) -> ApiResult<()> {
        let stage = self.current_stage();
        let audience = self.audience.as_ref().map(|segment| {
            Condition::Clause(Clause {
                kind: "user".into(),
                attribute: String::new(),
                op: Operator::SegmentMatch,
                values: vec![serde_json::Value::String(segment.clone())],
                negate: false,
                case_insensitive: false,
            })
        });
        let stage_key = self.stage_key();
        let serve = self.serve_mut(targeting)?;
        let previous = match std::mem::replace(serve, Serve::Variation(0)) {
            Serve::Release(layer) if self.owns(&layer) => layer.previous,
            Serve::Release(layer) => {
                let taken = layer.stage.clone();
                *serve = Serve::Release(layer);
                return Err(ApiError::new(
                    crate::error::Code::Conflict,
                    format!("another release ({taken}) is running on this rule"),
                ));
            }
            other => other,
        };
        *serve = Serve::Release(Box::new(ReleaseLayer {
            stage: stage_key,
            variation,
            weight: stage.weight,
            seed: self.seed.clone(),
            context_kind: "user".into(),
            bucket_by: None,
            audience,
            previous,
        }));
        Ok(())
    }

    /// Replaces this release's layer with `finish(previous serving)`: the previous serving
    /// itself for a roll back or abort, the target for completion. `Ok(false)`: the layer was
    /// no longer there (someone edited the rule), nothing changed.
    pub fn remove_layer(
        &self,
        targeting: &mut Targeting,
        finish: impl FnOnce(Serve) -> Serve,
    ) -> ApiResult<bool> {
        let Ok(serve) = self.serve_mut(targeting) else {
            return Ok(false);
        };
        match std::mem::replace(serve, Serve::Variation(0)) {
            Serve::Release(layer) if self.owns(&layer) => {
                *serve = finish(layer.previous);
                Ok(true)
            }
            other => {
                *serve = other;
                Ok(false)
            }
        }
    }

    /// Whether `targeting` still carries this release's layer.
    pub fn layer_present(&self, targeting: &mut Targeting) -> bool {
        matches!(self.serve_mut(targeting), Ok(Serve::Release(layer)) if self.owns(layer))
    }

    fn owns(&self, layer: &ReleaseLayer) -> bool {
        layer
            .stage
            .strip_prefix(self.id.as_str())
            .is_some_and(|rest| rest.starts_with('.'))
    }

    fn serve_mut<'t>(&self, targeting: &'t mut Targeting) -> ApiResult<&'t mut Serve> {
        match &self.rule {
            None => Ok(&mut targeting.fallthrough),
            Some(rule) => targeting
                .rules
                .iter_mut()
                .find(|r| &r.id == rule)
                .map(|r| &mut r.serve)
                .ok_or_else(|| ApiError::invalid("rule", format!("no rule {rule:?}"))),
        }
    }
}

fn stage(i: usize, input: &StageInput) -> ApiResult<Stage> {
    if !(0.0..=100.0).contains(&input.percent) {
        return Err(ApiError::invalid(
            format!("stages[{i}].percent"),
            "must be 0 to 100",
        ));
    }
    Ok(Stage {
        name: input
            .name
            .clone()
            .unwrap_or_else(|| format!("{} %", input.percent)),
        weight: (input.percent * 1000.0).round() as u32,
        min_bake_s: input.min_bake_s,
        min_treated: input.min_treated,
    })
}

fn final_stage(final_bake_s: u64, min_treated: u64) -> StageInput {
    StageInput {
        name: Some(format!("100 % ({FINAL_HOLDBACK_PERCENT} % holdback)")),
        percent: 100.0 - FINAL_HOLDBACK_PERCENT,
        min_bake_s: final_bake_s,
        min_treated,
    }
}

/// The stages of a template (`guardrail-statistics.md`, "Default ramp").
pub fn template_stages(template: &Template, has_audience: bool) -> ApiResult<Vec<Stage>> {
    let step = |name: &str, percent: f64, min_bake_s: u64, min_treated: u64| StageInput {
        name: Some(name.to_owned()),
        percent,
        min_bake_s,
        min_treated,
    };
    let mut inputs = Vec::new();
    match *template {
        Template::Default { min_treated } => {
            if has_audience {
                inputs.push(step("internal users", 0.0, 30 * 60, 0));
            }
            for (percent, minutes) in [(1.0, 10), (5.0, 15), (25.0, 30), (50.0, 30)] {
                inputs.push(step(
                    &format!("{percent} %"),
                    percent,
                    minutes * 60,
                    min_treated,
                ));
            }
            inputs.push(final_stage(60 * 60, min_treated));
        }
        Template::Linear {
            step_percent,
            every_s,
            final_bake_s,
            min_treated,
        } => ramp(
            &mut inputs,
            ("template.step_percent", step_percent),
            |percent| percent + step_percent,
            (every_s, final_bake_s, min_treated),
        )?,
        Template::Exponential {
            start_percent,
            every_s,
            final_bake_s,
            min_treated,
        } => ramp(
            &mut inputs,
            ("template.start_percent", start_percent),
            |percent| percent * 2.0,
            (every_s, final_bake_s, min_treated),
        )?,
    }
    inputs
        .iter()
        .enumerate()
        .map(|(i, s)| stage(i, s))
        .collect()
}

/// Stages from `first` % stepping by `next` up to the final bake's holdback.
fn ramp(
    inputs: &mut Vec<StageInput>,
    (field, first): (&str, f64),
    next: impl Fn(f64) -> f64,
    (every_s, final_bake_s, min_treated): (u64, u64, u64),
) -> ApiResult<()> {
    if !(first > 0.0 && first < 100.0) {
        return Err(ApiError::invalid(field, "must be in (0, 100)"));
    }
    let mut percent = first;
    while percent < 100.0 - FINAL_HOLDBACK_PERCENT {
        inputs.push(StageInput {
            name: Some(format!("{percent} %")),
            percent,
            min_bake_s: every_s,
            min_treated,
        });
        percent = next(percent);
    }
    inputs.push(final_stage(final_bake_s, min_treated));
    Ok(())
}

/// A parsed window: weekdays (bit 0 = Monday) and minutes of the UTC day.
struct ParsedWindow {
    days: u8,
    start: u32,
    end: u32,
}

impl ParsedWindow {
    fn contains(&self, now_ms: i64) -> bool {
        let minutes = now_ms.div_euclid(60_000);
        let minute_of_day = minutes.rem_euclid(24 * 60) as u32;
        // 1970-01-01 was a Thursday (Monday = 0 → Thursday = 3).
        let weekday = (minutes.div_euclid(24 * 60) + 3).rem_euclid(7) as u8;
        let day_ok = self.days & (1 << weekday) != 0;
        if self.start <= self.end {
            day_ok && (self.start..self.end).contains(&minute_of_day)
        } else {
            // Over midnight: the day is the one the window started on (kept simple: either).
            day_ok && (minute_of_day >= self.start || minute_of_day < self.end)
        }
    }
}

fn parse_window(window: &Window) -> Result<ParsedWindow, String> {
    const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let mut days = 0u8;
    for day in &window.days {
        let index = DAYS
            .iter()
            .position(|d| d.eq_ignore_ascii_case(day))
            .ok_or_else(|| format!("unknown day {day:?} (mon … sun)"))?;
        days |= 1 << index;
    }
    if days == 0 {
        days = 0x7f;
    }
    let minute = |text: &str| -> Result<u32, String> {
        let (h, m) = text
            .split_once(':')
            .ok_or_else(|| format!("{text:?} is not HH:MM"))?;
        match (h.parse::<u32>(), m.parse::<u32>()) {
            (Ok(h), Ok(m)) if h <= 24 && m < 60 && h * 60 + m <= 24 * 60 => Ok(h * 60 + m),
            _ => Err(format!("{text:?} is not HH:MM")),
        }
    };
    Ok(ParsedWindow {
        days,
        start: minute(&window.start)?,
        end: minute(&window.end)?,
    })
}

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
    /// Tier 1: this stage's ln E, the ramp's total and the roll back threshold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ln_e_stage: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ln_e_total: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Tier 2: the confidence sequence for mean(treated) − mean(control).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<(f64, f64)>,
    /// Tier 0: bad events per treated evaluation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub treated_rate: Option<f64>,
    pub breached: bool,
    /// Why it breached, or why it cannot judge yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
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
            ln_e_stage: None,
            ln_e_total: None,
            threshold: None,
            interval: None,
            treated_rate: None,
            breached: false,
            note: None,
        };
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use switchyard_store::events::MetricMoments;

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
            &Targeting {
                on: true,
                off_variation: Some(1),
                prerequisites: vec![],
                targets: vec![],
                rules: vec![],
                fallthrough: Serve::Variation(1),
            },
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
        assert!(
            matches!(a.verdict, Verdict::Hold { ref reason } if reason.contains("sample ratio"))
        );
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
        let mut targeting = Targeting {
            on: true,
            off_variation: Some(1),
            prerequisites: vec![],
            targets: vec![],
            rules: vec![],
            fallthrough: Serve::Variation(1),
        };
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
}
