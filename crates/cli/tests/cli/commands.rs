//! Every `switchyard` subcommand, run as a user runs it: the real binary against one real
//! `switchyard serve` (SQLite), checking its output, its exit status and what changed on the
//! server. [`COMMANDS`] is the one list of subcommands; `every_subcommand_is_in_the_table` reads
//! `switchyard --help` recursively and fails on a subcommand the list does not name, and
//! `every_subcommand_against_a_real_server` fails unless it ran each listed one successfully.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use switchyard_sdk::{Client as Sdk, Context, EventsConfig};
use switchyard_testkit::server::{
    Method, SdkKeyKind, StatusCode, TestServer, eventually, free_port, wait_for,
};

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
    "segments list",
    "segments get",
    "segments apply",
    "segments delete",
    "envs list",
    "envs create",
    "envs delete",
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
    "kill",
    "audit verify",
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

    flags(&cli, &server, &dir).await;
    segments(&cli, &server, &dir).await;
    envs(&cli, &server).await;
    tokens(&cli, &server, &dir).await;
    imports_and_offline_evaluation(&cli, &server, &dir).await;
    events(&cli, &server).await;
    releases(&cli, &server).await;
    relay(&cli, &server, &dir).await;

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

/// `flags list/get/create/toggle/target/delete`.
async fn flags(cli: &Cli, server: &TestServer, dir: &Path) {
    let table = cli.ok(&["flags", "list"]);
    assert!(table.starts_with("KEY"), "{table}");
    let checkout = table.lines().find(|l| l.starts_with("checkout ")).unwrap();
    assert!(checkout.contains("production:on"), "{table}");
    let listed = cli.json(&["flags", "list"]);
    assert_eq!(listed.as_array().unwrap().len(), 4, "{listed}");
    let found = cli.json(&["flags", "list", "--q", "bann"]);
    assert_eq!(found.as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found[0]["key"], "banner");
    let banner = cli.json(&["flags", "get", "banner"]);
    assert_eq!(banner["off_variation"], "plain");
    assert_eq!(
        banner,
        server.admin_get(&format!("{PROJECT}/flags/banner")).await
    );
    cli.fails(&["flags", "get", "nope"], 2);

    let created = cli.json(&["flags", "create", "beta", "--comment", "try it"]);
    assert_eq!(
        (&created["kind"], &created["off_variation"]),
        (&json!("boolean"), &json!("off"))
    );
    assert_eq!(
        server.admin_get(&format!("{PROJECT}/flags/beta")).await["kind"],
        "boolean"
    );
    // Strict input: a misspelt field in the file is refused before anything is sent.
    let typo = write(dir, "typo.json", &json!({"kind": "boolean", "tagz": ["x"]}));
    let refused = cli.fails(&["flags", "create", "typo", "--file", &typo], 2);
    assert!(refused.contains("unknown field `tagz`"), "{refused}");
    assert_eq!(
        status_of(server, &format!("{PROJECT}/flags/typo")).await,
        404
    );

    let targeting = format!("{PROJECT}/environments/production/flags/beta");
    let refused = cli.fails(&["flags", "toggle", "beta", "--env", "production"], 2);
    assert!(refused.contains("--on"), "a toggle never flips: {refused}");
    let out = cli.ok(&[
        "flags",
        "toggle",
        "beta",
        "--env",
        "production",
        "--on",
        "--comment",
        "launch",
    ]);
    assert!(
        out.starts_with("beta is ON in production (version "),
        "{out}"
    );
    assert_eq!(server.admin_get(&targeting).await["on"], true);
    let out = cli.ok(&["flags", "toggle", "beta", "--env", "production", "--off"]);
    assert!(out.contains("beta is OFF in production"), "{out}");
    assert!(out.contains("everyone gets off (false)"), "{out}");
    assert_eq!(server.admin_get(&targeting).await["on"], false);

    let rules = json!({"on": true, "off_variation": 1, "fallthrough": {"variation": 1},
        "rules": [{"id": "de", "condition": {"attribute": "country", "op": "in", "values": ["DE"]},
                   "serve": {"variation": 0}}]});
    let file = write(dir, "targeting.json", &rules);
    let target = [
        "flags",
        "target",
        "beta",
        "--env",
        "production",
        "--file",
        &file,
    ];
    let answer = cli.json(&target);
    assert_eq!(answer["rules"][0]["id"], "de");
    let stored = server.admin_get(&targeting).await;
    assert_eq!(
        (&stored["on"], &stored["rules"][0]["id"]),
        (&json!(true), &json!("de"))
    );
    let typo = write(
        dir,
        "typo-targeting.json",
        &json!({"on": true, "rulez": []}),
    );
    let target = [
        "flags",
        "target",
        "beta",
        "--env",
        "production",
        "--file",
        &typo,
    ];
    let refused = cli.fails(&target, 2);
    assert!(refused.contains("unknown field `rulez`"), "{refused}");
    assert_eq!(
        server.admin_get(&targeting).await["version"],
        stored["version"]
    );

    cli.json(&["flags", "delete", "beta", "--comment", "done"]);
    assert_eq!(
        status_of(server, &format!("{PROJECT}/flags/beta")).await,
        404
    );
}

