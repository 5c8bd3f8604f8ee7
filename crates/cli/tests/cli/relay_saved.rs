//! A relay's saved snapshots (`docs/security.md`, "Data at rest" and "Low findings"): written
//! readable by their owner only, and a saved file that parses but that the engine finds invalid
//! is discarded at start instead of served; the relay waits for its upstream.

use std::path::Path;

use serde_json::Value;
use switchyard_testkit::server::{SdkKeyKind, TestServer, eventually};

use crate::relay::Relay;
use crate::{BIN, fresh_dir};

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_snapshot_is_private_and_an_invalid_one_is_not_served() {
    let dir = fresh_dir("relay-saved");
    let relay_dir = dir.join("relay");
    let mut upstream = TestServer::binary(BIN)
        .data_dir(dir.join("upstream"))
        .start()
        .await;
    upstream.seed_delivery_flags().await;
    let key = upstream.sdk_key(SdkKeyKind::Server).await;
    let key_id = key.split('_').nth(1).unwrap().to_owned();
    let saved = relay_dir.join(format!("{key_id}.json"));

    let relay = Relay::start(&upstream.base, &key, &relay_dir, 0).await;
    eventually("the relay saves upstream data", 30, || async {
        relay.readiness().await.0 == 200 && saved.exists()
    })
    .await;
    #[cfg(unix)]
    {
        assert_eq!(mode(&relay_dir), 0o700, "the relay's data directory");
        assert_eq!(mode(&saved), 0o600, "the saved snapshot");
    }
    relay.kill();
    upstream.kill();
    let good = std::fs::read(&saved).unwrap();

    // Upstream away: the valid saved file is served, and made private if an older version
    // left it readable by others.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&saved, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let relay = Relay::start(&upstream.base, &key, &relay_dir, 0).await;
    eventually("the relay serves its saved file", 30, || async {
        relay.readiness().await.0 == 200
    })
    .await;
    assert_eq!(relay.readiness().await.1["keys"][0]["data"], "disk");
    #[cfg(unix)]
    assert_eq!(mode(&saved), 0o600, "an old open snapshot is tightened");
    relay.kill();

    // The same file, still well-formed JSON of the right format, with one flag serving a
    // variation it does not have: the engine finds it malformed, so the relay must not serve it.
    let mut data: Value = serde_json::from_slice(&good).unwrap();
    let flag = data["flags"]
        .as_object_mut()
        .unwrap()
        .values_mut()
        .next()
        .unwrap();
    flag["fallthrough"] = serde_json::json!({"variation": 99});
    std::fs::write(&saved, serde_json::to_vec(&data).unwrap()).unwrap();
    let relay = Relay::start(&upstream.base, &key, &relay_dir, 0).await;
    let (code, ready) = relay.readiness().await;
    assert_eq!(code, 503, "{ready}");
    assert_eq!(ready["keys"][0]["data"], "none", "{ready}");
    assert!(!saved.exists(), "the invalid file is discarded");
    let snapshot = reqwest::Client::new()
        .get(format!("{}/sdk/v1/snapshot", relay.base))
        .header("authorization", &key)
        .send()
        .await
        .unwrap();
    assert_ne!(snapshot.status(), 200, "no data is served");
    relay.kill();
    let _ = std::fs::remove_dir_all(&dir);
}
