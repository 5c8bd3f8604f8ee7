//! Reading and writing an experiment's rows for one batch: the units it touches (with their
//! values), then the changed units and values and the totals' and days' changes.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::Row;
use sqlx::error::BoxDynError;

use super::{Delta, TotalsKey, Tx, Unit, UnitKey, UnitValues, Work};
use crate::events::EventBatch;
use crate::events::experiments::{ExperimentTag, MOMENT_COLUMNS};
use crate::events::multi_row::{Insert, Script, Values};
use crate::events::placeholders::{Placeholders, keys_json};
use crate::{Backend, Result};

/// Rows per multi-row insert of units or their values (well under both backends' parameter
/// limits).
const ROWS_PER_STATEMENT: usize = 300;

/// Reads the stored units among `keys` (kind → keys) and their values into `work`, one
/// statement per kind: the keys go in as one JSON array, so the statement's text is the same
/// for every batch and stays prepared (chunked `IN` lists took eight round trips for a
/// batch's thousand contexts, inside SQLite's one write turn, and re-prepared the last chunk).
pub(super) async fn load_units(
    tx: &mut Tx<'_>,
    backend: Backend,
    batch: &EventBatch,
    work: &mut Work<'_>,
    keys: &BTreeMap<&str, BTreeSet<&str>>,
) -> Result<()> {
    let tag = work.tag;
    let sql = units_with_values_sql(backend);
    for (kind, keys) in keys {
        let keys = keys_json(keys.iter().copied())?;
        let rows = batch
            .on_experiment(tag, &sql)
            .bind(*kind)
            .bind(keys)
            .fetch_all(&mut **tx)
            .await?;
        for row in rows {
            let unit: UnitKey = ((*kind).to_owned(), row.try_get(0)?);
            if !work.units.contains_key(&unit) {
                let stored = Unit {
                    variation: row.try_get(1)?,
                    first_exposure: row.try_get(2)?,
                    excluded_at: row.try_get(3)?,
                    changed: false,
                };
                work.units.insert(unit.clone(), stored);
            }
            // No metric: a unit without values (the left join's empty side).
            let Some(metric) = row.try_get::<Option<String>, _>(4)? else {
                continue;
            };
            let values = UnitValues {
                value_sum: row.try_get(5)?,
                value_count: row.try_get(6)?,
                pre_sum: row.try_get(7)?,
                pre_count: row.try_get(8)?,
            };
            work.values.insert((unit, metric), (values, false));
        }
    }
    Ok(())
}

/// The units of one kind among a JSON array of keys, each with its values per metric (a row
/// per metric, or one with no metric): bound in order the experiment's four scope parameters,
/// the kind, the keys.
fn units_with_values_sql(backend: Backend) -> String {
    let mut p = Placeholders::new(backend);
    let scope = format!(
        "u.project = {} AND u.env = {} AND u.experiment = {} AND u.phase = {} \
         AND u.unit_kind = {}",
        p.one(),
        p.one(),
        p.one(),
        p.one(),
        p.one()
    );
    let keys = p.among_json_keys("u.unit_key");
    format!(
        "SELECT u.unit_key, u.variation, u.first_exposure, u.excluded_at, \
         m.metric, m.value_sum, m.value_count, m.pre_sum, m.pre_count \
         FROM experiment_units u LEFT JOIN experiment_unit_metrics m \
         ON m.unit_key = u.unit_key AND m.unit_kind = u.unit_kind AND m.project = u.project \
         AND m.env = u.env AND m.experiment = u.experiment AND m.phase = u.phase \
         WHERE {scope} AND {keys}"
    )
}