/// `segments apply/list/get/delete`: apply creates, then replaces.
async fn segments(cli: &Cli, server: &TestServer, dir: &Path) {
    let stored = format!("{PROJECT}/environments/production/segments/staff");
    let staff = json!({"key": "staff", "included": [{"kind": "user", "values": ["ann"]}]});
    let file = write(dir, "staff.json", &staff);
    let apply = ["segments", "apply", "--env", "production", "--file", &file];
    let created = cli.json(&apply);
    assert_eq!(created["version"], 1, "{created}");
    let staff = json!({"key": "staff", "included": [{"kind": "user", "values": ["ann", "ben"]}]});
    write(dir, "staff.json", &staff);
    let replaced = cli.json(&apply);
    assert_eq!(replaced["version"], 2, "{replaced}");
    let segment = server.admin_get(&stored).await;
    assert_eq!(segment["included"][0]["values"], json!(["ann", "ben"]));

    let table = cli.ok(&["segments", "list", "--env", "production"]);
    let row: Vec<&str> = table.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(row, ["staff", "1", "0", "2"], "{table}");
    let got = cli.json(&["segments", "get", "staff", "--env", "production"]);
    assert_eq!(got, segment);
    let typo = write(
        dir,
        "typo-segment.json",
        &json!({"key": "staff", "includedd": []}),
    );
    let refused = cli.fails(
        &["segments", "apply", "--env", "production", "--file", &typo],
        2,
    );
    assert!(refused.contains("unknown field `includedd`"), "{refused}");

    cli.json(&["segments", "delete", "staff", "--env", "production"]);
    assert_eq!(status_of(server, &stored).await, 404);
}

/// `envs list/create/delete`.
async fn envs(cli: &Cli, server: &TestServer) {
    let table = cli.ok(&["envs", "list"]);
    let keys: Vec<&str> = table
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(keys, ["production", "staging"], "{table}");
    let created = cli.json(&["envs", "create", "qa", "--name", "QA"]);
    assert_eq!(
        (&created["key"], &created["name"]),
        (&json!("qa"), &json!("QA"))
    );
    let listed = server.admin_get(&format!("{PROJECT}/environments")).await;
    assert!(
        listed.as_array().unwrap().iter().any(|e| e["key"] == "qa"),
        "{listed}"
    );
    let deleted = cli.json(&["envs", "delete", "qa"]);
    assert_eq!(deleted["deleted"], "proj/default:env/qa");
    assert_eq!(
        status_of(server, &format!("{PROJECT}/environments/qa")).await,
        404
    );
}

