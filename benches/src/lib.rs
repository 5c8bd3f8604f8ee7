//! What the benchmark binaries share: starting a release `switchyard serve`, and describing
//! the machine a result was measured on.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A `switchyard serve` process on a free port, with its first start's admin token.
#[derive(Debug)]
pub struct Serve {
    pub child: Child,
    pub addr: String,
    pub base: String,
    pub token: String,
}

impl Serve {
    /// Starts `binary serve` with `extra` arguments (a data directory or a database URL) on
    /// a fresh database and waits until it answers.
    pub async fn start(binary: &str, extra: &[&str]) -> Serve {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let mut child = Command::new(binary)
            .args(["serve", "--listen", &addr, "--log", "error"])
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the switchyard binary (cargo build --release -p switchyard)");
        let stdout = child.stdout.take().unwrap();
        let token = tokio::task::spawn_blocking(move || {
            use std::io::BufRead;
            std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .find_map(|l| {
                    l.trim()
                        .strip_prefix("admin API token: ")
                        .map(str::to_owned)
                })
                .unwrap()
        })
        .await
        .unwrap();
        let base = format!("http://{addr}");
        let http = reqwest::Client::new();
        while http.get(format!("{base}/readyz")).send().await.is_err() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Serve {
            child,
            addr,
            base,
            token,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stop(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

/// The machine, for the record: core count and CPU model.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_default();
    format!(
        "{} cores, {cpu}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    )
}
