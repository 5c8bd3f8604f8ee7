//! A plan as a reviewer reads it, one line per changed field:
//!
//! ```text
//! ~ flags/checkout.yaml  targeting production: rules[id=r1].serve: variation "off" → 10% "on" / 90% "off"
//! ```
//!
//! and the plan file `plan --out` saves for `apply --plan`: the revision the plan was computed
//! against and a digest of the files it was computed from, so applying it later refuses files
//! edited since (here) and a project changed since (the server, 409).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use switchyard_client::types::{ConfigPlan, FieldChange, ProjectConfig, ResourceChange};

/// What `plan --out` writes and `apply --plan` reads.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SavedPlan {
    /// The live project's revision the plan was computed against.
    pub(super) revision: String,
    /// [`files_digest`] of the files the plan was computed from.
    pub(super) files_digest: String,
    /// Whether the plan deletes what the files do not hold.
    pub(super) prune: bool,
    pub(super) plan: ConfigPlan,
}

impl SavedPlan {
    pub(super) fn read(path: &Path) -> anyhow::Result<SavedPlan> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not a plan `switchyard plan --out` saved",
                path.display()
            )
        })
    }

    pub(super) fn write(&self, path: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self)? + "\n";
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
    }
}

/// `sha256:<hex>` of the document the files make: the same files give the same digest, and so
/// does any edit that changes nothing (a comment, a blank line).
pub(super) fn files_digest(config: &ProjectConfig) -> anyhow::Result<String> {
    let bytes = serde_json::to_vec(config)?;
    let mut hex = String::with_capacity(64);
    for byte in Sha256::digest(&bytes) {
        let _ = write!(hex, "{byte:02x}");
    }
    Ok(format!("sha256:{hex}"))
}

/// How many resources a plan creates, changes and deletes.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Counts {
    pub(super) create: usize,
    pub(super) update: usize,
    pub(super) delete: usize,
}

pub(super) fn counts(plan: &ConfigPlan) -> Counts {
    let mut counts = Counts::default();
    for change in &plan.changes {
        match change.action.as_str() {
            "create" => counts.create += 1,
            "delete" => counts.delete += 1,
            _ => counts.update += 1,
        }
    }
    counts
}

/// The plan in words: one line per changed field, then what is left alone and a summary.
pub(super) fn render(plan: &ConfigPlan, prune: bool) -> String {
    let mut out = String::new();
    if plan.changes.is_empty() {
        out.push_str("No changes: the project matches the files.\n");
    }
    for change in &plan.changes {
        let head = format!("{} {}  {}", symbol(change), change.file, what(change));
        if change.fields.is_empty() {
            let _ = writeln!(out, "{head}: {}", change.action);
        }
        for field in &change.fields {
            let _ = writeln!(out, "{head}: {}", field_line(field));
        }
    }
    if !plan.unmanaged.is_empty() {
        let _ = writeln!(
            out,
            "\nNot in the files, left alone{}:",
            if prune { "" } else { " (--prune deletes them)" }
        );
        for resource in &plan.unmanaged {
            let _ = writeln!(out, "  {resource}");
        }
    }
    let Counts {
        create,
        update,
        delete,
    } = counts(plan);
    if !plan.changes.is_empty() {
        let _ = writeln!(
            out,
            "\nPlan: {create} to create, {update} to change, {delete} to delete \
             (against revision {}).",
            plan.revision
        );
        if plan.required_approvals > 0 {
            let _ = writeln!(
                out,
                "Applying waits for {} approval{}: it becomes one change request.",
                plan.required_approvals,
                if plan.required_approvals == 1 {
                    ""
                } else {
                    "s"
                }
            );
        }
    }
    out
}

fn symbol(change: &ResourceChange) -> char {
    match change.action.as_str() {
        "create" => '+',
        "delete" => '-',
        _ => '~',
    }
}

/// What the change is about, beyond its file: `targeting production`, `environment staging`.
fn what(change: &ResourceChange) -> String {
    match (change.kind.as_str(), &change.environment) {
        ("targeting", Some(environment)) => format!("targeting {environment}"),
        ("environment", _) => format!("environment {}", change.key),
        (kind, _) => kind.to_owned(),
    }
}

fn field_line(field: &FieldChange) -> String {
    match (&field.before, &field.after) {
        (Some(before), Some(after)) => format!("{}: {before} → {after}", field.field),
        (None, Some(after)) => format!("{}: (none) → {after}", field.field),
        (Some(before), None) => format!("{}: {before} → (none)", field.field),
        (None, None) => field.field.clone(),
    }
}
