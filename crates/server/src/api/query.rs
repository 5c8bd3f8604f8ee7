//! A query string whose rejections use the API's error shape, naming the parameter: axum's own
//! `Query` answers a plain-text 400.

use axum::extract::FromRequestParts;
use axum::extract::rejection::QueryRejection;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ApiResult, Code};

/// The query string as `T`: a parameter of the wrong type is 422 `validation_failed` with
/// `field` naming it; a query string that cannot be read at all is 400 `bad_request`.
#[derive(Debug)]
pub(super) struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> ApiResult<Query<T>> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Query(value)),
            Err(rejection) => Err(query_error(&rejection)),
        }
    }
}

fn query_error(rejection: &QueryRejection) -> ApiError {
    let detail = match rejection {
        QueryRejection::FailedToDeserializeQueryString(e) => std::error::Error::source(e)
            .map(ToString::to_string)
            .unwrap_or_else(|| e.body_text()),
        other => other.body_text(),
    };
    match parameter_of(&detail) {
        Some((field, message)) => ApiError::new(
            Code::ValidationFailed,
            format!("query parameter `{field}`: {message}"),
        )
        .field(field),
        None => ApiError::bad_request(format!("invalid query string: {detail}")),
    }
}

/// `limit: invalid digit found in string` names the parameter before the colon (serde's path);
/// `unknown field `x`, expected …` names it between backquotes.
fn parameter_of(detail: &str) -> Option<(String, String)> {
    if let Some(rest) = detail.strip_prefix("unknown field `")
        && let Some((name, _)) = rest.split_once('`')
    {
        return Some((name.to_owned(), detail.to_owned()));
    }
    let (path, message) = detail.split_once(": ")?;
    let plain = !path.is_empty()
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-');
    plain.then(|| (path.to_owned(), message.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::parameter_of;

    #[test]
    fn the_parameter_is_named() {
        assert_eq!(
            parameter_of("limit: invalid digit found in string"),
            Some(("limit".into(), "invalid digit found in string".into()))
        );
        assert_eq!(
            parameter_of("unknown field `resourse`, expected `resource`"),
            Some((
                "resourse".into(),
                "unknown field `resourse`, expected `resource`".into()
            ))
        );
        assert_eq!(parameter_of("missing field `x`"), None);
        assert_eq!(parameter_of("a b: c"), None);
    }
}
