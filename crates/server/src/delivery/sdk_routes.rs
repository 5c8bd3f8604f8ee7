//! The SDK delivery endpoints (format in `docs/delivery.md`), authenticated by an environment's
//! server SDK key: `GET /sdk/v1/snapshot` (ETag/304, gzip) and `GET /sdk/v1/stream`, a
//! server-sent-event stream that opens with the data (or only what a resuming client missed)
//! and then sends one event per change, with heartbeats, until the server shuts down or the
//! key is revoked.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use futures_util::stream;
use tokio::sync::{broadcast, watch};

use super::feed::{DATA_AGE_HEADER, Feed, Published, frame};
use super::hub::{Delivery, SdkAccess};
use super::streams::{Refusal, StreamSlot};
use crate::access::SdkKeyKind;
use crate::error::{ApiError, ApiResult, Code};

/// Served by `switchyard serve` and `switchyard relay` alike.
pub(super) fn router() -> Router<Arc<Delivery>> {
    Router::new()
        .route("/sdk/v1/snapshot", get(snapshot))
        .route("/sdk/v1/stream", get(stream_changes))
}

/// The SDK key a request presents: `Authorization: Bearer KEY`, a bare `Authorization: KEY`
/// (as LaunchDarkly SDKs send it) or `X-API-Key: KEY` (as OFREP providers do).
pub(super) fn presented_key(headers: &HeaderMap) -> Option<&str> {
    let value = headers
        .get(header::AUTHORIZATION)
        .or_else(|| headers.get("x-api-key"))?
        .to_str()
        .ok()?
        .trim();
    Some(value.strip_prefix("Bearer ").unwrap_or(value).trim())
}

/// The feed of the environment whose server SDK key the request presents, and who that is.
async fn server_feed(
    delivery: &Delivery,
    headers: &HeaderMap,
) -> ApiResult<(Arc<Feed>, SdkAccess)> {
    let why = "client SDK keys evaluate through OFREP; flag data needs a server SDK key";
    let access = server_access(delivery, headers, why).await?;
    let feed = delivery.feed(&access.project, &access.env).await?;
    Ok((feed, access))
}

/// Who presents the request's server SDK key. A client key is refused (`403` naming the
/// header that carried it), with `why` the route is server-only.
pub(super) async fn server_access(
    delivery: &Delivery,
    headers: &HeaderMap,
    why: &str,
) -> ApiResult<SdkAccess> {
    let presented = presented_key(headers)
        .ok_or_else(|| ApiError::new(Code::Unauthorized, "an SDK key is required"))?;
    let access = delivery.authenticate(presented).await?;
    if access.kind != SdkKeyKind::Server {
        let header = if headers.contains_key(header::AUTHORIZATION) {
            "Authorization"
        } else {
            "X-API-Key"
        };
        return Err(ApiError::new(Code::Forbidden, why).field(header));
    }
    Ok(access)
}

async fn snapshot(
    State(delivery): State<Arc<Delivery>>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (feed, _) = server_feed(&delivery, &headers).await?;
    let published = feed.current();
    let etag = HeaderValue::from_str(&published.etag).map_err(ApiError::internal)?;
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|tags| tags.as_bytes() == etag.as_bytes());
    let mut response = if unchanged {
        StatusCode::NOT_MODIFIED.into_response()
    } else if accepts_gzip(&headers) {
        let mut response = Body::from(published.snapshot_gzip.clone()).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        response
    } else {
        Body::from(published.snapshot_json.clone()).into_response()
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, etag);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    insert_data_age(headers, &feed);
    Ok(response)
}

/// Says how old the served data may be (a relay cut off from its upstream serves old data).
pub(super) fn insert_data_age(headers: &mut HeaderMap, feed: &Feed) {
    if let Some(age) = feed.data_age() {
        headers.insert(DATA_AGE_HEADER, HeaderValue::from(age.as_secs()));
    }
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|coding| coding.split(';').next().is_some_and(|c| c.trim() == "gzip"))
        })
}

/// What a stream sends to its client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StreamKind {
    /// Flag data: `put` and `patch` events.
    FlagData,
    /// OFREP's change notification: a `refetchEvaluation` message per change.
    Refetch,
}

async fn stream_changes(
    State(delivery): State<Arc<Delivery>>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (feed, access) = server_feed(&delivery, &headers).await?;
    let resume_from = last_event_id(&headers);
    Ok(event_stream(
        &delivery,
        &access,
        feed,
        StreamKind::FlagData,
        resume_from,
    ))
}

/// The revision a reconnecting stream client already has.
pub(super) fn last_event_id(headers: &HeaderMap) -> Option<i64> {
    headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
}

