//! Test support shared by the workspace's test suites. Never a dependency of shipped code.
//!
//! - [`shared_dir`] finds third-party test data in `../shared` beside the repository.
//! - [`postgres::TempCluster`] starts a throwaway PostgreSQL cluster with `initdb`/`pg_ctl`.
//! - [`server::TestServer`] (feature `server`) starts a server in process or from the binary.
//! - [`cases!`] lists the async scenarios a suite runs once per backend, and
//!   [`backend_tests!`] declares a suite's `sqlite` and `postgres` tests that run them.
//!
//! A test whose prerequisite is absent calls [`skip`]: it says so, records the skip in the skip
//! log that `.ci/test` prints after `cargo test` as a `SKIPPED:` summary, and under `CI=true`
//! fails unless the test is listed in [`OPTIONAL_SKIPS`] with its reason.
//! Test support fails by panicking, like the tests that use it.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

pub mod alloc;
pub mod backends;
pub mod glob;
pub mod postgres;

use std::io::Write;
use std::path::PathBuf;

/// Tests allowed to skip under `CI=true`, each `(test, why it may)`, the test named by
/// [`current_test`] (`binary::module::test_name`). Empty: under CI every test runs.
pub const OPTIONAL_SKIPS: &[(&str, &str)] = &[];

/// Whether absent test prerequisites must fail the run rather than skip.
pub fn in_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// The running test's name: its test binary's, then the name `cargo test` prints (libtest names
/// each test's thread so), as in `contract::postgres`.
pub fn current_test() -> String {
    let binary = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .map(|stem| match stem.rsplit_once('-') {
            Some((name, _hash)) => name.to_owned(),
            None => stem,
        })
        .unwrap_or_default();
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("an unnamed test thread");
    format!("{binary}::{test}")
}

/// The file skips are appended to: `$SWITCHYARD_SKIP_LOG`, else `test-skips.log` in
/// `$CARGO_TARGET_DIR` or the workspace's `target/`. `.ci/test` empties it before `cargo test`
/// and prints it after.
pub fn skip_log() -> PathBuf {
    if let Some(path) = std::env::var_os("SWITCHYARD_SKIP_LOG") {
        return PathBuf::from(path);
    }
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"))
        .join("test-skips.log")
}

/// Skips the running test because of `reason`: says so on stderr, appends `test: reason` to the
/// [`skip_log`], and under `CI=true` panics unless the test is in [`OPTIONAL_SKIPS`]. The caller
/// returns right after.
pub fn skip(reason: &str) {
    let test = current_test();
    let optional = OPTIONAL_SKIPS.iter().find(|(name, _)| *name == test);
    let line = match optional {
        Some((_, why)) => format!("{test}: {reason} (optional: {why})\n"),
        None => format!("{test}: {reason}\n"),
    };
    let log = skip_log();
    if let Some(dir) = log.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    // One short append per skip, so concurrent test processes do not interleave lines.
    let appended = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .and_then(|mut file| file.write_all(line.as_bytes()));
    if let Err(error) = appended {
        eprintln!("cannot record the skip in {}: {error}", log.display());
    }
    eprintln!("\n*** SKIPPED {test}: {reason} ***\n");
    assert!(
        !in_ci() || optional.is_some(),
        "{test} skipped ({reason}); under CI=true a skip fails unless the test is listed in \
         switchyard_testkit::OPTIONAL_SKIPS with its reason"
    );
}

/// The former name of [`skip`], kept so tests written against it still build.
pub fn skip_or_fail(what: &str) {
    skip(what);
}

/// `../shared/{relative}` from the repository root, or `None` after [`skip`]ping.
pub fn shared_dir(relative: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .join(relative);
    if dir.exists() {
        return Some(dir);
    }
    skip(&format!(
        "{} is missing (put ../shared beside the repository)",
        dir.display()
    ));
    None
}

/// A table of named async cases, for a suite that runs every case against each backend it
/// starts: `cases![a, b]` is `&[("a", |x| Box::pin(a(x))), ("b", |x| Box::pin(b(x)))]`, typed
/// by the constant it initialises (such as `&[(&str, fn(Store) -> Pin<Box<dyn Future…>>)]`).
#[macro_export]
macro_rules! cases {
    ($($case:ident),* $(,)?) => {
        &[$((stringify!($case), |input| Box::pin($case(input)))),*]
    };
}

#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "server")]
pub mod tamper;
