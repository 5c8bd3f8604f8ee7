//! Metrics (`docs/experiments.md`, "Running an experiment"): defined once per project, named by
//! experiments. Versioned like flags; one a running experiment uses cannot be deleted.

use axum::Json;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use switchyard_store::Expected;

use super::ctx::{Body, Change, CommentQuery, Ctx, Deleted, check_key};
use super::projects::load_project;
use crate::access::Action;
use crate::access::resources as res;
use crate::error::{ApiError, ApiResult, Code};
use crate::records::experiments::{DEFAULT_WINDOW_HOURS, Direction, MetricKind};
use crate::records::{self, Experiment, ExperimentState, Metric, Versioned};

/// A metric to create or replace: a [`Metric`]'s fields (not flattened, so a refusal names
/// the field), the version an update replaces and a comment.
#[derive(Debug, Clone, Deserialize, JsonSchema, Serialize)]
pub struct MetricInput {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The `track` event name it reads.
    pub event: String,
    pub kind: MetricKind,
    /// Ratio metrics only (required there): the event whose values are the denominator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denominator_event: Option<String>,
    pub direction: Direction,
    /// The relative minimum detectable effect (0.02 = 2 %), above 0.
    pub mde: f64,
    /// The analysis window after a unit's first exposure, in hours (default 72, 1..=2160).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_hours: Option<u32>,
    /// The version an update replaces (or `If-Match`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

impl MetricInput {
    fn metric(&self) -> Metric {
        Metric {
            key: self.key.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            event: self.event.clone(),
            kind: self.kind,
            denominator_event: self.denominator_event.clone(),
            direction: self.direction,
            mde: self.mde,
            window_hours: self.window_hours.unwrap_or(DEFAULT_WINDOW_HOURS),
        }
    }
}

/// A metric as stored, with its version.
#[derive(Debug, Clone, Deserialize, JsonSchema, Serialize)]
pub struct MetricView {
    #[serde(flatten)]
    pub metric: Metric,
    pub version: i64,
}

fn view(stored: Versioned<Metric>) -> MetricView {
    MetricView {
        metric: stored.record,
        version: stored.version,
    }
}

fn what(project: &str, metric: &str) -> String {
    format!("metric {metric:?} in project {project:?}")
}

pub(super) async fn list_metrics(
    ctx: Ctx,
    Path(project): Path<String>,
) -> ApiResult<Json<Vec<MetricView>>> {
    load_project(&ctx, &project).await?;
    let stored = ctx
        .list_allowed::<Metric>(&project, Action::MetricRead, |key| {
            res::metric(&project, key)
        })
        .await?;
    Ok(Json(stored.into_iter().map(view).collect()))
}

pub(super) async fn get_metric(
    ctx: Ctx,
    Path((project, key)): Path<(String, String)>,
) -> ApiResult<Json<MetricView>> {
    ctx.authorize(Action::MetricRead, &res::metric(&project, &key))
        .await?;
    let stored = ctx
        .load_or_404::<Metric>(&project, &key, || what(&project, &key))
        .await?;
    Ok(Json(view(stored)))
}

pub(super) async fn create_metric(
    ctx: Ctx,
    Path(project): Path<String>,
    Body(input): Body<MetricInput>,
) -> ApiResult<(StatusCode, Json<MetricView>)> {
    let metric = input.metric();
    check_key("key", &metric.key)?;
    let resource = res::metric(&project, &metric.key);
    ctx.authorize(Action::MetricCreate, &resource).await?;
    load_project(&ctx, &project).await?;
    metric.validate()?;
    let change =
        Change::created(Action::MetricCreate, &resource, &metric).comment(input.comment.as_deref());
    ctx.create_record((&project, &metric.key), &metric, change)
        .await?;
    Ok((StatusCode::CREATED, Json(MetricView { metric, version: 1 })))
}

pub(super) async fn update_metric(
    ctx: Ctx,
    Path((project, key)): Path<(String, String)>,
    Body(input): Body<MetricInput>,
) -> ApiResult<Json<MetricView>> {
    let resource = res::metric(&project, &key);
    ctx.authorize(Action::MetricUpdate, &resource).await?;
    let load = ctx.load_or_404::<Metric>(&project, &key, || what(&project, &key));
    let (before, expected) = ctx.load_for_update(input.version, load).await?;
    let metric = input.metric();
    if metric.key != key {
        return Err(ApiError::invalid("key", "a metric's key cannot change"));
    }
    metric.validate()?;
    // A running experiment analyses the definitions copied in when it started: a change here
    // applies to experiments started (or restarted) after it.
    let change = Change::updated(Action::MetricUpdate, &resource, &before, &metric)
        .comment(input.comment.as_deref());
    let version = ctx
        .write_record((&project, &key), &metric, expected, change)
        .await?;
    Ok(Json(MetricView { metric, version }))
}

pub(super) async fn delete_metric(
    ctx: Ctx,
    Path((project, key)): Path<(String, String)>,
    Query(query): Query<CommentQuery>,
) -> ApiResult<Json<Deleted>> {
    let resource = res::metric(&project, &key);
    ctx.authorize(Action::MetricDelete, &resource).await?;
    let stored = ctx
        .load_or_404::<Metric>(&project, &key, || what(&project, &key))
        .await?;
    let experiments = records::list::<Experiment>(&ctx.state.store, &project).await?;
    if let Some(using) = experiments.iter().find(|e| {
        e.record.state == ExperimentState::Running && e.record.plan.metric_keys().any(|m| *m == key)
    }) {
        return Err(ApiError::new(
            Code::Conflict,
            format!(
                "running experiment {} ({:?}) uses this metric: stop it first",
                using.record.id, using.record.plan.name
            ),
        )
        .field("key"));
    }
    let change = Change::deleted(Action::MetricDelete, &resource, &stored.record)
        .comment(query.comment.as_deref());
    let write = records::delete::<Metric>(&project, &key, Expected::Version(stored.version));
    ctx.commit_deletion(&[write], change).await
}
