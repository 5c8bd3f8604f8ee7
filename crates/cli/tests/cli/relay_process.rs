//! The relay test helper: a `switchyard relay` process of the binary under test.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;
use switchyard_testkit::server::{eventually, spawn_listening};

use crate::BIN;

/// A running relay process (used by `relay.rs`, `relay_saved.rs` and `relay_browsers.rs`).
pub(crate) struct Relay {
    pub(crate) child: Child,
    pub(crate) base: String,
    pub(crate) port: u16,
}

impl Relay {
    /// Starts a relay on `port` (0: one it picks and prints) and waits until it listens (ready
    /// or not: its upstream may be down and its disk empty).
    pub(crate) async fn start(upstream: &str, key: &str, data_dir: &Path, port: u16) -> Relay {
        let started = spawn_listening(
            Command::new(BIN)
                .args([
                    "relay",
                    "--upstream",
                    upstream,
                    "--sdk-key",
                    key,
                    "--log",
                    "warn",
                ])
                .args(["--listen", &format!("127.0.0.1:{port}")])
                .args(["--reconnect-max-ms", "200"])
                .args(["--client-keys-refresh-ms", "200"])
                .arg("--data-dir")
                .arg(data_dir)
                .stderr(Stdio::inherit()),
        );
        let base = format!("http://{}", started.address);
        let health = format!("{base}/healthz");
        eventually("the relay listens", 30, || async {
            reqwest::get(&health).await.is_ok()
        })
        .await;
        let port = started.address.port();
        Relay {
            child: started.child,
            base,
            port,
        }
    }

    pub(crate) async fn readiness(&self) -> (u16, Value) {
        let response = reqwest::get(format!("{}/readyz", self.base)).await.unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    pub(crate) async fn snapshot(&self, key: &str) -> (Value, Option<u64>) {
        crate::relay::snapshot_at(&self.base, key).await
    }

    pub(crate) fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

/// A failed test does not leave its relay running (and holding the test's output open).
impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
