//! The OpenFeature Remote Evaluation Protocol (OFREP): `POST /ofrep/v1/evaluate/flags/{key}`,
//! bulk `POST /ofrep/v1/evaluate/flags` (ETag/`If-None-Match`), `GET /ofrep/v1/configuration`,
//! and the change-notification stream a bulk response advertises in `eventStreams`.
//!
//! Errors answer in OFREP's shape (`{"key"?, "errorCode", "errorDetails"}`), not the API's.
//! Server and client SDK keys both evaluate; a client key sees only client-visible flags.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use switchyard_engine::{CompiledFlag, Context, Env, ErrorKind, RandomSource, Reason, Snapshot};
use switchyard_sdk::events::{Evaluated, Recorder, Revision};

use super::feed::{Feed, Published};
use super::fragments::FlagFragments;
use super::hub::{Delivery, SdkAccess};
use super::sdk_routes::{StreamKind, event_stream, insert_data_age, last_event_id, presented_key};
use crate::access::SdkKeyKind;
use crate::clock::now_ms;
use crate::error::{ApiError, Code};

/// Served by `switchyard serve` and `switchyard relay` alike.
pub(super) fn router() -> Router<Arc<Delivery>> {
    Router::new()
        .route("/ofrep/v1/evaluate/flags/{key}", post(evaluate_one))
        .route("/ofrep/v1/evaluate/flags", post(evaluate_all))
        .route("/ofrep/v1/configuration", get(configuration))
        .route("/ofrep/v1/events/{key_id}", get(events))
}

/// Unleash-style `random` stickiness for remote evaluations.
static RANDOM: RandomSource = RandomSource::new(0x2545_F491_4F6C_DD1D);

/// Clients without a live stream close it after this long in the background (OFREP default).
const INACTIVITY_DELAY_SEC: u64 = 120;

/// An OFREP error response.
#[derive(Debug)]
struct Failure {
    status: StatusCode,
    key: Option<String>,
    code: &'static str,
    details: String,
    retry_after: Option<u64>,
}

impl Failure {
    fn new(status: StatusCode, code: &'static str, details: impl Into<String>) -> Failure {
        Failure {
            status,
            key: None,
            code,
            details: details.into(),
            retry_after: None,
        }
    }

    fn for_flag(mut self, key: &str) -> Failure {
        self.key = Some(key.to_owned());
        self
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let mut body = json!({"errorCode": self.code, "errorDetails": self.details});
        if let Some(key) = self.key {
            body["key"] = Value::String(key);
        }
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// Delivery errors in OFREP's terms: an unknown key is 401, no data yet (a relay) 503, anything
/// else 500 `GENERAL`.
impl From<ApiError> for Failure {
    fn from(error: ApiError) -> Failure {
        match error.code {
            Code::Unauthorized => {
                Failure::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", error.message)
            }
            Code::Unavailable => {
                Failure::new(StatusCode::SERVICE_UNAVAILABLE, "GENERAL", error.message)
            }
            _ => Failure::new(StatusCode::INTERNAL_SERVER_ERROR, "GENERAL", error.message),
        }
    }
}

/// An admitted OFREP request: who asked, what they asked, the data to answer from, and where
/// its evaluations are recorded.
struct Admitted {
    access: SdkAccess,
    request: Request,
    feed: Arc<Feed>,
    published: Arc<Published>,
    recorder: Option<Arc<Recorder>>,
}

/// Authenticates, rate-limits and parses one OFREP request, and finds its environment's data.
async fn admit(delivery: &Delivery, headers: &HeaderMap, body: &[u8]) -> Result<Admitted, Failure> {
    let presented = presented_key(headers).ok_or_else(|| {
        Failure::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "send an SDK key as `Authorization: Bearer KEY` or `X-API-Key: KEY`",
        )
    })?;
    let access = delivery.authenticate(presented).await?;
    if let Err(seconds) = delivery.admit(&access.key_id) {
        let mut failure = Failure::new(
            StatusCode::TOO_MANY_REQUESTS,
            "GENERAL",
            "rate limit exceeded for this SDK key",
        );
        failure.retry_after = Some(seconds);
        return Err(failure);
    }
    let request = Request::parse(body)?;
    let feed = delivery.feed(&access.project, &access.env).await?;
    let recorder = if delivery.config.record_evaluations {
        delivery.recorder(&access.project, &access.env)
    } else {
        None
    };
    Ok(Admitted {
        recorder,
        access,
        request,
        published: feed.current(),
        feed,
    })
}

/// A parsed evaluation request.
#[derive(Debug)]
struct Request {
    context: Result<Context, String>,
    /// The context names no targeting key (and is not a native context with its own keys).
    keyless: bool,
}

impl Request {
    fn parse(body: &[u8]) -> Result<Request, Failure> {
        let parse_error =
            |details: String| Failure::new(StatusCode::BAD_REQUEST, "PARSE_ERROR", details);
        let value: Value = if body.iter().all(u8::is_ascii_whitespace) {
            json!({})
        } else {
            serde_json::from_slice(body).map_err(|e| parse_error(format!("invalid JSON: {e}")))?
        };
        let Value::Object(mut object) = value else {
            return Err(parse_error("the request body must be a JSON object".into()));
        };
        let context = match object.remove("context") {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(context @ Value::Object(_)) => context,
            Some(_) => return Err(parse_error("`context` must be an object".into())),
        };
        let keyless = context.get("kind").is_none()
            && !matches!(context.get("targetingKey"), Some(Value::String(k)) if !k.is_empty());
        Ok(Request {
            context: Context::from_openfeature(&context).map_err(|e| e.to_string()),
            keyless,
        })
    }
}

/// How one flag's evaluation turned out, before it is written.
enum Outcome<'s> {
    Served {
        reason: Reason<'s>,
        openfeature_reason: &'static str,
        variation_index: Option<usize>,
    },
    Failed {
        status: StatusCode,
        code: &'static str,
        details: String,
    },
}

