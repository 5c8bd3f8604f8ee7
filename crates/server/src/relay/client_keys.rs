//! The client keys a relay serves: per server key it was given, the relay reads its
//! upstream's `GET /sdk/v1/environment` (the environment's client keys as SHA-256 hashes, and
//! its `allowed_origins`) at start, every `client_keys_refresh` (1 s by default), and whenever
//! its SDK client reconnects, and installs the answer in its delivery
//! ([`Delivery::install_environment_info`]). Each reading sends the last answer's `ETag`, so
//! while nothing changed the upstream answers an empty `304`.
//!
//! **Invariants:** a client key is accepted only when the upstream listed it: until the first
//! answer (or a saved one) a relay refuses every client key (`503` with `Retry-After`, since
//! SDKs take a `401` as final; an unknown key once the list is known is `401`). A key missing from a newer answer
//! is refused from then on and its open OFREP streams end, so a client key revoked upstream
//! stops working on the relay within one refresh period while the upstream is reachable.
//! While it is unreachable, the last answer stays in force (as the flag data does). The last
//! answer is saved next to the snapshot (`KEY_ID.environment.json`, owner-only) holding hashes
//! only, never a secret, so a relay restarted while its upstream is away still serves browsers.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::http::header;
use switchyard_sdk::{Client, UpstreamState};

use crate::delivery::{Delivery, EnvironmentInfo, SdkAccess};

/// `relay`'s default period between readings of the upstream's client keys: the bound on how
/// long a client key revoked upstream keeps working on a relay (the product promises a second).
pub const DEFAULT_CLIENT_KEYS_REFRESH: Duration = Duration::from_secs(1);

/// The longest an upstream may take to answer.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read (some 30,000 keys).
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// Where the last answer for `access`'s key is saved.
pub(super) fn saved_path(data_dir: &Path, access: &SdkAccess) -> PathBuf {
    data_dir.join(format!("{}.environment.json", access.key_id))
}

/// Serves what was saved last time, if anything (the upstream may be away at start).
pub(super) fn serve_saved(delivery: &Delivery, access: &SdkAccess, saved: &Path) {
    if let Err(error) = switchyard_store::restrict_file(saved) {
        tracing::warn!(path = %saved.display(), %error, "cannot make the saved client keys private");
    }
    let Ok(text) = std::fs::read(saved) else {
        return;
    };
    match serde_json::from_slice::<EnvironmentInfo>(&text) {
        Ok(info) => delivery.install_environment_info(access, info),
        Err(error) => {
            tracing::warn!(path = %saved.display(), %error, "ignoring unreadable saved client keys");
        }
    }
}

/// What one reading of the upstream gave.
enum Fetched {
    /// The list, and its `ETag` if the upstream sent one.
    Info(EnvironmentInfo, Option<String>),
    /// `304`: the list is still the one last read.
    Unchanged,
    /// 401/403: the server key is refused (revoked).
    Refused,
    /// 404: an upstream from before client keys were relayed.
    NotOffered,
    Failed(String),
}

/// What keeps one relayed environment's client keys current.
pub(super) struct ClientKeys {
    pub delivery: Arc<Delivery>,
    /// The server key's access, and the key as presented to the upstream.
    pub access: SdkAccess,
    pub presented: String,
    pub upstream: String,
    pub every: Duration,
    /// The relay's SDK client for the key: its reconnections trigger a reading.
    pub client: Client,
    pub saved: PathBuf,
}

/// Keeps the environment's client keys current until the relay closes or the upstream refuses
/// the server key.
pub(super) async fn follow_client_keys(follower: ClientKeys) {
    let ClientKeys {
        delivery,
        access,
        presented,
        upstream,
        every,
        client,
        saved,
    } = follower;
    let http = match reqwest::Client::builder().timeout(FETCH_TIMEOUT).build() {
        Ok(http) => http,
        Err(error) => {
            tracing::error!(%error, "cannot build an HTTP client: client keys are not relayed");
            return;
        }
    };
    let url = format!("{upstream}/sdk/v1/environment");
    let mut status = client.watch_sync_status();
    let mut closing = delivery.closing();
    let mut streaming = status.borrow_and_update().state == UpstreamState::Streaming;
    let mut last: Option<EnvironmentInfo> = None;
    let mut etag: Option<String> = None;
    let mut warned_not_offered = false;
    loop {
        // Shutting down does not wait for a slow upstream.
        let fetched = tokio::select! {
            fetched = fetch(&http, &url, &presented, etag.as_deref()) => fetched,
            _ = closing.wait_for(|closed| *closed) => return,
        };
        match fetched {
            Fetched::Unchanged => {}
            Fetched::Info(info, tag) => {
                let info = info.sanitized();
                etag = tag;
                if last.as_ref() != Some(&info) {
                    save(&saved, &info);
                    delivery.install_environment_info(&access, info.clone());
                    last = Some(info);
                }
            }
            Fetched::Refused => {
                stop_serving(&delivery, &access, &saved);
                return;
            }
            Fetched::NotOffered => {
                etag = None;
                // A reachable upstream that cannot confirm a saved list: serve none of it.
                if last.take().is_some() || !warned_not_offered {
                    stop_serving(&delivery, &access, &saved);
                }
                if !warned_not_offered {
                    warned_not_offered = true;
                    tracing::warn!(key = %access.key_id,
                        "the upstream does not list client keys (GET /sdk/v1/environment: 404): \
                         client keys are not served by this relay");
                }
            }
            Fetched::Failed(error) => {
                tracing::debug!(key = %access.key_id, %error,
                    "cannot read the upstream's client keys; serving the last ones");
            }
        }
        let next = tokio::time::sleep(every);
        let mut next = std::pin::pin!(next);
        loop {
            tokio::select! {
                () = &mut next => break,
                changed = status.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let state = status.borrow_and_update().state;
                    if state == UpstreamState::Refused {
                        stop_serving(&delivery, &access, &saved);
                        return;
                    }
                    // A reconnection may follow changes missed while away: read again now.
                    let reconnected = state == UpstreamState::Streaming && !streaming;
                    streaming = state == UpstreamState::Streaming;
                    if reconnected {
                        break;
                    }
                }
                _ = closing.wait_for(|closed| *closed) => return,
            }
        }
    }
}

