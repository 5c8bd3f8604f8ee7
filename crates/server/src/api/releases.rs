//! Guarded releases, the kill switch, its trigger URLs and webhooks (`docs/releases.md`).
//! Every change goes through `releases::transition` (or `releases::kill`), the same path the guard
//! uses for its automatic decisions.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use switchyard_store::Expected;

use super::audit::names::Names;
use super::change_requests::{Decision, Gated, Proposal, decide, not_subject_to_approval};
use super::ctx::Change as ApiChange;
use super::ctx::{Body, Ctx, OptionalBody};
use super::projects::load_environment;
use crate::access::Action;
use crate::access::Event;
use crate::access::random_hex;
use crate::access::resources as res;
use crate::clock::now_ms;
use crate::error::{ApiError, ApiResult, Code, current_request_id};
use crate::records::{self, EnvData, EnvFlag, GLOBAL, Operation, env_scope, expect_version};
pub(super) use crate::releases::Killed;
use crate::releases::{self, Actor, Change, Commit};
use crate::releases::{Assessment, State};
pub(super) use crate::releases::{Release, ReleaseInput};

/// A release with what the guard sees now.
#[derive(Debug, Serialize, JsonSchema, Deserialize)]
pub struct ReleaseStatus {
    #[serde(flatten)]
    pub release: Release,
    /// The current stage's cohorts, each guardrail's evidence and the verdict (running only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assessment: Option<Assessment>,
    /// When the guard looks next (Unix ms): the next automatic decision may happen then.
    /// (Running: the next guard tick, which may only find the stage still baking; holding: when
    /// the hold rolls back; scheduled: the start.)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_decision_ms: Option<i64>,
    /// When the current stage's bake time ends (Unix ms, running only): from then on the stage
    /// advances by itself at the guard's next look if healthy (with enough treated contexts, in
    /// an allowed window).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage_ends_at_ms: Option<i64>,
    /// The account that started (or scheduled) the release.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_by_name: Option<String>,
}

/// The optional body of a release action, a kill or a trigger call.
#[derive(Debug, Default, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ActionInput {
    #[serde(default)]
    pub comment: Option<String>,
}

fn actor(ctx: &Ctx) -> Actor {
    Actor {
        audit: ctx.caller.actor(),
        name: format!("token:{}", ctx.caller.token_id),
        request_id: Some(current_request_id()),
    }
}

async fn load_release(ctx: &Ctx, project: &str, env: &str, id: &str) -> ApiResult<Release> {
    let what = || format!("release {id:?} in {project}/{env}");
    let release = ctx.load_or_404::<Release>(GLOBAL, id, what).await?.record;
    if release.project != project || release.environment != env {
        return Err(ApiError::not_found(what()));
    }
    Ok(release)
}

/// Every release of one environment, in id order.
async fn environment_releases(ctx: &Ctx, project: &str, env: &str) -> ApiResult<Vec<Release>> {
    let all = records::list::<Release>(&ctx.state.store, GLOBAL).await?;
    Ok(all
        .into_iter()
        .map(|stored| stored.record)
        .filter(|release| release.project == project && release.environment == env)
        .collect())
}

async fn status(ctx: &Ctx, release: Release) -> ApiResult<ReleaseStatus> {
    let now = now_ms();
    let interval = ctx.state.guard.config.interval.as_millis() as i64;
    let (assessment, next_decision_ms) = match release.state {
        State::Running => (
            Some(ctx.state.guard.assess(&ctx.state.store, &release).await?),
            Some(now + interval),
        ),
        State::Holding => (None, release.hold.as_ref().and_then(|h| h.rolls_back_at_ms)),
        State::Scheduled => (None, release.start_at_ms),
        _ => (None, None),
    };
    let stage_ends_at_ms = (release.state == State::Running)
        .then(|| release.stage_started_ms + release.current_stage().min_bake_s as i64 * 1000);
    let started = release
        .history
        .iter()
        .find(|entry| entry.event == Action::ReleaseCreate.as_str());
    let mut names = Names::new(&ctx.state.store);
    let started_by_name = match started {
        Some(entry) => Some(names.of_history_actor(&entry.actor).await?),
        None => None,
    };
    Ok(ReleaseStatus {
        release,
        assessment,
        next_decision_ms,
        stage_ends_at_ms,
        started_by_name,
    })
}

pub(super) async fn list_releases(
    ctx: Ctx,
    Path((project, env)): Path<(String, String)>,
) -> ApiResult<Json<Vec<Release>>> {
    load_environment(&ctx, &project, &env).await?;
    let mut releases = environment_releases(&ctx, &project, &env).await?;
    releases.retain(|release| {
        ctx.allows(
            Action::ReleaseRead,
            &res::release(&project, &env, &release.id),
        )
    });
    releases.sort_by_key(|r| std::cmp::Reverse(r.created_ms));
    Ok(Json(releases))
}

