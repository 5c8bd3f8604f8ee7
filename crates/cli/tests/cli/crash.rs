//! Durability: `switchyard serve` is killed with SIGKILL during a burst of writes; after a
//! restart every acknowledged write is present and the audit chain verifies.

use std::process::Command;
use std::sync::{Arc, Mutex};

use switchyard_testkit::server::{TestServer, eventually};

use crate::{BIN, serve_fresh};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill() {
    let (mut server, dir) = serve_fresh("crash").await;
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
    eventually("150 acknowledged writes", 60, || {
        std::future::ready(acknowledged.lock().unwrap().len() >= 150)
    })
    .await;
    server.kill(); // SIGKILL
    for writer in writers {
        writer.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();

    let restart = TestServer::binary(BIN).data_dir(&dir).admin(&token);
    let mut restarted = restart.start().await;
    assert!(
        restarted.first_start_token.is_none(),
        "a restart must not bootstrap again"
    );
    let flags = restarted.admin_get("/api/v1/projects/default/flags").await;
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
    restarted.kill();

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
