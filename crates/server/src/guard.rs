//! Release transitions and the guard that makes them by itself.
//!
//! [`transition`] is the one code path that changes a release: a person's start, pause,
//! advance or abort through the API and the guard's automatic advance, hold or roll back all
//! run through it. It re-reads the release and the flag's targeting, applies the change to
//! both, validates the environment as any flag edit is validated, and commits both with one
//! audit record (actor `release:<id>` for automated decisions, with the evidence in `after`),
//! then notifies the webhooks. A conflicting concurrent change is re-read and retried.
//!
//! [`spawn`] runs the guard: every `interval` it reads each active release's cohorts, assesses
//! them (`releases::assess`) and acts on the verdict. Replicas may all run it: two guards
//! deciding the same thing race on the documents' versions and one commit wins.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use switchyard_engine::model::{Serve, Targeting};
use switchyard_store::{AuditRecord, Expected, Store, Write};

use crate::api::{expect_version, parse_doc, to_json};
use crate::error::{ApiError, ApiResult, Code};
use crate::releases::{Assessment, BreachAction, Freshness, Hold, Release, State, Verdict, assess};
use crate::resources as res;
use crate::validate::{EnvData, no_new_problems};
use crate::{now_ms, webhooks};

/// Releases are stored globally by id (kind `release`, scope `""`), with their project and
/// environment in the body.
pub const KIND: &str = "release";

/// Who makes a change.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The audit record's actor.
    pub audit: Value,
    /// A short name for the release's history.
    pub name: String,
    pub request_id: Option<String>,
}

impl Actor {
    /// The release acting by itself.
    pub fn release(id: &str) -> Actor {
        Actor {
            audit: json!({"kind": "release", "id": id}),
            name: format!("release:{id}"),
            request_id: None,
        }
    }
}

/// What a transition did, for the audit record and the webhooks.
#[derive(Debug, Clone)]
pub struct Change {
    /// The audited action, such as `release:advance`.
    pub action: &'static str,
    /// The webhook event type, such as `release.stage_changed`.
    pub event: &'static str,
    pub detail: String,
    pub evidence: Option<Assessment>,
}

/// The flag's targeting as a transition sees it: mutable, with the target variation's index.
#[derive(Debug)]
pub struct Flag<'a> {
    pub targeting: &'a mut Targeting,
    pub target: usize,
}

/// Reads the release, applies `change` to it and the flag's targeting, and commits both.
/// `change` returns `None` when there is nothing to do (the release moved on meanwhile).
pub async fn transition(
    store: &Store,
    id: &str,
    actor: &Actor,
    change: impl Fn(&mut Release, Flag<'_>, i64) -> ApiResult<Option<Change>>,
) -> ApiResult<Release> {
    let mut attempts = 0;
    loop {
        let doc = store
            .get(KIND, "", id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("release {id:?}")))?;
        let mut release: Release = parse_doc(&doc)?;
        let data = EnvData::load(store, &release.project, &release.environment).await?;
        let Some((spec, _, targeting, targeting_version)) = data.flags.get(&release.flag).cloned()
        else {
            return Err(ApiError::not_found(format!(
                "flag {:?} (the release's flag was deleted)",
                release.flag
            )));
        };
        let target = spec
            .variations
            .iter()
            .position(|v| v.key == release.variation)
            .ok_or_else(|| {
                ApiError::invalid(
                    "variation",
                    format!("the flag has no variation {:?} any more", release.variation),
                )
            })?;
        let before = release.clone();
        let mut after_targeting = targeting.clone();
        let now = now_ms();
        let flag = Flag {
            targeting: &mut after_targeting,
            target,
        };
        let Some(done) = change(&mut release, flag, now)? else {
            return Ok(before);
        };
        let written = commit_change(
            store,
            &data,
            &mut release,
            (Some(&before), Expected::Version(doc.version)),
            (&targeting, targeting_version, &after_targeting),
            actor,
            &done,
            now,
        )
        .await;
        match written {
            Ok(()) => return Ok(release),
            Err(error) if error.code == Code::Conflict && attempts < 5 => attempts += 1,
            Err(error) => return Err(error),
        }
    }
}

