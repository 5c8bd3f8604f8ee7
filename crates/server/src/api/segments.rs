//! Segments: reusable audiences, per environment.

use axum::Json;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use switchyard_engine::model::Segment;
use switchyard_store::Expected;

use super::change_requests::{Gated, Proposal, commit_gated};
use super::ctx::{Body, Change, CommentQuery, Ctx, Deleted, already_exists, check_key, still_used};
use super::projects::load_environment;
use super::query::{PageQuery, page};
use crate::access::resources as res;
use crate::access::{Action, random_hex};
use crate::error::{ApiError, ApiResult};
use crate::records::{EnvData, Operation, Versioned, encode, env_scope, no_new_problems};

#[derive(Debug, Deserialize, JsonSchema, Serialize)]
pub struct SegmentInput {
    #[serde(flatten)]
    pub segment: Segment,
    #[serde(default)]
    pub version: Option<i64>,
    #[serde(default)]
    pub comment: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema, Deserialize)]
pub struct SegmentView {
    pub environment: String,
    #[serde(flatten)]
    pub segment: Segment,
}

/// How a 404 names a segment.
fn what(segment: &str) -> String {
    format!("segment {segment:?}")
}

fn view(env: &str, segment: Segment, version: i64) -> SegmentView {
    SegmentView {
        environment: env.to_owned(),
        segment: Segment {
            version: version as u64,
            ..segment
        },
    }
}

/// Every readable segment in key order, or with `limit`/`cursor` one page of them
/// (`docs/api.md`, "Paging").
pub(super) async fn list_segments(
    ctx: Ctx,
    Path((project, env)): Path<(String, String)>,
    super::query::Query(paging): super::query::Query<PageQuery>,
) -> ApiResult<(HeaderMap, Json<Vec<SegmentView>>)> {
    let paging = paging.paging()?;
    let data = EnvData::load(&ctx.state.store, &project, &env).await?;
    let readable: Vec<_> = data
        .segments
        .into_iter()
        .filter(|(key, _)| ctx.allows(Action::SegmentRead, &res::segment(&project, &env, key)))
        .collect();
    let (headers, answered) = match &paging {
        Some(paging) => page(readable, paging, |(key, _)| key.as_str()),
        None => (HeaderMap::new(), readable),
    };
    let views = answered
        .into_iter()
        .map(|(_, stored)| view(&env, stored.record, stored.version));
    Ok((headers, Json(views.collect())))
}

pub(super) async fn get_segment(
    ctx: Ctx,
    Path((project, env, segment)): Path<(String, String, String)>,
) -> ApiResult<Json<SegmentView>> {
    ctx.authorize(Action::SegmentRead, &res::segment(&project, &env, &segment))
        .await?;
    let scope = env_scope(&project, &env);
    let stored = ctx
        .load_or_404::<Segment>(&scope, &segment, || what(&segment))
        .await?;
    Ok(Json(view(&env, stored.record, stored.version)))
}

pub(super) async fn create_segment(
    ctx: Ctx,
    Path((project, env)): Path<(String, String)>,
    Body(input): Body<SegmentInput>,
) -> ApiResult<Gated<(StatusCode, Json<SegmentView>)>> {
    let mut segment = input.segment;
    check_key("key", &segment.key)?;
    let resource = res::segment(&project, &env, &segment.key);
    ctx.authorize(Action::SegmentCreate, &resource).await?;
    load_environment(&ctx, &project, &env).await?;
    if segment.salt.is_empty() {
        segment.salt = random_hex(4);
    }
    // With its salt, so a change request applies the very segment it showed.
    let request = encode(&SegmentInput {
        segment: segment.clone(),
        version: input.version,
        comment: input.comment.clone(),
    });
    let data = EnvData::load(&ctx.state.store, &project, &env).await?;
    let edit = SegmentEdit {
        project: &project,
        env: &env,
        data,
        before: None,
        expected: Expected::Absent,
    };
    let audit = (Action::SegmentCreate, input.comment.as_deref());
    let operation = (Operation::CreateSegment, request);
    let committed = write_segment(&ctx, edit, segment.clone(), audit, operation)
        .await
        .map_err(already_exists)?;
    Ok(committed.map(|version| (StatusCode::CREATED, Json(view(&env, segment, version)))))
}

