//! Parameter placeholders for the statements with hundreds of parameters (multi-row upserts),
//! numbered in the order they are bound, and lookups by a JSON array of keys.
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

    pub(super) fn backend(&self) -> Backend {
        self.backend
    }

    /// The next placeholder.
    pub(super) fn one(&mut self) -> String {
        let mut text = String::new();
        self.push(&mut text);
        text
    }

    /// `rows` groups `(…)` of the next `width` placeholders each, comma-separated. Written into
    /// one string: a 500-row upsert has thousands of placeholders, and a string for each was a
    /// few percent of a batch's write.
    pub(super) fn rows(&mut self, rows: usize, width: usize) -> String {
        let mut text = String::with_capacity(rows * (width * 4 + 4));
        for row in 0..rows {
            if row > 0 {
                text.push_str(", ");
            }
            text.push('(');
            self.push_list(&mut text, width);
            text.push(')');
        }
        text
    }

    /// `column` among the keys of the next placeholder, bound to a JSON array of texts
    /// ([`keys_json`]): one parameter however many keys, so the statement's text is the same
    /// for every batch and stays prepared. For a `column` that leads its table's key (an
    /// experiment's units): there it is an index condition on either backend. On PostgreSQL an
    /// array, not `IN (SELECT …)`: while a table's statistics are stale (one filling faster
    /// than autovacuum analyzes it) the planner made that a semi-join over a scan of the whole
    /// table, a second per batch at a few thousand rows (events benchmark, 2026-12-07). Deeper
    /// in a key, even `= ANY` became a filter over the rest of the key's prefix: lookups by
    /// context probe per key instead (`history::lookup_sql`).
    pub(super) fn among_json_keys(&mut self, column: &str) -> String {
        let keys = self.one();
        match self.backend {
            Backend::Sqlite => format!("{column} IN (SELECT value FROM json_each({keys}))"),
            Backend::Postgres => {
                format!("{column} = ANY(ARRAY(SELECT json_array_elements_text({keys}::json)))")
            }
        }
    }

    fn push_list(&mut self, text: &mut String, n: usize) {
        for i in 0..n {
            if i > 0 {
                text.push_str(", ");
            }
            self.push(text);
        }
    }

    fn push(&mut self, text: &mut String) {
        use std::fmt::Write;
        match self.backend {
            Backend::Sqlite => text.push('?'),
            // Writing to a `String` cannot fail.
            Backend::Postgres => {
                let _ = write!(text, "${}", self.next);
            }
        }
        self.next += 1;
    }
}

/// `keys` as the JSON array of texts [`Placeholders::among_json_keys`] is bound to.
pub(super) fn keys_json<'k>(
    keys: impl IntoIterator<Item = &'k str>,
) -> std::result::Result<String, sqlx::Error> {
    let keys: Vec<&str> = keys.into_iter().collect();
    serde_json::to_string(&keys).map_err(|error| sqlx::Error::Encode(error.into()))
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
        assert_eq!(
            pg.among_json_keys("k"),
            "k = ANY(ARRAY(SELECT json_array_elements_text($6::json)))"
        );
        let mut lite = Placeholders::new(Backend::Sqlite);
        assert_eq!(lite.one(), "?");
        assert_eq!(lite.rows(2, 2), "(?, ?), (?, ?)");
    }
}
