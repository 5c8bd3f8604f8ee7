//! SQLite's one writer: the write turn every write transaction takes first (fair, FIFO), and the
//! group commit of event batches.
//!
//! With `synchronous=FULL` every commit waits for an fsync (~4 ms on the benchmark machine's
//! disk, a third of a 2,000-event batch's write), and batches queue for the one writer anyway.
//! So a batch that finds a group transaction open adds itself to it, in a savepoint of its own,
//! and the group is committed once for all of them: each batch, after writing, queues for the
//! turn again behind the batches that were waiting, which add theirs meanwhile; the first back
//! commits the group, and the others find it committed. A batch is answered only after the
//! commit that holds it, so it is exactly as durable as before, and still all or nothing (its
//! savepoint is rolled back if any part of it fails, and the group goes on without it).
//!
//! **Invariants:** no other write begins while a group is open: [`Writer::turn`] commits it
//! first. A group with a kept batch is committed even if every caller of it goes away
//! ([`CommitIfAbandoned`]), so its rows never wait for an unrelated later write.

use std::sync::Arc;

use sqlx::{Any, AnyPool, Transaction};
use tokio::sync::{Mutex, MutexGuard, watch};

use crate::{Result, StoreError};

/// Batches per group at most, so one commit's work (and the first batch's wait) stays bounded.
const MAX_BATCHES_PER_GROUP: usize = 32;

/// How a group ended, once it has: `Err` holds the commit's error, which every batch of the
/// group reports.
type Outcome = watch::Sender<Option<std::result::Result<(), String>>>;
type OutcomeReceiver = watch::Receiver<Option<std::result::Result<(), String>>>;

/// The open group of event batches: one transaction and the batches written into it.
pub(crate) struct OpenGroup {
    tx: Transaction<'static, Any>,
    batches: usize,
    /// A batch's write stopped inside its savepoint (its caller went away mid-write): the next
    /// writer commits the group without it before anything else.
    interrupted: bool,
    /// An empty savepoint is open for the next batch: the last batch's `RELEASE` opened it in
    /// the same call, so a batch joining the group starts writing without a round trip of its
    /// own to SQLite's thread (idle by then, and slow to wake: 0.4–0.8 ms against 0.07 for the
    /// call that follows other work).
    savepoint_waiting: bool,
    outcome: Outcome,
}

#[derive(Default)]
pub(crate) struct Writer {
    open: Mutex<Option<OpenGroup>>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Writer")
    }
}

/// What a batch's write in a group decided.
pub(crate) enum Step<T> {
    /// Keep what it wrote; answer `T` once the group is committed.
    Keep(T),
    /// It wrote nothing that must be kept (a duplicate): answer `T` now.
    Discard(T),
}

impl Writer {
    /// The write turn for a write of its own transaction: any open group is committed first.
    pub(crate) async fn turn(&self) -> MutexGuard<'_, Option<OpenGroup>> {
        let mut open = self.open.lock().await;
        commit_open(&mut open).await;
        open
    }

    /// A place for one event batch in the group transaction (opening one if none is open), in
    /// a savepoint of its own; the caller writes through [`GroupPlace::tx`] and then calls
    /// [`GroupPlace::finish`].
    pub(crate) async fn place(self: &Arc<Self>, pool: &AnyPool) -> Result<GroupPlace<'_>> {
        let mut open = self.open.lock().await;
        // Before the task the stopped batch queued (`Drop for GroupPlace`), if this comes first.
        commit_if_interrupted(&mut open).await;
        let group = match open.take() {
            Some(group) => group,
            None => OpenGroup {
                tx: pool.begin().await?,
                batches: 0,
                interrupted: false,
                savepoint_waiting: false,
                outcome: watch::Sender::new(None),
            },
        };
        let group = open.insert(group);
        if !group.savepoint_waiting {
            sqlx::query("SAVEPOINT batch")
                .execute(&mut *group.tx)
                .await?;
        }
        group.savepoint_waiting = false;
        group.interrupted = true;
        Ok(GroupPlace { writer: self, open })
    }
}

/// One batch's turn in the group (see [`Writer::place`]).
pub(crate) struct GroupPlace<'w> {
    writer: &'w Arc<Writer>,
    open: MutexGuard<'w, Option<OpenGroup>>,
}