/// Commits a release and (when it changed) its flag's targeting with one audit record, then
/// notifies the webhooks. `release`: (its state before, the version the write expects);
/// `targeting`: (before, its version, after).
#[allow(clippy::too_many_arguments)]
pub async fn commit_change(
    store: &Store,
    data: &EnvData,
    release: &mut Release,
    (before, expected): (Option<&Release>, Expected),
    (targeting, targeting_version, after_targeting): (&Targeting, i64, &Targeting),
    actor: &Actor,
    done: &Change,
    now: i64,
) -> ApiResult<()> {
    release.record(now, &actor.name, done.action, Some(done.detail.clone()));
    if !release.state.is_active() {
        release.ended_ms = Some(now);
    }
    let mut writes = vec![Write::Put {
        kind: KIND.into(),
        scope: String::new(),
        key: release.id.clone(),
        body: to_json(&*release),
        expected,
    }];
    if after_targeting != targeting {
        let mut changed = data.clone();
        if let Some(entry) = changed.flags.get_mut(&release.flag) {
            entry.2 = after_targeting.clone();
        }
        no_new_problems(&data.dataset(), &changed.dataset())?;
        writes.push(Write::Put {
            kind: "targeting".into(),
            scope: res::env_scope(&release.project, &release.environment),
            key: release.flag.clone(),
            body: to_json(after_targeting),
            expected: expect_version(targeting_version),
        });
    }
    let summary = |r: &Release, t: &Targeting| {
        json!({"state": r.state, "stage": r.stage, "stage_name": r.current_stage().name,
               "hold": r.hold, "serve": served_by(r, t)})
    };
    let mut after = summary(release, after_targeting);
    if let Some(evidence) = &done.evidence {
        after["evidence"] = to_json(evidence);
    }
    let record = AuditRecord {
        at_ms: now,
        actor: actor.audit.clone(),
        action: done.action.into(),
        resource: res::release(&release.project, &release.environment, &release.id),
        outcome: "allowed".into(),
        before: before.map(|b| summary(b, targeting)),
        after: Some(after.clone()),
        comment: Some(done.detail.clone()),
        request_id: actor.request_id.clone(),
    };
    store.commit(&writes, &record).await?;
    webhooks::notify(
        store,
        &release.project,
        json!({"type": done.event, "at_ms": now, "environment": release.environment,
               "flag": release.flag, "release": release.id, "actor": actor.name,
               "detail": done.detail, "after": after}),
    );
    Ok(())
}

/// What the release's rule serves now, for the audit record.
fn served_by(release: &Release, targeting: &Targeting) -> Value {
    match &release.rule {
        None => to_json(&targeting.fallthrough),
        Some(rule) => targeting
            .rules
            .iter()
            .find(|r| &r.id == rule)
            .map_or(Value::Null, |r| to_json(&r.serve)),
    }
}

/// Begins the current stage (first start, after a schedule, or an advance).
pub fn begin_stage(release: &mut Release, flag: Flag<'_>, now: i64) -> ApiResult<()> {
    release.apply_stage(flag.targeting, flag.target)?;
    release.state = State::Running;
    release.hold = None;
    release.stage_started_ms = now;
    Ok(())
}

/// Ends the release: its layer is replaced by the previous serving (roll back, abort) or by
/// the target (complete).
pub fn finish(release: &mut Release, flag: Flag<'_>, state: State) -> ApiResult<()> {
    let target = flag.target;
    release.remove_layer(flag.targeting, |previous| match state {
        State::Completed => Serve::Variation(target),
        _ => previous,
    })?;
    release.state = state;
    release.hold = None;
    Ok(())
}

