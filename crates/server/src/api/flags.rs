//! Flags: project-level definitions and per-environment targeting, with the one-call toggle.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use switchyard_engine::model::{FlagKind, Targeting, Variation};
use switchyard_store::{Expected, Write};

use super::projects::{CommentQuery, already_exists, load_environment, load_project};
use super::{Body, Change, Ctx, Deleted, check_key, expect_version, parse_doc, to_json};
use crate::auth::random_hex;
use crate::error::{ApiError, ApiResult, Code};
use crate::resources::{self as res, env_scope};
use crate::validate::{EnvData, FlagSpec, no_new_problems};

#[derive(Debug, Deserialize, JsonSchema, Serialize)]
pub struct FlagInput {
    #[serde(flatten)]
    pub spec: FlagSpec,
    /// The version being replaced (or send `If-Match`); updates only.
    #[serde(default)]
    pub version: Option<i64>,
    #[serde(default)]
    pub comment: Option<String>,
}

/// A flag's targeting in one environment; `version` 0 means it was never edited (defaults).
#[derive(Debug, Clone, Serialize, JsonSchema, Deserialize)]
pub struct EnvTargeting {
    #[serde(flatten)]
    pub targeting: Targeting,
    pub version: i64,
}

#[derive(Debug, Serialize, JsonSchema, Deserialize)]
pub struct FlagView {
    #[serde(flatten)]
    pub spec: FlagSpec,
    pub version: i64,
    /// Only the environments the caller may read.
    pub environments: BTreeMap<String, EnvTargeting>,
}

#[derive(Debug, Serialize, JsonSchema, Deserialize)]
pub struct TargetingView {
    pub flag: String,
    pub environment: String,
    pub kind: FlagKind,
    pub variations: Vec<Variation>,
    #[serde(flatten)]
    pub targeting: EnvTargeting,
}

#[derive(Debug, Deserialize, JsonSchema, Serialize)]
pub struct TargetingInput {
    #[serde(flatten)]
    pub targeting: Targeting,
    #[serde(default)]
    pub version: Option<i64>,
    #[serde(default)]
    pub comment: Option<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema, Serialize)]
pub struct ToggleInput {
    /// The state to set; absent flips the current one.
    #[serde(default)]
    pub on: Option<bool>,
    #[serde(default)]
    pub comment: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct FlagFilter {
    /// Matches key, name or description (case-insensitive).
    pub q: Option<String>,
    pub tag: Option<String>,
    pub kind: Option<FlagKind>,
    pub archived: Option<bool>,
}

async fn environments(ctx: &Ctx, project: &str) -> ApiResult<Vec<String>> {
    Ok(ctx
        .state
        .store
        .list("environment", project)
        .await?
        .into_iter()
        .map(|d| d.key)
        .collect())
}

/// The flag with its targeting in each of `environments` the caller may read.
async fn flag_view(
    ctx: &Ctx,
    project: &str,
    environments: &[String],
    spec: FlagSpec,
    version: i64,
) -> ApiResult<FlagView> {
    let mut readable = BTreeMap::new();
    for env in environments {
        if ctx.allows("flag:read", &res::env_flag(project, env, &spec.key)) {
            readable.insert(env.clone(), load_targeting(ctx, project, env, &spec).await?);
        }
    }
    Ok(FlagView {
        spec,
        version,
        environments: readable,
    })
}

async fn load_targeting(
    ctx: &Ctx,
    project: &str,
    env: &str,
    spec: &FlagSpec,
) -> ApiResult<EnvTargeting> {
    Ok(
        match ctx
            .state
            .store
            .get("targeting", &env_scope(project, env), &spec.key)
            .await?
        {
            Some(doc) => EnvTargeting {
                targeting: parse_doc(&doc)?,
                version: doc.version,
            },
            None => EnvTargeting {
                targeting: spec.default_targeting(),
                version: 0,
            },
        },
    )
}

async fn load_spec(ctx: &Ctx, project: &str, flag: &str) -> ApiResult<(FlagSpec, i64)> {
    let doc = ctx
        .state
        .store
        .get("flag", project, flag)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("flag {flag:?} in project {project:?}")))?;
    Ok((parse_doc(&doc)?, doc.version))
}

pub async fn list_flags(
    ctx: Ctx,
    Path(project): Path<String>,
    Query(filter): Query<FlagFilter>,
) -> ApiResult<Json<Vec<FlagView>>> {
    let needle = filter.q.as_deref().map(str::to_lowercase);
    let environments = environments(&ctx, &project).await?;
    let mut flags = Vec::new();
    for doc in ctx.state.store.list("flag", &project).await? {
        if !ctx.allows("flag:read", &res::flag(&project, &doc.key)) {
            continue;
        }
        let spec: FlagSpec = parse_doc(&doc)?;
        let text = [
            Some(&spec.key),
            spec.name.as_ref(),
            spec.description.as_ref(),
        ];
        let matches = needle
            .as_deref()
            .is_none_or(|n| text.iter().flatten().any(|t| t.to_lowercase().contains(n)))
            && filter.tag.as_ref().is_none_or(|t| spec.tags.contains(t))
            && filter.kind.is_none_or(|k| k == spec.kind)
            && filter.archived.unwrap_or(false) == spec.archived;
        if matches {
            flags.push(flag_view(&ctx, &project, &environments, spec, doc.version).await?);
        }
    }
    Ok(Json(flags))
}

