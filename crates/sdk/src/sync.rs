//! Keeping the data current: a server-sent-event stream (`GET /sdk/v1/stream`, resumed with
//! `Last-Event-ID`), reconnected with exponential backoff and full jitter, and the snapshot
//! (`GET /sdk/v1/snapshot`, ETag, gzip) polled while the stream is down or when polling is chosen.

use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use reqwest::StatusCode;
use reqwest::header::{
    ACCEPT, ACCEPT_ENCODING, AUTHORIZATION, CONTENT_ENCODING, ETAG, IF_NONE_MATCH,
};
use switchyard_engine::wire::{FlagData, Patch};

use crate::sse::{Event, EventParser};
use crate::{DataSource, Inner, SyncMode, UpstreamState, cache};

/// Why a sync attempt ended.
#[derive(Debug, thiserror::Error)]
enum SyncError {
    #[error("the SDK key was refused ({0}); not retrying")]
    Refused(StatusCode),
    #[error("HTTP {0}")]
    Status(StatusCode),
    #[error("network: {0}")]
    Network(#[from] reqwest::Error),
    #[error("the stream was silent for longer than the read timeout")]
    Silent,
    #[error("the stream ended")]
    Ended,
    #[error("undecodable data: {0}")]
    Decode(String),
    #[error("closing")]
    Closing,
}

pub(crate) fn spawn(inner: Arc<Inner>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let http = match reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
        {
            Ok(http) => http,
            Err(error) => {
                tracing::error!(%error, "cannot build an HTTP client; serving without sync");
                return;
            }
        };
        let mut sync = Sync {
            inner,
            http,
            etag: None,
            resume: true,
        };
        sync.run().await;
    })
}

/// How often an open stream refreshes the last-known-good file's modification time.
const TOUCH_EVERY: Duration = Duration::from_secs(10);

struct Sync {
    inner: Arc<Inner>,
    http: reqwest::Client,
    /// The snapshot ETag last received, for conditional polling.
    etag: Option<String>,
    /// Whether the next stream may resume from the current revision (not after a gap).
    resume: bool,
}

impl Sync {
    async fn run(&mut self) {
        let mut failures: u32 = 0;
        loop {
            let outcome = match self.inner.config.sync {
                SyncMode::Offline => return,
                SyncMode::Streaming => self.stream().await,
                SyncMode::Polling(interval) => match self.poll().await {
                    Ok(()) => {
                        failures = 0;
                        self.inner
                            .set_status(UpstreamState::Polling, Some(SystemTime::now()));
                        if self.pause(interval).await {
                            return;
                        }
                        continue;
                    }
                    Err(error) => Err(error),
                },
            };
            match outcome {
                Err(SyncError::Closing) => return,
                Err(SyncError::Refused(status)) => {
                    self.inner.set_status(UpstreamState::Refused, None);
                    tracing::error!(%status, "Switchyard refused the SDK key; flag data will not update");
                    return;
                }
                // A stream that delivered data and then dropped starts the backoff afresh.
                Ok(()) => failures = 0,
                Err(error) => {
                    failures += 1;
                    // Every failure while the upstream is down would flood the log.
                    if failures.is_power_of_two() {
                        tracing::warn!(%error, failures, "flag sync interrupted; retrying");
                    } else {
                        tracing::debug!(%error, failures, "flag sync interrupted; retrying");
                    }
                }
            }
            self.inner.set_status(UpstreamState::Reconnecting, None);
            if self.inner.config.sync == SyncMode::Streaming && failures >= 2 {
                // The stream keeps failing: poll so data stays fresh while it is down.
                match self.poll().await {
                    Ok(()) => self.verified(SystemTime::now()),
                    Err(error) => tracing::debug!(%error, "fallback poll failed"),
                }
            }
            let delay = self.backoff(failures);
            if self.pause(delay).await {
                return;
            }
        }
    }

    /// Records that the data matched the upstream at `at`, also on the last-known-good file's
    /// modification time, so a restart from the file knows how old it is.
    fn verified(&self, at: SystemTime) {
        // Read apart from the update: holding the borrow while sending would deadlock.
        let state = self.inner.status.borrow().state;
        self.inner.set_status(state, Some(at));
        if let Some(path) = &self.inner.config.cache_file {
            cache::touch(path, at);
        }
    }

    /// Full jitter: uniform in [0, min(max, initial · 2^failures)].
    fn backoff(&self, failures: u32) -> Duration {
        let config = &self.inner.config;
        let ceiling = config
            .backoff_initial
            .saturating_mul(1_u32 << failures.min(16))
            .min(config.backoff_max);
        let fraction = f64::from(self.inner.random.next_u32()) / f64::from(u32::MAX);
        let delay = ceiling.mul_f64(fraction);
        if failures >= 2 {
            delay.min(config.fallback_poll_interval)
        } else {
            delay
        }
    }

    /// Sleeps unless the client closes first; returns whether it is closing.
    async fn pause(&self, delay: Duration) -> bool {
        let mut closing = self.inner.closing.subscribe();
        if *closing.borrow() {
            return true;
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => false,
            _ = closing.changed() => true,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.inner.config.base_url)
    }

