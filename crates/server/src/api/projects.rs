//! Projects and their environments.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use switchyard_engine::model::{Segment, Targeting};
use switchyard_store::{Expected, Write};

use super::ctx::{Body, Change, CommentQuery, Ctx, Deleted, check_key};
use super::query::Query;
use crate::access::resources as res;
use crate::access::{Action, MAX_REQUIRED_APPROVALS, SdkKeyRecord};
use crate::error::{ApiError, ApiResult, Code};
use crate::records::{
    self, EnvironmentRecord, FlagSpec, GLOBAL, ProjectRecord, Record, Versioned, env_scope,
};

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ProjectInput {
    /// Required on create; ignored on update (the path names the project).
    pub key: String,
    pub name: String,
    pub description: String,
    /// The version being replaced (or send `If-Match`); updates only.
    pub version: Option<i64>,
    pub comment: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema, Deserialize)]
pub struct Project {
    #[serde(flatten)]
    pub body: ProjectRecord,
    pub version: i64,
}

impl From<Versioned<ProjectRecord>> for Project {
    fn from(stored: Versioned<ProjectRecord>) -> Project {
        Project {
            body: stored.record,
            version: stored.version,
        }
    }
}

/// The name a resource is given: the one asked for, or else `fallback` (its key on creation,
/// its current name on update).
fn name_or(name: String, fallback: &str) -> String {
    if name.is_empty() {
        fallback.to_owned()
    } else {
        name
    }
}

pub(super) async fn list_projects(ctx: Ctx) -> ApiResult<Json<Vec<Project>>> {
    let readable = ctx
        .list_allowed(GLOBAL, Action::ProjectRead, res::project)
        .await?;
    Ok(Json(readable.into_iter().map(Project::from).collect()))
}

pub(super) async fn create_project(
    ctx: Ctx,
    Body(input): Body<ProjectInput>,
) -> ApiResult<(StatusCode, Json<Project>)> {
    check_key("key", &input.key)?;
    let resource = res::project(&input.key);
    ctx.authorize(Action::ProjectCreate, &resource).await?;
    let body = ProjectRecord {
        name: name_or(input.name, &input.key),
        key: input.key,
        description: input.description,
    };
    let change =
        Change::created(Action::ProjectCreate, &resource, &body).comment(input.comment.as_deref());
    ctx.create_record((GLOBAL, &body.key), &body, change)
        .await?;
    Ok((StatusCode::CREATED, Json(Project { body, version: 1 })))
}

pub(super) async fn get_project(ctx: Ctx, Path(project): Path<String>) -> ApiResult<Json<Project>> {
    ctx.authorize(Action::ProjectRead, &res::project(&project))
        .await?;
    Ok(Json(load_project(&ctx, &project).await?.into()))
}

pub(super) async fn update_project(
    ctx: Ctx,
    Path(project): Path<String>,
    Body(input): Body<ProjectInput>,
) -> ApiResult<Json<Project>> {
    let resource = res::project(&project);
    ctx.authorize(Action::ProjectUpdate, &resource).await?;
    let (before, expected) = ctx
        .load_for_update(input.version, load_project(&ctx, &project))
        .await?;
    let body = ProjectRecord {
        key: project.clone(),
        name: name_or(input.name, &before.name),
        description: input.description,
    };
    let change = Change::updated(Action::ProjectUpdate, &resource, &before, &body)
        .comment(input.comment.as_deref());
    let version = ctx
        .write_record((GLOBAL, &project), &body, expected, change)
        .await?;
    Ok(Json(Project { body, version }))
}

pub(super) async fn delete_project(
    ctx: Ctx,
    Path(project): Path<String>,
    Query(query): Query<CommentQuery>,
) -> ApiResult<Json<Deleted>> {
    let resource = res::project(&project);
    ctx.authorize(Action::ProjectDelete, &resource).await?;
    let stored = load_project(&ctx, &project).await?;
    let store = &ctx.state.store;
    if !store
        .list(EnvironmentRecord::KIND, &project)
        .await?
        .is_empty()
        || !store.list(FlagSpec::KIND, &project).await?.is_empty()
    {
        return Err(ApiError::new(
            Code::Conflict,
            "the project still has environments or flags; delete them first",
        ));
    }
    let change = Change::deleted(Action::ProjectDelete, &resource, &stored.record)
        .comment(query.comment.as_deref());
    ctx.delete_record(GLOBAL, &stored, change).await
}

pub(super) async fn load_project(ctx: &Ctx, project: &str) -> ApiResult<Versioned<ProjectRecord>> {
    ctx.load_or_404(GLOBAL, project, || format!("project {project:?}"))
        .await
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct EnvironmentInput {
    pub key: String,
    pub name: String,
    pub description: String,
    /// Marks an environment whose changes matter most (the console asks twice).
    pub critical: bool,
    /// Browser origins that may read client-key answers (CORS); empty: any origin. Absent on
    /// update keeps the stored list (a form that does not know it must not widen it to any).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_origins: Option<Vec<String>>,
    /// Approvals by people other than the author that a change to targeting or segments, or a
    /// release start, here needs before it takes effect (0-10; 0: none, the default). Absent on update keeps the
    /// stored count. Setting it is an `env:update`, never itself subject to approval
    /// (`docs/governance.md`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_approvals: Option<u32>,
    pub version: Option<i64>,
    pub comment: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema, Deserialize)]
pub struct Environment {
    pub project: String,
    #[serde(flatten)]
    pub body: EnvironmentRecord,
    pub version: i64,
}

