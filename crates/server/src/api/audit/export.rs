//! `GET /api/v1/audit/export`: the audit log as JSON lines after a cursor, for a SIEM to follow
//! (`docs/security.md`, "Audit export"). Each line is a record as `GET /audit` shows it plus its
//! form, so it verifies against the chain and the signed head without the database
//! (`switchyard audit verify-export`, with the store's `ExportVerifier`).
//!
//! With `follow=true` the body stays open: records are sent as they are committed (woken by the
//! store's change announcements, every replica's on PostgreSQL), with a newline as keep-alive every
//! 15 s. It ends when the server shuts down, or when the caller's token no longer authenticates or
//! no longer allows `audit:read` (checked again on every keep-alive and whenever a token, account
//! or role changes). The caller resumes from the last line's `seq`.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchyard_store::{AuditRow, Store, StoreEvent};
use tokio::sync::{broadcast, watch};

use super::AuditEntry;
use crate::access::resources::AUDIT;
use crate::access::{AccountRecord, Action, Caller, RoleRecord, TokenRecord};
use crate::api::ctx::{Ctx, bearer};
use crate::api::query::Query;
use crate::clock::now_ms;
use crate::error::{ApiError, ApiResult, Code};
use crate::records::Record;

/// Records read and sent at a time.
const PAGE: i64 = 500;

/// How often a followed export sends a newline when nothing was committed.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The header of a finished export naming the cursor to resume from.
const CURSOR_HEADER: &str = "switchyard-audit-cursor";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::api) struct ExportQuery {
    /// Only records after this sequence number (0, the default: from the first).
    since: Option<i64>,
    /// Keep the answer open and send records as they are committed.
    #[serde(default)]
    follow: bool,
}

/// Which hash a record carries: `signed` (every column hashed, signed with the server's key) or
/// `legacy` (written before signing, `docs/security.md`, "Audit log").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChainForm {
    Signed,
    Legacy,
}

/// One line of an audit export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AuditExportLine {
    #[serde(flatten)]
    pub entry: AuditEntry,
    pub form: ChainForm,
}

impl AuditExportLine {
    /// The line of a stored row. A record that does not parse is sent with its columns and
    /// empty fields, so the export goes on and a verifier reports it broken there.
    pub fn from_row(row: &AuditRow, signed_from: i64) -> AuditExportLine {
        let entry = AuditEntry::from_row(row).unwrap_or_else(|_| AuditEntry {
            seq: row.seq,
            at_ms: row.at_ms,
            actor: Value::Null,
            action: String::new(),
            resource: String::new(),
            outcome: String::new(),
            before: None,
            after: None,
            comment: None,
            request_id: None,
            prev_hash: row.prev_hash.clone(),
            hash: row.hash.clone(),
            signature: row.signature.clone(),
            record: row.record.clone(),
            actor_name: None,
            project: None,
            environment: None,
            flag: None,
        });
        let form = if row.seq >= signed_from {
            ChainForm::Signed
        } else {
            ChainForm::Legacy
        };
        AuditExportLine { entry, form }
    }

    /// The stored row this line was made from.
    pub fn row(&self) -> AuditRow {
        let entry = &self.entry;
        AuditRow {
            seq: entry.seq,
            at_ms: entry.at_ms,
            record: entry.record.clone(),
            prev_hash: entry.prev_hash.clone(),
            hash: entry.hash.clone(),
            signature: entry.signature.clone(),
        }
    }

    /// Whether the fields read for people are exactly those of the hashed record, so what a
    /// SIEM indexes is what was verified.
    pub fn agrees_with_record(&self) -> bool {
        AuditEntry::from_row(&self.row()).is_ok_and(|entry| entry == self.entry)
    }
}

