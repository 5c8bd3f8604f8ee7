//! Versioned schema migrations, one list per backend (one shared list while they agree), applied
//! in order on start. A migration is never edited once released; a change to the schema is a new
//! migration appended to every backend's list.

use std::sync::LazyLock;

use sqlx::{AnyPool, Row};

use crate::{Backend, Result};
use event_keys::{
    EXPOSURES_CONTEXT_FIRST, POSTGRES_BYTE_ORDER_KEYS, POSTGRES_CONTEXT_KEY_FIRST,
    SQLITE_CONTEXT_KEY_FIRST,
};

mod event_keys;

#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// The initial schema. SQLite and PostgreSQL accept the same DDL here (`BIGINT` has integer
/// affinity in SQLite); later migrations may differ per backend.
const INITIAL: &str = "
CREATE TABLE documents (
    kind TEXT NOT NULL,
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    version BIGINT NOT NULL,
    revision BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, scope, key)
);
CREATE INDEX documents_by_key ON documents (kind, key);
CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    action TEXT NOT NULL,
    resource TEXT NOT NULL,
    outcome TEXT NOT NULL,
    record TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TABLE chain_head (
    id BIGINT PRIMARY KEY,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO chain_head (id, seq, hash)
    VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
";

/// Event aggregates (`events.rs`). `DOUBLE PRECISION` has real affinity in SQLite.
const EVENTS: &str = "
CREATE TABLE evaluation_counts (
    project TEXT NOT NULL,
    env TEXT NOT NULL,
    flag TEXT NOT NULL,
    version BIGINT NOT NULL,
    variation TEXT NOT NULL,
    reason TEXT NOT NULL,
    minute BIGINT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (project, env, flag, version, variation, reason, minute)
);
CREATE TABLE exposures (
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
    PRIMARY KEY (project, env, flag, context_kind, context_key, variation)
);
CREATE INDEX exposures_by_context ON exposures (project, env, context_kind, context_key);
CREATE INDEX exposures_by_last_seen ON exposures (last_seen);
CREATE TABLE metric_aggregates (
    project TEXT NOT NULL,
    env TEXT NOT NULL,
    metric TEXT NOT NULL,
    flag TEXT NOT NULL,
    variation TEXT NOT NULL,
    minute BIGINT NOT NULL,
    count BIGINT NOT NULL,
    sum DOUBLE PRECISION NOT NULL,
    sum_sq DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (project, env, metric, flag, variation, minute)
);
";

/// Release cohorts (`events.rs`): evaluations, contexts and metrics per release stage and
/// cohort. A stage is its own key, so counts restart at every stage without a time filter.
const RELEASES: &str = "
CREATE TABLE release_counts (
    project TEXT NOT NULL,
    env TEXT NOT NULL,
    flag TEXT NOT NULL,
    stage TEXT NOT NULL,
    cohort TEXT NOT NULL,
    evaluations BIGINT NOT NULL,
    PRIMARY KEY (project, env, flag, stage, cohort)
);
CREATE TABLE release_exposures (
    project TEXT NOT NULL,
    env TEXT NOT NULL,
    context_kind TEXT NOT NULL,
    context_key TEXT NOT NULL,
    flag TEXT NOT NULL,
    stage TEXT NOT NULL,
    cohort TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    PRIMARY KEY (project, env, context_kind, context_key, flag, stage, cohort)
);
CREATE INDEX release_exposures_by_stage ON release_exposures (project, env, flag, stage);
CREATE INDEX release_exposures_by_first_seen ON release_exposures (first_seen);
CREATE TABLE release_metrics (
    project TEXT NOT NULL,
    env TEXT NOT NULL,
    flag TEXT NOT NULL,
    stage TEXT NOT NULL,
    cohort TEXT NOT NULL,
    metric TEXT NOT NULL,
    count BIGINT NOT NULL,
    sum DOUBLE PRECISION NOT NULL,
    sum_sq DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (project, env, flag, stage, cohort, metric)
);
";

/// Signed audit records (`audit.rs`): a nullable signature per record, and the sequence number
/// where the signed form starts (the head's next record now, so every record written before this
/// migration stays in the legacy form and verifies as it did).
const AUDIT_SIGNATURES: &str = "
ALTER TABLE audit_log ADD COLUMN signature TEXT;
ALTER TABLE chain_head ADD COLUMN signed_from BIGINT NOT NULL DEFAULT 1;
UPDATE chain_head SET signed_from = seq + 1 WHERE id = 1;
";

/// Ids of event batches already counted (`events/batch_ids.rs`), per environment, so a batch
/// retried after a lost answer is counted once; forgotten after a day (`seen_at`).
const EVENT_BATCH_IDS: &str = "
CREATE TABLE event_batches (
    project TEXT NOT NULL,
    env TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    seen_at BIGINT NOT NULL,
    attributed BIGINT NOT NULL,
    PRIMARY KEY (project, env, batch_id)
);
CREATE INDEX event_batches_by_seen_at ON event_batches (seen_at);
";

/// Release cohorts' metric distributions (`events/metrics.rs`): per release stage, cohort and
/// metric, how many values fell in each histogram bucket (`switchyard_stats::histogram` keys).
const RELEASE_HISTOGRAMS: &str = "
CREATE TABLE release_histograms (
    project TEXT NOT NULL,
    env TEXT NOT NULL,
    flag TEXT NOT NULL,
    stage TEXT NOT NULL,
    cohort TEXT NOT NULL,
    metric TEXT NOT NULL,
    bucket BIGINT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (project, env, flag, stage, cohort, metric, bucket)
);
";

/// The webhook outbox (`webhook_outbox.rs`, `docs/webhooks.md`): the audit log is the outbox, so
/// a subscription only keeps its place in it (the last sequence number handled), the retry state
/// of its next delivery and the lease of the replica sending it; and its last delivery attempts.
const WEBHOOK_OUTBOX: &str = "
CREATE TABLE webhook_outbox (
    project TEXT NOT NULL,
    webhook TEXT NOT NULL,
    delivered_seq BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    last_attempt_at BIGINT NOT NULL,
    last_error TEXT,
    lease_owner TEXT NOT NULL,
    lease_until BIGINT NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (project, webhook)
);
CREATE TABLE webhook_deliveries (
    project TEXT NOT NULL,
    webhook TEXT NOT NULL,
    attempt TEXT NOT NULL,
    delivery TEXT NOT NULL,
    seq BIGINT NOT NULL,
    at BIGINT NOT NULL,
    status BIGINT,
    duration_ms BIGINT NOT NULL,
    error TEXT,
    redelivery BIGINT NOT NULL,
    PRIMARY KEY (project, webhook, attempt)
);
CREATE INDEX webhook_deliveries_by_at ON webhook_deliveries (project, webhook, at);
";

/// Experiments (`events/experiments.rs`, `docs/events.md` "Experiment units"): per unit (a context
/// part) its variation and first exposure (`variation = ''`: not exposed yet, only pre-period
/// values kept), its own numbers per metric event, the per-arm totals kept incrementally from
/// them, the same per UTC day (`experiment_daily`, changes filed under the day they happened),
/// and per experiment phase the units stored and those over the cap (`experiment_heads`, also the
/// row a batch locks first, and when its unit rows were pruned). `metric = ''` rows of the totals
/// hold an arm's units and exclusions; `denominator <> ''` rows hold a ratio's Σ
/// numerator·denominator. The unit tables' keys start with the unit key: a batch looks units up
/// by a list of keys, which then is an index condition whatever the planner's statistics say.
const EXPERIMENTS: &str = "
CREATE TABLE experiment_heads (
    project TEXT NOT NULL,
    env TEXT NOT NULL,
    experiment TEXT NOT NULL,
    phase BIGINT NOT NULL,
    stored BIGINT NOT NULL,
    overflow BIGINT NOT NULL,
    pruned_at BIGINT,
    PRIMARY KEY (project, env, experiment, phase)
);
CREATE TABLE experiment_units (
    project TEXT NOT NULL,
    env TEXT NOT NULL,
    experiment TEXT NOT NULL,
    phase BIGINT NOT NULL,
    unit_kind TEXT NOT NULL,
    unit_key TEXT NOT NULL,
    variation TEXT NOT NULL,
    first_exposure BIGINT NOT NULL,
    excluded_at BIGINT,
    PRIMARY KEY (unit_key, unit_kind, project, env, experiment, phase)
);
CREATE TABLE experiment_unit_metrics (
    project TEXT NOT NULL,
    env TEXT NOT NULL,
    experiment TEXT NOT NULL,
    phase BIGINT NOT NULL,
    unit_kind TEXT NOT NULL,
    unit_key TEXT NOT NULL,
    metric TEXT NOT NULL,
    value_sum DOUBLE PRECISION NOT NULL,
    value_count BIGINT NOT NULL,
    pre_sum DOUBLE PRECISION NOT NULL,
    pre_count BIGINT NOT NULL,
    PRIMARY KEY (unit_key, unit_kind, project, env, experiment, phase, metric)
);
CREATE TABLE experiment_totals (
    project TEXT NOT NULL,
    env TEXT NOT NULL,
    experiment TEXT NOT NULL,
    phase BIGINT NOT NULL,
    unit_kind TEXT NOT NULL,
    variation TEXT NOT NULL,
    metric TEXT NOT NULL,
    denominator TEXT NOT NULL,
    units BIGINT NOT NULL,
    excluded BIGINT NOT NULL,
    converted DOUBLE PRECISION NOT NULL,
    pre_converted DOUBLE PRECISION NOT NULL,
    converted_cross DOUBLE PRECISION NOT NULL,
    count_sum DOUBLE PRECISION NOT NULL,
    count_sum_sq DOUBLE PRECISION NOT NULL,
    pre_count_sum DOUBLE PRECISION NOT NULL,
    pre_count_sum_sq DOUBLE PRECISION NOT NULL,
    count_cross DOUBLE PRECISION NOT NULL,
    value_sum DOUBLE PRECISION NOT NULL,
    value_sum_sq DOUBLE PRECISION NOT NULL,
    pre_value_sum DOUBLE PRECISION NOT NULL,
    pre_value_sum_sq DOUBLE PRECISION NOT NULL,
    value_cross DOUBLE PRECISION NOT NULL,
    ratio_cross DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (project, env, experiment, phase, unit_kind, variation, metric, denominator)
);
CREATE TABLE experiment_daily (
    project TEXT NOT NULL,
    env TEXT NOT NULL,
    experiment TEXT NOT NULL,
    phase BIGINT NOT NULL,
    day BIGINT NOT NULL,
    unit_kind TEXT NOT NULL,
    variation TEXT NOT NULL,
    metric TEXT NOT NULL,
    denominator TEXT NOT NULL,
    units BIGINT NOT NULL,
    excluded BIGINT NOT NULL,
    converted DOUBLE PRECISION NOT NULL,
    pre_converted DOUBLE PRECISION NOT NULL,
    converted_cross DOUBLE PRECISION NOT NULL,
    count_sum DOUBLE PRECISION NOT NULL,
    count_sum_sq DOUBLE PRECISION NOT NULL,
    pre_count_sum DOUBLE PRECISION NOT NULL,
    pre_count_sum_sq DOUBLE PRECISION NOT NULL,
    count_cross DOUBLE PRECISION NOT NULL,
    value_sum DOUBLE PRECISION NOT NULL,
    value_sum_sq DOUBLE PRECISION NOT NULL,
    pre_value_sum DOUBLE PRECISION NOT NULL,
    pre_value_sum_sq DOUBLE PRECISION NOT NULL,
    value_cross DOUBLE PRECISION NOT NULL,
    ratio_cross DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (project, env, experiment, phase, day, unit_kind, variation, metric, denominator)
);
";

/// A release stage's exposed contexts, tallied at intake (`events/release_tallies.rs`) instead of
/// recounted from `release_exposures` on every guard look: filled from the exposures stored so
/// far, and the per-stage index that only the recount read goes.
const RELEASE_TALLIES: &str = "
CREATE TABLE release_stage_contexts (
    project TEXT NOT NULL,
    env TEXT NOT NULL,
    flag TEXT NOT NULL,
    stage TEXT NOT NULL,
    cohort TEXT NOT NULL,
    contexts BIGINT NOT NULL,
    PRIMARY KEY (project, env, flag, stage, cohort)
);
CREATE TABLE release_stage_crossed (
    project TEXT NOT NULL,
    env TEXT NOT NULL,
    flag TEXT NOT NULL,
    stage TEXT NOT NULL,
    contexts BIGINT NOT NULL,
    PRIMARY KEY (project, env, flag, stage)
);
INSERT INTO release_stage_contexts (project, env, flag, stage, cohort, contexts)
    SELECT project, env, flag, stage, cohort, COUNT(*) FROM release_exposures
    GROUP BY project, env, flag, stage, cohort;
INSERT INTO release_stage_crossed (project, env, flag, stage, contexts)
    SELECT project, env, flag, stage, SUM(CASE WHEN cohorts > 1 THEN 1 ELSE 0 END)
    FROM (SELECT project, env, flag, stage, COUNT(*) AS cohorts FROM release_exposures
          GROUP BY project, env, context_kind, context_key, flag, stage) AS per_context
    GROUP BY project, env, flag, stage;
DROP INDEX release_exposures_by_stage;
";

/// The migrations both backends share, the same SQL on each; a backend's own come after them
/// (PostgreSQL: [`POSTGRES_AFTER_SHARED`]).
const SHARED: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: INITIAL,
    },
    Migration {
        version: 2,
        name: "events",
        sql: EVENTS,
    },
    Migration {
        version: 3,
        name: "releases",
        sql: RELEASES,
    },
    Migration {
        version: 4,
        name: "audit_signatures",
        sql: AUDIT_SIGNATURES,
    },
    Migration {
        version: 5,
        name: "event_batch_ids",
        sql: EVENT_BATCH_IDS,
    },
    Migration {
        version: 6,
        name: "release_histograms",
        sql: RELEASE_HISTOGRAMS,
    },
    Migration {
        version: 7,
        name: "webhook_outbox",
        sql: WEBHOOK_OUTBOX,
    },
    Migration {
        version: 8,
        name: "experiments",
        sql: EXPERIMENTS,
    },
    Migration {
        version: 9,
        name: "release_tallies",
        sql: RELEASE_TALLIES,
    },
    Migration {
        version: 10,
        name: "exposures_context_first",
        sql: EXPOSURES_CONTEXT_FIRST,
    },
];

