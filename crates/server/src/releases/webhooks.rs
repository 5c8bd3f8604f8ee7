//! Outgoing webhooks (`docs/webhooks.md`, `docs/releases.md`): a project's subscribers get
//! JSON (or Slack-style `{"text"}`) messages, signed with HMAC-SHA256 over `"{timestamp}.{body}"`
//! in `X-Switchyard-Signature: t={timestamp},v1={hex}` (the Stripe scheme: the timestamp in the
//! signature stops replays).
//!
//! Two ways out share [`Webhooks::send`]: every change a subscription's filter matches goes out
//! through the durable outbox (`crate::webhooks`, driven by the audit log); the release and kill
//! events of `events` subscriptions are sent from here with in-memory retries (a restart loses
//! those in flight; the same changes reach change subscriptions through the outbox).

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use hmac::{Hmac, Mac};
use prometheus_client::metrics::counter::Counter;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;
use switchyard_store::Store;
use tokio_util::sync::CancellationToken;

use crate::access::random_hex;
use crate::clock::now_ms;
use crate::records::{self, Record};
use crate::tasks::Tasks;

use super::webhook_targets::{Unsafe, WebhookTargets};

/// A stored subscription (kind `webhook`, scope the project).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Webhook {
    pub id: String,
    pub url: String,
    /// Event types to send (`release.*` patterns allowed); empty: all.
    #[serde(default)]
    pub events: Vec<String>,
    /// The signing secret (the API shows it once, at creation).
    pub secret: String,
    pub created_ms: i64,
    /// Changes to resources matching one of these globs (`crate::access::glob`) go out through
    /// the outbox; empty (with `actions` empty too): none, only `events`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// Changes whose audit action matches one of these globs go out through the outbox.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
    /// The message shape.
    #[serde(default)]
    pub format: Format,
}

/// How a message is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// The event or change as a JSON object.
    #[default]
    Json,
    /// `{"text": "…"}`, what a Slack (or Mattermost, Teams workflow) incoming webhook takes.
    Slack,
}

impl Webhook {
    /// Whether every change matching `resources` and `actions` goes out through the outbox.
    pub fn follows_changes(&self) -> bool {
        !self.resources.is_empty() || !self.actions.is_empty()
    }

    /// Whether a release or kill event goes out from here: to a subscription without change
    /// filters (all events when `events` is empty), or to one that names events too.
    fn wants(&self, event_type: &str) -> bool {
        if self.events.is_empty() {
            return !self.follows_changes();
        }
        self.events.iter().any(|pattern| {
            pattern == event_type
                || pattern
                    .strip_suffix('*')
                    .is_some_and(|prefix| event_type.starts_with(prefix))
        })
    }
}

/// Every type a webhook may receive.
pub const EVENT_TYPES: &[&str] = &[
    "release.scheduled",
    "release.started",
    "release.stage_changed",
    "release.held",
    "release.resumed",
    "release.breached",
    "release.rolled_back",
    "release.completed",
    "release.aborted",
    "flag.killed",
];

/// How the outbox runs (`crate::webhooks`); tests shorten it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxConfig {
    /// How often a replica looks for work when no change wakes it.
    pub poll: Duration,
    /// The wait after the first failed attempt; doubled after each further one ...
    pub first_retry: Duration,
    /// ... up to this.
    pub max_retry: Duration,
    /// How long a replica holds a delivery it sends: past it, another replica may take it
    /// over (longer than a request may take).
    pub lease: Duration,
    /// Attempts kept in each subscription's delivery log.
    pub log_size: i64,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig {
            poll: Duration::from_secs(1),
            first_retry: Duration::from_secs(1),
            max_retry: Duration::from_secs(300),
            lease: Duration::from_secs(60),
            log_size: 50,
        }
    }
}

impl OutboxConfig {
    /// The wait before the next attempt after `attempts` failed ones (0: none).
    pub fn backoff(&self, attempts: i64) -> Duration {
        if attempts <= 0 {
            return Duration::ZERO;
        }
        let doublings = u32::try_from(attempts - 1).unwrap_or(u32::MAX).min(30);
        self.first_retry
            .saturating_mul(1u32 << doublings)
            .min(self.max_retry)
    }
}

/// One message to send.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    pub url: &'a str,
    pub secret: &'a str,
    /// `X-Switchyard-Event`: the event type or the change's audit action.
    pub event: &'a str,
    /// `X-Switchyard-Delivery`: stable across retries, for receivers to drop repeats.
    pub delivery: &'a str,
    pub body: &'a [u8],
}

/// What one attempt got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempted {
    /// The receiver's status, when it answered.
    pub status: Option<u16>,
    /// Why it failed (none on a 2xx answer).
    pub error: Option<String>,
    /// The target is internal (refused by the address rules), not merely unreachable.
    pub refused: bool,
    pub duration: Duration,
}

impl Attempted {
    pub fn succeeded(&self) -> bool {
        self.error.is_none()
    }
}

