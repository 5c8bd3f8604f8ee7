//! API tokens (optionally scoped narrower than their owner) and sign-in with a password.

use axum::Json;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{Extensions, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchyard_store::Expected;

use super::ctx::{Body, Change, CommentQuery, Ctx, Deleted};
use super::roles::check_statements;
use crate::access::resources as res;
use crate::access::{
    AccountRecord, Action, Effect, Event, SIGN_IN_TOKEN_DAYS, Statement, TokenRecord,
    verify_password_or_dummy,
};
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
    /// Narrows the owner's permissions (it can never widen them). Required unless `unscoped`.
    #[serde(default)]
    pub statements: Option<Vec<Statement>>,
    /// `true` gives the token all of its owner's rights; it must be said, so a misspelt or
    /// forgotten `statements` never creates an all-powerful token.
    #[serde(default)]
    pub unscoped: bool,
    /// Days until it expires: 1 to the server's maximum token lifetime (90 days unless
    /// configured); absent, the maximum.
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
    match (&input.statements, input.unscoped) {
        (Some(statements), false) => check_statements(statements)?,
        (None, true) => {}
        (Some(_), true) => {
            return Err(ApiError::invalid(
                "unscoped",
                "a token is either scoped by `statements` or `unscoped`, not both",
            ));
        }
        (None, false) => {
            return Err(ApiError::invalid(
                "statements",
                "say what the token may do: `statements`, or `\"unscoped\": true` for all of \
                 its owner's rights",
            ));
        }
    }
    // A scoped token mints nothing wider than itself: the new token's scope must be its own
    // allow statements (some of them) with all of its denies, never unscoped.
    if let Some(scope) = ctx.caller.scope()
        && !within_scope(input.statements.as_deref(), scope)
    {
        return Err(ctx
            .deny(Action::TokenCreate, &res::token(&account, "*"))
            .await);
    }
    // Every token expires: absent, the server's maximum lifetime; longer is refused. A token
    // minted from a single sign-on session (or from a token minted so) lives at most what the
    // SSO policy gives machine tokens, and stays marked so it cannot mint a longer-lived one.
    let sso = sso_minted(&ctx).await?;
    let mut access = ctx.state.access.clone();
    if let (Some(_), Some(oidc)) = (&sso, &access.oidc) {
        access.max_token_lifetime_days = access
            .max_token_lifetime_days
            .min(oidc.config.machine_token_max_days);
    }
    let days = access
        .token_days(input.expires_in_days, access.max_token_lifetime_days)
        .map_err(|message| ApiError::invalid("expires_in_days", message))?;
    let (mut record, plaintext) =
        TokenRecord::mint(&account, &input.name, input.statements, Some(days));
    record.via = sso;
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

/// `Some("oidc-machine")` when the calling token came from a single sign-on session, directly
/// or through tokens minted from one.
async fn sso_minted(ctx: &Ctx) -> ApiResult<Option<String>> {
    let token = records::get::<TokenRecord>(&ctx.state.store, GLOBAL, &ctx.caller.token_id).await?;
    let via = token.and_then(|token| token.record.via);
    Ok(via
        .filter(|via| via.starts_with("oidc"))
        .map(|_| "oidc-machine".to_owned()))
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
    /// Days until the token expires: 1 to the server's maximum; absent, 7 (or the maximum,
    /// if lower).
    #[serde(default)]
    pub expires_in_days: Option<u32>,
}

/// Exchanges a password for a new token (for the CLI and the console). Throttled per account
/// and per client address (`access::SignInThrottle`); an unknown account costs the same
/// Argon2 verification as a known one and answers the same `401`. Failure audit records are
/// bounded (the first of an account's window, within a server-wide budget; a lockout once),
/// and written off the request's path so their cost does not time the answer.
pub(super) async fn sign_in(
    State(state): State<Arc<AppState>>,
    extensions: Extensions,
    Body(input): Body<SignInInput>,
) -> Result<(StatusCode, Json<TokenView>), Response> {
    let address = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip());
    if !state.access.local_passwords {
        return Err(ApiError::new(
            Code::Forbidden,
            "sign-in with a password is turned off on this server: sign in with single sign-on",
        )
        .into_response());
    }
    let days = state
        .access
        .token_days(input.expires_in_days, SIGN_IN_TOKEN_DAYS)
        .map_err(|message| ApiError::invalid("expires_in_days", message).into_response())?;
    let now = Instant::now();
    // Held until the answer: parallel guesses count against the limits while in flight.
    let _attempt = state
        .sign_in
        .check(&input.account, address, now)
        .map_err(rate_limited)?;
    let account = records::get::<AccountRecord>(&state.store, GLOBAL, &input.account)
        .await
        .map_err(IntoResponse::into_response)?;
    let exists = account.is_some();
    let hash = account
        .map(|stored| stored.record)
        .filter(|account| !account.disabled)
        .and_then(|account| account.password_hash);
    let valid = verify_password_or_dummy(&input.password, hash.as_deref());
    let audit = SignInAudit {
        account: input.account.clone(),
        request_id: crate::error::current_request_id(),
    };
    if !valid {
        let failure = state.sign_in.failed(&input.account, address, now, exists);
        if failure.audit {
            audit.write_later(&state, Event::SignIn, None);
        }
        if let Some(locked_for) = failure.locked_for
            && (exists || state.sign_in.take_audit_budget(now))
        {
            let after = serde_json::json!({
                "locked_for_seconds": locked_for.as_secs(),
                "failures": state.sign_in.limits().account_failures,
            });
            audit.write_later(&state, Event::SignInLockout, Some(after));
        }
        return Err(
            ApiError::new(Code::Unauthorized, "unknown account or wrong password").into_response(),
        );
    }
    state.sign_in.succeeded(&input.account);
    let name = input.token_name.unwrap_or_else(|| "sign-in".into());
    let (token, plaintext) = TokenRecord::mint(&input.account, &name, None, Some(days));
    let write = records::put(GLOBAL, &token.id, &token, Expected::Absent);
    let after = records::encode(&token_view(token.clone(), None));
    state
        .store
        .commit(
            &[write],
            &audit.record(Event::SignIn, "allowed", Some(after)),
        )
        .await
        .map_err(|error| ApiError::from(error).into_response())?;
    Ok((
        StatusCode::CREATED,
        Json(token_view(token, Some(plaintext))),
    ))
}

