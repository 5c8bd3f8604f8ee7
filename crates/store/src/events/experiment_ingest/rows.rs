//! Reading and writing an experiment's rows for one batch: the units it touches (with their
//! values), then the changed units and values and the totals' and days' changes.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::Row;

use super::{Delta, Tx, Unit, UnitKey, UnitValues, Work};
use crate::events::experiments::MOMENT_COLUMNS;
use crate::events::placeholders::{Placeholders, cached_at_full_size};
use crate::events::{AnyQuery, EventBatch};
use crate::{Backend, Result};

/// Keys per `IN` list and rows per multi-row insert (well under both backends' parameter limits).
const KEYS_PER_STATEMENT: usize = 300;

/// Reads the stored units among `keys` (kind → keys) and their values into `work`.
pub(super) async fn load_units(
    tx: &mut Tx<'_>,
    backend: Backend,
    batch: &EventBatch,
    work: &mut Work<'_>,
    keys: &BTreeMap<&str, BTreeSet<&str>>,
) -> Result<()> {
    let tag = work.tag;
    for (kind, keys) in keys {
        let keys: Vec<&str> = keys.iter().copied().collect();
        for chunk in keys.chunks(KEYS_PER_STATEMENT) {
            // Bound in this order: the experiment's four scope parameters, the kind, the keys.
            let mut p = Placeholders::new(backend);
            let scope = format!(
                "project = {} AND env = {} AND experiment = {} AND phase = {} \
                 AND unit_kind = {} AND unit_key IN ({})",
                p.one(),
                p.one(),
                p.one(),
                p.one(),
                p.one(),
                p.list(chunk.len())
            );
            let sql = format!(
                "SELECT unit_key, variation, first_exposure, excluded_at FROM experiment_units \
                 WHERE {scope}"
            );
            let mut query = batch
                .on_experiment(tag, &sql)
                .persistent(cached_at_full_size(chunk.len(), KEYS_PER_STATEMENT))
                .bind(*kind);
            for key in chunk {
                query = query.bind(*key);
            }
            for row in query.fetch_all(&mut **tx).await? {
                let unit = Unit {
                    variation: row.try_get(1)?,
                    first_exposure: row.try_get(2)?,
                    excluded_at: row.try_get(3)?,
                    changed: false,
                };
                work.units
                    .insert(((*kind).to_owned(), row.try_get(0)?), unit);
            }
            let sql = format!(
                "SELECT unit_key, metric, value_sum, value_count, pre_sum, pre_count \
                 FROM experiment_unit_metrics WHERE {scope}"
            );
            let mut query = batch
                .on_experiment(tag, &sql)
                .persistent(cached_at_full_size(chunk.len(), KEYS_PER_STATEMENT))
                .bind(*kind);
            for key in chunk {
                query = query.bind(*key);
            }
            for row in query.fetch_all(&mut **tx).await? {
                let values = UnitValues {
                    value_sum: row.try_get(2)?,
                    value_count: row.try_get(3)?,
                    pre_sum: row.try_get(4)?,
                    pre_count: row.try_get(5)?,
                };
                let unit = ((*kind).to_owned(), row.try_get::<String, _>(0)?);
                work.values.insert((unit, row.try_get(1)?), (values, false));
            }
        }
    }
    Ok(())
}

