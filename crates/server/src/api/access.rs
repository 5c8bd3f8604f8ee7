//! Accounts, roles, API tokens, SDK keys and sign-in.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use switchyard_store::{Document, Expected, Write};

use super::projects::{CommentQuery, already_exists, load_environment};
use super::{Body, Change, Ctx, Deleted, check_key, parse_doc, to_json};
use crate::AppState;
use crate::auth::{
    AccountRecord, CLIENT_KEY_PREFIX, RoleRecord, SERVER_KEY_PREFIX, TOKEN_PREFIX, TokenRecord,
    hash_password, new_secret, verify_password,
};
use crate::error::{ApiError, ApiResult, Code};
use crate::policy::{BUILTIN_ROLES, Statement, builtin_role};
use crate::resources::{self as res, env_scope};

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
    to_json(&account_view(record, 0))
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

pub async fn list_accounts(ctx: Ctx) -> ApiResult<Json<Vec<AccountView>>> {
    let mut views = Vec::new();
    for doc in ctx.state.store.list("account", "").await? {
        if ctx.allows("account:read", &res::account(&doc.key)) {
            views.push(account_view(&parse_doc(&doc)?, doc.version));
        }
    }
    Ok(Json(views))
}

pub async fn get_account(ctx: Ctx, Path(name): Path<String>) -> ApiResult<Json<AccountView>> {
    if name != ctx.caller.account {
        ctx.authorize("account:read", &res::account(&name)).await?;
    }
    let doc = load_account(&ctx, &name).await?;
    Ok(Json(account_view(&parse_doc(&doc)?, doc.version)))
}

async fn load_account(ctx: &Ctx, name: &str) -> ApiResult<Document> {
    ctx.state
        .store
        .get("account", "", name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("account {name:?}")))
}

pub async fn create_account(
    ctx: Ctx,
    Body(input): Body<AccountInput>,
) -> ApiResult<(StatusCode, Json<AccountView>)> {
    check_key("name", &input.name)?;
    let resource = res::account(&input.name);
    ctx.authorize("account:create", &resource).await?;
    check_roles(&ctx, &input.roles).await?;
    let record = AccountRecord {
        password_hash: input.password.as_deref().map(check_password).transpose()?,
        name: input.name,
        roles: input.roles,
        disabled: input.disabled,
        created_at_ms: crate::now_ms(),
    };
    let write = Write::Put {
        kind: "account".into(),
        scope: String::new(),
        key: record.name.clone(),
        body: to_json(&record),
        expected: Expected::Absent,
    };
    let change = Change {
        action: "account:create",
        resource: &resource,
        before: None,
        after: Some(account_audit(&record)),
        comment: input.comment.as_deref(),
    };
    ctx.commit(&[write], change).await.map_err(already_exists)?;
    Ok((StatusCode::CREATED, Json(account_view(&record, 1))))
}

pub async fn update_account(
    ctx: Ctx,
    Path(name): Path<String>,
    Body(input): Body<AccountInput>,
) -> ApiResult<Json<AccountView>> {
    let resource = res::account(&name);
    ctx.authorize("account:update", &resource).await?;
    let precondition = ctx.expected_version(input.version)?;
    let doc = load_account(&ctx, &name).await?;
    let expected = precondition.check(doc.version)?;
    let before: AccountRecord = parse_doc(&doc)?;
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
        body: to_json(&record),
        expected,
    };
    let change = Change {
        action: "account:update",
        resource: &resource,
        before: Some(account_audit(&before)),
        after: Some(account_audit(&record)),
        comment: input.comment.as_deref(),
    };
    let committed = ctx.commit(&[write], change).await?;
    Ok(Json(account_view(&record, committed.versions[0])))
}

pub async fn delete_account(
    ctx: Ctx,
    Path(name): Path<String>,
    Query(query): Query<CommentQuery>,
) -> ApiResult<Json<Deleted>> {
    let resource = res::account(&name);
    ctx.authorize("account:delete", &resource).await?;
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
        if parse_doc::<TokenRecord>(&token)?.account == name {
            writes.push(Write::Delete {
                kind: "token".into(),
                scope: String::new(),
                key: token.key,
                expected: Expected::Version(token.version),
            });
        }
    }
    let change = Change {
        action: "account:delete",
        resource: &resource,
        before: Some(account_audit(&parse_doc(&doc)?)),
        after: None,
        comment: query.comment.as_deref(),
    };
    ctx.commit(&writes, change).await?;
    Ok(Json(Deleted { deleted: resource }))
}

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

