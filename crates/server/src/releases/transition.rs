//! Release transitions: the one code path that changes a release.
//!
//! [`transition`] serves a person's start, pause, advance or abort through the API and the
//! guard's automatic advance, hold or roll back alike. It re-reads the release and the flag's
//! targeting, applies the change to both, validates the environment as any flag edit is
//! validated, and commits both with one audit record (actor `release:<id>` for automated
//! decisions, with the evidence in `after`), then notifies the webhooks. A conflicting
//! concurrent change is re-read and retried. [`kill`] turns a flag off and aborts its active
//! releases there, and the active release plans of the flag that cover that environment, in
//! the same commit.

use serde_json::{Value, json};
use switchyard_engine::model::{Serve, Targeting};
use switchyard_store::{AuditRecord, Expected, Store, Write};

use super::assess::Assessment;
use super::document::{Hold, Release, State};
use super::webhooks::Webhooks;
use crate::access::Event;
use crate::access::resources as res;
use crate::clock::now_ms;
use crate::error::{ApiError, ApiResult, Code};
use crate::records::{
    self, EnvData, EnvFlag, GLOBAL, OffServing, env_scope, expect_version, no_new_problems,
};

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

impl Change {
    /// A change audited as `action` and announced to webhooks as `event`.
    pub fn new(action: impl Into<&'static str>, event: &'static str, detail: String) -> Change {
        Change {
            action: action.into(),
            event,
            detail,
            evidence: None,
        }
    }

    /// The same change, decided on `evidence` (kept in the audit record's `after`).
    pub fn decided_on(self, evidence: &Assessment) -> Change {
        Change {
            evidence: Some(evidence.clone()),
            ..self
        }
    }
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
    services: Services<'_>,
    id: &str,
    actor: &Actor,
    change: impl Fn(&mut Release, Flag<'_>, i64) -> ApiResult<Option<Change>>,
) -> ApiResult<Release> {
    let mut attempts = 0;
    loop {
        let stored = records::get::<Release>(services.store, GLOBAL, id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("release {id:?}")))?;
        let mut release = stored.record;
        let data = EnvData::load(services.store, &release.project, &release.environment).await?;
        let Some(EnvFlag {
            spec,
            targeting,
            targeting_version,
            ..
        }) = data.flags.get(&release.flag).cloned()
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
        let commit = Commit {
            data: &data,
            before: Some(&before),
            expected: Expected::Version(stored.version),
            targeting: &targeting,
            targeting_version,
            after_targeting: &after_targeting,
            actor,
            done: &done,
            now,
        };
        let written = commit_change(services, &mut release, commit).await;
        match written {
            Ok(()) => return Ok(release),
            Err(error) if error.code == Code::Conflict && attempts < 5 => attempts += 1,
            Err(error) => return Err(error),
        }
    }
}

/// What the server gives a release change: the store it commits to and the webhooks it
/// announces to.
#[derive(Debug, Clone, Copy)]
pub struct Services<'a> {
    pub store: &'a Store,
    pub webhooks: &'a Webhooks,
}

/// One change of a release as [`commit_change`] writes it.
#[derive(Debug)]
pub struct Commit<'a> {
    /// The environment as read before the change.
    pub data: &'a EnvData,
    /// The release before the change (`None` when it starts).
    pub before: Option<&'a Release>,
    /// What the release's write expects.
    pub expected: Expected,
    /// The flag's targeting before the change, its version, and after.
    pub targeting: &'a Targeting,
    pub targeting_version: i64,
    pub after_targeting: &'a Targeting,
    pub actor: &'a Actor,
    pub done: &'a Change,
    pub now: i64,
}

/// Commits a release and (when it changed) its flag's targeting with one audit record, then
/// notifies the webhooks.
pub async fn commit_change(
    services: Services<'_>,
    release: &mut Release,
    commit: Commit<'_>,
) -> ApiResult<()> {
    commit_change_with(services, release, commit, Vec::new()).await
}

