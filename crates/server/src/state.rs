//! What `serve` runs on: the store, delivery, the release guard, webhooks, metrics, and the
//! [`Tasks`] that own the background work of all of them.

use std::sync::Arc;
use std::time::Duration;

use switchyard_store::Store;

use crate::access::{AccessConfig, SignInThrottle};
use crate::clock::Clock;
use crate::delivery::{self, Delivery, DeliveryConfig};
use crate::ops::Metrics;
use crate::releases::{Guard, GuardConfig, Services, Webhooks};
use crate::tasks::Tasks;

/// How long webhook deliveries in flight may take to finish once the server stops.
pub(crate) const WEBHOOK_DRAIN_DEADLINE: Duration = Duration::from_secs(5);
/// How long the other background tasks may take to finish their turn once the server stops.
pub(crate) const TASK_DRAIN_DEADLINE: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub struct AppState {
    pub store: Store,
    pub metrics: Arc<Metrics>,
    pub delivery: Arc<Delivery>,
    pub guard: Arc<Guard>,
    pub webhooks: Webhooks,
    pub tasks: Tasks,
    /// Token lifetimes and sign-in limits.
    pub access: AccessConfig,
    /// Failed sign-ins per account and address (in memory, per replica).
    pub sign_in: SignInThrottle,
    /// When scheduled changes are due (a test moves it; see [`Clock`]).
    pub clock: Clock,
}

impl AppState {
    pub fn new(store: Store) -> Arc<AppState> {
        AppState::with_delivery(store, DeliveryConfig::default())
    }

    pub fn with_delivery(store: Store, config: DeliveryConfig) -> Arc<AppState> {
        AppState::with_config(store, config, GuardConfig::default())
    }

    /// Builds the state; nothing runs until `serve` starts it.
    pub fn with_config(
        store: Store,
        config: DeliveryConfig,
        guard_config: GuardConfig,
    ) -> Arc<AppState> {
        let access = AccessConfig::default();
        AppState::with_access(store, config, guard_config, access, Clock::default())
    }

    /// [`AppState::with_config`] with token lifetime and sign-in limits of its own.
    pub fn with_access(
        store: Store,
        config: DeliveryConfig,
        guard_config: GuardConfig,
        access: AccessConfig,
        clock: Clock,
    ) -> Arc<AppState> {
        let tasks = Tasks::default();
        let delivery = Delivery::new(store.clone(), config, tasks.clone());
        let mut metrics = Metrics::default();
        metrics.register_delivery(&delivery);
        let guard = Guard::new(guard_config);
        let webhooks = Webhooks::default();
        metrics.register_control_plane(&store, &guard, &webhooks);
        let sign_in = SignInThrottle::new(access.sign_in.clone());
        register_sign_in(&mut metrics, &sign_in);
        Arc::new(AppState {
            store,
            metrics: Arc::new(metrics),
            delivery,
            guard,
            webhooks,
            tasks,
            access,
            sign_in,
            clock,
        })
    }

    /// Starts the background work: delivery following the store, the writer of recorded
    /// evaluations, the release guard (the runner of scheduled changes, which replays API
    /// handlers, is started by `serve_with` above). Must be called within a Tokio runtime.
    pub(crate) fn start(state: &Arc<AppState>) {
        let tasks = &state.tasks;
        tasks.spawn(state.delivery.clone().follow_store(tasks.stopping()));
        tasks.spawn(delivery::run_store_writer(
            state.delivery.clone(),
            state.store.clone(),
            tasks.stopping(),
        ));
        tasks.spawn(state.guard.clone().run(
            state.store.clone(),
            state.webhooks.clone(),
            tasks.stopping(),
        ));
        tasks.spawn(crate::webhooks::run_outbox(
            state.store.clone(),
            state.webhooks.clone(),
            tasks.stopping(),
        ));
    }

    /// Stops the background work and waits for it: the guard finishes its pass, the event
    /// writer writes what is still recorded, webhooks get [`WEBHOOK_DRAIN_DEADLINE`].
    pub(crate) async fn stop(&self) {
        let left = self.tasks.stop(TASK_DRAIN_DEADLINE).await;
        if left > 0 {
            tracing::warn!(
                tasks = left,
                "background tasks still running after the shutdown deadline"
            );
        }
        self.webhooks.drain(WEBHOOK_DRAIN_DEADLINE).await;
    }

    /// What a release change needs: the store and the webhooks.
    pub fn services(&self) -> Services<'_> {
        Services {
            store: &self.store,
            webhooks: &self.webhooks,
        }
    }

    /// Background tasks still running, webhook deliveries included (0 after `serve`
    /// returns).
    pub fn running_tasks(&self) -> usize {
        self.tasks.running() + self.webhooks.running()
    }
}

fn register_sign_in(metrics: &mut Metrics, sign_in: &SignInThrottle) {
    metrics.register(
        "sign_in_failures",
        "Failed sign-ins",
        sign_in.failures.clone(),
    );
    metrics.register(
        "sign_in_failures_unaudited",
        "Failed sign-ins only counted here, not written to the audit log",
        sign_in.unaudited.clone(),
    );
    metrics.register(
        "sign_in_refused",
        "Sign-ins refused with 429 (locked account or address over its limit)",
        sign_in.refused.clone(),
    );
    metrics.register(
        "sign_in_lockouts",
        "Accounts locked after too many failed sign-ins",
        sign_in.lockouts.clone(),
    );
}
