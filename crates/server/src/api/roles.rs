//! Custom roles (statements of allowed and denied actions); the built-in ones are listed too.

use axum::Json;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use switchyard_store::{Document, Expected, Write};

use super::ctx::{Body, Change, Ctx, Deleted, check_key};
use super::projects::{CommentQuery, already_exists};
use crate::access::Action;
use crate::access::RoleRecord;
use crate::access::resources as res;
use crate::access::{BUILTIN_ROLES, Statement, builtin_role};
use crate::error::{ApiError, ApiResult};
use crate::records;

#[derive(Debug, Deserialize, JsonSchema, Serialize)]
pub struct RoleInput {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub statements: Vec<Statement>,
    #[serde(default)]
    pub version: Option<i64>,
    #[serde(default)]
    pub comment: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema, Deserialize)]
pub struct RoleView {
    pub name: String,
    pub description: String,
    pub statements: Vec<Statement>,
    pub builtin: bool,
    pub version: i64,
}

fn builtin_view(name: &str) -> Option<RoleView> {
    Some(RoleView {
        name: name.to_owned(),
        description: format!("built-in {name} role"),
        statements: builtin_role(name)?,
        builtin: true,
        version: 0,
    })
}

fn role_view(record: RoleRecord, version: i64) -> RoleView {
    RoleView {
        name: record.name,
        description: record.description,
        statements: record.statements,
        builtin: false,
        version,
    }
}

pub(super) fn check_statements(statements: &[Statement]) -> ApiResult<()> {
    for (i, statement) in statements.iter().enumerate() {
        if let Some((field, message)) = statement.problem() {
            return Err(ApiError::invalid(
                format!("statements[{i}].{field}"),
                message,
            ));
        }
    }
    Ok(())
}

pub(super) async fn list_roles(ctx: Ctx) -> ApiResult<Json<Vec<RoleView>>> {
    let mut views: Vec<RoleView> = BUILTIN_ROLES
        .iter()
        .filter_map(|name| builtin_view(name))
        .collect();
    for doc in ctx.state.store.list("role", "").await? {
        views.push(role_view(records::parse(&doc)?, doc.version));
    }
    views.retain(|role| ctx.allows(Action::RoleRead, &res::role(&role.name)));
    Ok(Json(views))
}

pub(super) async fn get_role(ctx: Ctx, Path(name): Path<String>) -> ApiResult<Json<RoleView>> {
    ctx.authorize(Action::RoleRead, &res::role(&name)).await?;
    if let Some(view) = builtin_view(&name) {
        return Ok(Json(view));
    }
    let doc = load_role(&ctx, &name).await?;
    Ok(Json(role_view(records::parse(&doc)?, doc.version)))
}

async fn load_role(ctx: &Ctx, name: &str) -> ApiResult<Document> {
    ctx.state
        .store
        .get("role", "", name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("role {name:?}")))
}

fn not_builtin(name: &str) -> ApiResult<()> {
    match builtin_role(name) {
        Some(_) => Err(ApiError::invalid(
            "name",
            format!("{name:?} is a built-in role and cannot change"),
        )),
        None => Ok(()),
    }
}

pub(super) async fn create_role(
    ctx: Ctx,
    Body(input): Body<RoleInput>,
) -> ApiResult<(StatusCode, Json<RoleView>)> {
    check_key("name", &input.name)?;
    not_builtin(&input.name)?;
    let resource = res::role(&input.name);
    ctx.authorize(Action::RoleCreate, &resource).await?;
    check_statements(&input.statements)?;
    let record = RoleRecord {
        name: input.name,
        description: input.description,
        statements: input.statements,
    };
    let write = Write::Put {
        kind: "role".into(),
        scope: String::new(),
        key: record.name.clone(),
        body: records::encode(&record),
        expected: Expected::Absent,
    };
    let change = Change {
        action: Action::RoleCreate.as_str(),
        resource: &resource,
        before: None,
        after: Some(records::encode(&record)),
        comment: input.comment.as_deref(),
    };
    ctx.commit(&[write], change).await.map_err(already_exists)?;
    Ok((StatusCode::CREATED, Json(role_view(record, 1))))
}

pub(super) async fn update_role(
    ctx: Ctx,
    Path(name): Path<String>,
    Body(input): Body<RoleInput>,
) -> ApiResult<Json<RoleView>> {
    not_builtin(&name)?;
    let resource = res::role(&name);
    ctx.authorize(Action::RoleUpdate, &resource).await?;
    let precondition = ctx.expected_version(input.version)?;
    let doc = load_role(&ctx, &name).await?;
    let expected = precondition.check(doc.version)?;
    check_statements(&input.statements)?;
    let record = RoleRecord {
        name: name.clone(),
        description: input.description,
        statements: input.statements,
    };
    let write = Write::Put {
        kind: "role".into(),
        scope: String::new(),
        key: name,
        body: records::encode(&record),
        expected,
    };
    let change = Change {
        action: Action::RoleUpdate.as_str(),
        resource: &resource,
        before: Some(doc.body.clone()),
        after: Some(records::encode(&record)),
        comment: input.comment.as_deref(),
    };
    let committed = ctx.commit(&[write], change).await?;
    Ok(Json(role_view(record, committed.versions[0])))
}

pub(super) async fn delete_role(
    ctx: Ctx,
    Path(name): Path<String>,
    Query(query): Query<CommentQuery>,
) -> ApiResult<Json<Deleted>> {
    not_builtin(&name)?;
    let resource = res::role(&name);
    ctx.authorize(Action::RoleDelete, &resource).await?;
    let doc = load_role(&ctx, &name).await?;
    ctx.delete_document(
        &doc,
        Action::RoleDelete.as_str(),
        resource,
        doc.body.clone(),
        query.comment.as_deref(),
    )
    .await
}
