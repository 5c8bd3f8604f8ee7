//! OpenFeature tracking from other languages (`clients/openfeature-tracking-js`,
//! `clients/openfeature-tracking-py`): each package's own tests, then applications built on the
//! official OpenFeature SDKs and OFREP providers with the package's wrapper against a real
//! `switchyard serve`. Their `track` calls must reach the flag's variation cohorts, and a Node
//! application whose treated users fail 5× as often must get its guarded release rolled back by
//! the guard (issue 19, items 3 and 5).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchyard_testkit::server::{Method, SdkKeyKind, TestServer, wait_for};

use crate::{BIN, fresh_dir, serve_fresh};

fn clients() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../clients")
}

/// Whether `program --version` runs; skips the test otherwise.
fn have(program: &str) -> bool {
    let ran = Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ran {
        switchyard_testkit::skip(&format!("{program} is not installed"));
    }
    ran
}

/// Whether the Node end-to-end application's packages are installed; skips the test otherwise.
fn node_e2e_installed() -> bool {
    let installed = have("node")
        && clients()
            .join("openfeature-node-e2e/node_modules/@openfeature/ofrep-provider")
            .exists();
    if !installed && Command::new("node").arg("--version").output().is_ok() {
        switchyard_testkit::skip(
            "the Node application is not installed (npm ci --prefix clients/openfeature-node-e2e)",
        );
    }
    installed
}