pub(super) async fn get_release(
    ctx: Ctx,
    Path((project, env, id)): Path<(String, String, String)>,
) -> ApiResult<Json<ReleaseStatus>> {
    ctx.authorize(Action::ReleaseRead, &res::release(&project, &env, &id))
        .await?;
    let release = load_release(&ctx, &project, &env, &id).await?;
    Ok(Json(status(&ctx, release).await?))
}

pub(super) async fn start_release(
    ctx: Ctx,
    Path((project, env)): Path<(String, String)>,
    Body(input): Body<ReleaseInput>,
) -> ApiResult<Gated<(StatusCode, Json<ReleaseStatus>)>> {
    // A change request being revised or applied starts the release it was reviewed as.
    let id = ctx.gate.release_id().unwrap_or_else(|| random_hex(4));
    let request = records::encode(&input);
    ctx.authorize(Action::ReleaseCreate, &res::release(&project, &env, &id))
        .await?;
    load_environment(&ctx, &project, &env).await?;
    let store = &ctx.state.store;
    let data = EnvData::load(store, &project, &env).await?;
    let EnvFlag {
        spec,
        targeting,
        targeting_version,
        ..
    } = data.flags.get(&input.flag).cloned().ok_or_else(|| {
        ApiError::not_found(format!("flag {:?} in project {project:?}", input.flag))
    })?;
    for other in environment_releases(&ctx, &project, &env).await? {
        if other.flag == input.flag && other.state.is_active() {
            return Err(ApiError::new(
                Code::Conflict,
                format!(
                    "release {} of flag {:?} is still {:?}; abort it first",
                    other.id, other.flag, other.state
                ),
            )
            .field("flag"));
        }
    }
    // A plan with a wave here starts the flag's release here itself (`docs/releases.md`, "Waves").
    let here = [env.as_str()];
    let plans = releases::waves::plans_in_conflict(ctx.services(), &project, &input.flag, &here);
    if let Some(plan) = plans.await? {
        return Err(ApiError::new(
            Code::Conflict,
            format!(
                "release plan {} of flag {:?} has a wave in {env}; abort the plan first",
                plan.id, plan.flag
            ),
        )
        .field("flag"));
    }
    let keys: Vec<String> = spec.variations.iter().map(|v| v.key.clone()).collect();
    let comment = input.comment.clone();
    let now = now_ms();
    let mut release = Release::new(id, (&project, &env), input, &keys, &targeting, now)?;
    let mut after = targeting.clone();
    let detail = match release.state {
        State::Scheduled => format!("scheduled for {:?} (Unix ms)", release.start_at_ms),
        _ => {
            let target = keys
                .iter()
                .position(|k| *k == release.variation)
                .unwrap_or_default();
            releases::begin_stage(
                &mut release,
                releases::Flag {
                    targeting: &mut after,
                    target,
                },
                now,
            )?;
            format!("started at stage 0 ({})", release.current_stage().name)
        }
    };
    let done = Change {
        action: Action::ReleaseCreate.as_str(),
        event: match release.state {
            State::Scheduled => "release.scheduled",
            _ => "release.started",
        },
        detail: comment.unwrap_or(detail),
        evidence: None,
    };
    // In an environment that requires approvals the start waits for them, like a targeting
    // edit: what it writes is the release (new) and, unless scheduled, the flag's targeting.
    let mut base = vec![records::put(
        GLOBAL,
        &release.id,
        &release,
        Expected::Absent,
    )];
    if after != targeting {
        let scope = env_scope(&project, &env);
        let expected = expect_version(targeting_version);
        base.push(records::put(&scope, &release.flag, &after, expected));
    }
    let resource = res::release(&project, &env, &release.id);
    let change = ApiChange::updated(Action::ReleaseCreate, &resource, &targeting, &after)
        .comment(Some(&done.detail));
    let proposal = Proposal {
        project: &project,
        env: &env,
        operation: Operation::StartRelease,
        target: &release.flag,
        request,
    };
    let (also, done) = match decide(&ctx, proposal, &base, &change).await? {
        Decision::Held(request) => return Ok(Gated::Proposed(request)),
        Decision::Commit { also, note } => {
            let detail = match note {
                Some(note) => format!("{} ({note})", done.detail),
                None => done.detail.clone(),
            };
            (also, Change { detail, ..done })
        }
    };
    let commit = Commit {
        data: &data,
        before: None,
        expected: Expected::Absent,
        targeting: &targeting,
        targeting_version,
        after_targeting: &after,
        actor: &actor(&ctx),
        done: &done,
        now,
    };
    releases::commit_change_with(ctx.services(), &mut release, commit, also).await?;
    Ok(Gated::Done((
        StatusCode::CREATED,
        Json(status(&ctx, release).await?),
    )))
}

