//! Outgoing webhooks (`docs/releases.md`): a project's subscribers get release and kill
//! notifications as JSON, signed with HMAC-SHA256 over `"{timestamp}.{body}"` in
//! `X-Switchyard-Signature: t={timestamp},v1={hex}` (the Stripe scheme: the timestamp in the
//! signature stops replays), retried with backoff.
//!
//! Deliveries are kept in memory only: a restart loses the retries in flight (the audit log
//! still has every event).

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use hmac::{Hmac, Mac};
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
}

impl Webhook {
    fn wants(&self, event_type: &str) -> bool {
        self.events.is_empty()
            || self.events.iter().any(|pattern| {
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
/// server's shutdown) stops retrying, gives deliveries in flight until a deadline, then cuts off
/// and logs what remains. The durable outbox that survives a restart comes with governance.
#[derive(Debug, Clone, Default)]
pub struct Webhooks {
    deliveries: Tasks,
    /// Where deliveries may go beyond public addresses (set by `serve`).
    targets: Arc<ArcSwap<WebhookTargets>>,
    /// Cancelled when the drain deadline has passed: sends still in flight give up.
    cut_off: CancellationToken,
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
            event["id"] = json!(random_hex(8));
            event["project"] = json!(project);
            let body = serde_json::to_vec(&event).unwrap_or_default();
            for hook in hooks {
                if hook.record.wants(&event_type) {
                    let delivery =
                        webhooks
                            .clone()
                            .deliver(hook.record, event_type.clone(), body.clone());
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

    async fn deliver(self, hook: Webhook, event_type: String, body: Vec<u8>) {
        let mut delays = RETRY_DELAYS.iter();
        loop {
            let timestamp = now_ms() / 1000;
            let client = match self.client_for(&hook.url).await {
                Ok(client) => Ok(client),
                Err(Unsafe::Refused(refused)) => {
                    tracing::warn!(webhook = %hook.id, %event_type, %refused, "webhook delivery refused: internal target");
                    return;
                }
                Err(Unsafe::Unresolved(failure)) => Err(failure),
            };
            let failure = match client {
                Err(failure) => failure,
                Ok(client) => {
                    let request = client
                        .post(&hook.url)
                        .header("content-type", "application/json")
                        .header("x-switchyard-event", &event_type)
                        .header(
                            "x-switchyard-signature",
                            signature(&hook.secret, timestamp, &body),
                        )
                        .body(body.clone())
                        .send();
                    let sent = tokio::select! {
                        sent = request => sent,
                        () = self.cut_off.cancelled() => {
                            tracing::warn!(webhook = %hook.id, %event_type, "webhook delivery cut off at shutdown");
                            return;
                        }
                    };
                    match sent {
                        Ok(response) if response.status().is_success() => return,
                        Ok(response) => format!("status {}", response.status()),
                        Err(error) => error.to_string(),
                    }
                }
            };
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
        };
        assert!(hook(&[]).wants("flag.killed"));
        assert!(hook(&["release.*"]).wants("release.rolled_back"));
        assert!(!hook(&["release.*"]).wants("flag.killed"));
        assert!(hook(&["flag.killed"]).wants("flag.killed"));
    }
}