fn check_statements(statements: &[Statement]) -> ApiResult<()> {
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

pub async fn list_roles(ctx: Ctx) -> ApiResult<Json<Vec<RoleView>>> {
    let mut views: Vec<RoleView> = BUILTIN_ROLES
        .iter()
        .filter_map(|name| builtin_view(name))
        .collect();
    for doc in ctx.state.store.list("role", "").await? {
        views.push(role_view(parse_doc(&doc)?, doc.version));
    }
    views.retain(|role| ctx.allows("role:read", &res::role(&role.name)));
    Ok(Json(views))
}

pub async fn get_role(ctx: Ctx, Path(name): Path<String>) -> ApiResult<Json<RoleView>> {
    ctx.authorize("role:read", &res::role(&name)).await?;
    if let Some(view) = builtin_view(&name) {
        return Ok(Json(view));
    }
    let doc = load_role(&ctx, &name).await?;
    Ok(Json(role_view(parse_doc(&doc)?, doc.version)))
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

pub async fn create_role(
    ctx: Ctx,
    Body(input): Body<RoleInput>,
) -> ApiResult<(StatusCode, Json<RoleView>)> {
    check_key("name", &input.name)?;
    not_builtin(&input.name)?;
    let resource = res::role(&input.name);
    ctx.authorize("role:create", &resource).await?;
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
        body: to_json(&record),
        expected: Expected::Absent,
    };
    let change = Change {
        action: "role:create",
        resource: &resource,
        before: None,
        after: Some(to_json(&record)),
        comment: input.comment.as_deref(),
    };
    ctx.commit(&[write], change).await.map_err(already_exists)?;
    Ok((StatusCode::CREATED, Json(role_view(record, 1))))
}

pub async fn update_role(
    ctx: Ctx,
    Path(name): Path<String>,
    Body(input): Body<RoleInput>,
) -> ApiResult<Json<RoleView>> {
    not_builtin(&name)?;
    let resource = res::role(&name);
    ctx.authorize("role:update", &resource).await?;
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
        body: to_json(&record),
        expected,
    };
    let change = Change {
        action: "role:update",
        resource: &resource,
        before: Some(doc.body.clone()),
        after: Some(to_json(&record)),
        comment: input.comment.as_deref(),
    };
    let committed = ctx.commit(&[write], change).await?;
    Ok(Json(role_view(record, committed.versions[0])))
}

pub async fn delete_role(
    ctx: Ctx,
    Path(name): Path<String>,
    Query(query): Query<CommentQuery>,
) -> ApiResult<Json<Deleted>> {
    not_builtin(&name)?;
    let resource = res::role(&name);
    ctx.authorize("role:delete", &resource).await?;
    let doc = load_role(&ctx, &name).await?;
    ctx.delete_document(
        &doc,
        "role:delete",
        resource,
        doc.body.clone(),
        query.comment.as_deref(),
    )
    .await
}

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
    async fn authorize_token(&self, action: &str, account: &str, id: &str) -> ApiResult<()> {
        let resource = res::token(account, id);
        if account == self.caller.account && self.caller.scope_allows(action, &resource) {
            return Ok(());
        }
        self.authorize(action, &resource).await
    }
}

pub async fn list_tokens(ctx: Ctx) -> ApiResult<Json<Vec<TokenView>>> {
    let mut views = Vec::new();
    for doc in ctx.state.store.list("token", "").await? {
        let record: TokenRecord = parse_doc(&doc)?;
        let resource = res::token(&record.account, &record.id);
        let own = record.account == ctx.caller.account
            && ctx.caller.scope_allows("token:read", &resource);
        if own || ctx.allows("token:read", &resource) {
            views.push(token_view(record, None));
        }
    }
    Ok(Json(views))
}

