//! `switchyard audit verify` on the database directly: its exit status is what its help says
//! (0 verified, 1 broken, 2 cannot check), and a chain recomputed behind the server's back by a
//! database writer is broken, because the writer cannot sign.

use std::process::{Command, Output};

use serde_json::{Value, json};
use switchyard_store::{AuditSigner, Store};
use switchyard_testkit::tamper::{audit_rows, rewrite_audit_chain};

use crate::{BIN, serve_fresh};

fn verify(args: &[&str]) -> (Option<i32>, Value, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(BIN)
        .args(["audit", "verify"])
        .args(args)
        .output()
        .unwrap();
    let report = serde_json::from_slice(&stdout).unwrap_or(Value::Null);
    (
        status.code(),
        report,
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_catches_a_recomputed_chain_and_exits_as_documented() {
    let help = Command::new(BIN)
        .args(["audit", "verify", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    assert!(
        help.contains("0 when it verifies, 1 at a broken link, 2 when it cannot be checked"),
        "{help}"
    );

    let (mut server, dir) = serve_fresh("audit").await;
    for key in ["a", "b", "c"] {
        server
            .admin_post(
                "/api/v1/projects/default/flags",
                json!({"key": key, "kind": "boolean"}),
            )
            .await;
    }
    let served = server.admin_get("/api/v1/audit/verify").await;
    server.kill();

    // The key was created beside the database, readable by its owner only.
    let key_file = dir.join("audit-signing.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let signer = AuditSigner::from_file_text(&std::fs::read_to_string(&key_file).unwrap()).unwrap();
    let public_key = signer.public_key().to_string();
    assert_eq!(served["public_key"], public_key.as_str());

    let data_dir = dir.to_str().unwrap();
    let (code, report, _) = verify(&["--data-dir", data_dir]);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["public_key"], public_key.as_str());
    let records = report["records"].as_i64().unwrap();
    assert!(records >= 4, "bootstrap and three flags: {report}");
    // The public key alone is enough.
    let (code, _, _) = verify(&["--data-dir", data_dir, "--audit-public-key", &public_key]);
    assert_eq!(code, Some(0));
    // Another key's signatures are not these.
    let other = AuditSigner::from_seed([3; 32]).public_key().to_string();
    let (code, report, _) = verify(&["--data-dir", data_dir, "--audit-public-key", &other]);
    assert_eq!((code, &report["first_broken"]), (Some(1), &json!(1)));

    // A database writer edits flag b's record and recomputes every later hash and the head.
    let url = format!("sqlite://{}", dir.join("switchyard.db").display());
    let store = Store::open(&url).await.unwrap();
    let original = audit_rows(&store).await;
    let b = original
        .iter()
        .position(|row| row.resource.ends_with("flag/b"))
        .unwrap();
    let mut edited = original.clone();
    edited[b].record = edited[b].record.replace("flag/b", "flag/x");
    edited[b].resource = edited[b].resource.replace("flag/b", "flag/x");
    assert_ne!(edited[b].record, original[b].record);
    rewrite_audit_chain(&store, edited, 1).await;
    assert!(store.verify_audit_chain_with(None).await.unwrap().ok);
    store.close().await;
    let (code, report, stderr) = verify(&["--data-dir", data_dir]);
    assert_eq!(
        (code, &report["first_broken"]),
        (Some(1), &json!(original[b].seq)),
        "{report}"
    );
    let broken_at = format!("audit chain broken at record {}", original[b].seq);
    assert!(stderr.contains(&broken_at), "{stderr}");

    // Without a key there is nothing to check signatures with: 2, not a verdict.
    std::fs::remove_file(&key_file).unwrap();
    let (code, _, stderr) = verify(&["--data-dir", data_dir]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--audit-public-key"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}
