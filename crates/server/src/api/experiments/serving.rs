//! Start, stop and ship: the three experiment actions that change the flag's serving. Start and
//! ship go through the change-request gate (in a protected environment they are change
//! requests, `Operation::StartExperiment`/`ShipExperiment`); a stop, like a release's abort,
//! never waits.

use axum::Json;
use axum::extract::Path;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use switchyard_engine::model::Targeting;
use switchyard_store::{Expected, Write};

use super::super::change_requests::{Gated, Proposal, commit_gated, not_subject_to_approval};
use super::super::ctx::{Body, Change, Ctx, OptionalBody};
use super::super::projects::load_environment;
use super::super::releases::ActionInput;
use super::{Checked, ExperimentView, check_plan, load_experiment, who};
use crate::access::Action;
use crate::access::resources as res;
use crate::clock::now_ms;
use crate::error::{ApiError, ApiResult, Code};
use crate::records::{
    self, EnvData, Experiment, ExperimentState, Operation, encode, env_scope, expect_version,
    no_new_problems,
};

/// The body of a ship: the winning variation's key.
#[derive(Debug, Clone, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ShipInput {
    pub variation: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

fn refuse_state(experiment: &Experiment, what: &str) -> ApiError {
    let state = match experiment.state {
        ExperimentState::Draft => "a draft",
        ExperimentState::Running => "running",
        ExperimentState::Stopped => "stopped",
        ExperimentState::Shipped => "shipped",
    };
    ApiError::new(
        Code::Conflict,
        format!("cannot {what} experiment {}: it is {state}", experiment.id),
    )
    .field("state")
}

fn where_(experiment: &Experiment) -> String {
    match &experiment.plan.rule {
        Some(rule) => format!("rule {rule:?}"),
        None => "the fallthrough".to_owned(),
    }
}

/// The writes of a serving change: the experiment and, when it changed, the flag's targeting
/// (validated as every targeting write is).
fn serving_writes(
    data: &EnvData,
    experiment: &Experiment,
    expected: Expected,
    (before, after, version): (&Targeting, &Targeting, i64),
) -> ApiResult<Vec<Write>> {
    let mut writes = vec![records::put(
        &experiment.project,
        &experiment.id,
        experiment,
        expected,
    )];
    if before != after {
        let mut changed = data.clone();
        if let Some(flag) = changed.flags.get_mut(&experiment.plan.flag) {
            flag.targeting = after.clone();
        }
        no_new_problems(&data.dataset(), &changed.dataset())?;
        let scope = env_scope(&experiment.project, &experiment.environment);
        let targeting = records::put(
            &scope,
            &experiment.plan.flag,
            after,
            expect_version(version),
        );
        writes.push(targeting);
    }
    Ok(writes)
}

/// Start's and ship's last step: their writes through the change-request gate, answered with
/// the experiment as committed (or the change request that now holds it).
async fn commit_serving(
    ctx: &Ctx,
    proposal: Proposal<'_>,
    writes: Vec<Write>,
    change: Change<'_>,
    experiment: Experiment,
) -> ApiResult<Gated<Json<ExperimentView>>> {
    let gated = commit_gated(ctx, proposal, writes, change).await?;
    Ok(gated.map(|committed| {
        Json(ExperimentView {
            experiment,
            version: committed.versions[0],
        })
    }))
}

pub(in crate::api) async fn start_experiment(
    ctx: Ctx,
    Path((project, env, id)): Path<(String, String, String)>,
    OptionalBody(input): OptionalBody<ActionInput>,
) -> ApiResult<Gated<Json<ExperimentView>>> {
    let resource = res::experiment(&project, &env, &id);
    ctx.authorize(Action::ExperimentStart, &resource).await?;
    load_environment(&ctx, &project, &env).await?;
    let stored = load_experiment(&ctx, (&project, &env, &id)).await?;
    let mut experiment = stored.record.clone();
    if experiment.state != ExperimentState::Draft {
        return Err(refuse_state(&experiment, "start"));
    }
    let Checked {
        data,
        flag,
        keys,
        metrics,
    } = check_plan(&ctx, (&project, &env), &experiment.plan, None).await?;
    // One running experiment per rule, even where its rollout was edited away by hand.
    for other in records::list::<Experiment>(&ctx.state.store, &project).await? {
        let other = other.record;
        if other.state == ExperimentState::Running
            && other.environment == env
            && other.plan.flag == experiment.plan.flag
            && other.plan.rule == experiment.plan.rule
        {
            return Err(ApiError::new(
                Code::Conflict,
                format!(
                    "experiment {} is running on this rule: one experiment per rule",
                    other.id
                ),
            )
            .field("rule"));
        }
    }
    let mut after = flag.targeting.clone();
    experiment.begin(&mut after, &keys)?;
    let now = now_ms();
    experiment.state = ExperimentState::Running;
    experiment.started_ms = Some(now);
    experiment.metrics = metrics;
    let detail = format!(
        "started experiment {id} on {} of flag {:?}: {} % of its traffic split over {}",
        where_(&experiment),
        experiment.plan.flag,
        experiment.plan.traffic_percent,
        experiment.plan.variations.join(", ")
    );
    let detail = match &input.comment {
        Some(comment) => format!("{detail} ({comment})"),
        None => detail,
    };
    experiment.record(now, &who(&ctx), "started", Some(detail.clone()));
    let targeting = (&flag.targeting, &after, flag.targeting_version);
    let expected = Expected::Version(stored.version);
    let writes = serving_writes(&data, &experiment, expected, targeting)?;
    let change = Change::updated(Action::ExperimentStart, &resource, &flag.targeting, &after)
        .comment(Some(&detail));
    let proposal = Proposal {
        project: &project,
        env: &env,
        operation: Operation::StartExperiment,
        target: &id,
        request: encode(&input),
    };
    commit_serving(&ctx, proposal, writes, change, experiment).await
}

