//! `GET /api/v1/audit`: the log newest first, narrowed by filters, paged by `before` over the
//! whole log (`docs/security.md`, "Reading the audit log").

use axum::Json;
use serde::Deserialize;
use switchyard_store::{AuditRow, AuditSearch};

use super::names::{Names, Place, actor_hints};
use super::{AuditEntry, AuditPage};
use crate::access::Action;
use crate::access::resources::AUDIT;
use crate::api::ctx::Ctx;
use crate::api::query::Query;
use crate::error::{ApiError, ApiResult};

/// A page's records when `limit` is not given, and the most it holds.
const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 500;

/// Rows read at a time while a filter the database only narrows (actor, or a name whose case
/// SQLite ignores) leaves some out.
const SCAN_BATCH: i64 = 500;

/// The most rows one request reads for such a filter: a filter that matches little among many
/// answers a short page (perhaps empty) with `next_before` where the scan stopped, rather than
/// reading the whole log in one request.
const MAX_SCANNED: usize = 5000;

/// Strict: a misspelt filter (`environment` for `env`) is refused, never ignored, since an
/// ignored filter would answer a wider slice of the log than asked.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::api) struct AuditQuery {
    /// Only records whose resource starts with this, such as `proj/web:env/production:`.
    pub resource: Option<String>,
    /// Only records older than this sequence number (for paging).
    pub before: Option<i64>,
    pub limit: Option<i64>,
    /// Only what this person did: an account name (through any of its tokens) or a system
    /// actor's name (`guard`, `scheduler`, `bootstrap`).
    pub actor: Option<String>,
    /// Only this action (`flag:toggle`), or those starting with a prefix ending in `*`
    /// (`flag:*`).
    pub action: Option<String>,
    pub project: Option<String>,
    pub env: Option<String>,
    /// A flag key (in `project` when given).
    pub flag: Option<String>,
    /// Only records at or after this time (Unix ms).
    pub from: Option<i64>,
    /// Only records before this time (Unix ms).
    pub to: Option<i64>,
}

impl AuditQuery {
    /// The part of the filters the database applies.
    fn search(&self) -> AuditSearch {
        let (action, action_prefix) = match self.action.as_deref() {
            Some(action) => match action.strip_suffix('*') {
                Some("") => (None, None),
                Some(prefix) => (None, Some(prefix.to_owned())),
                None => (Some(action.to_owned()), None),
            },
            None => (None, None),
        };
        let segments = [
            ("proj", &self.project),
            ("env", &self.env),
            ("flag", &self.flag),
        ];
        AuditSearch {
            before: self.before,
            resource_prefix: self.resource.clone(),
            resource_segments: segments
                .into_iter()
                .filter_map(|(kind, name)| Some(format!("{kind}/{}", name.as_ref()?)))
                .collect(),
            action,
            action_prefix,
            from_ms: self.from,
            to_ms: self.to,
            record_contains: Vec::new(),
            record_contains_any: self.actor.as_deref().map(actor_hints).unwrap_or_default(),
        }
    }

    /// Whether the database's narrowing may have let through records the filters leave out.
    fn narrows_only(&self) -> bool {
        self.actor.is_some() || self.project.is_some() || self.env.is_some() || self.flag.is_some()
    }

    /// Whether `entry` (with its names) passes the filters the database only narrowed.
    fn keeps(&self, entry: &AuditEntry) -> bool {
        let same =
            |wanted: &Option<String>, found: &Option<String>| wanted.is_none() || wanted == found;
        same(&self.actor, &entry.actor_name)
            && same(&self.project, &entry.project)
            && same(&self.env, &entry.environment)
            && same(&self.flag, &entry.flag)
    }
}

pub(in crate::api) async fn list_audit(
    ctx: Ctx,
    Query(query): Query<AuditQuery>,
) -> ApiResult<Json<AuditPage>> {
    ctx.authorize(Action::AuditRead, AUDIT).await?;
    if let (Some(from), Some(to)) = (query.from, query.to)
        && from > to
    {
        return Err(ApiError::invalid(
            "to",
            format!("`to` ({to}) is before `from` ({from})"),
        ));
    }
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let mut search = query.search();
    // One more than a page tells whether another page follows.
    let wanted = limit as usize + 1;
    let batch = if query.narrows_only() {
        (limit + 1).max(SCAN_BATCH)
    } else {
        limit + 1
    };
    let mut names = Names::new(&ctx.state.store);
    let mut records = Vec::with_capacity(wanted);
    let mut scanned = 0;
    let mut exhausted = false;
    while records.len() < wanted && !exhausted && scanned < MAX_SCANNED {
        let rows = ctx.state.store.audit_search(&search, batch).await?;
        exhausted = (rows.len() as i64) < batch;
        for (read, row) in rows.iter().enumerate() {
            search.before = Some(row.seq);
            scanned += 1;
            let entry = described(&mut names, row).await?;
            if query.keeps(&entry) {
                records.push(entry);
            }
            if records.len() == wanted || scanned == MAX_SCANNED {
                // Rows after this one were not looked at: the log is not exhausted.
                exhausted &= read + 1 == rows.len();
                break;
            }
        }
    }
    let next_before = if records.len() == wanted {
        records.truncate(limit as usize);
        records.last().map(|r| r.seq)
    } else if exhausted {
        None
    } else {
        // The scan stopped at its bound: a short page, and paging goes on below the last row
        // read.
        search.before
    };
    Ok(Json(AuditPage {
        records,
        next_before,
    }))
}

/// The entry of `row` with the names people read: who, and the project, environment and flag.
async fn described(names: &mut Names<'_>, row: &AuditRow) -> ApiResult<AuditEntry> {
    let mut entry = AuditEntry::from_row(row).map_err(ApiError::internal)?;
    let place = Place::of(&entry.resource);
    entry.actor_name = Some(names.of_actor(&entry.actor).await?);
    entry.project = place.project;
    entry.environment = place.environment;
    entry.flag = place.flag;
    Ok(entry)
}
