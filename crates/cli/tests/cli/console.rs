//! The web console in a real headless Chromium (Debian's `chromium`, driven by playwright-core
//! from `clients/console-e2e`, both installed by `.ci/run`) against the `switchyard` binary:
//! sign in, create a flag, add a rule, toggle it in one (critical) environment, see another
//! person's change arrive live and a concurrent edit refused, find the change in the audit log,
//! edit segments, flag settings and a JSON flag's schema-checked values, start a release and
//! watch a release's chart, a writer refused an SDK key, a phone-width layout, a reader's
//! read-only flag and setup pages, an administrator's projects, environments, accounts and
//! roles, the SDK setup page (snippets naming this server and the environment, a copy read
//! back from the clipboard, the allowed origins edited), change requests approved, revised,
//! scheduled and unscheduled on their page, and a flag's end dates: a "turn off" scheduled a few
//! seconds ahead on the flag page, applied by the running server at its time. Screenshots go
//! to `target/console-screenshots`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::serve_fresh;
use serde_json::{Value, json};
use switchyard_testkit::server::{Method, TestServer};

const PASSWORD: &str = "correct horse battery staple";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_in_headless_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let harness = root.join("clients/console-e2e");
    let chromium = std::env::var("CHROMIUM").unwrap_or("/usr/bin/chromium".into());
    if !harness.join("node_modules/playwright-core").exists() || !Path::new(&chromium).exists() {
        switchyard_testkit::skip(
            "the console test needs Debian's chromium and npm ci --prefix clients/console-e2e",
        );
        return;
    }
    let (mut server, dir) = serve_fresh("console").await;
    let token = server.first_start_token.clone().unwrap();
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str, body: Value| {
        let request = http
            .request(method, format!("{}/api/v1{path}", server.base))
            .bearer_auth(&token)
            .json(&body);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            let body: Value = response.json().await.unwrap();
            assert!(status.is_success(), "{status} {body}");
            body
        }
    };
    for (name, role) in [
        ("editor", "writer"),
        ("viewer", "reader"),
        ("owner", "admin"),
    ] {
        call(
            reqwest::Method::POST,
            "/accounts",
            json!({"name": name, "password": PASSWORD, "roles": [role]}),
        )
        .await;
    }
    // A release to watch: a flag ramped by the guard, so its chart has decisions to mark.
    call(
        reqwest::Method::POST,
        "/projects/default/flags",
        json!({"key": "new-search", "kind": "boolean"}),
    )
    .await;
    call(
        reqwest::Method::PUT,
        "/projects/default/environments/production/flags/new-search",
        json!({"version": 0, "on": true, "off_variation": 1, "fallthrough": {"variation": 1}}),
    )
    .await;
    let release = call(
        reqwest::Method::POST,
        "/projects/default/environments/production/releases",
        json!({"flag": "new-search", "variation": "on",
               "stages": [{"percent": 5, "min_bake_s": 3600}],
               "guardrails": [{"metric": "error"}]}),
    )
    .await;
    let release_id = release["id"].as_str().unwrap();

    let shots = root.join("target/console-screenshots");
    let output = Command::new("node")
        .arg(harness.join("console.mjs"))
        .args([&server.base, &token, release_id])
        .arg(&shots)
        .env("CHROMIUM", &chromium)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "console run failed (screenshots in {}):\n{stdout}\n{stderr}",
        shots.display()
    );
    assert!(stdout.starts_with("OK "), "{stdout}");
    assert!(shots.join("02-flag-created.png").exists());

    // What the browser did went through the API: audited, by the accounts that did it.
    // The accounts behind `action`'s records (with `outcome`) on resources under `prefix`.
    let actors = |prefix: &str, action: &'static str, outcome: &'static str| {
        let page = call(
            reqwest::Method::GET,
            &format!("/audit?resource={prefix}"),
            Value::Null,
        );
        async move {
            let page = page.await;
            let accounts: Vec<String> = page["records"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r["action"] == action && r["outcome"] == outcome)
                .filter_map(|r| r["actor"]["account"].as_str().map(str::to_owned))
                .collect();
            accounts
        }
    };
    let flag = "proj/default:env/production:flag/console-flag";
    // (resource, action, outcome, an actor that must be among those audited; `None`: nobody).
    let audited = [
        (flag, "flag:update", "allowed", Some("editor")),
        // The writer's refused SDK key: the server's check, shown in the page, audited.
        (
            "proj/default:env/production:sdk-key",
            "sdk-key:create",
            "denied",
            Some("editor"),
        ),
        // The reader's disabled controls sent nothing.
        (flag, "flag:toggle", "denied", None),
        // The audit page checks the chain only for those allowed to: no audited refusal.
        ("audit", "audit:verify", "denied", None),
        // The administrator's changes too: the critical staging toggle and the new account.
        (
            "proj/default:env/staging:flag/console-flag",
            "flag:toggle",
            "allowed",
            Some("owner"),
        ),
        // The scheduled turn-off, applied by the runner as its author's change.
        (
            "proj/default:env/production:flag/promo",
            "flag:toggle",
            "allowed",
            Some("owner"),
        ),
        (
            "account/colleague",
            "account:create",
            "allowed",
            Some("owner"),
        ),
    ];
    for (resource, action, outcome, actor) in audited {
        let actors = actors(resource, action, outcome).await;
        match actor {
            Some(actor) => assert!(
                actors.contains(&actor.into()),
                "{resource} {action} {outcome}: {actors:?}"
            ),
            None => assert_eq!(actors, Vec::<String>::new()),
        }
    }

    server.kill();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The console's Chromium harness (`clients/console-e2e`), shared by the console tests.