/// An open stream of `access`'s key: subscribed before the first frame is chosen, so no
/// change falls between; it ends when the key is revoked. Over the open-stream limit, 503 with
/// `Retry-After`; over the key's own limit, 429 with `Retry-After`.
pub(super) fn event_stream(
    delivery: &Delivery,
    access: &SdkAccess,
    feed: Arc<Feed>,
    kind: StreamKind,
    resume_from: Option<i64>,
) -> Response {
    let slot = match delivery.open_stream(&access.key_id) {
        Ok(slot) => slot,
        Err(refusal) => return refused_stream(refusal),
    };
    let changes = feed.subscribe();
    let current = feed.current();
    let (first, sent) = match (kind, resume_from) {
        // An OFREP client that is up to date still hears that the stream is open.
        (StreamKind::Refetch, Some(id)) if id == current.revision() => {
            (Some(Bytes::from_static(b": open\n\n")), id)
        }
        (_, Some(id)) if id == current.revision() => (None, id),
        (StreamKind::FlagData, Some(id)) => match feed.patch_since(id) {
            Some(patch) => {
                let body = serde_json::to_vec(&patch).unwrap_or_default();
                (Some(frame(patch.revision, "patch", &body)), patch.revision)
            }
            None => (Some(current.put_frame.clone()), current.revision()),
        },
        (StreamKind::FlagData, None) => (Some(current.put_frame.clone()), current.revision()),
        (StreamKind::Refetch, Some(_)) => (Some(current.refetch_frame.clone()), current.revision()),
        // Nothing to refetch yet: the client evaluated just before it connected.
        (StreamKind::Refetch, None) => {
            (Some(Bytes::from_static(b": open\n\n")), current.revision())
        }
    };
    let open_feed = feed.clone();
    let open = OpenStream {
        feed,
        kind,
        changes,
        sent,
        first,
        closing: delivery.closing(),
        slot,
    };
    let body = Body::from_stream(stream::unfold(open, |mut open| async move {
        let bytes = open.next_frame().await?;
        Some((Ok::<_, Infallible>(bytes), open))
    }));
    let mut response = sse_response(body);
    insert_data_age(response.headers_mut(), &open_feed);
    response
}

/// A server-sent-event response of `body`.
pub fn sse_response(body: Body) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Reverse proxies (nginx) would otherwise buffer the stream.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// The answer to a stream over a limit: the API's error with `Retry-After`.
fn refused_stream(refusal: Refusal) -> Response {
    let error = match refusal {
        Refusal::Total => ApiError::new(
            Code::Unavailable,
            "too many open streams; retry later or poll the snapshot",
        ),
        Refusal::PerKey => ApiError::new(
            Code::RateLimited,
            "this SDK key has as many open streams as one key may (--max-streams-per-key); \
             retry later or poll the snapshot",
        ),
    };
    let mut response = error.into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    response
}

struct OpenStream {
    feed: Arc<Feed>,
    kind: StreamKind,
    changes: broadcast::Receiver<Arc<Published>>,
    /// The revision the client has.
    sent: i64,
    first: Option<Bytes>,
    closing: watch::Receiver<bool>,
    /// Counts the stream against the limits; says when its key is revoked.
    slot: StreamSlot,
}

const HEARTBEAT: &[u8] = b":\n\n";

impl OpenStream {
    /// The next frame, or `None` to end the stream (server shutting down, key revoked).
    async fn next_frame(&mut self) -> Option<Bytes> {
        if *self.slot.revoked.borrow() {
            return None;
        }
        if let Some(first) = self.first.take() {
            return Some(first);
        }
        loop {
            if *self.closing.borrow() || *self.slot.revoked.borrow() {
                return None;
            }
            let published = tokio::select! {
                biased;
                _ = self.closing.changed() => return None,
                Ok(_) = self.slot.revoked.wait_for(|revoked| *revoked) => return None,
                change = self.changes.recv() => match change {
                    Ok(published) => published,
                    // Too slow to keep up: resend the whole current state.
                    Err(broadcast::error::RecvError::Lagged(_)) => self.feed.current(),
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                // The shared tick (see `OpenStreams`), on every stream at once.
                Ok(()) = self.slot.heartbeat.changed() => return Some(Bytes::from_static(HEARTBEAT)),
            };
            if published.revision() <= self.sent {
                continue;
            }
            let frame = match (self.kind, &published.patch) {
                (StreamKind::Refetch, _) => published.refetch_frame.clone(),
                (StreamKind::FlagData, Some((patch, frame))) if patch.base <= self.sent => {
                    frame.clone()
                }
                (StreamKind::FlagData, _) => published.put_frame.clone(),
            };
            self.sent = published.revision();
            self.slot.handed(&self.feed, &published);
            return Some(frame);
        }
    }
}

impl std::fmt::Debug for OpenStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenStream")
            .field("feed", &self.feed.env)
            .field("sent", &self.sent)
            .finish()
    }
}
