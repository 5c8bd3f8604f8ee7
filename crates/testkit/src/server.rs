//! [`TestServer`]: a running Switchyard server for tests and benchmarks, started one of two
//! ways — in this process on port 0 ([`TestServer::in_process`], with the delivery and guard
//! settings a test wants) or as a process of the real `switchyard serve` binary
//! ([`TestServer::binary`], for crash, relay and end-to-end tests and the benchmarks) — and read
//! the same way: its base URL, its admin token, a typed [`Client`], the raw [`TestServer::call`].
//!
//! This module is the only place tests and benchmarks touch the server's internals (its
//! configuration types and `serve`/`bootstrap`), so moving those inside the server changes the
//! lines here and nothing else.

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use serde_json::Value;
pub use switchyard_client::types::SdkKeyKind;
use switchyard_client::types::{FlagInput, SdkKeyInput, TargetingInput};
pub use switchyard_client::{Client, Method, StatusCode};
pub use switchyard_server::delivery::DeliveryConfig;
pub use switchyard_server::releases::GuardConfig;
pub use switchyard_server::{AppState, Clock};
use tokio::sync::oneshot;

/// Polls `check` until it returns `Some`, failing the test after `seconds`.
pub async fn wait_for<T, F>(what: &str, seconds: u64, mut check: impl FnMut() -> F) -> T
where
    F: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Polls `check` until it holds, failing the test after `seconds`.
pub async fn eventually<F>(what: &str, seconds: u64, mut check: impl FnMut() -> F)
where
    F: Future<Output = bool>,
{
    wait_for(what, seconds, || {
        let holds = check();
        async move { holds.await.then_some(()) }
    })
    .await
}

/// A loopback port nobody listens on at the moment of asking. Racy (another process may take
/// it before it is bound): prefer [`spawn_listening`] with `--listen 127.0.0.1:0`, and keep
/// this for restarting on a port a process already had.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A started `switchyard serve` or `relay` process and the address it printed
/// (`listening on ADDR`), so it can bind `127.0.0.1:0` itself.
#[derive(Debug)]
pub struct Listening {
    pub child: Child,
    pub address: std::net::SocketAddr,
    /// Every line the process printed on stdout before and after `listening on`.
    pub lines: mpsc::Receiver<String>,
}

/// Spawns `command` with its stdout piped and waits (30 s at most) for its `listening on ADDR`
/// line. Every stdout line is read (so the process never blocks on a full pipe) and passed on.
pub fn spawn_listening(command: &mut Command) -> Listening {
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {command:?}: {e}"));
    let stdout = child.stdout.take().expect("piped stdout");
    let (sender, lines) = mpsc::channel();
    let (found, address) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(address) = line.trim().strip_prefix("listening on ") {
                let _ = found.send(address.to_owned());
            }
            let _ = sender.send(line);
        }
    });
    let address = match address.recv_timeout(Duration::from_secs(30)) {
        Ok(address) => address
            .parse()
            .unwrap_or_else(|e| panic!("{command:?} printed an address {address:?}: {e}")),
        Err(_) => {
            let _ = child.kill();
            let status = child.wait();
            panic!("{command:?} printed no `listening on` line ({status:?})");
        }
    };
    Listening {
        child,
        address,
        lines,
    }
}

/// A started server. Dropping it stops it (a process is killed).
#[derive(Debug)]
pub struct TestServer {
    /// `http://127.0.0.1:{port}`.
    pub base: String,
    /// The admin API token: created by this start, or the one the start was given.
    pub admin: String,
    /// The admin token this start printed or created, when it bootstrapped a fresh database.
    pub first_start_token: Option<String>,
    client: Client,
    running: Running,
}

#[derive(Debug)]
enum Running {
    InProcess {
        stop: Option<oneshot::Sender<()>>,
        task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
        state: Arc<AppState>,
    },
    Process(Child),
    Stopped,
}

