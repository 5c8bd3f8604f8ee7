//! Fixed facts of the HTTP surface that every floor may read.

/// Request bodies larger than this are refused with 413 `payload_too_large`.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The default listening address of `switchyard serve`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8470";
