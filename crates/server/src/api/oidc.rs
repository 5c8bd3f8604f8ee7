//! Single sign-on routes (docs/security.md, "Single sign-on"): `GET /auth/oidc` says whether it
//! is configured, `/auth/oidc/start` sends the browser to the provider with a fresh flow, and
//! `/auth/oidc/callback` takes the provider's code back, exchanges it (client authentication
//! and PKCE), verifies the ID token, maps the person's groups to roles, and hands the console a
//! session token in the URL's fragment (never sent to a server, so never in a request log).
//! Every refusal is an audited `account:sign-in` denial naming its reason.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use switchyard_store::{AuditRecord, Expected, StoreError, Write};

use super::ctx::check_key;
use crate::access::oidc::{self, FLOW_COOKIE, FLOW_LIFETIME, Flow, Oidc};
use crate::access::resources as res;
use crate::access::{AccountRecord, Event, TokenRecord};
use crate::clock::now_ms;
use crate::error::{ApiError, Code, current_request_id};
use crate::records::{self, GLOBAL, Record};
use crate::state::AppState;

/// The console's routes for signing in with the provider (beside the `routes!` table: they
/// answer browsers with redirects, not JSON bodies).
pub(super) fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/auth/oidc", get(settings))
        .route("/auth/oidc/start", get(start))
        .route("/auth/oidc/callback", get(callback))
        .route("/auth/oidc/console.js", get(console_script))
}

/// The console's part (loaded by its page before `app.js`).
async fn console_script() -> Response {
    let mut response = include_str!("../../console/sso.js").into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// That a flow's state was used: a second callback with it is a replay.
#[derive(Debug, Serialize, Deserialize)]
struct UsedFlow {
    expires_at_ms: i64,
}

impl Record for UsedFlow {
    const KIND: &'static str = "oidc_flow";
}

/// What the console's sign-in page offers.
async fn settings(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({
        "sso": state.access.oidc.is_some(),
        "local_passwords": state.access.local_passwords,
    }))
}

fn configured(state: &AppState) -> Result<Arc<Oidc>, ApiError> {
    state
        .access
        .oidc
        .clone()
        .ok_or_else(|| ApiError::new(Code::NotFound, "single sign-on is not configured"))
}

fn now_s() -> i64 {
    now_ms() / 1000
}

async fn start(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let oidc = configured(&state)?;
    let endpoints = oidc.endpoints().await.map_err(|error| {
        tracing::warn!(error = %error.0, "cannot reach the OpenID provider");
        ApiError::new(Code::Unavailable, "the identity provider cannot be reached")
    })?;
    let config = &oidc.config;
    let flow = Flow::start(now_s());
    let secret = config.client_secret.as_str();
    let mut url = reqwest::Url::parse(&endpoints.authorization_endpoint)
        .map_err(|e| ApiError::internal(format!("authorization_endpoint: {e}")))?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &config.client_id)
        .append_pair("redirect_uri", &config.redirect_url)
        .append_pair("scope", &config.scopes)
        .append_pair("state", &flow.state)
        .append_pair("nonce", &flow.nonce(secret))
        .append_pair("code_challenge", &flow.challenge(secret))
        .append_pair("code_challenge_method", "S256");
    let cookie = flow_cookie(config, &flow.seal(secret), FLOW_LIFETIME.as_secs());
    Ok(redirect(url.as_str(), &cookie))
}

/// `Set-Cookie` for the flow: only for the callback's path, not readable by scripts, sent on
/// the provider's top-level redirect back (Lax), secure when the callback is.
fn flow_cookie(config: &oidc::OidcConfig, value: &str, max_age: u64) -> String {
    let secure = if config.redirect_url.starts_with("https:") {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{FLOW_COOKIE}={value}; Path=/api/v1/auth/oidc; Max-Age={max_age}; HttpOnly; \
         SameSite=Lax{secure}"
    )
}

