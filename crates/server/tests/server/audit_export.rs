//! `GET /api/v1/audit/export` (issue #21, "Audit export"): JSON lines after a cursor that verify
//! offline with the public key alone, and a followed export that sees a change committed after
//! it started (through another replica on PostgreSQL) and ends when the server shuts down or its
//! token is revoked.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use switchyard_server::api::types::{AuditExportLine, ChainForm};
use switchyard_store::{AuditPublicKey, AuditSigner, ChainReport, ExportVerifier, SignedHead};
use switchyard_testkit::server::{Method, TestServer};

use crate::PROD;

const FLAGS: &str = "/api/v1/projects/default/flags";

switchyard_testkit::backend_tests![
    an_export_verifies_offline_from_any_cursor,
    a_followed_export_sees_new_records_and_ends_with_the_server,
];

/// The key every in-process test server signs with (testkit's fixed test key).
fn public_key() -> AuditPublicKey {
    AuditSigner::from_seed([0x5a; 32]).public_key()
}

async fn toggle(server: &TestServer, on: bool, comment: &str) {
    let body = json!({"on": on, "comment": comment});
    let path = format!("{PROD}/flags/checkout/toggle");
    server.admin_post(&path, body).await;
}

/// `GET path` with `token`, unparsed.
async fn get(server: &TestServer, token: &str, path: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{}{path}", server.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// Every line of a finished export, and its cursor header.
async fn export(server: &TestServer, since: &str) -> (Vec<String>, i64) {
    let path = format!("/api/v1/audit/export?since={since}");
    let response = get(server, &server.admin, &path).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let cursor = response.headers()["switchyard-audit-cursor"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let text = response.text().await.unwrap();
    assert!(text.is_empty() || text.ends_with('\n'), "{text}");
    (text.lines().map(str::to_owned).collect(), cursor)
}

fn signed_head(verified: &Value) -> SignedHead {
    let head = &verified["signed_head"];
    SignedHead {
        seq: head["seq"].as_i64().unwrap(),
        hash: head["hash"].as_str().unwrap().to_owned(),
        signature: head["signature"].as_str().unwrap().to_owned(),
    }
}

/// What `switchyard audit verify-export` does with the lines.
fn verify(lines: &[String], verifier: ExportVerifier) -> ChainReport {
    let mut verifier = verifier;
    for line in lines {
        let exported: AuditExportLine = serde_json::from_str(line).unwrap();
        if exported.agrees_with_record() {
            verifier.check(&exported.row(), exported.form == ChainForm::Signed);
        } else {
            verifier.fail("its fields differ from its record");
        }
    }
    verifier.finish()
}

async fn an_export_verifies_offline_from_any_cursor(url: String) {
    let server = TestServer::in_process(&url).start().await;
    server
        .admin_post(FLAGS, json!({"key": "checkout", "kind": "boolean"}))
        .await;
    for on in [true, false, true] {
        toggle(&server, on, &format!("turn {on}")).await;
    }
    let verified = server.admin_get("/api/v1/audit/verify").await;
    let head = signed_head(&verified);

    // From the start: every record, oldest first, each carrying its hash, signature and form.
    let (lines, cursor) = export(&server, "0").await;
    assert_eq!(cursor, head.seq);
    assert_eq!(lines.len() as i64, head.seq);
    let first: Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(first["seq"], 1);
    assert_eq!(first["form"], "signed");
    assert_eq!(first["prev_hash"], switchyard_store::GENESIS_HASH);
    let last: AuditExportLine = serde_json::from_str(lines.last().unwrap()).unwrap();
    assert_eq!(last.entry.action, "flag:toggle");
    assert_eq!(last.entry.comment.as_deref(), Some("turn true"));
    let report = verify(
        &lines,
        ExportVerifier::new(Some(public_key())).expect_head(head.clone()),
    );
    assert!(report.ok, "{report:?}");
    assert_eq!(report.records, head.seq);
    assert_eq!(report.signed_head.as_ref(), Some(&head));

    // From a cursor: only later records, linked to the earlier export's last hash.
    let since = head.seq - 2;
    let (later, cursor) = export(&server, &since.to_string()).await;
    assert_eq!((later.len(), cursor), (2, head.seq));
    let before: AuditExportLine = serde_json::from_str(&lines[since as usize - 1]).unwrap();
    let pinned = ExportVerifier::new(Some(public_key())).after(since, &before.entry.hash);
    assert!(verify(&later, pinned).ok);
    // Past the head: nothing, and the same cursor back.
    let (none, cursor) = export(&server, &(head.seq + 5).to_string()).await;
    assert_eq!((none.len() as i64, cursor), (0, head.seq + 5));

    // A tampered record, a tampered field a SIEM would index, a dropped line, a wrong key.
    let toggles: Vec<usize> = (0..lines.len())
        .filter(|i| lines[*i].contains("\"action\":\"flag:toggle\""))
        .collect();
    let target = toggles[1];
    let mut edited = lines.clone();
    edited[target] = edited[target].replace("turn false", "turn on");
    assert_ne!(edited[target], lines[target]);
    let report = verify(&edited, ExportVerifier::new(Some(public_key())));
    assert_eq!(report.first_broken, Some(target as i64 + 1), "{report:?}");
    let mut relabelled: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    relabelled[target]["comment"] = json!("nothing to see");
    let relabelled: Vec<String> = relabelled.iter().map(Value::to_string).collect();
    let report = verify(&relabelled, ExportVerifier::new(Some(public_key())));
    assert_eq!(report.first_broken, Some(target as i64 + 1), "{report:?}");
    let mut dropped = lines.clone();
    dropped.remove(target);
    let report = verify(&dropped, ExportVerifier::new(Some(public_key())));
    assert_eq!(report.first_broken, Some(target as i64 + 1), "{report:?}");
    let truncated = &lines[..lines.len() - 1];
    let report = verify(
        truncated,
        ExportVerifier::new(Some(public_key())).expect_head(head),
    );
    assert!(!report.ok, "a log cut before the signed head: {report:?}");
    let other = AuditSigner::from_seed([1; 32]).public_key();
    assert_eq!(
        verify(&lines, ExportVerifier::new(Some(other))).first_broken,
        Some(1)
    );

    // Bad cursors and switches are refused, naming the parameter, and audit nothing.
    let audited = server.admin_get("/api/v1/audit/verify").await["records"].clone();
    for (query, field) in [
        ("since=-1", "since"),
        ("since=abc", "since"),
        ("since=1.5", "since"),
        ("follow=maybe", "follow"),
        ("sinse=1", "sinse"),
    ] {
        let path = format!("/api/v1/audit/export?{query}");
        let (status, body) = server
            .call(Some(&server.admin), Method::GET, &path, None)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
        assert_eq!(body["error"]["field"], field, "{query}: {body}");
    }
    assert_eq!(
        server.admin_get("/api/v1/audit/verify").await["records"],
        audited
    );
    server.stop().await;
}

/// A followed export as a SIEM reads it: complete lines as they arrive.
struct Follower {
    response: reqwest::Response,
    pending: Vec<u8>,
}

impl Follower {
    async fn open(server: &TestServer, token: &str, since: i64) -> Follower {
        let path = format!("/api/v1/audit/export?since={since}&follow=true");
        let response = get(server, token, &path).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            !response.headers().contains_key("switchyard-audit-cursor"),
            "a followed export has no end to name"
        );
        Follower {
            response,
            pending: Vec::new(),
        }
    }

    /// The next record, `None` when the stream ended; fails the test after `seconds`.
    async fn next(&mut self, seconds: u64) -> Option<AuditExportLine> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
        loop {
            if let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=end).collect();
                if line.len() > 1 {
                    return Some(serde_json::from_slice(&line).unwrap());
                }
                continue;
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .expect("the followed export sent nothing before the deadline");
            match chunk {
                Ok(Some(bytes)) => self.pending.extend_from_slice(&bytes),
                Ok(None) | Err(_) => return None,
            }
        }
    }
}

