//! Projects and their environments.

use axum::Json;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use switchyard_store::{Document, Expected, Write};

use super::ctx::{Body, Change, Ctx, Deleted, check_key};
use crate::access::Action;
use crate::access::resources as res;
use crate::error::{ApiError, ApiResult, Code};
use crate::records;
use crate::records::EnvironmentRecord;
use crate::records::ProjectRecord;
use crate::records::env_scope;

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ProjectInput {
    /// Required on create; ignored on update (the path names the project).
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The version being replaced (or send `If-Match`); updates only.
    #[serde(default)]
    pub version: Option<i64>,
    #[serde(default)]
    pub comment: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema, Deserialize)]
pub struct Project {
    #[serde(flatten)]
    pub body: ProjectRecord,
    pub version: i64,
}

impl Project {
    fn from_doc(doc: &Document) -> ApiResult<Project> {
        Ok(Project {
            body: records::parse(doc)?,
            version: doc.version,
        })
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct CommentQuery {
    pub comment: Option<String>,
}

pub(super) async fn list_projects(ctx: Ctx) -> ApiResult<Json<Vec<Project>>> {
    let docs = ctx.state.store.list("project", "").await?;
    let readable = docs
        .iter()
        .filter(|d| ctx.allows(Action::ProjectRead, &res::project(&d.key)));
    Ok(Json(
        readable.map(Project::from_doc).collect::<ApiResult<_>>()?,
    ))
}

pub(super) async fn create_project(
    ctx: Ctx,
    Body(input): Body<ProjectInput>,
) -> ApiResult<(StatusCode, Json<Project>)> {
    check_key("key", &input.key)?;
    let resource = res::project(&input.key);
    ctx.authorize(Action::ProjectCreate, &resource).await?;
    let body = ProjectRecord {
        name: if input.name.is_empty() {
            input.key.clone()
        } else {
            input.name
        },
        key: input.key,
        description: input.description,
    };
    let write = Write::Put {
        kind: "project".into(),
        scope: String::new(),
        key: body.key.clone(),
        body: records::encode(&body),
        expected: Expected::Absent,
    };
    let change = Change {
        action: Action::ProjectCreate.as_str(),
        resource: &resource,
        before: None,
        after: Some(records::encode(&body)),
        comment: input.comment.as_deref(),
    };
    ctx.commit(&[write], change).await.map_err(already_exists)?;
    Ok((StatusCode::CREATED, Json(Project { body, version: 1 })))
}

pub(super) async fn get_project(ctx: Ctx, Path(project): Path<String>) -> ApiResult<Json<Project>> {
    ctx.authorize(Action::ProjectRead, &res::project(&project))
        .await?;
    Ok(Json(Project::from_doc(
        &load_project(&ctx, &project).await?,
    )?))
}

pub(super) async fn update_project(
    ctx: Ctx,
    Path(project): Path<String>,
    Body(input): Body<ProjectInput>,
) -> ApiResult<Json<Project>> {
    let resource = res::project(&project);
    ctx.authorize(Action::ProjectUpdate, &resource).await?;
    let precondition = ctx.expected_version(input.version)?;
    let doc = load_project(&ctx, &project).await?;
    let expected = precondition.check(doc.version)?;
    let before: ProjectRecord = records::parse(&doc)?;
    let body = ProjectRecord {
        key: project.clone(),
        name: if input.name.is_empty() {
            before.name.clone()
        } else {
            input.name
        },
        description: input.description,
    };
    let write = Write::Put {
        kind: "project".into(),
        scope: String::new(),
        key: project,
        body: records::encode(&body),
        expected,
    };
    let change = Change {
        action: Action::ProjectUpdate.as_str(),
        resource: &resource,
        before: Some(records::encode(&before)),
        after: Some(records::encode(&body)),
        comment: input.comment.as_deref(),
    };
    let committed = ctx.commit(&[write], change).await?;
    Ok(Json(Project {
        body,
        version: committed.versions[0],
    }))
}

pub(super) async fn delete_project(
    ctx: Ctx,
    Path(project): Path<String>,
    Query(query): Query<CommentQuery>,
) -> ApiResult<Json<Deleted>> {
    let resource = res::project(&project);
    ctx.authorize(Action::ProjectDelete, &resource).await?;
    let doc = load_project(&ctx, &project).await?;
    let store = &ctx.state.store;
    if !store.list("environment", &project).await?.is_empty()
        || !store.list("flag", &project).await?.is_empty()
    {
        return Err(ApiError::new(
            Code::Conflict,
            "the project still has environments or flags; delete them first",
        ));
    }
    ctx.delete_document(
        &doc,
        Action::ProjectDelete.as_str(),
        resource,
        doc.body.clone(),
        query.comment.as_deref(),
    )
    .await
}

pub(super) async fn load_project(ctx: &Ctx, project: &str) -> ApiResult<Document> {
    ctx.state
        .store
        .get("project", "", project)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("project {project:?}")))
}