fn redirect(location: &str, cookie: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(location) {
        headers.insert(header::LOCATION, location);
    }
    if let Ok(cookie) = HeaderValue::from_str(cookie) {
        headers.insert(header::SET_COOKIE, cookie);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    response
}

/// A refused sign-in: why (the audit record's `reason`), and who, as far as is known.
struct Refused {
    reason: &'static str,
    message: String,
    account: Option<String>,
    subject: Option<String>,
}

impl Refused {
    fn new(reason: &'static str, message: impl Into<String>) -> Refused {
        Refused {
            reason,
            message: message.into(),
            account: None,
            subject: None,
        }
    }
}

async fn callback(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let oidc = configured(&state)?;
    let clear = flow_cookie(&oidc.config, "", 0);
    match finish(&state, &oidc, &headers, &query).await {
        Ok((token, account)) => {
            let fragment = format!("/#sso-token={token}&account={account}");
            Ok(redirect(&fragment, &clear))
        }
        Err(refused) => {
            audit_refusal(&state, &oidc, &refused).await;
            let mut response = ApiError::new(
                Code::Unauthorized,
                format!("single sign-on refused: {}", refused.message),
            )
            .into_response();
            if let Ok(cookie) = HeaderValue::from_str(&clear) {
                response.headers_mut().insert(header::SET_COOKIE, cookie);
            }
            Ok(response)
        }
    }
}

/// The flow this browser started, checked against the callback's `state`.
fn flow_of(oidc: &Oidc, headers: &HeaderMap, state: Option<&String>) -> Result<Flow, Refused> {
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == FLOW_COOKIE)
        .map(|(_, value)| value);
    let flow = cookie
        .and_then(|cookie| Flow::open(cookie, &oidc.config.client_secret, now_s()))
        .ok_or_else(|| {
            Refused::new(
                "state",
                "no sign-in in progress in this browser, or it took longer than 10 minutes",
            )
        })?;
    if state.is_none_or(|state| !crate::access::same_secret(state, &flow.state)) {
        return Err(Refused::new(
            "state",
            "the provider answered for another sign-in",
        ));
    }
    Ok(flow)
}