pub async fn create_flag(
    ctx: Ctx,
    Path(project): Path<String>,
    Body(input): Body<FlagInput>,
) -> ApiResult<(StatusCode, Json<FlagView>)> {
    let mut spec = input.spec;
    check_key("key", &spec.key)?;
    let resource = res::flag(&project, &spec.key);
    ctx.authorize("flag:create", &resource).await?;
    load_project(&ctx, &project).await?;
    spec.normalize_and_check()?;
    spec.salt = random_hex(4);
    let environments = environments(&ctx, &project).await?;
    for env in &environments {
        let mut data = EnvData::load(&ctx.state.store, &project, env).await?;
        let before = data.dataset();
        data.flags.insert(
            spec.key.clone(),
            (spec.clone(), 1, spec.default_targeting(), 0),
        );
        no_new_problems(&before, &data.dataset())?;
    }
    let write = Write::Put {
        kind: "flag".into(),
        scope: project.clone(),
        key: spec.key.clone(),
        body: to_json(&spec),
        expected: Expected::Absent,
    };
    let change = Change {
        action: "flag:create",
        resource: &resource,
        before: None,
        after: Some(to_json(&spec)),
        comment: input.comment.as_deref(),
    };
    ctx.commit(&[write], change).await.map_err(already_exists)?;
    Ok((
        StatusCode::CREATED,
        Json(flag_view(&ctx, &project, &environments, spec, 1).await?),
    ))
}

pub async fn get_flag(
    ctx: Ctx,
    Path((project, flag)): Path<(String, String)>,
) -> ApiResult<Json<FlagView>> {
    ctx.authorize("flag:read", &res::flag(&project, &flag))
        .await?;
    let (spec, version) = load_spec(&ctx, &project, &flag).await?;
    let environments = environments(&ctx, &project).await?;
    Ok(Json(
        flag_view(&ctx, &project, &environments, spec, version).await?,
    ))
}

pub async fn update_flag(
    ctx: Ctx,
    Path((project, flag)): Path<(String, String)>,
    Body(input): Body<FlagInput>,
) -> ApiResult<Json<FlagView>> {
    let resource = res::flag(&project, &flag);
    ctx.authorize("flag:update", &resource).await?;
    let precondition = ctx.expected_version(input.version)?;
    let (before, version) = load_spec(&ctx, &project, &flag).await?;
    let expected = precondition.check(version)?;
    let mut spec = input.spec;
    if spec.key != flag {
        return Err(ApiError::invalid("key", "a flag's key cannot change"));
    }
    spec.salt = before.salt.clone();
    spec.dialect = before.dialect;
    spec.normalize_and_check()?;
    let environments = environments(&ctx, &project).await?;
    for env in &environments {
        let mut data = EnvData::load(&ctx.state.store, &project, env).await?;
        let old = data.dataset();
        if let Some(entry) = data.flags.get_mut(&flag) {
            entry.0 = spec.clone();
        }
        no_new_problems(&old, &data.dataset())?;
    }
    let write = Write::Put {
        kind: "flag".into(),
        scope: project.clone(),
        key: flag,
        body: to_json(&spec),
        expected,
    };
    let change = Change {
        action: "flag:update",
        resource: &resource,
        before: Some(to_json(&before)),
        after: Some(to_json(&spec)),
        comment: input.comment.as_deref(),
    };
    let committed = ctx.commit(&[write], change).await?;
    Ok(Json(
        flag_view(&ctx, &project, &environments, spec, committed.versions[0]).await?,
    ))
}

pub async fn delete_flag(
    ctx: Ctx,
    Path((project, flag)): Path<(String, String)>,
    Query(query): Query<CommentQuery>,
) -> ApiResult<Json<Deleted>> {
    let resource = res::flag(&project, &flag);
    ctx.authorize("flag:delete", &resource).await?;
    let (spec, version) = load_spec(&ctx, &project, &flag).await?;
    let mut writes = vec![Write::Delete {
        kind: "flag".into(),
        scope: project.clone(),
        key: flag.clone(),
        expected: Expected::Version(version),
    }];
    for env in environments(&ctx, &project).await? {
        let mut data = EnvData::load(&ctx.state.store, &project, &env).await?;
        let old = data.dataset();
        if let Some((_, _, _, targeting_version)) = data.flags.remove(&flag)
            && targeting_version > 0
        {
            writes.push(Write::Delete {
                kind: "targeting".into(),
                scope: env_scope(&project, &env),
                key: flag.clone(),
                expected: Expected::Version(targeting_version),
            });
        }
        no_new_problems(&old, &data.dataset()).map_err(|e| ApiError {
            code: Code::Conflict,
            message: format!("other flags in {env} depend on this one: {}", e.message),
            ..e
        })?;
    }
    let change = Change {
        action: "flag:delete",
        resource: &resource,
        before: Some(to_json(&spec)),
        after: None,
        comment: query.comment.as_deref(),
    };
    ctx.commit(&writes, change).await?;
    Ok(Json(Deleted { deleted: resource }))
}

