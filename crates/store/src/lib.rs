//! The system of record. One storage interface ([`Store`]) over two real backends, an embedded
//! SQLite file (WAL, `synchronous=FULL`) and PostgreSQL, reached through sqlx's `Any` driver so
//! the query code is written once; the backends differ only in connection setup and in their
//! versioned migrations ([`migrations`]).
//!
//! Everything mutable is a [`Document`]: a JSON body addressed by `(kind, scope, key)` with a
//! version that every write must expect ([`Expected`]). A [`Store::commit`] applies a batch of
//! writes and appends one hash-chained [`AuditRecord`] in the same transaction, so a change and its
//! audit record exist together or not at all.
//!
//! What this crate must never do: know about HTTP, authorization or the flag model. It stores
//! JSON; the server decides what the JSON means.

mod audit;
mod audit_key;
pub mod changes;
pub mod events;
mod files;
pub mod migrations;
mod stats;
pub mod webhook_outbox;
mod writer;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::AnyPool;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};

pub use audit::{
    AuditRecord, AuditRow, AuditSearch, ChainHead, ChainLink, ChainReport, ExportVerifier,
    GENESIS_HASH, SignedHead,
};
pub use audit_key::{AuditPublicKey, AuditSigner, SIGNATURE_CONTEXT};
pub use changes::{ChangeNote, StoreEvent, Touched};
pub use files::{create_private_dir, restrict_file};
pub use stats::{ERROR_KINDS, LATENCY_BUCKETS, OpFigures, StoreOp, StoreStats};

use changes::Announcer;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A write expected a version (or absence) the document no longer has.
    #[error("{kind} {key:?} is at version {current:?}, not the expected {expected:?}")]
    Conflict {
        kind: String,
        key: String,
        expected: Expected,
        /// `None` when the document does not exist.
        current: Option<i64>,
    },
    #[error("unsupported database URL {0:?} (use sqlite://PATH or postgres://…)")]
    UnsupportedUrl(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A stored JSON document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Document {
    pub kind: String,
    pub scope: String,
    pub key: String,
    /// 1 on creation, +1 on every update.
    pub version: i64,
    /// The audit sequence number of the change that last wrote it.
    pub revision: i64,
    pub updated_at_ms: i64,
    pub body: Value,
}

/// What a write expects to find; a mismatch fails the whole commit with [`StoreError::Conflict`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Expected {
    Absent,
    Version(i64),
    /// No precondition (last writer wins). For internal bookkeeping only, never for user edits.
    Any,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    Put {
        kind: String,
        scope: String,
        key: String,
        body: Value,
        expected: Expected,
    },
    Delete {
        kind: String,
        scope: String,
        key: String,
        expected: Expected,
    },
}

/// What a successful commit did.
#[derive(Debug, Clone, PartialEq)]
pub struct Committed {
    /// The audit record's sequence number, also every written document's `revision`.
    pub seq: i64,
    /// The new version of each `Put`, in order (deletes report 0).
    pub versions: Vec<i64>,
}

/// The pool's settings but its size: on SQLite, each connection set to [`SQLITE_PRAGMAS`].
fn pool_options(backend: Backend) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .acquire_timeout(Duration::from_secs(10))
        // A SQLite connection is a file opened in this process: nothing to test, and the
        // test is a round trip to its thread each time a group of event batches begins.
        .test_before_acquire(backend == Backend::Postgres)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if backend == Backend::Sqlite {
                    for pragma in SQLITE_PRAGMAS {
                        sqlx::Executor::execute(&mut *conn, *pragma).await?;
                    }
                }
                Ok(())
            })
        })
}

/// WAL lets readers run beside the one writer; `synchronous=FULL` makes every commit durable
/// before it is acknowledged, including across power loss.
const SQLITE_PRAGMAS: &[&str] = &[
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA busy_timeout=10000",
];

