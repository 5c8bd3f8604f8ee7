//! The release plans' driver: each guard pass (after the releases), for every plan that still
//! needs it, takes in what its waves' releases did and acts on what is due — starts the next
//! wave's release through the same code a person's start uses (`Release::new`, `begin_stage`,
//! `commit_change`, with the plan's new state in the same commit), aborts the release of a wave
//! whose plan was aborted, puts back earlier waves (`roll_back_earlier`). Every change of a plan
//! is committed with its audit record, actor `{"kind": "release_plan", "id"}`. Two replicas
//! driving the same plan race on its version; one commit wins, the other looks again next pass.

use serde_json::json;
use switchyard_engine::model::{Serve, Targeting};
use switchyard_store::{AuditRecord, Expected, Write};

use super::{Due, Happened, PlanState, ReleasePlan, Seen, WaveState};
use crate::access::resources as res;
use crate::access::{Action, Event};
use crate::clock::now_ms;
use crate::error::{ApiError, ApiResult, Code};
use crate::records::{
    self, EnvData, EnvFlag, GLOBAL, ProjectRecord, Versioned, env_scope, expect_version,
    no_new_problems,
};
use crate::releases::document::{Release, State};
use crate::releases::transition::{
    Actor, Change, Commit, Flag, Services, begin_stage, commit_change_with, finish, transition,
};

/// The id of wave `index`'s release: `{plan}-{wave number}`, the same on every replica, so two
/// guards starting the same wave race on its creation and one wins.
pub fn wave_release_id(plan: &str, index: usize) -> String {
    format!("{plan}-{}", index + 1)
}

/// The plan acting by itself.
pub fn plan_actor(id: &str) -> Actor {
    Actor {
        audit: json!({"kind": "release_plan", "id": id}),
        name: format!("release-plan:{id}"),
        request_id: None,
    }
}

/// One pass over every plan of every project that still needs driving.
pub async fn drive_all(services: Services<'_>) -> ApiResult<()> {
    let mut failed = None;
    for project in records::list_readable::<ProjectRecord>(services.store, GLOBAL).await? {
        let plans = records::list_readable::<ReleasePlan>(services.store, &project.key).await?;
        for stored in plans {
            if !stored.record.needs_driving() {
                continue;
            }
            if let Err(error) = drive_plan(services, &project.key, &stored.key).await {
                tracing::warn!(plan = %stored.key, error = %error.message, "release plan pass failed");
                failed = Some(error);
            }
        }
    }
    failed.map_or(Ok(()), Err)
}

/// Drives one plan until nothing more is due now; answers it as it is then.
pub async fn drive_plan(services: Services<'_>, project: &str, id: &str) -> ApiResult<ReleasePlan> {
    // Each step commits; a plan of n waves needs few steps per pass. Bounded all the same.
    let mut last = None;
    for _ in 0..32 {
        let stored = load(services, project, id).await?;
        let mut plan = stored.record.clone();
        last = Some(stored.record.clone());
        if !plan.needs_driving() {
            break;
        }
        let releases = wave_releases(services, &plan).await?;
        let actor = plan_actor(&plan.id);
        let now = now_ms();
        let seen = |id: &str| {
            releases.iter().find(|r| r.id == id).map(|r| Seen {
                state: r.state,
                detail: r.history.last().and_then(|h| h.detail.clone()),
            })
        };
        let happened = plan.observe(now, &actor.name, seen);
        if !happened.is_empty() {
            // Written, or someone else (another replica's guard, a person) changed the plan
            // first: either way, read it again.
            commit_plan(services, &stored, &plan, &actor, &happened, now).await?;
            continue;
        }
        let active = |id: &str| releases.iter().any(|r| r.id == id && r.state.is_active());
        match plan.due(active) {
            None => break,
            Some(Due::Start(index)) => {
                start_wave(services, &stored, index, now).await?;
            }
            Some(Due::AbortRelease(release)) => {
                abort_release(services, &release, &actor, &plan.id).await?;
            }
            Some(Due::Restore(index)) => {
                restore_earlier(services, &stored, index, now).await?;
            }
        }
    }
    last.ok_or_else(|| ApiError::not_found(format!("release plan {id:?}")))
}

async fn load(
    services: Services<'_>,
    project: &str,
    id: &str,
) -> ApiResult<Versioned<ReleasePlan>> {
    records::get::<ReleasePlan>(services.store, project, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("release plan {id:?} in project {project:?}")))
}

async fn wave_releases(services: Services<'_>, plan: &ReleasePlan) -> ApiResult<Vec<Release>> {
    let mut found = Vec::new();
    for id in plan.waves.iter().filter_map(|w| w.release.as_deref()) {
        if let Some(stored) = records::get::<Release>(services.store, GLOBAL, id).await? {
            found.push(stored.record);
        }
    }
    Ok(found)
}