/// How to start a server in this process: see [`TestServer::in_process`].
#[derive(Debug, Clone)]
pub struct InProcess {
    database_url: String,
    admin: Option<String>,
    delivery: DeliveryConfig,
    guard: GuardConfig,
    clock: Clock,
}

/// How to start the `switchyard serve` binary: see [`TestServer::binary`].
#[derive(Debug, Clone)]
pub struct Binary {
    path: PathBuf,
    args: Vec<String>,
    admin: Option<String>,
    log: String,
}

impl TestServer {
    /// A server in this process on `database_url`, on port 0. It bootstraps the database unless
    /// given the admin token of one that is (a second replica).
    pub fn in_process(database_url: &str) -> InProcess {
        InProcess {
            database_url: database_url.to_owned(),
            admin: None,
            delivery: DeliveryConfig::default(),
            guard: GuardConfig::default(),
            clock: Clock::default(),
        }
    }

    /// `binary serve` on a free port, logging warnings. A first start's printed admin token is
    /// read from its standard output; a restart must be given the token.
    pub fn binary(path: impl Into<PathBuf>) -> Binary {
        Binary {
            path: path.into(),
            args: Vec::new(),
            admin: None,
            log: "warn".into(),
        }
    }

    fn new(base: String, admin: String, first: Option<String>, running: Running) -> TestServer {
        let client = Client::new(&base).with_token(Some(&admin));
        TestServer {
            base,
            admin,
            first_start_token: first,
            client,
            running,
        }
    }

