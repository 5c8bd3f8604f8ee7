//! Release plans: one flag's release travelling in waves over an ordered list of environments
//! (`docs/releases.md`, "Waves"). Each wave is a guarded release in one environment; the next
//! starts only after the previous one completed and baked for its `bake_s`; a wave that rolls
//! back fails the plan (the later waves never start, and with `roll_back_earlier` the earlier
//! ones are put back).
//!
//! This file is the document and its pure state transitions ([`ReleasePlan::observe`],
//! [`ReleasePlan::due`]); [`driver`] reads the releases, acts on what is due and commits, each
//! guard pass, the same way a person's start and the guard's decisions do.

mod driver;
#[cfg(test)]
mod tests;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use switchyard_engine::model::Serve;

use super::document::{
    BreachAction, Guardrail, HistoryEntry, ReleaseInput, StageInput, State, Template, Window,
    default_alpha, default_hold_timeout, default_stale_after,
};
use crate::access::Event;
use crate::records::Record;

pub(super) use driver::abort_plans_on_kill;
pub use driver::{
    change_plan, drive_all, drive_plan, plan_actor, plans_in_conflict, wave_release_id,
};

/// What a person asks for when starting a release plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleasePlanInput {
    pub flag: String,
    /// The target variation's key.
    pub variation: String,
    /// The rule (by id) every wave releases on; absent: the fallthrough.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The waves, in order: wave 1 first.
    pub waves: Vec<WaveInput>,
    /// When a wave rolls back, also put back the serving of the waves completed before it.
    #[serde(default)]
    pub roll_back_earlier: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// The longest bake a wave may ask for (30 days): longer is a mistake, not a plan.
pub const MAX_BAKE_S: u64 = 30 * 24 * 60 * 60;

/// One wave: a guarded release in one environment, with the release's own settings (the same
/// fields and defaults as `ReleaseInput`, without the flag, variation, rule and start time),
/// and how long to bake after it completed before the next wave starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaveInput {
    pub environment: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stages: Option<Vec<StageInput>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<Template>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    #[serde(default)]
    pub guardrails: Vec<Guardrail>,
    #[serde(default)]
    pub on_breach: BreachAction,
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    #[serde(default = "default_hold_timeout")]
    pub hold_timeout_s: u64,
    #[serde(default = "default_stale_after")]
    pub stale_after_s: u64,
    #[serde(default)]
    pub windows: Vec<Window>,
    /// Seconds after the wave's release completed before the next wave starts (default 0).
    #[serde(default)]
    pub bake_s: u64,
}

