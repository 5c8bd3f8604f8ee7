//! A batch's summary rows (evaluation counts, metric aggregates, release counts, histograms,
//! stage tallies), upserted several rows a statement instead of one each: on SQLite every
//! statement is a round trip to sqlx's SQLite thread (a thread wake-up each way) inside the one
//! write turn, and a batch with a release running writes a few dozen such rows (and a batch of
//! latencies spreads over hundreds of histogram buckets: one statement per row cost as much as
//! a fifth of its write).
//!
//! A batch's statements that need no answer go into a [`Script`], which SQLite runs in one call.
//!
//! Callers pass rows with distinct keys in key order: one PostgreSQL statement may not touch a
//! row twice, and concurrent batches then lock the rows they share in the same order.

use sqlx::Arguments;
use sqlx::any::AnyArguments;
use sqlx::error::BoxDynError;

use super::placeholders::{Placeholders, cached_at_full_size};
use crate::{Backend, Result};

/// Rows per statement of [`Script::upsert`].
const ROWS_PER_STATEMENT: usize = 100;

type Tx<'t> = sqlx::Transaction<'t, sqlx::Any>;

/// A multi-row `INSERT INTO {into} VALUES (…), (…) {on_conflict}` of `width` parameters a
/// row, `rows_per_statement` rows a statement. The row's leading columns may have the same value
/// in every row (`leading`, a batch's project and env): on SQLite those are bound once per
/// statement (`INSERT … SELECT ?, ?, * FROM (VALUES …)`), since sqlx copies every bound text
/// twice (into an owned value for SQLite's thread, and in SQLite, `SQLITE_TRANSIENT`); on
/// PostgreSQL, whose parameters are binary and not copied so, in every row.
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
        leading: &[&'q str],
        rows: &[R],
        add: impl Fn(&mut Values<'q>, &R) -> std::result::Result<(), BoxDynError>,
    ) -> Result<Vec<Statement<'q>>> {
        self.chunks(backend, leading.len(), rows)
            .map(|(sql, persistent, chunk)| {
                Statement::new(sql, persistent, |values| {
                    add_rows(values, backend, leading, chunk, &add)
                })
            })
            .collect()
    }

    /// Each statement's text, whether it stays cached (only at full size), and its rows.
    fn chunks<'r, R>(
        &'r self,
        backend: Backend,
        leading: usize,
        rows: &'r [R],
    ) -> impl Iterator<Item = (String, bool, &'r [R])> + 'r {
        rows.chunks(self.rows_per_statement).map(move |chunk| {
            let sql = self.sql(backend, leading, chunk.len());
            (
                sql,
                cached_at_full_size(chunk.len(), self.rows_per_statement),
                chunk,
            )
        })
    }

    /// The statement for `rows` rows whose first `leading` columns are the same in each.
    fn sql(&self, backend: Backend, leading: usize, rows: usize) -> String {
        let mut p = Placeholders::new(backend);
        if binds_leading_once(backend) && leading > 0 {
            let once: Vec<String> = (0..leading).map(|_| p.one()).collect();
            // `WHERE true` tells SQLite's parser that `ON CONFLICT` is the upsert's, not a join's.
            return format!(
                "INSERT INTO {} SELECT {}, * FROM (VALUES {}) WHERE true {}",
                self.into,
                once.join(", "),
                p.rows(rows, self.width - leading),
                self.on_conflict
            );
        }
        format!(
            "INSERT INTO {} VALUES {} {}",
            self.into,
            p.rows(rows, self.width),
            self.on_conflict
        )
    }
}

