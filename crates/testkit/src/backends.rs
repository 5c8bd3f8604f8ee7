//! One suite, every backend: [`backend_tests!`](crate::backend_tests) declares a suite's
//! `sqlite` and `postgres` tests, each running the suite's scenarios on fresh databases.

use std::future::Future;
use std::pin::Pin;

use crate::postgres::TempCluster;

/// A scenario: given a fresh database's URL, it runs to completion or panics.
pub type Scenario = fn(String) -> Pin<Box<dyn Future<Output = ()>>>;

/// Runs each scenario on a SQLite database of its own, in a directory named after `suite` that
/// is removed when every scenario has passed.
pub async fn on_sqlite(suite: &str, scenarios: &[(&str, Scenario)]) {
    let suite = suite.replace("::", "-");
    let dir = std::env::temp_dir().join(format!("switchyard-{suite}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, scenario) in scenarios {
        eprintln!("sqlite: {name}");
        scenario(format!("sqlite://{}/{name}.db", dir.display())).await;
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Runs each scenario on a database of its own in one throwaway PostgreSQL cluster (skipped,
/// loudly, where PostgreSQL is not installed; failed under `CI=true`).
pub async fn on_postgres(scenarios: &[(&str, Scenario)]) {
    let Some(cluster) = TempCluster::start() else {
        return;
    };
    for (name, scenario) in scenarios {
        eprintln!("postgres: {name}");
        scenario(cluster.create_database()).await;
    }
}

/// Declares a suite's `sqlite` and `postgres` tests: `backend_tests![a, b]` runs the
/// scenarios `a` and `b` (each an `async fn(String)` taking a database URL) on both;
/// `backend_tests! { sqlite: [a, b], postgres: [a] }` names each backend's own.
#[macro_export]
macro_rules! backend_tests {
    (sqlite: [$($sqlite:ident),* $(,)?], postgres: [$($postgres:ident),* $(,)?] $(,)?) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn sqlite() {
            const SCENARIOS: &[(&str, $crate::backends::Scenario)] = $crate::cases![$($sqlite),*];
            $crate::backends::on_sqlite(module_path!(), SCENARIOS).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn postgres() {
            const SCENARIOS: &[(&str, $crate::backends::Scenario)] =
                $crate::cases![$($postgres),*];
            $crate::backends::on_postgres(SCENARIOS).await;
        }
    };
    ($($scenario:ident),* $(,)?) => {
        $crate::backend_tests! { sqlite: [$($scenario),*], postgres: [$($scenario),*] }
    };
}