/// Moves to the next stage, carrying this stage's evidence, or completes after the last.
pub fn advance(
    release: &mut Release,
    flag: Flag<'_>,
    now: i64,
    evidence: Option<&Assessment>,
) -> ApiResult<Change> {
    if let Some(evidence) = evidence {
        for guardrail in &evidence.guardrails {
            if let Some(ln_e) = guardrail.ln_e_stage {
                *release
                    .carried_ln_e
                    .entry(guardrail.metric.clone())
                    .or_default() += ln_e;
            }
        }
    }
    if release.is_last_stage() {
        finish(release, flag, State::Completed)?;
        return Ok(Change {
            action: "release:complete",
            event: "release.completed",
            detail: format!(
                "completed: everyone eligible is served {:?}",
                release.variation
            ),
            evidence: evidence.cloned(),
        });
    }
    release.stage += 1;
    begin_stage(release, flag, now)?;
    Ok(Change {
        action: "release:advance",
        event: "release.stage_changed",
        detail: format!("stage {} ({})", release.stage, release.current_stage().name),
        evidence: evidence.cloned(),
    })
}

/// Puts the release on hold; `timeout`: roll back if no person acts by then.
pub fn hold(release: &mut Release, reason: String, now: i64, timeout: bool) {
    release.state = State::Holding;
    release.hold = Some(Hold {
        reason,
        since_ms: now,
        rolls_back_at_ms: timeout.then(|| now + release.hold_timeout_s as i64 * 1000),
    });
}

/// The guard's settings.
#[derive(Debug, Clone, Copy)]
pub struct GuardConfig {
    /// How often active releases are assessed.
    pub interval: Duration,
}

impl Default for GuardConfig {
    fn default() -> Self {
        GuardConfig {
            interval: Duration::from_secs(2),
        }
    }
}

/// The guard: its settings and what it remembers between passes.
#[derive(Debug, Default)]
pub struct Guard {
    pub config: GuardConfig,
    /// Stage key → when its evaluation count last moved (for the stale-data hold).
    freshness: Mutex<HashMap<String, Freshness>>,
}

impl Guard {
    pub fn new(config: GuardConfig) -> Arc<Guard> {
        Arc::new(Guard {
            config,
            freshness: Mutex::default(),
        })
    }

    /// Starts the guard loop; it runs until the runtime stops.
    pub fn spawn(self: &Arc<Guard>, store: Store) {
        let guard = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(guard.config.interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(error) = check_all(&store, &guard.freshness).await {
                    tracing::warn!(error = %error.message, "release guard pass failed");
                }
            }
        });
    }

    /// A running release's assessment now (for status), with the guard's view of freshness.
    pub async fn assess(&self, store: &Store, release: &Release) -> ApiResult<Assessment> {
        assess_now(store, release, &self.freshness, now_ms()).await
    }
}

async fn check_all(store: &Store, freshness: &Mutex<HashMap<String, Freshness>>) -> ApiResult<()> {
    for doc in store.list(KIND, "").await? {
        let Ok(release) = parse_doc::<Release>(&doc) else {
            continue;
        };
        if !release.state.is_active() {
            continue;
        }
        if let Err(error) = check(store, release, freshness).await {
            tracing::warn!(release = %doc.key, error = %error.message, "release guard check failed");
        }
    }
    Ok(())
}

