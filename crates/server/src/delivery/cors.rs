//! CORS for the endpoints browsers use (OFREP evaluation and its event stream, event intake):
//! client keys are public, so what a client key reaches answers cross-origin requests.
//!
//! A preflight carries no key, so it cannot know the environment: it is answered (`204`) when
//! some environment served here allows its origin (any environment without `allowed_origins`
//! allows every origin), and refused (`403`, no CORS headers) otherwise
//! ([`Delivery::preflight_allowed`]: the store's lists on `serve`, the relayed ones on a relay).
//! That reveals nothing; a browser still needs the real answer's
//! `Access-Control-Allow-Origin` to read anything. The real answer carries that header only
//! when the request presents a valid *client* key and the key's environment allows the origin
//! (any, unless it lists `allowed_origins`); a server key, no key or a wrong key gets none, so
//! a browser cannot read what a leaked server key returns. The SDK snapshot and
//! stream, the admin API and everything else answer no CORS at all.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::hub::{Delivery, SdkAccess};
use super::sdk_routes::presented_key;
use crate::access::SdkKeyKind;

/// What a browser may send cross-origin.
const ALLOWED_METHODS: &str = "GET, POST, OPTIONS";
/// The request headers the OFREP web provider, `EventSource` and the events intake send.
const ALLOWED_HEADERS: &str =
    "Authorization, Content-Type, Content-Encoding, If-None-Match, Last-Event-ID, X-API-Key";
/// How long a browser may reuse a preflight (Chromium caps it at two hours).
const MAX_AGE_SECONDS: &str = "7200";

/// The paths a client key reaches, so the only ones that answer CORS.
fn is_browser_path(path: &str) -> bool {
    path.starts_with("/ofrep/v1/evaluate/flags")
        || path.starts_with("/ofrep/v1/events/")
        || path == "/events/v1/bulk"
}

/// The layer over the delivery routes: answers preflights, and marks real answers readable
/// cross-origin when a client key asked.
pub(crate) async fn cors(
    State(delivery): State<Arc<Delivery>>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    let origin = request.headers().get(header::ORIGIN).cloned();
    let (Some(origin), true) = (origin, is_browser_path(&path)) else {
        return next.run(request).await;
    };
    if request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        return preflight(&delivery, origin).await;
    }
    let client = client_access(&delivery, &path, request.uri().query(), request.headers()).await;
    let readable = match client {
        Some(access) => origin_allowed(&delivery, &access, &origin).await,
        None => false,
    };
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    if readable {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSED_HEADERS),
        );
    }
    response
}

/// What a browser's script may read from an answer: the OFREP web provider reads `ETag` (bulk
/// evaluation's cache) and `Retry-After` (rate limit); `X-Switchyard-Data-Age` says how old a
/// relay's data is (`DATA_AGE_HEADER`).
const EXPOSED_HEADERS: &str = "ETag, Retry-After, X-Switchyard-Data-Age";

/// A preflight from an origin no environment served here allows is refused (`403`, no CORS
/// headers); otherwise answered `204` with what a browser needs.
async fn preflight(delivery: &Delivery, origin: HeaderValue) -> Response {
    if !delivery
        .preflight_allowed(origin.to_str().unwrap_or_default())
        .await
    {
        let mut refused = StatusCode::FORBIDDEN.into_response();
        refused
            .headers_mut()
            .insert(header::VARY, HeaderValue::from_static("Origin"));
        return refused;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(ALLOWED_METHODS),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(ALLOWED_HEADERS),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static(MAX_AGE_SECONDS),
    );
    response
}

/// The valid client key the request presents: in its headers, or (the OFREP event stream,
/// opened by `EventSource`, which sends no headers) as key id and token in its URL.
async fn client_access(
    delivery: &Delivery,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Option<SdkAccess> {
    let access = if let Some(key_id) = path.strip_prefix("/ofrep/v1/events/") {
        let token = query
            .unwrap_or_default()
            .split('&')
            .find_map(|pair| pair.strip_prefix("token="))
            .unwrap_or_default();
        delivery.authenticate_events(key_id, token).await
    } else {
        delivery.authenticate(presented_key(headers)?).await
    };
    access
        .ok()
        .filter(|access| access.kind == SdkKeyKind::Client)
}

/// Whether the key's environment lets `origin` read its answers: any origin unless the
/// environment lists `allowed_origins` (read from the store on `serve`, from what the upstream
/// reported on a relay: `environment_info.rs`).
async fn origin_allowed(delivery: &Delivery, access: &SdkAccess, origin: &HeaderValue) -> bool {
    let origin = origin.to_str().unwrap_or_default();
    delivery.origin_allowed(access, origin).await
}