pub(crate) struct Chromium {
    root: PathBuf,
    harness: PathBuf,
    chromium: String,
}

/// The harness, or `None` after a skip notice when this machine lacks Chromium or the harness's
/// packages (under `CI=true` the skip fails instead).
pub(crate) fn chromium_or_skip() -> Option<Chromium> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let harness = root.join("clients/console-e2e");
    let chromium = std::env::var("CHROMIUM").unwrap_or("/usr/bin/chromium".into());
    if !harness.join("node_modules/playwright-core").exists() || !Path::new(&chromium).exists() {
        switchyard_testkit::skip(
            "the console test needs Debian's chromium and npm ci --prefix clients/console-e2e",
        );
        return None;
    }
    Some(Chromium {
        root,
        harness,
        chromium,
    })
}

impl Chromium {
    /// Runs `script` with `args` and a screenshot directory (`target/<shots>`), failing with
    /// its output and where the screenshots are unless it exits 0 printing `OK `; its stdout.
    pub(crate) fn run(&self, script: &str, args: &[&str], shots: &str) -> String {
        let shots = self.root.join("target").join(shots);
        let output = Command::new("node")
            .arg(self.harness.join(script))
            .args(args)
            .arg(&shots)
            .env("CHROMIUM", &self.chromium)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "console run failed (screenshots in {}):\n{stdout}\n{stderr}",
            shots.display()
        );
        assert!(stdout.starts_with("OK "), "{stdout}");
        stdout
    }
}

/// A token of a new `viewer` account holding only the reader role.
pub(crate) async fn reader_token(server: &TestServer) -> String {
    server
        .admin_post(
            "/api/v1/accounts",
            json!({"name": "viewer", "password": PASSWORD, "roles": ["reader"]}),
        )
        .await;
    let token: Value = server
        .client()
        .call(
            Method::POST,
            "/api/v1/auth/token",
            Some(json!({"account": "viewer", "password": PASSWORD, "token_name": "console"})),
        )
        .await
        .map(|(status, body)| {
            assert!(status.is_success(), "{status} {body}");
            body
        })
        .unwrap();
    token["token"].as_str().unwrap().to_owned()
}