/// `tokens create/list/revoke`: a scoped token can do what its statements allow and no more,
/// and a revoked one nothing.
async fn tokens(cli: &Cli, server: &TestServer, dir: &Path) {
    let refused = cli.fails(&["tokens", "create", "vague"], 2);
    assert!(refused.contains("--scope-file"), "{refused}");
    let scope = json!([{"effect": "allow", "actions": ["flag:read"], "resources": ["**"]}]);
    let scope = write(dir, "scope.json", &scope);
    let created = cli.run(&["tokens", "create", "reader", "--scope-file", &scope]);
    assert_eq!(created.code, Some(0), "{}", created.stderr);
    let secret = created.stdout.trim().to_owned();
    assert!(secret.starts_with("syt_"), "{secret}");
    assert!(
        created.stderr.contains("shown only once"),
        "{}",
        created.stderr
    );
    let flags = format!("{PROJECT}/flags");
    let reader = server.client_as(Some(&secret));
    let (status, _) = reader.call(Method::GET, &flags, None).await.unwrap();
    assert_eq!(status, 200);
    let create = Some(json!({"key": "nope", "kind": "boolean"}));
    let (status, _) = reader.call(Method::POST, &flags, create).await.unwrap();
    assert_eq!(status, 403, "the scope allows reading only");

    let unscoped = cli.json(&[
        "tokens",
        "create",
        "ci",
        "--unscoped",
        "--expires-in-days",
        "7",
    ]);
    assert!(unscoped["token"].as_str().unwrap().starts_with("syt_"));
    let week_ms = 7 * 24 * 3_600_000;
    let lifetime =
        unscoped["expires_at_ms"].as_i64().unwrap() - unscoped["created_at_ms"].as_i64().unwrap();
    assert_eq!(lifetime, week_ms, "{unscoped}");

    let listed = cli.json(&["tokens", "list"]);
    let names: BTreeSet<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        names.is_superset(&BTreeSet::from(["bootstrap", "reader", "ci"])),
        "{listed}"
    );
    let table = cli.ok(&["tokens", "list"]);
    let reader_row = table.lines().find(|l| l.contains(" reader ")).unwrap();
    assert!(reader_row.ends_with("true"), "scoped: {table}");

    let id = secret.split('_').nth(1).unwrap();
    cli.json(&["tokens", "revoke", id]);
    let (status, _) = reader.call(Method::GET, &flags, None).await.unwrap();
    assert_eq!(status, 401, "a revoked token is refused");
}

