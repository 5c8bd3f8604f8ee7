//! The webhook outbox (`docs/webhooks.md`): every change a subscription's filter matches is
//! delivered to it once, in order, from the audit log, across restarts and replicas.
//!
//! The audit log is the outbox. Every change writes one audit record in its own transaction, so
//! there is nothing more to write per change; each subscription keeps its place in the log (the
//! last sequence number delivered or passed over) in the store. One [`run_outbox`] task per
//! replica looks for subscriptions with records after their place, and for each: takes a lease
//! on it by compare-and-set (so two replicas never send one delivery at once), sends the next
//! matching record signed with the subscription's secret, then moves its place on (or counts
//! the failure, and waits a backoff from `first_retry` doubling to `max_retry` before the next
//! attempt). A subscription's deliveries go out in log order, one at a time; a failing one holds
//! back the later ones (and costs no storage: they are in the log already).
//!
//! A replica that dies between a receiver's answer and moving the place on sends that delivery
//! again when its lease runs out: delivery is at least once, with an id that is the same on
//! every attempt (`X-Switchyard-Delivery`) so a receiver makes it exactly once by dropping ids
//! it has seen.

mod message;

use std::future::Future;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use switchyard_store::webhook_outbox::{DeliveryAttempt, OutboxState, Settlement};
use switchyard_store::{AuditRecord, AuditRow, Store, StoreError};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use crate::access::random_hex;
use crate::clock::now_ms;
use crate::records::{GLOBAL, ProjectRecord, Record};
use crate::releases::webhooks::{Attempted, OutboxConfig, Outgoing, Webhook, Webhooks};

pub use message::{delivery_id, delivery_seq, matches};

/// Audit records read per look at a subscription's backlog.
const PAGE: i64 = 200;
/// Deliveries one subscription may make in one pass, and how long it may start new ones, before
/// the pass ends (a pass waits for every subscription's turn, so one slow receiver delays the
/// others' next turn by at most this plus one request).
const DELIVERIES_PER_PASS: usize = 100;
const TURN: Duration = Duration::from_secs(1);
/// How long a send in flight at shutdown may still take before it is abandoned.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// A change subscription as the outbox sees it.
#[derive(Debug, Clone)]
struct Subscription {
    project: String,
    hook: Webhook,
    /// The audit sequence number of the subscription's creation: it gets what follows.
    created_seq: i64,
}

/// Runs this replica's outbox until `stopping` resolves: a pass at start, then whenever a
/// change is committed (here or, on PostgreSQL, on another replica) or the poll interval
/// passes. At the stop, the pass in progress finishes what it has begun; a send in flight gets
/// [`STOP_GRACE`] to be answered, then is abandoned with its lease given back (it is sent again,
/// with its id, by the next replica to look), so a restart or another replica goes on at once.
pub async fn run_outbox(
    store: Store,
    webhooks: Webhooks,
    stopping: impl Future<Output = ()> + Send + 'static,
) {
    let replica = random_hex(8);
    let stop = CancellationToken::new();
    let mut changes = store.changes();
    let mut announcements_open = true;
    tokio::pin!(stopping);
    loop {
        let config = webhooks.outbox_config();
        let pass = run_pass(&store, &webhooks, &replica, &config, &stop);
        tokio::pin!(pass);
        tokio::select! {
            () = &mut pass => {}
            () = &mut stopping => {
                stop.cancel();
                pass.await;
                return;
            }
        }
        tokio::select! {
            () = &mut stopping => return,
            () = tokio::time::sleep(config.poll) => {}
            received = changes.recv(), if announcements_open => {
                announcements_open = !matches!(received, Err(RecvError::Closed));
            }
        }
    }
}

/// One look at every change subscription, each followed on its own.
async fn run_pass(
    store: &Store,
    webhooks: &Webhooks,
    replica: &str,
    config: &OutboxConfig,
    stop: &CancellationToken,
) {
    let subscriptions = match subscriptions(store).await {
        Ok(subscriptions) => subscriptions,
        Err(error) => {
            tracing::warn!(%error, "could not read webhook subscriptions");
            return;
        }
    };
    let follows = subscriptions.iter().map(|subscription| async move {
        let follower = Follower {
            store,
            webhooks,
            replica,
            config,
            stop,
            subscription,
        };
        if let Err(error) = follower.follow().await {
            tracing::warn!(project = %subscription.project, webhook = %subscription.hook.id,
                %error, "webhook outbox pass failed");
        }
    });
    join_all(follows).await;
}

