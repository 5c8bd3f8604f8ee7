//! Upgrading a database that an earlier version wrote. `testdata/upgrade/` keeps one per backend
//! (`sqlite.sql`, a `sqlite3 .dump`; `postgres.sql`, a `pg_dump --inserts`), written through the
//! API by the version of its schema (see `schema_version` in `expected.json`), with realistic
//! data: projects, flags of every kind with rules, a rollout and a segment, accounts, tokens,
//! SDK keys, a paused guarded release, event aggregates and the audit records of all of it.
//! The test loads a fixture into a fresh database, starts today's server on it (which applies
//! every later migration and start-time upgrade) and checks that everything reads and
//! evaluates as it did when the fixture was written, and that the audit chain still verifies.
//!
//! Regenerate (only when the schema changes, keeping the old fixtures' data in mind):
//! `testdata/upgrade/generate.sh`, which runs [`generate_upgrade_fixtures`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::PROD;
use reqwest::Method;
use serde_json::{Value, json};
use switchyard_sdk::{Client, Context, EventsConfig};
use switchyard_store::Store;
use switchyard_testkit::postgres::TempCluster;
use switchyard_testkit::server::{SdkKeyKind, TestServer, wait_for};

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/upgrade")
}

/// The contexts every flag is evaluated for.
fn contexts() -> Vec<Value> {
    vec![
        json!({"key": "alice", "country": "DE", "plan": "pro"}),
        json!({"key": "bob", "country": "FR"}),
        json!({"key": "carol", "country": "DE"}),
        json!({"key": "user-7"}),
        json!({"kind": "multi", "user": {"key": "dave"}, "org": {"key": "acme"}}),
    ]
}

/// Writes the fixture's data through the API: what a real installation holds after some use.
/// Answers the credentials the checks need (shown once by the API, so kept beside the dump).
async fn populate(server: &TestServer) -> Value {
    // Four native flag kinds, a rule and a 50/50 rollout (testdata/delivery-flags.json).
    server.seed_delivery_flags().await;
    let flags = "/api/v1/projects/default/flags";
    server
        .admin_post(
            "/api/v1/projects/default/environments/production/segments",
            json!({"key": "beta", "included": [{"kind": "user", "values": ["alice", "user-7"]}],
                   "comment": "beta testers"}),
        )
        .await;
    server
        .admin_post(
            flags,
            json!({"key": "beta-search", "kind": "boolean", "description": "new search",
                   "tags": ["search", "beta"], "comment": "for the beta"}),
        )
        .await;
    server
        .admin(
            Method::PUT,
            &format!("{PROD}/flags/beta-search"),
            Some(json!({"version": 0, "on": true, "off_variation": 1,
                        "fallthrough": {"variation": 1},
                        "rules": [{"id": "beta", "serve": {"variation": 0},
                                   "condition": {"op": "segment_match", "values": ["beta"]}}]})),
        )
        .await;
    // A guarded release, paused at its first stage (stable: the guard leaves it alone).
    server
        .admin_post(flags, json!({"key": "new-checkout", "kind": "boolean"}))
        .await;
    server
        .admin(
            Method::PUT,
            &format!("{PROD}/flags/new-checkout"),
            Some(json!({"version": 0, "on": true, "off_variation": 1,
                        "fallthrough": {"variation": 1}})),
        )
        .await;
    let release = server
        .admin_post(
            &format!("{PROD}/releases"),
            json!({"flag": "new-checkout", "variation": "on",
                   "stages": [{"percent": 20, "min_bake_s": 3600}, {"percent": 100}]}),
        )
        .await;
    let release = release["id"].as_str().unwrap().to_owned();
    server
        .admin_post(
            &format!("{PROD}/releases/{release}/pause"),
            json!({"comment": "waiting for the on-call"}),
        )
        .await;
    // A second project with an archived flag, a custom role, an account and tokens.
    server
        .admin_post(
            "/api/v1/projects",
            json!({"key": "shop", "name": "Shop", "description": "the web shop"}),
        )
        .await;
    server
        .admin_post(
            "/api/v1/projects/shop/flags",
            json!({"key": "old-banner", "kind": "boolean", "archived": true}),
        )
        .await;
    server
        .admin_post(
            "/api/v1/roles",
            json!({"name": "flag-operator", "statements": [{"effect": "allow",
                   "actions": ["flag:read", "flag:toggle"], "resources": ["proj/default:*"]}]}),
        )
        .await;
    server
        .admin_post(
            "/api/v1/accounts",
            json!({"name": "dana", "password": "correct horse battery staple",
                   "roles": ["flag-operator"]}),
        )
        .await;
    server
        .admin_post(
            "/api/v1/tokens",
            json!({"name": "dana-ci", "account": "dana", "unscoped": true,
                   "expires_in_days": 30}),
        )
        .await;
    server
        .admin_post(
            "/api/v1/tokens",
            json!({"name": "deploy-bot", "unscoped": true, "comment": "no expiry given"}),
        )
        .await;
    let server_key = server.sdk_key(SdkKeyKind::Server).await;
    let client_key = server.sdk_key(SdkKeyKind::Client).await;

    // Event aggregates: the SDK's evaluations (and their exposures) and two metrics.
    let sdk = Client::builder(&server.base, &server_key)
        .events(EventsConfig {
            flush_interval: Duration::from_millis(50),
            ..EventsConfig::default()
        })
        .build()
        .await;
    for i in 0..40 {
        let user = Context::from_json(&json!({"key": format!("user-{i}")})).unwrap();
        sdk.number_detail("limit", &user, -1.0);
        sdk.bool_detail("checkout", &user, false);
        sdk.track("latency_ms", &user, f64::from(i % 7 + 1));
        if i % 4 == 0 {
            sdk.track("error", &user, 1.0);
        }
    }
    sdk.close().await;
    let counted = format!("{PROD}/flags/limit/evaluations?from=0&to=4102444800000");
    wait_for("the SDK's 40 evaluations to be counted", 30, || async {
        let answer = server.admin_get(&counted).await;
        (evaluation_total(&answer) == 40).then_some(())
    })
    .await;
    json!({"admin": server.admin, "server_key": server_key, "client_key": client_key,
           "account": "dana", "password": "correct horse battery staple", "release": release})
}