/// Writes `work`'s changed units and values, and adds its changes to the totals and days, in
/// one script (on SQLite one round trip).
pub(super) async fn save(
    tx: &mut Tx<'_>,
    backend: Backend,
    batch: &EventBatch,
    work: &Work<'_>,
) -> Result<()> {
    let tag = work.tag;
    let mut script = Script::new(backend);
    let units: Vec<(&UnitKey, &Unit)> =
        work.units.iter().filter(|(_, unit)| unit.changed).collect();
    let insert = Insert {
        into: "experiment_units (project, env, experiment, phase, unit_kind, unit_key, \
               variation, first_exposure, excluded_at)",
        on_conflict: "ON CONFLICT (unit_key, unit_kind, project, env, experiment, phase) \
                      DO UPDATE SET variation = excluded.variation, \
                      first_exposure = excluded.first_exposure, excluded_at = excluded.excluded_at",
        width: 9,
        rows_per_statement: ROWS_PER_STATEMENT,
    };
    script.insert(&insert, &[], &units, |values, ((kind, key), unit)| {
        on_experiment_row(values, batch, tag)?
            .text(kind)?
            .text(key)?
            .text(&unit.variation)?
            .int(unit.first_exposure)?
            .int_or_null(unit.excluded_at)?;
        Ok(())
    })?;
    let changed_values: Vec<(&(UnitKey, String), &UnitValues)> = work
        .values
        .iter()
        .filter(|(_, (_, changed))| *changed)
        .map(|(key, (values, _))| (key, values))
        .collect();
    let insert = Insert {
        into: "experiment_unit_metrics (project, env, experiment, phase, unit_kind, unit_key, \
               metric, value_sum, value_count, pre_sum, pre_count)",
        on_conflict: "ON CONFLICT (unit_key, unit_kind, project, env, experiment, phase, metric) \
                      DO UPDATE SET value_sum = excluded.value_sum, \
                      value_count = excluded.value_count, pre_sum = excluded.pre_sum, \
                      pre_count = excluded.pre_count",
        width: 11,
        rows_per_statement: ROWS_PER_STATEMENT,
    };
    script.insert(
        &insert,
        &[],
        &changed_values,
        |values, (((kind, key), metric), unit)| {
            on_experiment_row(values, batch, tag)?
                .text(kind)?
                .text(key)?
                .text(metric)?
                .real(unit.value_sum)?
                .int(unit.value_count)?
                .real(unit.pre_sum)?
                .int(unit.pre_count)?;
            Ok(())
        },
    )?;
    let moments = MOMENT_COLUMNS.join(", ");
    let adds = |table: &str| {
        ["units", "excluded"]
            .iter()
            .chain(MOMENT_COLUMNS.iter())
            .map(|c| format!("{c} = {table}.{c} + excluded.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let totals: Vec<_> = work.totals.iter().collect();
    script.upsert(
        &format!(
            "experiment_totals (project, env, experiment, phase, unit_kind, variation, metric, \
             denominator, units, excluded, {moments})"
        ),
        &format!(
            "ON CONFLICT (project, env, experiment, phase, unit_kind, variation, metric, \
             denominator) DO UPDATE SET {}",
            adds("experiment_totals")
        ),
        8 + DELTA_WIDTH,
        &totals,
        |values, (key, delta)| {
            on_experiment_row(values, batch, tag)?;
            add_totals_row(values, key, delta)
        },
    )?;
    let daily: Vec<_> = work.daily.iter().collect();
    script.upsert(
        &format!(
            "experiment_daily (project, env, experiment, phase, day, unit_kind, variation, \
             metric, denominator, units, excluded, {moments})"
        ),
        &format!(
            "ON CONFLICT (project, env, experiment, phase, day, unit_kind, variation, metric, \
             denominator) DO UPDATE SET {}",
            adds("experiment_daily")
        ),
        9 + DELTA_WIDTH,
        &daily,
        |values, ((day, key), delta)| {
            on_experiment_row(values, batch, tag)?.int(*day)?;
            add_totals_row(values, key, delta)
        },
    )?;
    if work.added > 0 || work.overflow > 0 {
        let mut p = Placeholders::new(backend);
        let sql = format!(
            "UPDATE experiment_heads SET stored = stored + {}, overflow = overflow + {} \
             WHERE project = {} AND env = {} AND experiment = {} AND phase = {}",
            p.one(),
            p.one(),
            p.one(),
            p.one(),
            p.one(),
            p.one()
        );
        script.statement(sql, |values| {
            values.int(work.added)?.int(work.overflow)?;
            on_experiment_row(values, batch, tag)?;
            Ok(())
        })?;
    }
    script.run(tx).await
}

/// Adds a row's four scope parameters: the batch's project and env, the experiment and phase.
fn on_experiment_row<'v, 'q>(
    values: &'v mut Values<'q>,
    batch: &'q EventBatch,
    tag: &'q ExperimentTag,
) -> std::result::Result<&'v mut Values<'q>, BoxDynError> {
    values
        .text(&batch.project)?
        .text(&batch.env)?
        .text(&tag.id)?
        .int(tag.phase)
}

/// Parameters of a [`Delta`]: units, excluded and the moments.
const DELTA_WIDTH: usize = 2 + MOMENT_COLUMNS.len();

/// Adds a totals row's key (unit kind, variation, metric, denominator) and its [`Delta`].
fn add_totals_row<'q>(
    values: &mut Values<'q>,
    (kind, variation, metric, denominator): &'q TotalsKey,
    delta: &Delta,
) -> std::result::Result<(), BoxDynError> {
    values
        .text(kind)?
        .text(variation)?
        .text(metric)?
        .text(denominator)?;
    values.int(delta.units)?.int(delta.excluded)?;
    for value in delta.moments.to_array() {
        values.real(value)?;
    }
    Ok(())
}
