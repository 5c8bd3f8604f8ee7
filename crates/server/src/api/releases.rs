//! Guarded releases, the kill switch, its trigger URLs and webhooks (`docs/releases.md`).
//! Every change goes through `guard::transition` (or `guard::kill`), the same path the guard
//! uses for its automatic decisions.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use switchyard_store::{Expected, Write};

use super::projects::load_environment;
use super::{Body, Change as AuditChange, Ctx, Deleted, optional_body, parse_doc, to_json};
use crate::auth::{new_secret, parse_secret, random_hex};
use crate::error::{ApiError, ApiResult, Code, current_request_id};
pub use crate::guard::Killed;
use crate::guard::{self, Actor, Change, KIND};
use crate::releases::{Assessment, State};
pub use crate::releases::{Release, ReleaseInput};
use crate::resources as res;
use crate::validate::EnvData;
use crate::webhooks::{EVENT_TYPES, Webhook};

/// A release with what the guard sees now.
#[derive(Debug, Serialize, JsonSchema, Deserialize)]
pub struct ReleaseStatus {
    #[serde(flatten)]
    pub release: Release,
    /// The current stage's cohorts, each guardrail's evidence and the verdict (running only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assessment: Option<Assessment>,
    /// When the next automatic decision may happen (Unix ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_decision_ms: Option<i64>,
}

/// The optional body of a release action, a kill or a trigger call.
#[derive(Debug, Default, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ActionInput {
    #[serde(default)]
    pub comment: Option<String>,
}

fn actor(ctx: &Ctx) -> Actor {
    Actor {
        audit: ctx.caller.actor(),
        name: format!("token:{}", ctx.caller.token_id),
        request_id: Some(current_request_id()),
    }
}

async fn load_release(ctx: &Ctx, project: &str, env: &str, id: &str) -> ApiResult<Release> {
    let not_found = || ApiError::not_found(format!("release {id:?} in {project}/{env}"));
    let doc = ctx
        .state
        .store
        .get(KIND, "", id)
        .await?
        .ok_or_else(not_found)?;
    let release: Release = parse_doc(&doc)?;
    if release.project != project || release.environment != env {
        return Err(not_found());
    }
    Ok(release)
}

async fn status(ctx: &Ctx, release: Release) -> ApiResult<ReleaseStatus> {
    let now = crate::now_ms();
    let interval = ctx.state.guard.config.interval.as_millis() as i64;
    let (assessment, next_decision_ms) = match release.state {
        State::Running => (
            Some(ctx.state.guard.assess(&ctx.state.store, &release).await?),
            Some(now + interval),
        ),
        State::Holding => (None, release.hold.as_ref().and_then(|h| h.rolls_back_at_ms)),
        State::Scheduled => (None, release.start_at_ms),
        _ => (None, None),
    };
    Ok(ReleaseStatus {
        release,
        assessment,
        next_decision_ms,
    })
}

pub async fn list_releases(
    ctx: Ctx,
    Path((project, env)): Path<(String, String)>,
) -> ApiResult<Json<Vec<Release>>> {
    load_environment(&ctx, &project, &env).await?;
    let mut releases = Vec::new();
    for doc in ctx.state.store.list(KIND, "").await? {
        let release: Release = parse_doc(&doc)?;
        if release.project == project
            && release.environment == env
            && ctx.allows("release:read", &res::release(&project, &env, &release.id))
        {
            releases.push(release);
        }
    }
    releases.sort_by_key(|r| std::cmp::Reverse(r.created_ms));
    Ok(Json(releases))
}

pub async fn get_release(
    ctx: Ctx,
    Path((project, env, id)): Path<(String, String, String)>,
) -> ApiResult<Json<ReleaseStatus>> {
    ctx.authorize("release:read", &res::release(&project, &env, &id))
        .await?;
    let release = load_release(&ctx, &project, &env, &id).await?;
    Ok(Json(status(&ctx, release).await?))
}