/// One look at one active release.
async fn check(
    store: &Store,
    release: Release,
    freshness: &Mutex<HashMap<String, Freshness>>,
) -> ApiResult<()> {
    let now = now_ms();
    let actor = Actor::release(&release.id);
    match release.state {
        State::Scheduled => {
            if release.start_at_ms.is_none_or(|t| t <= now) && release.in_window(now) {
                transition(store, &release.id, &actor, |r, flag, now| {
                    if r.state != State::Scheduled {
                        return Ok(None);
                    }
                    begin_stage(r, flag, now)?;
                    Ok(Some(Change {
                        action: "release:start",
                        event: "release.started",
                        detail: format!("started at stage 0 ({})", r.current_stage().name),
                        evidence: None,
                    }))
                })
                .await?;
            }
        }
        State::Holding => {
            let due = release
                .hold
                .as_ref()
                .and_then(|h| h.rolls_back_at_ms)
                .is_some_and(|t| t <= now);
            if due {
                transition(store, &release.id, &actor, |r, flag, _| {
                    if r.state != State::Holding {
                        return Ok(None);
                    }
                    let reason = r
                        .hold
                        .as_ref()
                        .map(|h| h.reason.clone())
                        .unwrap_or_default();
                    finish(r, flag, State::RolledBack)?;
                    Ok(Some(Change {
                        action: "release:roll_back",
                        event: "release.rolled_back",
                        detail: format!("the hold timed out unresolved ({reason})"),
                        evidence: None,
                    }))
                })
                .await?;
            }
        }
        State::Running => {
            let assessment = assess_now(store, &release, freshness, now).await?;
            act(store, &release, &actor, assessment).await?;
        }
        State::Completed | State::RolledBack | State::Aborted => {}
    }
    Ok(())
}

/// Reads the stage's cohorts and assesses them, keeping track of when data last arrived.
async fn assess_now(
    store: &Store,
    release: &Release,
    freshness: &Mutex<HashMap<String, Freshness>>,
    now: i64,
) -> ApiResult<Assessment> {
    let stage = release.stage_key();
    let cohorts = store
        .stage_cohorts(
            &release.project,
            &release.environment,
            &release.flag,
            &stage,
        )
        .await?;
    let total: i64 = cohorts.evaluations.values().sum();
    let seen = {
        let mut map = freshness.lock().unwrap_or_else(|e| e.into_inner());
        let entry = map.entry(stage).or_insert(Freshness {
            evaluations: total,
            changed_ms: now,
        });
        if total != entry.evaluations {
            *entry = Freshness {
                evaluations: total,
                changed_ms: now,
            };
        }
        *entry
    };
    Ok(assess(release, &cohorts, seen, now))
}

async fn act(
    store: &Store,
    release: &Release,
    actor: &Actor,
    assessment: Assessment,
) -> ApiResult<()> {
    let stage = release.stage;
    let still_here = |r: &Release| r.state == State::Running && r.stage == stage;
    match assessment.verdict.clone() {
        Verdict::Continue { .. } => {}
        Verdict::Advance => {
            transition(store, &release.id, actor, |r, flag, now| {
                if !still_here(r) {
                    return Ok(None);
                }
                if !r.layer_present(flag.targeting) {
                    return removed(r, flag);
                }
                advance(r, flag, now, Some(&assessment)).map(Some)
            })
            .await?;
        }
        Verdict::Breach { reason } => {
            transition(store, &release.id, actor, |r, flag, now| {
                if !still_here(r) {
                    return Ok(None);
                }
                if r.on_breach == BreachAction::Hold {
                    hold(r, format!("guardrail breached: {reason}"), now, true);
                    return Ok(Some(Change {
                        action: "release:hold",
                        event: "release.breached",
                        detail: format!("guardrail breached, holding: {reason}"),
                        evidence: Some(assessment.clone()),
                    }));
                }
                finish(r, flag, State::RolledBack)?;
                Ok(Some(Change {
                    action: "release:roll_back",
                    event: "release.rolled_back",
                    detail: format!("guardrail breached: {reason}"),
                    evidence: Some(assessment.clone()),
                }))
            })
            .await?;
        }
        Verdict::Hold { reason } => {
            transition(store, &release.id, actor, |r, _, now| {
                if !still_here(r) {
                    return Ok(None);
                }
                hold(r, reason.clone(), now, true);
                Ok(Some(Change {
                    action: "release:hold",
                    event: "release.held",
                    detail: format!("holding: {reason}"),
                    evidence: Some(assessment.clone()),
                }))
            })
            .await?;
        }
    }
    Ok(())
}

