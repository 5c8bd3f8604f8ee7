//! The `switchyard` binary's tests in one binary (one link, one run): `eval`/`validate` on real
//! files, and the real `serve` (started by `switchyard_testkit::server`) under the CLI's client
//! commands, a SIGKILL, relays, the web console and the OpenFeature JavaScript SDK.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod attack;
mod audit;
mod audit_export;
mod browser;
mod commands;
mod console;
mod console_a11y;
mod console_audit;
mod console_compare;
mod console_experiments;
mod console_flag_page;
mod console_playground;
mod console_waves;
mod crash;
mod data_at_rest;
mod eval;
mod off_state;
mod oidc;
mod openapi;
mod openfeature_js;
mod otlp_python;
mod relay;
mod relay_browsers;
mod relay_process;
mod relay_saved;
mod release;
mod tracking;

use std::path::PathBuf;

use switchyard_testkit::server::TestServer;

pub const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

/// `switchyard-{name}-{pid}` in the temporary directory, emptied of what a crashed run left.
pub fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("switchyard-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// `switchyard serve` on a fresh data directory `switchyard-{name}-{pid}`: the server and the
/// directory (for a restart, and to remove at the end).
pub async fn serve_fresh(name: &str) -> (TestServer, PathBuf) {
    let dir = fresh_dir(name);
    let server = TestServer::binary(BIN).data_dir(&dir).start().await;
    (server, dir)
}
