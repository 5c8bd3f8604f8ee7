//! Experiments (`docs/experiments.md`, "Running an experiment"): a draft is created and edited
//! freely; start, stop and ship change the flag's serving (`serving.rs`); the results are
//! another route's.

mod serving;

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use serde_json::Value;

use super::change_requests::{Gated, Route};
use super::ctx::{Body, Change, Ctx, OptionalBody, strict_value};
use super::projects::load_environment;
use crate::access::resources as res;
use crate::access::{Action, random_hex};
use crate::clock::now_ms;
use crate::error::{ApiError, ApiResult, Code};
use crate::records::experiments::{Correction, ExperimentPlan, Method, Prior, serve_of, startable};
use crate::records::{
    self, EnvData, EnvFlag, Experiment, ExperimentState, Metric, Operation, Versioned,
};

pub use serving::ShipInput;
pub(super) use serving::{ship_experiment, start_experiment, stop_experiment};

/// An experiment to create, or a draft's (or a running experiment's) new plan: an
/// [`ExperimentPlan`]'s fields (not flattened, so a refusal names the field), the version an
/// update replaces and a comment.
#[derive(Debug, Clone, Deserialize, JsonSchema, Serialize)]
pub struct ExperimentInput {
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
    /// The share of the rule's contexts in the experiment (0 < p ≤ 100).
    pub traffic_percent: f64,
    pub primary_metric: String,
    #[serde(default)]
    pub secondary_metrics: Vec<String>,
    #[serde(default)]
    pub guardrail_metrics: Vec<String>,
    /// Default `fixed_horizon`.
    #[serde(default)]
    pub method: Method,
    /// Default 0.05.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpha: Option<f64>,
    /// Bayesian only: on the relative effect; absent: uninformative.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prior: Option<Prior>,
    /// Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cuped: Option<bool>,
    /// Default 168.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_period_hours: Option<u32>,
    /// Default `holm`.
    #[serde(default)]
    pub correction: Correction,
    /// The version an update replaces (or `If-Match`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

impl ExperimentInput {
    fn plan(&self) -> ExperimentPlan {
        let defaults = ExperimentPlan::defaults();
        ExperimentPlan {
            flag: self.flag.clone(),
            rule: self.rule.clone(),
            name: self.name.clone(),
            hypothesis: self.hypothesis.clone(),
            variations: self.variations.clone(),
            control: self.control.clone(),
            weights: self.weights.clone(),
            traffic_percent: self.traffic_percent,
            primary_metric: self.primary_metric.clone(),
            secondary_metrics: self.secondary_metrics.clone(),
            guardrail_metrics: self.guardrail_metrics.clone(),
            method: self.method,
            alpha: self.alpha.unwrap_or(defaults.alpha),
            prior: self.prior,
            cuped: self.cuped.unwrap_or(defaults.cuped),
            pre_period_hours: self.pre_period_hours.unwrap_or(defaults.pre_period_hours),
            correction: self.correction,
        }
    }
}

/// An experiment as stored, with its version.
#[derive(Debug, Clone, Deserialize, JsonSchema, Serialize)]
pub struct ExperimentView {
    #[serde(flatten)]
    pub experiment: Experiment,
    pub version: i64,
}

fn view(stored: Versioned<Experiment>) -> ExperimentView {
    ExperimentView {
        experiment: stored.record,
        version: stored.version,
    }
}

fn who(ctx: &Ctx) -> String {
    format!("token:{}", ctx.caller.token_id)
}

/// Loads one experiment of this environment (404 otherwise).
pub(super) async fn load_experiment(
    ctx: &Ctx,
    (project, env, id): (&str, &str, &str),
) -> ApiResult<Versioned<Experiment>> {
    let what = || format!("experiment {id:?} in {project}/{env}");
    let stored = ctx.load_or_404::<Experiment>(project, id, what).await?;
    if stored.record.environment != env {
        return Err(ApiError::not_found(what()));
    }
    Ok(stored)
}

/// The project's metrics by key.
async fn project_metrics(ctx: &Ctx, project: &str) -> ApiResult<BTreeMap<String, Metric>> {
    Ok(records::list::<Metric>(&ctx.state.store, project)
        .await?
        .into_iter()
        .map(|stored| (stored.key, stored.record))
        .collect())
}

/// What a plan is checked against: the environment's flag and the project's metrics.
pub(super) struct Checked {
    pub data: EnvData,
    pub flag: EnvFlag,
    pub keys: Vec<String>,
    /// The plan's metrics' definitions, in its order (the pre-registered snapshot).
    pub metrics: Vec<Metric>,
}

/// Checks `plan` in `env`: the flag exists and is on, the plan is valid, and its rule serves a
/// single variation (or this experiment's own rollout, `own`).
pub(super) async fn check_plan(
    ctx: &Ctx,
    (project, env): (&str, &str),
    plan: &ExperimentPlan,
    own: Option<&str>,
) -> ApiResult<Checked> {
    let data = EnvData::load(&ctx.state.store, project, env).await?;
    let flag = data.flags.get(&plan.flag).cloned().ok_or_else(|| {
        ApiError::invalid("flag", format!("no flag {:?} in {project}", plan.flag))
    })?;
    let keys: Vec<String> = flag.spec.variations.iter().map(|v| v.key.clone()).collect();
    let all = project_metrics(ctx, project).await?;
    plan.validate(&keys, &all)?;
    if !flag.targeting.on || flag.spec.archived {
        return Err(ApiError::invalid(
            "flag",
            format!("the flag is off in {env}: turn it on first"),
        ));
    }
    let mut targeting = flag.targeting.clone();
    let serve = serve_of(&mut targeting, plan.rule.as_deref())?;
    let running_here = records::experiments::running_experiment(serve);
    if running_here.is_none() || running_here != own {
        startable(serve)?;
    }
    let metrics = plan
        .metric_keys()
        .filter_map(|key| all.get(key).cloned())
        .collect();
    Ok(Checked {
        data,
        flag,
        keys,
        metrics,
    })
}

/// Applies a held start or ship (`change_requests.rs`): its route again, with the stored body.
pub(super) async fn replay(ctx: Ctx, route: Route<'_>, body: &Value) -> ApiResult<Gated<()>> {
    let target = (route.project.to_owned(), route.env.to_owned());
    let path = Path((target.0, target.1, route.target.to_owned()));
    Ok(match route.operation {
        Operation::ShipExperiment => {
            let input = strict_value("request", body)?;
            ship_experiment(ctx, path, Body(input)).await?.map(drop)
        }
        _ => {
            let input = strict_value("request", body)?;
            start_experiment(ctx, path, OptionalBody(input))
                .await?
                .map(drop)
        }
    })
}

pub(super) async fn list_experiments(
    ctx: Ctx,
    Path((project, env)): Path<(String, String)>,
) -> ApiResult<Json<Vec<ExperimentView>>> {
    load_environment(&ctx, &project, &env).await?;
    let mut experiments: Vec<ExperimentView> =
        records::list::<Experiment>(&ctx.state.store, &project)
            .await?
            .into_iter()
            .filter(|stored| {
                stored.record.environment == env
                    && ctx.allows(
                        Action::ExperimentRead,
                        &res::experiment(&project, &env, &stored.key),
                    )
            })
            .map(view)
            .collect();
    experiments.sort_by_key(|e| std::cmp::Reverse(e.experiment.created_ms));
    Ok(Json(experiments))
}

pub(super) async fn get_experiment(
    ctx: Ctx,
    Path((project, env, id)): Path<(String, String, String)>,
) -> ApiResult<Json<ExperimentView>> {
    ctx.authorize(
        Action::ExperimentRead,
        &res::experiment(&project, &env, &id),
    )
    .await?;
    Ok(Json(view(
        load_experiment(&ctx, (&project, &env, &id)).await?,
    )))
}

pub(super) async fn create_experiment(
    ctx: Ctx,
    Path((project, env)): Path<(String, String)>,
    Body(input): Body<ExperimentInput>,
) -> ApiResult<(StatusCode, Json<ExperimentView>)> {
    let id = random_hex(4);
    let resource = res::experiment(&project, &env, &id);
    ctx.authorize(Action::ExperimentCreate, &resource).await?;
    load_environment(&ctx, &project, &env).await?;
    let plan = input.plan();
    check_plan(&ctx, (&project, &env), &plan, None).await?;
    let now = now_ms();
    let mut experiment = Experiment {
        seed: Experiment::seed_of(&id),
        id: id.clone(),
        project: project.clone(),
        environment: env.clone(),
        plan,
        state: ExperimentState::Draft,
        phase: 1,
        started_ms: None,
        stopped_ms: None,
        shipped_variation: None,
        previous: None,
        metrics: Vec::new(),
        history: Vec::new(),
        created_ms: now,
        updated_ms: now,
    };
    experiment.record(now, &who(&ctx), "created", input.comment.clone());
    let change = Change::created(Action::ExperimentCreate, &resource, &experiment)
        .comment(input.comment.as_deref());
    ctx.create_record((&project, &id), &experiment, change)
        .await?;
    let created = ExperimentView {
        experiment,
        version: 1,
    };
    Ok((StatusCode::CREATED, Json(created)))
}

/// The first serving field `after` changes, named as the API spells it.
fn serving_field(before: &ExperimentPlan, after: &ExperimentPlan) -> &'static str {
    if before.flag != after.flag {
        "flag"
    } else if before.rule != after.rule {
        "rule"
    } else if before.variations != after.variations {
        "variations"
    } else if before.weights != after.weights {
        "weights"
    } else {
        "traffic_percent"
    }
}