impl GroupPlace<'_> {
    pub(crate) fn tx(&mut self) -> Result<&mut Transaction<'static, Any>> {
        match self.open.as_mut() {
            Some(group) => Ok(&mut group.tx),
            None => Err(group_failed("no group to write in")),
        }
    }

    /// Keeps or discards what the batch wrote, per `written`, and answers once what it kept is
    /// committed.
    pub(crate) async fn finish<T>(mut self, written: Result<Step<T>>) -> Result<T> {
        let Some(group) = self.open.as_mut() else {
            return Err(group_failed("no group to write in"));
        };
        let answer = match written {
            Ok(Step::Keep(answer)) => answer,
            Ok(Step::Discard(answer)) => {
                roll_back_savepoint(&mut group.tx).await?;
                group.interrupted = false;
                return Ok(answer);
            }
            Err(error) => {
                roll_back_savepoint(&mut group.tx).await?;
                group.interrupted = false;
                return Err(error);
            }
        };
        let full = group.batches + 1 >= MAX_BATCHES_PER_GROUP;
        let release = if full {
            "RELEASE batch"
        } else {
            "RELEASE batch; SAVEPOINT batch"
        };
        sqlx::query(release).execute(&mut *group.tx).await?;
        group.batches += 1;
        group.interrupted = false;
        group.savepoint_waiting = !full;
        let mut outcome = group.outcome.subscribe();
        if full {
            commit_open(&mut self.open).await;
        }
        let writer = self.writer;
        // Ends the turn (the batch is not interrupted: nothing to commit on dropping it).
        drop(self);
        // Behind the writers waiting now, who add their batches to the group meanwhile: the
        // first of the group back commits it.
        if outcome.borrow().is_none() {
            let abandoned = CommitIfAbandoned {
                writer: Some(writer.clone()),
                outcome: outcome.clone(),
            };
            commit_unless_settled(writer, &outcome).await;
            abandoned.disarm();
        }
        // A commit whose caller went away still runs to its end (`commit_open`): wait for it.
        let settled = outcome.wait_for(Option::is_some).await;
        match settled.as_deref() {
            Ok(Some(Ok(()))) => Ok(answer),
            Ok(Some(Err(message))) => Err(group_failed(message)),
            Ok(None) | Err(_) => Err(group_failed("the commit was interrupted")),
        }
    }
}

impl Drop for GroupPlace<'_> {
    /// A batch stopped mid-write (its caller went away, or its savepoint could not be rolled
    /// back): the group is committed without it as a task now, rather than by the next write,
    /// which may be long in coming while the group holds SQLite's write lock.
    fn drop(&mut self) {
        if !self.open.as_ref().is_some_and(|group| group.interrupted) {
            return;
        }
        let writer = self.writer.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime
                .spawn(async move { commit_if_interrupted(&mut *writer.open.lock().await).await });
        }
    }
}

/// A batch stopped mid-write: commits the group without it (`commit_open` rolls its savepoint
/// back, or ends the group if even that fails) rather than leave every later batch to retry a
/// rollback that may keep failing.
async fn commit_if_interrupted(open: &mut Option<OpenGroup>) {
    if open.as_ref().is_some_and(|group| group.interrupted) {
        commit_open(open).await;
    }
}

/// Commits the group of `outcome` when the write turn comes, unless it is committed by then.
async fn commit_unless_settled(writer: &Writer, outcome: &OutcomeReceiver) {
    let mut open = writer.open.lock().await;
    // Another batch of the group may have committed it while this one queued: a group opened
    // since is left to fill (committing it here made groups of one or two).
    if outcome.borrow().is_none() {
        commit_open(&mut open).await;
    }
}

/// Held by a batch while it queues to commit its group: if its caller goes away meanwhile,
/// the commit is queued as a task instead, since the group's other callers may all have gone
/// too, and then nobody would commit it (its rows unseen and SQLite's write lock held until an
/// unrelated write).
struct CommitIfAbandoned {
    writer: Option<Arc<Writer>>,
    outcome: OutcomeReceiver,
}

impl CommitIfAbandoned {
    fn disarm(mut self) {
        self.writer = None;
    }
}

impl Drop for CommitIfAbandoned {
    fn drop(&mut self) {
        let Some(writer) = self.writer.take() else {
            return;
        };
        let outcome = self.outcome.clone();
        // Without a runtime (it is stopping) the connection goes too, and the group with it.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { commit_unless_settled(&writer, &outcome).await });
        }
    }
}

