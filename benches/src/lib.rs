//! What the benchmark binaries share: starting a release `switchyard serve` (through the
//! testkit's `TestServer`, as the tests do), and describing the machine a result was measured on.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub use switchyard_testkit::server::{Method, SdkKeyKind, TestServer};

/// `binary serve` (a release build) on a fresh database: `--data-dir DIR` or
/// `--database-url URL` in `storage`, logging errors only.
pub async fn serve(binary: &str, storage: &[&str]) -> TestServer {
    let serve = TestServer::binary(binary).args(storage.iter().copied());
    serve.log("error").start().await
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
