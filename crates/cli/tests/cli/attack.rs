//! Hostile connections: `switchyard serve` in its own process, allowed 500 connections, is
//! attacked by 1,050 at once — idle sockets that send nothing, slowloris heads sent a byte at a
//! time, request bodies that stop arriving, keep-alive connections left idle after a request. The connections over the limit get the documented
//! 503; the header and idle timeouts drop the attackers, so `/healthz` and the API answer again
//! as soon as the header timeout has passed; the open-connections gauge returns to idle; and a
//! second identical attack does not grow the server's memory.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use switchyard_testkit::server::{TestServer, wait_for};
use switchyard_testkit::skip;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{BIN, fresh_dir};

const LIMIT: usize = 500;
const IDLE_SOCKETS: usize = 800;
const SLOWLORIS: usize = 150;
const STALLED_BODIES: usize = 50;
const IDLE_KEEP_ALIVES: usize = 50;
const ATTACKERS: usize = IDLE_SOCKETS + SLOWLORIS + STALLED_BODIES + IDLE_KEEP_ALIVES;
const HEADER_TIMEOUT: Duration = Duration::from_secs(2);
const IDLE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long past its timeout an attacker may still be connected before the test fails.
const GRACE: Duration = Duration::from_secs(5);

/// What became of one attacking connection.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    /// Answered with the documented refusal, then closed.
    Refused,
    /// Closed by the server without an answer.
    Dropped,
    /// Anything else the server sent (a failure).
    Answered(String),
    /// Still open past its deadline (a failure).
    Held,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_connections_are_refused_or_dropped_and_cost_nothing_lasting() {
    let needed = ATTACKERS as u64 + 200;
    match switchyard_server::open_files_limit() {
        Some(limit) if limit >= needed => {}
        limit => {
            let what = format!("the attack needs {needed} open files, the limit is {limit:?}");
            return skip(&what);
        }
    }
    let dir = fresh_dir("attack");
    let server = TestServer::binary(BIN)
        .data_dir(&dir)
        .args(["--max-connections", &LIMIT.to_string()])
        .args(["--header-timeout", "2s", "--idle-timeout", "3s"])
        .start()
        .await;
    let pid = server.pid().expect("a process");
    let open = settled_connections(&server).await;
    assert_eq!(
        open, 1,
        "only the metrics request itself is open before the attack"
    );

    let before = memory_kib(pid);
    let first = attack(&server).await;
    let after_first = memory_kib(pid);
    let second = attack(&server).await;
    let after_second = memory_kib(pid);
    for report in [&first, &second] {
        assert!(
            report.probes_refused > 0 && report.recovered_after >= HEADER_TIMEOUT / 2,
            "probes were refused while the attackers held every place: {report:?}"
        );
    }
    eprintln!(
        "attack: 1st {first:?}; 2nd {second:?}; RSS {before} KiB before, {after_first} KiB \
         after the first, {after_second} KiB after the second"
    );
    assert!(
        after_second * 10 < after_first * 11,
        "a second identical attack grew the server from {after_first} KiB to {after_second} KiB"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// What one attack did, for the log.
#[derive(Debug)]
struct Report {
    refused: usize,
    dropped: usize,
    refusals_counted: u64,
    probes_refused: usize,
    recovered_after: Duration,
}

/// One attack: opens every attacker, checks the service comes back and every attacker ends,
/// waits until the server holds no connection but the metrics request, and says what happened.
async fn attack(server: &TestServer) -> Report {
    let refused_before = metric(server, "switchyard_http_connections_refused_total").await;
    let started = Instant::now();
    let address = format!("127.0.0.1:{}", server.port());
    let mut attackers = Vec::new();
    // The slow ones first, so they hold connections rather than being refused.
    for _ in 0..SLOWLORIS {
        let stream = TcpStream::connect(&address).await.expect("connect");
        attackers.push(("slowloris", tokio::spawn(slowloris(stream))));
    }
    for _ in 0..STALLED_BODIES {
        let stream = TcpStream::connect(&address).await.expect("connect");
        let stalled = stalled_body(stream, server.admin.clone());
        attackers.push(("stalled body", tokio::spawn(stalled)));
    }
    for _ in 0..IDLE_KEEP_ALIVES {
        let stream = TcpStream::connect(&address).await.expect("connect");
        attackers.push(("idle keep-alive", tokio::spawn(idle_keep_alive(stream))));
    }
    for _ in 0..IDLE_SOCKETS {
        let stream = TcpStream::connect(&address).await.expect("connect");
        let idle = outcome(stream, HEADER_TIMEOUT + GRACE);
        attackers.push(("idle", tokio::spawn(idle)));
    }

    // The connections over the limit are answered at once (the rest are held until the
    // timeouts drop them).
    wait_for("the connections over the limit to be answered", 10, || {
        let answered = attackers.iter().filter(|(_, a)| a.is_finished()).count();
        std::future::ready((answered >= ATTACKERS - LIMIT).then_some(()))
    })
    .await;
    // While the attackers hold every place, a new client is refused; once the header timeout
    // has dropped them, it is served. Each probe is a fresh connection that must be answered
    // within a second, one way or the other.
    let probe = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(1))
        .build()
        .expect("a client");
    let probes_refused = AtomicUsize::new(0);
    let health = format!("{}/healthz", server.base);
    let api = format!("{}/api/v1/projects", server.base);
    wait_for("/healthz and the API to answer again", 15, || {
        let (probe, health, api) = (probe.clone(), health.clone(), api.clone());
        let token = server.admin.clone();
        let refused = &probes_refused;
        async move {
            let healthy = probe.get(&health).send().await;
            let listed = probe.get(&api).bearer_auth(&token).send().await;
            let mut served = true;
            for answer in [healthy, listed] {
                let answer = answer.expect("a probe is answered within a second");
                match answer.status().as_u16() {
                    200 => {}
                    503 => {
                        assert_refusal(&answer.text().await.unwrap_or_default());
                        refused.fetch_add(1, Ordering::Relaxed);
                        served = false;
                    }
                    status => panic!("probe answered {status}"),
                }
            }
            served.then_some(())
        }
    })
    .await;
    let recovered_after = started.elapsed();

    let mut report = Report {
        refused: 0,
        dropped: 0,
        refusals_counted: 0,
        probes_refused: probes_refused.into_inner(),
        recovered_after,
    };
    for (kind, attacker) in attackers {
        match attacker.await.expect("an attacker") {
            Outcome::Refused => report.refused += 1,
            Outcome::Dropped => report.dropped += 1,
            other => panic!("a {kind} attacker: {other:?}"),
        }
    }
    assert!(
        report.refused >= ATTACKERS - LIMIT - 50,
        "the connections over the limit are refused: {report:?}"
    );
    assert!(
        report.dropped >= LIMIT - 50,
        "the connections within the limit are dropped by the timeouts: {report:?}"
    );
    let refused_after = metric(server, "switchyard_http_connections_refused_total").await;
    report.refusals_counted = refused_after - refused_before;
    assert!(
        report.refusals_counted >= report.refused as u64,
        "every refusal is counted: {report:?}"
    );
    let open = settled_connections(server).await;
    assert_eq!(open, 1, "the gauge returns to idle after the attack");
    report
}

/// Sends half a request head, then a byte every half second, until the server ends it.
async fn slowloris(mut stream: TcpStream) -> Outcome {
    let head = b"GET /healthz HTTP/1.1\r\nhost: localhost\r\nx-slow: ";
    if stream.write_all(head).await.is_err() {
        return Outcome::Dropped;
    }
    let deadline = Instant::now() + HEADER_TIMEOUT + GRACE;
    let mut received = Vec::new();
    let mut buffer = [0u8; 1024];
    let mut drip = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            read = stream.read(&mut buffer) => match read {
                Ok(0) | Err(_) => return classify(&received),
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            },
            _ = drip.tick() => {
                if Instant::now() > deadline {
                    return Outcome::Held;
                }
                // A write may fail once the server has closed; the read then says how.
                let _ = stream.write_all(b"a").await;
            }
        }
    }
}