/// The total count of a flag's evaluations answer.
fn evaluation_total(answer: &Value) -> u64 {
    answer
        .as_array()
        .expect("a list of evaluation points")
        .iter()
        .map(|p| p["count"].as_u64().unwrap_or_default())
        .sum()
}

/// Everything the checks compare, read through the API and the SDK (without sending events:
/// reading must not change what is read).
async fn observe(server: &TestServer, secrets: &Value) -> Value {
    let get = |path: String| async move { server.admin_get(&path).await };
    let keys = |list: &Value, field: &str| -> Vec<Value> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|item| item[field].clone())
            .collect()
    };
    let mut flags = serde_json::Map::new();
    for project in ["default", "shop"] {
        // Live flags, then archived ones (listed only on request).
        let live = get(format!("/api/v1/projects/{project}/flags")).await;
        let archived = get(format!("/api/v1/projects/{project}/flags?archived=true")).await;
        let listed = live
            .as_array()
            .unwrap()
            .iter()
            .chain(archived.as_array().unwrap());
        for flag in listed {
            let key = flag["key"].as_str().unwrap();
            let full = get(format!("/api/v1/projects/{project}/flags/{key}")).await;
            flags.insert(
                format!("{project}/{key}"),
                json!({"kind": full["kind"], "version": full["version"],
                       "archived": full["archived"], "tags": full["tags"],
                       "variations": full["variations"],
                       "production": full["environments"]["production"]}),
            );
        }
    }
    let segments = get(format!("{PROD}/segments")).await;
    let accounts = get("/api/v1/accounts".into()).await;
    let roles = get("/api/v1/roles".into()).await;
    let tokens = get("/api/v1/tokens".into()).await;
    let sdk_keys = get(format!("{PROD}/sdk-keys")).await;
    let release = secrets["release"].as_str().unwrap();
    let release = get(format!("{PROD}/releases/{release}")).await;
    let range = "from=0&to=4102444800000";
    let limit_evaluations = get(format!("{PROD}/flags/limit/evaluations?{range}")).await;
    let limit_metrics = get(format!("{PROD}/flags/limit/metrics?{range}")).await;
    let exposures = get(format!("{PROD}/flags/limit/exposures?{range}&limit=1000")).await;

    let sdk = Client::builder(&server.base, secrets["server_key"].as_str().unwrap())
        .events(EventsConfig {
            enabled: false,
            ..EventsConfig::default()
        })
        .build()
        .await;
    assert!(sdk.is_initialized(), "the server key still works");
    let mut evaluations = Vec::new();
    for context in contexts() {
        let user = Context::from_json(&context).unwrap();
        let served = |variation: Option<String>, value: Value| json!([variation, value]);
        let checkout = sdk.bool_detail("checkout", &user, false);
        let banner = sdk.string_detail("banner", &user, "?");
        let limit = sdk.number_detail("limit", &user, -1.0);
        let theme = sdk.json_detail("theme", &user, Value::Null);
        let beta = sdk.bool_detail("beta-search", &user, false);
        let release = sdk.bool_detail("new-checkout", &user, false);
        evaluations.push(json!({
            "context": context,
            "checkout": served(checkout.variation, json!(checkout.value)),
            "banner": served(banner.variation, json!(banner.value)),
            "limit": served(limit.variation, json!(limit.value)),
            "theme": served(theme.variation, theme.value),
            "beta-search": served(beta.variation, json!(beta.value)),
            "new-checkout": served(release.variation, json!(release.value)),
        }));
    }
    sdk.close().await;
    json!({
        "projects": keys(&get("/api/v1/projects".into()).await, "key"),
        "flags": flags,
        "segments": segments.as_array().unwrap().iter()
            .map(|s| json!({"key": s["key"], "version": s["version"], "included": s["included"]}))
            .collect::<Vec<_>>(),
        "accounts": accounts.as_array().unwrap().iter()
            .map(|a| json!({"name": a["name"], "roles": a["roles"], "disabled": a["disabled"]}))
            .collect::<Vec<_>>(),
        "roles": keys(&roles, "name"),
        "tokens": keys(&tokens, "name"),
        "sdk_keys": sdk_keys.as_array().unwrap().iter()
            .map(|k| json!({"id": k["id"], "kind": k["kind"]}))
            .collect::<Vec<_>>(),
        "release": {"flag": release["flag"], "state": release["state"], "stage": release["stage"],
                    "history": keys(&release["history"], "event")},
        "limit_evaluations": evaluation_total(&limit_evaluations),
        "limit_metrics": limit_metrics,
        "limit_exposures": exposures.as_array().map_or(0, Vec::len),
        "evaluations": evaluations,
    })
}

