//! Parameter placeholders for the statements with hundreds of parameters (multi-row upserts,
//! `IN` lists), numbered in the order they are bound.
//!
//! On SQLite they are anonymous (`?`): sqlx looks every numbered parameter's name up with
//! `sqlite3_bind_parameter_name`, which walks the statement's list of names, so binding
//! `$1`…`$n` costs O(n²): with 500-row upserts (4,002 parameters) that was 70 % of the event
//! intake's time (2026-12-06 profile). Anonymous parameters have no names to walk. PostgreSQL has no
//! anonymous parameters: `$1`…`$n` there, in the same order.

use crate::Backend;

pub(super) struct Placeholders {
    backend: Backend,
    next: usize,
}

impl Placeholders {
    pub(super) fn new(backend: Backend) -> Self {
        Placeholders { backend, next: 1 }
    }

    /// The next placeholder.
    pub(super) fn one(&mut self) -> String {
        let n = self.next;
        self.next += 1;
        match self.backend {
            Backend::Sqlite => "?".to_owned(),
            Backend::Postgres => format!("${n}"),
        }
    }

    /// The next `n` placeholders, comma-separated.
    pub(super) fn list(&mut self, n: usize) -> String {
        (0..n).map(|_| self.one()).collect::<Vec<_>>().join(", ")
    }

    /// `rows` groups `(…)` of the next `width` placeholders each, comma-separated.
    pub(super) fn rows(&mut self, rows: usize, width: usize) -> String {
        (0..rows)
            .map(|_| format!("({})", self.list(width)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Whether a statement of `rows` rows (or keys) of a chunked write or lookup is kept in its
/// connection's statement cache: only at the chunk's `full` size, whose text never changes. One
/// per row count would fill each connection's cache (100 entries; on SQLite a multi-row upsert
/// takes up to ~170 KB) for good, as batches of new sizes come.
pub(super) fn cached_at_full_size(rows: usize, full: usize) -> bool {
    rows == full
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_in_order_on_postgres_anonymous_on_sqlite() {
        let mut pg = Placeholders::new(Backend::Postgres);
        assert_eq!(pg.one(), "$1");
        assert_eq!(pg.rows(2, 2), "($2, $3), ($4, $5)");
        assert_eq!(pg.list(2), "$6, $7");
        let mut lite = Placeholders::new(Backend::Sqlite);
        assert_eq!(lite.one(), "?");
        assert_eq!(lite.rows(2, 2), "(?, ?), (?, ?)");
    }
}