pub(in crate::api) async fn stop_experiment(
    ctx: Ctx,
    Path((project, env, id)): Path<(String, String, String)>,
    OptionalBody(input): OptionalBody<ActionInput>,
) -> ApiResult<Json<ExperimentView>> {
    let resource = res::experiment(&project, &env, &id);
    ctx.authorize(Action::ExperimentStop, &resource).await?;
    let environment = load_environment(&ctx, &project, &env).await?.record;
    let stored = load_experiment(&ctx, (&project, &env, &id)).await?;
    let mut experiment = stored.record.clone();
    if experiment.state != ExperimentState::Running {
        return Err(refuse_state(&experiment, "stop"));
    }
    let data = EnvData::load(&ctx.state.store, &project, &env).await?;
    let now = now_ms();
    let mut detail = format!("stopped experiment {id}");
    let mut writes = Vec::new();
    match data.flags.get(&experiment.plan.flag) {
        Some(flag) => {
            let mut after = flag.targeting.clone();
            if experiment.restore(&mut after) {
                detail.push_str(&format!(
                    ": {} serves what it served before",
                    where_(&experiment)
                ));
            } else {
                detail.push_str(": its rollout had been edited away, the targeting is unchanged");
            }
            experiment.state = ExperimentState::Stopped;
            experiment.stopped_ms = Some(now);
            let note = input.comment.clone().map(|c| format!("{detail} ({c})"));
            let note = note.unwrap_or(detail.clone());
            let note = not_subject_to_approval(&environment, Some(&note)).unwrap_or(note);
            experiment.record(now, &who(&ctx), "stopped", Some(note.clone()));
            let targeting = (&flag.targeting, &after, flag.targeting_version);
            let expected = Expected::Version(stored.version);
            writes.extend(serving_writes(&data, &experiment, expected, targeting)?);
            detail = note;
        }
        None => {
            experiment.state = ExperimentState::Stopped;
            experiment.stopped_ms = Some(now);
            detail.push_str(": its flag no longer exists");
            experiment.record(now, &who(&ctx), "stopped", Some(detail.clone()));
            let expected = Expected::Version(stored.version);
            writes.push(records::put(&project, &id, &experiment, expected));
        }
    }
    let change = Change::updated(
        Action::ExperimentStop,
        &resource,
        &stored.record,
        &experiment,
    )
    .comment(Some(&detail));
    let committed = ctx.commit(&writes, change).await?;
    Ok(Json(ExperimentView {
        experiment,
        version: committed.versions[0],
    }))
}

pub(in crate::api) async fn ship_experiment(
    ctx: Ctx,
    Path((project, env, id)): Path<(String, String, String)>,
    Body(input): Body<ShipInput>,
) -> ApiResult<Gated<Json<ExperimentView>>> {
    let resource = res::experiment(&project, &env, &id);
    ctx.authorize(Action::ExperimentShip, &resource).await?;
    load_environment(&ctx, &project, &env).await?;
    let stored = load_experiment(&ctx, (&project, &env, &id)).await?;
    let mut experiment = stored.record.clone();
    if experiment.state != ExperimentState::Running {
        return Err(refuse_state(&experiment, "ship"));
    }
    if !experiment.plan.variations.contains(&input.variation) {
        return Err(ApiError::invalid(
            "variation",
            format!(
                "{:?} is not one of the experiment's variations {:?}",
                input.variation, experiment.plan.variations
            ),
        ));
    }
    let data = EnvData::load(&ctx.state.store, &project, &env).await?;
    let flag = data.flags.get(&experiment.plan.flag).ok_or_else(|| {
        ApiError::new(Code::Conflict, "the experiment's flag no longer exists").field("flag")
    })?;
    let winner = flag
        .spec
        .variations
        .iter()
        .position(|v| v.key == input.variation)
        .ok_or_else(|| {
            ApiError::invalid(
                "variation",
                format!("the flag no longer has {:?}", input.variation),
            )
        })?;
    let mut after = flag.targeting.clone();
    if !experiment.ship(&mut after, winner) {
        return Err(ApiError::new(
            Code::Conflict,
            format!(
                "{} no longer serves the experiment (edited by hand): stop it, then set the serving",
                where_(&experiment)
            ),
        )
        .field("rule"));
    }
    let now = now_ms();
    experiment.state = ExperimentState::Shipped;
    experiment.stopped_ms = Some(now);
    experiment.shipped_variation = Some(input.variation.clone());
    let detail = format!("shipped {} from experiment {id}", input.variation);
    let detail = match &input.comment {
        Some(comment) => format!("{detail} ({comment})"),
        None => detail,
    };
    experiment.record(now, &who(&ctx), "shipped", Some(detail.clone()));
    let targeting = (&flag.targeting, &after, flag.targeting_version);
    let writes = serving_writes(
        &data,
        &experiment,
        Expected::Version(stored.version),
        targeting,
    )?;
    let change = Change::updated(Action::ExperimentShip, &resource, &flag.targeting, &after)
        .comment(Some(&detail));
    let proposal = Proposal {
        project: &project,
        env: &env,
        operation: Operation::ShipExperiment,
        target: &id,
        request: encode(&input),
    };
    commit_serving(&ctx, proposal, writes, change, experiment).await
}
