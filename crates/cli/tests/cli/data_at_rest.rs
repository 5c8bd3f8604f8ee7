//! `serve`'s files are its own (`docs/security.md`, "Data at rest"): the data directory is
//! 0700 (tightened, with a warning, when it already exists more open) and the SQLite database
//! with its `-wal` and `-shm` files 0600, whatever the umask.

#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use switchyard_testkit::server::TestServer;

use crate::{BIN, fresh_dir};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_keeps_its_data_private() {
    // A fresh directory: created 0700.
    let fresh = fresh_dir("private-fresh");
    let server = TestServer::binary(BIN).data_dir(&fresh).start().await;
    // A write, so the WAL files exist while it runs.
    server
        .admin_post(
            "/api/v1/projects/default/flags",
            serde_json::json!({"key": "private", "kind": "boolean"}),
        )
        .await;
    assert_eq!(mode(&fresh), 0o700, "data directory");
    for file in ["switchyard.db", "switchyard.db-wal", "switchyard.db-shm"] {
        let path = fresh.join(file);
        assert!(path.exists(), "{file} exists while serving");
        assert_eq!(mode(&path), 0o600, "{file}");
    }
    server.stop().await;

    // A directory someone made world-readable, with a world-readable database in it: both
    // tightened at start.
    let open = fresh_dir("private-open");
    std::fs::create_dir_all(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::copy(fresh.join("switchyard.db"), open.join("switchyard.db")).unwrap();
    std::fs::set_permissions(
        open.join("switchyard.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let server = TestServer::binary(BIN)
        .data_dir(&open)
        // Any token: the restart is waited for through `/readyz`, which needs none.
        .admin("unused")
        .start()
        .await;
    assert_eq!(
        mode(&open),
        0o700,
        "an existing open directory is tightened"
    );
    assert_eq!(mode(&open.join("switchyard.db")), 0o600);
    server.stop().await;
    let _ = std::fs::remove_dir_all(&fresh);
    let _ = std::fs::remove_dir_all(&open);
}