/// Evaluates one flag for a request at `now_ms` (read once per request: a bulk answer reading
/// the clock for each of its flags spent 7 % of a relay's time in `clock_gettime`).
fn evaluate<'s>(
    snapshot: &'s Snapshot,
    flag: &'s CompiledFlag,
    request: &Request,
    now_ms: i64,
) -> Outcome<'s> {
    let failed = |status, code, details: &str| Outcome::Failed {
        status,
        code,
        details: details.to_owned(),
    };
    let context = match &request.context {
        Ok(context) => context,
        Err(details) => return failed(StatusCode::BAD_REQUEST, "INVALID_CONTEXT", details),
    };
    if request.keyless && flag.is_on() && !flag.is_static() {
        return failed(
            StatusCode::BAD_REQUEST,
            "TARGETING_KEY_MISSING",
            "this flag targets or splits by key: the context needs a `targetingKey`",
        );
    }
    let env = Env {
        now_ms,
        random: RANDOM.next_u32(),
    };
    let evaluation = snapshot.evaluate_flag(flag, context, &env);
    if let Reason::Error { error_kind } = evaluation.reason {
        let details = match error_kind {
            ErrorKind::MalformedFlag => "the flag's configuration cannot be evaluated",
            _ => "evaluation failed",
        };
        return failed(StatusCode::INTERNAL_SERVER_ERROR, "GENERAL", details);
    }
    Outcome::Served {
        openfeature_reason: evaluation.reason.openfeature(flag.is_static()),
        reason: evaluation.reason,
        variation_index: evaluation.variation_index,
    }
}

impl<'s> Outcome<'s> {
    /// What this evaluation contributes to the events, as an SDK evaluating locally would
    /// record it (nothing when the request itself was at fault).
    fn recorded<'f>(&self, flag: &'f CompiledFlag) -> Option<Evaluated<'f>>
    where
        's: 'f,
    {
        let (variation_index, reason, release, in_experiment) = match self {
            Outcome::Served {
                reason,
                variation_index,
                ..
            } => (
                *variation_index,
                reason.kind_name(),
                reason.release(),
                reason
                    .rollout()
                    .is_some_and(|rollout| rollout.in_experiment),
            ),
            Outcome::Failed { status, .. } if status.is_server_error() => {
                (None, "ERROR", None, false)
            }
            Outcome::Failed { .. } => return None,
        };
        Some(Evaluated {
            flag: flag.key(),
            version: flag.version(),
            variation_index,
            variation: variation_index
                .and_then(|i| flag.variations().get(i))
                .map(|v| v.key.as_str()),
            reason,
            release,
            in_experiment,
        })
    }
}

