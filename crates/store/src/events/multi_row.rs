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

/// Rows per statement of [`upsert`].
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
    rows: &[R],
    add: impl Fn(&mut Values<'q>, &R) -> std::result::Result<(), BoxDynError>,
) -> Result<()> {
    let insert = Insert {
        into,
        on_conflict,
        width,
        rows_per_statement: ROWS_PER_STATEMENT,
    };
    for statement in insert.statements(backend, rows, add)? {
        statement.execute(tx).await?;
    }
    Ok(())
}

/// A multi-row `INSERT INTO {into} VALUES (…), (…) {on_conflict}` of `width` parameters a
/// row, `rows_per_statement` rows a statement.
pub(super) struct Insert<'s> {
    pub(super) into: &'s str,
    pub(super) on_conflict: &'s str,
    pub(super) width: usize,
    pub(super) rows_per_statement: usize,
}

impl Insert<'_> {
    /// The statements that insert `rows`, each row's parameters added by `add`; only those of
    /// full size are kept in the connection's statement cache.
    pub(super) fn statements<'q, R>(
        &self,
        backend: Backend,
        rows: &[R],
        add: impl Fn(&mut Values<'q>, &R) -> std::result::Result<(), BoxDynError>,
    ) -> Result<Vec<Statement<'q>>> {
        let mut statements = Vec::new();
        for chunk in rows.chunks(self.rows_per_statement) {
            let sql = format!(
                "INSERT INTO {} VALUES {} {}",
                self.into,
                Placeholders::new(backend).rows(chunk.len(), self.width),
                self.on_conflict
            );
            let mut values = Values(AnyArguments::default());
            for row in chunk {
                add(&mut values, row).map_err(sqlx::Error::Encode)?;
            }
            statements.push(Statement {
                sql,
                arguments: values.0,
                persistent: cached_at_full_size(chunk.len(), self.rows_per_statement),
            });
        }
        Ok(statements)
    }
}

/// A statement with its parameters bound, ready to run.
pub(super) struct Statement<'q> {
    sql: String,
    arguments: AnyArguments<'q>,
    persistent: bool,
}

impl<'q> Statement<'q> {
    pub(super) async fn execute(self, tx: &mut Tx<'_>) -> Result<()> {
        sqlx::query_with(&self.sql, self.arguments)
            .persistent(self.persistent)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Runs it and reads the rows it returns (`RETURNING …`) as `O`.
    pub(super) async fn fetch_all<O>(self, tx: &mut Tx<'_>) -> Result<Vec<O>>
    where
        O: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
    {
        let query = sqlx::query_as_with(&self.sql, self.arguments).persistent(self.persistent);
        Ok(query.fetch_all(&mut **tx).await?)
    }
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