pub async fn create_token(
    ctx: Ctx,
    Body(input): Body<TokenInput>,
) -> ApiResult<(StatusCode, Json<TokenView>)> {
    let account = input
        .account
        .clone()
        .unwrap_or_else(|| ctx.caller.account.clone());
    ctx.authorize_token("token:create", &account, "*").await?;
    if ctx
        .state
        .store
        .get("account", "", &account)
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
    let (record, plaintext) = mint_token(
        &account,
        &input.name,
        input.statements,
        input.expires_in_days,
    );
    let resource = res::token(&account, &record.id);
    let write = Write::Put {
        kind: "token".into(),
        scope: String::new(),
        key: record.id.clone(),
        body: to_json(&record),
        expected: Expected::Absent,
    };
    let change = Change {
        action: "token:create",
        resource: &resource,
        before: None,
        after: Some(to_json(&token_view(record.clone(), None))),
        comment: input.comment.as_deref(),
    };
    ctx.commit(&[write], change).await?;
    Ok((
        StatusCode::CREATED,
        Json(token_view(record, Some(plaintext))),
    ))
}

/// A new token record and its plaintext (to be shown once).
pub fn mint_token(
    account: &str,
    name: &str,
    statements: Option<Vec<Statement>>,
    expires_in_days: Option<u32>,
) -> (TokenRecord, String) {
    let secret = new_secret(TOKEN_PREFIX);
    let now = crate::now_ms();
    let record = TokenRecord {
        id: secret.id,
        name: name.to_owned(),
        account: account.to_owned(),
        secret_hash: secret.secret_hash,
        statements,
        created_at_ms: now,
        expires_at_ms: expires_in_days.map(|days| now + i64::from(days) * 86_400_000),
    };
    (record, secret.plaintext)
}

