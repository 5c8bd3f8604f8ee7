//! `switchyard-client`: a typed client of Switchyard's REST API (`/api/v1`) for the CLI, the
//! tests and the benchmarks. Each route is a method, declared as one line of the `endpoints!`
//! table, that sends the server's own request type and returns its response type
//! (`switchyard_server::api::types`, re-exported as [`types`]), so a field renamed on the server
//! fails to compile here instead of at run time, and a test holds the table to the server's
//! routes. A refusal is a
//! [`ClientError::Api`] carrying the HTTP status and the parsed error body; whether something
//! exists is decided by its 404 status, never by reading error text. [`Client::call`] is the raw
//! escape hatch, for tests that assert on error shapes and on routes outside `/api/v1`.
//!
//! **API boundary:** this crate only speaks HTTP. It never opens a store, never starts a server,
//! never retries or second-guesses an answer (the API decides what is valid), and the server never
//! depends on it.

mod access;
mod change_requests;
mod config;
mod endpoints;
mod environments;
mod error;
mod experiments;
mod flags;
mod release_plans;
mod releases;

use reqwest::{RequestBuilder, Url};
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use access::{AuditQuery, MeQuery};
pub use change_requests::{ChangeRequestFilter, Review};
pub use config::ConfigApply;
pub use environments::Promoted;
pub use error::{ApiFailure, ClientError};
pub use experiments::ExperimentChanged;
pub use flags::{ExposureQuery, FlagFilter, StaleQuery, TimeRange};
pub use release_plans::{PlanStarted, ReleasePlanAction};
pub use releases::ReleaseAction;
pub use reqwest::{Method, StatusCode};
/// The request and response bodies of every route, as the server defines them.
pub use switchyard_server::api::types;

pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// A connection to one Switchyard server, optionally with an API token.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    /// A client of the server at `base` (`http://127.0.0.1:8470`), without a token.
    pub fn new(base: &str) -> Client {
        Client {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_owned(),
            token: None,
        }
    }

    /// The same server and connection pool, sending `token` (or none) as the bearer.
    pub fn with_token(&self, token: Option<&str>) -> Client {
        Client {
            token: token.map(str::to_owned),
            ..self.clone()
        }
    }

    /// The server's base URL, without a trailing `/`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The token this client sends, if any.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// Sends `body` (if any) to `path` under the base URL (`/api/v1/…`, `/sdk/v1/…`, `/readyz`)
    /// and returns the status with the body: JSON when it is JSON, else a JSON string of the
    /// text. Only a failure to reach the server is an `Err`.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(StatusCode, Value)> {
        self.call_with(method, path, body, &[]).await
    }

    /// [`Client::call`] with extra request headers.
    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Result<(StatusCode, Value)> {
        let mut request =
            self.authorized(self.http.request(method, format!("{}{path}", self.base)));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let (status, _, bytes) = self.execute(request).await?;
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Ok((status, body))
    }

    fn authorized(&self, request: RequestBuilder) -> RequestBuilder {
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// A request to the endpoint at `template` (`/projects/{project}/flags`) under `/api/v1`,
    /// each `{…}` filled with the next of `params`, escaped as a path segment.
    fn endpoint(&self, method: Method, template: &str, params: &[&str]) -> Result<RequestBuilder> {
        let bad = || ClientError::BadUrl {
            url: self.base.clone(),
        };
        let mut params = params.iter();
        let segments = template.split('/').skip(1).map(|segment| {
            if segment.starts_with('{') {
                params.next().copied().unwrap_or(segment)
            } else {
                segment
            }
        });
        let mut url = Url::parse(&self.base).map_err(|_| bad())?;
        url.path_segments_mut()
            .map_err(|()| bad())?
            .pop_if_empty()
            .extend(["api", "v1"])
            .extend(segments);
        Ok(self.authorized(self.http.request(method, url)))
    }

    async fn execute(&self, request: RequestBuilder) -> Result<(StatusCode, String, Vec<u8>)> {
        let request = request.build().map_err(ClientError::Request)?;
        let url = request.url().to_string();
        let unreachable = |source| ClientError::Unreachable {
            url: url.clone(),
            source,
        };
        let response = self.http.execute(request).await.map_err(unreachable)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(unreachable)?;
        Ok((status, url, bytes.to_vec()))
    }

    /// Sends a typed request; a success is decoded as `T`, anything else is an [`ApiFailure`].
    async fn send<T: DeserializeOwned>(&self, request: RequestBuilder) -> Result<T> {
        let (status, url, bytes) = self.execute(request).await?;
        // A write held for approval (`202 {"change_request": …}`) did not take effect: it is
        // not the route's type, and saying so beats a decoding error.
        if status == StatusCode::ACCEPTED
            && let Ok(held) = serde_json::from_slice::<Value>(&bytes)
            && let Some(id) = held["change_request"]["id"].as_str()
        {
            return Err(ApiFailure {
                status,
                code: "held_for_approval".into(),
                message: format!(
                    "the change waits for approval as change request {id} \
                     (switchyard change-requests show {id})"
                ),
                field: None,
                current_version: None,
            }
            .into());
        }
        if !status.is_success() {
            let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            return Err(ApiFailure::from_body(status, &body).into());
        }
        serde_json::from_slice(&bytes).map_err(|source| ClientError::Decode { url, source })
    }
}
