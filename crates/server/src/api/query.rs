//! A query string whose rejections use the API's error shape, naming the parameter: axum's own
//! `Query` answers a plain-text 400.

use axum::extract::FromRequestParts;
use axum::extract::rejection::QueryRejection;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

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

/// The header naming the cursor of the next page (absent on the last page).
pub(super) const NEXT_CURSOR: &str = "x-next-cursor";
/// The header counting every item that matches the filters, on every paged answer.
pub(super) const TOTAL_COUNT: &str = "x-total-count";
/// The largest page a list answers.
pub(super) const MAX_LIMIT: usize = 1000;

/// `limit` and `cursor` of a list endpoint, as sent. Both are read as text and checked by
/// [`PageQuery::paging`], so a bad value is a 400 naming the parameter.
/// Strict, as the segment list's whole query: a misspelt parameter (`limt`) is refused, never
/// ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PageQuery {
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

/// A checked page request: at most `limit` items after the key `cursor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Paging {
    pub limit: usize,
    pub cursor: Option<String>,
}

impl PageQuery {
    /// `None` when neither parameter was sent: the list answers everything, as it always did.
    /// A `cursor` alone pages with the largest `limit`.
    pub(super) fn paging(&self) -> Result<Option<Paging>, ApiError> {
        if self.limit.is_none() && self.cursor.is_none() {
            return Ok(None);
        }
        let limit = match self.limit.as_deref() {
            None => MAX_LIMIT,
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "`limit` is how many items a page holds: a whole number from 1 to {MAX_LIMIT}, not {text:?}"
                    ))
                    .field("limit")
                })?,
        };
        let cursor = match self.cursor.as_deref() {
            None => None,
            Some(cursor) if is_cursor(cursor) => Some(cursor.to_owned()),
            Some(cursor) => {
                return Err(ApiError::bad_request(format!(
                    "`cursor` {cursor:?} is not a cursor this list gave out (pass back `x-next-cursor` as it came)"
                ))
                .field("cursor"));
            }
        };
        Ok(Some(Paging { limit, cursor }))
    }
}

/// The list routes that page with `limit` and `cursor` (`GET`).
const PAGED_LISTS: [&str; 2] = [
    "/projects/{project}/flags",
    "/projects/{project}/environments/{env}/segments",
];

/// A documented query parameter: its name, JSON type and description.
type Parameter = (&'static str, &'static str, &'static str);

/// Query parameters documented in the OpenAPI document beside the paging ones, by route.
const QUERY_PARAMETERS: [(&str, &[Parameter]); 2] = [
    (
        "/projects/{project}/flags",
        &[
            (
                "q",
                "string",
                "Matches key, name or description (case-insensitive)",
            ),
            ("tag", "string", "Only flags with this tag"),
            ("kind", "string", "Only flags of this kind"),
            ("archived", "boolean", "Archived flags instead of live ones"),
        ],
    ),
    (
        "/audit",
        &[
            (
                "actor",
                "string",
                "Only what this account did (through any of its tokens), or a system actor (`guard`, `scheduler`, `bootstrap`)",
            ),
            (
                "action",
                "string",
                "An action (`flag:toggle`), or a prefix ending in `*` (`flag:*`)",
            ),
            ("project", "string", "Only records in this project"),
            ("env", "string", "Only records in this environment"),
            (
                "flag",
                "string",
                "Only records of this flag (in `project` when given)",
            ),
            (
                "from",
                "integer",
                "Only records at or after this time (Unix ms)",
            ),
            ("to", "integer", "Only records before this time (Unix ms)"),
            (
                "resource",
                "string",
                "Only records whose resource starts with this",
            ),
            (
                "before",
                "integer",
                "Only records older than this sequence number: the previous page's `next_before`",
            ),
            ("limit", "integer", "Records per page: 1 to 500, default 50"),
        ],
    ),
];

/// The query parameters of `method path` and the headers of its answer, for the OpenAPI
/// document: a paged list's `limit` and `cursor` and its `x-next-cursor` and `x-total-count`.
pub(super) fn documented_query(method: &str, path: &str) -> (Vec<Value>, Option<Value>) {
    if method != "get" {
        return (Vec::new(), None);
    }
    let mut parameters: Vec<Value> = QUERY_PARAMETERS
        .iter()
        .filter(|(route, _)| *route == path)
        .flat_map(|(_, parameters)| parameters.iter())
        .map(|(name, kind, description)| {
            json!({"name": name, "in": "query", "required": false,
                   "description": description, "schema": {"type": kind}})
        })
        .collect();
    if !PAGED_LISTS.contains(&path) {
        return (parameters, None);
    }
    parameters.push(json!({"name": "limit", "in": "query", "required": false,
        "description": "Items per page (1 to 1000), in key order; without it (and `cursor`) the whole list",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}}));
    parameters.push(json!({"name": "cursor", "in": "query", "required": false,
        "description": "The previous page's `x-next-cursor`: this page starts after it",
        "schema": {"type": "string"}}));
    let headers = json!({
        NEXT_CURSOR: {"description": "Present when more items remain: pass it back as `cursor`",
                      "schema": {"type": "string"}},
        TOTAL_COUNT: {"description": "How many items match the filters (paged answers only)",
                      "schema": {"type": "integer"}},
    });
    (parameters, Some(headers))
}

