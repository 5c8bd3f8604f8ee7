//! Durability: `switchyard serve` is killed with SIGKILL during a burst of writes; after a
//! restart every acknowledged write is present and the audit chain verifies. On SQLite the
//! server's process dies; on PostgreSQL the database crashes too (`pg_ctl stop -m immediate`)
//! in the middle of the burst and is started again before the server is killed.

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use switchyard_testkit::postgres::TempCluster;
use switchyard_testkit::server::{TestServer, eventually};

use crate::{BIN, fresh_dir, serve_fresh};
use serde_json::{Value, json};

/// What the writers saw: the keys whose creation was acknowledged (201), and the statuses of
/// writes the server answered otherwise.
#[derive(Default)]
struct Outcomes {
    acknowledged: Vec<String>,
    refused: Vec<u16>,
}

/// Four writers creating flags as fast as the server acknowledges them, until it is gone.
fn burst(
    server: &TestServer,
    token: &str,
) -> (Arc<Mutex<Outcomes>>, Vec<tokio::task::JoinHandle<()>>) {
    let outcomes = Arc::new(Mutex::new(Outcomes::default()));
    let writers = (0..4)
        .map(|w| {
            let (base, token, outcomes) = (server.base.clone(), token.to_owned(), outcomes.clone());
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
                            outcomes.lock().unwrap().acknowledged.push(key)
                        }
                        Ok(response) => outcomes
                            .lock()
                            .unwrap()
                            .refused
                            .push(response.status().as_u16()),
                        Err(_) => return, // the server is gone
                    }
                }
            })
        })
        .collect();
    (outcomes, writers)
}

/// Waits until `at_least` writes in all have been acknowledged.
async fn acknowledged(outcomes: &Mutex<Outcomes>, at_least: usize) {
    eventually(&format!("{at_least} acknowledged writes"), 60, || {
        std::future::ready(outcomes.lock().unwrap().acknowledged.len() >= at_least)
    })
    .await;
}

/// After the restart: every acknowledged flag is stored, and `audit verify` (on the database
/// directly, with the key in `dir`) verifies one record per stored flag after the bootstrap's.
async fn check_nothing_acknowledged_was_lost(
    restarted: &mut TestServer,
    acknowledged: &[String],
    verify_args: &[&str],
) {
    assert!(
        restarted.first_start_token.is_none(),
        "a restart must not bootstrap again"
    );
    let flags = restarted.admin_get("/api/v1/projects/default/flags").await;
    let stored: HashSet<&str> = flags
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
    let stored = stored.len();
    restarted.kill();

    let verify = Command::new(BIN)
        .args(["audit", "verify"])
        .args(verify_args)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&verify.stdout).unwrap();
    assert!(verify.status.success(), "{report}");
    // Bootstrap, then one record per stored flag: nothing written without its audit record.
    assert_eq!(report["records"].as_u64().unwrap() as usize, stored + 1);
}

fn data_dir_arg(dir: &Path) -> String {
    dir.to_string_lossy().into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill() {
    let (mut server, dir) = serve_fresh("crash").await;
    let token = server
        .first_start_token
        .clone()
        .expect("first start prints the admin token");
    let (outcomes, writers) = burst(&server, &token);
    // Kill in the middle of the burst, once a good number of writes has been acknowledged.
    acknowledged(&outcomes, 150).await;
    server.kill(); // SIGKILL
    for writer in writers {
        writer.await.unwrap();
    }
    let outcomes = std::mem::take(&mut *outcomes.lock().unwrap());
    assert_eq!(outcomes.refused, Vec::<u16>::new(), "no write refused");

    let restart = TestServer::binary(BIN).data_dir(&dir).admin(&token);
    let mut restarted = restart.start().await;
    let dir_arg = data_dir_arg(&dir);
    check_nothing_acknowledged_was_lost(
        &mut restarted,
        &outcomes.acknowledged,
        &["--data-dir", &dir_arg],
    )
    .await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill_and_a_postgresql_crash() {
    let Some(cluster) = TempCluster::start() else {
        return;
    };
    let url = cluster.create_database();
    // The data directory holds only the audit signing key here.
    let dir = fresh_dir("crash-postgres");
    let serve = || TestServer::binary(BIN).data_dir(&dir).database_url(&url);
    let mut server = serve().start().await;
    let token = server
        .first_start_token
        .clone()
        .expect("first start prints the admin token");
    let (outcomes, writers) = burst(&server, &token);
    acknowledged(&outcomes, 150).await;
    // PostgreSQL dies mid-burst (transactions in flight are cut off) and comes back; the
    // server, still running, must acknowledge only what was committed, then goes on writing.
    let before_crash = outcomes.lock().unwrap().acknowledged.len();
    tokio::task::block_in_place(|| cluster.crash_and_restart());
    acknowledged(&outcomes, before_crash + 50).await;
    server.kill(); // SIGKILL, mid-burst again
    for writer in writers {
        writer.await.unwrap();
    }
    let outcomes = std::mem::take(&mut *outcomes.lock().unwrap());
    // While the database was down, writes failed as server errors, never as anything else.
    assert!(
        outcomes.refused.iter().all(|status| *status >= 500),
        "{:?}",
        outcomes.refused
    );
    eprintln!(
        "{} refused while PostgreSQL was down",
        outcomes.refused.len()
    );

    let mut restarted = serve().admin(&token).start().await;
    let dir_arg = data_dir_arg(&dir);
    check_nothing_acknowledged_was_lost(
        &mut restarted,
        &outcomes.acknowledged,
        &["--data-dir", &dir_arg, "--database-url", &url],
    )
    .await;
    std::fs::remove_dir_all(&dir).unwrap();
}