#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    /// Where event batches are written: on SQLite a pool of its own, of one connection (see
    /// [`Store::open`]); on PostgreSQL `pool`.
    group_pool: AnyPool,
    backend: Backend,
    announcer: Arc<Announcer>,
    /// SQLite has one writer at a time, and writers waiting in its busy handler are not served
    /// in order: under a stream of event batches one could wait for seconds. Write
    /// transactions on SQLite queue here first instead (fair, FIFO); event batches are
    /// committed in groups (`writer.rs`).
    sqlite_writer: Arc<writer::Writer>,
    /// Signs new audit records; without it they are hashed but not signed.
    audit_signer: Option<Arc<AuditSigner>>,
    /// Latency and errors per operation (`stats.rs`).
    stats: Arc<StoreStats>,
    /// Units stored per experiment phase (`events/experiments.rs`).
    experiment_unit_cap: u64,
}

impl Store {
    /// Connects to `sqlite://PATH` (created if missing) or `postgres://…`, and applies pending
    /// migrations.
    pub async fn open(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_owned()));
        };
        let url = match backend {
            Backend::Sqlite if !url.contains('?') => format!("{url}?mode=rwc"),
            _ => url.to_owned(),
        };
        if backend == Backend::Sqlite {
            files::restrict_sqlite_files(&url, url.contains("mode=rwc"))
                .map_err(sqlx::Error::Io)?;
        }
        let options = AnyConnectOptions::from_str(&url)?;
        let pool = pool_options(backend)
            .max_connections(match backend {
                Backend::Sqlite => 4,
                Backend::Postgres => 16,
            })
            .connect_with(options.clone())
            .await?;
        // SQLite empties a connection's page cache whenever another connection wrote since
        // (WAL): with groups taking the pool's four connections in turn, each group began by
        // reading the tables' upper pages again. The group writer keeps one connection.
        let group_pool = match backend {
            Backend::Sqlite => {
                pool_options(backend)
                    .max_connections(1)
                    .connect_with(options)
                    .await?
            }
            Backend::Postgres => pool.clone(),
        };
        let store = Store {
            pool,
            group_pool,
            backend,
            announcer: Arc::new(Announcer::new()),
            sqlite_writer: Arc::default(),
            audit_signer: None,
            stats: Arc::default(),
            experiment_unit_cap: events::experiments::MAX_UNITS_PER_EXPERIMENT,
        };
        migrations::apply(&store.pool, backend).await?;
        if backend == Backend::Postgres {
            store.announcer.listen_to_postgres(&url)?;
        }
        Ok(store)
    }

    /// Signs every audit record this store writes from now on with `signer`, and checks
    /// signatures with its public key in [`Store::verify_audit_chain`].
    pub fn with_audit_signer(mut self, signer: AuditSigner) -> Store {
        self.audit_signer = Some(Arc::new(signer));
        self
    }

    /// The public key of the configured audit signer.
    pub fn audit_public_key(&self) -> Option<AuditPublicKey> {
        self.audit_signer.as_ref().map(|signer| signer.public_key())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Waits for this process's turn to write (SQLite only; PostgreSQL takes row locks).
    async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, Option<writer::OpenGroup>>> {
        match self.backend {
            Backend::Sqlite => Some(self.sqlite_writer.turn().await),
            Backend::Postgres => None,
        }
    }

    /// Whether the database answers and every migration this build knows is applied.
    pub async fn ready(&self) -> Result<bool> {
        let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM schema_migrations")
            .fetch_one(&self.pool)
            .await?;
        Ok(applied as usize == migrations::for_backend(self.backend).len())
    }

    pub async fn get(&self, kind: &str, scope: &str, key: &str) -> Result<Option<Document>> {
        self.timed(StoreOp::Get, self.get_untimed(kind, scope, key))
            .await
    }

    async fn get_untimed(&self, kind: &str, scope: &str, key: &str) -> Result<Option<Document>> {
        let row = sqlx::query_as(
            "SELECT kind, scope, key, version, revision, updated_at, body FROM documents \
             WHERE kind = $1 AND scope = $2 AND key = $3",
        )
        .bind(kind)
        .bind(scope)
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        row.map(Document::from_columns).transpose()
    }

    /// Every document of `kind` in `scope`, ordered by key.
    pub async fn list(&self, kind: &str, scope: &str) -> Result<Vec<Document>> {
        self.timed(StoreOp::List, self.list_untimed(kind, scope))
            .await
    }

    async fn list_untimed(&self, kind: &str, scope: &str) -> Result<Vec<Document>> {
        let rows = sqlx::query_as(
            "SELECT kind, scope, key, version, revision, updated_at, body FROM documents \
             WHERE kind = $1 AND scope = $2 ORDER BY key",
        )
        .bind(kind)
        .bind(scope)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(Document::from_columns).collect()
    }

    /// Every document of `kind` whose key is `key`, in any scope (for lookups by a unique id).
    pub async fn find_by_key(&self, kind: &str, key: &str) -> Result<Option<Document>> {
        self.timed(StoreOp::FindByKey, self.find_by_key_untimed(kind, key))
            .await
    }

    async fn find_by_key_untimed(&self, kind: &str, key: &str) -> Result<Option<Document>> {
        let row = sqlx::query_as(
            "SELECT kind, scope, key, version, revision, updated_at, body FROM documents \
             WHERE kind = $1 AND key = $2 ORDER BY scope LIMIT 1",
        )
        .bind(kind)
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        row.map(Document::from_columns).transpose()
    }

    /// Applies `writes` and appends `audit` atomically: all of it is committed (and durable)
    /// before this returns `Ok`, or none of it is.
    pub async fn commit(&self, writes: &[Write], audit: &AuditRecord) -> Result<Committed> {
        self.timed(StoreOp::Commit, self.commit_untimed(writes, audit))
            .await
    }

    async fn commit_untimed(&self, writes: &[Write], audit: &AuditRecord) -> Result<Committed> {
        let _turn = self.write_turn().await;
        let mut tx = self.pool.begin().await?;
        // Taking the chain head first serializes writers (a row lock on PostgreSQL, the write
        // lock on SQLite, taken before any read so two writers can never deadlock) and gives
        // this change its sequence number.
        let (seq, prev_hash, signed_from): (i64, String, i64) = sqlx::query_as(
            "UPDATE chain_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash, signed_from",
        )
        .fetch_one(&mut *tx)
        .await?;
        let mut versions = Vec::with_capacity(writes.len());
        for write in writes {
            versions.push(apply_write(&mut tx, write, seq, audit.at_ms).await?);
        }
        audit::append(
            &mut tx,
            (seq, &prev_hash, signed_from),
            audit,
            self.audit_signer.as_deref(),
        )
        .await?;
        let note = ChangeNote::of(seq, writes);
        if self.backend == Backend::Postgres {
            // Delivered to every listening replica when (and only if) the transaction commits.
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(changes::CHANNEL)
                .bind(note.payload())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.announcer
            .announce(StoreEvent::Committed(Arc::new(note)));
        Ok(Committed { seq, versions })
    }

    /// Audit records, newest first: those with `seq < before` (all when `None`), optionally only
    /// those whose resource starts with `resource_prefix`.
    pub async fn audit_page(
        &self,
        before: Option<i64>,
        resource_prefix: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AuditRow>> {
        let rows = sqlx::query_as(
            "SELECT seq, at, record, prev_hash, hash, signature FROM audit_log \
             WHERE seq < $1 AND substr(resource, 1, CAST($2 AS INTEGER)) = $3 ORDER BY seq DESC LIMIT $4",
        )
        .bind(before.unwrap_or(i64::MAX))
        .bind(resource_prefix.map_or(0, |p| p.chars().count() as i64))
        .bind(resource_prefix.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(AuditRow::from_columns).collect())
    }

    /// Recomputes the whole chain and reports the first broken link, checking signatures with
    /// the configured signer's public key (only hashes without one).
    pub async fn verify_audit_chain(&self) -> Result<ChainReport> {
        audit::verify_chain(&self.pool, self.audit_public_key()).await
    }

    /// [`Store::verify_audit_chain`] with signatures checked against `key` (only hashes when
    /// `None`), as a verifier that holds only the public key does.
    pub async fn verify_audit_chain_with(
        &self,
        key: Option<AuditPublicKey>,
    ) -> Result<ChainReport> {
        audit::verify_chain(&self.pool, key).await
    }

    /// Announcements of committed changes, this replica's and (on PostgreSQL) every other's.
    pub fn changes(&self) -> tokio::sync::broadcast::Receiver<StoreEvent> {
        self.announcer.subscribe()
    }

    /// The highest audit sequence number (the store's revision).
    pub async fn revision(&self) -> Result<i64> {
        self.timed(StoreOp::Revision, self.revision_untimed()).await
    }

    async fn revision_untimed(&self) -> Result<i64> {
        let seq = sqlx::query_scalar("SELECT seq FROM chain_head WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok(seq)
    }

    /// The pool, for tests that need to tamper with rows behind the store's back.
    #[doc(hidden)]
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await;
        self.group_pool.close().await;
    }
}

async fn apply_write(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    write: &Write,
    seq: i64,
    at_ms: i64,
) -> Result<i64> {
    let (kind, scope, key, expected) = match write {
        Write::Put {
            kind,
            scope,
            key,
            expected,
            ..
        }
        | Write::Delete {
            kind,
            scope,
            key,
            expected,
        } => (kind, scope, key, *expected),
    };
    let current: Option<i64> = sqlx::query_scalar(
        "SELECT version FROM documents WHERE kind = $1 AND scope = $2 AND key = $3",
    )
    .bind(kind)
    .bind(scope)
    .bind(key)
    .fetch_optional(&mut **tx)
    .await?;
    let matches = match expected {
        Expected::Any => true,
        Expected::Absent => current.is_none(),
        Expected::Version(v) => current == Some(v),
    };
    if !matches {
        return Err(StoreError::Conflict {
            kind: kind.clone(),
            key: key.clone(),
            expected,
            current,
        });
    }
    match write {
        Write::Put { body, .. } => {
            let body = body.to_string();
            let version = current.unwrap_or(0) + 1;
            let query = if current.is_some() {
                "UPDATE documents SET version = $4, revision = $5, updated_at = $6, body = $7 \
                 WHERE kind = $1 AND scope = $2 AND key = $3"
            } else {
                "INSERT INTO documents (kind, scope, key, version, revision, updated_at, body) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)"
            };
            sqlx::query(query)
                .bind(kind)
                .bind(scope)
                .bind(key)
                .bind(version)
                .bind(seq)
                .bind(at_ms)
                .bind(body)
                .execute(&mut **tx)
                .await?;
            Ok(version)
        }
        Write::Delete { .. } => {
            sqlx::query("DELETE FROM documents WHERE kind = $1 AND scope = $2 AND key = $3")
                .bind(kind)
                .bind(scope)
                .bind(key)
                .execute(&mut **tx)
                .await?;
            Ok(0)
        }
    }
}

/// The columns a [`Document`] is read from: `kind, scope, key, version, revision, updated_at,
/// body`.
type DocumentColumns = (String, String, String, i64, i64, i64, String);

impl Document {
    fn from_columns(
        (kind, scope, key, version, revision, updated_at_ms, body): DocumentColumns,
    ) -> Result<Self> {
        Ok(Document {
            kind,
            scope,
            key,
            version,
            revision,
            updated_at_ms,
            body: serde_json::from_str(&body).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        })
    }
}