/// Cursors are the last key of a page, so a cursor has a key's shape.
fn is_cursor(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 128
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// One page of `items` (every item matching the filters, in any order): those whose key comes
/// after the cursor, in key order, at most `limit`; with the headers `x-total-count` and, when
/// more remain, `x-next-cursor` (the page's last key: the next page starts after it).
pub(super) fn page<T>(
    mut items: Vec<T>,
    paging: &Paging,
    key: impl Fn(&T) -> &str,
) -> (HeaderMap, Vec<T>) {
    let total = items.len();
    items.sort_by(|a, b| key(a).cmp(key(b)));
    if let Some(cursor) = &paging.cursor {
        items.retain(|item| key(item) > cursor.as_str());
    }
    let more = items.len() > paging.limit;
    items.truncate(paging.limit);
    let mut headers = HeaderMap::new();
    headers.insert(TOTAL_COUNT, HeaderValue::from(total));
    if more
        && let Some(last) = items.last()
        && let Ok(value) = HeaderValue::from_str(key(last))
    {
        headers.insert(NEXT_CURSOR, value);
    }
    (headers, items)
}

#[cfg(test)]
mod tests {
    use super::{PageQuery, Paging, page, parameter_of};

    fn query(limit: Option<&str>, cursor: Option<&str>) -> PageQuery {
        PageQuery {
            limit: limit.map(str::to_owned),
            cursor: cursor.map(str::to_owned),
        }
    }

    #[test]
    fn paging_is_checked() {
        assert_eq!(query(None, None).paging().ok(), Some(None));
        assert_eq!(
            query(Some("2"), Some("b")).paging().ok(),
            Some(Some(Paging {
                limit: 2,
                cursor: Some("b".into())
            }))
        );
        for bad in ["0", "1001", "-1", "ten", ""] {
            let error = query(Some(bad), None).paging().err();
            assert_eq!(error.and_then(|e| e.field), Some("limit".into()), "{bad}");
        }
        let error = query(Some("5"), Some("a b")).paging().err();
        assert_eq!(error.and_then(|e| e.field), Some("cursor".into()));
    }

    #[test]
    fn pages_follow_each_other() {
        let items = vec!["d", "a", "c", "b", "e"];
        let mut cursor = None;
        let mut seen = Vec::new();
        loop {
            let paging = Paging { limit: 2, cursor };
            let (headers, items) = page(items.clone(), &paging, |s| s);
            assert_eq!(headers["x-total-count"], "5");
            seen.extend(items);
            match headers.get("x-next-cursor") {
                Some(next) => cursor = next.to_str().ok().map(str::to_owned),
                None => break,
            }
        }
        assert_eq!(seen, ["a", "b", "c", "d", "e"]);
    }

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
