//! What can go wrong when calling the API: the server could not be reached, it refused the
//! request (with its status and error body), or it answered something this client cannot read.

use reqwest::StatusCode;
use serde_json::Value;

/// A refusal from the API: the HTTP status and the `{"error": {"code", "message", "field"}}`
/// body, parsed. Its text is `404 not_found: no flag "x"` (with ` (field f)` when the API names
/// one), which the CLI prints as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} {code}: {message}{}", status.as_u16(), field.as_ref().map(|f| format!(" (field {f})")).unwrap_or_default())]
pub struct ApiFailure {
    pub status: StatusCode,
    /// The API's error code (`not_found`, `conflict`, …); `error` when the body had none.
    pub code: String,
    /// The API's message; `no message` when the body had none.
    pub message: String,
    /// The request field the error is about, when the API names one.
    pub field: Option<String>,
    /// For `conflict` and `precondition_failed`: the version the resource is at now.
    pub current_version: Option<i64>,
}

impl ApiFailure {
    /// Reads an error body (any JSON, or `Null` when the body was not JSON) answered with
    /// `status`.
    pub fn from_body(status: StatusCode, body: &Value) -> ApiFailure {
        let error = &body["error"];
        let text = |name: &str| error[name].as_str().map(str::to_owned);
        ApiFailure {
            status,
            code: text("code").unwrap_or_else(|| "error".into()),
            message: text("message").unwrap_or_else(|| "no message".into()),
            field: text("field"),
            current_version: error["current_version"].as_i64(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The base URL and path do not make a URL.
    #[error("{url} is not a usable URL")]
    BadUrl { url: String },
    /// A request body that cannot be written as JSON.
    #[error("cannot write the request body as JSON")]
    Encode(#[source] serde_json::Error),
    /// The request could not be built (a header or query that cannot be encoded).
    #[error("cannot build the request")]
    Request(#[source] reqwest::Error),
    /// No answer: connection refused, reset, timed out.
    #[error("cannot reach {url}")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The API answered with an error status.
    #[error(transparent)]
    Api(#[from] ApiFailure),
    /// A success whose body is not the type the route returns.
    #[error("{url} answered a body this client cannot read")]
    Decode {
        url: String,
        #[source]
        source: serde_json::Error,
    },
}

impl ClientError {
    /// The HTTP status of an API refusal; `None` when there was no answer to read one from.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ClientError::Api(failure) => Some(failure.status),
            _ => None,
        }
    }

    /// Whether the API answered 404: the resource (or its parent) does not exist.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(StatusCode::NOT_FOUND)
    }

    /// The API's refusal, if this is one.
    pub fn failure(&self) -> Option<&ApiFailure> {
        match self {
            ClientError::Api(failure) => Some(failure),
            _ => None,
        }
    }
}
