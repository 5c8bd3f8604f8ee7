//! Release plans (`docs/releases.md`, "Waves"): one flag's release in waves over an ordered list
//! of environments. The guard drives them (`releases::waves`); these handlers start one (as one
//! change request when an environment it touches requires approvals), show them, and pause,
//! resume or abort them — never gated: safety never waits.
//!
//! A plan is authorized as the releases it starts: `release:create` (`release:read`,
//! `release:update`) on each wave's release, `proj/P:env/E:release/{plan}-{wave number}`.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use switchyard_store::Expected;

use super::change_requests::gate::decide_with_policy;
use super::change_requests::{Decision, Gate, Gated, Proposal};
use super::ctx::Change as ApiChange;
use super::ctx::{Body, Ctx, OptionalBody};
use super::projects::load_environment;
use super::query::Query;
use super::releases::{ActionInput, abort_release, pause_release, resume_release};
use crate::access::resources as res;
use crate::access::{Action, Event, random_hex};
use crate::clock::now_ms;
use crate::error::{ApiError, ApiResult, Code, current_request_id};
use crate::records::{self, EnvData, GLOBAL, Operation};
use crate::releases::waves::{self, ReleasePlan, ReleasePlanInput, wave_release_id};
use crate::releases::{Actor, Release};

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PlanFilter {
    /// Only the plans of this flag.
    pub flag: Option<String>,
}

fn actor(ctx: &Ctx) -> Actor {
    Actor {
        audit: ctx.caller.actor(),
        name: format!("token:{}", ctx.caller.token_id),
        request_id: Some(current_request_id()),
    }
}

/// Each wave's release resource: what a plan is authorized as.
fn wave_resources(project: &str, id: &str, environments: &[&str]) -> Vec<String> {
    environments
        .iter()
        .enumerate()
        .map(|(i, env)| res::release(project, env, &wave_release_id(id, i)))
        .collect()
}

fn resources_of(plan: &ReleasePlan) -> Vec<String> {
    let environments: Vec<&str> = plan.waves.iter().map(|w| w.environment.as_str()).collect();
    wave_resources(&plan.project, &plan.id, &environments)
}

async fn authorize_all(ctx: &Ctx, action: Action, resources: &[String]) -> ApiResult<()> {
    for resource in resources {
        ctx.authorize(action, resource).await?;
    }
    Ok(())
}

async fn load_plan(ctx: &Ctx, project: &str, id: &str) -> ApiResult<ReleasePlan> {
    let what = || format!("release plan {id:?} in project {project:?}");
    Ok(ctx
        .load_or_404::<ReleasePlan>(project, id, what)
        .await?
        .record)
}

/// The id a change request being revised or applied was reviewed with.
fn reviewed_id(ctx: &Ctx) -> Option<String> {
    match &ctx.gate {
        Gate::Revise(stored) | Gate::Apply(stored)
            if stored.record.operation == Operation::StartReleasePlan =>
        {
            let (_, id) = stored.record.resource.rsplit_once(":release-plan/")?;
            Some(id.to_owned())
        }
        _ => None,
    }
}

