//! Durability: `switchyard serve` is killed with SIGKILL during a burst of writes; after a
//! restart every acknowledged write is present and the audit chain verifies.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{BIN, serve};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill() {
    let dir = std::env::temp_dir().join(format!("switchyard-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut server = serve(&dir).await;
    let token = server
        .first_start_token
        .clone()
        .expect("first start prints the admin token");
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (base, token, acknowledged) =
                (server.base.clone(), token.clone(), acknowledged.clone());
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                for i in 0.. {
                    let key = format!("w{w}-{i}");
                    let body = json!({"key": key, "kind": "boolean", "comment": "burst"});
                    let sent = http
                        .post(format!("{base}/api/v1/projects/default/flags"))
                        .bearer_auth(&token)
                        .json(&body)
                        .send()
                        .await;
                    match sent {
                        Ok(response) if response.status().as_u16() == 201 => {
                            acknowledged.lock().unwrap().push(key)
                        }
                        Ok(response) => panic!("write refused: {}", response.status()),
                        Err(_) => return, // the server is gone
                    }
                }
            })
        })
        .collect();
    // Kill in the middle of the burst, once a good number of writes has been acknowledged.
    let deadline = Instant::now() + Duration::from_secs(60);
    while acknowledged.lock().unwrap().len() < 150 {
        assert!(Instant::now() < deadline, "writes are too slow");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    for writer in writers {
        writer.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();

    let mut restarted = serve(&dir).await;
    assert!(
        restarted.first_start_token.is_none(),
        "a restart must not bootstrap again"
    );
    let flags: Value = reqwest::Client::new()
        .get(format!("{}/api/v1/projects/default/flags", restarted.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let stored: std::collections::HashSet<&str> = flags
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["key"].as_str().unwrap())
        .collect();
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|k| !stored.contains(k.as_str()))
        .collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged writes lost: {lost:?}",
        lost.len()
    );
    eprintln!(
        "{} acknowledged, {} stored",
        acknowledged.len(),
        stored.len()
    );
    restarted.child.kill().unwrap();
    restarted.child.wait().unwrap();

    let verify = Command::new(BIN)
        .args(["audit", "verify", "--data-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&verify.stdout).unwrap();
    assert!(verify.status.success(), "{report}");
    // Bootstrap, then one record per stored flag: nothing written without its audit record.
    assert_eq!(
        report["records"].as_u64().unwrap() as usize,
        stored.len() + 1
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