/// `429 rate_limited` with `Retry-After` (whole seconds, at least one).
fn rate_limited(wait: Duration) -> Response {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let mut response =
        ApiError::new(Code::RateLimited, "too many failed sign-ins; retry later").into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    response
}

/// The audit records of one sign-in attempt.
struct SignInAudit {
    account: String,
    request_id: String,
}

impl SignInAudit {
    fn record(
        &self,
        event: Event,
        outcome: &str,
        after: Option<serde_json::Value>,
    ) -> switchyard_store::AuditRecord {
        switchyard_store::AuditRecord {
            at_ms: now_ms(),
            actor: serde_json::json!({"kind": "account", "id": self.account}),
            action: event.as_str().into(),
            resource: res::account(&self.account),
            outcome: outcome.into(),
            before: None,
            after,
            comment: None,
            request_id: Some(self.request_id.clone()),
        }
    }

    /// A refusal's audit record, written by a background task.
    fn write_later(&self, state: &AppState, event: Event, after: Option<serde_json::Value>) {
        let record = self.record(event, "denied", after);
        let store = state.store.clone();
        let pending = state.sign_in.audit_started();
        state.tasks.spawn(async move {
            let _pending = pending;
            if let Err(error) = store.commit(&[], &record).await {
                tracing::warn!(%error, action = %record.action, "sign-in audit record not written");
            }
        });
    }
}

/// Whether a token scoped by `wanted` can do no more than one scoped by `scope`: each of its
/// allow statements is one of `scope`'s, and it keeps every one of `scope`'s denies and
/// approval requirements (which only ever narrow).
fn within_scope(wanted: Option<&[Statement]>, scope: &[Statement]) -> bool {
    let Some(wanted) = wanted else {
        return false;
    };
    wanted
        .iter()
        .all(|statement| statement.effect != Effect::Allow || scope.contains(statement))
        && scope
            .iter()
            .filter(|statement| statement.effect != Effect::Allow)
            .all(|narrowing| wanted.contains(narrowing))
}