/// Everything after the provider's redirect: a session token and its account, or why not.
async fn finish(
    state: &AppState,
    oidc: &Oidc,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> Result<(String, String), Refused> {
    let flow = flow_of(oidc, headers, query.get("state"))?;
    if let Some(error) = query.get("error") {
        let detail = query.get("error_description").map_or("", String::as_str);
        return Err(Refused::new(
            "provider_error",
            format!("the identity provider answered {error}: {detail}"),
        ));
    }
    let store = &state.store;
    let used = records::get::<UsedFlow>(store, GLOBAL, &flow.used_key()).await;
    if used
        .map_err(|e| Refused::new("store", e.message))?
        .is_some()
    {
        return Err(replayed());
    }
    let code = query
        .get("code")
        .ok_or_else(|| Refused::new("code_exchange", "the provider's answer has no code"))?;
    let config = &oidc.config;
    let secret = config.client_secret.as_str();
    let id_token = oidc
        .exchange_code(code, &flow.verifier(secret))
        .await
        .map_err(|error| Refused::new("code_exchange", error.0))?;
    let nonce = flow.nonce(secret);
    let expected = oidc::Expected {
        issuer: &config.issuer,
        client_id: &config.client_id,
        nonce: &nonce,
        now: now_s(),
    };
    let claims = oidc
        .verify_id_token(&id_token, expected)
        .await
        .map_err(|refusal| Refused::new(refusal.reason(), refusal.message()))?;
    let subject = claims["sub"].as_str().map(str::to_owned);
    let identified = |mut refused: Refused, account: Option<&str>| {
        refused.subject.clone_from(&subject);
        refused.account = account.map(str::to_owned);
        refused
    };
    let Some(name) = claims.get(&config.username_claim).and_then(Value::as_str) else {
        let message = format!("the ID token has no {:?} claim", config.username_claim);
        return Err(identified(Refused::new("username", message), None));
    };
    if let Err(error) = check_key(&config.username_claim, name) {
        return Err(identified(Refused::new("username", error.message), None));
    }
    let refuse = |reason, message: &str| identified(Refused::new(reason, message), Some(name));
    let stored = records::get::<AccountRecord>(store, GLOBAL, name)
        .await
        .map_err(|e| Refused::new("store", e.message))?;
    let mapped = config.roles_of(&claims);
    // The identity, not the name, decides whose account it is: a name is a claim a person
    // may be able to change at their provider.
    let Some(sub) = subject.as_deref() else {
        return Err(refuse("subject", "the ID token has no sub claim"));
    };
    let identity = format!("{} {sub}", config.issuer);
    let (account, expected) = match stored {
        Some(stored) if stored.record.disabled => {
            return Err(refuse("account_disabled", "the account is disabled"));
        }
        Some(stored) if stored.record.password_hash.is_some() => {
            return Err(refuse(
                "local_account",
                "the account signs in with a password: single sign-on never takes over a \
                 local account",
            ));
        }
        Some(stored)
            if stored
                .record
                .sso_subject
                .as_ref()
                .is_some_and(|linked| *linked != identity) =>
        {
            return Err(refuse(
                "other_identity",
                "the account belongs to another identity at the provider",
            ));
        }
        Some(stored) => {
            let account = AccountRecord {
                roles: mapped.unwrap_or_else(|| stored.record.roles.clone()),
                sso_subject: Some(identity),
                ..stored.record
            };
            (account, Expected::Version(stored.version))
        }
        None if !config.jit_accounts => {
            return Err(refuse(
                "no_account",
                "no account has this name (accounts are not created on sign-in)",
            ));
        }
        None => {
            let account = AccountRecord {
                name: name.to_owned(),
                password_hash: None,
                roles: mapped.unwrap_or_default(),
                disabled: false,
                created_at_ms: now_ms(),
                sso_subject: Some(identity),
            };
            (account, Expected::Absent)
        }
    };
    if account.roles.is_empty() {
        return Err(refuse(
            "no_role",
            "none of the person's groups maps to a role",
        ));
    }
    let session = sign_in(state, oidc, &flow, &account, expected, subject.as_deref()).await;
    session.map_err(|refused| identified(refused, Some(name)))
}

fn replayed() -> Refused {
    Refused::new("state_replayed", "this sign-in was already used")
}

/// One commit: the flow marked used, the account created or its roles brought in line with
/// the provider's groups, a session token, and the audit record of the sign-in.
async fn sign_in(
    state: &AppState,
    oidc: &Oidc,
    flow: &Flow,
    account: &AccountRecord,
    expected: Expected,
    subject: Option<&str>,
) -> Result<(String, String), Refused> {
    let store = &state.store;
    let now = now_ms();
    let (mut token, plaintext) = TokenRecord::mint(&account.name, "sso", None, None);
    let session_ms = i64::try_from(oidc.config.session.as_millis()).unwrap_or(i64::MAX);
    // From the token's own creation time: `now` was read before it, and a session then lived a
    // millisecond short of its configured length (a flaky test saw 3,599,999 ms).
    token.expires_at_ms = Some(token.created_at_ms.saturating_add(session_ms));
    token.via = Some("oidc".into());
    let used = UsedFlow {
        expires_at_ms: flow.expires_at * 1000,
    };
    let mut writes: Vec<Write> = vec![
        records::put(GLOBAL, &flow.used_key(), &used, Expected::Absent),
        records::put(GLOBAL, &account.name, account, expected),
        records::put(GLOBAL, &token.id, &token, Expected::Absent),
    ];
    // Markers of flows that can no longer be presented are dropped on the way.
    let markers = records::list::<UsedFlow>(store, GLOBAL).await;
    for marker in markers.into_iter().flatten() {
        if marker.record.expires_at_ms < now {
            let version = Expected::Version(marker.version);
            writes.push(records::delete::<UsedFlow>(GLOBAL, &marker.key, version));
        }
    }
    let after = json!({
        "via": "oidc",
        "issuer": oidc.config.issuer,
        "subject": subject,
        "roles": account.roles,
        "token": {"id": token.id, "name": token.name, "expires_at_ms": token.expires_at_ms},
    });
    let record = audit_record(oidc, &account.name, subject, "allowed", after);
    match store.commit(&writes, &record).await {
        Ok(_) => Ok((plaintext, account.name.clone())),
        Err(StoreError::Conflict { .. }) => Err(replayed()),
        Err(error) => Err(Refused::new("store", error.to_string())),
    }
}

fn audit_record(
    oidc: &Oidc,
    account: &str,
    subject: Option<&str>,
    outcome: &str,
    after: Value,
) -> AuditRecord {
    AuditRecord {
        at_ms: now_ms(),
        actor: json!({"kind": "oidc", "issuer": oidc.config.issuer, "subject": subject}),
        action: Event::SignIn.as_str().into(),
        resource: res::account(account),
        outcome: outcome.into(),
        before: None,
        after: Some(after),
        comment: None,
        request_id: Some(current_request_id()),
    }
}

/// Each refusal is audited with its reason; one whose account is unknown is filed under
/// `account/(sso)`. Refusals before the provider vouched for anyone (anybody can call the
/// callback) take from the server-wide budget of password sign-in failures for unknown names,
/// so they cannot flood the audit log; those of a person the provider named are always written.
async fn audit_refusal(state: &AppState, oidc: &Oidc, refused: &Refused) {
    if refused.subject.is_none() && !state.sign_in.take_audit_budget(std::time::Instant::now()) {
        tracing::warn!(
            reason = refused.reason,
            "single sign-on refused; not audited (over the budget)"
        );
        return;
    }
    let account = refused.account.as_deref().unwrap_or("(sso)");
    let after = json!({"via": "oidc", "reason": refused.reason, "message": refused.message});
    let record = audit_record(oidc, account, refused.subject.as_deref(), "denied", after);
    tracing::info!(reason = refused.reason, "single sign-on refused");
    if let Err(error) = state.store.commit(&[], &record).await {
        tracing::warn!(%error, "single sign-on refusal not audited");
    }
}
