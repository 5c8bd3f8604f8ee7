//! Every `switchyard` subcommand, run as a user runs it: the real binary against one real
//! `switchyard serve` (SQLite), checking its output, its exit status and what changed on the
//! server. [`COMMANDS`] is the one list of subcommands; `every_subcommand_is_in_the_table` reads
//! `switchyard --help` recursively and fails on a subcommand the list does not name, and
//! `every_subcommand_against_a_real_server` fails unless it ran each listed one successfully.

mod config;
mod data;
mod definitions;
mod delivery;
mod experiment_results;
mod experiments;
mod governance;
mod promote;
mod release_plans;
mod schedules;

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};
use switchyard_testkit::server::{Method, StatusCode, TestServer};

use crate::{BIN, serve_fresh};

/// Every subcommand (as `switchyard --help` names it, nested ones after their parent).
const COMMANDS: &[&str] = &[
    "serve",
    "relay",
    "eval",
    "validate",
    "flags list",
    "flags get",
    "flags create",
    "flags toggle",
    "flags target",
    "flags delete",
    "flags archive",
    "flags restore",
    "flags stale",
    "flags remove-targets",
    "flags promote",
    "segments list",
    "segments get",
    "segments apply",
    "segments delete",
    "envs list",
    "envs create",
    "envs update",
    "envs delete",
    "envs compare",
    "tokens list",
    "tokens create",
    "tokens revoke",
    "import",
    "exposures",
    "metrics",
    "release start",
    "release status",
    "release list",
    "release pause",
    "release resume",
    "release advance",
    "release rollback",
    "release abort",
    "release-plans create",
    "release-plans list",
    "release-plans show",
    "release-plans pause",
    "release-plans resume",
    "release-plans abort",
    "experiments results",
    "experiments list",
    "experiments create",
    "experiments show",
    "experiments start",
    "experiments stop",
    "experiments ship",
    "experiments metrics list",
    "experiments metrics create",
    "experiments metrics show",
    "experiments metrics delete",
    "kill",
    "change-requests list",
    "change-requests show",
    "change-requests approve",
    "change-requests reject",
    "change-requests withdraw",
    "change-requests apply",
    "change-requests schedule",
    "schedule toggle",
    "schedule remove-targets",
    "schedule targeting",
    "export",
    "plan",
    "apply",
    "config schema",
    "audit verify",
    "audit export",
    "audit verify-export",
    "openapi",
];

const PROJECT: &str = "/api/v1/projects/default";

/// The subcommands `switchyard <path> --help` lists (clap's own `help` aside), recursively;
/// a command with subcommands is named by its leaves only.
fn subcommands_of(path: &[String], found: &mut BTreeSet<String>) {
    let help = Command::new(BIN).args(path).arg("--help").output().unwrap();
    assert!(help.status.success(), "{path:?} --help");
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    let names: Vec<String> = help
        .lines()
        .skip_while(|line| line.trim() != "Commands:")
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect();
    if names.is_empty() {
        found.insert(path.join(" "));
    }
    for name in names {
        let mut child = path.to_vec();
        child.push(name);
        subcommands_of(&child, found);
    }
}

#[test]
fn every_subcommand_is_in_the_table() {
    let mut found = BTreeSet::new();
    subcommands_of(&[], &mut found);
    let listed: BTreeSet<String> = COMMANDS.iter().map(|c| c.to_string()).collect();
    let untested: Vec<_> = found.difference(&listed).collect();
    assert!(
        untested.is_empty(),
        "subcommands without a test in commands.rs: {untested:?}"
    );
    let gone: Vec<_> = listed.difference(&found).collect();
    assert!(gone.is_empty(), "listed but not in --help: {gone:?}");
}

/// What a run printed and how it ended.
struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// The CLI pointed at one server (through `SWITCHYARD_URL` and `SWITCHYARD_TOKEN`, as a user
/// configures it), remembering which subcommands succeeded.
struct Cli {
    base: String,
    token: String,
    succeeded: RefCell<BTreeSet<&'static str>>,
}

impl Cli {
    fn run(&self, args: &[&str]) -> Ran {
        let Output {
            status,
            stdout,
            stderr,
        } = Command::new(BIN)
            .args(args)
            .env("SWITCHYARD_URL", &self.base)
            .env("SWITCHYARD_TOKEN", &self.token)
            .output()
            .unwrap();
        let ran = Ran {
            code: status.code(),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        };
        if ran.code == Some(0) {
            // The longest listed command the arguments start with.
            let command = COMMANDS
                .iter()
                .filter(|c| {
                    let words: Vec<&str> = c.split(' ').collect();
                    args.starts_with(&words)
                })
                .max_by_key(|c| c.len());
            if let Some(command) = command {
                self.succeeded.borrow_mut().insert(command);
            }
        }
        ran
    }