/// Every change subscription of every project.
async fn subscriptions(store: &Store) -> Result<Vec<Subscription>, StoreError> {
    let mut found = Vec::new();
    for project in store.list(ProjectRecord::KIND, GLOBAL).await? {
        for doc in store.list(Webhook::KIND, &project.key).await? {
            let Ok(hook) = serde_json::from_value::<Webhook>(doc.body) else {
                continue;
            };
            if hook.follows_changes() {
                found.push(Subscription {
                    project: project.key.clone(),
                    hook,
                    created_seq: doc.revision,
                });
            }
        }
    }
    Ok(found)
}

/// One subscription's turn in a pass.
struct Follower<'a> {
    store: &'a Store,
    webhooks: &'a Webhooks,
    replica: &'a str,
    config: &'a OutboxConfig,
    stop: &'a CancellationToken,
    subscription: &'a Subscription,
}

impl Follower<'_> {
    /// Delivers what is due, in order, until caught up, failing, or another replica holds it.
    async fn follow(&self) -> Result<(), StoreError> {
        let Subscription { project, hook, .. } = self.subscription;
        let started = Instant::now();
        for _ in 0..DELIVERIES_PER_PASS {
            if self.stop.is_cancelled() || started.elapsed() > TURN {
                return Ok(());
            }
            let state = self.state().await?;
            let now = now_ms();
            let leased_elsewhere = !state.lease_owner.is_empty() && state.lease_until_ms > now;
            let due = state.last_attempt_at_ms + millis(self.config.backoff(state.attempts));
            if leased_elsewhere || now < due {
                return Ok(());
            }
            let rows = self
                .store
                .outbox_records_after(state.delivered_seq, PAGE)
                .await?;
            let Some(last) = rows.last().map(|row| row.seq) else {
                return Ok(());
            };
            let next = rows.into_iter().find_map(|row| {
                let record = row.parsed().ok()?;
                matches(hook, project, &record).then_some((row, record))
            });
            let lease_until = now + millis(self.config.lease);
            let Some(version) = self
                .store
                .outbox_claim(project, &hook.id, state.version, self.replica, lease_until)
                .await?
            else {
                return Ok(()); // Another replica moved first.
            };
            let settlement = match next {
                // Nothing in this page is for the subscription: pass over it.
                None => Settlement {
                    delivered_seq: last,
                    attempts: 0,
                    last_attempt_at_ms: state.last_attempt_at_ms,
                    last_error: None,
                },
                Some((row, record)) => {
                    let attempt = self.attempt(&row, &record);
                    tokio::pin!(attempt);
                    let attempted = tokio::select! {
                        attempted = &mut attempt => attempted,
                        () = self.stop.cancelled() => {
                            // An answer that comes within the grace is recorded as usual (a
                            // receiver that said 2xx is not sent the delivery again).
                            match tokio::time::timeout(STOP_GRACE, attempt).await {
                                Ok(attempted) => attempted,
                                Err(_) => {
                                    self.store.outbox_release(project, &hook.id, version).await?;
                                    return Ok(());
                                }
                            }
                        }
                    };
                    if attempted.succeeded() {
                        Settlement {
                            delivered_seq: row.seq,
                            attempts: 0,
                            last_attempt_at_ms: now_ms(),
                            last_error: None,
                        }
                    } else {
                        Settlement {
                            // The records before it were passed over.
                            delivered_seq: state.delivered_seq.max(row.seq - 1),
                            attempts: state.attempts + 1,
                            last_attempt_at_ms: now_ms(),
                            last_error: attempted.error,
                        }
                    }
                }
            };
            let failed = settlement.attempts > 0;
            let settled = self
                .store
                .outbox_settle(project, &hook.id, version, &settlement)
                .await?;
            if !settled {
                tracing::warn!(%project, webhook = %hook.id, "webhook lease lost before the delivery was recorded; it will be sent again");
                return Ok(());
            }
            if failed {
                return Ok(());
            }
        }
        Ok(())
    }

    /// The subscription's place in the log, given one after its creation if it has none.
    async fn state(&self) -> Result<OutboxState, StoreError> {
        let Subscription {
            project,
            hook,
            created_seq,
        } = self.subscription;
        if let Some(state) = self.store.outbox_state(project, &hook.id).await? {
            return Ok(state);
        }
        self.store
            .outbox_open(project, &hook.id, *created_seq)
            .await?;
        self.store
            .outbox_state(project, &hook.id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("webhook outbox row vanished".into()))
    }

    async fn attempt(&self, row: &AuditRow, record: &AuditRecord) -> Attempted {
        let Subscription { project, hook, .. } = self.subscription;
        let target = (project.as_str(), hook);
        let (attempted, _) = deliver(
            self.store,
            self.webhooks,
            self.config,
            target,
            (row, record),
            false,
        )
        .await;
        attempted
    }
}

