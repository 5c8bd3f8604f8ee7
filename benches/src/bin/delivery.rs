//! Delivery benchmark against a running `switchyard serve` binary (started here on a temporary
//! data directory): how long a toggle takes from the API's acknowledgement to each of N
//! connected SDK streams (p50/p99/max) and the server's memory per stream; then OFREP bulk
//! evaluations per second over keep-alive connections. Run with `bash benches/delivery.sh`
//! (raises the open-file limit, builds release binaries). The streams are raw TCP readers so
//! the measuring side stays cheap on a 2-core machine.
//!
//! With `DELIVERY_PIN=1` (the script's default) the server runs on core 0 with one worker
//! thread and this load generator on core 1 (`taskset`), so they do not take turns on one core. After each toggle
//! the server's own share is read from `/metrics` (`switchyard_sdk_stream_fanout_seconds`: from
//! the start of the change's publication until the last stream handed it to its connection),
//! and the server's CPU time per toggle (all threads, with its user/system split) from `/proc`.
//! Before the streams open, the load generator times plain loopback writes (one per socket,
//! nobody reading): the floor a fan-out cannot go below on this machine, whatever the server
//! does in user space. Then an ideal server (`ideal_fanout`: a pinned child process writing one
//! prepared frame to each socket from one thread) is timed with the same readers: the fan-out
//! no server can beat on this machine. `DELIVERY_TOGGLES` sets the toggles per stream count (10); the
//! `# toggling`/`# toggled` lines on stderr bracket them for a profiler (`perf record -p PID`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use switchyard_bench::{
    SdkKeyKind, TestServer, cpu_time_ns, machine, on_one_thread, serve, switchyard_binary,
};
use switchyard_client::types::ToggleInput;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).is_some_and(|a| a == "ideal-writer") {
        return ideal_writer(args[2].parse().unwrap());
    }
    let counts: Vec<usize> = args
        .get(1)
        .map_or("1000,10000", String::as_str)
        .split(',')
        .map(|n| n.parse().unwrap())
        .collect();
    on_one_thread(run(&switchyard_binary(), &counts));
}