impl Environment {
    fn new(project: &str, stored: Versioned<EnvironmentRecord>) -> Environment {
        Environment {
            project: project.to_owned(),
            body: stored.record,
            version: stored.version,
        }
    }
}

pub(super) async fn list_environments(
    ctx: Ctx,
    Path(project): Path<String>,
) -> ApiResult<Json<Vec<Environment>>> {
    let readable = ctx
        .list_allowed(&project, Action::EnvRead, |env| res::env(&project, env))
        .await?;
    Ok(Json(
        readable
            .into_iter()
            .map(|stored| Environment::new(&project, stored))
            .collect(),
    ))
}

pub(super) async fn create_environment(
    ctx: Ctx,
    Path(project): Path<String>,
    Body(input): Body<EnvironmentInput>,
) -> ApiResult<(StatusCode, Json<Environment>)> {
    check_key("key", &input.key)?;
    let resource = res::env(&project, &input.key);
    ctx.authorize(Action::EnvCreate, &resource).await?;
    load_project(&ctx, &project).await?;
    let body = EnvironmentRecord {
        name: name_or(input.name, &input.key),
        key: input.key,
        description: input.description,
        critical: input.critical,
        required_approvals: checked_approvals(input.required_approvals.unwrap_or_default())?,
        allowed_origins: checked_origins(input.allowed_origins.unwrap_or_default())?,
    };
    let change =
        Change::created(Action::EnvCreate, &resource, &body).comment(input.comment.as_deref());
    ctx.create_record((&project, &body.key), &body, change)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(Environment {
            project,
            body,
            version: 1,
        }),
    ))
}

pub(super) async fn get_environment(
    ctx: Ctx,
    Path((project, env)): Path<(String, String)>,
) -> ApiResult<Json<Environment>> {
    ctx.authorize(Action::EnvRead, &res::env(&project, &env))
        .await?;
    let stored = load_environment(&ctx, &project, &env).await?;
    Ok(Json(Environment::new(&project, stored)))
}

pub(super) async fn update_environment(
    ctx: Ctx,
    Path((project, env)): Path<(String, String)>,
    Body(input): Body<EnvironmentInput>,
) -> ApiResult<Json<Environment>> {
    let resource = res::env(&project, &env);
    ctx.authorize(Action::EnvUpdate, &resource).await?;
    let (before, expected) = ctx
        .load_for_update(input.version, load_environment(&ctx, &project, &env))
        .await?;
    let body = EnvironmentRecord {
        key: env.clone(),
        name: name_or(input.name, &before.name),
        description: input.description,
        critical: input.critical,
        required_approvals: match input.required_approvals {
            Some(count) => checked_approvals(count)?,
            None => before.required_approvals,
        },
        allowed_origins: match input.allowed_origins {
            Some(origins) => checked_origins(origins)?,
            None => before.allowed_origins.clone(),
        },
    };
    let change = Change::updated(Action::EnvUpdate, &resource, &before, &body)
        .comment(input.comment.as_deref());
    let version = ctx
        .write_record((&project, &env), &body, expected, change)
        .await?;
    Ok(Json(Environment {
        project,
        body,
        version,
    }))
}

pub(super) async fn delete_environment(
    ctx: Ctx,
    Path((project, env)): Path<(String, String)>,
    Query(query): Query<CommentQuery>,
) -> ApiResult<Json<Deleted>> {
    let resource = res::env(&project, &env);
    ctx.authorize(Action::EnvDelete, &resource).await?;
    let stored = load_environment(&ctx, &project, &env).await?;
    let scope = env_scope(&project, &env);
    let mut writes = vec![records::delete::<EnvironmentRecord>(
        &project,
        &env,
        Expected::Version(stored.version),
    )];
    // What only this environment has goes with it.
    for kind in [Targeting::KIND, Segment::KIND, SdkKeyRecord::KIND] {
        for child in ctx.state.store.list(kind, &scope).await? {
            writes.push(Write::Delete {
                kind: kind.into(),
                scope: scope.clone(),
                key: child.key,
                expected: Expected::Version(child.version),
            });
        }
    }
    let change = Change::deleted(Action::EnvDelete, &resource, &stored.record)
        .comment(query.comment.as_deref());
    ctx.commit_deletion(&writes, change).await
}

pub(super) async fn load_environment(
    ctx: &Ctx,
    project: &str,
    env: &str,
) -> ApiResult<Versioned<EnvironmentRecord>> {
    ctx.load_or_404(project, env, || {
        format!("environment {env:?} of project {project:?}")
    })
    .await
}

pub(super) fn checked_approvals(count: u32) -> ApiResult<u32> {
    if count > MAX_REQUIRED_APPROVALS {
        return Err(ApiError::invalid(
            "required_approvals",
            format!("{count} approvals: an environment requires 0 to {MAX_REQUIRED_APPROVALS}"),
        ));
    }
    Ok(count)
}

/// An environment's CORS origins, normalised: each a bare origin (`scheme://host[:port]`, no
/// path), lower-cased, without a trailing slash.
pub(super) fn checked_origins(origins: Vec<String>) -> ApiResult<Vec<String>> {
    origins
        .into_iter()
        .map(|origin| {
            let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
            let host = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"));
            match host {
                Some(host) if !host.is_empty() && !host.contains(['/', '?', '#', ' ', '*']) => {
                    Ok(origin)
                }
                _ => Err(ApiError::invalid(
                    "allowed_origins",
                    format!("{origin:?} is not an origin like https://app.example"),
                )),
            }
        })
        .collect()
}