/// Statements to run in order within a transaction, built ahead. On SQLite they run in one
/// call: one round trip to sqlx's SQLite thread (a thread wake-up each way) instead of one per
/// statement, and the caller's Rust may run meanwhile. PostgreSQL's protocol takes parameters
/// for one statement at a time, so there each runs on its own.
pub(super) enum Script<'q> {
    /// SQLite: one statement of the statements' text, `;`-separated, and their parameters in
    /// order; cached in the connection only while every statement is of full size (the common
    /// shape).
    Joined(Statement<'q>),
    Separate(Vec<Statement<'q>>),
}

impl<'q> Script<'q> {
    pub(super) fn new(backend: Backend) -> Script<'q> {
        match backend {
            Backend::Sqlite => Script::Joined(Statement {
                sql: String::new(),
                values: Values(AnyArguments::default()),
                persistent: true,
            }),
            Backend::Postgres => Script::Separate(Vec::new()),
        }
    }

    /// Adds the statements of `insert` over `rows`, each row's `leading` values then its other
    /// parameters, added by `add`.
    pub(super) fn insert<R>(
        &mut self,
        insert: &Insert<'_>,
        leading: &[&'q str],
        rows: &[R],
        add: impl Fn(&mut Values<'q>, &R) -> std::result::Result<(), BoxDynError>,
    ) -> Result<()> {
        let backend = self.backend();
        for (sql, persistent, chunk) in insert.chunks(backend, leading.len(), rows) {
            self.push(sql, persistent, |values| {
                add_rows(values, backend, leading, chunk, &add)
            })?;
        }
        Ok(())
    }

    /// Adds the upserts of a batch's summary rows into `into`, [`ROWS_PER_STATEMENT`] a
    /// statement.
    pub(super) fn upsert<R>(
        &mut self,
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
        self.insert(&insert, &[], rows, add)
    }

    /// Adds one statement (its placeholders from [`Placeholders`], numbered from the first on
    /// PostgreSQL), its parameters added by `add`.
    pub(super) fn statement(
        &mut self,
        sql: String,
        add: impl FnOnce(&mut Values<'q>) -> std::result::Result<(), BoxDynError>,
    ) -> Result<()> {
        self.push(sql, true, add)
    }

    /// Adds a statement: on SQLite to the joined one, which stays cached only while every
    /// statement in it would be (`persistent`).
    fn push(
        &mut self,
        sql: String,
        persistent: bool,
        add: impl FnOnce(&mut Values<'q>) -> std::result::Result<(), BoxDynError>,
    ) -> Result<()> {
        match self {
            Script::Joined(joined) => {
                joined.sql.push_str(&sql);
                joined.sql.push_str(";\n");
                joined.persistent &= persistent;
                add(&mut joined.values).map_err(sqlx::Error::Encode)?;
            }
            Script::Separate(statements) => statements.push(Statement::new(sql, persistent, add)?),
        }
        Ok(())
    }

    fn backend(&self) -> Backend {
        match self {
            Script::Joined(_) => Backend::Sqlite,
            Script::Separate(_) => Backend::Postgres,
        }
    }

    pub(super) async fn run(self, tx: &mut Tx<'_>) -> Result<()> {
        match self {
            Script::Joined(joined) => {
                if !joined.sql.is_empty() {
                    joined.execute(tx).await?;
                }
            }
            Script::Separate(statements) => {
                for statement in statements {
                    statement.execute(tx).await?;
                }
            }
        }
        Ok(())
    }
}

/// A statement with its parameters bound, ready to run.
pub(super) struct Statement<'q> {
    sql: String,
    values: Values<'q>,
    persistent: bool,
}

impl<'q> Statement<'q> {
    /// A statement of `sql`, its parameters added by `add`.
    fn new(
        sql: String,
        persistent: bool,
        add: impl FnOnce(&mut Values<'q>) -> std::result::Result<(), BoxDynError>,
    ) -> Result<Statement<'q>> {
        let mut values = Values(AnyArguments::default());
        add(&mut values).map_err(sqlx::Error::Encode)?;
        Ok(Statement {
            sql,
            values,
            persistent,
        })
    }

    pub(super) async fn execute(self, tx: &mut Tx<'_>) -> Result<()> {
        sqlx::query_with(&self.sql, self.values.0)
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
        let query = sqlx::query_as_with(&self.sql, self.values.0).persistent(self.persistent);
        Ok(query.fetch_all(&mut **tx).await?)
    }
}

/// Whether an [`Insert`]'s leading values are bound once per statement (SQLite) rather than in
/// every row: the statement's text ([`Insert::sql`]) and its parameters ([`add_rows`]) follow
/// this one rule.
fn binds_leading_once(backend: Backend) -> bool {
    backend == Backend::Sqlite
}

/// Adds the parameters of `rows`: the `leading` values once or in each row
/// ([`binds_leading_once`]), and each row's others by `add`.
fn add_rows<'q, R>(
    values: &mut Values<'q>,
    backend: Backend,
    leading: &[&'q str],
    rows: &[R],
    add: &impl Fn(&mut Values<'q>, &R) -> std::result::Result<(), BoxDynError>,
) -> std::result::Result<(), BoxDynError> {
    let add_leading = |values: &mut Values<'q>| {
        leading
            .iter()
            .try_for_each(|value| values.text(value).map(|_| ()))
    };
    let once = binds_leading_once(backend);
    if once {
        add_leading(values)?;
    }
    for row in rows {
        if !once {
            add_leading(values)?;
        }
        add(values, row)?;
    }
    Ok(())
}

/// The parameters of an [`Insert`]'s rows, in column order.
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

    pub(super) fn int_or_null(
        &mut self,
        value: Option<i64>,
    ) -> std::result::Result<&mut Self, BoxDynError> {
        self.0.add(value)?;
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_values_are_bound_once_on_sqlite_and_in_every_row_on_postgres() {
        let insert = Insert {
            into: "t (project, env, a)",
            on_conflict: "ON CONFLICT DO NOTHING",
            width: 3,
            rows_per_statement: 10,
        };
        assert_eq!(
            insert.sql(Backend::Sqlite, 2, 2),
            "INSERT INTO t (project, env, a) SELECT ?, ?, * FROM (VALUES (?), (?)) WHERE true \
             ON CONFLICT DO NOTHING"
        );
        assert_eq!(
            insert.sql(Backend::Postgres, 2, 2),
            "INSERT INTO t (project, env, a) VALUES ($1, $2, $3), ($4, $5, $6) ON CONFLICT DO NOTHING"
        );
        assert_eq!(
            insert.sql(Backend::Sqlite, 0, 1),
            "INSERT INTO t (project, env, a) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
        );
    }
}