/// Commits the plan's new state with one audit record of what happened; `false`: someone else
/// changed it first (nothing written).
async fn commit_plan(
    services: Services<'_>,
    stored: &Versioned<ReleasePlan>,
    plan: &ReleasePlan,
    actor: &Actor,
    happened: &[Happened],
    now: i64,
) -> ApiResult<bool> {
    let write = records::put(
        &plan.project,
        &plan.id,
        plan,
        Expected::Version(stored.version),
    );
    commit(
        services,
        vec![write],
        audit(stored, plan, actor, happened, now),
    )
    .await
}

async fn commit(
    services: Services<'_>,
    writes: Vec<Write>,
    record: AuditRecord,
) -> ApiResult<bool> {
    match services.store.commit(&writes, &record).await {
        Ok(_) => Ok(true),
        Err(error) => {
            let error = ApiError::from(error);
            if error.code == Code::Conflict {
                return Ok(false);
            }
            Err(error)
        }
    }
}

/// The audit record of a plan's change: the last thing that happened names the action.
pub(crate) fn audit(
    stored: &Versioned<ReleasePlan>,
    plan: &ReleasePlan,
    actor: &Actor,
    happened: &[Happened],
    now: i64,
) -> AuditRecord {
    let details: Vec<&str> = happened.iter().map(|h| h.detail.as_str()).collect();
    let action = happened
        .last()
        .map_or(Event::ReleasePlanAdvance, |h| h.event);
    AuditRecord {
        at_ms: now,
        actor: actor.audit.clone(),
        action: action.as_str().into(),
        resource: res::release_plan(&plan.project, &plan.id),
        outcome: "allowed".into(),
        before: Some(stored.record.summary()),
        after: Some(plan.summary()),
        comment: Some(details.join("; ")),
        request_id: actor.request_id.clone(),
    }
}

/// What the plan's rule serves in `targeting` (`None`: the rule is gone).
fn serving<'t>(rule: Option<&str>, targeting: &'t mut Targeting) -> Option<&'t mut Serve> {
    match rule {
        None => Some(&mut targeting.fallthrough),
        Some(rule) => targeting
            .rules
            .iter_mut()
            .find(|r| r.id == rule)
            .map(|r| &mut r.serve),
    }
}

