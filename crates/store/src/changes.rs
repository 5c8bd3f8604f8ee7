//! Change notifications. After every commit the store announces which documents it touched, in
//! this process (a broadcast channel) and, on PostgreSQL, to every other replica through
//! `LISTEN/NOTIFY` on [`CHANNEL`]. A subscriber that may have missed announcements (a replica's
//! listening connection dropped, a slow subscriber lagged) receives [`StoreEvent::Resync`] and
//! must re-read what it caches.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio::sync::{broadcast, watch};

use crate::Write;

/// The PostgreSQL notification channel.
pub const CHANNEL: &str = "switchyard_changes";

/// The `application_name` of a replica's listening connection (tests terminate it on purpose).
pub const LISTENER_APPLICATION_NAME: &str = "switchyard-listener";

/// PostgreSQL refuses notification payloads of 8000 bytes or more; a larger change is announced
/// without its list of touched documents, which subscribers read as "anything may have changed".
const MAX_PAYLOAD: usize = 7000;

/// One document a commit wrote or deleted.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Touched {
    pub kind: String,
    pub scope: String,
    pub key: String,
}

/// A committed change: its audit sequence number and what it touched (`None`: unknown, treat
/// everything as touched).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeNote {
    pub seq: i64,
    pub touched: Option<Vec<Touched>>,
}

impl ChangeNote {
    pub(crate) fn of(seq: i64, writes: &[Write]) -> ChangeNote {
        let mut touched: Vec<Touched> = Vec::with_capacity(writes.len());
        for write in writes {
            let (Write::Put {
                kind, scope, key, ..
            }
            | Write::Delete {
                kind, scope, key, ..
            }) = write;
            let item = Touched {
                kind: kind.clone(),
                scope: scope.clone(),
                key: key.clone(),
            };
            if !touched.contains(&item) {
                touched.push(item);
            }
        }
        ChangeNote {
            seq,
            touched: Some(touched),
        }
    }

    /// The NOTIFY payload: the note as JSON, or without its list when that would be too long.
    pub(crate) fn payload(&self) -> String {
        let full = serde_json::to_string(self).unwrap_or_default();
        if full.len() < MAX_PAYLOAD {
            return full;
        }
        serde_json::json!({ "seq": self.seq, "touched": null }).to_string()
    }

    /// Whether a document of `kind` in `scope` may have changed.
    pub fn touches(&self, predicate: impl Fn(&Touched) -> bool) -> bool {
        self.touched
            .as_ref()
            .is_none_or(|touched| touched.iter().any(predicate))
    }
}

/// What subscribers of [`crate::Store::changes`] receive.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreEvent {
    Committed(Arc<ChangeNote>),
    /// Announcements may have been missed: re-read everything cached.
    Resync,
}

/// The sending half, shared by every clone of a store.
#[derive(Debug)]
pub(crate) struct Announcer {
    sender: broadcast::Sender<StoreEvent>,
    /// Dropped with the last store clone, which stops the PostgreSQL listener task.
    _alive: watch::Sender<()>,
    alive: watch::Receiver<()>,
}

impl Announcer {
    pub(crate) fn new() -> Announcer {
        let (sender, _) = broadcast::channel(1024);
        let (alive_tx, alive) = watch::channel(());
        Announcer {
            sender,
            _alive: alive_tx,
            alive,
        }
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<StoreEvent> {
        self.sender.subscribe()
    }

    pub(crate) fn announce(&self, event: StoreEvent) {
        // No subscribers is fine: nobody caches anything yet.
        let _ = self.sender.send(event);
    }

    /// Follows other replicas' commits on PostgreSQL until the store is dropped.
    pub(crate) fn listen_to_postgres(&self, url: &str) -> Result<(), sqlx::Error> {
        let options = PgConnectOptions::from_str(url)?.application_name(LISTENER_APPLICATION_NAME);
        let sender = self.sender.clone();
        let mut alive = self.alive.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = follow(options, sender) => {}
                _ = alive.changed() => {}
            }
        });
        Ok(())
    }
}

async fn follow(options: PgConnectOptions, sender: broadcast::Sender<StoreEvent>) {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy_with(options);
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(listener) => listener,
            Err(error) => {
                tracing::warn!(%error, "change listener cannot connect; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(error) = listener.listen(CHANNEL).await {
            tracing::warn!(%error, "LISTEN failed; retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        // Whatever was committed while nobody listened (startup, a dropped connection) is only
        // visible by re-reading.
        let _ = sender.send(StoreEvent::Resync);
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => {
                    let event = match serde_json::from_str::<ChangeNote>(notification.payload()) {
                        Ok(note) => StoreEvent::Committed(Arc::new(note)),
                        Err(_) => StoreEvent::Resync,
                    };
                    let _ = sender.send(event);
                }
                // The connection was lost and notifications sent meanwhile are gone: listen
                // afresh, then resync.
                Ok(None) => break,
                Err(error) => {
                    tracing::warn!(%error, "change listener failed; reconnecting");
                    break;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
