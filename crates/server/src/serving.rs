//! What `serve` and `relay` share on the wire: the delivery endpoints with the operations
//! endpoints and middleware around them, and serving a router until shutdown, with connection
//! hygiene: a limit on connections held at once, a header-read timeout and an idle timeout
//! (see `docs/delivery.md`, "Connections").

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::metrics::gauge::Gauge;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower_service::Service;

use crate::delivery::{self, Delivery};
use crate::net::{ConnectionLimits, MAX_BODY_BYTES};
use crate::ops::{self, Metrics};
use crate::tasks::Tasks;

/// What `serve` and `relay` share: `routes` plus the delivery, OFREP and event intake
/// endpoints, `/healthz` and `/metrics`, request ids, logs and metrics, and the body limit.
pub(crate) fn delivery_app(
    routes: Router,
    delivery: Arc<Delivery>,
    metrics: Arc<Metrics>,
) -> Router {
    routes
        .merge(
            delivery::router()
                .layer(axum::middleware::from_fn_with_state(
                    delivery.clone(),
                    delivery::cors,
                ))
                .with_state(delivery),
        )
        .merge(ops::health_and_metrics().with_state(metrics.clone()))
        .fallback(ops::not_found)
        .layer(axum::middleware::from_fn(crate::error::json_errors))
        .layer(axum::middleware::from_fn_with_state(metrics, ops::observe))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// The answer to a connection over the limit, written straight to the socket before it is
/// closed: no request is read, so it costs no more than the accept.
const REFUSAL: &[u8] = concat!(
    "HTTP/1.1 503 Service Unavailable\r\n",
    "content-type: application/json\r\n",
    "content-length: 69\r\n",
    "retry-after: 1\r\n",
    "connection: close\r\n",
    "\r\n",
    r#"{"error":{"code":"unavailable","message":"connection limit reached"}}"#,
)
.as_bytes();

/// Refused connections that may wait at once for their client: for its request, so the refusal
/// answers it (an answer that comes before the request looks like a broken connection to most
/// clients), and for it to close, so closing is not a reset that loses the answer. Beyond them
/// the refusal is written and the connection closed at once.
const LINGERING_REFUSALS: usize = 128;
/// How long a refused connection waits for its client's request to arrive.
const REFUSAL_REQUEST_WAIT: Duration = Duration::from_millis(200);
/// How long a refused connection then waits for its client to read the refusal and close.
const REFUSAL_LINGER: Duration = Duration::from_secs(1);
/// How long to wait before accepting again when accepting fails for want of resources.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);
/// The most a connection buffers (so the most a request head can be; a longer one is answered
/// 431): bounds the memory of a connection that sends a large head slowly to 64 KiB.
const MAX_CONNECTION_BUFFER: usize = 64 * 1024;
/// How long in-flight requests have to finish once the server stops.
const CONNECTION_DRAIN_DEADLINE: Duration = Duration::from_secs(30);

/// Serves `router` under `limits` until `shutdown`; then stops accepting, closes `delivery`'s
/// streams, lets in-flight requests finish (up to [`CONNECTION_DRAIN_DEADLINE`]) and closes
/// idle connections. `metrics` counts open and refused connections.
pub(crate) async fn serve_router(
    listener: TcpListener,
    router: Router,
    delivery: Arc<Delivery>,
    metrics: Arc<Metrics>,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    tracing::info!(
        max_connections = limits.max_connections,
        header_timeout_ms = limits.header_timeout.as_millis() as u64,
        idle_timeout_ms = limits.idle_timeout.as_millis() as u64,
        "connection limits"
    );
    let door = Arc::new(Door::new(router, metrics, limits));
    let connections = Tasks::default();
    let mut shutdown = pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => door.admit(stream, peer, &connections),
            Err(e) if is_connection_error(&e) => {}
            // Out of file descriptors or memory: give the timeouts a moment to free some.
            Err(e) => {
                tracing::warn!(error = %e, "cannot accept connections; pausing");
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => {}
                }
            }
        }
    }
    drop(listener);
    delivery.close();
    let left = connections.stop(CONNECTION_DRAIN_DEADLINE).await;
    if left > 0 {
        tracing::warn!(
            connections = left,
            "connections still open after the shutdown deadline"
        );
    }
    Ok(())
}