/// Starts wave `index`'s release, or fails the plan when it cannot start. `false`: someone
/// else changed the plan or started the release first.
async fn start_wave(
    services: Services<'_>,
    stored: &Versioned<ReleasePlan>,
    index: usize,
    now: i64,
) -> ApiResult<bool> {
    let mut plan = stored.record.clone();
    let actor = plan_actor(&plan.id);
    let Some(wave) = plan.waves.get(index).cloned() else {
        return Ok(false);
    };
    let release_id = wave_release_id(&plan.id, index);
    let data = EnvData::load(services.store, &plan.project, &wave.environment).await?;
    let refuse = |plan: &mut ReleasePlan, why: String| {
        let happened = plan.refused(index, why, now);
        plan.record(
            now,
            &actor.name,
            happened.event,
            Some(happened.detail.clone()),
        );
        happened
    };
    let Some(EnvFlag {
        spec,
        targeting,
        targeting_version,
        ..
    }) = data.flags.get(&plan.flag).cloned()
    else {
        let why = format!("flag {:?} no longer exists", plan.flag);
        let happened = refuse(&mut plan, why);
        return commit_plan(services, stored, &plan, &actor, &[happened], now).await;
    };
    let busy = records::list_readable::<Release>(services.store, GLOBAL)
        .await?
        .into_iter()
        .map(|s| s.record)
        .find(|r| {
            r.project == plan.project
                && r.environment == wave.environment
                && r.flag == plan.flag
                && r.state.is_active()
                && r.id != release_id
        });
    if let Some(other) = busy {
        let why = format!(
            "release {} of the flag is still {:?} there",
            other.id, other.state
        );
        let happened = refuse(&mut plan, why);
        return commit_plan(services, stored, &plan, &actor, &[happened], now).await;
    }
    let keys: Vec<String> = spec.variations.iter().map(|v| v.key.clone()).collect();
    let environment = (plan.project.as_str(), wave.environment.as_str());
    let input = wave.release_input.clone();
    let mut release = match Release::new(release_id, environment, input, &keys, &targeting, now) {
        Ok(release) => release,
        Err(invalid) => {
            let why = format!("{}: {}", invalid.field, invalid.message);
            let happened = refuse(&mut plan, why);
            return commit_plan(services, stored, &plan, &actor, &[happened], now).await;
        }
    };
    let mut after = targeting.clone();
    let previous = serving(plan.rule.as_deref(), &mut after).map(|s| s.clone());
    let target = keys
        .iter()
        .position(|k| *k == release.variation)
        .unwrap_or_default();
    let begun = match release.state {
        State::Scheduled => Ok(()),
        _ => begin_stage(
            &mut release,
            Flag {
                targeting: &mut after,
                target,
            },
            now,
        ),
    };
    if let Err(error) = begun {
        let happened = refuse(&mut plan, error.message);
        return commit_plan(services, stored, &plan, &actor, &[happened], now).await;
    }
    let number = index + 1;
    let detail = format!(
        "wave {number} ({}) started release {}",
        wave.environment, release.id
    );
    plan.started(
        index,
        &release.id,
        previous.unwrap_or(Serve::Variation(0)),
        now,
    );
    plan.record(now, &actor.name, Event::ReleasePlanAdvance, Some(detail));
    let plan_write = records::put(
        &plan.project,
        &plan.id,
        &plan,
        Expected::Version(stored.version),
    );
    let done = Change {
        action: Action::ReleaseCreate.as_str(),
        event: match release.state {
            State::Scheduled => "release.scheduled",
            _ => "release.started",
        },
        detail: format!(
            "wave {number} of release plan {}: started at stage 0 ({})",
            plan.id,
            release.current_stage().name
        ),
        evidence: None,
    };
    let commit = Commit {
        data: &data,
        before: None,
        expected: Expected::Absent,
        targeting: &targeting,
        targeting_version,
        after_targeting: &after,
        actor: &actor,
        done: &done,
        now,
    };
    match commit_change_with(services, &mut release, commit, vec![plan_write]).await {
        Ok(()) => Ok(true),
        Err(error) if error.code == Code::Conflict => Ok(false),
        Err(error) if error.code == Code::ValidationFailed => {
            // The start was not written: the plan as it was, failed at this wave.
            let mut plan = stored.record.clone();
            let why = format!("the environment would not validate: {}", error.message);
            let happened = refuse(&mut plan, why);
            commit_plan(services, stored, &plan, &actor, &[happened], now).await
        }
        Err(error) => Err(error),
    }
}

/// Aborts the release of a wave whose plan ended, as a person's abort would.
async fn abort_release(
    services: Services<'_>,
    release: &str,
    actor: &Actor,
    plan: &str,
) -> ApiResult<()> {
    transition(services, release, actor, |r, flag, _| {
        if !r.state.is_active() {
            return Ok(None);
        }
        finish(r, flag, State::Aborted)?;
        Ok(Some(Change::new(
            Event::ReleaseAbort,
            "release.aborted",
            format!("aborted: its release plan {plan} was aborted"),
        )))
    })
    .await?;
    Ok(())
}

/// Puts back what completed wave `index` replaced (`roll_back_earlier`), through the same
/// validated targeting write as any change, audited on the flag in that environment. A
/// serving changed since the wave completed is left alone (and the plan says so).
async fn restore_earlier(
    services: Services<'_>,
    stored: &Versioned<ReleasePlan>,
    index: usize,
    now: i64,
) -> ApiResult<bool> {
    let mut plan = stored.record.clone();
    let actor = plan_actor(&plan.id);
    let Some(wave) = plan.waves.get(index).cloned() else {
        return Ok(false);
    };
    let (project, env) = (plan.project.clone(), wave.environment.clone());
    let data = EnvData::load(services.store, &project, &env).await?;
    let mut writes = Vec::new();
    let mut before_after = (None, None);
    let outcome = match data.flags.get(&plan.flag) {
        None => Err("the flag no longer exists".to_owned()),
        Some(flag) => {
            let target = flag
                .spec
                .variations
                .iter()
                .position(|v| v.key == plan.variation);
            let mut after = flag.targeting.clone();
            match (
                serving(plan.rule.as_deref(), &mut after),
                target,
                &wave.previous,
            ) {
                (Some(serve), Some(target), Some(previous))
                    if *serve == Serve::Variation(target) =>
                {
                    *serve = previous.clone();
                    let mut changed = data.clone();
                    if let Some(changed_flag) = changed.flags.get_mut(&plan.flag) {
                        changed_flag.targeting = after.clone();
                    }
                    match no_new_problems(&data.dataset(), &changed.dataset()) {
                        Ok(()) => {
                            writes.push(records::put(
                                &env_scope(&project, &env),
                                &plan.flag,
                                &after,
                                expect_version(flag.targeting_version),
                            ));
                            before_after = (
                                Some(records::encode(&flag.targeting)),
                                Some(records::encode(&after)),
                            );
                            Ok(())
                        }
                        Err(invalid) => Err(format!("it would not validate: {}", invalid.message)),
                    }
                }
                _ => Err("the flag's serving changed since the wave completed".to_owned()),
            }
        }
    };
    let number = index + 1;
    let detail = match &outcome {
        Ok(()) => format!("wave {number} ({env}) put back: a later wave rolled back"),
        Err(why) => format!("wave {number} ({env}) not put back: {why}"),
    };
    plan.restored(index, outcome, now);
    plan.record(
        now,
        &actor.name,
        Event::ReleasePlanRestore,
        Some(detail.clone()),
    );
    writes.push(records::put(
        &project,
        &plan.id,
        &plan,
        Expected::Version(stored.version),
    ));
    let (before, after) = before_after;
    let record = AuditRecord {
        at_ms: now,
        actor: actor.audit.clone(),
        action: Event::ReleasePlanRestore.as_str().into(),
        resource: res::env_flag(&project, &env, &plan.flag),
        outcome: "allowed".into(),
        before: before.or_else(|| Some(stored.record.summary())),
        after: after.or_else(|| Some(plan.summary())),
        comment: Some(detail),
        request_id: None,
    };
    commit(services, writes, record).await
}

