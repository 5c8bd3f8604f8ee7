//! Accounts: people who sign in, with their roles.

use axum::Json;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use switchyard_store::{Document, Expected, Write};

use super::ctx::{Body, Change, Ctx, Deleted, check_key};
use super::projects::{CommentQuery, already_exists};
use crate::access::Action;
use crate::access::builtin_role;
use crate::access::resources as res;
use crate::access::{AccountRecord, TokenRecord, hash_password};
use crate::clock::now_ms;
use crate::error::{ApiError, ApiResult, Code};
use crate::records;

const MIN_PASSWORD_CHARS: usize = 12;

#[derive(Debug, Deserialize, JsonSchema, Serialize)]
pub struct AccountInput {
    #[serde(default)]
    pub name: String,
    /// At least 12 characters; stored only as an Argon2id hash. Absent on update keeps it.
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub disabled: bool,
    #[serde(default)]
    pub version: Option<i64>,
    #[serde(default)]
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

/// The audit log never sees a password hash.
fn account_audit(record: &AccountRecord) -> serde_json::Value {
    records::encode(&account_view(record, 0))
}

async fn check_roles(ctx: &Ctx, roles: &[String]) -> ApiResult<()> {
    for (i, role) in roles.iter().enumerate() {
        if builtin_role(role).is_none() && ctx.state.store.get("role", "", role).await?.is_none() {
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
    let mut views = Vec::new();
    for doc in ctx.state.store.list("account", "").await? {
        if ctx.allows(Action::AccountRead, &res::account(&doc.key)) {
            views.push(account_view(&records::parse(&doc)?, doc.version));
        }
    }
    Ok(Json(views))
}

pub(super) async fn get_account(
    ctx: Ctx,
    Path(name): Path<String>,
) -> ApiResult<Json<AccountView>> {
    if name != ctx.caller.account {
        ctx.authorize(Action::AccountRead, &res::account(&name))
            .await?;
    }
    let doc = load_account(&ctx, &name).await?;
    Ok(Json(account_view(&records::parse(&doc)?, doc.version)))
}

async fn load_account(ctx: &Ctx, name: &str) -> ApiResult<Document> {
    ctx.state
        .store
        .get("account", "", name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("account {name:?}")))
}

pub(super) async fn create_account(
    ctx: Ctx,
    Body(input): Body<AccountInput>,
) -> ApiResult<(StatusCode, Json<AccountView>)> {
    check_key("name", &input.name)?;
    let resource = res::account(&input.name);
    ctx.authorize(Action::AccountCreate, &resource).await?;
    check_roles(&ctx, &input.roles).await?;
    let record = AccountRecord {
        password_hash: input.password.as_deref().map(check_password).transpose()?,
        name: input.name,
        roles: input.roles,
        disabled: input.disabled,
        created_at_ms: now_ms(),
    };
    let write = Write::Put {
        kind: "account".into(),
        scope: String::new(),
        key: record.name.clone(),
        body: records::encode(&record),
        expected: Expected::Absent,
    };
    let change = Change {
        action: Action::AccountCreate.as_str(),
        resource: &resource,
        before: None,
        after: Some(account_audit(&record)),
        comment: input.comment.as_deref(),
    };
    ctx.commit(&[write], change).await.map_err(already_exists)?;
    Ok((StatusCode::CREATED, Json(account_view(&record, 1))))
}

pub(super) async fn update_account(
    ctx: Ctx,
    Path(name): Path<String>,
    Body(input): Body<AccountInput>,
) -> ApiResult<Json<AccountView>> {
    let resource = res::account(&name);
    ctx.authorize(Action::AccountUpdate, &resource).await?;
    let precondition = ctx.expected_version(input.version)?;
    let doc = load_account(&ctx, &name).await?;
    let expected = precondition.check(doc.version)?;
    let before: AccountRecord = records::parse(&doc)?;
    check_roles(&ctx, &input.roles).await?;
    let record = AccountRecord {
        password_hash: match input.password.as_deref() {
            Some(password) => Some(check_password(password)?),
            None => before.password_hash.clone(),
        },
        roles: input.roles,
        disabled: input.disabled,
        ..before.clone()
    };
    let write = Write::Put {
        kind: "account".into(),
        scope: String::new(),
        key: name,
        body: records::encode(&record),
        expected,
    };
    let change = Change {
        action: Action::AccountUpdate.as_str(),
        resource: &resource,
        before: Some(account_audit(&before)),
        after: Some(account_audit(&record)),
        comment: input.comment.as_deref(),
    };
    let committed = ctx.commit(&[write], change).await?;
    Ok(Json(account_view(&record, committed.versions[0])))
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
    let doc = load_account(&ctx, &name).await?;
    let mut writes = vec![Write::Delete {
        kind: "account".into(),
        scope: String::new(),
        key: name.clone(),
        expected: Expected::Version(doc.version),
    }];
    for token in ctx.state.store.list("token", "").await? {
        if records::parse::<TokenRecord>(&token)?.account == name {
            writes.push(Write::Delete {
                kind: "token".into(),
                scope: String::new(),
                key: token.key,
                expected: Expected::Version(token.version),
            });
        }
    }
    let change = Change {
        action: Action::AccountDelete.as_str(),
        resource: &resource,
        before: Some(account_audit(&records::parse(&doc)?)),
        after: None,
        comment: query.comment.as_deref(),
    };
    ctx.commit(&writes, change).await?;
    Ok(Json(Deleted { deleted: resource }))
}