pub(in crate::api) async fn export_audit(
    ctx: Ctx,
    Query(query): Query<ExportQuery>,
) -> ApiResult<Response> {
    ctx.authorize(Action::AuditRead, AUDIT).await?;
    let since = query.since.unwrap_or(0);
    if since < 0 {
        return Err(ApiError::invalid(
            "since",
            "`since` is a sequence number: 0 or more",
        ));
    }
    let store = ctx.state.store.clone();
    // Subscribed before the first read, so nothing committed after it goes unannounced.
    let changes = store.changes();
    let head = store.audit_head().await?;
    let follow = query.follow.then(|| Follow {
        changes,
        closing: ctx.state.delivery.closing(),
        keep_alive: keep_alive_timer(),
        store: store.clone(),
        token: bearer(&ctx.headers).unwrap_or_default().to_owned(),
    });
    let until = (!query.follow).then_some(head.seq);
    let export = Export {
        store,
        cursor: since,
        until,
        signed_from: head.signed_from,
        follow,
    };
    let mut response = Body::from_stream(stream::unfold(export, |mut export| async move {
        let chunk = export.next_chunk().await?;
        Some((Ok::<_, Infallible>(chunk), export))
    }))
    .into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Reverse proxies (nginx) would otherwise buffer a followed export.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    if !query.follow {
        headers.insert(CURSOR_HEADER, HeaderValue::from(since.max(head.seq)));
    }
    Ok(response)
}

fn keep_alive_timer() -> tokio::time::Interval {
    let mut timer = tokio::time::interval(KEEP_ALIVE);
    timer.reset();
    timer
}

/// An export in progress: the last sequence number sent, and where it stops (the head when it
/// was asked for) or how it follows.
struct Export {
    store: Store,
    cursor: i64,
    until: Option<i64>,
    signed_from: i64,
    follow: Option<Follow>,
}

struct Follow {
    changes: broadcast::Receiver<StoreEvent>,
    closing: watch::Receiver<bool>,
    keep_alive: tokio::time::Interval,
    store: Store,
    token: String,
}

impl Export {
    /// The next lines to send (or a keep-alive newline); `None` ends the answer.
    async fn next_chunk(&mut self) -> Option<Bytes> {
        loop {
            if let Some(follow) = &self.follow
                && *follow.closing.borrow()
            {
                return None;
            }
            let limit = match self.until {
                Some(until) if until <= self.cursor => return None,
                Some(until) => PAGE.min(until - self.cursor),
                None => PAGE,
            };
            let rows = match self.store.audit_after(self.cursor, limit).await {
                Ok(rows) => rows,
                Err(error) => {
                    tracing::warn!(%error, cursor = self.cursor, "audit export stopped");
                    return None;
                }
            };
            if let Some(last) = rows.last() {
                self.cursor = last.seq;
                return Some(self.lines(&rows));
            }
            let follow = self.follow.as_mut()?;
            match follow.wait().await {
                Wake::Stop => return None,
                Wake::KeepAlive => return Some(Bytes::from_static(b"\n")),
                Wake::Read => {}
            }
        }
    }

    fn lines(&self, rows: &[AuditRow]) -> Bytes {
        let mut text = Vec::with_capacity(rows.len() * 1024);
        for row in rows {
            let line = AuditExportLine::from_row(row, self.signed_from);
            // Serializing plain data into memory does not fail.
            if serde_json::to_writer(&mut text, &line).is_ok() {
                text.push(b'\n');
            }
        }
        Bytes::from(text)
    }
}

enum Wake {
    /// Something may have been committed: read after the cursor.
    Read,
    KeepAlive,
    Stop,
}

impl Follow {
    async fn wait(&mut self) -> Wake {
        let event = tokio::select! {
            _ = self.closing.changed() => return Wake::Stop,
            _ = self.keep_alive.tick() => {
                return if self.still_allowed().await { Wake::KeepAlive } else { Wake::Stop };
            }
            event = self.changes.recv() => event,
        };
        let may_revoke = match &event {
            Ok(StoreEvent::Committed(note)) => note.touches(|t| {
                [TokenRecord::KIND, AccountRecord::KIND, RoleRecord::KIND]
                    .contains(&t.kind.as_str())
            }),
            Ok(StoreEvent::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => true,
            Err(broadcast::error::RecvError::Closed) => return Wake::Stop,
        };
        if may_revoke && !self.still_allowed().await {
            return Wake::Stop;
        }
        Wake::Read
    }

    /// Whether the token still authenticates and allows `audit:read`. A store that cannot
    /// answer right now revokes nothing.
    async fn still_allowed(&self) -> bool {
        match Caller::authenticate(&self.store, &self.token, now_ms()).await {
            Ok(caller) => caller.allows(Action::AuditRead, AUDIT),
            Err(error) => error.code != Code::Unauthorized,
        }
    }
}
