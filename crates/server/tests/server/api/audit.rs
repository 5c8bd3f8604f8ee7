//! The audit log against a database writer: records are signed with a key the database does
//! not hold, so a chain edited and recomputed behind the server's back no longer verifies, and
//! an export verifies offline with only the public key.

use serde_json::{Value, json};
use switchyard_store::{AuditPublicKey, AuditSigner, ChainLink, Store};
use switchyard_testkit::server::TestServer;
use switchyard_testkit::tamper::{audit_rows, rewrite_audit_chain};

use super::{FLAGS, PROD};

/// The key every in-process test server signs with (testkit's fixed test key).
fn public_key() -> AuditPublicKey {
    AuditSigner::from_seed([0x5a; 32]).public_key()
}

pub(super) async fn audit_tamper_evidence(url: String) {
    let server = TestServer::in_process(&url).start().await;
    server
        .admin_post(FLAGS, json!({"key": "checkout", "kind": "boolean"}))
        .await;
    for on in [true, false, true] {
        server
            .admin_post(
                &format!("{PROD}/flags/checkout/toggle"),
                json!({"on": on, "comment": format!("turn {on}")}),
            )
            .await;
    }
    let verified = server.admin_get("/api/v1/audit/verify").await;
    assert_eq!(verified["ok"], true, "{verified}");
    assert_eq!(
        verified["signed_from"], 1,
        "a new database signs from its first record"
    );
    assert_eq!(verified["public_key"], public_key().to_string());
    let records = verified["records"].as_i64().unwrap();
    assert!(records >= 5, "{verified}");
    assert_eq!(verified["signed_head"]["seq"], records);

    // The exported log verifies offline with the public key alone.
    let export = server.admin_get("/api/v1/audit?limit=1000").await;
    let entries = export["records"].as_array().unwrap();
    assert_eq!(entries.len() as i64, records);
    for entry in entries {
        assert_eq!(offline_check(entry), Ok(()), "{entry}");
    }
    let mut forged = entries[0].clone();
    forged["record"] = json!(forged["record"].as_str().unwrap().replace("turn", "burn"));
    assert!(offline_check(&forged).is_err());

    let store = server.state().unwrap().store.clone();
    let original = audit_rows(&store).await;
    let toggles: Vec<i64> = original
        .iter()
        .filter(|row| row.action == "flag:toggle")
        .map(|row| row.seq)
        .collect();
    assert_eq!(toggles.len(), 3);

    // Edit a toggle's content and recompute every later hash and the head, as a DBA could: the
    // hashes agree again, but the edited record's signature no longer matches.
    let target = toggles[1];
    let mut edited = original.clone();
    let row = &mut edited[target as usize - 1];
    row.record = row.record.replace("turn false", "turn on");
    assert_ne!(row.record, original[target as usize - 1].record);
    rewrite_audit_chain(&store, edited, 1).await;
    assert!(store.verify_audit_chain_with(None).await.unwrap().ok);
    assert_broken_at(&server, &store, target).await;

    // Delete a record, renumber the rest and recompute.
    let mut deleted = original.clone();
    deleted.remove(target as usize - 1);
    for (i, row) in deleted.iter_mut().enumerate() {
        row.seq = i as i64 + 1;
    }
    rewrite_audit_chain(&store, deleted, 1).await;
    assert!(store.verify_audit_chain_with(None).await.unwrap().ok);
    assert_broken_at(&server, &store, target).await;

    // Move a record in time (column and record), recompute: caught; the column alone too.
    let mut retimed = original.clone();
    let row = &mut retimed[target as usize - 1];
    let at = row.at;
    row.at -= 3_600_000;
    row.record = row
        .record
        .replace(&format!("\"at_ms\":{at}"), &format!("\"at_ms\":{}", row.at));
    assert_ne!(row.record, original[target as usize - 1].record);
    rewrite_audit_chain(&store, retimed, 1).await;
    assert!(store.verify_audit_chain_with(None).await.unwrap().ok);
    assert_broken_at(&server, &store, target).await;
    rewrite_audit_chain(&store, original.clone(), 1).await;
    assert_eq!(server.admin_get("/api/v1/audit/verify").await["ok"], true);
    sqlx::query("UPDATE audit_log SET at = at + 1 WHERE seq = $1")
        .bind(target)
        .execute(store.pool())
        .await
        .unwrap();
    assert_broken_at(&server, &store, target).await;

    // Restored, the log verifies and the server goes on signing.
    rewrite_audit_chain(&store, original, 1).await;
    server
        .admin_post(
            &format!("{PROD}/flags/checkout/toggle"),
            json!({"on": false}),
        )
        .await;
    let verified = server.admin_get("/api/v1/audit/verify").await;
    assert_eq!(verified["ok"], true, "{verified}");
    assert!(verified["signed_head"]["seq"].as_i64().unwrap() > records);
    server.stop().await;
}

/// The API says the chain is broken at `seq` (and the verify request itself is not audited
/// into the tampered chain's way: it is a read).
async fn assert_broken_at(server: &TestServer, store: &Store, seq: i64) {
    let verified = server.admin_get("/api/v1/audit/verify").await;
    assert_eq!(
        (&verified["ok"], &verified["first_broken"]),
        (&json!(false), &json!(seq)),
        "{verified}"
    );
    assert_eq!(
        store.verify_audit_chain().await.unwrap().first_broken,
        Some(seq)
    );
}

/// What an offline verifier does with one exported entry and the public key.
fn offline_check(entry: &Value) -> Result<(), &'static str> {
    let text = |field: &str| entry[field].as_str().unwrap_or_default();
    let link = ChainLink {
        seq: entry["seq"].as_i64().unwrap_or_default(),
        at_ms: entry["at_ms"].as_i64().unwrap_or_default(),
        prev_hash: text("prev_hash"),
        action: text("action"),
        resource: text("resource"),
        outcome: text("outcome"),
        record: text("record"),
    };
    if link.hash() != text("hash") {
        return Err("hash");
    }
    if !public_key().verifies(text("hash"), text("signature")) {
        return Err("signature");
    }
    Ok(())
}
