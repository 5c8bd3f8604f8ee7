//! API tokens (optionally scoped narrower than their owner) and sign-in with a password.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use switchyard_store::Expected;

use super::ctx::{Body, Change, CommentQuery, Ctx, Deleted};
use super::roles::check_statements;
use crate::access::resources as res;
use crate::access::{AccountRecord, Action, Event, Statement, TokenRecord, verify_password};
use crate::clock::now_ms;
use crate::error::{ApiError, ApiResult, Code};
use crate::records::{self, GLOBAL, Record};
use crate::state::AppState;

#[derive(Debug, Deserialize, JsonSchema, Serialize)]
pub struct TokenInput {
    pub name: String,
    /// Whose token it is; defaults to the caller's account.
    #[serde(default)]
    pub account: Option<String>,
    /// Narrows the owner's permissions (it can never widen them).
    #[serde(default)]
    pub statements: Option<Vec<Statement>>,
    #[serde(default)]
    pub expires_in_days: Option<u32>,
    #[serde(default)]
    pub comment: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema, Deserialize)]
pub struct TokenView {
    pub id: String,
    pub name: String,
    pub account: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statements: Option<Vec<Statement>>,
    pub created_at_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<i64>,
    /// The secret, present only in the response that creates it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

fn token_view(record: TokenRecord, plaintext: Option<String>) -> TokenView {
    TokenView {
        id: record.id,
        name: record.name,
        account: record.account,
        statements: record.statements,
        created_at_ms: record.created_at_ms,
        expires_at_ms: record.expires_at_ms,
        token: plaintext,
    }
}

impl Ctx {
    /// Managing your own tokens needs no role, unless the calling token is scoped (a narrowed
    /// token must not mint a wider one); anyone else's needs `action` on them.
    async fn authorize_token(&self, action: Action, account: &str, id: &str) -> ApiResult<()> {
        let resource = res::token(account, id);
        if account == self.caller.account && self.caller.scope_allows(action, &resource) {
            return Ok(());
        }
        self.authorize(action, &resource).await
    }
}

pub(super) async fn list_tokens(ctx: Ctx) -> ApiResult<Json<Vec<TokenView>>> {
    let mut views = Vec::new();
    for stored in records::list::<TokenRecord>(&ctx.state.store, GLOBAL).await? {
        let record = stored.record;
        let resource = res::token(&record.account, &record.id);
        let own = record.account == ctx.caller.account
            && ctx.caller.scope_allows(Action::TokenRead, &resource);
        if own || ctx.allows(Action::TokenRead, &resource) {
            views.push(token_view(record, None));
        }
    }
    Ok(Json(views))
}

pub(super) async fn create_token(
    ctx: Ctx,
    Body(input): Body<TokenInput>,
) -> ApiResult<(StatusCode, Json<TokenView>)> {
    let account = input
        .account
        .clone()
        .unwrap_or_else(|| ctx.caller.account.clone());
    ctx.authorize_token(Action::TokenCreate, &account, "*")
        .await?;
    let store = &ctx.state.store;
    if store
        .get(AccountRecord::KIND, GLOBAL, &account)
        .await?
        .is_none()
    {
        return Err(ApiError::invalid(
            "account",
            format!("no account named {account:?}"),
        ));
    }
    if let Some(statements) = &input.statements {
        check_statements(statements)?;
    }
    let (record, plaintext) = TokenRecord::mint(
        &account,
        &input.name,
        input.statements,
        input.expires_in_days,
    );
    let resource = res::token(&account, &record.id);
    let change = Change::created(
        Action::TokenCreate,
        &resource,
        &token_view(record.clone(), None),
    )
    .comment(input.comment.as_deref());
    ctx.write_record((GLOBAL, &record.id), &record, Expected::Absent, change)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(token_view(record, Some(plaintext))),
    ))
}

pub(super) async fn delete_token(
    ctx: Ctx,
    Path(id): Path<String>,
    Query(query): Query<CommentQuery>,
) -> ApiResult<Json<Deleted>> {
    let stored = ctx
        .load_or_404::<TokenRecord>(GLOBAL, &id, || format!("token {id:?}"))
        .await?;
    let account = &stored.record.account;
    ctx.authorize_token(Action::TokenDelete, account, &id)
        .await?;
    let resource = res::token(account, &id);
    let change = Change::deleted(
        Action::TokenDelete,
        &resource,
        &token_view(stored.record.clone(), None),
    )
    .comment(query.comment.as_deref());
    ctx.delete_record(GLOBAL, &stored, change).await
}

#[derive(Debug, Deserialize, JsonSchema, Serialize)]
pub struct SignInInput {
    pub account: String,
    pub password: String,
    /// A name for the token this creates.
    #[serde(default)]
    pub token_name: Option<String>,
    #[serde(default)]
    pub expires_in_days: Option<u32>,
}

/// Exchanges a password for a new token (for the CLI and the console). Failures are audited.
pub(super) async fn sign_in(
    State(state): State<Arc<AppState>>,
    Body(input): Body<SignInInput>,
) -> ApiResult<(StatusCode, Json<TokenView>)> {
    let account = records::get::<AccountRecord>(&state.store, GLOBAL, &input.account).await?;
    let valid = account.is_some_and(|stored| {
        let account = stored.record;
        !account.disabled
            && account
                .password_hash
                .as_deref()
                .is_some_and(|hash| verify_password(&input.password, hash))
    });
    let resource = res::account(&input.account);
    let actor = serde_json::json!({"kind": "account", "id": input.account});
    let audit = |outcome: &str, after| switchyard_store::AuditRecord {
        at_ms: now_ms(),
        actor: actor.clone(),
        action: Event::SignIn.as_str().into(),
        resource: resource.clone(),
        outcome: outcome.into(),
        before: None,
        after,
        comment: None,
        request_id: Some(crate::error::current_request_id()),
    };
    if !valid {
        state.store.commit(&[], &audit("denied", None)).await?;
        return Err(ApiError::new(
            Code::Unauthorized,
            "unknown account or wrong password",
        ));
    }
    let name = input.token_name.unwrap_or_else(|| "sign-in".into());
    let (token, plaintext) = TokenRecord::mint(
        &input.account,
        &name,
        None,
        Some(input.expires_in_days.unwrap_or(30)),
    );
    let write = records::put(GLOBAL, &token.id, &token, Expected::Absent);
    state
        .store
        .commit(
            &[write],
            &audit(
                "allowed",
                Some(records::encode(&token_view(token.clone(), None))),
            ),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(token_view(token, Some(plaintext))),
    ))
}
