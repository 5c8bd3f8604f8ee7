//! The upgrade that made every flag's off variation explicit (`product.md`, "Off state").
//!
//! Before it, a flag had no off variation of its own: an environment never edited served the
//! flag's last variation when off, whatever its kind. The upgrade gives every such flag that
//! variation's key as its `off_variation`, so environments never edited go on serving exactly
//! what they served, now by name. Stored targeting is left as it is: an explicit index keeps
//! serving that variation, and a native flag's `off_variation: null` keeps serving the caller's
//! default (it is listed in the audit record, not replaced by an invented variation).
//!
//! It runs once, at start, before anything is served: all flags and a marker document in one
//! audited commit, so it either happened completely or not at all. A database created by this
//! version gets the marker in its first start's commit and never needs the upgrade (new flags
//! are validated when created; an imported flag may have no off variation on purpose).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use switchyard_engine::model::{Dialect, Targeting, default_variation_keys};
use switchyard_store::{AuditRecord, Expected, Store, StoreError, Write};

use crate::access::{AccountRecord, Event};
use crate::clock::now_ms;
use crate::error::ApiError;
use crate::records::{self, EnvironmentRecord, FlagSpec, GLOBAL, ProjectRecord, Record, env_scope};

/// The marker's key among `upgrade` documents.
const MARKER: &str = "explicit-off-variation";

/// That the upgrade ran (or was never needed): its presence makes the upgrade a no-op.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct UpgradeRecord {
    pub at_ms: i64,
    /// How many flags were given an explicit off variation.
    pub flags: usize,
}

impl Record for UpgradeRecord {
    const KIND: &'static str = "upgrade";
}

/// The marker write for a first start's commit: a new database has nothing to upgrade.
pub(super) fn marker_for_new_database() -> Write {
    let marker = UpgradeRecord {
        at_ms: now_ms(),
        flags: 0,
    };
    records::put(GLOBAL, MARKER, &marker, Expected::Absent)
}

/// Runs the upgrade unless it has run; `Some(n)` when this start made `n` flags explicit.
/// Replicas starting together race on the marker: one commits, the others see it on retry.
pub(super) async fn upgrade(store: &Store) -> Result<Option<usize>, StoreError> {
    let mut attempts = 0;
    loop {
        if records::get::<UpgradeRecord>(store, GLOBAL, MARKER)
            .await
            .map_err(corrupt)?
            .is_some()
        {
            return Ok(None);
        }
        let projects = records::list::<ProjectRecord>(store, GLOBAL)
            .await
            .map_err(corrupt)?;
        if projects.is_empty() && store.list(AccountRecord::KIND, GLOBAL).await?.is_empty() {
            // A first start: `bootstrap` writes the marker with everything else it creates.
            return Ok(None);
        }
        let mut plan = plan(store, &projects).await?;
        let flags = plan.writes.len();
        let audit = plan.audit(flags);
        let marker = UpgradeRecord {
            at_ms: now_ms(),
            flags,
        };
        plan.writes
            .push(records::put(GLOBAL, MARKER, &marker, Expected::Absent));
        match store.commit(&plan.writes, &audit).await {
            Ok(_) => return Ok(Some(flags)),
            Err(StoreError::Conflict { .. }) if attempts < 5 => attempts += 1,
            Err(other) => return Err(other),
        }
    }
}

/// The flag writes and what the audit record says about them.
#[derive(Default)]
struct Plan {
    writes: Vec<Write>,
    before: Vec<Value>,
    after: Vec<Value>,
    /// `project/env/flag` of native targeting that serves the caller's default when off.
    callers_default: Vec<String>,
    /// `project/env/flag` of archived flags stored as on: they now serve their off variation.
    archived_on: Vec<String>,
}

async fn plan(
    store: &Store,
    projects: &[records::Versioned<ProjectRecord>],
) -> Result<Plan, StoreError> {
    let mut plan = Plan::default();
    for project in projects {
        let project = project.key.as_str();
        let environments = records::list::<EnvironmentRecord>(store, project)
            .await
            .map_err(corrupt)?;
        // Flags this version cannot read are passed over: they cannot be served either.
        for stored in records::list_readable::<FlagSpec>(store, project)
            .await
            .map_err(corrupt)?
        {
            let mut spec = stored.record;
            // Flags written by this version already have one (or, imported, none on purpose).
            if spec.off_variation.is_some() || spec.variations.is_empty() {
                continue;
            }
            let mut served_when_off = serde_json::Map::new();
            for env in &environments {
                let scope = env_scope(project, &env.key);
                let targeting = records::get::<Targeting>(store, &scope, &spec.key)
                    .await
                    .ok()
                    .flatten();
                let Some(targeting) = targeting else {
                    continue;
                };
                let at = format!("{project}/{}/{}", env.key, spec.key);
                if spec.archived && targeting.record.on {
                    plan.archived_on.push(at.clone());
                }
                let off = targeting.record.off_variation;
                if off.is_none() && spec.dialect == Dialect::Native {
                    plan.callers_default.push(at);
                }
                let key = off.and_then(|i| spec.variations.get(i)).map(|v| &v.key);
                served_when_off.insert(env.key.clone(), json!(key));
            }
            default_variation_keys(&mut spec.variations);
            // What every environment never edited served when off: the last variation.
            let last = spec.variations.last().map(|v| v.key.clone());
            spec.off_variation = last.clone();
            plan.before
                .push(json!({"project": project, "flag": spec.key, "off_variation": null}));
            plan.after.push(json!({
                "project": project, "flag": spec.key, "off_variation": last,
                "environments_with_their_own": served_when_off,
            }));
            plan.writes.push(records::put(
                project,
                &spec.key,
                &spec,
                Expected::Version(stored.version),
            ));
        }
    }
    Ok(plan)
}

impl Plan {
    fn audit(&self, flags: usize) -> AuditRecord {
        let mut comment = format!(
            "off variations made explicit: {flags} flag(s) now name the variation their \
             environments never edited served when off (the last one), so what they serve when \
             off does not change"
        );
        if !self.callers_default.is_empty() {
            comment.push_str(&format!(
                "; {} environment(s) keep serving the caller's default when off (stored \
                 targeting without an off variation, listed as callers_default)",
                self.callers_default.len()
            ));
        }
        if !self.archived_on.is_empty() {
            comment.push_str(&format!(
                "; {} archived flag(s) stored as on now serve their off variation \
                 (archived_on)",
                self.archived_on.len()
            ));
        }
        AuditRecord {
            at_ms: now_ms(),
            actor: json!({"kind": "system", "id": "upgrade"}),
            action: Event::FlagOffVariationUpgrade.as_str().into(),
            resource: format!("upgrade/{MARKER}"),
            outcome: "allowed".into(),
            before: Some(json!({"flags": self.before})),
            after: Some(json!({
                "flags": self.after,
                "callers_default": self.callers_default,
                "archived_on": self.archived_on,
            })),
            comment: Some(comment),
            request_id: None,
        }
    }
}

fn corrupt(error: ApiError) -> StoreError {
    StoreError::Corrupt(error.message)
}
