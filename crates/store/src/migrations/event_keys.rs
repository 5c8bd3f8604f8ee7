//! The event tables' keys, reshaped for intake speed after the tables were created (migrations
//! 10–12): each B-tree step of a batch's inserts and history probes costs less with keys that
//! tell rows apart early and compare byte-wise.

/// Exposures keyed context first: the batch's history reads them by context, and the index that
/// served those reads (`exposures_by_context`) was a fourth B-tree every new exposure was
/// inserted into, each holding the context's key again; without it SQLite writes a new context's
/// exposure in about two thirds of the time. Listing a flag's exposed contexts
/// (`exposed_contexts`) now goes by `exposures_by_last_seen` from the newest. The rows are copied
/// once, in the migration's transaction.
pub(super) const EXPOSURES_CONTEXT_FIRST: &str = "
CREATE TABLE exposures_context_first (
    project TEXT NOT NULL,
    env TEXT NOT NULL,
    flag TEXT NOT NULL,
    context_kind TEXT NOT NULL,
    context_key TEXT NOT NULL,
    variation TEXT NOT NULL,
    version BIGINT NOT NULL,
    reason TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    PRIMARY KEY (project, env, context_kind, context_key, flag, variation)
);
INSERT INTO exposures_context_first
    (project, env, flag, context_kind, context_key, variation, version, reason, first_seen, last_seen)
    SELECT project, env, flag, context_kind, context_key, variation, version, reason, first_seen,
           last_seen
    FROM exposures;
DROP TABLE exposures;
ALTER TABLE exposures_context_first RENAME TO exposures;
CREATE INDEX exposures_by_last_seen ON exposures (last_seen);
";

/// PostgreSQL only: the key columns of the tables every event batch writes and probes compare
/// byte-wise (`COLLATE "C"`), as SQLite's do. A cluster's default collation (often
/// `en_US.UTF-8` or `C.UTF-8`) compares text through the C library, on every B-tree step of
/// every insert and probe; with a release running on every flag that was ~13 % of PostgreSQL's
/// CPU per event (BENCHMARKS.md, Events, "2026-12-07"). Every comparison with these columns is
/// against a parameter, whose collation yields to the column's.
pub(super) const POSTGRES_BYTE_ORDER_KEYS: &str = r#"
ALTER TABLE exposures
    ALTER COLUMN project TYPE TEXT COLLATE "C",
    ALTER COLUMN env TYPE TEXT COLLATE "C",
    ALTER COLUMN flag TYPE TEXT COLLATE "C",
    ALTER COLUMN context_kind TYPE TEXT COLLATE "C",
    ALTER COLUMN context_key TYPE TEXT COLLATE "C",
    ALTER COLUMN variation TYPE TEXT COLLATE "C";
ALTER TABLE release_exposures
    ALTER COLUMN project TYPE TEXT COLLATE "C",
    ALTER COLUMN env TYPE TEXT COLLATE "C",
    ALTER COLUMN context_kind TYPE TEXT COLLATE "C",
    ALTER COLUMN context_key TYPE TEXT COLLATE "C",
    ALTER COLUMN flag TYPE TEXT COLLATE "C",
    ALTER COLUMN stage TYPE TEXT COLLATE "C",
    ALTER COLUMN cohort TYPE TEXT COLLATE "C";
ALTER TABLE experiment_units
    ALTER COLUMN project TYPE TEXT COLLATE "C",
    ALTER COLUMN env TYPE TEXT COLLATE "C",
    ALTER COLUMN experiment TYPE TEXT COLLATE "C",
    ALTER COLUMN unit_kind TYPE TEXT COLLATE "C",
    ALTER COLUMN unit_key TYPE TEXT COLLATE "C";
ALTER TABLE experiment_unit_metrics
    ALTER COLUMN project TYPE TEXT COLLATE "C",
    ALTER COLUMN env TYPE TEXT COLLATE "C",
    ALTER COLUMN experiment TYPE TEXT COLLATE "C",
    ALTER COLUMN unit_kind TYPE TEXT COLLATE "C",
    ALTER COLUMN unit_key TYPE TEXT COLLATE "C",
    ALTER COLUMN metric TYPE TEXT COLLATE "C";
"#;

/// Exposures and release exposures keyed by the context's key first, ahead of the project, env
/// and kind that every row of an environment shares. A B-tree step compared those three equal
/// texts before reaching the key that tells rows apart; PostgreSQL, to find a later column of an
/// index entry, also walks the variable-width columns before it (`nocache_index_getattr`, with
/// the comparisons around it about a third of its CPU with a release running, BENCHMARKS.md,
/// "2026-12-07, 12:42"). The lookups by project, env, kind and key keep their index; the rows
/// are copied once, in the migration's transaction (SQLite cannot change a primary key in
/// place).
pub(super) const SQLITE_CONTEXT_KEY_FIRST: &str = "
CREATE TABLE exposures_key_first (
    project TEXT NOT NULL,
    env TEXT NOT NULL,
    flag TEXT NOT NULL,
    context_kind TEXT NOT NULL,
    context_key TEXT NOT NULL,
    variation TEXT NOT NULL,
    version BIGINT NOT NULL,
    reason TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    PRIMARY KEY (context_key, context_kind, project, env, flag, variation)
);
INSERT INTO exposures_key_first
    (project, env, flag, context_kind, context_key, variation, version, reason, first_seen, last_seen)
    SELECT project, env, flag, context_kind, context_key, variation, version, reason, first_seen,
           last_seen
    FROM exposures;
DROP TABLE exposures;
ALTER TABLE exposures_key_first RENAME TO exposures;
CREATE INDEX exposures_by_last_seen ON exposures (last_seen);
CREATE TABLE release_exposures_key_first (
    project TEXT NOT NULL,
    env TEXT NOT NULL,
    context_kind TEXT NOT NULL,
    context_key TEXT NOT NULL,
    flag TEXT NOT NULL,
    stage TEXT NOT NULL,
    cohort TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    PRIMARY KEY (context_key, context_kind, project, env, flag, stage, cohort)
);
INSERT INTO release_exposures_key_first
    (project, env, context_kind, context_key, flag, stage, cohort, first_seen)
    SELECT project, env, context_kind, context_key, flag, stage, cohort, first_seen
    FROM release_exposures;
DROP TABLE release_exposures;
ALTER TABLE release_exposures_key_first RENAME TO release_exposures;
CREATE INDEX release_exposures_by_first_seen ON release_exposures (first_seen);
";

/// [`SQLITE_CONTEXT_KEY_FIRST`] on PostgreSQL, which rebuilds the primary keys in place (the
/// columns keep migration 11's collation). The constraints' names are those migrations 3 and
/// 10 gave them. Release exposures' first sightings, read only by retention's deletion, get a
/// BRIN index instead of a B-tree: rows arrive in about the order of their first sighting, so
/// a summary per range of pages finds the old ones, and a new row costs no B-tree insert.
pub(super) const POSTGRES_CONTEXT_KEY_FIRST: &str = "
ALTER TABLE exposures
    DROP CONSTRAINT exposures_context_first_pkey,
    ADD CONSTRAINT exposures_pkey
        PRIMARY KEY (context_key, context_kind, project, env, flag, variation);
ALTER TABLE release_exposures
    DROP CONSTRAINT release_exposures_pkey,
    ADD CONSTRAINT release_exposures_pkey
        PRIMARY KEY (context_key, context_kind, project, env, flag, stage, cohort);
DROP INDEX release_exposures_by_first_seen;
CREATE INDEX release_exposures_by_first_seen ON release_exposures
    USING brin (first_seen) WITH (autosummarize = on);
";