/// What a person can do to a release.
#[derive(Debug, Clone, Copy)]
enum Verb {
    Pause,
    Resume,
    Advance,
    RollBack,
    Abort,
}

async fn act(
    ctx: Ctx,
    (project, env, id): (String, String, String),
    input: ActionInput,
    verb: Verb,
) -> ApiResult<Json<ReleaseStatus>> {
    ctx.authorize(Action::ReleaseUpdate, &res::release(&project, &env, &id))
        .await?;
    let current = load_release(&ctx, &project, &env, &id).await?;
    let environment = load_environment(&ctx, &project, &env).await?.record;
    // An advance carries the current stage's evidence into the ramp's total, as the guard's own.
    let evidence = match (verb, current.state) {
        (Verb::Advance, State::Running) => {
            Some(ctx.state.guard.assess(&ctx.state.store, &current).await?)
        }
        _ => None,
    };
    let who = actor(&ctx);
    let note = |default: String| {
        let note = input.comment.clone().unwrap_or(default);
        not_subject_to_approval(&environment, Some(&note)).unwrap_or(note)
    };
    let release = releases::transition(ctx.services(), &id, &who, |r, flag, now| {
        let refuse = |what: &str| {
            Err(ApiError::new(
                Code::Conflict,
                format!("cannot {what} a release that is {:?}", r.state),
            )
            .field("state"))
        };
        let change = match verb {
            Verb::Pause => {
                // A scheduled release has nothing to pause: abort it, or let it wait.
                if r.state != State::Running {
                    return refuse("pause");
                }
                releases::hold(r, format!("paused by {}", who.name), now, false);
                Change::new(Event::ReleasePause, "release.held", note("paused".into()))
            }
            Verb::Resume => {
                if r.state != State::Holding {
                    return refuse("resume");
                }
                if r.layer_present(flag.targeting) {
                    r.state = State::Running;
                    r.hold = None;
                } else {
                    releases::begin_stage(r, flag, now)?;
                }
                Change::new(
                    Event::ReleaseResume,
                    "release.resumed",
                    note(format!("resumed at stage {}", r.stage)),
                )
            }
            Verb::Advance => {
                if !matches!(r.state, State::Running | State::Holding) {
                    return refuse("advance");
                }
                if !r.in_window(now) {
                    return Err(ApiError::new(
                        Code::Conflict,
                        "outside the release's time windows no new stage begins",
                    )
                    .field("windows"));
                }
                let mut change = releases::advance(r, flag, now, evidence.as_ref())?;
                if let Some(comment) = &input.comment {
                    change.detail = format!("{} ({comment})", change.detail);
                }
                change
            }
            Verb::RollBack | Verb::Abort => {
                if !r.state.is_active() {
                    return refuse("stop");
                }
                let (state, action, event) = match verb {
                    Verb::RollBack => (
                        State::RolledBack,
                        Event::ReleaseRollBack.as_str(),
                        "release.rolled_back",
                    ),
                    _ => (
                        State::Aborted,
                        Event::ReleaseAbort.as_str(),
                        "release.aborted",
                    ),
                };
                releases::finish(r, flag, state)?;
                Change {
                    action,
                    event,
                    detail: note(format!(
                        "{} by {}",
                        event.trim_start_matches("release."),
                        who.name
                    )),
                    evidence: None,
                }
            }
        };
        Ok(Some(change))
    })
    .await?;
    Ok(Json(status(&ctx, release).await?))
}

/// One handler per release verb: the same request, acted on as that verb.
macro_rules! verb_handlers {
    ($($handler:ident => $verb:ident,)*) => {$(
        pub(super) async fn $handler(
            ctx: Ctx,
            Path(path): Path<(String, String, String)>,
            OptionalBody(input): OptionalBody<ActionInput>,
        ) -> ApiResult<Json<ReleaseStatus>> {
            act(ctx, path, input, Verb::$verb).await
        }
    )*};
}

verb_handlers! {
    pause_release => Pause,
    resume_release => Resume,
    advance_release => Advance,
    roll_back_release => RollBack,
    abort_release => Abort,
}

pub(super) async fn kill_flag(
    ctx: Ctx,
    Path((project, env, flag)): Path<(String, String, String)>,
    OptionalBody(input): OptionalBody<ActionInput>,
) -> ApiResult<Json<Killed>> {
    ctx.authorize(Action::FlagToggle, &res::env_flag(&project, &env, &flag))
        .await?;
    let environment = load_environment(&ctx, &project, &env).await?.record;
    let comment = not_subject_to_approval(&environment, input.comment.as_deref()).or(input.comment);
    let killed = releases::kill(
        ctx.services(),
        (&project, &env, &flag),
        &actor(&ctx),
        comment.as_deref(),
    )
    .await?;
    Ok(Json(killed))
}
