//! Custom roles (statements of allowed and denied actions); the built-in ones are listed too.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ctx::{Body, Change, CommentQuery, Ctx, Deleted, check_key};
use super::query::Query;
use crate::access::resources as res;
use crate::access::{Action, BUILTIN_ROLES, RoleRecord, Statement, builtin_role};
use crate::error::{ApiError, ApiResult};
use crate::records::{self, GLOBAL, Versioned};

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
    let custom = records::list(&ctx.state.store, GLOBAL).await?;
    views.extend(
        custom
            .into_iter()
            .map(|role| role_view(role.record, role.version)),
    );
    views.retain(|role| ctx.allows(Action::RoleRead, &res::role(&role.name)));
    Ok(Json(views))
}

pub(super) async fn get_role(ctx: Ctx, Path(name): Path<String>) -> ApiResult<Json<RoleView>> {
    ctx.authorize(Action::RoleRead, &res::role(&name)).await?;
    if let Some(view) = builtin_view(&name) {
        return Ok(Json(view));
    }
    let stored = load_role(&ctx, &name).await?;
    Ok(Json(role_view(stored.record, stored.version)))
}

async fn load_role(ctx: &Ctx, name: &str) -> ApiResult<Versioned<RoleRecord>> {
    ctx.load_or_404(GLOBAL, name, || format!("role {name:?}"))
        .await
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
    // Authorization before validation: a caller without the right learns nothing from a 422.
    let resource = res::role(&input.name);
    ctx.authorize(Action::RoleCreate, &resource).await?;
    check_key("name", &input.name)?;
    not_builtin(&input.name)?;
    check_statements(&input.statements)?;
    let record = RoleRecord {
        name: input.name,
        description: input.description,
        statements: input.statements,
    };
    let change =
        Change::created(Action::RoleCreate, &resource, &record).comment(input.comment.as_deref());
    ctx.create_record((GLOBAL, &record.name), &record, change)
        .await?;
    Ok((StatusCode::CREATED, Json(role_view(record, 1))))
}

pub(super) async fn update_role(
    ctx: Ctx,
    Path(name): Path<String>,
    Body(input): Body<RoleInput>,
) -> ApiResult<Json<RoleView>> {
    let resource = res::role(&name);
    ctx.authorize(Action::RoleUpdate, &resource).await?;
    not_builtin(&name)?;
    let (before, expected) = ctx
        .load_for_update(input.version, load_role(&ctx, &name))
        .await?;
    check_statements(&input.statements)?;
    let record = RoleRecord {
        name: name.clone(),
        description: input.description,
        statements: input.statements,
    };
    let change = Change::updated(Action::RoleUpdate, &resource, &before, &record)
        .comment(input.comment.as_deref());
    let version = ctx
        .write_record((GLOBAL, &name), &record, expected, change)
        .await?;
    Ok(Json(role_view(record, version)))
}

pub(super) async fn delete_role(
    ctx: Ctx,
    Path(name): Path<String>,
    Query(query): Query<CommentQuery>,
) -> ApiResult<Json<Deleted>> {
    let resource = res::role(&name);
    ctx.authorize(Action::RoleDelete, &resource).await?;
    not_builtin(&name)?;
    let stored = load_role(&ctx, &name).await?;
    let change = Change::deleted(Action::RoleDelete, &resource, &stored.record)
        .comment(query.comment.as_deref());
    ctx.delete_record(GLOBAL, &stored, change).await
}