/// Whether Python has the OpenFeature SDK and OFREP provider; skips the test otherwise.
fn python_openfeature_installed() -> bool {
    if !have("python3") {
        return false;
    }
    let import = Command::new("python3")
        .args(["-c", "import openfeature.contrib.provider.ofrep"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !import {
        switchyard_testkit::skip(
            "Python lacks openfeature-sdk and openfeature-provider-ofrep (installed by .ci/run)",
        );
    }
    import
}

fn run(command: &mut Command) -> String {
    let output = command.output().expect("the command runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The next pass report the application prints, within `seconds`.
fn next_pass(lines: &mpsc::Receiver<Value>, seconds: u64) -> Value {
    lines
        .recv_timeout(Duration::from_secs(seconds))
        .expect("the application reports its passes")
}

#[test]
fn tracking_js_package_tests() {
    if !have("node") {
        return;
    }
    let dir = clients().join("openfeature-tracking-js");
    let mut tests: Vec<PathBuf> = std::fs::read_dir(dir.join("test"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.to_string_lossy().ends_with(".test.js"))
        .collect();
    tests.sort();
    assert!(tests.len() >= 2, "the package's tests: {tests:?}");
    let out = run(Command::new("node")
        .arg("--test")
        .args(&tests)
        .current_dir(&dir));
    assert!(out.contains("# fail 0"), "{out}");
}

#[test]
fn tracking_python_package_tests() {
    if !python_openfeature_installed() {
        return;
    }
    let dir = clients().join("openfeature-tracking-py");
    let output = Command::new("python3")
        .args(["-m", "unittest", "discover", "-s", "tests", "-t", "."])
        .current_dir(&dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("\nOK"), "{stderr}");
}

/// Metric events tracked through OpenFeature in Node and Python reach the cohorts of the
/// variants each user was served (a string flag splitting users 50/50 by key).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openfeature_track_reaches_variation_cohorts() {
    if !node_e2e_installed() || !python_openfeature_installed() {
        return;
    }
    let (mut server, dir) = serve_fresh("tracking").await;
    let project = "/api/v1/projects/default";
    let flag = format!("{project}/environments/production/flags/page");
    server
        .admin_post(
            &format!("{project}/flags"),
            json!({"key": "page", "kind": "string", "off_variation": "a",
                   "variations": [{"key": "a", "value": "A"}, {"key": "b", "value": "B"}]}),
        )
        .await;
    let targeting = server.admin_get(&flag).await;
    let split = json!({"variations": [{"variation": 0, "weight": 50000},
                                      {"variation": 1, "weight": 50000}]});
    server
        .admin(
            Method::PUT,
            &flag,
            Some(json!({"on": true, "fallthrough": {"rollout": split},
                        "version": targeting["version"]})),
        )
        .await;
    let key = server.sdk_key(SdkKeyKind::Server).await;
    let users = |prefix: &str| (0..24).map(|i| format!("{prefix}-{i}")).collect::<Vec<_>>();
    let with_env = |command: &mut Command| {
        command
            .env("SWITCHYARD_URL", &server.base)
            .env("SWITCHYARD_SDK_KEY", &key);
    };

    let mut node = Command::new("node");
    node.arg(clients().join("openfeature-node-e2e/track.mjs"))
        .arg(
            json!({"flag": "page", "type": "string", "default": "", "metric": "js_purchase",
               "value": 3, "users": users("js")})
            .to_string(),
        );
    with_env(&mut node);
    let py_dir = clients().join("openfeature-tracking-py");
    let mut python = Command::new("python3");
    python
        .arg(py_dir.join("examples/track.py"))
        .arg(
            json!({"flag": "page", "type": "string", "default": "", "metric": "py_purchase",
                   "value": 5, "users": users("py")})
            .to_string(),
        )
        .env("PYTHONPATH", &py_dir);
    with_env(&mut python);
    let (js, py) = tokio::task::spawn_blocking(move || (run(&mut node), run(&mut python)))
        .await
        .unwrap();

    let path = format!("{flag}/metrics");
    for (metric, out, value) in [("js_purchase", js, 3.0), ("py_purchase", py, 5.0)] {
        let report: Value =
            serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
        assert_eq!(report["stats"]["sent"], 24, "{metric}: {report}");
        let mut expected: Vec<(String, u64)> = Vec::new();
        for variant in report["variants"].as_object().unwrap().values() {
            let variant = variant.as_str().unwrap().to_owned();
            match expected.iter_mut().find(|(v, _)| *v == variant) {
                Some((_, n)) => *n += 1,
                None => expected.push((variant, 1)),
            }
        }
        expected.sort();
        assert_eq!(
            expected.len(),
            2,
            "24 users fall on both sides of a 50/50 split: {report}"
        );
        // The application sent everything before it exited; the deadline only absorbs slowness.
        let cohorts = wait_for(&format!("{metric} in both cohorts"), 20, || async {
            let stats = server.admin_get(&path).await;
            let mut got: Vec<(String, u64, f64)> = stats
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["metric"] == metric)
                .map(|c| {
                    let variation = c["variation"].as_str().unwrap().to_owned();
                    (
                        variation,
                        c["count"].as_u64().unwrap(),
                        c["sum"].as_f64().unwrap(),
                    )
                })
                .collect();
            got.sort_by(|a, b| a.0.cmp(&b.0));
            let total: u64 = got.iter().map(|c| c.1).sum();
            (total >= 24).then_some(got)
        })
        .await;
        let want: Vec<(String, u64, f64)> = expected
            .iter()
            .map(|(v, n)| (v.clone(), *n, *n as f64 * value))
            .collect();
        assert_eq!(cohorts, want, "{metric}: per variation (count, sum)");
    }
    server.kill();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A Node application (OpenFeature server SDK + OFREP provider + the tracking wrapper) under a
/// guarded release whose treated users fail 5× as often: the guard rolls the release back, and
/// the application is then served the previous variation. Prints the detection time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_app_guarded_release_rolls_back() {
    if !node_e2e_installed() {
        return;
    }
    let dir = fresh_dir("tracking-guard");
    let mut server = TestServer::binary(BIN)
        .data_dir(&dir)
        .args(["--guard-interval-ms", "200"])
        .start()
        .await;
    let project = "/api/v1/projects/default";
    let env = format!("{project}/environments/production");
    server
        .admin_post(
            &format!("{project}/flags"),
            json!({"key": "new-checkout", "kind": "boolean"}),
        )
        .await;
    // On, serving `off` (false) to everyone: the variation the release starts from.
    let targeting = server.admin_get(&format!("{env}/flags/new-checkout")).await;
    server
        .admin(
            Method::PUT,
            &format!("{env}/flags/new-checkout"),
            Some(json!({"on": true, "fallthrough": {"variation": 1},
                        "version": targeting["version"]})),
        )
        .await;
    let key = server.sdk_key(SdkKeyKind::Server).await;

    let users = 1000;
    let mut app = Command::new("node")
        .arg(clients().join("openfeature-node-e2e/guarded.mjs"))
        .arg(
            json!({"flag": "new-checkout", "users": users, "base_rate": 0.02,
                   "treated_rate": 0.10, "concurrency": 8, "max_seconds": 90})
            .to_string(),
        )
        .env("SWITCHYARD_URL", &server.base)
        .env("SWITCHYARD_SDK_KEY", &key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node starts");
    let (lines_tx, lines) = mpsc::channel::<Value>();
    let stdout = app.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            match serde_json::from_str(&line) {
                Ok(value) => {
                    if lines_tx.send(value).is_err() {
                        return;
                    }
                }
                Err(_) => eprintln!("app: {line}"),
            }
        }
    });
    let first = tokio::task::block_in_place(|| next_pass(&lines, 30));
    assert_eq!(first["evaluations"], users, "{first}");
    assert_eq!(
        first["treated"], 0,
        "before the release, everyone gets false: {first}"
    );

    let release = server
        .admin_post(
            &format!("{env}/releases"),
            json!({"flag": "new-checkout", "variation": "on",
                   "stages": [{"percent": 50, "min_bake_s": 3600}],
                   "guardrails": [{"metric": "error", "kind": "bad_events"}]}),
        )
        .await;
    let id = release["id"].as_str().unwrap().to_owned();
    let started_ms = release["stage_started_ms"].as_i64().unwrap();
    let rolled_back = wait_for("the guard to roll the release back", 45, || async {
        let status = server.admin_get(&format!("{env}/releases/{id}")).await;
        assert!(
            matches!(status["state"].as_str(), Some("running" | "rolled_back")),
            "{status}"
        );
        (status["state"] == "rolled_back").then_some(status)
    })
    .await;
    let history = rolled_back["history"].as_array().unwrap();
    let rollback = history
        .iter()
        .find(|h| h["event"] == "release:roll_back")
        .unwrap_or_else(|| panic!("{rolled_back}"));
    assert_eq!(
        rollback["actor"],
        format!("release:{id}"),
        "the guard did it"
    );
    let rolled_back_ms = rollback["at_ms"].as_i64().unwrap();
    let audit = server.admin_get("/api/v1/audit?limit=20").await;
    let evidence = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "release:roll_back")
        .map(|r| r["after"]["evidence"]["guardrails"][0].clone())
        .unwrap_or_else(|| panic!("{audit}"));
    let (treated_bad, control_bad) = (&evidence["treated"], &evidence["control"]);
    assert!(
        treated_bad.as_u64().unwrap() > control_bad.as_u64().unwrap(),
        "{evidence}"
    );
    let first_pass_ms = first["ended_ms"].as_i64().unwrap() - first["started_ms"].as_i64().unwrap();
    println!(
        "node app guarded release: rolled back {:.1} s after the release started, on {treated_bad} \
         treated vs {control_bad} control bad events, at about {} evaluations/s",
        (rolled_back_ms - started_ms) as f64 / 1000.0,
        users * 1000 / first_pass_ms.max(1)
    );

    // A whole pass that began after the roll back served the previous variation to everyone.
    let deadline = Instant::now() + Duration::from_secs(30);
    let after = tokio::task::block_in_place(|| {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let pass = lines
                .recv_timeout(left)
                .expect("a pass after the roll back");
            if pass["started_ms"].as_i64().unwrap() > rolled_back_ms {
                break pass;
            }
        }
    });
    assert_eq!(after["evaluations"], users, "{after}");
    assert_eq!(after["failed"], 0, "{after}");
    assert_eq!(after["treated"], 0, "the previous variation again: {after}");

    drop(app.stdin.take()); // the application sends what it queued and exits
    let status = tokio::task::block_in_place(|| app.wait()).unwrap();
    assert!(status.success(), "{status}");
    server.kill();
    let _ = std::fs::remove_dir_all(&dir);
}