async fn fetch(http: &reqwest::Client, url: &str, presented: &str, etag: Option<&str>) -> Fetched {
    let mut request = http.get(url).header(
        header::AUTHORIZATION.as_str(),
        format!("Bearer {presented}"),
    );
    if let Some(etag) = etag {
        request = request.header(header::IF_NONE_MATCH.as_str(), etag);
    }
    let response = match request.send().await {
        Ok(response) => response,
        Err(error) => return Fetched::Failed(error.to_string()),
    };
    match response.status().as_u16() {
        200 => {}
        304 if etag.is_some() => return Fetched::Unchanged,
        401 | 403 => return Fetched::Refused,
        404 => return Fetched::NotOffered,
        other => return Fetched::Failed(format!("answered {other}")),
    }
    if response
        .content_length()
        .is_some_and(|length| length > MAX_ANSWER_BYTES as u64)
    {
        return Fetched::Failed("the answer is too large".into());
    }
    let etag = response
        .headers()
        .get(header::ETAG.as_str())
        .and_then(|tag| tag.to_str().ok())
        .map(str::to_owned);
    let body = match response.bytes().await {
        Ok(body) if body.len() <= MAX_ANSWER_BYTES => body,
        Ok(_) => return Fetched::Failed("the answer is too large".into()),
        Err(error) => return Fetched::Failed(error.to_string()),
    };
    match serde_json::from_slice::<EnvironmentInfo>(&body) {
        Ok(info) => Fetched::Info(info, etag),
        Err(error) => Fetched::Failed(format!("unreadable answer: {error}")),
    }
}

/// The server key is refused: no client key of its environment is served, and the saved list
/// goes too.
fn stop_serving(delivery: &Delivery, access: &SdkAccess, saved: &Path) {
    delivery.forget_environment_info(access);
    remove_saved(saved);
}

pub(super) fn remove_saved(saved: &Path) {
    match std::fs::remove_file(saved) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => {
            tracing::error!(path = %saved.display(), %error, "cannot delete saved client keys");
        }
    }
}

/// Replaces the saved list atomically (a temporary file renamed over it), owner-only.
fn save(saved: &Path, info: &EnvironmentInfo) {
    let written = (|| {
        let body = serde_json::to_vec(info)?;
        let mut temporary = saved.as_os_str().to_owned();
        temporary.push(".tmp");
        let temporary = PathBuf::from(temporary);
        create_private(&temporary)?.write_all(&body)?;
        std::fs::rename(&temporary, saved)
    })();
    if let Err(error) = written {
        tracing::warn!(path = %saved.display(), %error, "cannot save the client keys");
    }
}

/// Creates (or truncates) `path` readable by its owner only from the start, so no other user
/// can open it while it is being written, whatever the umask.
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(path)?;
    // A leftover file keeps its old mode: tighten it before anything is written.
    switchyard_store::restrict_file(path)?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[cfg(unix)]
    #[test]
    fn the_saved_list_is_private_before_anything_is_written() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("switchyard-ck-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fresh = dir.join("fresh.tmp");
        let leftover = dir.join("leftover.tmp");
        std::fs::write(&leftover, b"old").unwrap();
        std::fs::set_permissions(&leftover, std::fs::Permissions::from_mode(0o644)).unwrap();
        for path in [&fresh, &leftover] {
            let _file = create_private(path).unwrap();
            let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", path.display());
            assert_eq!(std::fs::read(path).unwrap(), b"", "truncated");
        }
        let saved = dir.join("saved.json");
        save(&saved, &EnvironmentInfo::default());
        let mode = std::fs::metadata(&saved).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