/// `import` of native YAML and JSON, LaunchDarkly and Unleash data into `staging`, and
/// `eval`/`validate` on the same files: what the server serves is what `eval` says offline.
async fn imports_and_offline_evaluation(cli: &Cli, server: &TestServer, dir: &Path) {
    let yaml = repo("examples/flags.yaml");
    let out = cli.ok(&["import", "--data", &yaml, "--env", "staging"]);
    assert_eq!(
        out.trim(),
        "imported 2 flags and 1 segments into default/staging"
    );
    let staging = format!("{PROJECT}/environments/staging");
    let imported = server
        .admin_get(&format!("{staging}/flags/new-checkout"))
        .await;
    let rule_ids: Vec<&Value> = imported["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["id"])
        .collect();
    assert_eq!(
        rule_ids,
        [&json!("staff"), &json!("beta"), &json!("eu-gold")]
    );
    let beta = server.admin_get(&format!("{staging}/segments/beta")).await;
    assert_eq!(beta["included"][0]["values"], json!(["carol"]));
    // Production keeps its own targeting: the flag is new there, and off.
    let production = format!("{PROJECT}/environments/production/flags/new-checkout");
    assert_eq!(server.admin_get(&production).await["on"], false);

    // Native JSON, with a prerequisite (the conformance files hold deliberately broken flags,
    // which the server refuses).
    let native = json!({"segments": [], "flags": [
        {"key": "plan", "kind": "string", "on": true, "off_variation": 0,
         "variations": [{"key": "free", "value": "free"}, {"key": "pro", "value": "pro"}],
         "targets": [{"kind": "user", "variation": 1, "values": ["pat"]}],
         "fallthrough": {"variation": 0}},
        {"key": "pro-tools", "kind": "boolean", "on": true, "off_variation": 0,
         "variations": [{"key": "off", "value": false}, {"key": "on", "value": true}],
         "prerequisites": [{"key": "plan", "variation": 1}], "fallthrough": {"variation": 1}}]});
    let native_json = write(dir, "native.json", &native);
    let summary = cli.json(&["import", "--data", &native_json, "--env", "staging"]);
    assert_eq!(
        (&summary["flags"], &summary["environment"]),
        (&json!(2), &json!("staging"))
    );
    let plan = server.admin_get(&format!("{PROJECT}/flags/plan")).await;
    assert_eq!(plan["off_variation"], "free", "{plan}");
    let gate = server
        .admin_get(&format!("{staging}/flags/pro-tools"))
        .await;
    assert_eq!(gate["prerequisites"][0]["key"], "plan", "{gate}");

    let launchdarkly = write(
        dir,
        "launchdarkly.json",
        &json!({
        "flags": {
            "ld-checkout": {"key": "ld-checkout", "on": true, "variations": [false, true],
                "offVariation": 0, "fallthrough": {"variation": 0},
                "targets": [{"values": ["alice"], "variation": 1}],
                "rules": [{"id": "beta", "variation": 1, "clauses": [
                    {"attribute": "key", "op": "segmentMatch", "values": ["ld-beta"], "negate": false}]}],
                "prerequisites": [], "salt": "s1", "version": 4},
            "ld-banner": {"key": "ld-banner", "on": false, "variations": ["hello", "hallo"],
                "offVariation": 1, "fallthrough": {"variation": 0}, "targets": [], "rules": [],
                "prerequisites": [{"key": "ld-checkout", "variation": 1}], "salt": "s2", "version": 1}},
        "segments": {"ld-beta": {"key": "ld-beta", "included": ["bob"], "excluded": [],
            "rules": [], "salt": "x", "version": 1}}}),
    );
    let out = cli.ok(&[
        "import",
        "--data",
        &launchdarkly,
        "--format",
        "launchdarkly",
        "--env",
        "staging",
    ]);
    assert_eq!(
        out.trim(),
        "imported 2 flags and 1 segments into default/staging"
    );
    assert_eq!(
        server
            .admin_get(&format!("{PROJECT}/flags/ld-banner"))
            .await["off_variation"],
        "1"
    );
    assert_eq!(
        server
            .admin_get(&format!("{staging}/segments/ld-beta"))
            .await["key"],
        "ld-beta"
    );

    let unleash = write(
        dir,
        "unleash.json",
        &json!({"version": 2, "segments": [], "features": [
        {"name": "un-search", "enabled": true, "variants": [], "strategies": [{"name": "flexibleRollout",
            "parameters": {"rollout": "100", "stickiness": "default", "groupId": "un-search"},
            "constraints": [{"contextName": "country", "operator": "IN", "values": ["DE"]}]}]},
        {"name": "un-dark", "enabled": false, "strategies": [{"name": "default", "parameters": {}}]}]}),
    );
    let summary = cli.json(&[
        "import", "--data", &unleash, "--format", "unleash", "--env", "staging",
    ]);
    assert_eq!(
        (&summary["flags"], &summary["segments"]),
        (&json!(2), &json!(0)),
        "{summary}"
    );
    assert_eq!(
        server.admin_get(&format!("{staging}/flags/un-dark")).await["on"],
        false
    );

    // Each file is valid, and a broken one is refused with its field and exit status 1.
    for (file, format) in [
        (&yaml, "native"),
        (&native_json, "native"),
        (&launchdarkly, "launchdarkly"),
        (&unleash, "unleash"),
    ] {
        let out = cli.ok(&["validate", "--data", file, "--format", format]);
        assert!(out.starts_with("ok: "), "{file}: {out}");
    }
    let broken = write(
        dir,
        "broken.json",
        &json!({"flags": [{"key": "b", "kind": "boolean",
        "variations": [{"key": "off", "value": false}, {"key": "on", "value": true}],
        "on": true, "off_variation": 0, "fallthrough": {"variation": 7}}]}),
    );
    let ran = cli.run(&["validate", "--data", &broken]);
    assert_eq!(ran.code, Some(1), "{}{}", ran.stdout, ran.stderr);
    assert!(ran.stdout.contains("fallthrough"), "{}", ran.stdout);

    // The server serves what `eval` computes offline from the same file (OpenFeature contexts:
    // `targetingKey` is the key, and an Unleash `userId`).
    let key = server
        .admin_post(&format!("{staging}/sdk-keys"), json!({"kind": "server"}))
        .await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let cases = [
        (
            &yaml,
            "native",
            "new-checkout",
            json!({"key": "dana", "email": "dana@corp.example"}),
            json!({"targetingKey": "dana", "email": "dana@corp.example"}),
        ),
        (
            &yaml,
            "native",
            "new-checkout",
            json!({"key": "carol"}),
            json!({"targetingKey": "carol"}),
        ),
        (
            &yaml,
            "native",
            "new-checkout",
            json!({"key": "erin"}),
            json!({"targetingKey": "erin"}),
        ),
        (
            &yaml,
            "native",
            "checkout-model",
            json!({"key": "erin", "plan": "pro"}),
            json!({"targetingKey": "erin", "plan": "pro"}),
        ),
        (
            &native_json,
            "native",
            "pro-tools",
            json!({"key": "pat"}),
            json!({"targetingKey": "pat"}),
        ),
        (
            &native_json,
            "native",
            "pro-tools",
            json!({"key": "sam"}),
            json!({"targetingKey": "sam"}),
        ),
        (
            &launchdarkly,
            "launchdarkly",
            "ld-checkout",
            json!({"kind": "user", "key": "bob"}),
            json!({"targetingKey": "bob"}),
        ),
        (
            &launchdarkly,
            "launchdarkly",
            "ld-checkout",
            json!({"kind": "user", "key": "zoe"}),
            json!({"targetingKey": "zoe"}),
        ),
        (
            &launchdarkly,
            "launchdarkly",
            "ld-banner",
            json!({"kind": "user", "key": "alice"}),
            json!({"targetingKey": "alice"}),
        ),
        (
            &unleash,
            "unleash",
            "un-search",
            json!({"userId": "u1", "properties": {"country": "DE"}}),
            json!({"targetingKey": "u1", "country": "DE"}),
        ),
        (
            &unleash,
            "unleash",
            "un-search",
            json!({"userId": "u1", "properties": {"country": "FR"}}),
            json!({"targetingKey": "u1", "country": "FR"}),
        ),
    ];
    let mut values = BTreeSet::new();
    for (file, format, flag, context, openfeature) in cases {
        let context = context.to_string();
        let args = [
            "eval",
            "--data",
            file,
            "--format",
            format,
            "--flag",
            flag,
            "--context",
            &context,
        ];
        let offline: Value = serde_json::from_str(&cli.ok(&args)).unwrap();
        let served = ofrep(&server.base, &key, flag, &openfeature).await;
        assert_eq!(
            served["value"], offline["value"],
            "{flag} for {context}: {served} vs {offline}"
        );
        values.insert(offline["value"].to_string());
    }
    assert!(
        values.len() >= 3,
        "the cases serve different values: {values:?}"
    );
}

/// `exposures` and `metrics` after an application (the Rust SDK) evaluated `limit` for ten
/// users and reported a latency for each: both say what the API says.
async fn events(cli: &Cli, server: &TestServer) {
    let key = server.sdk_key(SdkKeyKind::Server).await;
    let sdk = Sdk::builder(&server.base, &key)
        .events(EventsConfig {
            flush_interval: Duration::from_millis(100),
            ..EventsConfig::default()
        })
        .build()
        .await;
    let mut served = BTreeSet::new();
    for i in 0..10 {
        let user = Context::from_json(&json!({"key": format!("user-{i}")})).unwrap();
        let detail = sdk.number_detail("limit", &user, -1.0);
        served.insert((format!("user-{i}"), detail.variation.unwrap()));
        sdk.track("latency_ms", &user, f64::from(i));
    }
    sdk.close().await;

    let api = |what: &str| format!("{PROJECT}/environments/production/flags/limit/{what}");
    let exposed = wait_for("ten exposures", 10, || async {
        let exposed = cli.json(&["exposures", "limit", "--env", "production"]);
        (exposed.as_array().unwrap().len() == 10).then_some(exposed)
    })
    .await;
    let got: BTreeSet<(String, String)> = exposed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["key"].as_str().unwrap().to_owned(),
                e["variation"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(got, served);
    let table = cli.ok(&[
        "exposures",
        "limit",
        "--env",
        "production",
        "--variation",
        "low",
    ]);
    let lows = served.iter().filter(|(_, v)| v == "low").count();
    assert_eq!(table.lines().count(), 1 + lows, "{table}");
    assert!(
        table.lines().skip(1).all(|l| l.contains(" low ")),
        "{table}"
    );
    let limited = cli.json(&["exposures", "limit", "--env", "production", "--limit", "3"]);
    assert_eq!(limited.as_array().unwrap().len(), 3);

    let metrics = wait_for("the latency metric", 10, || async {
        let metrics = cli.json(&["metrics", "limit", "--env", "production"]);
        let count: i64 = metrics
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["count"].as_i64().unwrap())
            .sum();
        (count == 10).then_some(metrics)
    })
    .await;
    let sum: f64 = metrics
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["sum"].as_f64().unwrap())
        .sum();
    assert_eq!(sum, 45.0, "{metrics}");
    let table = cli.ok(&["metrics", "limit", "--env", "production"]);
    assert!(table.starts_with("METRIC"), "{table}");
    assert!(
        table.lines().skip(1).all(|l| l.starts_with("latency_ms ")),
        "{table}"
    );
    assert!(
        server
            .admin_get(&api("metrics"))
            .await
            .as_array()
            .unwrap()
            .len()
            == metrics.as_array().unwrap().len()
    );
}

