//! What happened after a flag was served: its evaluations over time, the contexts exposed to
//! it, and per-cohort metric statistics (fed by `POST /events/v1/bulk`, see `crate::events`).

use axum::Json;
use axum::extract::Path;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use switchyard_store::events::FlagRange;

use super::ctx::Ctx;
use super::projects::load_environment;
use super::query::Query;
use crate::access::Action;
use crate::access::resources as res;
use crate::clock::now_ms;
use crate::error::{ApiError, ApiResult};

/// The time range of a query, in Unix milliseconds: `from <= t < to`. Defaults: the last 24
/// hours.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct RangeQuery {
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// Exposures only: one variation's contexts.
    pub variation: Option<String>,
    /// Exposures only: at most this many (default 100, at most 10,000).
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, JsonSchema, Deserialize)]
pub struct EvaluationPoint {
    pub minute_ms: i64,
    pub version: i64,
    /// `null`: the caller's default was served.
    pub variation: Option<String>,
    pub reason: String,
    pub count: i64,
}

#[derive(Debug, Serialize, JsonSchema, Deserialize)]
pub struct ExposedContextView {
    pub kind: String,
    pub key: String,
    pub variation: String,
    pub version: i64,
    pub reason: String,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
}

/// One metric over one cohort: the contexts last exposed to `variation` when the event happened.
#[derive(Debug, Serialize, JsonSchema, Deserialize)]
pub struct CohortStatistics {
    pub metric: String,
    pub variation: String,
    pub count: i64,
    pub sum: f64,
    pub sum_of_squares: f64,
    pub mean: Option<f64>,
    /// The sample standard deviation (`null` below two events).
    pub std_dev: Option<f64>,
}

const DAY_MS: i64 = 86_400_000;

/// Authorizes reading the flag in the environment and resolves the range.
async fn flag_range<'a>(
    ctx: &Ctx,
    (project, env, flag): &'a (String, String, String),
    query: &RangeQuery,
) -> ApiResult<FlagRange<'a>> {
    ctx.authorize(Action::FlagRead, &res::env_flag(project, env, flag))
        .await?;
    load_environment(ctx, project, env).await?;
    let to_ms = query.to.unwrap_or_else(|| now_ms() + 60_000);
    let from_ms = query.from.unwrap_or(to_ms - DAY_MS);
    if from_ms > to_ms {
        return Err(ApiError::invalid("from", "`from` is after `to`"));
    }
    Ok(FlagRange {
        project,
        env,
        flag,
        from_ms,
        to_ms,
    })
}

pub(super) async fn flag_evaluations(
    ctx: Ctx,
    Path(path): Path<(String, String, String)>,
    Query(query): Query<RangeQuery>,
) -> ApiResult<Json<Vec<EvaluationPoint>>> {
    let range = flag_range(&ctx, &path, &query).await?;
    let series = ctx.state.store.evaluation_series(range).await?;
    Ok(Json(
        series
            .into_iter()
            .map(|b| EvaluationPoint {
                minute_ms: b.minute_ms,
                version: b.version,
                variation: Some(b.variation).filter(|v| !v.is_empty()),
                reason: b.reason,
                count: b.count,
            })
            .collect(),
    ))
}

pub(super) async fn flag_exposures(
    ctx: Ctx,
    Path(path): Path<(String, String, String)>,
    Query(query): Query<RangeQuery>,
) -> ApiResult<Json<Vec<ExposedContextView>>> {
    let range = flag_range(&ctx, &path, &query).await?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=10_000).contains(&limit) {
        return Err(ApiError::invalid("limit", "between 1 and 10000"));
    }
    let contexts = ctx
        .state
        .store
        .exposed_contexts(range, query.variation.as_deref(), limit)
        .await?;
    Ok(Json(
        contexts
            .into_iter()
            .map(|c| ExposedContextView {
                kind: c.kind,
                key: c.key,
                variation: c.variation,
                version: c.version,
                reason: c.reason,
                first_seen_ms: c.first_seen_ms,
                last_seen_ms: c.last_seen_ms,
            })
            .collect(),
    ))
}

pub(super) async fn flag_metrics(
    ctx: Ctx,
    Path(path): Path<(String, String, String)>,
    Query(query): Query<RangeQuery>,
) -> ApiResult<Json<Vec<CohortStatistics>>> {
    let range = flag_range(&ctx, &path, &query).await?;
    let cohorts = ctx.state.store.metric_cohorts(range).await?;
    Ok(Json(
        cohorts
            .into_iter()
            .map(|c| {
                let n = c.count as f64;
                let mean = (c.count > 0).then(|| c.sum / n);
                let std_dev = (c.count > 1).then(|| {
                    ((c.sum_of_squares - c.sum * c.sum / n) / (n - 1.0))
                        .max(0.0)
                        .sqrt()
                });
                CohortStatistics {
                    metric: c.metric,
                    variation: c.variation,
                    count: c.count,
                    sum: c.sum,
                    sum_of_squares: c.sum_of_squares,
                    mean,
                    std_dev,
                }
            })
            .collect(),
    ))
}
