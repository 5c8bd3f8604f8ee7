//! What a batch's metric events and release tallies need of their contexts' past, read in one
//! statement per context kind instead of one or two per event: every exposure of the context
//! parts the batch's metric events name, and every release exposure of those parts and of the
//! parts the batch exposes in a release. Read before the batch writes its own exposures, which
//! [`History::add`] then adds in memory exactly as the upserts add them to the tables; each
//! event keeps what was first seen at or before it.
//!
//! On SQLite, where one writer writes at a time, the history then *is* what the tables hold for
//! these contexts until the batch commits, so the batch learns from it which release exposures
//! it adds and which contexts it makes crossed, without reading them back. On PostgreSQL a
//! concurrent batch may add to the same contexts meanwhile: the database tells those
//! (`exposure_rows.rs`, `release_tallies.rs`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::exposure_rows::AddedReleaseExposure;
use super::placeholders::{Placeholders, keys_json};
use super::{ContextPart, EventBatch, ReleaseTag};
use crate::{Backend, Result};

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
    /// Reads the stored exposures of the parts of metric events without a subject (those count
    /// by exposure) and, when `releases_seen`, the stored release exposures of every metric
    /// event's parts and of every part the batch exposes in a release.
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
        for exposure in batch.exposures.iter().filter(|e| e.release.is_some()) {
            for part in &exposure.contexts {
                by_release.entry(&part.kind).or_default().insert(&part.key);
            }
        }
        let mut history = History::default();
        let sql = history_sql(backend);
        let kinds: BTreeSet<&str> = by_exposure
            .keys()
            .chain(by_release.keys())
            .copied()
            .collect();
        for kind in kinds {
            let keys_in = |keys: &BTreeMap<&str, BTreeSet<&str>>| {
                keys_json(keys.get(kind).into_iter().flatten().copied())
            };
            let (exposed, released) = (keys_in(&by_exposure)?, keys_in(&by_release)?);
            let rows: Vec<HistoryRow> = sqlx::query_as(&sql)
                .bind(exposed)
                .bind(&batch.project)
                .bind(&batch.env)
                .bind(kind)
                .bind(released)
                .bind(&batch.project)
                .bind(&batch.env)
                .bind(kind)
                .fetch_all(&mut **tx)
                .await?;
            for (table, key, flag, a, b, first_seen) in rows {
                if table == EXPOSURES {
                    let of_kind = history.exposures.entry(kind.to_owned()).or_default();
                    of_kind.entry(key).or_default().push((flag, a, first_seen));
                } else {
                    let of_kind = history.releases.entry(kind.to_owned()).or_default();
                    of_kind
                        .entry(key)
                        .or_default()
                        .push((flag, a, b, first_seen));
                }
            }
        }
        Ok(history)
    }

    /// Adds the batch's exposures and release exposures, as its upserts add them to the tables
    /// (a row per flag and variation, or per flag, stage and cohort, first seen at the earliest
    /// sighting); returns the release exposures the history did not hold, in the order the
    /// batch names them.
    pub(super) fn add(&mut self, batch: &EventBatch) -> Vec<AddedReleaseExposure> {
        let mut added = Vec::new();
        for exposure in &batch.exposures {
            for part in &exposure.contexts {
                let rows = rows_of_mut(&mut self.exposures, part);
                let same =
                    |row: &&mut ExposureRow| row.0 == exposure.flag && row.1 == exposure.variation;
                match rows.iter_mut().find(same) {
                    Some(row) => row.2 = row.2.min(exposure.at_ms),
                    None => rows.push((
                        exposure.flag.clone(),
                        exposure.variation.clone(),
                        exposure.at_ms,
                    )),
                }
                let Some(ReleaseTag { stage, cohort }) = &exposure.release else {
                    continue;
                };
                let rows = rows_of_mut(&mut self.releases, part);
                let same = |row: &&mut ReleaseRow| {
                    row.0 == exposure.flag && row.1 == *stage && row.2 == *cohort
                };
                match rows.iter_mut().find(same) {
                    Some(row) => row.3 = row.3.min(exposure.at_ms),
                    None => {
                        let row = (exposure.flag.clone(), stage.clone(), cohort.clone());
                        rows.push((row.0.clone(), row.1.clone(), row.2.clone(), exposure.at_ms));
                        added.push((part.kind.clone(), part.key.clone(), row.0, row.1, row.2));
                    }
                }
            }
        }
        added
    }

    /// How many cohorts of `flag`'s release `stage` the context part was exposed in.
    pub(super) fn cohorts_in_stage(&self, kind: &str, key: &str, flag: &str, stage: &str) -> i64 {
        let rows = self
            .releases
            .get(kind)
            .and_then(|of_kind| of_kind.get(key))
            .map_or(&[][..], Vec::as_slice);
        let in_stage = rows.iter().filter(|row| row.0 == flag && row.1 == stage);
        i64::try_from(in_stage.count()).unwrap_or(i64::MAX)
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

/// A history row: which table ([`EXPOSURES`] or release exposures), the context key, the flag,
/// then the variation and `''`, or the stage and cohort; first seen.
type HistoryRow = (i64, String, String, String, String, i64);
const EXPOSURES: i64 = 0;

/// The exposures and release exposures of one kind's context keys, in one statement (on SQLite
/// one round trip inside the write turn): bound in order [`lookup_sql`]'s parameters for the
/// keys whose exposures are read, then for those whose release exposures are.
fn history_sql(backend: Backend) -> String {
    let mut p = Placeholders::new(backend);
    let exposures = lookup_sql(&mut p, "flag, variation, first_seen", "exposures");
    let releases = lookup_sql(
        &mut p,
        "flag, stage, cohort, first_seen",
        "release_exposures",
    );
    format!(
        "SELECT {EXPOSURES}, context_key, flag, variation, '', first_seen \
         FROM ({exposures}) AS exposed \
         UNION ALL SELECT 1, context_key, flag, stage, cohort, first_seen \
         FROM ({releases}) AS released"
    )
}

/// `SELECT context_key, {columns} FROM {table}` for the context keys of one kind among a JSON
/// array of distinct keys ([`keys_json`]): bound in order the keys, project, env and kind (on
/// SQLite, whose placeholders are numbered as they appear, the keys come first in the text); the
/// keys are one parameter however many, so the statement's text is the same for every batch and
/// stays prepared.
pub(super) fn lookup_sql(p: &mut Placeholders, columns: &str, table: &str) -> String {
    let (keys, project, env, kind) = (p.one(), p.one(), p.one(), p.one());
    let of_context = format!("project = {project} AND env = {env} AND context_kind = {kind}");
    match p.backend() {
        // One index probe per key, the keys read in their order: as `context_key IN (SELECT …)`
        // SQLite first sorted the keys into a temporary index, half of the lookup's time when
        // the keys are new (0.9 against 0.4 ms for 1,000 keys in both tables).
        Backend::Sqlite => format!(
            "SELECT k.value AS context_key, {columns} FROM json_each({keys}) AS k \
             CROSS JOIN {table} WHERE {of_context} AND context_key = k.value"
        ),
        // PostgreSQL, planning with no statistics yet (a table filling up faster than
        // autovacuum analyzes it) or with a generic plan, filtered every row of the
        // environment by `context_key = ANY(…)` instead of probing the index: 2.4 s a batch at
        // 1.9M exposures (events benchmark, 2026-12-07). One index probe per key, forced by
        // the lateral join (`OFFSET 0` keeps it a loop).
        Backend::Postgres => format!(
            "SELECT k.key AS context_key, r.* FROM json_array_elements_text({keys}::json) AS k(key) \
             CROSS JOIN LATERAL (SELECT {columns} FROM {table} WHERE {of_context} \
             AND context_key = k.key OFFSET 0) AS r"
        ),
    }
}

fn rows_of_mut<'h, R>(
    rows: &'h mut HashMap<String, HashMap<String, Vec<R>>>,
    part: &ContextPart,
) -> &'h mut Vec<R> {
    rows.entry(part.kind.clone())
        .or_default()
        .entry(part.key.clone())
        .or_default()
}