    /// Runs `args`, failing the test unless it exits 0: what it printed.
    fn ok(&self, args: &[&str]) -> String {
        let ran = self.run(args);
        assert_eq!(ran.code, Some(0), "{args:?}: {}{}", ran.stdout, ran.stderr);
        ran.stdout
    }

    /// Runs `args` with `--output json`, failing the test unless it exits 0: the JSON printed.
    fn json(&self, args: &[&str]) -> Value {
        let args = [args, &["--output", "json"]].concat();
        let out = self.ok(&args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    }

    /// Runs `args`, failing the test unless it exits with `code`: what it said on stderr.
    fn fails(&self, args: &[&str], code: i32) -> String {
        let ran = self.run(args);
        assert_eq!(
            ran.code,
            Some(code),
            "{args:?}: {}{}",
            ran.stdout,
            ran.stderr
        );
        ran.stderr
    }
}

fn write(dir: &Path, name: &str, content: &Value) -> String {
    let path = dir.join(name);
    std::fs::write(&path, content.to_string()).unwrap();
    path.to_string_lossy().into_owned()
}

fn repo(path: &str) -> String {
    format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"))
}

/// The status of `GET path` as the admin.
async fn status_of(server: &TestServer, path: &str) -> StatusCode {
    let (status, _) = server
        .call(Some(&server.admin), Method::GET, path, None)
        .await;
    status
}

/// One OFREP evaluation on `base` with an SDK `key`: the answer.
async fn ofrep(base: &str, key: &str, flag: &str, context: &Value) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{base}/ofrep/v1/evaluate/flags/{flag}"))
        .bearer_auth(key)
        .json(&json!({ "context": context }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{flag} {context}");
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_subcommand_against_a_real_server() {
    // `serve` itself: the binary on a fresh data directory, ready once `start` returns.
    let (mut server, dir) = serve_fresh("cli-commands").await;
    std::fs::create_dir_all(&dir).unwrap();
    server.seed_delivery_flags().await;
    let cli = Cli {
        base: server.base.clone(),
        token: server.admin.clone(),
        succeeded: RefCell::new(BTreeSet::from(["serve"])),
    };

    definitions::flags(&cli, &server, &dir).await;
    definitions::segments(&cli, &server, &dir).await;
    definitions::envs(&cli, &server).await;
    promote::environments_side_by_side(&cli, &server).await;
    definitions::tokens(&cli, &server, &dir).await;
    data::imports_and_offline_evaluation(&cli, &server, &dir).await;
    delivery::events(&cli, &server).await;
    delivery::releases(&cli, &server).await;
    delivery::relay(&cli, &server, &dir).await;
    governance::change_requests(&cli, &server).await;
    schedules::scheduled_changes(&cli, &server, &dir).await;
    release_plans::release_plans(&cli).await;
    experiments::experiments(&cli, &server, &dir).await;
    experiment_results::experiment_results(&cli, &server).await;
    config::config_as_code(&cli, &server, &dir).await;

    let document = cli.ok(&["openapi"]);
    let document: Value = serde_json::from_str(&document).unwrap();
    assert_eq!(
        document,
        server.admin_get("/api/v1/openapi.json").await,
        "the CLI prints the document the server serves"
    );

    // The audit log holds what the commands did, with their comments; `audit verify` reads
    // the database itself, so the server stops first.
    let audit = server.admin_get("/api/v1/audit?limit=500").await;
    let records = audit["records"].as_array().unwrap();
    assert!(
        records
            .iter()
            .any(|r| r["action"] == "flag:toggle" && r["comment"] == "launch"),
        "{audit}"
    );
    // `audit export` through the API, checked offline with the server's public key.
    let exported = dir.join("audit.jsonl").to_string_lossy().into_owned();
    cli.ok(&["audit", "export", "--out", &exported]);
    let verified = server.admin_get("/api/v1/audit/verify").await;
    let key = verified["public_key"].as_str().unwrap();
    let report = cli.ok(&["audit", "verify-export", &exported, "--public-key", key]);
    let report: Value = serde_json::from_str(&report).unwrap();
    assert_eq!(
        (&report["ok"], &report["records"]),
        (&json!(true), &verified["records"])
    );
    server.kill();
    let data_dir = dir.to_str().unwrap();
    let report: Value =
        serde_json::from_str(&cli.ok(&["audit", "verify", "--data-dir", data_dir])).unwrap();
    assert_eq!(report["ok"], true, "{report}");
    assert!(
        report["records"].as_u64().unwrap() >= records.len() as u64,
        "{report}"
    );

    let succeeded = cli.succeeded.borrow();
    let missing: Vec<_> = COMMANDS
        .iter()
        .filter(|c| !succeeded.contains(*c))
        .collect();
    assert!(missing.is_empty(), "never run successfully: {missing:?}");
    std::fs::remove_dir_all(&dir).ok();
}
