//! The record layer's one way in and out of the store: [`Record`] gives each stored type its
//! document kind; [`get`], [`list`], [`put`] and [`delete`] address records by scope and key.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use switchyard_store::{Document, Expected, Store, Write};

use crate::error::{ApiError, ApiResult};

/// A type stored as a store [`Document`] body of kind [`Record::KIND`].
pub trait Record: Serialize + DeserializeOwned {
    const KIND: &'static str;
}

/// A record as read, with the key and version the store gave it.
#[derive(Debug, Clone)]
pub struct Versioned<R> {
    pub key: String,
    pub version: i64,
    pub record: R,
}

/// Reads one record; `None` when absent.
pub async fn get<R: Record>(
    store: &Store,
    scope: &str,
    key: &str,
) -> ApiResult<Option<Versioned<R>>> {
    match store.get(R::KIND, scope, key).await? {
        Some(doc) => Ok(Some(versioned(&doc)?)),
        None => Ok(None),
    }
}

/// Every record of kind `R` in `scope`, in key order.
pub async fn list<R: Record>(store: &Store, scope: &str) -> ApiResult<Vec<Versioned<R>>> {
    list_keys(store, scope, |_| true).await
}

/// The records of kind `R` in `scope` whose key passes `keep`, in key order; the others are
/// not parsed.
pub async fn list_keys<R: Record>(
    store: &Store,
    scope: &str,
    keep: impl Fn(&str) -> bool,
) -> ApiResult<Vec<Versioned<R>>> {
    store
        .list(R::KIND, scope)
        .await?
        .iter()
        .filter(|doc| keep(&doc.key))
        .map(versioned)
        .collect()
}

/// Every record of kind `R` in `scope` whose body parses, in key order, passing over the rest:
/// for work that must go on past one unreadable record (the guard's pass, a kill, webhooks).
pub async fn list_readable<R: Record>(store: &Store, scope: &str) -> ApiResult<Vec<Versioned<R>>> {
    let docs = store.list(R::KIND, scope).await?;
    Ok(docs
        .into_iter()
        .filter_map(|doc| {
            let record = serde_json::from_value(doc.body).ok()?;
            Some(Versioned {
                key: doc.key,
                version: doc.version,
                record,
            })
        })
        .collect())
}

fn versioned<R: Record>(doc: &Document) -> ApiResult<Versioned<R>> {
    Ok(Versioned {
        key: doc.key.clone(),
        version: doc.version,
        record: parse(doc)?,
    })
}

/// Writes `record` (expecting `expected`) as `R`'s kind.
pub fn put<R: Record>(scope: &str, key: &str, record: &R, expected: Expected) -> Write {
    put_body::<R>(scope, key, encode(record), expected)
}

/// Writes a body of `R`'s kind that carries more than `R` itself (a trigger's secret hash).
pub fn put_body<R: Record>(scope: &str, key: &str, body: Value, expected: Expected) -> Write {
    Write::Put {
        kind: R::KIND.into(),
        scope: scope.into(),
        key: key.into(),
        body,
        expected,
    }
}

/// Deletes the record of `R`'s kind at `scope`/`key`.
pub fn delete<R: Record>(scope: &str, key: &str, expected: Expected) -> Write {
    Write::Delete {
        kind: R::KIND.into(),
        scope: scope.into(),
        key: key.into(),
        expected,
    }
}

/// Parses a stored document body; stored data that does not parse is a server fault.
pub fn parse<T: DeserializeOwned>(doc: &Document) -> ApiResult<T> {
    serde_json::from_value(doc.body.clone()).map_err(ApiError::internal)
}

/// A record as a stored body (or an audit record's `before`/`after`).
pub fn encode<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// What a write of a record read at `version` expects; version 0 means it does not exist yet
/// (an environment's targeting that was never edited).
pub fn expect_version(version: i64) -> Expected {
    match version {
        0 => Expected::Absent,
        v => Expected::Version(v),
    }
}

/// The storage scope of per-environment records (targeting, segments, SDK keys).
pub fn env_scope(project: &str, env: &str) -> String {
    format!("{project}/{env}")
}

/// The scope of records that belong to no project (accounts, tokens, roles, releases, triggers).
pub const GLOBAL: &str = "";