pub(super) async fn create_release_plan(
    ctx: Ctx,
    Path(project): Path<String>,
    Body(input): Body<ReleasePlanInput>,
) -> ApiResult<Gated<(StatusCode, Json<ReleasePlan>)>> {
    if matches!(ctx.gate, Gate::Schedule(_)) {
        return Err(ApiError::invalid(
            "operation",
            "a release plan cannot be scheduled: its waves start as the guard drives them",
        ));
    }
    let id = reviewed_id(&ctx).unwrap_or_else(|| random_hex(4));
    let request = records::encode(&input);
    let environments: Vec<&str> = input.waves.iter().map(|w| w.environment.as_str()).collect();
    // Applying the change request replays its author's start: they were authorized for every
    // wave when proposing; the applier is authorized for the request.
    let resource = res::release_plan(&project, &id);
    if !ctx.gate.applies(Action::ReleaseCreate, &resource) {
        let waves = wave_resources(&project, &id, &environments);
        authorize_all(&ctx, Action::ReleaseCreate, &waves).await?;
    }
    if input.waves.is_empty() {
        return Err(ApiError::invalid("waves", "at least one wave"));
    }
    let store = &ctx.state.store;
    let mut strictest: Option<(u32, String)> = None;
    let mut active = Vec::new();
    for stored in records::list_readable::<Release>(store, GLOBAL).await? {
        let r = stored.record;
        if r.project == project && r.flag == input.flag && r.state.is_active() {
            active.push(r);
        }
    }
    for (i, wave) in input.waves.iter().enumerate() {
        let field = |name: &str| format!("waves[{i}].{name}");
        if wave.bake_s > waves::MAX_BAKE_S {
            return Err(ApiError::invalid(
                field("bake_s"),
                format!("at most {} s (30 days)", waves::MAX_BAKE_S),
            ));
        }
        if input.waves[..i]
            .iter()
            .any(|w| w.environment == wave.environment)
        {
            return Err(ApiError::invalid(
                field("environment"),
                format!("environment {:?} has a wave already", wave.environment),
            ));
        }
        let environment = load_environment(&ctx, &project, &wave.environment)
            .await
            .map_err(|error| match error.code {
                Code::NotFound => ApiError::invalid(field("environment"), error.message),
                _ => error,
            })?
            .record;
        let required = environment.required_approvals;
        if strictest.as_ref().is_none_or(|(most, key)| {
            required > *most || (required == *most && *key > environment.key)
        }) {
            strictest = Some((required, environment.key.clone()));
        }
        let data = EnvData::load(store, &project, &wave.environment).await?;
        let flag = data.flags.get(&input.flag).ok_or_else(|| {
            ApiError::not_found(format!("flag {:?} in project {project:?}", input.flag))
        })?;
        if let Some(other) = active.iter().find(|r| r.environment == wave.environment) {
            return Err(ApiError::new(
                Code::Conflict,
                format!(
                    "release {} of flag {:?} is still {:?} in {}; abort it first",
                    other.id, other.flag, other.state, other.environment
                ),
            )
            .field(field("environment")));
        }
        // The same checks a person's release start makes, on this wave's environment now.
        let keys: Vec<String> = flag.spec.variations.iter().map(|v| v.key.clone()).collect();
        let release_id = wave_release_id(&id, i);
        let at = (project.as_str(), wave.environment.as_str());
        let release_input = wave.release_input(&input);
        Release::new(
            release_id,
            at,
            release_input,
            &keys,
            &flag.targeting,
            now_ms(),
        )
        .map_err(|invalid| {
            // Plan-level fields keep their names; a wave's own are under `waves[i]`.
            let plan_level = ["flag", "variation", "rule"].contains(&invalid.field.as_str());
            let name = if plan_level {
                invalid.field.clone()
            } else {
                field(&invalid.field)
            };
            ApiError::invalid(name, format!("{}: {}", wave.environment, invalid.message))
        })?;
    }
    if let Some(other) =
        waves::plans_in_conflict(ctx.services(), &project, &input.flag, &environments).await?
    {
        return Err(ApiError::new(
            Code::Conflict,
            format!(
                "release plan {} of flag {:?} is still {:?}; abort it first",
                other.id, other.flag, other.state
            ),
        )
        .field("flag"));
    }
    // Its author: the person who proposed it, also when an approver's approval applies it.
    let author = match &ctx.gate {
        Gate::Apply(stored) => format!("account:{}", stored.record.author),
        _ => actor(&ctx).name,
    };
    let now = now_ms();
    let plan = ReleasePlan::new(id, &project, &input, &author, now);
    let write = records::put(&project, &plan.id, &plan, Expected::Absent);
    // Audited (and matched against `require_approval` policies) as `release:create` on the
    // plan, the action the route checks.
    let change = ApiChange::created(Action::ReleaseCreate, &resource, &plan.summary())
        .comment(input.comment.as_deref());
    // The whole plan is one change request, held in the strictest of its environments; once
    // approved, its waves start as the guard drives them, not gated again.
    let env = strictest.map(|(_, key)| key).unwrap_or_default();
    let proposal = Proposal {
        project: &project,
        env: &env,
        operation: Operation::StartReleasePlan,
        target: &input.flag,
        request,
    };
    // The caller's policy is matched against each wave's release too, as a release start in
    // that environment would be: a plan is no way around a policy on a production release.
    let by_policy = wave_resources(&project, &plan.id, &environments)
        .iter()
        .map(|wave| {
            ctx.caller
                .required_approvals(Action::ReleaseCreate.as_str(), wave)
        })
        .max()
        .unwrap_or(0);
    let writes = std::slice::from_ref(&write);
    let (also, note) = match decide_with_policy(&ctx, proposal, writes, &change, by_policy).await? {
        Decision::Held(request) => return Ok(Gated::Proposed(request)),
        Decision::Commit { also, note } => (also, note),
    };
    let mut writes = vec![write];
    writes.extend(also);
    let change = match &note {
        Some(note) => change.comment(Some(note)),
        None => change,
    };
    ctx.commit(&writes, change).await?;
    Ok(Gated::Done((StatusCode::CREATED, Json(plan))))
}

