//! What every handler stands on: [`Ctx`] (an authenticated request that authorizes, audits
//! and commits), request bodies with the API's error shape, optimistic-concurrency
//! preconditions, and key checks.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchyard_store::{AuditRecord, Committed, Expected, Write};

use super::change_requests::{self, Gate, Gated, Proposal};

use crate::access::{Action, Caller};
use crate::clock::now_ms;
use crate::error::{ApiError, ApiResult, Code, Invalid, current_request_id};
use crate::net::MAX_BODY_BYTES;
use crate::records::{self, Record, Versioned, expect_version};
use crate::releases::Services;
use crate::state::AppState;

/// A deleted resource's address.
#[derive(Debug, serde::Serialize, schemars::JsonSchema, serde::Deserialize)]
pub struct Deleted {
    pub deleted: String,
}

/// The optional `?comment=` of a `DELETE`, for its audit record.
#[derive(Debug, Deserialize)]
pub(super) struct CommentQuery {
    pub comment: Option<String>,
}

/// An authenticated request: the state, the caller, the request's headers.
#[derive(Debug)]
pub(crate) struct Ctx {
    pub state: Arc<AppState>,
    pub caller: Caller,
    pub headers: HeaderMap,
    /// What a write to an environment that requires approvals does: become a change request
    /// (a person's request), revise one, or apply one (`change_requests.rs`).
    pub gate: Gate,
}

impl FromRequestParts<Arc<AppState>> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> ApiResult<Ctx> {
        let presented = bearer(&parts.headers).unwrap_or_default();
        let caller = Caller::authenticate(&state.store, presented, now_ms()).await?;
        Ok(Ctx {
            state: state.clone(),
            caller,
            headers: parts.headers.clone(),
            gate: Gate::Live,
        })
    }
}

pub(super) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

impl Ctx {
    /// Checks `action` on `resource`; a refusal is written to the audit log before it is returned.
    pub(crate) async fn authorize(&self, action: Action, resource: &str) -> ApiResult<()> {
        if self.caller.allows(action, resource) || self.gate.applies(action, resource) {
            return Ok(());
        }
        Err(self.deny(action, resource).await)
    }

    /// Audits a refused attempt at `action` on `resource`: the `forbidden` error to answer.
    pub(crate) async fn deny(&self, action: Action, resource: &str) -> ApiError {
        let record = self.audit_record(Change::new(action, resource), "denied");
        let action = action.as_str();
        if let Err(error) = self.state.store.commit(&[], &record).await {
            tracing::error!(%error, action, resource, "could not audit a denied attempt");
        }
        ApiError::forbidden(action, resource)
    }