/// `release start/status/list/pause/resume/advance/rollback/abort` and `kill`, each checked
/// against the release and the targeting the server holds.
async fn releases(cli: &Cli, server: &TestServer) {
    let production = format!("{PROJECT}/environments/production");
    let targeting = format!("{production}/flags/banner");
    let before = server.admin_get(&targeting).await["fallthrough"].clone();
    let start = [
        "release",
        "start",
        "--env",
        "production",
        "--flag",
        "banner",
        "--variation",
        "german",
    ];
    let started = cli.json(&start);
    let id = started["id"].as_str().unwrap().to_owned();
    assert_eq!(started["state"], "running");
    assert_ne!(
        server.admin_get(&targeting).await["fallthrough"],
        before,
        "the release serves"
    );
    let status = cli.ok(&["release", "status", &id, "--env", "production"]);
    assert!(
        status.contains(&format!(
            "release {id} of banner → \"german\": running at stage 0"
        )),
        "{status}"
    );
    let held = cli.json(&["release", "pause", &id, "--env", "production"]);
    assert_eq!(held["state"], "holding");
    let resumed = cli.json(&["release", "resume", &id, "--env", "production"]);
    assert_eq!(resumed["state"], "running");
    let advanced = cli.json(&["release", "advance", &id, "--env", "production"]);
    assert_eq!(advanced["stage"], 1);
    let rolled_back = cli.ok(&[
        "release",
        "rollback",
        &id,
        "--env",
        "production",
        "--comment",
        "bad",
    ]);
    assert!(rolled_back.contains("rolled_back"), "{rolled_back}");
    let release = server
        .admin_get(&format!("{production}/releases/{id}"))
        .await;
    assert_eq!(release["state"], "rolled_back");
    assert_eq!(
        server.admin_get(&targeting).await["fallthrough"],
        before,
        "restored"
    );

    let second = cli.json(&start)["id"].as_str().unwrap().to_owned();
    let aborted = cli.json(&["release", "abort", &second, "--env", "production"]);
    assert_eq!(aborted["state"], "aborted");
    assert_eq!(
        server.admin_get(&targeting).await["fallthrough"],
        before,
        "restored"
    );
    let listed = cli.json(&["release", "list", "--env", "production"]);
    let states: Vec<(&Value, &Value)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (&r["id"], &r["state"]))
        .collect();
    assert_eq!(
        states,
        [
            (&json!(second), &json!("aborted")),
            (&json!(id), &json!("rolled_back"))
        ],
        "newest first"
    );
    let table = cli.ok(&["release", "list", "--env", "production"]);
    assert!(
        table.lines().nth(1).unwrap().starts_with(&second),
        "{table}"
    );

    let third = cli.json(&start)["id"].as_str().unwrap().to_owned();
    let out = cli.ok(&["kill", "banner", "--env", "production", "--comment", "stop"]);
    assert!(out.contains("banner is OFF in production"), "{out}");
    assert!(out.contains(&format!("release {third} aborted")), "{out}");
    assert_eq!(server.admin_get(&targeting).await["on"], false);
}