pub async fn get_targeting(
    ctx: Ctx,
    Path((project, env, flag)): Path<(String, String, String)>,
) -> ApiResult<Json<TargetingView>> {
    ctx.authorize("flag:read", &res::env_flag(&project, &env, &flag))
        .await?;
    load_environment(&ctx, &project, &env).await?;
    let (spec, _) = load_spec(&ctx, &project, &flag).await?;
    let targeting = load_targeting(&ctx, &project, &env, &spec).await?;
    Ok(Json(targeting_view(&env, spec, targeting)))
}

fn targeting_view(env: &str, spec: FlagSpec, targeting: EnvTargeting) -> TargetingView {
    TargetingView {
        flag: spec.key,
        environment: env.to_owned(),
        kind: spec.kind,
        variations: spec.variations,
        targeting,
    }
}

pub async fn update_targeting(
    ctx: Ctx,
    Path((project, env, flag)): Path<(String, String, String)>,
    Body(input): Body<TargetingInput>,
) -> ApiResult<Json<TargetingView>> {
    let resource = res::env_flag(&project, &env, &flag);
    ctx.authorize("flag:update", &resource).await?;
    let precondition = ctx.expected_version(input.version)?;
    let (data, spec, current) = load_env_flag(&ctx, &project, &env, &flag).await?;
    let expected = precondition.check(current.version)?;
    write_targeting(
        &ctx,
        &project,
        &env,
        data,
        spec,
        current,
        input.targeting,
        expected,
        input.comment.as_deref(),
        "flag:update",
    )
    .await
    .map(Json)
}

/// The environment's data with one flag's spec and current targeting (404 for a missing
/// environment or flag).
async fn load_env_flag(
    ctx: &Ctx,
    project: &str,
    env: &str,
    flag: &str,
) -> ApiResult<(EnvData, FlagSpec, EnvTargeting)> {
    load_environment(ctx, project, env).await?;
    let data = EnvData::load(&ctx.state.store, project, env).await?;
    let (spec, _, targeting, version) = data
        .flags
        .get(flag)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("flag {flag:?} in project {project:?}")))?;
    Ok((data, spec, EnvTargeting { targeting, version }))
}

/// Validates and writes one environment's targeting, audited as `action`.
#[allow(clippy::too_many_arguments)]
async fn write_targeting(
    ctx: &Ctx,
    project: &str,
    env: &str,
    mut data: EnvData,
    spec: FlagSpec,
    current: EnvTargeting,
    targeting: Targeting,
    expected: Expected,
    comment: Option<&str>,
    action: &str,
) -> ApiResult<TargetingView> {
    let before = data.dataset();
    if let Some(entry) = data.flags.get_mut(&spec.key) {
        entry.2 = targeting.clone();
    }
    no_new_problems(&before, &data.dataset())?;
    let resource = res::env_flag(project, env, &spec.key);
    let write = Write::Put {
        kind: "targeting".into(),
        scope: env_scope(project, env),
        key: spec.key.clone(),
        body: to_json(&targeting),
        expected,
    };
    let change = Change {
        action,
        resource: &resource,
        before: Some(to_json(&current.targeting)),
        after: Some(to_json(&targeting)),
        comment,
    };
    let committed = ctx.commit(&[write], change).await?;
    Ok(targeting_view(
        env,
        spec,
        EnvTargeting {
            targeting,
            version: committed.versions[0],
        },
    ))
}

pub async fn toggle_flag(
    ctx: Ctx,
    Path((project, env, flag)): Path<(String, String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<Json<TargetingView>> {
    // The body is optional: an empty POST flips the flag.
    let input: ToggleInput = super::optional_body(&body)?;
    ctx.authorize("flag:toggle", &res::env_flag(&project, &env, &flag))
        .await?;
    // A toggle carries no version: it re-reads and retries, so it never overwrites another
    // change to the same targeting.
    let mut attempts = 0;
    loop {
        let (data, spec, current) = load_env_flag(&ctx, &project, &env, &flag).await?;
        let mut targeting = current.targeting.clone();
        targeting.on = input.on.unwrap_or(!targeting.on);
        let expected = expect_version(current.version);
        let result = write_targeting(
            &ctx,
            &project,
            &env,
            data,
            spec,
            current,
            targeting,
            expected,
            input.comment.as_deref(),
            "flag:toggle",
        )
        .await;
        match result {
            Err(e) if e.code == Code::Conflict && attempts < 5 => attempts += 1,
            other => return other.map(Json),
        }
    }
}