/// [`commit_change`], with `also` written in the same commit (an applied change request's
/// state).
pub async fn commit_change_with(
    services: Services<'_>,
    release: &mut Release,
    commit: Commit<'_>,
    also: Vec<Write>,
) -> ApiResult<()> {
    let Commit {
        data,
        before,
        expected,
        targeting,
        targeting_version,
        after_targeting,
        actor,
        done,
        now,
    } = commit;
    release.record(now, &actor.name, done.action, Some(done.detail.clone()));
    if !release.state.is_active() {
        release.ended_ms = Some(now);
    }
    let mut writes = vec![records::put(GLOBAL, &release.id, &*release, expected)];
    if after_targeting != targeting {
        let mut changed = data.clone();
        if let Some(flag) = changed.flags.get_mut(&release.flag) {
            flag.targeting = after_targeting.clone();
        }
        no_new_problems(&data.dataset(), &changed.dataset())?;
        writes.push(records::put(
            &env_scope(&release.project, &release.environment),
            &release.flag,
            after_targeting,
            expect_version(targeting_version),
        ));
    }
    writes.extend(also);
    let summary = |r: &Release, t: &Targeting| {
        json!({"state": r.state, "stage": r.stage, "stage_name": r.current_stage().name,
               "hold": r.hold, "serve": served_by(r, t)})
    };
    let mut after = summary(release, after_targeting);
    if let Some(evidence) = &done.evidence {
        after["evidence"] = records::encode(evidence);
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
    services.store.commit(&writes, &record).await?;
    services.webhooks.notify(
        services.store,
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
        None => records::encode(&targeting.fallthrough),
        Some(rule) => targeting
            .rules
            .iter()
            .find(|r| &r.id == rule)
            .map_or(Value::Null, |r| records::encode(&r.serve)),
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
            action: Event::ReleaseComplete.as_str(),
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
        action: Event::ReleaseAdvance.as_str(),
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

/// Someone removed the release's layer from the rule: the release cannot go on.
pub(super) fn removed(release: &mut Release, _flag: Flag<'_>) -> ApiResult<Option<Change>> {
    release.state = State::Aborted;
    release.hold = None;
    Ok(Some(Change::new(
        Event::ReleaseAbort,
        "release.aborted",
        "the release layer was removed from the flag by another change".into(),
    )))
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
    /// Release plans of this flag covering this environment that the kill aborted.
    #[serde(default)]
    pub aborted_release_plans: Vec<String>,
    /// What everyone now gets (`null`: the application's own default).
    pub serves_when_off: Option<OffServing>,
}

/// Turns a flag off in one environment and aborts its active releases there (each restored
/// to its previous serving), in one commit: a kill always wins.
pub async fn kill(
    services: Services<'_>,
    (project, env, flag): (&str, &str, &str),
    actor: &Actor,
    comment: Option<&str>,
) -> ApiResult<Killed> {
    let mut attempts = 0;
    loop {
        let data = EnvData::load(services.store, project, env).await?;
        let EnvFlag {
            spec,
            targeting,
            targeting_version,
            ..
        } =
            data.flags.get(flag).cloned().ok_or_else(|| {
                ApiError::not_found(format!("flag {flag:?} in project {project:?}"))
            })?;
        let mut after = targeting.clone();
        after.on = false;
        let now = now_ms();
        let mut writes = Vec::new();
        let mut aborted = Vec::new();
        for stored in records::list_readable::<Release>(services.store, GLOBAL).await? {
            let mut release = stored.record;
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
            release.record(
                now,
                &actor.name,
                Event::FlagKill.as_str(),
                comment.map(str::to_owned),
            );
            aborted.push(release.id.clone());
            writes.push(records::put(
                GLOBAL,
                &release.id,
                &release,
                Expected::Version(stored.version),
            ));
        }
        // Its plans stop in the same commit (`waves`); the targeting's write stays last.
        let (plan_writes, aborted_plans) =
            super::waves::abort_plans_on_kill(services, (project, env, flag), actor, &aborted, now)
                .await?;
        writes.extend(plan_writes);
        let mut changed = data.clone();
        if let Some(changed_flag) = changed.flags.get_mut(flag) {
            changed_flag.targeting = after.clone();
        }
        no_new_problems(&data.dataset(), &changed.dataset())?;
        writes.push(records::put(
            &env_scope(project, env),
            flag,
            &after,
            expect_version(targeting_version),
        ));
        let record = AuditRecord {
            at_ms: now,
            actor: actor.audit.clone(),
            action: Event::FlagKill.as_str().into(),
            resource: res::env_flag(project, env, flag),
            outcome: "allowed".into(),
            before: Some(records::encode(&targeting)),
            after: Some(records::encode(&after)),
            comment: Some(match comment {
                Some(c) => c.to_owned(),
                None if aborted.is_empty() && aborted_plans.is_empty() => "killed".to_owned(),
                None => format!(
                    "killed; aborted releases [{}], release plans [{}]",
                    aborted.join(", "),
                    aborted_plans.join(", ")
                ),
            }),
            request_id: actor.request_id.clone(),
        };
        match services.store.commit(&writes, &record).await {
            Ok(committed) => {
                let event = |kind: &str, release: Option<&str>| {
                    json!({"type": kind, "at_ms": now, "environment": env, "flag": flag,
                           "release": release, "actor": actor.name, "detail": comment})
                };
                let notify = |event| services.webhooks.notify(services.store, project, event);
                notify(event("flag.killed", None));
                for id in &aborted {
                    notify(event("release.aborted", Some(id)));
                }
                return Ok(Killed {
                    flag: flag.to_owned(),
                    environment: env.to_owned(),
                    version: committed.versions.last().copied().unwrap_or_default(),
                    aborted_releases: aborted,
                    aborted_release_plans: aborted_plans,
                    serves_when_off: OffServing::of(&spec, &after),
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