/// `relay` with a production SDK key serves what the server serves.
async fn relay(cli: &Cli, server: &TestServer, dir: &Path) {
    let key = server.sdk_key(SdkKeyKind::Server).await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let listen = format!("127.0.0.1:{port}");
    let relay_dir = dir.join("relay");
    let mut child: Child = Command::new(BIN)
        .args([
            "relay",
            "--upstream",
            &server.base,
            "--sdk-key",
            &key,
            "--listen",
            &listen,
            "--log",
            "warn",
        ])
        .arg("--data-dir")
        .arg(&relay_dir)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    eventually("the relay to be ready", 30, || async {
        let ready = reqwest::get(format!("{base}/readyz")).await;
        ready.is_ok_and(|r| r.status().is_success())
    })
    .await;
    let context = json!({"targetingKey": "user-1", "country": "DE"});
    for flag in ["checkout", "banner", "limit"] {
        let relayed = ofrep(&base, &key, flag, &context).await;
        let served = ofrep(&server.base, &key, flag, &context).await;
        assert_eq!(
            (&relayed["value"], &relayed["variant"]),
            (&served["value"], &served["variant"]),
            "{flag}"
        );
    }
    child.kill().unwrap();
    let exited = child.wait().unwrap();
    assert!(
        exited.code().is_none(),
        "the relay ran until killed: {exited}"
    );
    cli.succeeded.borrow_mut().insert("relay");
}
