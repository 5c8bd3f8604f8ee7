//! A batch's summary rows (evaluation counts, metric aggregates, release counts, histograms,
//! stage tallies), upserted several rows a statement instead of one each: on SQLite every
//! statement is a round trip to sqlx's SQLite thread (a thread wake-up each way) inside the one
//! write turn, and a batch with a release running writes a few dozen such rows (and a batch of
//! latencies spreads over hundreds of histogram buckets: one statement per row cost as much as
//! a fifth of its write).
//!
//! Callers pass rows with distinct keys in key order: one PostgreSQL statement may not touch a
//! row twice, and concurrent batches then lock the rows they share in the same order.

use sqlx::Arguments;
use sqlx::any::AnyArguments;
use sqlx::error::BoxDynError;

use super::placeholders::{Placeholders, cached_at_full_size};
use crate::{Backend, Result};

/// Rows per statement.
const ROWS_PER_STATEMENT: usize = 100;

type Tx<'t> = sqlx::Transaction<'t, sqlx::Any>;

/// Runs `INSERT INTO {into} VALUES (…), (…) {on_conflict}` over `rows`, each row's `width`
/// parameters added by `add`.
pub(super) async fn upsert<'q, R>(
    tx: &mut Tx<'_>,
    backend: Backend,
    into: &str,
    on_conflict: &str,
    width: usize,
    rows: &'q [R],
    add: impl Fn(&mut Values<'q>, &'q R) -> std::result::Result<(), BoxDynError>,
) -> Result<()> {
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO {into} VALUES {} {on_conflict}",
            Placeholders::new(backend).rows(chunk.len(), width)
        );
        let mut values = Values(AnyArguments::default());
        for row in chunk {
            add(&mut values, row).map_err(sqlx::Error::Encode)?;
        }
        sqlx::query_with(&sql, values.0)
            .persistent(cached_at_full_size(chunk.len(), ROWS_PER_STATEMENT))
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// The parameters of an [`upsert`], in column order.
pub(super) struct Values<'q>(AnyArguments<'q>);

impl<'q> Values<'q> {
    pub(super) fn text(&mut self, value: &'q str) -> std::result::Result<&mut Self, BoxDynError> {
        self.0.add(value)?;
        Ok(self)
    }

    pub(super) fn int(&mut self, value: i64) -> std::result::Result<&mut Self, BoxDynError> {
        self.0.add(value)?;
        Ok(self)
    }

    pub(super) fn real(&mut self, value: f64) -> std::result::Result<&mut Self, BoxDynError> {
        self.0.add(value)?;
        Ok(self)
    }
}
