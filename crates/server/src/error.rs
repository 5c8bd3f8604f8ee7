//! The closed set of API error codes and the one place they become HTTP statuses and the
//! `{"error": {"code", "message", "field"?, "request_id"}}` body.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use switchyard_store::StoreError;

tokio::task_local! {
    /// The current request's id, set by the request middleware so every error body carries it.
    pub static REQUEST_ID: String;
}

pub fn current_request_id() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_default()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    BadRequest,
    ValidationFailed,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    PreconditionFailed,
    PayloadTooLarge,
    RateLimited,
    Unavailable,
    Internal,
}

impl Code {
    pub fn status(self) -> StatusCode {
        match self {
            Code::BadRequest => StatusCode::BAD_REQUEST,
            Code::ValidationFailed => StatusCode::UNPROCESSABLE_ENTITY,
            Code::Unauthorized => StatusCode::UNAUTHORIZED,
            Code::Forbidden => StatusCode::FORBIDDEN,
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::Conflict => StatusCode::CONFLICT,
            Code::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Code::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Code::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiError {
    pub code: Code,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For `conflict` and `precondition_failed`: the version the resource is at now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_version: Option<i64>,
    /// Every problem of a request that names several (a config apply), each by file and field;
    /// `field` and `message` say the first and how many.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<Problem>,
}

/// One of several problems an error names (see [`ApiError::problems`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub file: String,
    pub field: String,
    pub message: String,
}

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            field: None,
            current_version: None,
            problems: Vec::new(),
        }
    }

    pub fn field(mut self, field: impl Into<String>) -> ApiError {
        self.field = Some(field.into());
        self
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(Code::BadRequest, message)
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::new(Code::ValidationFailed, message).field(field)
    }

    pub fn not_found(what: impl std::fmt::Display) -> ApiError {
        ApiError::new(Code::NotFound, format!("{what} not found"))
    }

    pub fn forbidden(action: &str, resource: &str) -> ApiError {
        ApiError::new(
            Code::Forbidden,
            format!("not allowed to {action} on {resource}"),
        )
    }

    pub fn internal(error: impl std::fmt::Display) -> ApiError {
        tracing::error!(%error, "internal error");
        ApiError::new(Code::Internal, "internal error; see the server log")
    }
}

/// A problem with what a caller wrote, found by pure code (validation, release planning) that
/// knows nothing of HTTP; it answers 422 `validation_failed` naming the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

impl Invalid {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Invalid {
        Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<Invalid> for ApiError {
    fn from(invalid: Invalid) -> ApiError {
        ApiError::invalid(invalid.field, invalid.message)
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        match error {
            StoreError::Conflict {
                kind, key, current, ..
            } => ApiError {
                code: Code::Conflict,
                message: match current {
                    Some(v) => {
                        format!("{kind} {key:?} was changed meanwhile; it is now at version {v}")
                    }
                    None => format!("{kind} {key:?} does not exist any more"),
                },
                field: Some("version".into()),
                current_version: Some(current.unwrap_or(0)),
                problems: Vec::new(),
            },
            StoreError::Database(sqlx_error) => {
                tracing::error!(error = %sqlx_error, "storage error");
                ApiError::new(Code::Unavailable, "storage is unavailable; retry later")
            }
            other => ApiError::internal(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Body<'a> {
            error: Inner<'a>,
        }
        #[derive(Serialize)]
        struct Inner<'a> {
            #[serde(flatten)]
            error: &'a ApiError,
            request_id: String,
        }
        let status = self.code.status();
        let body = Body {
            error: Inner {
                error: &self,
                request_id: current_request_id(),
            },
        };
        (status, axum::Json(body)).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Errors made before any handler runs (a method the route does not have, a body limit's 413,
/// a path segment that does not parse) come from axum as plain text; every error the API
/// answers is JSON, so they are rewritten in the API's shape, keeping status and headers.
pub(crate) async fn json_errors(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.contains("+json"));
    if is_json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // What axum says is short; a body that is not is not worth echoing.
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let reason = status.canonical_reason().unwrap_or("error");
    let message = match std::str::from_utf8(&text).map(str::trim) {
        Ok(text) if !text.is_empty() => text.to_owned(),
        _ => reason.to_owned(),
    };
    let body = serde_json::json!({"error": {
        "code": code_of(status),
        "message": message,
        "request_id": current_request_id(),
    }});
    parts.headers.remove(CONTENT_LENGTH);
    parts.headers.insert(
        CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, axum::body::Body::from(body.to_string()))
}

/// The error code of a status: the API's own where it has one (`payload_too_large`), else the
/// status's reason in snake case (`method_not_allowed`, `uri_too_long`).
fn code_of(status: StatusCode) -> String {
    const CODES: [Code; 11] = [
        Code::BadRequest,
        Code::ValidationFailed,
        Code::Unauthorized,
        Code::Forbidden,
        Code::NotFound,
        Code::Conflict,
        Code::PreconditionFailed,
        Code::PayloadTooLarge,
        Code::RateLimited,
        Code::Unavailable,
        Code::Internal,
    ];
    if let Some(code) = CODES.iter().find(|code| code.status() == status) {
        return serde_json::to_value(code)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
    }
    status
        .canonical_reason()
        .unwrap_or("error")
        .to_ascii_lowercase()
        .replace(['-', ' '], "_")
        .replace('\'', "")
}

#[cfg(test)]
mod json_error_tests {
    use super::*;

    #[test]
    fn statuses_map_to_codes() {
        assert_eq!(code_of(StatusCode::PAYLOAD_TOO_LARGE), "payload_too_large");
        assert_eq!(
            code_of(StatusCode::METHOD_NOT_ALLOWED),
            "method_not_allowed"
        );
        assert_eq!(code_of(StatusCode::URI_TOO_LONG), "uri_too_long");
        assert_eq!(
            code_of(StatusCode::UNPROCESSABLE_ENTITY),
            "validation_failed"
        );
    }
}
