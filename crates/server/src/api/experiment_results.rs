//! `GET …/experiments/{id}/results` (`docs/experiments.md`, "Reading the results"): the current
//! phase's totals from the store, analysed as pre-registered
//! ([`crate::releases::experiment_analysis`]).

use axum::Json;
use axum::extract::Path;
use schemars::JsonSchema;
use serde::Serialize;

use super::ctx::Ctx;
use crate::access::Action;
use crate::access::resources as res;
use crate::clock::now_ms;
use crate::error::{ApiError, ApiResult};
use crate::records::experiments::{Experiment, ExperimentState, Method};
use crate::releases::experiment_analysis::{Results, analyze, observed, plan_of};

/// An experiment's results for its current phase.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ExperimentResults {
    pub experiment: String,
    pub name: String,
    pub flag: String,
    pub state: ExperimentState,
    /// Results cover this phase only (a change of the plan while running starts a new one).
    pub phase: u32,
    pub started_ms: Option<i64>,
    pub stopped_ms: Option<i64>,
    pub method: Method,
    pub alpha: f64,
    pub cuped: bool,
    pub control: String,
    #[serde(flatten)]
    pub results: Results,
}

pub(super) async fn experiment_results(
    ctx: Ctx,
    Path((project, env, id)): Path<(String, String, String)>,
) -> ApiResult<Json<ExperimentResults>> {
    ctx.authorize(
        Action::ExperimentRead,
        &res::experiment(&project, &env, &id),
    )
    .await?;
    let what = || format!("experiment {id:?} in {project}/{env}");
    let stored = ctx.load_or_404::<Experiment>(&project, &id, what).await?;
    if stored.record.environment != env {
        return Err(ApiError::not_found(what()));
    }
    let experiment = stored.record;
    let store = &ctx.state.store;
    let phase = i64::from(experiment.phase);
    let totals = store.experiment_totals(&project, &env, &id, phase).await?;
    let daily = store.experiment_daily(&project, &env, &id, phase).await?;
    let results = analyze(
        &plan_of(&experiment),
        &observed(&experiment, &totals, &daily, now_ms()),
    );
    let plan = experiment.plan;
    Ok(Json(ExperimentResults {
        experiment: experiment.id,
        name: plan.name,
        flag: plan.flag,
        state: experiment.state,
        phase: experiment.phase,
        started_ms: experiment.started_ms,
        stopped_ms: experiment.stopped_ms,
        method: plan.method,
        alpha: plan.alpha,
        cuped: plan.cuped,
        control: plan.control,
        results,
    }))
}
