//! What the benchmark binaries share: which `switchyard` binary they measure, the one-thread
//! runtime of their load, starting a release `switchyard serve` (through the testkit's
//! `TestServer`, as the tests do), and describing the machine a result was measured on.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub use switchyard_testkit::server::{Method, SdkKeyKind, TestServer};

/// The `switchyard` binary to measure: `SWITCHYARD_BIN` (a saved "before" build, say), else
/// this tree's release build.
pub fn switchyard_binary() -> String {
    std::env::var("SWITCHYARD_BIN").unwrap_or("target/release/switchyard".into())
}

/// Runs `future` to its end on a runtime of one thread: a load generator keeps to one, so the
/// server keeps the rest of the machine.
pub fn on_one_thread<F: std::future::Future>(future: F) -> F::Output {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(future)
}

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

/// CPU time the process `pid` has run, all threads, in ns (`/proc/PID/task/*/schedstat`).
pub fn cpu_time_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// CPU time of every running process whose command is `command` (PostgreSQL's backends: the
/// `postgres` processes), in ns. Processes that ended between two readings drop out of the
/// second, so read around a phase in which they stay up (a pool's connections).
pub fn cpu_time_of_command_ns(command: &str) -> u64 {
    let Ok(processes) = std::fs::read_dir("/proc") else {
        return 0;
    };
    processes
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim_end() == command)
        })
        .map(cpu_time_ns)
        .sum()
}
