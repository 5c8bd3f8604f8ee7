//! What a batch's metric events need of their contexts' past, read in a few statements per
//! batch instead of one or two per event: every exposure and release exposure of the context
//! parts the batch's metric events name (up to [`KEYS_PER_STATEMENT`] keys of one kind per
//! statement). Read after the batch's own exposures are written, within its transaction, so
//! they are seen; each event then keeps what was first seen at or before it, in memory.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::placeholders::{Placeholders, cached_at_full_size};
use super::{ContextPart, EventBatch, ReleaseTag};
use crate::{Backend, Result};

/// Keys per `IN` list: well under both backends' parameter limits.
const KEYS_PER_STATEMENT: usize = 500;

type Tx<'t> = sqlx::Transaction<'t, sqlx::Any>;

/// A context part's exposures: (flag, variation, first seen).
type ExposureRow = (String, String, i64);
/// A context part's release exposures: (flag, stage, cohort, first seen).
type ReleaseRow = (String, String, String, i64);

/// Exposures and release exposures of a batch's metric events' context parts, kind → key → rows.
#[derive(Default)]
pub(super) struct History {
    exposures: HashMap<String, HashMap<String, Vec<ExposureRow>>>,
    releases: HashMap<String, HashMap<String, Vec<ReleaseRow>>>,
}

impl History {
    /// Reads the exposures of the parts of metric events without a subject (those count by
    /// exposure) and, when `releases_seen`, the release exposures of every metric event's parts.
    pub(super) async fn load(
        tx: &mut Tx<'_>,
        backend: Backend,
        batch: &EventBatch,
        releases_seen: bool,
    ) -> Result<History> {
        let mut by_exposure: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        let mut by_release: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for event in &batch.metrics {
            for part in &event.contexts {
                if event.about.is_none() {
                    by_exposure.entry(&part.kind).or_default().insert(&part.key);
                }
                if releases_seen {
                    by_release.entry(&part.kind).or_default().insert(&part.key);
                }
            }
        }
        let mut history = History::default();
        for (kind, keys) in by_exposure {
            let of_kind = history.exposures.entry(kind.to_owned()).or_default();
            let columns = "flag, variation, first_seen";
            let rows: Vec<(String, String, String, i64)> =
                read_by_key(tx, backend, batch, kind, keys, columns, "exposures").await?;
            for (key, flag, variation, first_seen) in rows {
                of_kind
                    .entry(key)
                    .or_default()
                    .push((flag, variation, first_seen));
            }
        }
        for (kind, keys) in by_release {
            let of_kind = history.releases.entry(kind.to_owned()).or_default();
            let columns = "flag, stage, cohort, first_seen";
            let rows: Vec<(String, String, String, String, i64)> =
                read_by_key(tx, backend, batch, kind, keys, columns, "release_exposures").await?;
            for (key, flag, stage, cohort, first_seen) in rows {
                of_kind
                    .entry(key)
                    .or_default()
                    .push((flag, stage, cohort, first_seen));
            }
        }
        Ok(history)
    }

    /// `part`'s exposures first seen at or before `at_ms`: (flag, variation, first seen).
    pub(super) fn exposures_of(
        &self,
        part: &ContextPart,
        at_ms: i64,
    ) -> impl Iterator<Item = &ExposureRow> {
        rows_of(&self.exposures, part)
            .iter()
            .filter(move |row| row.2 <= at_ms)
    }

    /// flag → the release stage and cohort `contexts` were most recently exposed to at or
    /// before `at_ms` (only `flag`, when given); ties go to the greater stage, then cohort.
    pub(super) fn release_cohorts_at(
        &self,
        contexts: &[ContextPart],
        at_ms: i64,
        flag: Option<&str>,
    ) -> HashMap<String, ReleaseTag> {
        let mut latest: HashMap<&str, (i64, &str, &str)> = HashMap::new();
        for part in contexts {
            let rows = rows_of(&self.releases, part).iter();
            for (row_flag, stage, cohort, seen) in rows.filter(|row| row.3 <= at_ms) {
                if flag.is_some_and(|flag| flag != row_flag) {
                    continue;
                }
                let candidate = (*seen, stage.as_str(), cohort.as_str());
                let slot = latest.entry(row_flag).or_insert(candidate);
                if candidate > *slot {
                    *slot = candidate;
                }
            }
        }
        latest
            .into_iter()
            .map(|(flag, (_, stage, cohort))| {
                let tag = ReleaseTag {
                    stage: stage.to_owned(),
                    cohort: cohort.to_owned(),
                };
                (flag.to_owned(), tag)
            })
            .collect()
    }
}

/// `columns` of `table`'s rows for the context `keys` of `kind` in the batch's environment,
/// [`KEYS_PER_STATEMENT`] keys a statement; each row starts with its context key.
pub(super) async fn read_by_key<T>(
    tx: &mut Tx<'_>,
    backend: Backend,
    batch: &EventBatch,
    kind: &str,
    keys: BTreeSet<&str>,
    columns: &str,
    table: &str,
) -> Result<Vec<T>>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
{
    let keys: Vec<&str> = keys.into_iter().collect();
    let mut rows = Vec::new();
    for chunk in keys.chunks(KEYS_PER_STATEMENT) {
        let sql = lookup_sql(backend, columns, table, chunk.len());
        let mut query = sqlx::query_as(&sql)
            .persistent(cached_at_full_size(chunk.len(), KEYS_PER_STATEMENT))
            .bind(&batch.project)
            .bind(&batch.env)
            .bind(kind);
        for key in chunk {
            query = query.bind(*key);
        }
        rows.extend(query.fetch_all(&mut **tx).await?);
    }
    Ok(rows)
}

/// The lookup of `n` context keys of one kind: `SELECT context_key, {columns} FROM {table} …`.
fn lookup_sql(backend: Backend, columns: &str, table: &str, n: usize) -> String {
    let mut p = Placeholders::new(backend);
    let (project, env, kind) = (p.one(), p.one(), p.one());
    let of_context =
        format!("FROM {table} WHERE project = {project} AND env = {env} AND context_kind = {kind}");
    match backend {
        // SQLite probes the index once per key of an `IN` list.
        Backend::Sqlite => format!(
            "SELECT context_key, {columns} {of_context} AND context_key IN ({})",
            p.list(n)
        ),
        // PostgreSQL, planning with no statistics yet (a table filling up faster than
        // autovacuum analyzes it), filtered every exposure of the environment by the
        // `IN` list instead: 40 ms at 58,000 rows and growing with the table. One index
        // probe per key, forced by the lateral join (`OFFSET 0` keeps it a loop).
        Backend::Postgres => format!(
            "SELECT k.key, r.* FROM (VALUES {}) AS k(key) CROSS JOIN LATERAL \
             (SELECT {columns} {of_context} AND context_key = k.key OFFSET 0) AS r",
            p.rows(n, 1)
        ),
    }
}

fn rows_of<'h, R>(
    rows: &'h HashMap<String, HashMap<String, Vec<R>>>,
    part: &ContextPart,
) -> &'h [R] {
    rows.get(&part.kind)
        .and_then(|of_kind| of_kind.get(&part.key))
        .map_or(&[], Vec::as_slice)
}