/// A `Conflict` on creation means the key is taken.
pub(super) fn already_exists(mut error: ApiError) -> ApiError {
    if error.code == Code::Conflict {
        error.message = "a resource with this key already exists".into();
        error.field = Some("key".into());
    }
    error
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct EnvironmentInput {
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Marks an environment whose changes matter most (the console asks twice).
    #[serde(default)]
    pub critical: bool,
    #[serde(default)]
    pub version: Option<i64>,
    #[serde(default)]
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
    fn from_doc(doc: &Document) -> ApiResult<Environment> {
        Ok(Environment {
            project: doc.scope.clone(),
            body: records::parse(doc)?,
            version: doc.version,
        })
    }
}

pub(super) async fn list_environments(
    ctx: Ctx,
    Path(project): Path<String>,
) -> ApiResult<Json<Vec<Environment>>> {
    let docs = ctx.state.store.list("environment", &project).await?;
    let readable = docs
        .iter()
        .filter(|d| ctx.allows(Action::EnvRead, &res::env(&project, &d.key)));
    Ok(Json(
        readable
            .map(Environment::from_doc)
            .collect::<ApiResult<_>>()?,
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
        name: if input.name.is_empty() {
            input.key.clone()
        } else {
            input.name
        },
        key: input.key,
        description: input.description,
        critical: input.critical,
    };
    let write = Write::Put {
        kind: "environment".into(),
        scope: project.clone(),
        key: body.key.clone(),
        body: records::encode(&body),
        expected: Expected::Absent,
    };
    let change = Change {
        action: Action::EnvCreate.as_str(),
        resource: &resource,
        before: None,
        after: Some(records::encode(&body)),
        comment: input.comment.as_deref(),
    };
    ctx.commit(&[write], change).await.map_err(already_exists)?;
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
    Ok(Json(Environment::from_doc(
        &load_environment(&ctx, &project, &env).await?,
    )?))
}

pub(super) async fn update_environment(
    ctx: Ctx,
    Path((project, env)): Path<(String, String)>,
    Body(input): Body<EnvironmentInput>,
) -> ApiResult<Json<Environment>> {
    let resource = res::env(&project, &env);
    ctx.authorize(Action::EnvUpdate, &resource).await?;
    let precondition = ctx.expected_version(input.version)?;
    let doc = load_environment(&ctx, &project, &env).await?;
    let expected = precondition.check(doc.version)?;
    let before: EnvironmentRecord = records::parse(&doc)?;
    let body = EnvironmentRecord {
        key: env.clone(),
        name: if input.name.is_empty() {
            before.name.clone()
        } else {
            input.name
        },
        description: input.description,
        critical: input.critical,
    };
    let write = Write::Put {
        kind: "environment".into(),
        scope: project.clone(),
        key: env,
        body: records::encode(&body),
        expected,
    };
    let change = Change {
        action: Action::EnvUpdate.as_str(),
        resource: &resource,
        before: Some(records::encode(&before)),
        after: Some(records::encode(&body)),
        comment: input.comment.as_deref(),
    };
    let committed = ctx.commit(&[write], change).await?;
    Ok(Json(Environment {
        project,
        body,
        version: committed.versions[0],
    }))
}

pub(super) async fn delete_environment(
    ctx: Ctx,
    Path((project, env)): Path<(String, String)>,
    Query(query): Query<CommentQuery>,
) -> ApiResult<Json<Deleted>> {
    let resource = res::env(&project, &env);
    ctx.authorize(Action::EnvDelete, &resource).await?;
    let doc = load_environment(&ctx, &project, &env).await?;
    let scope = env_scope(&project, &env);
    let mut writes = vec![Write::Delete {
        kind: "environment".into(),
        scope: project.clone(),
        key: env.clone(),
        expected: Expected::Version(doc.version),
    }];
    for kind in ["targeting", "segment", "sdk_key"] {
        for child in ctx.state.store.list(kind, &scope).await? {
            writes.push(Write::Delete {
                kind: kind.into(),
                scope: scope.clone(),
                key: child.key,
                expected: Expected::Version(child.version),
            });
        }
    }
    let change = Change {
        action: Action::EnvDelete.as_str(),
        resource: &resource,
        before: Some(doc.body.clone()),
        after: None,
        comment: query.comment.as_deref(),
    };
    ctx.commit(&writes, change).await?;
    Ok(Json(Deleted { deleted: resource }))
}

pub(super) async fn load_environment(ctx: &Ctx, project: &str, env: &str) -> ApiResult<Document> {
    ctx.state
        .store
        .get("environment", project, env)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("environment {env:?} of project {project:?}")))
}