pub async fn start_release(
    ctx: Ctx,
    Path((project, env)): Path<(String, String)>,
    Body(input): Body<ReleaseInput>,
) -> ApiResult<(StatusCode, Json<ReleaseStatus>)> {
    let id = random_hex(4);
    ctx.authorize("release:create", &res::release(&project, &env, &id))
        .await?;
    load_environment(&ctx, &project, &env).await?;
    let store = &ctx.state.store;
    let data = EnvData::load(store, &project, &env).await?;
    let (spec, _, targeting, targeting_version) =
        data.flags.get(&input.flag).cloned().ok_or_else(|| {
            ApiError::not_found(format!("flag {:?} in project {project:?}", input.flag))
        })?;
    for doc in store.list(KIND, "").await? {
        let other: Release = parse_doc(&doc)?;
        if other.project == project
            && other.environment == env
            && other.flag == input.flag
            && other.state.is_active()
        {
            return Err(ApiError::new(
                Code::Conflict,
                format!(
                    "release {} of flag {:?} is still {:?}; abort it first",
                    other.id, other.flag, other.state
                ),
            )
            .field("flag"));
        }
    }
    let keys: Vec<String> = spec.variations.iter().map(|v| v.key.clone()).collect();
    let comment = input.comment.clone();
    let now = crate::now_ms();
    let mut release = Release::new(id, (&project, &env), input, &keys, &targeting, now)?;
    let mut after = targeting.clone();
    let detail = match release.state {
        State::Scheduled => format!("scheduled for {:?} (Unix ms)", release.start_at_ms),
        _ => {
            let target = keys
                .iter()
                .position(|k| *k == release.variation)
                .unwrap_or_default();
            guard::begin_stage(
                &mut release,
                guard::Flag {
                    targeting: &mut after,
                    target,
                },
                now,
            )?;
            format!("started at stage 0 ({})", release.current_stage().name)
        }
    };
    let done = Change {
        action: "release:create",
        event: match release.state {
            State::Scheduled => "release.scheduled",
            _ => "release.started",
        },
        detail: comment.unwrap_or(detail),
        evidence: None,
    };
    guard::commit_change(
        store,
        &data,
        &mut release,
        (None, Expected::Absent),
        (&targeting, targeting_version, &after),
        &actor(&ctx),
        &done,
        now,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(status(&ctx, release).await?)))
}

/// What a person can do to a release.
#[derive(Debug, Clone, Copy)]
enum Verb {
    Pause,
    Resume,
    Advance,
    RollBack,
    Abort,
}

async fn act(
    ctx: Ctx,
    (project, env, id): (String, String, String),
    body: axum::body::Bytes,
    verb: Verb,
) -> ApiResult<Json<ReleaseStatus>> {
    let input: ActionInput = optional_body(&body)?;
    ctx.authorize("release:update", &res::release(&project, &env, &id))
        .await?;
    let current = load_release(&ctx, &project, &env, &id).await?;
    // An advance carries the current stage's evidence into the ramp's total, as the guard's own.
    let evidence = match (verb, current.state) {
        (Verb::Advance, State::Running) => {
            Some(ctx.state.guard.assess(&ctx.state.store, &current).await?)
        }
        _ => None,
    };
    let who = actor(&ctx);
    let note = |default: String| input.comment.clone().unwrap_or(default);
    let release = guard::transition(&ctx.state.store, &id, &who, |r, flag, now| {
        let refuse = |what: &str| {
            Err(ApiError::new(
                Code::Conflict,
                format!("cannot {what} a release that is {:?}", r.state),
            )
            .field("state"))
        };
        let change = match verb {
            Verb::Pause => {
                // A scheduled release has nothing to pause: abort it, or let it wait.
                if r.state != State::Running {
                    return refuse("pause");
                }
                guard::hold(r, format!("paused by {}", who.name), now, false);
                Change {
                    action: "release:pause",
                    event: "release.held",
                    detail: note("paused".into()),
                    evidence: None,
                }
            }
            Verb::Resume => {
                if r.state != State::Holding {
                    return refuse("resume");
                }
                if r.layer_present(flag.targeting) {
                    r.state = State::Running;
                    r.hold = None;
                } else {
                    guard::begin_stage(r, flag, now)?;
                }
                Change {
                    action: "release:resume",
                    event: "release.resumed",
                    detail: note(format!("resumed at stage {}", r.stage)),
                    evidence: None,
                }
            }
            Verb::Advance => {
                if !matches!(r.state, State::Running | State::Holding) {
                    return refuse("advance");
                }
                if !r.in_window(now) {
                    return Err(ApiError::new(
                        Code::Conflict,
                        "outside the release's time windows no new stage begins",
                    )
                    .field("windows"));
                }
                let mut change = guard::advance(r, flag, now, evidence.as_ref())?;
                if let Some(comment) = &input.comment {
                    change.detail = format!("{} ({comment})", change.detail);
                }
                change
            }
            Verb::RollBack | Verb::Abort => {
                if !r.state.is_active() {
                    return refuse("stop");
                }
                let (state, action, event) = match verb {
                    Verb::RollBack => (
                        State::RolledBack,
                        "release:roll_back",
                        "release.rolled_back",
                    ),
                    _ => (State::Aborted, "release:abort", "release.aborted"),
                };
                guard::finish(r, flag, state)?;
                Change {
                    action,
                    event,
                    detail: note(format!(
                        "{} by {}",
                        event.trim_start_matches("release."),
                        who.name
                    )),
                    evidence: None,
                }
            }
        };
        Ok(Some(change))
    })
    .await?;
    Ok(Json(status(&ctx, release).await?))
}

