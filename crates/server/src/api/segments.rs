//! Segments: reusable audiences, per environment.

use axum::Json;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use switchyard_engine::model::Segment;
use switchyard_store::{Expected, Write};

use super::projects::{CommentQuery, already_exists, load_environment};
use super::{Body, Change, Ctx, Deleted, check_key, parse_doc, to_json};
use crate::auth::random_hex;
use crate::error::{ApiError, ApiResult, Code};
use crate::resources::{self as res, env_scope};
use crate::validate::{EnvData, no_new_problems};

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

fn view(env: &str, segment: Segment, version: i64) -> SegmentView {
    SegmentView {
        environment: env.to_owned(),
        segment: Segment {
            version: version as u64,
            ..segment
        },
    }
}

pub async fn list_segments(
    ctx: Ctx,
    Path((project, env)): Path<(String, String)>,
) -> ApiResult<Json<Vec<SegmentView>>> {
    let data = EnvData::load(&ctx.state.store, &project, &env).await?;
    let readable = data
        .segments
        .into_iter()
        .filter(|(key, _)| ctx.allows("segment:read", &res::segment(&project, &env, key)));
    Ok(Json(readable.map(|(_, (s, v))| view(&env, s, v)).collect()))
}

pub async fn get_segment(
    ctx: Ctx,
    Path((project, env, segment)): Path<(String, String, String)>,
) -> ApiResult<Json<SegmentView>> {
    ctx.authorize("segment:read", &res::segment(&project, &env, &segment))
        .await?;
    let doc = ctx
        .state
        .store
        .get("segment", &env_scope(&project, &env), &segment)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("segment {segment:?}")))?;
    Ok(Json(view(&env, parse_doc(&doc)?, doc.version)))
}

pub async fn create_segment(
    ctx: Ctx,
    Path((project, env)): Path<(String, String)>,
    Body(input): Body<SegmentInput>,
) -> ApiResult<(StatusCode, Json<SegmentView>)> {
    let mut segment = input.segment;
    check_key("key", &segment.key)?;
    let resource = res::segment(&project, &env, &segment.key);
    ctx.authorize("segment:create", &resource).await?;
    load_environment(&ctx, &project, &env).await?;
    if segment.salt.is_empty() {
        segment.salt = random_hex(4);
    }
    let data = EnvData::load(&ctx.state.store, &project, &env).await?;
    let committed = write_segment(
        &ctx,
        &project,
        &env,
        data,
        segment.clone(),
        None,
        Expected::Absent,
        input.comment.as_deref(),
        "segment:create",
    )
    .await
    .map_err(already_exists)?;
    Ok((StatusCode::CREATED, Json(view(&env, segment, committed))))
}

pub async fn update_segment(
    ctx: Ctx,
    Path((project, env, key)): Path<(String, String, String)>,
    Body(input): Body<SegmentInput>,
) -> ApiResult<Json<SegmentView>> {
    let resource = res::segment(&project, &env, &key);
    ctx.authorize("segment:update", &resource).await?;
    let precondition = ctx.expected_version(input.version)?;
    let data = EnvData::load(&ctx.state.store, &project, &env).await?;
    let (before, version) = data
        .segments
        .get(&key)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("segment {key:?}")))?;
    let expected = precondition.check(version)?;
    let mut segment = input.segment;
    if segment.key != key {
        return Err(ApiError::invalid("key", "a segment's key cannot change"));
    }
    segment.salt = before.salt.clone();
    let committed = write_segment(
        &ctx,
        &project,
        &env,
        data,
        segment.clone(),
        Some(before),
        expected,
        input.comment.as_deref(),
        "segment:update",
    )
    .await?;
    Ok(Json(view(&env, segment, committed)))
}

#[allow(clippy::too_many_arguments)]
async fn write_segment(
    ctx: &Ctx,
    project: &str,
    env: &str,
    mut data: EnvData,
    segment: Segment,
    before: Option<Segment>,
    expected: Expected,
    comment: Option<&str>,
    action: &str,
) -> ApiResult<i64> {
    let old = data.dataset();
    data.segments
        .insert(segment.key.clone(), (segment.clone(), 1));
    no_new_problems(&old, &data.dataset())?;
    let resource = res::segment(project, env, &segment.key);
    let stored = Segment {
        version: 0,
        ..segment.clone()
    };
    let write = Write::Put {
        kind: "segment".into(),
        scope: env_scope(project, env),
        key: segment.key.clone(),
        body: to_json(&stored),
        expected,
    };
    let change = Change {
        action,
        resource: &resource,
        before: before.as_ref().map(to_json),
        after: Some(to_json(&stored)),
        comment,
    };
    Ok(ctx.commit(&[write], change).await?.versions[0])
}

pub async fn delete_segment(
    ctx: Ctx,
    Path((project, env, key)): Path<(String, String, String)>,
    Query(query): Query<CommentQuery>,
) -> ApiResult<Json<Deleted>> {
    let resource = res::segment(&project, &env, &key);
    ctx.authorize("segment:delete", &resource).await?;
    let mut data = EnvData::load(&ctx.state.store, &project, &env).await?;
    let old = data.dataset();
    let (before, version) = data
        .segments
        .remove(&key)
        .ok_or_else(|| ApiError::not_found(format!("segment {key:?}")))?;
    no_new_problems(&old, &data.dataset()).map_err(|e| ApiError {
        code: Code::Conflict,
        message: format!("flags or segments still use this segment: {}", e.message),
        ..e
    })?;
    let write = Write::Delete {
        kind: "segment".into(),
        scope: env_scope(&project, &env),
        key,
        expected: Expected::Version(version),
    };
    let change = Change {
        action: "segment:delete",
        resource: &resource,
        before: Some(to_json(&before)),
        after: None,
        comment: query.comment.as_deref(),
    };
    ctx.commit(&[write], change).await?;
    Ok(Json(Deleted { deleted: resource }))
}
