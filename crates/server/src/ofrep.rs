//! The OpenFeature Remote Evaluation Protocol (OFREP): `POST /ofrep/v1/evaluate/flags/{key}`,
//! bulk `POST /ofrep/v1/evaluate/flags` (ETag/`If-None-Match`), `GET /ofrep/v1/configuration`,
//! and the change-notification stream a bulk response advertises in `eventStreams`.
//!
//! Errors answer in OFREP's shape (`{"key"?, "errorCode", "errorDetails"}`), not the API's.
//! Server and client SDK keys both evaluate; a client key sees only client-visible flags.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use switchyard_engine::{CompiledFlag, Context, Env, ErrorKind, RandomSource, Reason, Snapshot};

use crate::api::access::SdkKeyKind;
use crate::delivery::{Delivery, Feed, Published, SdkAccess};
use crate::error::{ApiError, Code};
use crate::sdk_routes::{StreamKind, event_stream, insert_data_age, last_event_id, presented_key};

/// Served by `switchyard serve` and `switchyard relay` alike.
pub fn router() -> Router<Arc<Delivery>> {
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

/// An admitted OFREP request: who asked, what they asked, and the data to answer from.
struct Admitted {
    access: SdkAccess,
    request: Request,
    feed: Arc<Feed>,
    published: Arc<Published>,
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
    Ok(Admitted {
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

/// The flag as `access` may see it.
fn visible<'s>(snapshot: &'s Snapshot, access: &SdkAccess, key: &str) -> Option<&'s CompiledFlag> {
    snapshot
        .flag(key)
        .filter(|flag| access.kind == SdkKeyKind::Server || flag.client_visible())
}

/// The evaluation of one flag: `Ok` is an OFREP success body, `Err` an error (status, code).
fn evaluate(
    snapshot: &Snapshot,
    flag: &CompiledFlag,
    request: &Request,
) -> Result<Value, (StatusCode, &'static str, String)> {
    let context = match &request.context {
        Ok(context) => context,
        Err(details) => return Err((StatusCode::BAD_REQUEST, "INVALID_CONTEXT", details.clone())),
    };
    if request.keyless && flag.is_on() && !flag.is_static() {
        return Err((
            StatusCode::BAD_REQUEST,
            "TARGETING_KEY_MISSING",
            "this flag targets or splits by key: the context needs a `targetingKey`".into(),
        ));
    }
    let env = Env {
        now_ms: crate::now_ms(),
        random: RANDOM.next_u32(),
    };
    let evaluation = snapshot.evaluate_flag(flag, context, &env);
    if let Reason::Error { error_kind } = evaluation.reason {
        let details = match error_kind {
            ErrorKind::MalformedFlag => "the flag's configuration cannot be evaluated",
            _ => "evaluation failed",
        };
        return Err((
            StatusCode::INTERNAL_SERVER_ERROR,
            "GENERAL",
            details.to_owned(),
        ));
    }
    let mut metadata = json!({
        "version": flag.version(),
        "reasonKind": evaluation.reason.kind_name(),
    });
    if let Reason::PrerequisiteFailed { prerequisite_key } = evaluation.reason {
        metadata["prerequisiteKey"] = Value::String(prerequisite_key.to_owned());
    }
    let mut body = json!({
        "key": flag.key(),
        "reason": evaluation.reason.openfeature(flag.is_static()),
        "metadata": metadata,
    });
    // No variation (off without an off-variation): omitting the value tells the client to use
    // its own default.
    if let Some(variation) = evaluation.variation {
        body["value"] = variation.value.clone();
        body["variant"] = Value::String(variation.key.clone());
    }
    Ok(body)
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
            let mut response = Json(body).into_response();
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
) -> Result<(Value, Arc<Feed>), Failure> {
    let Admitted {
        access,
        request,
        feed,
        published,
    } = admit(delivery, headers, body).await?;
    let flag = visible(&published.compiled, &access, key).ok_or_else(|| {
        Failure::new(
            StatusCode::NOT_FOUND,
            "FLAG_NOT_FOUND",
            format!("no flag {key:?} in this environment"),
        )
    })?;
    let body = evaluate(&published.compiled, flag, &request)
        .map_err(|(status, code, details)| Failure::new(status, code, details))?;
    Ok((body, feed))
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
        let flags: Vec<Value> = published
            .compiled
            .flags()
            .filter(|flag| access.kind == SdkKeyKind::Server || flag.client_visible())
            .map(|flag| match evaluate(&published.compiled, flag, &request) {
                Ok(body) => body,
                Err((_, code, details)) => {
                    json!({"key": flag.key(), "errorCode": code, "errorDetails": details})
                }
            })
            .collect();
        Json(json!({
            "flags": flags,
            "metadata": {"revision": published.revision()},
            "eventStreams": [{
                "type": "sse",
                "url": events_url(&headers, &access),
                "inactivityDelaySec": INACTIVITY_DELAY_SEC,
            }],
        }))
        .into_response()
    };
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    insert_data_age(response.headers_mut(), &feed);
    response
}

/// The absolute URL of the change stream for this key: `EventSource` cannot send headers, so
/// the URL carries a token derived from the stored key hash (it reveals no flag data).
fn events_url(headers: &HeaderMap, access: &SdkAccess) -> String {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let host = header("x-forwarded-host")
        .or_else(|| header("host"))
        .unwrap_or(crate::DEFAULT_LISTEN);
    let scheme = header("x-forwarded-proto").unwrap_or("http");
    format!(
        "{scheme}://{host}/ofrep/v1/events/{}?token={}",
        access.key_id, access.events_token
    )
}

#[derive(Debug, Deserialize)]
struct EventsQuery {
    #[serde(default)]
    token: String,
}

async fn events(
    State(delivery): State<Arc<Delivery>>,
    Path(key_id): Path<String>,
    Query(query): Query<EventsQuery>,
    headers: HeaderMap,
) -> Result<Response, Failure> {
    let access = delivery.authenticate_events(&key_id, &query.token).await?;
    let feed = delivery.feed(&access.project, &access.env).await?;
    Ok(event_stream(
        &delivery,
        feed,
        StreamKind::Refetch,
        last_event_id(&headers),
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