/// Errors of one connection that went away before it was accepted.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Who gets in: a permit per connection served, the HTTP settings they are served with.
struct Door {
    router: Router,
    http: http1::Builder,
    header_timeout: Duration,
    idle_timeout: Duration,
    permits: Arc<Semaphore>,
    lingering_refusals: Arc<Semaphore>,
    metrics: Arc<Metrics>,
}

impl Door {
    fn new(router: Router, metrics: Arc<Metrics>, limits: ConnectionLimits) -> Door {
        let mut http = http1::Builder::new();
        // hyper runs this timer whenever it waits for a request head: from the first byte (the
        // wait for it is `serve`'s), after each response (an idle keep-alive connection) and
        // across a head sent a byte at a time (slowloris); receiving bytes does not reset it.
        http.timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .max_buf_size(MAX_CONNECTION_BUFFER);
        Door {
            router,
            http,
            header_timeout: limits.header_timeout,
            idle_timeout: limits.idle_timeout,
            permits: Arc::new(Semaphore::new(limits.max_connections.max(1))),
            lingering_refusals: Arc::new(Semaphore::new(LINGERING_REFUSALS)),
            metrics,
        }
    }

    /// Serves `stream` when a permit is free, else refuses it; either way in `tasks`.
    fn admit(self: &Arc<Self>, stream: TcpStream, peer: SocketAddr, tasks: &Tasks) {
        // Stream frames and small API answers go out at once instead of waiting on Nagle.
        let _ = stream.set_nodelay(true);
        match self.permits.clone().try_acquire_owned() {
            Ok(permit) => tasks.spawn(self.clone().serve(stream, peer, permit, tasks.stopping())),
            Err(_) => {
                self.metrics.connections_refused.inc();
                match self.lingering_refusals.clone().try_acquire_owned() {
                    Ok(permit) => tasks.spawn(refuse(stream, permit)),
                    Err(_) => refuse_now(&stream),
                }
            }
        }
    }

    /// Serves one connection until it ends, stays idle past the idle timeout, or the server
    /// stops (then the request in flight finishes first).
    async fn serve(
        self: Arc<Self>,
        stream: TcpStream,
        peer: SocketAddr,
        _permit: OwnedSemaphorePermit,
        stopping: impl Future<Output = ()>,
    ) {
        let _open = Counted::new(&self.metrics.connections_open);
        let activity = Arc::new(Activity::new());
        let first_head_by = activity.opened + self.header_timeout;
        let mut stopping = pin!(stopping);
        // hyper gives a connection its 8 KiB read buffer before the first byte arrives: wait for
        // that byte here, so a socket that sends nothing costs a task, not a buffer.
        let mut first_byte = [0u8; 1];
        tokio::select! {
            first = tokio::time::timeout(self.header_timeout, stream.peek(&mut first_byte)) => {
                if !matches!(first, Ok(Ok(read)) if read > 0) {
                    return;
                }
            }
            () = &mut stopping => return,
        }
        let io = TokioIo::new(Tracked {
            stream,
            activity: activity.clone(),
        });
        let router = self.router.clone();
        let requested = activity.clone();
        // The peer's address for handlers that want it (`ConnectInfo<SocketAddr>`).
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            requested.note_request();
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().call(request)
        });
        let mut connection = pin!(self.http.serve_connection(io, service));
        let mut draining = false;
        loop {
            // hyper's header timer starts with the first byte; the first head is still due
            // within the header timeout of the accept.
            let idle_until = activity.last() + self.idle_timeout;
            let wake = if activity.requested() {
                idle_until
            } else {
                idle_until.min(first_head_by)
            };
            tokio::select! {
                ended = connection.as_mut() => {
                    if let Err(e) = ended {
                        tracing::debug!(%peer, error = %e, "connection ended");
                    }
                    return;
                }
                () = &mut stopping, if !draining => {
                    connection.as_mut().graceful_shutdown();
                    draining = true;
                }
                () = tokio::time::sleep_until(wake.into()) => {
                    let now = Instant::now();
                    if activity.last() + self.idle_timeout <= now {
                        tracing::debug!(%peer, "idle timeout: closing the connection");
                        return;
                    }
                    if !activity.requested() && first_head_by <= now {
                        tracing::debug!(%peer, "header timeout: closing the connection");
                        return;
                    }
                }
            }
        }
    }
}