pub async fn pause_release(
    ctx: Ctx,
    Path(path): Path<(String, String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<Json<ReleaseStatus>> {
    act(ctx, path, body, Verb::Pause).await
}

pub async fn resume_release(
    ctx: Ctx,
    Path(path): Path<(String, String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<Json<ReleaseStatus>> {
    act(ctx, path, body, Verb::Resume).await
}

pub async fn advance_release(
    ctx: Ctx,
    Path(path): Path<(String, String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<Json<ReleaseStatus>> {
    act(ctx, path, body, Verb::Advance).await
}

pub async fn roll_back_release(
    ctx: Ctx,
    Path(path): Path<(String, String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<Json<ReleaseStatus>> {
    act(ctx, path, body, Verb::RollBack).await
}

pub async fn abort_release(
    ctx: Ctx,
    Path(path): Path<(String, String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<Json<ReleaseStatus>> {
    act(ctx, path, body, Verb::Abort).await
}

pub async fn kill_flag(
    ctx: Ctx,
    Path((project, env, flag)): Path<(String, String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Killed>> {
    let input: ActionInput = optional_body(&body)?;
    ctx.authorize("flag:toggle", &res::env_flag(&project, &env, &flag))
        .await?;
    load_environment(&ctx, &project, &env).await?;
    let killed = guard::kill(
        &ctx.state.store,
        (&project, &env, &flag),
        &actor(&ctx),
        input.comment.as_deref(),
    )
    .await?;
    Ok(Json(killed))
}

/// A kill trigger: a secret URL an alerting system can call without an API token.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Trigger {
    pub id: String,
    pub project: String,
    pub environment: String,
    pub flag: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub created_ms: i64,
    /// Shown once, at creation: `POST` it to kill the flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerInput {
    #[serde(default)]
    pub description: Option<String>,
}

const TRIGGER_PREFIX: &str = "sytr";

pub async fn create_trigger(
    ctx: Ctx,
    Path((project, env, flag)): Path<(String, String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<Trigger>)> {
    let input: TriggerInput = optional_body(&body)?;
    let resource = res::env_flag(&project, &env, &flag);
    ctx.authorize("trigger:create", &resource).await?;
    load_environment(&ctx, &project, &env).await?;
    let secret = new_secret(TRIGGER_PREFIX);
    let trigger = Trigger {
        id: secret.id.clone(),
        project,
        environment: env,
        flag,
        description: input.description,
        created_ms: crate::now_ms(),
        url: None,
    };
    // Only the secret's hash is kept, beside the trigger.
    let mut stored = to_json(&trigger);
    stored["secret_hash"] = json!(secret.secret_hash);
    let write = Write::Put {
        kind: "trigger".into(),
        scope: String::new(),
        key: trigger.id.clone(),
        body: stored,
        expected: Expected::Absent,
    };
    let change = AuditChange {
        action: "trigger:create",
        resource: &resource,
        before: None,
        after: Some(to_json(&trigger)),
        comment: None,
    };
    ctx.commit(&[write], change).await?;
    Ok((
        StatusCode::CREATED,
        Json(Trigger {
            url: Some(format!("/api/v1/triggers/{}", secret.plaintext)),
            ..trigger
        }),
    ))
}

pub async fn list_triggers(
    ctx: Ctx,
    Path((project, env, flag)): Path<(String, String, String)>,
) -> ApiResult<Json<Vec<Trigger>>> {
    ctx.authorize("trigger:read", &res::env_flag(&project, &env, &flag))
        .await?;
    let mut triggers = Vec::new();
    for doc in ctx.state.store.list("trigger", "").await? {
        let trigger: Trigger = parse_doc(&doc)?;
        if trigger.project == project && trigger.environment == env && trigger.flag == flag {
            triggers.push(trigger);
        }
    }
    Ok(Json(triggers))
}

pub async fn delete_trigger(
    ctx: Ctx,
    Path((project, env, flag, id)): Path<(String, String, String, String)>,
) -> ApiResult<Json<Deleted>> {
    let resource = res::env_flag(&project, &env, &flag);
    ctx.authorize("trigger:delete", &resource).await?;
    let doc = ctx
        .state
        .store
        .get("trigger", "", &id)
        .await?
        .filter(|doc| {
            parse_doc::<Trigger>(doc)
                .is_ok_and(|t| t.project == project && t.environment == env && t.flag == flag)
        })
        .ok_or_else(|| ApiError::not_found(format!("trigger {id:?}")))?;
    let before = to_json(&parse_doc::<Trigger>(&doc)?);
    ctx.delete_document(
        &doc,
        "trigger:delete",
        format!("{resource}:trigger/{id}"),
        before,
        None,
    )
    .await
}

/// `POST /api/v1/triggers/{secret}`: kills the trigger's flag. The secret is the credential.
pub async fn call_trigger(
    axum::extract::State(state): axum::extract::State<std::sync::Arc<crate::AppState>>,
    Path(presented): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Killed>> {
    let input: ActionInput = optional_body(&body)?;
    let unknown = || ApiError::new(Code::NotFound, "unknown or deleted trigger");
    let (id, secret_hash) = parse_secret(TRIGGER_PREFIX, &presented).ok_or_else(unknown)?;
    let doc = state
        .store
        .get("trigger", "", id)
        .await?
        .ok_or_else(unknown)?;
    let stored_hash = doc.body["secret_hash"].as_str().unwrap_or_default();
    if stored_hash.is_empty() || stored_hash != secret_hash {
        return Err(unknown());
    }
    let trigger: Trigger = parse_doc(&doc)?;
    let actor = Actor {
        audit: json!({"kind": "trigger", "id": trigger.id}),
        name: format!("trigger:{}", trigger.id),
        request_id: Some(current_request_id()),
    };
    let comment = input
        .comment
        .or_else(|| trigger.description.clone())
        .unwrap_or_else(|| "kill trigger called".into());
    let killed = guard::kill(
        &state.store,
        (&trigger.project, &trigger.environment, &trigger.flag),
        &actor,
        Some(&comment),
    )
    .await?;
    Ok(Json(killed))
}

/// A webhook as the API shows it (the secret only at creation).
#[derive(Debug, Serialize, JsonSchema, Deserialize)]
pub struct WebhookView {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    pub created_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

fn webhook_view(hook: Webhook, with_secret: bool) -> WebhookView {
    WebhookView {
        id: hook.id,
        url: hook.url,
        events: hook.events,
        created_ms: hook.created_ms,
        secret: with_secret.then_some(hook.secret),
    }
}

#[derive(Debug, Deserialize, JsonSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookInput {
    pub url: String,
    /// Event types (`release.*` allowed); empty: all.
    #[serde(default)]
    pub events: Vec<String>,
    /// The signing secret; absent: generated.
    #[serde(default)]
    pub secret: Option<String>,
}

pub async fn create_webhook(
    ctx: Ctx,
    Path(project): Path<String>,
    Body(input): Body<WebhookInput>,
) -> ApiResult<(StatusCode, Json<WebhookView>)> {
    let id = random_hex(4);
    let resource = res::webhook(&project, &id);
    ctx.authorize("webhook:create", &resource).await?;
    if !(input.url.starts_with("http://") || input.url.starts_with("https://")) {
        return Err(ApiError::invalid(
            "url",
            "must be an http:// or https:// URL",
        ));
    }
    for (i, pattern) in input.events.iter().enumerate() {
        let prefix = pattern.strip_suffix('*');
        let known = EVENT_TYPES
            .iter()
            .any(|t| *t == pattern || prefix.is_some_and(|p| t.starts_with(p)));
        if !known {
            return Err(ApiError::invalid(
                format!("events[{i}]"),
                format!(
                    "unknown event type {pattern:?} (known: {})",
                    EVENT_TYPES.join(", ")
                ),
            ));
        }
    }
    ctx.state
        .store
        .get("project", "", &project)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("project {project:?}")))?;
    let hook = Webhook {
        id,
        url: input.url,
        events: input.events,
        secret: input.secret.unwrap_or_else(|| random_hex(24)),
        created_ms: crate::now_ms(),
    };
    let write = Write::Put {
        kind: "webhook".into(),
        scope: project.clone(),
        key: hook.id.clone(),
        body: to_json(&hook),
        expected: Expected::Absent,
    };
    let change = AuditChange {
        action: "webhook:create",
        resource: &resource,
        before: None,
        after: Some(to_json(&webhook_view(hook.clone(), false))),
        comment: None,
    };
    ctx.commit(&[write], change).await?;
    Ok((StatusCode::CREATED, Json(webhook_view(hook, true))))
}

pub async fn list_webhooks(
    ctx: Ctx,
    Path(project): Path<String>,
) -> ApiResult<Json<Vec<WebhookView>>> {
    let mut hooks = Vec::new();
    for doc in ctx.state.store.list("webhook", &project).await? {
        if ctx.allows("webhook:read", &res::webhook(&project, &doc.key)) {
            hooks.push(webhook_view(parse_doc(&doc)?, false));
        }
    }
    Ok(Json(hooks))
}

pub async fn delete_webhook(
    ctx: Ctx,
    Path((project, id)): Path<(String, String)>,
) -> ApiResult<Json<Deleted>> {
    let resource = res::webhook(&project, &id);
    ctx.authorize("webhook:delete", &resource).await?;
    let doc = ctx
        .state
        .store
        .get("webhook", &project, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("webhook {id:?}")))?;
    let before = to_json(&webhook_view(parse_doc(&doc)?, false));
    ctx.delete_document(&doc, "webhook:delete", resource, before, None)
        .await
}
