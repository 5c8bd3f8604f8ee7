//! `switchyard audit export` and `audit verify-export` against a real `serve` (issue #21, "Audit
//! export"): a follower writes a change committed after it started and goes on across a
//! server restart, its file verifies offline with the public key and the signed head alone, a
//! tampered copy does not, and a rerun resumes where the file ends.

use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};
use switchyard_store::AuditSigner;
use switchyard_testkit::server::{TestServer, free_port, wait_for};

use crate::{BIN, fresh_dir};

fn export(server: &TestServer, args: &[&str]) -> Output {
    Command::new(BIN)
        .args([
            "audit",
            "export",
            "--url",
            &server.base,
            "--token",
            &server.admin,
        ])
        .args(args)
        .output()
        .unwrap()
}

fn verify_export(args: &[&str]) -> (Option<i32>, Value, String) {
    let output = Command::new(BIN)
        .args(["audit", "verify-export"])
        .args(args)
        .output()
        .unwrap();
    let report = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code(), report, stderr)
}

/// The complete lines of a file another process is appending to.
fn complete_lines(path: &std::path::Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.split_inclusive('\n')
        .filter(|line| line.ends_with('\n'))
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

async fn toggle(server: &TestServer, on: bool, comment: &str) {
    let path = "/api/v1/projects/default/environments/production/flags/checkout/toggle";
    server
        .admin_post(path, json!({"on": on, "comment": comment}))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_export_follows_the_log_and_its_lines_verify_offline() {
    // On a port of its own, so that a restart comes back where the follower reconnects.
    let dir = fresh_dir("audit-export");
    let listen = format!("127.0.0.1:{}", free_port());
    let start = || {
        TestServer::binary(BIN)
            .data_dir(&dir)
            .args(["--listen", &listen])
    };
    let mut server = start().start().await;
    server
        .admin_post(
            "/api/v1/projects/default/flags",
            json!({"key": "checkout", "kind": "boolean"}),
        )
        .await;
    let verified = server.admin_get("/api/v1/audit/verify").await;
    let public_key = verified["public_key"].as_str().unwrap().to_owned();
    let head = verified["records"].as_i64().unwrap();

    // A finished export from a cursor: the lines after it on stdout, where to resume on stderr.
    let output = export(&server, &["--since", "1"]);
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len() as i64, head - 1);
    assert_eq!(lines[0]["seq"], 2);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("cursor: {head} (resume with --since {head})")),
        "{stderr}"
    );

    // A follower writes every record so far, then a change made after it caught up. (The issue
    // asks for within a second; the deadline is generous so a loaded machine does not fail it.)
    let out = dir.join("audit.jsonl");
    let out_arg = out.to_str().unwrap().to_owned();
    let mut follower = Command::new(BIN)
        .args([
            "audit",
            "export",
            "--url",
            &server.base,
            "--token",
            &server.admin,
        ])
        .args(["--follow", "--out", &out_arg])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the follower to write the log so far", 30, || async {
        (complete_lines(&out).len() as i64 == head).then_some(())
    })
    .await;
    toggle(&server, true, "followed").await;
    let arrived = wait_for("the follower to write the new record", 10, || async {
        complete_lines(&out).get(head as usize).cloned()
    })
    .await;
    assert_eq!(
        (&arrived["action"], &arrived["comment"]),
        (&json!("flag:toggle"), &json!("followed"))
    );

    // The server restarts: the follower reconnects after its last line and goes on.
    server.kill();
    server = start().admin(&server.admin).start().await;
    toggle(&server, false, "after the restart").await;
    let arrived = wait_for(
        "the follower to write a record after the restart",
        20,
        || async { complete_lines(&out).get(head as usize + 1).cloned() },
    )
    .await;
    assert_eq!(arrived["comment"], "after the restart");
    let _ = follower.kill();
    let _ = follower.wait();
    let lines = complete_lines(&out);
    let numbers: Vec<i64> = lines.iter().map(|l| l["seq"].as_i64().unwrap()).collect();
    assert_eq!(
        numbers,
        (1..=head + 2).collect::<Vec<_>>(),
        "no record twice or lost"
    );

    // The file verifies offline with the public key, and holds the server's signed head.
    let head_file = dir.join("head.json");
    let verified = server.admin_get("/api/v1/audit/verify").await;
    std::fs::write(&head_file, verified.to_string()).unwrap();
    let head_arg = head_file.to_str().unwrap();
    let key_args = [
        "--public-key",
        public_key.as_str(),
        "--signed-head",
        head_arg,
    ];
    let (code, report, stderr) = verify_export(&[&[out_arg.as_str()][..], &key_args].concat());
    assert_eq!(code, Some(0), "{report} {stderr}");
    assert_eq!(report["records"], head + 2);
    assert_eq!(
        (&report["first"], &report["last"]),
        (&json!(1), &json!(head + 2))
    );
    assert_eq!(report["signed_head"], verified["signed_head"]);

    // A copy with the new record's comment changed (in its hashed text and its fields) breaks
    // there; so does one cut short of the signed head; another key is refused at once.
    let tampered = dir.join("tampered.jsonl");
    let text = std::fs::read_to_string(&out).unwrap();
    std::fs::write(&tampered, text.replace("followed", "unfollowed")).unwrap();
    let tampered_arg = tampered.to_str().unwrap();
    let (code, report, stderr) = verify_export(&[&[tampered_arg][..], &key_args].concat());
    assert_eq!((code, &report["first_broken"]), (Some(1), &json!(head + 1)));
    assert!(
        stderr.contains(&format!("export broken at record {}", head + 1)),
        "{stderr}"
    );
    let cut = dir.join("cut.jsonl");
    let kept: Vec<&str> = text.lines().take(head as usize + 1).collect();
    std::fs::write(&cut, kept.join("\n") + "\n").unwrap();
    let (code, report, _) = verify_export(&[&[cut.to_str().unwrap()][..], &key_args].concat());
    assert_eq!(code, Some(1), "{report}");
    let other = AuditSigner::from_seed([3; 32]).public_key().to_string();
    let (code, _, _) = verify_export(&[&out_arg, "--public-key", &other]);
    assert_eq!(code, Some(1));
    let (code, _, stderr) = verify_export(&[&out_arg, "--public-key", "12"]);
    assert_eq!(code, Some(2), "{stderr}");

    // Run again without --since, the export resumes after the file's last line.
    toggle(&server, false, "resumed").await;
    let output = export(&server, &["--out", &out_arg]);
    assert!(output.status.success(), "{output:?}");
    let lines = complete_lines(&out);
    assert_eq!(lines.len() as i64, head + 3);
    assert_eq!(lines.last().unwrap()["comment"], "resumed");
    let (code, report, stderr) = verify_export(&[&out_arg, "--public-key", &public_key]);
    assert_eq!(code, Some(0), "{report} {stderr}");

    server.kill();
    std::fs::remove_dir_all(&dir).unwrap();
}