/// OFREP answers count their evaluations per published revision, at each flag's position.
impl Revision for Published {
    fn snapshot(&self) -> &Snapshot {
        &self.compiled
    }
}

/// Writes one flag's OFREP object. No variation (off without an off-variation) omits the
/// value, which tells the client to use its own default.
fn write_flag(out: &mut Vec<u8>, fragments: &FlagFragments, outcome: &Outcome<'_>) {
    out.push(b'{');
    out.extend_from_slice(&fragments.key);
    match outcome {
        Outcome::Served {
            reason,
            openfeature_reason,
            variation_index,
        } => {
            out.extend_from_slice(b"\"reason\":\"");
            out.extend_from_slice(openfeature_reason.as_bytes());
            out.extend_from_slice(b"\",\"metadata\":{");
            out.extend_from_slice(&fragments.version);
            out.extend_from_slice(b",\"reasonKind\":\"");
            out.extend_from_slice(reason.kind_name().as_bytes());
            out.push(b'"');
            if let Reason::PrerequisiteFailed { prerequisite_key } = reason {
                out.extend_from_slice(b",\"prerequisiteKey\":");
                let _ = serde_json::to_writer(&mut *out, prerequisite_key);
            }
            out.push(b'}');
            if let Some(variation) = variation_index.and_then(|i| fragments.variations.get(i)) {
                out.extend_from_slice(variation);
            }
        }
        Outcome::Failed { code, details, .. } => {
            out.extend_from_slice(b"\"errorCode\":\"");
            out.extend_from_slice(code.as_bytes());
            out.extend_from_slice(b"\",\"errorDetails\":");
            let _ = serde_json::to_writer(&mut *out, details);
        }
    }
    out.push(b'}');
}