/// Waits (briefly) for the request, answers it with the refusal, then reads until the client
/// closes or [`REFUSAL_LINGER`] passes.
async fn refuse(mut stream: TcpStream, _permit: OwnedSemaphorePermit) {
    // `peek` waits for data (`readable` may wake spuriously).
    let _ = tokio::time::timeout(REFUSAL_REQUEST_WAIT, stream.peek(&mut [0u8; 1])).await;
    read_what_arrived(&stream);
    let answer = async {
        stream.write_all(REFUSAL).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 512];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<(), io::Error>(())
    };
    let _ = tokio::time::timeout(REFUSAL_LINGER, answer).await;
}

/// Writes the refusal without waiting (a fresh socket's send buffer has room for it), after
/// reading what the client has already sent, so the close that follows is not a reset.
fn refuse_now(stream: &TcpStream) {
    read_what_arrived(stream);
    let _ = stream.try_write(REFUSAL);
}

/// Reads and drops what a refused client has sent so far (a request head, some body).
fn read_what_arrived(stream: &TcpStream) {
    let mut sink = [0u8; 4096];
    for _ in 0..16 {
        match stream.try_read(&mut sink) {
            Ok(read) if read > 0 => {}
            _ => break,
        }
    }
}

/// A gauge raised while this value lives.
struct Counted(Gauge);

impl Counted {
    fn new(gauge: &Gauge) -> Counted {
        gauge.inc();
        Counted(gauge.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// When a connection last moved a byte either way, and whether a request has come.
struct Activity {
    opened: Instant,
    /// Milliseconds from `opened` to the last byte.
    last_ms: AtomicU64,
    requested: AtomicBool,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            opened: Instant::now(),
            last_ms: AtomicU64::new(0),
            requested: AtomicBool::new(false),
        }
    }

    fn note_request(&self) {
        self.requested.store(true, Ordering::Relaxed);
    }

    fn requested(&self) -> bool {
        self.requested.load(Ordering::Relaxed)
    }

    fn touch(&self) {
        let elapsed = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(elapsed, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.opened + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

/// A socket that notes in its [`Activity`] every read or write that moves bytes.
struct Tracked {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl Tracked {
    fn note(&self, polled: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        if matches!(polled, Poll::Ready(Ok(written)) if written > 0) {
            self.activity.touch();
        }
        polled
    }
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.note(polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.note(polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::REFUSAL;

    #[test]
    fn the_refusal_is_a_complete_json_answer() {
        let text = std::str::from_utf8(REFUSAL).unwrap_or_default();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or_default();
        assert!(head.starts_with("HTTP/1.1 503 "), "{head}");
        assert!(head.contains("\r\nconnection: close"), "{head}");
        assert!(
            head.contains(&format!("\r\ncontent-length: {}\r\n", body.len())),
            "{head}"
        );
        let parsed: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        assert_eq!(parsed["error"]["code"], "unavailable");
        assert_eq!(parsed["error"]["message"], "connection limit reached");
    }
}
