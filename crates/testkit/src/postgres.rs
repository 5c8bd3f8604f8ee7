//! A throwaway PostgreSQL cluster for tests: `initdb` into a temporary directory, `pg_ctl start`
//! on a free loopback port, trust authentication, stopped and removed on drop.
//!
//! `initdb` refuses to run as root, so as root the cluster is created and run as the `postgres`
//! user (`runuser -u postgres --`) in a directory that user owns.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

#[derive(Debug)]
pub struct TempCluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres_user: bool,
    databases: AtomicU32,
}

impl TempCluster {
    /// Starts a cluster, or returns `None` after a loud message when PostgreSQL is not installed
    /// (under `CI=true` that fails instead). Panics if PostgreSQL is installed but will not start.
    pub fn start() -> Option<TempCluster> {
        let Some(bin) = bin_dir() else {
            crate::skip_or_fail("PostgreSQL binaries (initdb, pg_ctl) not found");
            return None;
        };
        static CLUSTERS: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "switchyard-pg-{}-{}",
            std::process::id(),
            CLUSTERS.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        let as_postgres_user = is_root();
        let cluster = TempCluster {
            bin,
            dir,
            port: free_port(),
            as_postgres_user,
            databases: AtomicU32::new(0),
        };
        if as_postgres_user {
            cluster.run_checked(
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(&cluster.dir),
            );
        }
        let data = cluster.dir.join("data");
        cluster.run_checked(
            cluster
                .tool("initdb")
                .args([
                    "--auth=trust",
                    "--username=postgres",
                    "--encoding=UTF8",
                    "--no-sync",
                    "-D",
                ])
                .arg(&data),
        );
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            cluster.port,
            cluster.dir.display()
        );
        cluster.run_checked(
            cluster
                .tool("pg_ctl")
                .arg("-D")
                .arg(&data)
                .args(["-o", &options, "-l"])
                .arg(cluster.dir.join("log"))
                .args(["-w", "start"]),
        );
        Some(cluster)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates a fresh, empty database and returns its URL.
    pub fn create_database(&self) -> String {
        let name = format!("t{}", self.databases.fetch_add(1, Ordering::Relaxed));
        self.run_checked(self.tool("createdb").args([
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-U",
            "postgres",
            &name,
        ]));
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    fn tool(&self, name: &str) -> Command {
        let program = self.bin.join(name);
        if self.as_postgres_user {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    fn run_checked(&self, command: &mut Command) {
        let output = command
            .output()
            .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
        assert!(
            output.status.success(),
            "{command:?} failed: {}{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
        );
    }
}

impl Drop for TempCluster {
    fn drop(&mut self) {
        let _ = self
            .tool("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn bin_dir() -> Option<PathBuf> {
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let candidates = from_pg_config.into_iter().chain(
        std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.path().join("bin")),
    );
    candidates.into_iter().find(|dir| has_tools(dir))
}

fn has_tools(dir: &Path) -> bool {
    ["initdb", "pg_ctl", "createdb"]
        .iter()
        .all(|tool| dir.join(tool).exists())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .unwrap_or(54329)
}