fn json_response(body: Vec<u8>) -> Response {
    let mut response = Body::from(body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

async fn evaluate_one(
    State(delivery): State<Arc<Delivery>>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Every failure of a single-flag evaluation names the flag.
    match evaluate_one_flag(&delivery, &key, &headers, &body).await {
        Ok((body, feed)) => {
            let mut response = json_response(body);
            insert_data_age(response.headers_mut(), &feed);
            response
        }
        Err(failure) => failure.for_flag(&key).into_response(),
    }
}

async fn evaluate_one_flag(
    delivery: &Delivery,
    key: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Vec<u8>, Arc<Feed>), Failure> {
    let Admitted {
        access,
        request,
        feed,
        published,
        recorder,
    } = admit(delivery, headers, body).await?;
    let (position, flag) = published
        .compiled
        .flag_with_position(key)
        .filter(|(_, flag)| access.kind == SdkKeyKind::Server || flag.client_visible())
        .ok_or_else(|| {
            Failure::new(
                StatusCode::NOT_FOUND,
                "FLAG_NOT_FOUND",
                format!("no flag {key:?} in this environment"),
            )
        })?;
    let now = now_ms();
    let outcome = evaluate(&published.compiled, flag, &request, now);
    if let (Some(recorder), Ok(context), Some(recorded)) =
        (&recorder, &request.context, outcome.recorded(flag))
        && let Some(mut bulk) = recorder.bulk(&published, context)
    {
        bulk.add(position, recorded);
        bulk.finish(|| now);
    }
    if let Outcome::Failed {
        status,
        code,
        details,
    } = outcome
    {
        return Err(Failure::new(status, code, details));
    }
    let mut out = Vec::with_capacity(256);
    if let Some(fragments) = published.ofrep.flags.get(position) {
        write_flag(&mut out, fragments, &outcome);
    }
    Ok((out, feed))
}

async fn evaluate_all(
    State(delivery): State<Arc<Delivery>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Admitted {
        access,
        request,
        feed,
        published,
        recorder,
    } = match admit(&delivery, &headers, &body).await {
        Ok(admitted) => admitted,
        Err(failure) => return failure.into_response(),
    };
    if let Err(details) = &request.context {
        return Failure::new(StatusCode::BAD_REQUEST, "INVALID_CONTEXT", details.clone())
            .into_response();
    }
    // Same data, same key kind, same request: same answer.
    let etag = format!(
        "\"{}-{}-{}\"",
        published.revision(),
        access.key_id,
        hex16(&Sha256::digest(&body))
    );
    let mut response = if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|tag| tag.as_bytes() == etag.as_bytes())
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let snapshot = &published.compiled;
        let now = now_ms();
        let mut out = Vec::with_capacity(published.ofrep.flags.len() * 128 + 256);
        out.extend_from_slice(b"{\"flags\":[");
        let mut first = true;
        // A bulk answer counts as an exposure to every flag in it: OFREP clients evaluate
        // from it locally and tell nobody which flags they read.
        let mut recording = match (&recorder, &request.context) {
            (Some(recorder), Ok(context)) => recorder.bulk(&published, context),
            _ => None,
        };
        for (position, (flag, fragments)) in
            snapshot.flags().zip(&published.ofrep.flags).enumerate()
        {
            if access.kind != SdkKeyKind::Server && !flag.client_visible() {
                continue;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            let outcome = evaluate(snapshot, flag, &request, now);
            write_flag(&mut out, fragments, &outcome);
            if let (Some(recording), Some(recorded)) = (&mut recording, outcome.recorded(flag)) {
                recording.add(position, recorded);
            }
        }
        if let Some(recording) = recording {
            recording.finish(|| now);
        }
        out.extend_from_slice(b"],\"metadata\":{\"revision\":");
        out.extend_from_slice(published.revision().to_string().as_bytes());
        out.extend_from_slice(b"},\"eventStreams\":[{\"type\":\"sse\",\"url\":");
        let events_url = events_url(&headers, &access, published.revision());
        let _ = serde_json::to_writer(&mut out, &events_url);
        out.extend_from_slice(b",\"inactivityDelaySec\":");
        out.extend_from_slice(INACTIVITY_DELAY_SEC.to_string().as_bytes());
        out.extend_from_slice(b"}]}");
        json_response(out)
    };
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    insert_data_age(response.headers_mut(), &feed);
    response
}

/// The absolute URL of the change stream for this key: `EventSource` cannot send headers, so
/// the URL carries a token derived from the stored key hash (it reveals no flag data). It also
/// carries the revision the answer was evaluated at: a client that connects later (a page
/// restored from its cache while the server was away) is told to refetch at once if anything
/// changed since, instead of waiting for the next change.
fn events_url(headers: &HeaderMap, access: &SdkAccess, revision: i64) -> String {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let host = header("x-forwarded-host")
        .or_else(|| header("host"))
        .unwrap_or(crate::net::DEFAULT_LISTEN);
    let scheme = header("x-forwarded-proto").unwrap_or("http");
    format!(
        "{scheme}://{host}/ofrep/v1/events/{}?token={}&revision={revision}",
        access.key_id, access.events_token
    )
}

#[derive(Debug, Deserialize)]
struct EventsQuery {
    #[serde(default)]
    token: String,
    /// The revision the client evaluated at (see [`events_url`]); not a number: unknown.
    #[serde(default)]
    revision: Option<String>,
}

async fn events(
    State(delivery): State<Arc<Delivery>>,
    Path(key_id): Path<String>,
    Query(query): Query<EventsQuery>,
    headers: HeaderMap,
) -> Result<Response, Failure> {
    let access = delivery.authenticate_events(&key_id, &query.token).await?;
    let feed = delivery.feed(&access.project, &access.env).await?;
    // A reconnecting `EventSource` names the last event it saw; a first connection, the
    // revision its URL was handed out at.
    let evaluated_at = query.revision.and_then(|revision| revision.parse().ok());
    Ok(event_stream(
        &delivery,
        &access,
        feed,
        StreamKind::Refetch,
        last_event_id(&headers).or(evaluated_at),
    ))
}

async fn configuration() -> Json<Value> {
    Json(json!({
        "name": "Switchyard",
        "capabilities": {
            "cacheInvalidation": {"polling": {"enabled": true, "minPollingIntervalMs": 1000}},
            "flagEvaluation": {"supportedTypes": ["boolean", "string", "integer", "float", "object"]},
        },
    }))
}

fn hex16(digest: &[u8]) -> String {
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}