pub(super) async fn update_segment(
    ctx: Ctx,
    Path((project, env, key)): Path<(String, String, String)>,
    Body(input): Body<SegmentInput>,
) -> ApiResult<Gated<Json<SegmentView>>> {
    let resource = res::segment(&project, &env, &key);
    ctx.authorize(Action::SegmentUpdate, &resource).await?;
    let request = (Operation::UpdateSegment, encode(&input));
    let precondition = ctx.expected_version(input.version)?;
    let data = EnvData::load(&ctx.state.store, &project, &env).await?;
    let before = data
        .segments
        .get(&key)
        .cloned()
        .ok_or_else(|| ApiError::not_found(what(&key)))?;
    let expected = precondition.check(before.version)?;
    let before = before.record;
    let mut segment = input.segment;
    if segment.key != key {
        return Err(ApiError::invalid("key", "a segment's key cannot change"));
    }
    segment.salt = before.salt.clone();
    let edit = SegmentEdit {
        project: &project,
        env: &env,
        data,
        before: Some(before),
        expected,
    };
    let audit = (Action::SegmentUpdate, input.comment.as_deref());
    let committed = write_segment(&ctx, edit, segment.clone(), audit, request).await?;
    Ok(committed.map(|version| Json(view(&env, segment, version))))
}

/// A segment about to be written, with the environment it is validated in.
struct SegmentEdit<'a> {
    project: &'a str,
    env: &'a str,
    data: EnvData,
    /// The segment as stored (`None` when it is new).
    before: Option<Segment>,
    expected: Expected,
}

/// Validates and writes `segment`, audited as `action` with `comment`; returns its version (or
/// the change request `request`, the route's body, became where approvals are required).
async fn write_segment(
    ctx: &Ctx,
    edit: SegmentEdit<'_>,
    segment: Segment,
    (action, comment): (Action, Option<&str>),
    (operation, request): (Operation, serde_json::Value),
) -> ApiResult<Gated<i64>> {
    let SegmentEdit {
        project,
        env,
        mut data,
        before,
        expected,
    } = edit;
    let old = data.dataset();
    let validated = Versioned {
        key: segment.key.clone(),
        version: 1,
        record: segment.clone(),
    };
    data.segments.insert(segment.key.clone(), validated);
    no_new_problems(&old, &data.dataset())?;
    let resource = res::segment(project, env, &segment.key);
    let stored = Segment {
        version: 0,
        ..segment.clone()
    };
    let change = match &before {
        Some(before) => Change::updated(action, &resource, before, &stored),
        None => Change::created(action, &resource, &stored),
    }
    .comment(comment);
    let scope = env_scope(project, env);
    let proposal = Proposal {
        project,
        env,
        operation,
        target: &segment.key,
        request,
    };
    ctx.write_gated(proposal, (&scope, &segment.key), &stored, expected, change)
        .await
}

pub(super) async fn delete_segment(
    ctx: Ctx,
    Path((project, env, key)): Path<(String, String, String)>,
    Query(query): Query<CommentQuery>,
) -> ApiResult<Gated<Json<Deleted>>> {
    let resource = res::segment(&project, &env, &key);
    ctx.authorize(Action::SegmentDelete, &resource).await?;
    let mut data = EnvData::load(&ctx.state.store, &project, &env).await?;
    let old = data.dataset();
    let before = data
        .segments
        .remove(&key)
        .ok_or_else(|| ApiError::not_found(what(&key)))?;
    no_new_problems(&old, &data.dataset()).map_err(still_used(
        "flags or segments still use this segment".into(),
    ))?;
    let change = Change::deleted(Action::SegmentDelete, &resource, &before.record)
        .comment(query.comment.as_deref());
    let scope = env_scope(&project, &env);
    let write = crate::records::delete::<Segment>(&scope, &key, Expected::Version(before.version));
    let proposal = Proposal {
        project: &project,
        env: &env,
        operation: Operation::DeleteSegment,
        target: &key,
        request: serde_json::json!({ "comment": query.comment }),
    };
    let gated = commit_gated(&ctx, proposal, vec![write], change).await?;
    Ok(gated.map(|_| Json(Deleted { deleted: resource })))
}