    /// What a release change needs from this server.
    pub(crate) fn services(&self) -> Services<'_> {
        self.state.services()
    }

    pub(crate) fn allows(&self, action: Action, resource: &str) -> bool {
        self.caller.allows(action, resource)
    }

    /// Applies `writes` with the audit record describing them, in one transaction.
    pub(crate) async fn commit(
        &self,
        writes: &[Write],
        change: Change<'_>,
    ) -> ApiResult<Committed> {
        let record = self.audit_record(change, "allowed");
        Ok(self.state.store.commit(writes, &record).await?)
    }

    /// Writes `record` as [`Ctx::write_record`] does, unless the proposal's environment
    /// requires approvals: then the write becomes a change request (answered `202`), and only
    /// applying that request, which runs the same handler again, commits it.
    pub(crate) async fn write_gated<R: Record>(
        &self,
        proposal: Proposal<'_>,
        (scope, key): (&str, &str),
        record: &R,
        expected: Expected,
        change: Change<'_>,
    ) -> ApiResult<Gated<i64>> {
        let write = records::put(scope, key, record, expected);
        let gated = change_requests::commit_gated(self, proposal, vec![write], change).await?;
        Ok(gated.map(|committed| committed.versions[0]))
    }

    /// Reads one record; an absent one is a 404 saying "`what` not found".
    pub(crate) async fn load_or_404<R: Record>(
        &self,
        scope: &str,
        key: &str,
        what: impl FnOnce() -> String,
    ) -> ApiResult<Versioned<R>> {
        records::get(&self.state.store, scope, key)
            .await?
            .ok_or_else(|| ApiError::not_found(what()))
    }

    /// The record an update replaces, and the version its write must expect. The checks come
    /// in the API's order: no version given is 400, no record 404, a stale version 409 (412
    /// for `If-Match`).
    pub(crate) async fn load_for_update<R>(
        &self,
        body_version: Option<i64>,
        load: impl Future<Output = ApiResult<Versioned<R>>>,
    ) -> ApiResult<(R, Expected)> {
        let precondition = self.expected_version(body_version)?;
        let stored = load.await?;
        let expected = precondition.check(stored.version)?;
        Ok((stored.record, expected))
    }

    /// The records of kind `R` in `scope` the caller may `action`, by the resource each key
    /// names. Records the caller may not see are never parsed.
    pub(crate) async fn list_allowed<R: Record>(
        &self,
        scope: &str,
        action: Action,
        resource: impl Fn(&str) -> String,
    ) -> ApiResult<Vec<Versioned<R>>> {
        records::list_keys(&self.state.store, scope, |key| {
            self.allows(action, &resource(key))
        })
        .await
    }

    /// Writes `record` (expecting `expected`) with its audit record; returns its new version.
    pub(crate) async fn write_record<R: Record>(
        &self,
        (scope, key): (&str, &str),
        record: &R,
        expected: Expected,
        change: Change<'_>,
    ) -> ApiResult<i64> {
        let write = records::put(scope, key, record, expected);
        Ok(self.commit(&[write], change).await?.versions[0])
    }

    /// Writes a new record under a key the caller chose: a taken key is a 409 on `key`.
    pub(crate) async fn create_record<R: Record>(
        &self,
        (scope, key): (&str, &str),
        record: &R,
        change: Change<'_>,
    ) -> ApiResult<()> {
        self.write_record((scope, key), record, Expected::Absent, change)
            .await
            .map_err(already_exists)?;
        Ok(())
    }

    /// Deletes one record at the version it was read at, with its audit record.
    pub(crate) async fn delete_record<R: Record>(
        &self,
        scope: &str,
        stored: &Versioned<R>,
        change: Change<'_>,
    ) -> ApiResult<Json<Deleted>> {
        let write = records::delete::<R>(scope, &stored.key, Expected::Version(stored.version));
        self.commit_deletion(&[write], change).await
    }

    /// Applies `writes` that delete the change's resource (and what belongs to it), and answers
    /// with its address.
    pub(crate) async fn commit_deletion(
        &self,
        writes: &[Write],
        change: Change<'_>,
    ) -> ApiResult<Json<Deleted>> {
        let deleted = change.resource.to_owned();
        self.commit(writes, change).await?;
        Ok(Json(Deleted { deleted }))
    }

    fn audit_record(&self, change: Change<'_>, outcome: &str) -> AuditRecord {
        AuditRecord {
            at_ms: now_ms(),
            actor: self.caller.actor(),
            action: change.action.to_owned(),
            resource: change.resource.to_owned(),
            outcome: outcome.to_owned(),
            before: change.before,
            after: change.after,
            comment: change.comment.map(str::to_owned),
            request_id: Some(current_request_id()),
        }
    }

    /// The version a write must expect: `If-Match` (stale → 412) or the body's `version`
    /// (stale → 409). One of them is required.
    pub(crate) fn expected_version(&self, body_version: Option<i64>) -> ApiResult<Precondition> {
        if let Some(value) = self.headers.get(axum::http::header::IF_MATCH) {
            let text = value
                .to_str()
                .unwrap_or_default()
                .trim()
                .trim_start_matches("W/")
                .trim_matches('"');
            return text.parse().map(Precondition::IfMatch).map_err(|_| {
                ApiError::bad_request("If-Match must be a version number such as \"3\"")
                    .field("If-Match")
            });
        }
        body_version.map(Precondition::Body).ok_or_else(|| {
            ApiError::bad_request(
                "updates must carry the version they change (If-Match header or `version` field)",
            )
            .field("version")
        })
    }
}