pub async fn delete_token(
    ctx: Ctx,
    Path(id): Path<String>,
    Query(query): Query<CommentQuery>,
) -> ApiResult<Json<Deleted>> {
    let doc = ctx
        .state
        .store
        .get("token", "", &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("token {id:?}")))?;
    let record: TokenRecord = parse_doc(&doc)?;
    ctx.authorize_token("token:delete", &record.account, &id)
        .await?;
    let resource = res::token(&record.account, &id);
    ctx.delete_document(
        &doc,
        "token:delete",
        resource,
        to_json(&token_view(record, None)),
        query.comment.as_deref(),
    )
    .await
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
pub async fn sign_in(
    State(state): State<Arc<AppState>>,
    Body(input): Body<SignInInput>,
) -> ApiResult<(StatusCode, Json<TokenView>)> {
    let record: Option<AccountRecord> = match state.store.get("account", "", &input.account).await?
    {
        Some(doc) => Some(parse_doc(&doc)?),
        None => None,
    };
    let valid = record.as_ref().is_some_and(|account| {
        !account.disabled
            && account
                .password_hash
                .as_deref()
                .is_some_and(|hash| verify_password(&input.password, hash))
    });
    let resource = res::account(&input.account);
    let actor = serde_json::json!({"kind": "account", "id": input.account});
    let audit = |outcome: &str, after| switchyard_store::AuditRecord {
        at_ms: crate::now_ms(),
        actor: actor.clone(),
        action: "account:sign-in".into(),
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
    let (token, plaintext) = mint_token(
        &input.account,
        &name,
        None,
        Some(input.expires_in_days.unwrap_or(30)),
    );
    let write = Write::Put {
        kind: "token".into(),
        scope: String::new(),
        key: token.id.clone(),
        body: to_json(&token),
        expected: Expected::Absent,
    };
    state
        .store
        .commit(
            &[write],
            &audit("allowed", Some(to_json(&token_view(token.clone(), None)))),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(token_view(token, Some(plaintext))),
    ))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SdkKeyKind {
    /// Full flag data, for server-side SDKs and relays.
    Server,
    /// Evaluation of client-visible flags only.
    Client,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SdkKeyRecord {
    pub id: String,
    pub name: String,
    pub kind: SdkKeyKind,
    pub secret_hash: String,
    pub created_at_ms: i64,
}

#[derive(Debug, Deserialize, JsonSchema, Serialize)]
pub struct SdkKeyInput {
    pub kind: SdkKeyKind,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub comment: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema, Deserialize)]
pub struct SdkKeyView {
    pub id: String,
    pub name: String,
    pub kind: SdkKeyKind,
    pub project: String,
    pub environment: String,
    pub created_at_ms: i64,
    /// The key itself, present only in the response that creates it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

fn sdk_key_view(project: &str, env: &str, record: SdkKeyRecord, key: Option<String>) -> SdkKeyView {
    SdkKeyView {
        id: record.id,
        name: record.name,
        kind: record.kind,
        project: project.to_owned(),
        environment: env.to_owned(),
        created_at_ms: record.created_at_ms,
        key,
    }
}

pub async fn list_sdk_keys(
    ctx: Ctx,
    Path((project, env)): Path<(String, String)>,
) -> ApiResult<Json<Vec<SdkKeyView>>> {
    ctx.authorize("sdk-key:read", &res::sdk_key(&project, &env, "*"))
        .await?;
    let docs = ctx
        .state
        .store
        .list("sdk_key", &env_scope(&project, &env))
        .await?;
    let views = docs
        .iter()
        .map(|doc| Ok(sdk_key_view(&project, &env, parse_doc(doc)?, None)))
        .collect::<ApiResult<_>>()?;
    Ok(Json(views))
}

pub async fn create_sdk_key(
    ctx: Ctx,
    Path((project, env)): Path<(String, String)>,
    Body(input): Body<SdkKeyInput>,
) -> ApiResult<(StatusCode, Json<SdkKeyView>)> {
    ctx.authorize("sdk-key:create", &res::sdk_key(&project, &env, "*"))
        .await?;
    load_environment(&ctx, &project, &env).await?;
    let secret = new_secret(match input.kind {
        SdkKeyKind::Server => SERVER_KEY_PREFIX,
        SdkKeyKind::Client => CLIENT_KEY_PREFIX,
    });
    let record = SdkKeyRecord {
        name: if input.name.is_empty() {
            format!("{:?} key", input.kind).to_lowercase()
        } else {
            input.name
        },
        id: secret.id,
        kind: input.kind,
        secret_hash: secret.secret_hash,
        created_at_ms: crate::now_ms(),
    };
    let resource = res::sdk_key(&project, &env, &record.id);
    let write = Write::Put {
        kind: "sdk_key".into(),
        scope: env_scope(&project, &env),
        key: record.id.clone(),
        body: to_json(&record),
        expected: Expected::Absent,
    };
    let view = sdk_key_view(&project, &env, record.clone(), None);
    let change = Change {
        action: "sdk-key:create",
        resource: &resource,
        before: None,
        after: Some(to_json(&view)),
        comment: input.comment.as_deref(),
    };
    ctx.commit(&[write], change).await?;
    Ok((
        StatusCode::CREATED,
        Json(sdk_key_view(&project, &env, record, Some(secret.plaintext))),
    ))
}

pub async fn delete_sdk_key(
    ctx: Ctx,
    Path((project, env, id)): Path<(String, String, String)>,
    Query(query): Query<CommentQuery>,
) -> ApiResult<Json<Deleted>> {
    let resource = res::sdk_key(&project, &env, &id);
    ctx.authorize("sdk-key:delete", &resource).await?;
    let doc = ctx
        .state
        .store
        .get("sdk_key", &env_scope(&project, &env), &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("SDK key {id:?}")))?;
    ctx.delete_document(
        &doc,
        "sdk-key:delete",
        resource,
        to_json(&sdk_key_view(&project, &env, parse_doc(&doc)?, None)),
        query.comment.as_deref(),
    )
    .await
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MeQuery {
    /// A resource such as `proj/web:env/production:flag/checkout`.
    #[serde(default)]
    pub resource: Option<String>,
}

/// Who the caller is and what it may do, so a client can offer only what will be allowed.
#[derive(Debug, Serialize, JsonSchema, Deserialize)]
pub struct Me {
    pub account: String,
    pub token: String,
    pub resource: Option<String>,
    /// The actions of the API the caller's token allows on `resource` (empty without one).
    pub actions: Vec<String>,
}

pub async fn me(ctx: Ctx, Query(query): Query<MeQuery>) -> ApiResult<Json<Me>> {
    let mut actions: Vec<String> = match &query.resource {
        Some(resource) => super::ROUTE_ACTIONS
            .iter()
            .filter(|action| action.contains(':') && ctx.allows(action, resource))
            .map(|action| (*action).to_owned())
            .collect(),
        None => Vec::new(),
    };
    actions.sort_unstable();
    actions.dedup();
    Ok(Json(Me {
        account: ctx.caller.account.clone(),
        token: ctx.caller.token_id.clone(),
        resource: query.resource,
        actions,
    }))
}