/// Changes a plan as a person asks (`change`: pause, resume, abort), committed with its audit
/// record; a refusal is a 409 naming the state.
pub async fn change_plan(
    services: Services<'_>,
    (project, id): (&str, &str),
    actor: &Actor,
    (event, comment): (Event, Option<String>),
    change: impl Fn(&mut ReleasePlan, i64) -> Result<(), String>,
) -> ApiResult<ReleasePlan> {
    for _ in 0..5 {
        let stored = load(services, project, id).await?;
        let mut plan = stored.record.clone();
        let now = now_ms();
        change(&mut plan, now).map_err(|why| ApiError::new(Code::Conflict, why).field("state"))?;
        let detail = comment
            .clone()
            .unwrap_or_else(|| format!("{} by {}", event.as_str(), actor.name));
        plan.record(now, &actor.name, event, Some(detail.clone()));
        let happened = [Happened { event, detail }];
        if commit_plan(services, &stored, &plan, actor, &happened, now).await? {
            return Ok(plan);
        }
    }
    Err(ApiError::new(
        Code::Conflict,
        format!("release plan {id:?} kept changing meanwhile; try again"),
    ))
}

/// An active plan of `flag` that covers one of `environments`, if any.
pub async fn plans_in_conflict(
    services: Services<'_>,
    project: &str,
    flag: &str,
    environments: &[&str],
) -> ApiResult<Option<ReleasePlan>> {
    let plans = records::list_readable::<ReleasePlan>(services.store, project).await?;
    Ok(plans.into_iter().map(|s| s.record).find(|p| {
        p.flag == flag && p.state.is_active() && environments.iter().any(|e| p.covers(e))
    }))
}

/// For a kill of `flag` in `env`: the writes that abort every active plan of the flag that
/// covers `env` (the releases in `aborted`, the kill's own, end their waves as aborted), and
/// the plans' ids. A wave running in another environment keeps its release until the
/// driver's next pass aborts it.
pub(in crate::releases) async fn abort_plans_on_kill(
    services: Services<'_>,
    (project, env, flag): (&str, &str, &str),
    actor: &Actor,
    aborted: &[String],
    now: i64,
) -> ApiResult<(Vec<Write>, Vec<String>)> {
    let mut writes = Vec::new();
    let mut ids = Vec::new();
    for stored in records::list_readable::<ReleasePlan>(services.store, project).await? {
        let mut plan = stored.record;
        if plan.flag != flag || !plan.state.is_active() || !plan.covers(env) {
            continue;
        }
        if plan.abort(now).is_err() {
            continue;
        }
        for wave in &mut plan.waves {
            let killed = wave.release.as_ref().is_some_and(|r| aborted.contains(r));
            if wave.state == WaveState::Running && killed {
                wave.state = WaveState::Aborted;
                wave.ended_ms = Some(now);
                wave.detail = Some(format!("the flag was killed in {env}"));
            }
        }
        let detail = format!("the flag was killed in {env}");
        plan.record(now, &actor.name, Event::FlagKill, Some(detail));
        debug_assert_eq!(plan.state, PlanState::Aborted);
        ids.push(plan.id.clone());
        writes.push(records::put(
            project,
            &plan.id,
            &plan,
            Expected::Version(stored.version),
        ));
    }
    Ok((writes, ids))
}