    async fn poll(&mut self) -> Result<(), SyncError> {
        let mut request = self
            .http
            .get(self.url("/sdk/v1/snapshot"))
            .header(AUTHORIZATION, &self.inner.config.sdk_key)
            .header(ACCEPT_ENCODING, "gzip")
            .timeout(Duration::from_secs(30));
        if let Some(etag) = &self.etag {
            request = request.header(IF_NONE_MATCH, etag);
        }
        let response = request.send().await?;
        match response.status() {
            StatusCode::NOT_MODIFIED => return Ok(()),
            StatusCode::OK => {}
            status @ (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) => {
                return Err(SyncError::Refused(status));
            }
            status => return Err(SyncError::Status(status)),
        }
        let etag = response
            .headers()
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let gzipped = response
            .headers()
            .get(CONTENT_ENCODING)
            .is_some_and(|v| v.as_bytes() == b"gzip");
        let body = response.bytes().await?;
        let body = if gzipped {
            let mut text = Vec::new();
            flate2::read::GzDecoder::new(&body[..])
                .read_to_end(&mut text)
                .map_err(|e| SyncError::Decode(e.to_string()))?;
            text
        } else {
            body.to_vec()
        };
        let data: FlagData =
            serde_json::from_slice(&body).map_err(|e| SyncError::Decode(e.to_string()))?;
        self.etag = etag;
        self.install(data);
        Ok(())
    }

    /// One stream connection, until it ends. `Ok` when it delivered at least one event.
    async fn stream(&mut self) -> Result<(), SyncError> {
        let mut request = self
            .http
            .get(self.url("/sdk/v1/stream"))
            .header(AUTHORIZATION, &self.inner.config.sdk_key)
            .header(ACCEPT, "text/event-stream");
        let from_server = self
            .inner
            .current
            .load()
            .as_ref()
            .filter(|l| l.from == DataSource::Server && self.resume)
            .map(|l| l.data.revision);
        self.resume = true;
        if let Some(revision) = from_server {
            request = request.header("Last-Event-ID", revision.to_string());
        }
        let result = self.follow(request, from_server.is_some()).await;
        let state = self.inner.status.borrow().state;
        if state == UpstreamState::Streaming {
            // An open stream is current until it ends, or, when it fell silent, until the last
            // byte heard; from here on the data ages.
            if !matches!(result, Err(SyncError::Silent)) {
                self.verified(SystemTime::now());
            }
            self.inner.set_status(UpstreamState::Reconnecting, None);
        }
        result
    }

    /// Reads one stream response. A resumed stream is current once it is accepted (the server
    /// sends nothing when nothing was missed); a fresh one once its first event arrives.
    async fn follow(
        &mut self,
        request: reqwest::RequestBuilder,
        resumed: bool,
    ) -> Result<(), SyncError> {
        let response = request.send().await?;
        match response.status() {
            StatusCode::OK => {}
            status @ (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) => {
                return Err(SyncError::Refused(status));
            }
            status => return Err(SyncError::Status(status)),
        }
        if resumed {
            self.live(SystemTime::now());
        }
        let mut body = response.bytes_stream();
        let mut parser = EventParser::default();
        let mut delivered = false;
        let mut touched = SystemTime::now();
        let mut closing = self.inner.closing.subscribe();
        let timeout = self.inner.config.stream_read_timeout;
        loop {
            let chunk = tokio::select! {
                chunk = tokio::time::timeout(timeout, body.next()) => chunk,
                _ = closing.changed() => return Err(SyncError::Closing),
            };
            let chunk = match chunk {
                Err(_) => return Err(SyncError::Silent),
                Ok(None) if delivered => return Ok(()),
                Ok(None) => return Err(SyncError::Ended),
                Ok(Some(chunk)) => chunk?,
            };
            for event in parser.feed(&chunk) {
                self.on_event(event)?;
                delivered = true;
            }
            let heard = SystemTime::now();
            if delivered || resumed {
                self.live(heard);
            }
            // Heartbeats keep the saved file's time current, in case the process dies.
            if heard.duration_since(touched).unwrap_or_default() >= TOUCH_EVERY {
                self.verified(heard);
                touched = heard;
            }
        }
    }

    /// The stream is open and current (heard from at `heard`).
    fn live(&self, heard: SystemTime) {
        self.inner.set_status(UpstreamState::Streaming, Some(heard));
    }

    fn on_event(&mut self, event: Event) -> Result<(), SyncError> {
        match event.name.as_str() {
            "put" => {
                let data: FlagData = serde_json::from_str(&event.data)
                    .map_err(|e| SyncError::Decode(e.to_string()))?;
                self.install(data);
            }
            "patch" => {
                let patch: Patch = serde_json::from_str(&event.data)
                    .map_err(|e| SyncError::Decode(e.to_string()))?;
                let current = self.inner.current.load_full();
                let Some(current) = current.filter(|c| c.from == DataSource::Server) else {
                    return Err(SyncError::Decode("a patch before any data".into()));
                };
                if patch.base > current.data.revision {
                    // A gap: reconnect without resuming to get everything.
                    self.resume = false;
                    return Err(SyncError::Decode("a patch from a newer base".into()));
                }
                if patch.revision > current.data.revision {
                    let mut data = current.data.clone();
                    data.apply(patch);
                    self.install(data);
                }
            }
            // Unknown events are for newer SDKs.
            _ => {}
        }
        Ok(())
    }

    fn install(&self, data: FlagData) {
        let unchanged = self
            .inner
            .current
            .load()
            .as_ref()
            .is_some_and(|c| c.from == DataSource::Server && c.data == data);
        if unchanged {
            return;
        }
        if let Some(path) = &self.inner.config.cache_file
            && let Err(error) = cache::write(path, &data)
        {
            tracing::warn!(path = %path.display(), %error, "cannot write the last-known-good file");
        }
        self.inner.replace(data, DataSource::Server);
    }
}