/// Commits the open group, if any, and records how that went for its batches.
async fn commit_open(open: &mut Option<OpenGroup>) {
    let Some(mut group) = open.take() else {
        return;
    };
    // A task of its own, awaited here: a caller that went away mid-commit would otherwise cancel
    // the commit, and every batch of the group would fail with it. (That caller's turn then ends
    // before the commit does; a writer that begins meanwhile waits in SQLite's busy handler.) If
    // the task itself is lost (the runtime stops), the outcome's sender goes with it and the
    // batches report that.
    let commit = tokio::spawn(async move {
        let committed = async {
            if group.interrupted {
                roll_back_savepoint(&mut group.tx).await?;
            }
            group.tx.commit().await?;
            Ok::<(), StoreError>(())
        }
        .await;
        group
            .outcome
            .send_replace(Some(committed.map_err(|error| error.to_string())));
    });
    let _ = commit.await;
}

async fn roll_back_savepoint(tx: &mut Transaction<'static, Any>) -> Result<()> {
    sqlx::query("ROLLBACK TO batch").execute(&mut **tx).await?;
    sqlx::query("RELEASE batch").execute(&mut **tx).await?;
    Ok(())
}

fn group_failed(message: &str) -> StoreError {
    StoreError::Database(sqlx::Error::Protocol(format!(
        "committing the batch with others failed: {message}"
    )))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::Store;

    /// A SQLite store in a directory of its own, with an empty table `kept (n)`.
    async fn store_with_table(test: &str) -> (Store, std::path::PathBuf) {
        let name = format!("switchyard-writer-{test}-{}", std::process::id());
        let dir = std::env::temp_dir().join(name);
        // A directory left by an earlier run of the same process id.
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("store.db").display());
        let store = Store::open(&url).await.unwrap();
        sqlx::query("CREATE TABLE kept (n INTEGER)")
            .execute(&store.pool)
            .await
            .unwrap();
        (store, dir)
    }

    /// Waits until the writer holds no open group, failing after 10 s.
    async fn no_group_left_open(writer: &Writer) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while writer.open.lock().await.is_some() {
            assert!(Instant::now() < deadline, "the group was left open");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn write_a_row(place: &mut GroupPlace<'_>) {
        let insert = sqlx::query("INSERT INTO kept VALUES (1)");
        insert.execute(&mut **place.tx().unwrap()).await.unwrap();
    }

    async fn rows_kept(store: &Store) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM kept")
            .fetch_one(&store.pool)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_group_is_committed_when_every_caller_of_it_went_away() {
        let (store, dir) = store_with_table("abandoned").await;
        let writer = store.sqlite_writer.clone();
        let mut place = writer.place(&store.group_pool).await.unwrap();
        write_a_row(&mut place).await;

        // Another turn is queued behind the batch, so after writing, the batch waits for it
        // before it can commit; its caller goes away while it waits.
        let (taken, mut has_turn) = watch::channel(false);
        let (give_back, given_back) = tokio::sync::oneshot::channel::<()>();
        let other = tokio::spawn({
            let writer = writer.clone();
            async move {
                let _turn = writer.open.lock().await;
                taken.send_replace(true);
                let _ = given_back.await;
            }
        });
        tokio::task::yield_now().await;
        let finish = place.finish(Ok(Step::Keep(())));
        let waited = tokio::time::timeout(Duration::from_millis(300), finish).await;
        assert!(waited.is_err(), "the batch waits behind the other turn");
        has_turn.wait_for(|taken| *taken).await.unwrap();
        give_back.send(()).unwrap();
        other.await.unwrap();

        // No caller is left and nothing else writes: the row is committed all the same.
        no_group_left_open(&writer).await;
        assert_eq!(rows_kept(&store).await, 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_batch_stopped_mid_write_leaves_no_group_open() {
        let (store, dir) = store_with_table("stopped").await;
        let writer = store.sqlite_writer.clone();
        let mut place = writer.place(&store.group_pool).await.unwrap();
        write_a_row(&mut place).await;
        // Its caller goes away inside the batch's savepoint.
        drop(place);
        no_group_left_open(&writer).await;
        assert_eq!(
            rows_kept(&store).await,
            0,
            "the stopped batch is wholly gone"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
