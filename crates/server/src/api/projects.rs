//! Projects and their environments.

use axum::Json;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use switchyard_store::{Document, Expected, Write};

use super::{Body, Change, Ctx, Deleted, check_key, parse_doc, to_json};
use crate::error::{ApiError, ApiResult, Code};
use crate::resources as res;

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

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ProjectBody {
    pub key: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Serialize, JsonSchema, Deserialize)]
pub struct Project {
    #[serde(flatten)]
    pub body: ProjectBody,
    pub version: i64,
}

impl Project {
    fn from_doc(doc: &Document) -> ApiResult<Project> {
        Ok(Project {
            body: parse_doc(doc)?,
            version: doc.version,
        })
    }
}

#[derive(Debug, Deserialize)]
pub struct CommentQuery {
    pub comment: Option<String>,
}

pub async fn list_projects(ctx: Ctx) -> ApiResult<Json<Vec<Project>>> {
    let docs = ctx.state.store.list("project", "").await?;
    let readable = docs
        .iter()
        .filter(|d| ctx.allows("project:read", &res::project(&d.key)));
    Ok(Json(
        readable.map(Project::from_doc).collect::<ApiResult<_>>()?,
    ))
}

pub async fn create_project(
    ctx: Ctx,
    Body(input): Body<ProjectInput>,
) -> ApiResult<(StatusCode, Json<Project>)> {
    check_key("key", &input.key)?;
    let resource = res::project(&input.key);
    ctx.authorize("project:create", &resource).await?;
    let body = ProjectBody {
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
        body: to_json(&body),
        expected: Expected::Absent,
    };
    let change = Change {
        action: "project:create",
        resource: &resource,
        before: None,
        after: Some(to_json(&body)),
        comment: input.comment.as_deref(),
    };
    ctx.commit(&[write], change).await.map_err(already_exists)?;
    Ok((StatusCode::CREATED, Json(Project { body, version: 1 })))
}

pub async fn get_project(ctx: Ctx, Path(project): Path<String>) -> ApiResult<Json<Project>> {
    ctx.authorize("project:read", &res::project(&project))
        .await?;
    Ok(Json(Project::from_doc(
        &load_project(&ctx, &project).await?,
    )?))
}

pub async fn update_project(
    ctx: Ctx,
    Path(project): Path<String>,
    Body(input): Body<ProjectInput>,
) -> ApiResult<Json<Project>> {
    let resource = res::project(&project);
    ctx.authorize("project:update", &resource).await?;
    let precondition = ctx.expected_version(input.version)?;
    let doc = load_project(&ctx, &project).await?;
    let expected = precondition.check(doc.version)?;
    let before: ProjectBody = parse_doc(&doc)?;
    let body = ProjectBody {
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
        body: to_json(&body),
        expected,
    };
    let change = Change {
        action: "project:update",
        resource: &resource,
        before: Some(to_json(&before)),
        after: Some(to_json(&body)),
        comment: input.comment.as_deref(),
    };
    let committed = ctx.commit(&[write], change).await?;
    Ok(Json(Project {
        body,
        version: committed.versions[0],
    }))
}

pub async fn delete_project(
    ctx: Ctx,
    Path(project): Path<String>,
    Query(query): Query<CommentQuery>,
) -> ApiResult<Json<Deleted>> {
    let resource = res::project(&project);
    ctx.authorize("project:delete", &resource).await?;
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
        "project:delete",
        resource,
        doc.body.clone(),
        query.comment.as_deref(),
    )
    .await
}

pub async fn load_project(ctx: &Ctx, project: &str) -> ApiResult<Document> {
    ctx.state
        .store
        .get("project", "", project)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("project {project:?}")))
}

/// A `Conflict` on creation means the key is taken.
pub fn already_exists(mut error: ApiError) -> ApiError {
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

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct EnvironmentBody {
    pub key: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub critical: bool,
}

#[derive(Debug, Serialize, JsonSchema, Deserialize)]
pub struct Environment {
    pub project: String,
    #[serde(flatten)]
    pub body: EnvironmentBody,
    pub version: i64,
}

impl Environment {
    fn from_doc(doc: &Document) -> ApiResult<Environment> {
        Ok(Environment {
            project: doc.scope.clone(),
            body: parse_doc(doc)?,
            version: doc.version,
        })
    }
}

pub async fn list_environments(
    ctx: Ctx,
    Path(project): Path<String>,
) -> ApiResult<Json<Vec<Environment>>> {
    let docs = ctx.state.store.list("environment", &project).await?;
    let readable = docs
        .iter()
        .filter(|d| ctx.allows("env:read", &res::env(&project, &d.key)));
    Ok(Json(
        readable
            .map(Environment::from_doc)
            .collect::<ApiResult<_>>()?,
    ))
}

pub async fn create_environment(
    ctx: Ctx,
    Path(project): Path<String>,
    Body(input): Body<EnvironmentInput>,
) -> ApiResult<(StatusCode, Json<Environment>)> {
    check_key("key", &input.key)?;
    let resource = res::env(&project, &input.key);
    ctx.authorize("env:create", &resource).await?;
    load_project(&ctx, &project).await?;
    let body = EnvironmentBody {
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
        body: to_json(&body),
        expected: Expected::Absent,
    };
    let change = Change {
        action: "env:create",
        resource: &resource,
        before: None,
        after: Some(to_json(&body)),
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

pub async fn get_environment(
    ctx: Ctx,
    Path((project, env)): Path<(String, String)>,
) -> ApiResult<Json<Environment>> {
    ctx.authorize("env:read", &res::env(&project, &env)).await?;
    Ok(Json(Environment::from_doc(
        &load_environment(&ctx, &project, &env).await?,
    )?))
}

pub async fn update_environment(
    ctx: Ctx,
    Path((project, env)): Path<(String, String)>,
    Body(input): Body<EnvironmentInput>,
) -> ApiResult<Json<Environment>> {
    let resource = res::env(&project, &env);
    ctx.authorize("env:update", &resource).await?;
    let precondition = ctx.expected_version(input.version)?;
    let doc = load_environment(&ctx, &project, &env).await?;
    let expected = precondition.check(doc.version)?;
    let before: EnvironmentBody = parse_doc(&doc)?;
    let body = EnvironmentBody {
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
        body: to_json(&body),
        expected,
    };
    let change = Change {
        action: "env:update",
        resource: &resource,
        before: Some(to_json(&before)),
        after: Some(to_json(&body)),
        comment: input.comment.as_deref(),
    };
    let committed = ctx.commit(&[write], change).await?;
    Ok(Json(Environment {
        project,
        body,
        version: committed.versions[0],
    }))
}

pub async fn delete_environment(
    ctx: Ctx,
    Path((project, env)): Path<(String, String)>,
    Query(query): Query<CommentQuery>,
) -> ApiResult<Json<Deleted>> {
    let resource = res::env(&project, &env);
    ctx.authorize("env:delete", &resource).await?;
    let doc = load_environment(&ctx, &project, &env).await?;
    let scope = res::env_scope(&project, &env);
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
        action: "env:delete",
        resource: &resource,
        before: Some(doc.body.clone()),
        after: None,
        comment: query.comment.as_deref(),
    };
    ctx.commit(&writes, change).await?;
    Ok(Json(Deleted { deleted: resource }))
}

pub async fn load_environment(ctx: &Ctx, project: &str, env: &str) -> ApiResult<Document> {
    ctx.state
        .store
        .get("environment", project, env)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("environment {env:?} of project {project:?}")))
}