/// The audit chain's length, after checking that it verifies.
async fn audit_length(server: &TestServer) -> u64 {
    let report = server.admin_get("/api/v1/audit/verify").await;
    assert_eq!(report["ok"], true, "{report}");
    report["records"].as_u64().unwrap()
}

/// Starts today's server on a database holding a fixture and checks it against `expected`.
async fn check_upgrade(url: &str, expected: &Value) {
    let secrets = &expected["secrets"];
    let server = TestServer::in_process(url)
        .admin(secrets["admin"].as_str().unwrap())
        .start()
        .await;
    let store = Store::open(url).await.unwrap();
    assert!(store.ready().await.unwrap(), "every migration applied");
    store.close().await;
    let observed = observe(&server, secrets).await;
    assert_eq!(
        observed, expected["observed"],
        "reads and evaluations after the upgrade"
    );
    // The old chain is intact under whatever the upgrade appended.
    let report = server.admin_get("/api/v1/audit/verify").await;
    assert_eq!(report["ok"], true, "{report}");
    let old_records = expected["audit_records"].as_u64().unwrap();
    assert!(
        report["records"].as_u64().unwrap() >= old_records,
        "{report}"
    );
    // The old credentials still work: a sign-in with the account's password, the client key.
    let (status, token) = server
        .call(
            None,
            Method::POST,
            "/api/v1/auth/token",
            Some(json!({"account": secrets["account"], "password": secrets["password"]})),
        )
        .await;
    assert!(status.is_success(), "{status} {token}");
    let answer = reqwest::Client::new()
        .post(format!("{}/ofrep/v1/evaluate/flags/checkout", server.base))
        .header("x-api-key", secrets["client_key"].as_str().unwrap())
        .json(&json!({"context": {"targetingKey": "alice"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200, "the client key still works");
    let answer: Value = answer.json().await.unwrap();
    assert_eq!(answer["value"], true, "{answer}");
    // Writes work on the upgraded data, and are audited on the old chain.
    let before = audit_length(&server).await;
    server
        .admin_post(
            &format!("{PROD}/flags/checkout/toggle"),
            json!({"on": false, "comment": "after the upgrade"}),
        )
        .await;
    assert_eq!(audit_length(&server).await, before + 1);
    server.stop().await;
}

fn read_fixture(name: &str) -> String {
    let path = fixture_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// What the fixtures hold and read as (`expected.json`), per backend (`sqlite`, `postgres`).
pub(crate) fn expected() -> Value {
    serde_json::from_str(&read_fixture("expected.json")).unwrap()
}

/// A SQLite database in `dir` (made afresh) holding the SQLite fixture: its URL.
pub(crate) async fn sqlite_fixture_database(dir: &Path) -> String {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let url = format!("sqlite://{}/old.db", dir.display());
    let mut conn =
        <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!("{url}?mode=rwc"))
            .await
            .unwrap();
    sqlx::raw_sql(&read_fixture("sqlite.sql"))
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::Connection::close(conn).await.unwrap();
    url
}

/// A fresh database of `cluster` holding the PostgreSQL fixture (loaded by `psql`: a
/// `pg_dump` script has `psql` commands in it): its URL.
pub(crate) fn postgres_fixture_database(cluster: &TempCluster) -> String {
    let url = cluster.create_database();
    cluster.run_sql(&url, &read_fixture("postgres.sql"));
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_sqlite() {
    let dir = std::env::temp_dir().join(format!("switchyard-upgrade-{}", std::process::id()));
    let url = sqlite_fixture_database(&dir).await;
    check_upgrade(&url, &expected()["sqlite"]).await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_postgres() {
    let Some(cluster) = TempCluster::start() else {
        return;
    };
    let url = postgres_fixture_database(&cluster);
    check_upgrade(&url, &expected()["postgres"]).await;
}

/// Writes `testdata/upgrade/`: the same data through today's server on SQLite and on
/// PostgreSQL, dumped, with what the checks expect (`testdata/upgrade/generate.sh`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes the upgrade fixtures; run by testdata/upgrade/generate.sh"]
async fn generate_upgrade_fixtures() {
    let out = fixture_dir();
    std::fs::create_dir_all(&out).unwrap();
    let dir = std::env::temp_dir().join(format!("switchyard-fixture-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let sqlite_path = dir.join("fixture.db");
    let sqlite = TestServer::in_process(&format!("sqlite://{}", sqlite_path.display()))
        .start()
        .await;
    let sqlite_secrets = populate(&sqlite).await;
    let observed = observe(&sqlite, &sqlite_secrets).await;
    let audit_records = audit_length(&sqlite).await;
    sqlite.stop().await;

    let cluster = TempCluster::start().expect("PostgreSQL, to write its fixture");
    let pg_url = cluster.create_database();
    let postgres = TestServer::in_process(&pg_url).start().await;
    let pg_secrets = populate(&postgres).await;
    let pg_observed = observe(&postgres, &pg_secrets).await;
    let pg_records = audit_length(&postgres).await;
    postgres.stop().await;
    assert_eq!(
        pg_records, audit_records,
        "the same writes on either backend"
    );

    let dump = std::process::Command::new("sqlite3")
        .arg(&sqlite_path)
        .arg(".dump")
        .output()
        .expect("sqlite3, to dump the SQLite fixture");
    assert!(dump.status.success());
    std::fs::write(out.join("sqlite.sql"), dump.stdout).unwrap();
    std::fs::write(out.join("postgres.sql"), cluster.dump(&pg_url)).unwrap();
    let schema_version =
        switchyard_store::migrations::for_backend(switchyard_store::Backend::Sqlite)
            .last()
            .map(|m| m.version);
    let expected = json!({
        "about": "Written by generate_upgrade_fixtures (crates/server/tests/server/upgrade.rs)",
        "schema_version": schema_version,
        "sqlite": {"secrets": sqlite_secrets, "observed": observed,
                   "audit_records": audit_records},
        "postgres": {"secrets": pg_secrets, "observed": pg_observed,
                     "audit_records": pg_records},
    });
    std::fs::write(
        out.join("expected.json"),
        serde_json::to_string_pretty(&expected).unwrap() + "\n",
    )
    .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
