//! A throwaway PostgreSQL cluster for tests: `initdb` into a temporary directory, `pg_ctl start`
//! on a free loopback port, trust authentication, stopped and removed on drop.
//!
//! The binaries are found with `pg_config --bindir` or in `/usr/lib/postgresql/*/bin`;
//! `SWITCHYARD_PG_BINDIR` names their directory instead (`SWITCHYARD_PG_BINDIR=/nonexistent`
//! simulates a machine without PostgreSQL, whose tests then skip, or fail under `CI=true`).
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
    /// Starts a cluster, or returns `None` after [`crate::skip`]ping when PostgreSQL is not
    /// installed (under `CI=true` that fails). Panics if PostgreSQL is installed but will not
    /// start.
    pub fn start() -> Option<TempCluster> {
        let Some(bin) = bin_dir() else {
            crate::skip("PostgreSQL binaries (initdb, pg_ctl, createdb) not found");
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
        let mut cluster = TempCluster {
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
        // PostgreSQL binds its port itself, so a port found free may be taken by the time it
        // starts: a start that fails is retried on another port (its log says why it failed).
        for attempt in 1.. {
            let Err(failure) = cluster.run(&mut cluster.pg_ctl_start(&data)) else {
                break;
            };
            let log = std::fs::read_to_string(cluster.dir.join("log")).unwrap_or_default();
            let port_taken = log.contains("could not bind") || log.contains("in use");
            assert!(port_taken && attempt < 5, "{failure}");
            cluster.port = free_port();
        }
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

    /// Crashes the cluster (`pg_ctl stop -m immediate`: every server process quits at once,
    /// without a checkpoint) and starts it again on the same port, which replays the
    /// write-ahead log. (`fsync=off` does not weaken this: a killed PostgreSQL loses nothing it
    /// has handed to the kernel; only a machine crash would.)
    pub fn crash_and_restart(&self) {
        let data = self.dir.join("data");
        self.run_checked(self.tool("pg_ctl").arg("-D").arg(&data).args([
            "-m",
            "immediate",
            "-w",
            "stop",
        ]));
        self.run_checked(&mut self.pg_ctl_start(&data));
    }

    /// Runs the SQL script `sql` (such as a `pg_dump` plain dump) with `psql` in database `url`
    /// (one of [`TempCluster::create_database`]'s), stopping at its first error.
    pub fn run_sql(&self, url: &str, sql: &str) {
        let name = url.rsplit('/').next().unwrap_or_default();
        let mut psql = self
            .tool("psql")
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p"])
            .arg(self.port.to_string())
            .args(["-U", "postgres", "-d", name])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run psql: {e}"));
        // Through standard input: the `postgres` user may not be able to read a file of ours.
        let mut stdin = psql.stdin.take().expect("piped stdin");
        std::io::Write::write_all(&mut stdin, sql.as_bytes()).expect("write the script to psql");
        drop(stdin);
        let output = psql.wait_with_output().expect("psql");
        assert!(
            output.status.success(),
            "psql: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// `pg_dump --inserts` of database `url`: a plain SQL script of its schema and rows, one
    /// `INSERT` per row (readable in review, loadable by any later PostgreSQL).
    pub fn dump(&self, url: &str) -> String {
        let name = url.rsplit('/').next().unwrap_or_default();
        let output = self
            .tool("pg_dump")
            .args([
                "--inserts",
                "--no-owner",
                "--no-privileges",
                "-h",
                "127.0.0.1",
                "-p",
            ])
            .arg(self.port.to_string())
            .args(["-U", "postgres", name])
            .output()
            .unwrap_or_else(|e| panic!("cannot run pg_dump: {e}"));
        assert!(
            output.status.success(),
            "pg_dump: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("pg_dump writes UTF-8")
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

    fn pg_ctl_start(&self, data: &Path) -> Command {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port,
            self.dir.display()
        );
        // More server options for profiling a run, such as
        // `-c shared_preload_libraries=pg_stat_statements`.
        let options = match std::env::var("SWITCHYARD_TEST_PG_OPTIONS") {
            Ok(extra) => format!("{options} {extra}"),
            Err(_) => options,
        };
        let mut command = self.tool("pg_ctl");
        command
            .arg("-D")
            .arg(data)
            .args(["-o", &options, "-l"])
            .arg(self.dir.join("log"))
            .args(["-w", "start"]);
        command
    }

    /// Runs `command`: `Err` with what it printed (and the server log) if it failed.
    fn run(&self, command: &mut Command) -> Result<(), String> {
        let output = command
            .output()
            .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
        if output.status.success() {
            return Ok(());
        }
        Err(format!(
            "{command:?} failed: {}{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
        ))
    }

    fn run_checked(&self, command: &mut Command) {
        if let Err(failure) = self.run(command) {
            panic!("{failure}");
        }
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
    if let Some(dir) = std::env::var_os("SWITCHYARD_PG_BINDIR") {
        return Some(PathBuf::from(dir)).filter(|dir| has_tools(dir));
    }
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
