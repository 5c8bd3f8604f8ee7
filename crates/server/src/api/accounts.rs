//! Accounts: people who sign in, with their roles.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use switchyard_store::Expected;

use super::ctx::{Body, Change, CommentQuery, Ctx, Deleted, check_key};
use super::query::Query;
use crate::access::resources as res;
use crate::access::{AccountRecord, Action, RoleRecord, TokenRecord, builtin_role, hash_password};
use crate::clock::now_ms;
use crate::error::{ApiError, ApiResult, Code};
use crate::records::{self, GLOBAL, Record, Versioned};

const MIN_PASSWORD_CHARS: usize = 12;

#[derive(Debug, Default, Deserialize, JsonSchema, Serialize)]
#[serde(default)]
pub struct AccountInput {
    pub name: String,
    /// At least 12 characters; stored only as an Argon2id hash. Absent on update keeps it.
    pub password: Option<String>,
    /// Absent on update keeps the account's roles (an update names only what it changes).
    pub roles: Option<Vec<String>>,
    /// Absent on update keeps the account's state.
    pub disabled: Option<bool>,
    pub version: Option<i64>,
    pub comment: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema, Deserialize)]
pub struct AccountView {
    pub name: String,
    pub roles: Vec<String>,
    pub disabled: bool,
    pub has_password: bool,
    pub version: i64,
}

fn account_view(record: &AccountRecord, version: i64) -> AccountView {
    AccountView {
        name: record.name.clone(),
        roles: record.roles.clone(),
        disabled: record.disabled,
        has_password: record.password_hash.is_some(),
        version,
    }
}

/// An account as the audit log sees it: never with its password hash.
fn audited(record: &AccountRecord) -> AccountView {
    account_view(record, 0)
}

async fn check_roles(ctx: &Ctx, roles: &[String]) -> ApiResult<()> {
    for (i, role) in roles.iter().enumerate() {
        if builtin_role(role).is_none()
            && ctx
                .state
                .store
                .get(RoleRecord::KIND, GLOBAL, role)
                .await?
                .is_none()
        {
            return Err(ApiError::invalid(
                format!("roles[{i}]"),
                format!("no role named {role:?}"),
            ));
        }
    }
    Ok(())
}

fn check_password(password: &str) -> ApiResult<String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(ApiError::invalid(
            "password",
            format!("passwords need at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    hash_password(password)
}

pub(super) async fn list_accounts(ctx: Ctx) -> ApiResult<Json<Vec<AccountView>>> {
    let readable = ctx
        .list_allowed(GLOBAL, Action::AccountRead, res::account)
        .await?;
    Ok(Json(readable.iter().map(stored_view).collect()))
}

pub(super) async fn get_account(
    ctx: Ctx,
    Path(name): Path<String>,
) -> ApiResult<Json<AccountView>> {
    if name != ctx.caller.account {
        ctx.authorize(Action::AccountRead, &res::account(&name))
            .await?;
    }
    Ok(Json(stored_view(&load_account(&ctx, &name).await?)))
}

fn stored_view(stored: &Versioned<AccountRecord>) -> AccountView {
    account_view(&stored.record, stored.version)
}

async fn load_account(ctx: &Ctx, name: &str) -> ApiResult<Versioned<AccountRecord>> {
    ctx.load_or_404(GLOBAL, name, || format!("account {name:?}"))
        .await
}

pub(super) async fn create_account(
    ctx: Ctx,
    Body(input): Body<AccountInput>,
) -> ApiResult<(StatusCode, Json<AccountView>)> {
    check_key("name", &input.name)?;
    let resource = res::account(&input.name);
    ctx.authorize(Action::AccountCreate, &resource).await?;
    let roles = input.roles.unwrap_or_default();
    check_roles(&ctx, &roles).await?;
    let record = AccountRecord {
        password_hash: input.password.as_deref().map(check_password).transpose()?,
        name: input.name,
        roles,
        disabled: input.disabled.unwrap_or(false),
        created_at_ms: now_ms(),
        sso_subject: None,
    };
    let change = Change::created(Action::AccountCreate, &resource, &audited(&record))
        .comment(input.comment.as_deref());
    ctx.create_record((GLOBAL, &record.name), &record, change)
        .await?;
    Ok((StatusCode::CREATED, Json(account_view(&record, 1))))
}

pub(super) async fn update_account(
    ctx: Ctx,
    Path(name): Path<String>,
    Body(input): Body<AccountInput>,
) -> ApiResult<Json<AccountView>> {
    let resource = res::account(&name);
    ctx.authorize(Action::AccountUpdate, &resource).await?;
    let (before, expected) = ctx
        .load_for_update(input.version, load_account(&ctx, &name))
        .await?;
    let roles = input.roles.unwrap_or_else(|| before.roles.clone());
    check_roles(&ctx, &roles).await?;
    let record = AccountRecord {
        password_hash: match input.password.as_deref() {
            Some(password) => Some(check_password(password)?),
            None => before.password_hash.clone(),
        },
        roles,
        disabled: input.disabled.unwrap_or(before.disabled),
        ..before.clone()
    };
    let change = Change::updated(
        Action::AccountUpdate,
        &resource,
        &audited(&before),
        &audited(&record),
    )
    .comment(input.comment.as_deref());
    let version = ctx
        .write_record((GLOBAL, &name), &record, expected, change)
        .await?;
    Ok(Json(account_view(&record, version)))
}

pub(super) async fn delete_account(
    ctx: Ctx,
    Path(name): Path<String>,
    Query(query): Query<CommentQuery>,
) -> ApiResult<Json<Deleted>> {
    let resource = res::account(&name);
    ctx.authorize(Action::AccountDelete, &resource).await?;
    if name == ctx.caller.account {
        return Err(ApiError::new(
            Code::Conflict,
            "you cannot delete your own account",
        ));
    }
    let stored = load_account(&ctx, &name).await?;
    let mut writes = vec![records::delete::<AccountRecord>(
        GLOBAL,
        &name,
        Expected::Version(stored.version),
    )];
    // The account's tokens go with it.
    for token in records::list::<TokenRecord>(&ctx.state.store, GLOBAL).await? {
        if token.record.account == name {
            writes.push(records::delete::<TokenRecord>(
                GLOBAL,
                &token.key,
                Expected::Version(token.version),
            ));
        }
    }
    let change = Change::deleted(Action::AccountDelete, &resource, &audited(&stored.record))
        .comment(query.comment.as_deref());
    ctx.commit_deletion(&writes, change).await
}