    /// A typed client holding the admin token.
    /// The server's state, when it runs in this process (to look at its background work).
    pub fn state(&self) -> Option<Arc<AppState>> {
        match &self.running {
            Running::InProcess { state, .. } => Some(state.clone()),
            _ => None,
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// A typed client holding `token` (or none).
    pub fn client_as(&self, token: Option<&str>) -> Client {
        self.client.with_token(token)
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.base
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("the base URL ends with a port")
    }

    /// The process id of a server started from the binary.
    pub fn pid(&self) -> Option<u32> {
        match &self.running {
            Running::Process(child) => Some(child.id()),
            _ => None,
        }
    }

    /// `path` (from the root: `/api/v1/…`, `/sdk/v1/…`) with `token`: the status and the body
    /// (JSON, or the text as a JSON string).
    pub async fn call(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call_with(token, method, path, body, &[]).await
    }

    /// [`TestServer::call`] with extra request headers.
    pub async fn call_with(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, String)],
    ) -> (StatusCode, Value) {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        self.client_as(token)
            .call_with(method.clone(), path, body, &headers)
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// [`TestServer::call`] as the admin, failing the test unless it succeeds.
    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, body) = self
            .call(Some(&self.admin), method.clone(), path, body)
            .await;
        assert!(status.is_success(), "{method} {path}: {status} {body}");
        body
    }

    /// `GET path` as the admin, failing the test unless it succeeds: the body.
    pub async fn admin_get(&self, path: &str) -> Value {
        self.admin(Method::GET, path, None).await
    }

    /// `POST path` with `body` as the admin, failing the test unless it succeeds: the answer.
    pub async fn admin_post(&self, path: &str, body: Value) -> Value {
        self.admin(Method::POST, path, Some(body)).await
    }

    /// Seeds `testdata/delivery-flags.json`: boolean `checkout` (on, client-visible), string
    /// `banner` (a rule for Germany), number `limit` (split 50/50), object `theme` (off) in
    /// project `default`, with their targeting in `production`.
    pub async fn seed_delivery_flags(&self) {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../testdata/delivery-flags.json"
        );
        let text = std::fs::read_to_string(path).expect("testdata/delivery-flags.json");
        let fixture: Value = serde_json::from_str(&text).expect("the fixture is JSON");
        let api = self.client();
        for flag in fixture["flags"].as_array().into_iter().flatten() {
            let input: FlagInput = serde_json::from_value(flag.clone()).expect("a flag");
            api.create_flag("default", &input).await.expect("create");
        }
        for (flag, targeting) in fixture["production"].as_object().into_iter().flatten() {
            let current = api.targeting("default", "production", flag).await;
            let mut input: TargetingInput =
                serde_json::from_value(targeting.clone()).expect("targeting");
            input.version = Some(current.expect("read targeting").targeting.version);
            let updated = api.update_targeting("default", "production", flag, &input);
            updated.await.expect("update targeting");
        }
    }

    /// Creates boolean flag `key` in project `default`, on in `production` and serving `off`
    /// to everyone there: where a release of `on` starts from.
    pub async fn boolean_flag_serving_off(&self, key: &str) {
        let flag = serde_json::json!({"key": key, "kind": "boolean"});
        self.flag_serving(key, flag, 1).await;
    }

    /// Creates string flag `key` in project `default` with variations `a` and `b` of the two
    /// `values`, on in `production` and serving `a` to everyone there: where an experiment of
    /// `a` against `b` starts from.
    pub async fn string_flag_serving_a(&self, key: &str, values: [&str; 2]) {
        let [a, b] = values;
        let flag = serde_json::json!({"key": key, "kind": "string", "off_variation": "a",
            "variations": [{"key": "a", "value": a}, {"key": "b", "value": b}]});
        self.flag_serving(key, flag, 0).await;
    }

    /// Creates `flag` (its key `key`) in project `default`, on in `production` and serving
    /// variation `index` to everyone there (as fallthrough and off variation both).
    async fn flag_serving(&self, key: &str, flag: Value, index: usize) {
        self.admin_post("/api/v1/projects/default/flags", flag)
            .await;
        let targeting = serde_json::json!({"version": 0, "on": true, "off_variation": index,
                                            "fallthrough": {"variation": index}});
        let path = format!("/api/v1/projects/default/environments/production/flags/{key}");
        self.admin(Method::PUT, &path, Some(targeting)).await;
    }

    /// A new SDK key of `kind` for `default`/`production`.
    pub async fn sdk_key(&self, kind: SdkKeyKind) -> String {
        let input = SdkKeyInput {
            kind,
            name: String::new(),
            comment: None,
        };
        let created = self
            .client()
            .create_sdk_key("default", "production", &input);
        created
            .await
            .expect("create an SDK key")
            .key
            .expect("shown once")
    }

    /// Stops the server: in process, gracefully (in-flight requests finish); a process is killed.
    pub async fn stop(mut self) {
        match std::mem::replace(&mut self.running, Running::Stopped) {
            Running::InProcess { stop, task, .. } => {
                if let Some(stop) = stop {
                    let _ = stop.send(());
                }
                if let Some(task) = task {
                    task.await.expect("the server task").expect("the server");
                }
            }
            Running::Process(child) => {
                self.running = Running::Process(child);
                self.kill();
            }
            Running::Stopped => {}
        }
    }

    /// Kills a server process with SIGKILL (no chance to finish anything) and reaps it.
    pub fn kill(&mut self) {
        if let Running::Process(child) = &mut self.running {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.running = Running::Stopped;
    }
}

/// A failing test must not leave its server running (it would hold the test's output open).
impl Drop for TestServer {
    fn drop(&mut self) {
        match &mut self.running {
            Running::InProcess { stop, .. } => {
                if let Some(stop) = stop.take() {
                    let _ = stop.send(());
                }
            }
            Running::Process(child) => {
                let _ = child.kill();
                let _ = child.wait();
            }
            Running::Stopped => {}
        }
    }
}

impl InProcess {
    /// Join a database that is already bootstrapped, as the admin with `token`.
    pub fn admin(mut self, token: &str) -> InProcess {
        self.admin = Some(token.to_owned());
        self
    }

    pub fn delivery(mut self, delivery: DeliveryConfig) -> InProcess {
        self.delivery = delivery;
        self
    }

