//! Fixed facts of the HTTP surface that every floor may read.

/// Request bodies larger than this are refused with 413 `payload_too_large`.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The default listening address of `switchyard serve`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8470";

use std::time::Duration;

/// The most connections a server holds at once unless told otherwise: a fleet of SDKs with one
/// stream each, plus their API traffic. Lowered to fit the open-file limit (see
/// [`ConnectionLimits::default`]).
pub(crate) const DEFAULT_MAX_CONNECTIONS: usize = 25_000;
/// How long a client has to send a whole request head, counted from the moment the server waits
/// for one: the connection opened, or the previous response on it went out.
pub(crate) const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection may go without a byte moving either way while a request is in
/// progress (a body that stops arriving, a client that stops reading). Streams send a
/// heartbeat every 15 s, so it must stay above that.
pub(crate) const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// What a server allows each connection, and how many it holds at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections served at once; one more is answered 503 and closed.
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
}

impl Default for ConnectionLimits {
    /// The defaults above, with `max_connections` kept under the process's open-file limit
    /// (when it can be read) so the limit refuses before the system does.
    fn default() -> Self {
        ConnectionLimits {
            max_connections: fitting_open_files(DEFAULT_MAX_CONNECTIONS, open_files_limit()),
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        }
    }
}

/// `wanted`, or less when `limit` open files cannot hold it beside what else the server keeps
/// open (database, listener, refusals being written, outgoing webhooks): a tenth of the limit,
/// at least 64 and at most 1,024 files.
fn fitting_open_files(wanted: usize, limit: Option<u64>) -> usize {
    let Some(limit) = limit.and_then(|l| usize::try_from(l).ok()) else {
        return wanted;
    };
    let reserve = (limit / 10).clamp(64, 1024);
    wanted.min(limit.saturating_sub(reserve).max(1))
}

/// The soft limit on open files of this process, on Linux (`None` elsewhere, or unlimited).
pub fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::{DEFAULT_MAX_CONNECTIONS, fitting_open_files, open_files_limit};

    #[test]
    fn the_connection_limit_fits_the_open_file_limit() {
        assert_eq!(fitting_open_files(25_000, None), 25_000);
        assert_eq!(fitting_open_files(25_000, Some(1_048_576)), 25_000);
        assert_eq!(fitting_open_files(25_000, Some(20_000)), 18_976);
        assert_eq!(fitting_open_files(25_000, Some(1_024)), 922);
        assert_eq!(fitting_open_files(25_000, Some(10)), 1);
        let limit = open_files_limit();
        assert!(
            limit.is_some() || !cfg!(target_os = "linux"),
            "Linux reports its limit"
        );
        if let Some(limit) = limit {
            assert!(fitting_open_files(DEFAULT_MAX_CONNECTIONS, Some(limit)) < limit as usize);
        }
    }
}