pub(super) async fn list_release_plans(
    ctx: Ctx,
    Path(project): Path<String>,
    Query(filter): Query<PlanFilter>,
) -> ApiResult<Json<Vec<ReleasePlan>>> {
    let mut plans: Vec<ReleasePlan> = records::list::<ReleasePlan>(&ctx.state.store, &project)
        .await?
        .into_iter()
        .map(|stored| stored.record)
        .filter(|plan| filter.flag.as_ref().is_none_or(|f| *f == plan.flag))
        .filter(|plan| {
            resources_of(plan)
                .iter()
                .all(|r| ctx.allows(Action::ReleaseRead, r))
        })
        .collect();
    plans.sort_by_key(|p| std::cmp::Reverse(p.created_ms));
    Ok(Json(plans))
}

pub(super) async fn get_release_plan(
    ctx: Ctx,
    Path((project, id)): Path<(String, String)>,
) -> ApiResult<Json<ReleasePlan>> {
    let plan = load_plan(&ctx, &project, &id).await?;
    authorize_all(&ctx, Action::ReleaseRead, &resources_of(&plan)).await?;
    Ok(Json(plan))
}

/// What a person can do to a plan.
#[derive(Debug, Clone, Copy)]
enum Verb {
    Pause,
    Resume,
    Abort,
}

async fn act(
    ctx: Ctx,
    (project, id): (String, String),
    input: ActionInput,
    verb: Verb,
) -> ApiResult<Json<ReleasePlan>> {
    let plan = load_plan(&ctx, &project, &id).await?;
    authorize_all(&ctx, Action::ReleaseUpdate, &resources_of(&plan)).await?;
    let who = actor(&ctx);
    let services = ctx.services();
    let event = match verb {
        Verb::Pause => Event::ReleasePlanPause,
        Verb::Resume => Event::ReleasePlanResume,
        Verb::Abort => Event::ReleasePlanAbort,
    };
    let changed = waves::change_plan(
        services,
        (&project, &id),
        &who,
        (event, input.comment.clone()),
        |plan, now| match verb {
            Verb::Pause => plan.pause(),
            Verb::Resume => plan.resume(),
            Verb::Abort => plan.abort(now),
        },
    )
    .await?;
    // Then the running wave's release, through the release's own path (a person's pause has
    // no timeout; a resume continues only a person's pause, never a guardrail's hold).
    if let Some(wave) = changed.running_wave()
        && let Some(release_id) = wave.release.clone()
    {
        let release = records::get::<Release>(&ctx.state.store, GLOBAL, &release_id).await?;
        let state = release.as_ref().map(|r| r.record.state);
        let person_paused = release
            .as_ref()
            .and_then(|r| r.record.hold.as_ref())
            .is_some_and(|h| h.rolls_back_at_ms.is_none());
        let path = Path((project.clone(), wave.environment.clone(), release_id));
        let body = || {
            OptionalBody(ActionInput {
                comment: Some(format!(
                    "release plan {id}: {}",
                    input.comment.as_deref().unwrap_or(event.as_str())
                )),
            })
        };
        let same = |ctx: &Ctx| super::change_requests::gated_ctx(ctx, Gate::Live);
        let done = match verb {
            Verb::Pause if state == Some(crate::releases::State::Running) => {
                pause_release(same(&ctx), path, body()).await.map(drop)
            }
            Verb::Resume if state == Some(crate::releases::State::Holding) && person_paused => {
                resume_release(same(&ctx), path, body()).await.map(drop)
            }
            Verb::Abort if state.is_some_and(|s| s.is_active()) => {
                abort_release(same(&ctx), path, body()).await.map(drop)
            }
            _ => Ok(()),
        };
        // The guard may have moved the release on meanwhile (a 409): the plan decides then.
        match done {
            Err(error) if error.code != Code::Conflict => return Err(error),
            _ => {}
        }
    }
    let plan = waves::drive_plan(services, &project, &id).await?;
    Ok(Json(plan))
}

/// One handler per plan verb.
macro_rules! verb_handlers {
    ($($handler:ident => $verb:ident,)*) => {$(
        pub(super) async fn $handler(
            ctx: Ctx,
            Path(path): Path<(String, String)>,
            OptionalBody(input): OptionalBody<ActionInput>,
        ) -> ApiResult<Json<ReleasePlan>> {
            act(ctx, path, input, Verb::$verb).await
        }
    )*};
}

verb_handlers! {
    pause_release_plan => Pause,
    resume_release_plan => Resume,
    abort_release_plan => Abort,
}