/// Sends one record to one subscription and writes the attempt to its delivery log.
async fn deliver(
    store: &Store,
    webhooks: &Webhooks,
    config: &OutboxConfig,
    (project, hook): (&str, &Webhook),
    (row, record): (&AuditRow, &AuditRecord),
    redelivery: bool,
) -> (Attempted, DeliveryAttempt) {
    let delivery = delivery_id(&hook.id, row.seq);
    let attempted = match message::body(hook, project, row, record) {
        Ok(body) => {
            let out = Outgoing {
                url: &hook.url,
                secret: &hook.secret,
                event: &record.action,
                delivery: &delivery,
                body: &body,
            };
            webhooks.send(out).await
        }
        Err(error) => Attempted {
            status: None,
            error: Some(format!("cannot write the message: {error}")),
            refused: false,
            duration: Duration::ZERO,
        },
    };
    if let Some(error) = &attempted.error {
        tracing::info!(%project, webhook = %hook.id, %delivery, %error, "webhook delivery failed");
    }
    let logged = DeliveryAttempt {
        attempt: random_hex(8),
        delivery,
        seq: row.seq,
        at_ms: now_ms(),
        status: attempted.status.map(i64::from),
        duration_ms: i64::try_from(attempted.duration.as_millis()).unwrap_or(i64::MAX),
        error: attempted.error.clone(),
        redelivery,
    };
    if let Err(error) = store
        .delivery_log_append(project, &hook.id, &logged, config.log_size)
        .await
    {
        tracing::warn!(%project, webhook = %hook.id, %error, "could not log a webhook delivery");
    }
    (attempted, logged)
}

/// Why a redelivery was not made.
#[derive(Debug)]
pub enum Redelivery {
    /// No such delivery: not a record of this subscription's.
    Unknown,
    Store(StoreError),
}

/// Sends delivery `delivery` of `hook` again now (asked for through the API), with its id,
/// and logs it as a redelivery. The outbox's own place and retries are left as they are.
pub async fn redeliver(
    store: &Store,
    webhooks: &Webhooks,
    project: &str,
    hook: &Webhook,
    delivery: &str,
) -> Result<DeliveryAttempt, Redelivery> {
    let seq = delivery_seq(&hook.id, delivery).ok_or(Redelivery::Unknown)?;
    let row = store
        .outbox_record(seq)
        .await
        .map_err(Redelivery::Store)?
        .ok_or(Redelivery::Unknown)?;
    let record = row.parsed().map_err(Redelivery::Store)?;
    // Only what the subscription was sent (changes after it was made): a redelivery must not
    // read older history out of the audit log, which needs `audit:read`.
    if !matches(hook, project, &record) || record.at_ms < hook.created_ms {
        return Err(Redelivery::Unknown);
    }
    let config = webhooks.outbox_config();
    let target = (project, hook);
    let (_, logged) = deliver(store, webhooks, &config, target, (&row, &record), true).await;
    Ok(logged)
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
