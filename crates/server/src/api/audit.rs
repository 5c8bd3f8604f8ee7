//! Reading and verifying the audit log.

use axum::Json;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchyard_store::AuditRow;

use super::ctx::Ctx;
use crate::access::Action;
use crate::access::resources::AUDIT;
use crate::error::ApiResult;

mod export;
pub(super) mod names;
mod search;
pub(super) use export::export_audit;
pub use export::{AuditExportLine, ChainForm};
pub(super) use search::list_audit;

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema, Deserialize)]
pub struct AuditEntry {
    pub seq: i64,
    pub at_ms: i64,
    pub actor: Value,
    pub action: String,
    pub resource: String,
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    pub prev_hash: String,
    pub hash: String,
    /// The Ed25519 signature of `hash` in hex (records in the signed form).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// The record's JSON text exactly as hashed, so an export can be verified offline
    /// (`docs/security.md`, "Audit log").
    #[serde(default)]
    pub record: String,
    /// Who, for people: the account behind a token, an account's name, or a system actor's
    /// name (`guard`, `scheduler`, `bootstrap`). `GET /audit` only (an export line has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_name: Option<String>,
    /// The project the resource is in. `GET /audit` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The environment the resource is in. `GET /audit` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// The flag the resource is (or belongs to). `GET /audit` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flag: Option<String>,
}

impl AuditEntry {
    /// The entry of a stored row: its columns, and the fields of its record read for people.
    pub fn from_row(row: &AuditRow) -> switchyard_store::Result<AuditEntry> {
        let record = row.parsed()?;
        Ok(AuditEntry {
            seq: row.seq,
            at_ms: row.at_ms,
            actor: record.actor,
            action: record.action,
            resource: record.resource,
            outcome: record.outcome,
            before: record.before,
            after: record.after,
            comment: record.comment,
            request_id: record.request_id,
            prev_hash: row.prev_hash.clone(),
            hash: row.hash.clone(),
            signature: row.signature.clone(),
            record: row.record.clone(),
            actor_name: None,
            project: None,
            environment: None,
            flag: None,
        })
    }
}

#[derive(Debug, Serialize, JsonSchema, Deserialize)]
pub struct AuditPage {
    pub records: Vec<AuditEntry>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_before: Option<i64>,
}

#[derive(Debug, Serialize, JsonSchema, Deserialize)]
pub struct ChainReportView {
    pub ok: bool,
    /// Records checked before stopping.
    pub records: i64,
    /// The sequence number of the first record that does not verify.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_broken: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// The first record in the signed form (every column hashed, signed); earlier records are
    /// in the legacy form. (Absent from servers before signing: read as 0.)
    #[serde(default)]
    pub signed_from: i64,
    /// The Ed25519 public key (hex) signatures were checked with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// The newest record whose signature verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_head: Option<SignedHeadView>,
}

#[derive(Debug, Serialize, JsonSchema, Deserialize)]
pub struct SignedHeadView {
    pub seq: i64,
    pub hash: String,
    pub signature: String,
}

pub(super) async fn verify_audit(ctx: Ctx) -> ApiResult<Json<ChainReportView>> {
    ctx.authorize(Action::AuditVerify, AUDIT).await?;
    let report = ctx.state.store.verify_audit_chain().await?;
    Ok(Json(ChainReportView {
        ok: report.ok,
        records: report.records,
        first_broken: report.first_broken,
        problem: report.problem,
        signed_from: report.signed_from,
        public_key: report.public_key,
        signed_head: report.signed_head.map(|head| SignedHeadView {
            seq: head.seq,
            hash: head.hash,
            signature: head.signature,
        }),
    }))
}