fn rows_of<'h, R>(
    rows: &'h HashMap<String, HashMap<String, Vec<R>>>,
    part: &ContextPart,
) -> &'h [R] {
    rows.get(&part.kind)
        .and_then(|of_kind| of_kind.get(&part.key))
        .map_or(&[], Vec::as_slice)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Exposure;

    fn exposure(key: &str, variation: &str, cohort: &str, at_ms: i64) -> Exposure {
        Exposure {
            at_ms,
            contexts: vec![ContextPart {
                kind: "user".into(),
                key: key.into(),
            }],
            flag: "checkout".into(),
            version: 1,
            variation: variation.into(),
            reason: "FALLTHROUGH".into(),
            release: Some(ReleaseTag {
                stage: "r.1".into(),
                cohort: cohort.into(),
            }),
        }
    }

    fn batch(exposures: Vec<Exposure>) -> EventBatch {
        EventBatch {
            project: "web".into(),
            env: "prod".into(),
            counted_at_ms: 0,
            counts: Vec::new(),
            exposures,
            metrics: Vec::new(),
            metric_flags: None,
            experiments: Vec::new(),
        }
    }

    #[test]
    fn added_rows_are_the_new_keys_once_and_first_sightings_move_earlier() {
        let mut history = History::default();
        // Stored before the batch: u1 treated since 100.
        let stored = (
            "checkout".to_owned(),
            "r.1".to_owned(),
            "treated".to_owned(),
            100,
        );
        history
            .releases
            .entry("user".into())
            .or_default()
            .insert("u1".into(), vec![stored]);
        let added = history.add(&batch(vec![
            exposure("u1", "on", "treated", 50),
            exposure("u1", "off", "control", 300),
            exposure("u2", "off", "control", 400),
            exposure("u2", "off", "control", 200),
        ]));
        let row = |key: &str, cohort: &str| {
            (
                "user".into(),
                key.into(),
                "checkout".into(),
                "r.1".into(),
                cohort.into(),
            )
        };
        assert_eq!(added, vec![row("u1", "control"), row("u2", "control")]);
        assert_eq!(history.cohorts_in_stage("user", "u1", "checkout", "r.1"), 2);
        assert_eq!(history.cohorts_in_stage("user", "u2", "checkout", "r.1"), 1);
        assert_eq!(history.cohorts_in_stage("user", "u3", "checkout", "r.1"), 0);
        let u1 = ContextPart {
            kind: "user".into(),
            key: "u1".into(),
        };
        // The stored row's first sighting moved to the batch's earlier one.
        let releases = history.release_cohorts_at(std::slice::from_ref(&u1), 60, None);
        assert_eq!(releases["checkout"].cohort, "treated");
        let exposed: Vec<_> = history.exposures_of(&u1, 1_000).cloned().collect();
        assert_eq!(
            exposed,
            vec![
                ("checkout".to_owned(), "on".to_owned(), 50),
                ("checkout".to_owned(), "off".to_owned(), 300)
            ]
        );
        let u2 = ContextPart {
            kind: "user".into(),
            key: "u2".into(),
        };
        assert_eq!(history.exposures_of(&u2, 199).count(), 0);
        assert_eq!(history.exposures_of(&u2, 200).count(), 1);
    }
}