impl WaveInput {
    /// The release this wave starts, as a person would ask for it.
    pub fn release_input(&self, plan: &ReleasePlanInput) -> ReleaseInput {
        ReleaseInput {
            flag: plan.flag.clone(),
            rule: plan.rule.clone(),
            variation: plan.variation.clone(),
            stages: self.stages.clone(),
            template: self.template.clone(),
            audience: self.audience.clone(),
            guardrails: self.guardrails.clone(),
            on_breach: self.on_breach,
            alpha: self.alpha,
            hold_timeout_s: self.hold_timeout_s,
            stale_after_s: self.stale_after_s,
            start_at_ms: None,
            windows: self.windows.clone(),
            comment: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlanState {
    /// Waves start as the previous ones complete and bake.
    Running,
    /// A person paused it: the running wave's release is held and no new wave starts.
    Paused,
    /// Every wave completed (and baked).
    Completed,
    /// A wave rolled back (or could not start): the later waves never start.
    Failed,
    /// A person aborted it, or the flag was killed in one of its environments.
    Aborted,
}

impl PlanState {
    pub fn is_active(self) -> bool {
        matches!(self, PlanState::Running | PlanState::Paused)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WaveState {
    /// Waits for the waves before it.
    Pending,
    /// Its release (`release`) is active.
    Running,
    /// Its release completed; the next wave waits until `baking_until_ms`.
    Baking,
    Completed,
    /// Its release rolled back, or (an earlier wave, with `roll_back_earlier`) its serving
    /// was put back after a later wave rolled back.
    RolledBack,
    /// Its release was aborted (or could not start).
    Aborted,
    /// The plan ended before its turn.
    NotStarted,
}

/// A wave as stored: what it releases, and how far it got.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Wave {
    pub environment: String,
    pub bake_s: u64,
    /// The release the wave starts (flag, variation and rule are the plan's).
    pub release_input: ReleaseInput,
    pub state: WaveState,
    /// The wave's release id, once started (`{plan}-{wave number}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baking_until_ms: Option<i64>,
    /// What the rule served before the wave's release (put back by `roll_back_earlier`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Serve>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_ms: Option<i64>,
    /// Why it ended as it did (a roll back's reason, a start refused, a restore skipped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// `roll_back_earlier` looked at this completed wave (restored it or said why not).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub restore_done: bool,
}

/// The stored release plan (scope: its project; key: its id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReleasePlan {
    pub id: String,
    pub project: String,
    pub flag: String,
    pub variation: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    pub roll_back_earlier: bool,
    pub waves: Vec<Wave>,
    pub state: PlanState,
    /// Who started it (the history's actor name).
    pub author: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    pub created_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_ms: Option<i64>,
    #[serde(default)]
    pub history: Vec<HistoryEntry>,
}

impl Record for ReleasePlan {
    const KIND: &'static str = "release_plan";
}

/// What the driver must do for a plan next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Due {
    /// Start wave `n` (index).
    Start(usize),
    /// Abort this release of a wave of a plan that ended (aborted meanwhile).
    AbortRelease(String),
    /// Put back the serving of completed wave `n` (`roll_back_earlier`).
    Restore(usize),
}

/// A release as a plan sees it: its state and the last line of its history.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub state: State,
    pub detail: Option<String>,
}

/// One thing that happened to a plan, for its audit record.
#[derive(Debug, Clone, PartialEq)]
pub struct Happened {
    pub event: Event,
    pub detail: String,
}

impl ReleasePlan {
    /// A new plan, running, every wave pending (the guard's next pass starts wave 1).
    pub fn new(
        id: String,
        project: &str,
        input: &ReleasePlanInput,
        author: &str,
        now: i64,
    ) -> ReleasePlan {
        let waves = input
            .waves
            .iter()
            .map(|wave| Wave {
                environment: wave.environment.clone(),
                bake_s: wave.bake_s,
                release_input: wave.release_input(input),
                state: WaveState::Pending,
                release: None,
                baking_until_ms: None,
                previous: None,
                started_ms: None,
                ended_ms: None,
                detail: None,
                restore_done: false,
            })
            .collect();
        let mut plan = ReleasePlan {
            id,
            project: project.to_owned(),
            flag: input.flag.clone(),
            variation: input.variation.clone(),
            rule: input.rule.clone(),
            roll_back_earlier: input.roll_back_earlier,
            waves,
            state: PlanState::Running,
            author: author.to_owned(),
            comment: input.comment.clone(),
            created_ms: now,
            ended_ms: None,
            history: Vec::new(),
        };
        let environments: Vec<&str> = plan.waves.iter().map(|w| w.environment.as_str()).collect();
        let detail = format!("waves: {}", environments.join(" → "));
        plan.record(now, author, Event::ReleasePlanCreate, Some(detail));
        plan
    }

    pub fn record(&mut self, at_ms: i64, actor: &str, event: Event, detail: Option<String>) {
        if self.history.len() >= 200 {
            self.history.remove(0);
        }
        self.history.push(HistoryEntry {
            at_ms,
            actor: actor.to_owned(),
            event: event.as_str().to_owned(),
            detail,
        });
    }

    /// Whether the driver still has something to look at: an active plan, or an ended one
    /// whose wave's release is still running or whose earlier waves wait to be put back.
    pub fn needs_driving(&self) -> bool {
        self.state.is_active()
            || self.waves.iter().any(|w| w.state == WaveState::Running)
            || self.restores_due().next().is_some()
    }