/// The attempts after the first, and the wait before each.
const RETRY_DELAYS: [Duration; 5] = [
    Duration::from_secs(1),
    Duration::from_secs(4),
    Duration::from_secs(15),
    Duration::from_secs(60),
    Duration::from_secs(300),
];

pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    #[allow(clippy::expect_used)] // HMAC takes keys of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp},v1={hex}")
}

/// Webhook deliveries, owned by the server that makes them: [`Webhooks::drain`] (from the
/// server's shutdown) stops retrying release events, gives those in flight until a deadline,
/// then cuts off and logs what remains. The outbox's deliveries survive it (`crate::webhooks`).
#[derive(Debug, Clone, Default)]
pub struct Webhooks {
    deliveries: Tasks,
    /// Where deliveries may go beyond public addresses (set by `serve`).
    targets: Arc<ArcSwap<WebhookTargets>>,
    /// How the outbox runs.
    outbox: Arc<ArcSwap<OutboxConfig>>,
    /// Cancelled when the drain deadline has passed: sends still in flight give up.
    cut_off: CancellationToken,
    /// Delivery attempts made (both kinds, redeliveries too), for `/metrics`.
    pub attempts: Counter,
    /// Of those, the ones not answered with a 2xx.
    pub failures: Counter,
}

impl Webhooks {
    /// Allows deliveries to these internal hosts and networks (`serve --webhook-allow-hosts`).
    pub fn allow_targets(&self, targets: WebhookTargets) {
        self.targets.store(Arc::new(targets));
    }

    /// Where webhooks may be created and delivered.
    pub fn targets(&self) -> Arc<WebhookTargets> {
        self.targets.load_full()
    }

    /// Changes how the outbox runs (read at each of its passes).
    pub fn configure_outbox(&self, config: OutboxConfig) {
        self.outbox.store(Arc::new(config));
    }

    pub fn outbox_config(&self) -> Arc<OutboxConfig> {
        self.outbox.load_full()
    }

    /// Sends `event` (an object with at least `type`) to every matching webhook of `project`,
    /// in the background.
    pub fn notify(&self, store: &Store, project: &str, mut event: Value) {
        let store = store.clone();
        let project = project.to_owned();
        let webhooks = self.clone();
        self.deliveries.spawn(async move {
            let hooks = match records::list_readable::<Webhook>(&store, &project).await {
                Ok(hooks) => hooks,
                Err(error) => {
                    tracing::warn!(error = %error.message, "could not read webhooks");
                    return;
                }
            };
            let event_type = event["type"].as_str().unwrap_or_default().to_owned();
            let id = random_hex(8);
            event["id"] = json!(id);
            event["project"] = json!(project);
            for hook in hooks {
                if hook.record.wants(&event_type) {
                    let body = match hook.record.format {
                        Format::Json => serde_json::to_vec(&event),
                        Format::Slack => serde_json::to_vec(&json!({"text": slack_text(&event)})),
                    };
                    let delivery = webhooks.clone().deliver(
                        hook.record,
                        event_type.clone(),
                        id.clone(),
                        body.unwrap_or_default(),
                    );
                    webhooks.deliveries.spawn(delivery);
                }
            }
        });
    }

    /// Stops retrying, waits up to `deadline` for deliveries in flight, then cuts them off.
    pub async fn drain(&self, deadline: Duration) {
        let left = self.deliveries.stop(deadline).await;
        if left > 0 {
            tracing::warn!(deliveries = left, "webhook deliveries cut off at shutdown");
            self.cut_off.cancel();
            self.deliveries.stop(Duration::from_secs(1)).await;
        }
    }

    /// Deliveries still running.
    pub fn running(&self) -> usize {
        self.deliveries.running()
    }