/// Where an expected version came from, which decides the status of a stale one.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Precondition {
    IfMatch(i64),
    Body(i64),
}

impl Precondition {
    pub(crate) fn version(self) -> i64 {
        match self {
            Precondition::IfMatch(v) | Precondition::Body(v) => v,
        }
    }

    /// Fails early (without writing) when the stored version already differs.
    pub(crate) fn check(self, current: i64) -> ApiResult<switchyard_store::Expected> {
        if self.version() != current {
            let code = match self {
                Precondition::IfMatch(_) => Code::PreconditionFailed,
                Precondition::Body(_) => Code::Conflict,
            };
            let mut error = ApiError::new(
                code,
                format!(
                    "the resource is at version {current}, not {}; reload and retry",
                    self.version()
                ),
            )
            .field("version");
            error.current_version = Some(current);
            return Err(error);
        }
        Ok(expect_version(current))
    }
}

/// What an audited change says about itself.
#[derive(Debug, Clone)]
pub(crate) struct Change<'a> {
    pub action: &'a str,
    pub resource: &'a str,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub comment: Option<&'a str>,
}

impl<'a> Change<'a> {
    /// `action` on `resource`, with nothing before or after it and no comment yet.
    pub(crate) fn new(action: Action, resource: &'a str) -> Change<'a> {
        Change {
            action: action.as_str(),
            resource,
            before: None,
            after: None,
            comment: None,
        }
    }

    /// `resource` created as `after`.
    pub(crate) fn created(action: Action, resource: &'a str, after: &impl Serialize) -> Change<'a> {
        Change::new(action, resource).after(after)
    }

    /// `resource` changed from `before` to `after`.
    pub(crate) fn updated(
        action: Action,
        resource: &'a str,
        before: &impl Serialize,
        after: &impl Serialize,
    ) -> Change<'a> {
        Change::new(action, resource).before(before).after(after)
    }

    /// `resource`, which was `before`, deleted.
    pub(crate) fn deleted(
        action: Action,
        resource: &'a str,
        before: &impl Serialize,
    ) -> Change<'a> {
        Change::new(action, resource).before(before)
    }

    fn before(mut self, before: &impl Serialize) -> Change<'a> {
        self.before = Some(records::encode(before));
        self
    }

    fn after(mut self, after: &impl Serialize) -> Change<'a> {
        self.after = Some(records::encode(after));
        self
    }

    /// The caller's reason for the change.
    pub(crate) fn comment(self, comment: Option<&'a str>) -> Change<'a> {
        Change { comment, ..self }
    }
}

/// A `Conflict` on creation means the key is taken.
pub(super) fn already_exists(mut error: ApiError) -> ApiError {
    if error.code == Code::Conflict {
        error.message = "a resource with this key already exists".into();
        error.field = Some("key".into());
    }
    error
}

/// A deletion that would break what still uses the resource: `why`, then the problem the
/// removal would cause, as a `Conflict` on that problem's field.
pub(super) fn still_used(why: String) -> impl FnOnce(Invalid) -> ApiError {
    move |problem| {
        ApiError::new(Code::Conflict, format!("{why}: {}", problem.message)).field(problem.field)
    }
}

/// A JSON value (a stored or revised request body) as `T`, strictly as [`Body`] reads it;
/// errors name `field` and the path inside it.
pub(super) fn strict_value<T: DeserializeOwned + JsonSchema>(
    field: &str,
    value: &Value,
) -> ApiResult<T> {
    strict_json::<T>(value.to_string().as_bytes()).map_err(|mut error| {
        error.field = Some(match error.field.take() {
            Some(inner) => format!("{field}.{inner}"),
            None => field.to_owned(),
        });
        error
    })
}