async fn run(binary: &str, counts: &[usize]) {
    let dir = std::env::temp_dir().join(format!("switchyard-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // Pinned to one core, the server runs one worker thread, as on a one-core host.
    let pinned = std::env::var("DELIVERY_PIN").is_ok_and(|v| v == "1");
    let mut args = vec!["--data-dir", dir.to_str().unwrap()];
    if pinned {
        args.extend(["--workers", "1"]);
    }
    let serve = serve(binary, &args).await;
    let addr = format!("127.0.0.1:{}", serve.port());
    // 20 flags like the engine benchmark's rule flag, plus the one that is toggled.
    let flags = (0..20).map(|i| format!("flag-{i}"));
    for key in flags.chain(["kill-switch".to_owned()]) {
        create_boolean_flag(&serve, &key).await;
    }
    let key = serve.sdk_key(SdkKeyKind::Server).await;
    let pid = serve.pid().unwrap();
    if pinned {
        pin(pid, 0);
        pin(std::process::id(), 1);
        println!("# pinned: server on core 0, load generator on core 1");
    }

    println!("# delivery benchmark, {}", machine());
    loopback_floor(counts.iter().copied().max().unwrap_or(0));
    let toggles: usize = std::env::var("DELIVERY_TOGGLES").map_or(10, |v| v.parse().unwrap());
    for &count in counts {
        ideal_fanout(count, toggles, pinned).await;
    }
    println!(
        "| streams | toggles | p50 ms | p99 ms | max ms | server share median / max ms | server CPU per toggle (system) | server RSS per stream |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut opened: Vec<tokio::task::JoinHandle<()>> = Vec::new();
    let (tx, mut rx) = mpsc::unbounded_channel::<Instant>();
    let round = Arc::new(AtomicU64::new(0));
    for &count in counts {
        let rss_before = rss_kib(pid);
        let ready = Arc::new(Semaphore::new(0));
        let connecting = Arc::new(Semaphore::new(256));
        let already = opened.len();
        for _ in already..count {
            let (addr, key, tx, ready, connecting) = (
                addr.clone(),
                key.clone(),
                tx.clone(),
                ready.clone(),
                connecting.clone(),
            );
            opened.push(tokio::spawn(async move {
                let permit = connecting.acquire_owned().await.unwrap();
                let mut stream = connect_retrying(&addr).await;
                let request = format!(
                    "GET /sdk/v1/stream HTTP/1.1\r\nHost: bench\r\nAuthorization: {key}\r\n\r\n"
                );
                stream.write_all(request.as_bytes()).await.unwrap();
                follow(stream, tx, ready, permit).await;
            }));
        }
        // Every stream has its first event before a toggle is timed.
        let _ = ready.acquire_many((count - already) as u32).await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let per_stream = (rss_kib(pid) - rss_before) as f64 / (count - already) as f64;
        let mut latencies = Vec::new();
        let mut shares = Vec::new();
        // The server's CPU time from each toggle's request until its last stream read the
        // patch (all threads; the store commit included), and its user/system split.
        let (mut cpu_ns, mut ticks) = (0_u64, (0_u64, 0_u64));
        // Markers for a profiler attached to the server during the toggles only
        // (`perf stat -p`, see BENCHMARKS.md).
        eprintln!("# toggling {count} streams, pid {pid}");
        for _ in 0..toggles {
            let on = round.fetch_add(1, Ordering::Relaxed).is_multiple_of(2);
            let toggle = ToggleInput { on, comment: None };
            let api = serve.client();
            let (cpu_before, ticks_before) = (cpu_time_ns(pid), cpu_ticks(pid));
            let toggled = api.toggle("default", "production", "kill-switch", &toggle);
            toggled.await.unwrap();
            let acked = Instant::now();
            receive_all(&mut rx, count, acked, &mut latencies).await;
            cpu_ns += cpu_time_ns(pid) - cpu_before;
            let ticks_after = cpu_ticks(pid);
            ticks.0 += ticks_after.0 - ticks_before.0;
            ticks.1 += ticks_after.1 - ticks_before.1;
            shares.push(fanout_ms(&addr).await);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        eprintln!("# toggled {count} streams");
        let [p50, p99, max] = quantiles(&mut latencies);
        shares.sort_by(f64::total_cmp);
        let cpu_ms = cpu_ns as f64 / 1e6 / toggles as f64;
        let system = ticks.1 as f64 / (ticks.0 + ticks.1).max(1) as f64 * 100.0;
        println!(
            "| {count} | {toggles} | {:.1} | {:.1} | {:.1} | {:.1} / {:.1} | {cpu_ms:.1} ms = {:.1} µs per stream ({system:.0} % system) | {:.1} KiB |",
            p50,
            p99,
            max,
            shares[shares.len() / 2],
            shares[shares.len() - 1],
            cpu_ms * 1000.0 / count as f64,
            per_stream
        );
    }
    for task in &opened {
        task.abort();
    }
    drop(opened);
    tokio::time::sleep(Duration::from_millis(500)).await;
    ofrep_bulk(&addr, &key).await;
    serve.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Creates boolean flag `key` in project `default`.
async fn create_boolean_flag(serve: &TestServer, key: &str) {
    let flag = json!({"key": key, "kind": "boolean"});
    let path = "/api/v1/projects/default/flags";
    serve
        .admin(switchyard_bench::Method::POST, path, Some(flag))
        .await;
}

/// Reads one stream: signals `ready` at the first event, then reports when each later event
/// (a patch) arrives. Looks for the event name in a rolling window, so split reads are fine.
async fn follow(
    mut stream: TcpStream,
    tx: mpsc::UnboundedSender<Instant>,
    ready: Arc<Semaphore>,
    permit: tokio::sync::OwnedSemaphorePermit,
) {
    let mut permit = Some(permit);
    let mut window: Vec<u8> = Vec::with_capacity(64);
    let mut buf = vec![0_u8; 4096];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let now = Instant::now();
        window.extend_from_slice(&buf[..n]);
        for (needle, is_patch) in [(&b"event: put"[..], false), (&b"event: patch"[..], true)] {
            let found = window
                .windows(needle.len())
                .filter(|w| *w == needle)
                .count();
            for _ in 0..found {
                if is_patch {
                    let _ = tx.send(now);
                } else if permit.take().is_some() {
                    ready.add_permits(1);
                }
            }
        }
        let keep = window.len().saturating_sub(16);
        window.drain(..keep);
    }
}

/// The fan-out of an ideal server on this machine, the floor for the server's with the same
/// readers: a child process (pinned like the server) accepts `count` connections and, per
/// toggle, writes one prepared frame to each from one thread, with no HTTP and no runtime.
/// Prints p50/p99/max from the toggle's command to each reader's receipt, and the writer's own
/// time. (The server's latencies start later, at the API's answer, after its commit.)
async fn ideal_fanout(count: usize, toggles: usize, pinned: bool) {
    use std::io::{BufRead, Write as _};
    use std::process::{Command, Stdio};
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["ideal-writer", &count.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    if pinned {
        pin(child.id(), 0);
    }
    let mut replies = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut commands = child.stdin.take().unwrap();
    let port: u16 = replies.next().unwrap().unwrap().parse().unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel::<Instant>();
    let ready = Arc::new(Semaphore::new(0));
    let connecting = Arc::new(Semaphore::new(256));
    let addr = format!("127.0.0.1:{port}");
    let readers: Vec<_> = (0..count)
        .map(|_| {
            let (addr, tx) = (addr.clone(), tx.clone());
            let (ready, connecting) = (ready.clone(), connecting.clone());
            tokio::spawn(async move {
                let permit = connecting.acquire_owned().await.unwrap();
                let stream = connect_retrying(&addr).await;
                follow(stream, tx, ready, permit).await;
            })
        })
        .collect();
    let _ = ready.acquire_many(count as u32).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (mut latencies, mut writes) = (Vec::new(), Vec::new());
    for _ in 0..toggles {
        let commanded = Instant::now();
        commands.write_all(b"go\n").unwrap();
        receive_all(&mut rx, count, commanded, &mut latencies).await;
        let micros: f64 = replies.next().unwrap().unwrap().parse().unwrap();
        writes.push(micros / 1000.0);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(commands);
    child.wait().unwrap();
    // The readers end as the child's sockets close, giving back the descriptors the server's
    // streams need next.
    for reader in readers {
        reader.await.unwrap();
    }
    let [p50, p99, max] = quantiles(&mut latencies);
    writes.sort_by(f64::total_cmp);
    let write_ms = writes[writes.len() / 2];
    println!(
        "# ideal server, {count} streams, {toggles} toggles (one thread writes a prepared frame to each socket): p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms; its writes took {write_ms:.1} ms (median) = {:.2} µs per stream",
        write_ms * 1000.0 / count as f64
    );
}

/// Waits for `count` receipts of one change and adds each one's latency since `since`, in ms.
async fn receive_all(
    rx: &mut mpsc::UnboundedReceiver<Instant>,
    count: usize,
    since: Instant,
    latencies: &mut Vec<f64>,
) {
    for _ in 0..count {
        let received = rx.recv().await.unwrap();
        latencies.push(received.saturating_duration_since(since).as_secs_f64() * 1000.0);
    }
}

/// p50, p99 and max of `latencies` (sorted here).
fn quantiles(latencies: &mut [f64]) -> [f64; 3] {
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    [at(0.5), at(0.99), at(1.0)]
}

/// A connection to `addr`, retried every 20 ms while the listener's backlog is full.
async fn connect_retrying(addr: &str) -> TcpStream {
    loop {
        match TcpStream::connect(addr).await {
            Ok(stream) => return stream,
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// The child process of [`ideal_fanout`]: accepts `count` loopback connections on the port it
/// prints, sends each a `put` event as it arrives, then for every line on stdin writes a
/// patch event of a stream frame's size to every socket and prints how long that took, in µs.
fn ideal_writer(count: usize) {
    use std::io::{BufRead, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut out = std::io::stdout();
    writeln!(out, "{}", listener.local_addr().unwrap().port()).unwrap();
    out.flush().unwrap();
    let mut sockets = Vec::with_capacity(count);
    for _ in 0..count {
        let (mut socket, _) = listener.accept().unwrap();
        socket.set_nodelay(true).unwrap();
        socket
            .write_all(b"id: 1\nevent: put\ndata: {}\n\n")
            .unwrap();
        sockets.push(socket);
    }
    // A patch frame of the toggled flag with its chunk framing is some 300 bytes.
    let mut frame = b"id: 2\nevent: patch\ndata: ".to_vec();
    frame.resize(298, b'x');
    frame.extend_from_slice(b"\n\n");
    for _ in std::io::stdin().lock().lines() {
        let started = Instant::now();
        for socket in &mut sockets {
            socket.write_all(&frame).unwrap();
        }
        writeln!(out, "{}", started.elapsed().as_secs_f64() * 1e6).unwrap();
        out.flush().unwrap();
    }
}

/// OFREP bulk evaluation over 50 keep-alive connections for 10 s (like `wrk -t1 -c50 -d10s`).
async fn ofrep_bulk(addr: &str, key: &str) {
    let body = r#"{"context":{"targetingKey":"user-abc","country":"US"}}"#;
    let request = format!(
        "POST /ofrep/v1/evaluate/flags HTTP/1.1\r\nHost: bench\r\nX-API-Key: {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (addr, request) = (addr.to_owned(), request.clone());
        tasks.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            let mut latencies = Vec::new();
            let mut buf = vec![0_u8; 64 * 1024];
            while Instant::now() < deadline {
                let started = Instant::now();
                stream.write_all(request.as_bytes()).await.unwrap();
                read_response(&mut stream, &mut buf).await;
                latencies.push(started.elapsed().as_secs_f64() * 1000.0);
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    latencies.sort_by(f64::total_cmp);
    println!(
        "\nOFREP bulk (21 flags, 50 connections, 10 s): {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
        latencies.len() as f64 / 10.0,
        latencies[latencies.len() / 2],
        latencies[(latencies.len() - 1) * 99 / 100]
    );
}

/// Reads one HTTP/1.1 response with a Content-Length body.
async fn read_response(stream: &mut TcpStream, buf: &mut [u8]) {
    let mut have = 0;
    loop {
        let n = stream.read(&mut buf[have..]).await.unwrap();
        assert!(n > 0, "connection closed");
        have += n;
        let Some(end) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map_or(0, |v| v.trim().parse().unwrap());
        while have < end + 4 + length {
            have += stream.read(&mut buf[have..]).await.unwrap();
        }
        return;
    }
}

/// Pins every thread of process `pid` to `core`.
fn pin(pid: u32, core: u32) {
    let status = std::process::Command::new("taskset")
        .args(["-a", "-p", "-c", &core.to_string(), &pid.to_string()])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("taskset (util-linux) runs");
    assert!(status.success(), "taskset -a -p -c {core} {pid}");
}

/// The server's share of the latest toggle, in ms: `switchyard_sdk_stream_fanout_seconds`
/// (NaN when the server does not export it).
async fn fanout_ms(addr: &str) -> f64 {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = "GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n";
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("switchyard_sdk_stream_fanout_seconds "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        // An older server without the gauge (a baseline run): not measured.
        .map_or(f64::NAN, |seconds| seconds * 1000.0)
}

/// The floor of a fan-out on this machine: one `write` of a stream frame's size to each of `n`
/// loopback TCP sockets (up to 9,000: the pairs take two descriptors each), from this process on
/// its core, with nobody waiting to read (so no wake-ups: a lower bound). Every server stream
/// costs at least this per change, whatever the server does in user space.
fn loopback_floor(n: usize) {
    use std::io::Write as _;
    let n = n.min(9_000);
    if n == 0 {
        return;
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut pairs = Vec::with_capacity(n);
    for _ in 0..n {
        let client = std::net::TcpStream::connect(addr).unwrap();
        let (server, _) = listener.accept().unwrap();
        server.set_nodelay(true).unwrap();
        pairs.push((server, client));
    }
    // A patch frame of the toggled flag with its chunk framing is some 300 bytes.
    let frame = [b'x'; 300];
    let mut rounds = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        for (server, _) in &mut pairs {
            server.write_all(&frame).unwrap();
        }
        rounds.push(started.elapsed().as_secs_f64() * 1e6 / n as f64);
    }
    rounds.sort_by(f64::total_cmp);
    println!(
        "# loopback write floor: {:.2} µs per write (median of 3 rounds over {n} sockets) = {:.0} ms per 10,000 streams",
        rounds[1],
        rounds[1] * 10.0
    );
}

/// The process's user and system CPU time in clock ticks (`/proc/PID/stat` fields 14 and 15).
fn cpu_ticks(pid: u32) -> (u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<u64> = after_name
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // Fields after the name start at field 3 (state): utime is field 14, stime field 15.
    (
        fields.get(11).copied().unwrap_or(0),
        fields.get(12).copied().unwrap_or(0),
    )
}

fn rss_kib(pid: u32) -> i64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