/// `$first, $first+1, …` for `n` parameters.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|p| format!("${p}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Writes `work`'s changed units and values, and adds its changes to the totals and days.
pub(super) async fn save(
    tx: &mut Tx<'_>,
    backend: Backend,
    batch: &EventBatch,
    work: &Work<'_>,
) -> Result<()> {
    let tag = work.tag;
    let units: Vec<(&UnitKey, &Unit)> =
        work.units.iter().filter(|(_, unit)| unit.changed).collect();
    for chunk in units.chunks(KEYS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO experiment_units (project, env, experiment, phase, unit_kind, unit_key, \
             variation, first_exposure, excluded_at) VALUES {} \
             ON CONFLICT (unit_key, unit_kind, project, env, experiment, phase) DO UPDATE SET \
             variation = excluded.variation, first_exposure = excluded.first_exposure, \
             excluded_at = excluded.excluded_at",
            Placeholders::new(backend).rows(chunk.len(), 9)
        );
        let mut insert =
            sqlx::query(&sql).persistent(cached_at_full_size(chunk.len(), KEYS_PER_STATEMENT));
        for ((kind, key), unit) in chunk {
            insert = on_experiment_row(insert, batch, tag)
                .bind(kind)
                .bind(key)
                .bind(&unit.variation)
                .bind(unit.first_exposure)
                .bind(unit.excluded_at);
        }
        insert.execute(&mut **tx).await?;
    }
    let values: Vec<(&(UnitKey, String), &UnitValues)> = work
        .values
        .iter()
        .filter(|(_, (_, changed))| *changed)
        .map(|(key, (values, _))| (key, values))
        .collect();
    for chunk in values.chunks(KEYS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO experiment_unit_metrics (project, env, experiment, phase, unit_kind, \
             unit_key, metric, value_sum, value_count, pre_sum, pre_count) VALUES {} \
             ON CONFLICT (unit_key, unit_kind, project, env, experiment, phase, metric) \
             DO UPDATE SET value_sum = excluded.value_sum, value_count = excluded.value_count, \
             pre_sum = excluded.pre_sum, pre_count = excluded.pre_count",
            Placeholders::new(backend).rows(chunk.len(), 11)
        );
        let mut insert =
            sqlx::query(&sql).persistent(cached_at_full_size(chunk.len(), KEYS_PER_STATEMENT));
        for (((kind, key), metric), values) in chunk {
            insert = on_experiment_row(insert, batch, tag)
                .bind(kind)
                .bind(key)
                .bind(metric)
                .bind(values.value_sum)
                .bind(values.value_count)
                .bind(values.pre_sum)
                .bind(values.pre_count);
        }
        insert.execute(&mut **tx).await?;
    }
    let moments = MOMENT_COLUMNS.join(", ");
    let adds: Vec<String> = ["units", "excluded"]
        .iter()
        .chain(MOMENT_COLUMNS.iter())
        .map(|c| format!("{c} = {{table}}.{c} + excluded.{c}"))
        .collect();
    let adds = adds.join(", ");
    // 16 values after the key columns.
    let values = placeholders(9, 16);
    let totals_sql = format!(
        "INSERT INTO experiment_totals (project, env, experiment, phase, unit_kind, variation, \
         metric, denominator, units, excluded, {moments}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, {values}) \
         ON CONFLICT (project, env, experiment, phase, unit_kind, variation, metric, denominator) \
         DO UPDATE SET {}",
        adds.replace("{table}", "experiment_totals")
    );
    for ((kind, variation, metric, denominator), delta) in &work.totals {
        let insert = batch
            .on_experiment(tag, &totals_sql)
            .bind(kind)
            .bind(variation)
            .bind(metric)
            .bind(denominator);
        bind_delta(insert, delta).execute(&mut **tx).await?;
    }
    let values = placeholders(10, 16);
    let daily_sql = format!(
        "INSERT INTO experiment_daily (project, env, experiment, phase, day, unit_kind, \
         variation, metric, denominator, units, excluded, {moments}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, {values}) \
         ON CONFLICT (project, env, experiment, phase, day, unit_kind, variation, metric, \
         denominator) DO UPDATE SET {}",
        adds.replace("{table}", "experiment_daily")
    );
    for ((day, (kind, variation, metric, denominator)), delta) in &work.daily {
        let insert = batch
            .on_experiment(tag, &daily_sql)
            .bind(*day)
            .bind(kind)
            .bind(variation)
            .bind(metric)
            .bind(denominator);
        bind_delta(insert, delta).execute(&mut **tx).await?;
    }
    if work.added > 0 || work.overflow > 0 {
        batch
            .on_experiment(
                tag,
                "UPDATE experiment_heads SET stored = stored + $5, overflow = overflow + $6 \
                 WHERE project = $1 AND env = $2 AND experiment = $3 AND phase = $4",
            )
            .bind(work.added)
            .bind(work.overflow)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Binds a row's four scope parameters: the batch's project and env, the experiment and phase.
fn on_experiment_row<'q>(
    query: AnyQuery<'q>,
    batch: &'q EventBatch,
    tag: &'q super::ExperimentTag,
) -> AnyQuery<'q> {
    query
        .bind(&batch.project)
        .bind(&batch.env)
        .bind(&tag.id)
        .bind(tag.phase)
}

fn bind_delta<'q>(query: AnyQuery<'q>, delta: &Delta) -> AnyQuery<'q> {
    let mut query = query.bind(delta.units).bind(delta.excluded);
    for value in delta.moments.to_array() {
        query = query.bind(value);
    }
    query
}