async fn a_followed_export_sees_new_records_and_ends_with_the_server(url: String) {
    let server = TestServer::in_process(&url).start().await;
    // On PostgreSQL the change is made through another replica: its NOTIFY wakes the follower.
    let replica = if url.starts_with("postgres") {
        let replica = TestServer::in_process(&url).admin(&server.admin);
        Some(replica.start().await)
    } else {
        None
    };
    let writer = replica.as_ref().unwrap_or(&server);
    server
        .admin_post(FLAGS, json!({"key": "checkout", "kind": "boolean"}))
        .await;
    let head = server.admin_get("/api/v1/audit/verify").await["records"]
        .as_i64()
        .unwrap();

    let mut follower = Follower::open(&server, &server.admin, 0).await;
    let mut seen = Vec::new();
    while (seen.len() as i64) < head {
        seen.push(follower.next(10).await.expect("the records so far"));
    }
    // A change committed after the export caught up arrives by itself (the issue asks for
    // within a second; the deadline here is generous so a loaded machine does not fail it).
    toggle(writer, true, "followed").await;
    let arrived = follower.next(10).await.expect("the new record");
    assert_eq!(arrived.entry.seq, head + 1);
    assert_eq!(arrived.entry.action, "flag:toggle");
    assert_eq!(arrived.entry.comment.as_deref(), Some("followed"));
    seen.push(arrived);
    let lines: Vec<String> = seen
        .iter()
        .map(|line| serde_json::to_string(line).unwrap())
        .collect();
    let verified = server.admin_get("/api/v1/audit/verify").await;
    let head = ExportVerifier::new(Some(public_key())).expect_head(signed_head(&verified));
    let report = verify(&lines, head);
    assert!(report.ok, "{report:?}");

    // A token that can read the audit log follows it until the token is deleted.
    let token = server
        .admin_post(
            "/api/v1/tokens",
            json!({"name": "siem", "statements": [
                {"effect": "allow", "actions": ["audit:read"], "resources": ["audit"]}]}),
        )
        .await;
    let secret = token["token"].as_str().unwrap().to_owned();
    let cursor = lines.len() as i64 + 1;
    let mut siem = Follower::open(&server, &secret, cursor).await;
    let path = format!("/api/v1/tokens/{}", token["id"].as_str().unwrap());
    server.admin(Method::DELETE, &path, None).await;
    // The deletion's own record may arrive first; then the stream ends.
    let mut after_deletion = 0;
    while siem.next(10).await.is_some() {
        after_deletion += 1;
        assert!(
            after_deletion <= 1,
            "the export went on after its token was deleted"
        );
    }

    // Shutting the server down ends a followed export, so the shutdown is not held by it.
    if let Some(replica) = replica {
        replica.stop().await;
    }
    // (Well within the 30 s a shutdown waits for open requests before it cuts them.)
    tokio::time::timeout(Duration::from_secs(20), server.stop())
        .await
        .expect("the server stops with an export open");
    // What it had not read yet (the token's creation and deletion) comes first; then the end.
    let mut unread = 0;
    while follower.next(10).await.is_some() {
        unread += 1;
        assert!(unread <= 2, "the export went on after the server stopped");
    }
}