    /// Whether the plan touches `environment`.
    pub fn covers(&self, environment: &str) -> bool {
        self.waves.iter().any(|w| w.environment == environment)
    }

    /// The wave whose release is running or holding, if any.
    pub fn running_wave(&self) -> Option<&Wave> {
        self.waves.iter().find(|w| w.state == WaveState::Running)
    }

    /// Takes in what the waves' releases did (`seen` looks a release up by id) and the time:
    /// completions start bakes, finished bakes complete waves, a roll back fails the plan. The
    /// plan changes only here, in [`ReleasePlan::started`] and in the stops below.
    pub fn observe(
        &mut self,
        now: i64,
        actor: &str,
        seen: impl Fn(&str) -> Option<Seen>,
    ) -> Vec<Happened> {
        let mut happened = Vec::new();
        for index in 0..self.waves.len() {
            let number = index + 1;
            let wave = &mut self.waves[index];
            match wave.state {
                WaveState::Running => {
                    let release = wave.release.clone().unwrap_or_default();
                    let seen = seen(&release).unwrap_or(Seen {
                        state: State::Aborted,
                        detail: Some(format!("release {release} no longer exists")),
                    });
                    match seen.state {
                        State::Completed => {
                            wave.state = WaveState::Baking;
                            // Saturating: a plan stored before bakes were capped
                            // must not wrap around and skip its bake.
                            let bake_ms =
                                i64::try_from(wave.bake_s.saturating_mul(1000)).unwrap_or(i64::MAX);
                            wave.baking_until_ms = Some(now.saturating_add(bake_ms));
                            happened.push(Happened {
                                event: Event::ReleasePlanAdvance,
                                detail: format!(
                                    "wave {number} ({}) completed; baking {} s",
                                    wave.environment, wave.bake_s
                                ),
                            });
                        }
                        State::RolledBack => {
                            wave.state = WaveState::RolledBack;
                            wave.ended_ms = Some(now);
                            wave.detail = seen.detail;
                            let why = format!(
                                "wave {number} ({}) rolled back: {}",
                                wave.environment,
                                wave.detail.as_deref().unwrap_or("see its release")
                            );
                            if self.state.is_active() {
                                self.end(now, PlanState::Failed);
                            }
                            happened.push(Happened {
                                event: Event::ReleasePlanFail,
                                detail: why,
                            });
                        }
                        State::Aborted => {
                            wave.state = WaveState::Aborted;
                            wave.ended_ms = Some(now);
                            wave.detail = seen.detail;
                            let why = format!(
                                "wave {number} ({}) aborted: {}",
                                wave.environment,
                                wave.detail.as_deref().unwrap_or("see its release")
                            );
                            if self.state.is_active() {
                                self.end(now, PlanState::Aborted);
                            }
                            happened.push(Happened {
                                event: Event::ReleasePlanAbort,
                                detail: why,
                            });
                        }
                        State::Scheduled | State::Running | State::Holding => {}
                    }
                }
                WaveState::Baking => {}
                _ => continue,
            }
            let wave = &mut self.waves[index];
            if wave.state == WaveState::Baking && wave.baking_until_ms.is_none_or(|t| t <= now) {
                wave.state = WaveState::Completed;
                wave.ended_ms = Some(now);
                happened.push(Happened {
                    event: Event::ReleasePlanAdvance,
                    detail: format!("wave {number} ({}) baked", wave.environment),
                });
            }
        }
        if self.state.is_active() && self.waves.iter().all(|w| w.state == WaveState::Completed) {
            self.end(now, PlanState::Completed);
            happened.push(Happened {
                event: Event::ReleasePlanComplete,
                detail: format!("completed: every wave serves {:?}", self.variation),
            });
        }
        for h in &happened {
            self.record(now, actor, h.event, Some(h.detail.clone()));
        }
        happened
    }