    pub fn guard(mut self, guard: GuardConfig) -> InProcess {
        self.guard = guard;
        self
    }

    /// Runs on `clock` (a clone shares its time: replicas, or a restart that finds its
    /// schedules missed).
    pub fn clock(mut self, clock: &Clock) -> InProcess {
        self.clock = clock.clone();
        self
    }

    pub async fn start(self) -> TestServer {
        // One fixed audit key for every in-process server, as replicas share one by configuration.
        let store = switchyard_store::Store::open(&self.database_url)
            .await
            .expect("open the store")
            .with_audit_signer(switchyard_store::AuditSigner::from_seed([0x5a; 32]));
        // Every start bootstraps, as `serve` does: it also upgrades data an earlier version wrote.
        let created = switchyard_server::bootstrap(&store)
            .await
            .expect("bootstrap");
        let (admin, first) = match self.admin {
            Some(token) => (token, None),
            None => {
                let token = created.expect("a fresh database").token;
                (token.clone(), Some(token))
            }
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("listen");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let (stop, stopped) = oneshot::channel::<()>();
        let access = switchyard_server::access::AccessConfig::default();
        let state = AppState::with_access(store, self.delivery, self.guard, access, self.clock);
        // Test receivers listen on loopback, which a real server refuses by default.
        state
            .webhooks
            .allow_targets(switchyard_server::releases::WebhookTargets::loopback());
        let task = tokio::spawn(switchyard_server::serve(listener, state.clone(), async {
            let _ = stopped.await;
        }));
        let running = Running::InProcess {
            stop: Some(stop),
            task: Some(task),
            state,
        };
        TestServer::new(base, admin, first, running)
    }
}

impl Binary {
    /// Serve from a data directory (SQLite).
    pub fn data_dir(self, dir: impl Into<PathBuf>) -> Binary {
        let dir = dir.into().to_string_lossy().into_owned();
        self.args(["--data-dir", &dir])
    }

    /// Serve from a database URL (`postgres://…`).
    pub fn database_url(self, url: &str) -> Binary {
        self.args(["--database-url", url])
    }

    /// More arguments to `serve`.
    pub fn args<'a>(mut self, args: impl IntoIterator<Item = &'a str>) -> Binary {
        self.args.extend(args.into_iter().map(str::to_owned));
        self
    }

    /// The server's `--log` level (default `warn`).
    pub fn log(mut self, level: &str) -> Binary {
        self.log = level.to_owned();
        self
    }

    /// The admin token of the database this (re)start serves, which prints none.
    pub fn admin(mut self, token: &str) -> Binary {
        self.admin = Some(token.to_owned());
        self
    }

    /// Starts the process on a port it picks (`--listen 127.0.0.1:0`, unless the arguments
    /// name one) and waits (with a deadline) until it is ready.
    pub async fn start(self) -> TestServer {
        let listen: &[&str] = match self.args.iter().any(|arg| arg == "--listen") {
            true => &[],
            false => &["--listen", "127.0.0.1:0"],
        };
        let started = spawn_listening(
            Command::new(&self.path)
                .args(["serve", "--log", &self.log])
                .args(listen)
                .args(&self.args)
                .stderr(Stdio::inherit()),
        );
        let base = format!("http://{}", started.address);
        let ready = Client::new(&base);
        eventually("the server to be ready", 30, || async {
            let answer = ready.call(Method::GET, "/readyz", None).await;
            answer.is_ok_and(|(status, _)| status.is_success())
        })
        .await;
        // A first start prints the token before `listening on`, so it has been read by now.
        let first = started
            .lines
            .try_iter()
            .find_map(|line| Some(line.trim().strip_prefix("admin API token: ")?.to_owned()));
        let admin = self.admin.or(first.clone()).expect(
            "a first start prints the admin token; give a restart the token with .admin(…)",
        );
        TestServer::new(base, admin, first, Running::Process(started.child))
    }
}