pub(super) async fn update_experiment(
    ctx: Ctx,
    Path((project, env, id)): Path<(String, String, String)>,
    Body(input): Body<ExperimentInput>,
) -> ApiResult<Json<ExperimentView>> {
    let resource = res::experiment(&project, &env, &id);
    ctx.authorize(Action::ExperimentUpdate, &resource).await?;
    let load = load_experiment(&ctx, (&project, &env, &id));
    let (before, expected) = ctx.load_for_update(input.version, load).await?;
    let mut experiment = before.clone();
    let plan = input.plan();
    let now = now_ms();
    match before.state {
        ExperimentState::Draft => {
            check_plan(&ctx, (&project, &env), &plan, None).await?;
            experiment.record(now, &who(&ctx), "edited", input.comment.clone());
        }
        ExperimentState::Running => {
            if before.plan.serving_differs(&plan) {
                let field = serving_field(&before.plan, &plan);
                return Err(ApiError::new(
                    Code::Conflict,
                    format!(
                        "a running experiment's {field} cannot change: stop it and start a new one"
                    ),
                )
                .field(field));
            }
            let checked = check_plan(&ctx, (&project, &env), &plan, Some(&id)).await?;
            if before.plan.analysis_differs(&plan) {
                // The pre-registered plan changed: its data start again in a new phase.
                experiment.phase += 1;
                experiment.started_ms = Some(now);
                experiment.metrics = checked.metrics;
                let detail = format!(
                    "phase {} started: the pre-registered plan changed, so its data restart{}",
                    experiment.phase,
                    input
                        .comment
                        .as_deref()
                        .map(|c| format!(" ({c})"))
                        .unwrap_or_default()
                );
                experiment.record(now, &who(&ctx), "new_phase", Some(detail));
            } else {
                experiment.record(now, &who(&ctx), "edited", input.comment.clone());
            }
        }
        ExperimentState::Stopped | ExperimentState::Shipped => {
            return Err(ApiError::new(
                Code::Conflict,
                "a stopped or shipped experiment cannot change; create a new one",
            )
            .field("state"));
        }
    }
    experiment.plan = plan;
    let detail = experiment.history.last().and_then(|h| h.detail.clone());
    let change = Change::updated(Action::ExperimentUpdate, &resource, &before, &experiment)
        .comment(detail.as_deref());
    let version = ctx
        .write_record((&project, &id), &experiment, expected, change)
        .await?;
    Ok(Json(ExperimentView {
        experiment,
        version,
    }))
}