/// Someone removed the release's layer from the rule: the release cannot go on.
fn removed(release: &mut Release, _flag: Flag<'_>) -> ApiResult<Option<Change>> {
    release.state = State::Aborted;
    release.hold = None;
    Ok(Some(Change {
        action: "release:abort",
        event: "release.aborted",
        detail: "the release layer was removed from the flag by another change".into(),
        evidence: None,
    }))
}

/// What a kill did.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema, serde::Deserialize)]
pub struct Killed {
    pub flag: String,
    pub environment: String,
    /// The targeting's version after the kill.
    pub version: i64,
    /// Releases of this flag that the kill aborted.
    pub aborted_releases: Vec<String>,
}

/// Turns a flag off in one environment and aborts its active releases there (each restored
/// to its previous serving), in one commit: a kill always wins.
pub async fn kill(
    store: &Store,
    (project, env, flag): (&str, &str, &str),
    actor: &Actor,
    comment: Option<&str>,
) -> ApiResult<Killed> {
    let mut attempts = 0;
    loop {
        let data = EnvData::load(store, project, env).await?;
        let (_, _, targeting, targeting_version) =
            data.flags.get(flag).cloned().ok_or_else(|| {
                ApiError::not_found(format!("flag {flag:?} in project {project:?}"))
            })?;
        let mut after = targeting.clone();
        after.on = false;
        let now = now_ms();
        let mut writes = Vec::new();
        let mut aborted = Vec::new();
        for doc in store.list(KIND, "").await? {
            let Ok(mut release) = parse_doc::<Release>(&doc) else {
                continue;
            };
            if release.project != project
                || release.environment != env
                || release.flag != flag
                || !release.state.is_active()
            {
                continue;
            }
            release.remove_layer(&mut after, |previous| previous)?;
            release.state = State::Aborted;
            release.hold = None;
            release.ended_ms = Some(now);
            release.record(now, &actor.name, "flag:kill", comment.map(str::to_owned));
            aborted.push(release.id.clone());
            writes.push(Write::Put {
                kind: KIND.into(),
                scope: String::new(),
                key: release.id.clone(),
                body: to_json(&release),
                expected: Expected::Version(doc.version),
            });
        }
        let mut changed = data.clone();
        if let Some(entry) = changed.flags.get_mut(flag) {
            entry.2 = after.clone();
        }
        no_new_problems(&data.dataset(), &changed.dataset())?;
        writes.push(Write::Put {
            kind: "targeting".into(),
            scope: res::env_scope(project, env),
            key: flag.to_owned(),
            body: to_json(&after),
            expected: expect_version(targeting_version),
        });
        let record = AuditRecord {
            at_ms: now,
            actor: actor.audit.clone(),
            action: "flag:kill".into(),
            resource: res::env_flag(project, env, flag),
            outcome: "allowed".into(),
            before: Some(to_json(&targeting)),
            after: Some(to_json(&after)),
            comment: Some(match comment {
                Some(c) => c.to_owned(),
                None if aborted.is_empty() => "killed".to_owned(),
                None => format!("killed; aborted releases {}", aborted.join(", ")),
            }),
            request_id: actor.request_id.clone(),
        };
        match store.commit(&writes, &record).await {
            Ok(committed) => {
                let event = |kind: &str, release: Option<&str>| {
                    json!({"type": kind, "at_ms": now, "environment": env, "flag": flag,
                           "release": release, "actor": actor.name, "detail": comment})
                };
                webhooks::notify(store, project, event("flag.killed", None));
                for id in &aborted {
                    webhooks::notify(store, project, event("release.aborted", Some(id)));
                }
                return Ok(Killed {
                    flag: flag.to_owned(),
                    environment: env.to_owned(),
                    version: committed.versions.last().copied().unwrap_or_default(),
                    aborted_releases: aborted,
                });
            }
            Err(e) => {
                let error = ApiError::from(e);
                if error.code == Code::Conflict && attempts < 5 {
                    attempts += 1;
                    continue;
                }
                return Err(error);
            }
        }
    }
}
