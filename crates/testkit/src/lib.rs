//! Test support shared by the workspace's test suites. Never a dependency of shipped code.
//!
//! - [`shared_dir`] finds third-party test data in `../shared` beside the repository.
//! - [`postgres::TempCluster`] starts a throwaway PostgreSQL cluster with `initdb`/`pg_ctl`.
//! - [`server::TestServer`] (feature `server`) starts a server in process or from the binary.
//! - [`cases!`] lists the async scenarios a suite runs once per backend, and
//!   [`backend_tests!`] declares a suite's `sqlite` and `postgres` tests that run them.
//!
//! Both skip loudly when what they need is absent, except under `CI=true`, where absence fails.
//! Test support fails by panicking, like the tests that use it.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

pub mod backends;
pub mod postgres;

use std::path::PathBuf;

/// Whether absent test prerequisites must fail the run rather than skip.
pub fn in_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// Skips (after saying why, loudly) or, under `CI=true`, fails.
pub fn skip_or_fail(what: &str) {
    assert!(!in_ci(), "{what}, and CI=true requires it");
    eprintln!("\n*** SKIPPED: {what} ***\n");
}

/// `../shared/{relative}` from the repository root, or `None` (after saying so) to skip.
pub fn shared_dir(relative: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .join(relative);
    if dir.exists() {
        return Some(dir);
    }
    skip_or_fail(&format!(
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
