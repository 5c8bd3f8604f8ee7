//! Background work with an owner. Every long-running task of `serve` or `relay` (the delivery
//! follower, the release guard, the event writer, exposure pruning, webhook deliveries) is
//! spawned through the [`Tasks`] of that server, so the shutdown that stops the server also
//! stops and drains them: nothing runs "until the runtime stops".

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The tasks of one server. Clones share them.
#[derive(Debug, Clone, Default)]
pub struct Tasks {
    tracker: TaskTracker,
    stop: CancellationToken,
}

impl Tasks {
    /// Runs `task` in the background until it returns. A loop must also return once
    /// [`Tasks::stopping`] resolves.
    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        self.tracker.spawn(task);
    }

    /// Resolves when the owner stops: loops finish their turn (flushing what they hold) and
    /// return.
    pub fn stopping(&self) -> impl Future<Output = ()> + Send + 'static {
        self.stop.clone().cancelled_owned()
    }

    /// Tells every task to stop, then waits up to `deadline` for them to finish; returns how
    /// many were still running then (each is left to the runtime, and the caller logs them).
    pub async fn stop(&self, deadline: Duration) -> usize {
        self.stop.cancel();
        self.tracker.close();
        match tokio::time::timeout(deadline, self.tracker.wait()).await {
            Ok(()) => 0,
            Err(_) => self.tracker.len(),
        }
    }

    /// Tasks still running.
    pub fn running(&self) -> usize {
        self.tracker.len()
    }
}

/// Runs CPU-heavy `work` on a blocking thread while its caller waits for it (so the runtime's
/// threads stay free to poll other requests). Not background work: the caller awaits it, and a
/// drained request has finished it; it is here with every other spawn.
pub async fn on_a_blocking_thread<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, tokio::task::JoinError> {
    tokio::task::spawn_blocking(work).await
}