    /// What the driver does next, given whether a release is still active (`active`).
    pub fn due(&self, active: impl Fn(&str) -> bool) -> Option<Due> {
        if !self.state.is_active()
            && let Some(release) = self.running_wave().and_then(|w| w.release.clone())
            && active(&release)
        {
            return Some(Due::AbortRelease(release));
        }
        if let Some(index) = self.restores_due().next() {
            return Some(Due::Restore(index));
        }
        if self.state != PlanState::Running {
            return None;
        }
        let next = self
            .waves
            .iter()
            .position(|w| w.state != WaveState::Completed)?;
        (self.waves[next].state == WaveState::Pending).then_some(Due::Start(next))
    }

    /// Completed waves to put back: the plan failed and asked for it.
    fn restores_due(&self) -> impl Iterator<Item = usize> + '_ {
        let failed = self.state == PlanState::Failed && self.roll_back_earlier;
        self.waves
            .iter()
            .enumerate()
            .filter(move |(_, w)| failed && w.state == WaveState::Completed && !w.restore_done)
            .map(|(i, _)| i)
    }

    /// Wave `index` started its release `release`, which replaced `previous`.
    pub fn started(&mut self, index: usize, release: &str, previous: Serve, now: i64) {
        if let Some(wave) = self.waves.get_mut(index) {
            wave.state = WaveState::Running;
            wave.release = Some(release.to_owned());
            wave.previous = Some(previous);
            wave.started_ms = Some(now);
        }
    }

    /// Wave `index` could not start (`why`): the plan fails there.
    pub fn refused(&mut self, index: usize, why: String, now: i64) -> Happened {
        if let Some(wave) = self.waves.get_mut(index) {
            wave.state = WaveState::Aborted;
            wave.detail = Some(why.clone());
            wave.ended_ms = Some(now);
        }
        self.end(now, PlanState::Failed);
        Happened {
            event: Event::ReleasePlanFail,
            detail: format!("wave {} could not start: {why}", index + 1),
        }
    }

    /// Completed wave `index` was put back (`restored`) or left as it is (`why`).
    pub fn restored(&mut self, index: usize, outcome: Result<(), String>, now: i64) {
        if let Some(wave) = self.waves.get_mut(index) {
            wave.restore_done = true;
            match outcome {
                Ok(()) => {
                    wave.state = WaveState::RolledBack;
                    wave.detail = Some("put back: a later wave rolled back".into());
                    wave.ended_ms = Some(now);
                }
                Err(why) => wave.detail = Some(format!("not put back: {why}")),
            }
        }
    }

    /// A person paused it: no new wave starts.
    pub fn pause(&mut self) -> Result<(), String> {
        match self.state {
            PlanState::Running => {
                self.state = PlanState::Paused;
                Ok(())
            }
            other => Err(format!("cannot pause a release plan that is {other:?}")),
        }
    }

    pub fn resume(&mut self) -> Result<(), String> {
        match self.state {
            PlanState::Paused => {
                self.state = PlanState::Running;
                Ok(())
            }
            other => Err(format!("cannot resume a release plan that is {other:?}")),
        }
    }

    /// A person (or a kill) stopped it: no wave starts any more; a baking wave counts as
    /// completed. The running wave's release is aborted by the caller (or the driver).
    pub fn abort(&mut self, now: i64) -> Result<(), String> {
        if !self.state.is_active() {
            return Err(format!(
                "cannot abort a release plan that is {:?}",
                self.state
            ));
        }
        for wave in &mut self.waves {
            if wave.state == WaveState::Baking {
                wave.state = WaveState::Completed;
                wave.ended_ms = Some(now);
            }
        }
        self.end(now, PlanState::Aborted);
        Ok(())
    }

    fn end(&mut self, now: i64, state: PlanState) {
        self.state = state;
        self.ended_ms = Some(now);
        for wave in &mut self.waves {
            if wave.state == WaveState::Pending {
                wave.state = WaveState::NotStarted;
            }
        }
    }

    /// The plan in short, for audit records.
    pub fn summary(&self) -> Value {
        let waves: Vec<Value> = self
            .waves
            .iter()
            .map(|w| json!({"environment": w.environment, "state": w.state, "release": w.release}))
            .collect();
        json!({"state": self.state, "flag": self.flag, "variation": self.variation,
               "rule": self.rule, "waves": waves})
    }
}