    /// A client for one attempt: redirects are not followed (one could point inside), and a
    /// resolved name is pinned to the address that was checked (DNS rebinding).
    async fn client_for(&self, url: &str) -> Result<reqwest::Client, Unsafe> {
        let pinned = self.targets().resolve(url).await?;
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none());
        if let Some((name, address)) = pinned {
            builder = builder.resolve(&name, address);
            // reqwest looks the pin up by the URL's host exactly as written, which may keep a
            // trailing dot the checked name dropped (`internal.example.`): pin that form too,
            // or the client would resolve it again for itself.
            if let Some(written) = reqwest::Url::parse(url)
                .ok()
                .and_then(|parsed| parsed.host_str().map(str::to_owned))
                .filter(|written| *written != name)
            {
                builder = builder.resolve(&written, address);
            }
        }
        builder
            .build()
            .map_err(|e| Unsafe::Unresolved(e.to_string()))
    }

    /// Makes one signed attempt (the one way out for both kinds of delivery).
    pub async fn send(&self, out: Outgoing<'_>) -> Attempted {
        let started = Instant::now();
        let timestamp = now_ms() / 1000;
        let (status, error, refused) = match self.client_for(out.url).await {
            Err(Unsafe::Refused(refused)) => (None, Some(refused), true),
            Err(Unsafe::Unresolved(failure)) => (None, Some(failure), false),
            Ok(client) => {
                let sent = client
                    .post(out.url)
                    .header("content-type", "application/json")
                    .header("x-switchyard-event", out.event)
                    .header("x-switchyard-delivery", out.delivery)
                    .header(
                        "x-switchyard-signature",
                        signature(out.secret, timestamp, out.body),
                    )
                    .body(out.body.to_vec())
                    .send()
                    .await;
                match sent {
                    Ok(response) if response.status().is_success() => {
                        (Some(response.status().as_u16()), None, false)
                    }
                    Ok(response) => (
                        Some(response.status().as_u16()),
                        Some(format!("status {}", response.status())),
                        false,
                    ),
                    Err(error) => (None, Some(error.to_string()), false),
                }
            }
        };
        self.attempts.inc();
        if error.is_some() {
            self.failures.inc();
        }
        Attempted {
            status,
            error,
            refused,
            duration: started.elapsed(),
        }
    }

    async fn deliver(self, hook: Webhook, event_type: String, id: String, body: Vec<u8>) {
        let mut delays = RETRY_DELAYS.iter();
        loop {
            let out = Outgoing {
                url: &hook.url,
                secret: &hook.secret,
                event: &event_type,
                delivery: &id,
                body: &body,
            };
            let attempted = tokio::select! {
                attempted = self.send(out) => attempted,
                () = self.cut_off.cancelled() => {
                    tracing::warn!(webhook = %hook.id, %event_type, "webhook delivery cut off at shutdown");
                    return;
                }
            };
            let Some(failure) = attempted.error else {
                return;
            };
            if attempted.refused {
                tracing::warn!(webhook = %hook.id, %event_type, refused = %failure, "webhook delivery refused: internal target");
                return;
            }
            let Some(delay) = delays.next() else {
                tracing::warn!(webhook = %hook.id, %event_type, %failure, "webhook delivery gave up");
                return;
            };
            tracing::info!(webhook = %hook.id, %event_type, %failure, "webhook delivery failed; retrying");
            tokio::select! {
                () = tokio::time::sleep(*delay) => {}
                () = self.deliveries.stopping() => {
                    tracing::warn!(webhook = %hook.id, %event_type, %failure, "webhook delivery not retried: shutting down");
                    return;
                }
            }
        }
    }
}

/// A release or kill event as one line of text.
fn slack_text(event: &Value) -> String {
    let text = |key: &str| event[key].as_str().unwrap_or_default().to_owned();
    let mut line = format!(
        "{}: flag `{}` in {} (project {})",
        text("type"),
        text("flag"),
        text("environment"),
        text("project")
    );
    if let Some(actor) = event["actor"].as_str() {
        line.push_str(&format!(" by {actor}"));
    }
    if let Some(detail) = event["detail"].as_str().filter(|d| !d.is_empty()) {
        line.push_str(&format!(": {detail}"));
    }
    line
}

impl Record for Webhook {
    const KIND: &'static str = "webhook";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_rfc_4231_hmac_sha256_over_timestamp_dot_body() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let sig = signature("Jefe", 0, b"what do ya want for nothing?");
        // The signed text is "0." followed by the body, so the vector is recomputed here:
        // HMAC-SHA256("Jefe", "0.what do ya want for nothing?").
        assert!(sig.starts_with("t=0,v1="));
        assert_eq!(sig.len(), "t=0,v1=".len() + 64);
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap_or_else(|_| unreachable!());
        mac.update(b"what do ya want for nothing?");
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn patterns_select_events() {
        let hook = |events: &[&str]| Webhook {
            id: "w".into(),
            url: "http://x".into(),
            events: events.iter().map(|e| (*e).to_owned()).collect(),
            secret: String::new(),
            created_ms: 0,
            resources: Vec::new(),
            actions: Vec::new(),
            format: Format::Json,
        };
        assert!(hook(&[]).wants("flag.killed"));
        assert!(hook(&["release.*"]).wants("release.rolled_back"));
        assert!(!hook(&["release.*"]).wants("flag.killed"));
        assert!(hook(&["flag.killed"]).wants("flag.killed"));
        // A change subscription gets release events through the outbox, unless it names some.
        let changes = Webhook {
            resources: vec!["*".into()],
            ..hook(&[])
        };
        assert!(changes.follows_changes() && !changes.wants("flag.killed"));
        let both = Webhook {
            events: vec!["flag.killed".into()],
            ..changes
        };
        assert!(both.wants("flag.killed"));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let config = OutboxConfig {
            first_retry: Duration::from_secs(1),
            max_retry: Duration::from_secs(300),
            ..OutboxConfig::default()
        };
        let waits: Vec<u64> = (0..12).map(|n| config.backoff(n).as_secs()).collect();
        assert_eq!(waits, [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(config.backoff(i64::MAX).as_secs(), 300);
    }
}