/// A JSON body whose rejections use the API's error shape: a body too large is 413, broken JSON
/// is 400, JSON of the wrong shape or with a field its type does not know is 422 naming the
/// field (strict input: a misspelling must never change behaviour).
#[derive(Debug)]
pub(super) struct Body<T>(pub T);

impl<T: DeserializeOwned + JsonSchema, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> ApiResult<Body<T>> {
        strict_json(&body_bytes(req, state).await?).map(Body)
    }
}

/// A JSON body that may be absent (an empty `POST`), which is `T::default()`; otherwise as
/// [`Body`].
#[derive(Debug)]
pub(super) struct OptionalBody<T>(pub T);

impl<T: DeserializeOwned + JsonSchema + Default, S: Send + Sync> FromRequest<S>
    for OptionalBody<T>
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> ApiResult<OptionalBody<T>> {
        let bytes = body_bytes(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalBody(T::default()));
        }
        strict_json(&bytes).map(OptionalBody)
    }
}

async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> ApiResult<Bytes> {
    Bytes::from_request(req, state)
        .await
        .map_err(|e| match e.status() {
            axum::http::StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                Code::PayloadTooLarge,
                format!("request body is larger than {MAX_BODY_BYTES} bytes"),
            ),
            _ => ApiError::bad_request(e.body_text()),
        })
}

/// `bytes` as `T`, refusing fields `T` does not know before serde would drop them.
/// The field a serde error is about: its path (`rules[0].serve: …`), and the field a
/// `missing field `name`` message names.
fn field_of(detail: &str) -> Option<String> {
    let (path, message) = match detail.split_once(": ") {
        Some((path, message)) if !path.contains(' ') => (path, message),
        _ => ("", detail),
    };
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    match (path, missing) {
        ("", None) => None,
        ("", Some(name)) => Some(name.to_owned()),
        (path, None) => Some(path.to_owned()),
        (path, Some(name)) => Some(format!("{path}.{name}")),
    }
}

/// A 422 naming the field a serde error is about.
fn shape_error(e: &impl std::error::Error) -> ApiError {
    let detail = std::error::Error::source(e)
        .map(ToString::to_string)
        .unwrap_or_else(|| e.to_string());
    let mut error = ApiError::new(Code::ValidationFailed, detail.clone());
    error.field = field_of(&detail);
    error
}

/// An empty body reads as `{}`, so it is refused for the fields it lacks, by name.
fn strict_json<T: DeserializeOwned + JsonSchema>(bytes: &[u8]) -> ApiResult<T> {
    let bytes = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    let document: Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?;
    if let Some(field) = switchyard_engine::strict::unknown_fields::<T>(&document)
        .into_iter()
        .next()
    {
        return Err(ApiError::invalid(
            field.clone(),
            format!("unknown field `{field}` (misspelt? see the API reference for this body)"),
        ));
    }
    // Deserialized from the bytes, not the parsed value, so errors carry their path. The bytes
    // parsed as JSON above, so whatever serde refuses now is the shape (serde calls some shape
    // errors, such as a number where an enum goes, syntax errors).
    match Json::<T>::from_bytes(bytes) {
        Ok(Json(value)) => Ok(value),
        Err(JsonRejection::JsonDataError(e)) => Err(shape_error(&e)),
        Err(JsonRejection::JsonSyntaxError(e)) => Err(shape_error(&e)),
        Err(e) => Err(ApiError::bad_request(e.body_text())),
    }
}

/// Keys of projects, environments, flags, segments, accounts and roles.
pub(super) fn check_key(field: &str, key: &str) -> ApiResult<()> {
    let valid = !key.is_empty()
        && key.len() <= 128
        && key
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(())
    } else {
        Err(ApiError::invalid(
            field,
            format!(
                "{key:?} is not a valid key: 1-128 letters, digits, '-', '_' or '.', starting with a letter or digit"
            ),
        ))
    }
}