/// SQLite's migrations after [`SHARED`] (it has no version 11).
const SQLITE_AFTER_SHARED: &[Migration] = &[Migration {
    version: 12,
    name: "context_key_first",
    sql: SQLITE_CONTEXT_KEY_FIRST,
}];

/// PostgreSQL's migrations after [`SHARED`].
const POSTGRES_AFTER_SHARED: &[Migration] = &[
    Migration {
        version: 11,
        name: "byte_order_keys",
        sql: POSTGRES_BYTE_ORDER_KEYS,
    },
    Migration {
        version: 12,
        name: "context_key_first",
        sql: POSTGRES_CONTEXT_KEY_FIRST,
    },
];

static SQLITE: LazyLock<Vec<Migration>> = LazyLock::new(|| after_shared(SQLITE_AFTER_SHARED));
static POSTGRES: LazyLock<Vec<Migration>> = LazyLock::new(|| after_shared(POSTGRES_AFTER_SHARED));

fn after_shared(own: &[Migration]) -> Vec<Migration> {
    SHARED.iter().chain(own).copied().collect()
}

pub fn for_backend(backend: Backend) -> &'static [Migration] {
    match backend {
        Backend::Sqlite => &SQLITE,
        Backend::Postgres => &POSTGRES,
    }
}

/// Applies every migration not yet recorded in `schema_migrations`, each in its own transaction.
/// Replicas starting together on one PostgreSQL database serialize on an advisory lock; on
/// SQLite each migration takes the write lock first and is skipped if another opener applied it.
pub(crate) async fn apply(pool: &AnyPool, backend: Backend) -> Result<()> {
    let mut conn = pool.acquire().await?;
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_lock(7411)")
            .execute(&mut *conn)
            .await?;
    }
    let result = apply_pending(&mut conn, backend).await;
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_unlock(7411)")
            .execute(&mut *conn)
            .await?;
    }
    result
}

async fn apply_pending(conn: &mut sqlx::AnyConnection, backend: Backend) -> Result<()> {
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS schema_migrations (\
         version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )
    .execute(&mut *conn)
    .await?;
    let applied: Vec<i64> = sqlx::query("SELECT version FROM schema_migrations")
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<Result<_, _>>()?;
    for migration in for_backend(backend) {
        if applied.contains(&migration.version) {
            continue;
        }
        let mut tx = match backend {
            // SQLite has no advisory lock: take the write lock before looking (waiting in the
            // busy handler for another opener's migration), then look again, so stores opening
            // one fresh file together apply each migration once.
            Backend::Sqlite => sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE").await?,
            Backend::Postgres => sqlx::Connection::begin(&mut *conn).await?,
        };
        let done: Option<i64> =
            sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
                .bind(migration.version)
                .fetch_optional(&mut *tx)
                .await?;
        if done.is_some() {
            continue;
        }
        sqlx::raw_sql(migration.sql).execute(&mut *tx).await?;
        sqlx::query(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
        )
        .bind(migration.version)
        .bind(migration.name)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
    }
    Ok(())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
