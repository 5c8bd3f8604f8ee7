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
//! **Invariant:** no other write begins while a group is open: [`Writer::turn`] commits it first.

use sqlx::{Any, AnyPool, Transaction};
use tokio::sync::{Mutex, MutexGuard, watch};

use crate::{Result, StoreError};

/// Batches per group at most, so one commit's work (and the first batch's wait) stays bounded.
const MAX_BATCHES_PER_GROUP: usize = 32;

/// How a group ended, once it has: `Err` holds the commit's error, which every batch of the
/// group reports.
type Outcome = watch::Sender<Option<std::result::Result<(), String>>>;

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
    pub(crate) async fn place(&self, pool: &AnyPool) -> Result<GroupPlace<'_>> {
        let mut open = self.open.lock().await;
        // A batch stopped mid-write: commit the group without it now (`commit_open` rolls its
        // savepoint back, or ends the group if even that fails) rather than leave every later
        // batch to retry a rollback that may keep failing.
        if open.as_ref().is_some_and(|group| group.interrupted) {
            commit_open(&mut open).await;
        }
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
    writer: &'w Writer,
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
        drop(self.open);
        // Behind the writers waiting now, who add their batches to the group meanwhile: the
        // first of the group back commits it.
        if outcome.borrow().is_none() {
            let mut open = self.writer.open.lock().await;
            // Another batch of the group may have committed it while this one queued: a group
            // opened since is left to fill (committing it here made groups of one or two).
            if outcome.borrow().is_none() {
                commit_open(&mut open).await;
            }
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