/// Sends a whole request head announcing a body, one byte of the body, and nothing more.
async fn stalled_body(mut stream: TcpStream, token: String) -> Outcome {
    let request = format!(
        "POST /api/v1/projects/default/flags HTTP/1.1\r\nhost: localhost\r\n\
         authorization: Bearer {token}\r\ncontent-type: application/json\r\n\
         content-length: 64\r\n\r\n{{"
    );
    if stream.write_all(request.as_bytes()).await.is_err() {
        return Outcome::Dropped;
    }
    outcome(stream, IDLE_TIMEOUT + GRACE).await
}

/// Sends one request, reads its answer, then keeps the connection open without a word.
async fn idle_keep_alive(mut stream: TcpStream) -> Outcome {
    let request = b"GET /healthz HTTP/1.1\r\nhost: localhost\r\n\r\n";
    if stream.write_all(request).await.is_err() {
        return Outcome::Dropped;
    }
    let mut answer = Vec::new();
    let mut buffer = [0u8; 1024];
    while !String::from_utf8_lossy(&answer).ends_with(r#"{"status":"ok"}"#) {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return classify(&answer),
            Ok(n) => answer.extend_from_slice(&buffer[..n]),
        }
    }
    outcome(stream, HEADER_TIMEOUT + GRACE).await
}

/// Reads until the server closes `stream` or `patience` runs out.
async fn outcome(mut stream: TcpStream, patience: Duration) -> Outcome {
    let mut received = Vec::new();
    let read = tokio::time::timeout(patience, async {
        let mut buffer = [0u8; 1024];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    });
    match read.await {
        Ok(()) => classify(&received),
        Err(_) => Outcome::Held,
    }
}

fn classify(received: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(received);
    if text.is_empty() {
        return Outcome::Dropped;
    }
    match text.split_once("\r\n\r\n") {
        Some((head, body))
            if head.starts_with("HTTP/1.1 503 ")
                && head.to_ascii_lowercase().contains("\r\nconnection: close") =>
        {
            assert_refusal(body);
            Outcome::Refused
        }
        _ => Outcome::Answered(text.into_owned()),
    }
}

/// The documented refusal's body.
fn assert_refusal(body: &str) {
    let parsed: Value = serde_json::from_str(body).unwrap_or_default();
    assert_eq!(parsed["error"]["code"], "unavailable", "{body}");
    assert_eq!(
        parsed["error"]["message"], "connection limit reached",
        "{body}"
    );
}

/// The open-connections gauge once it stops falling: the metrics request itself counts.
async fn settled_connections(server: &TestServer) -> u64 {
    let gauge = "switchyard_http_connections_open";
    let settled = wait_for(
        "the open-connections gauge to return to idle",
        15,
        || async {
            let open = metric(server, gauge).await;
            (open <= 1).then_some(open)
        },
    );
    settled.await
}

/// A metric's value in `/metrics` (on a connection of its own, closed after).
async fn metric(server: &TestServer, name: &str) -> u64 {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("a client");
    let text = client
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .expect("/metrics answers")
        .text()
        .await
        .expect("/metrics text");
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} in /metrics:\n{text}"))
}

/// The server's resident memory (`VmRSS`), in KiB.
fn memory_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("process status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}
