//! The queries of `/me` and of the audit log. (Their endpoints are in the `endpoints!` table.)

use serde::Serialize;

/// The filters of `GET /audit`: a resource prefix, records before a sequence number, how many.
#[derive(Debug, Default, Clone, Serialize)]
pub struct AuditQuery<'a> {
    pub resource: Option<&'a str>,
    pub before: Option<i64>,
    pub limit: Option<i64>,
}

/// What `GET /me` asks: the actions the caller's token allows on `resource` (none without one).
#[derive(Debug, Default, Clone, Serialize)]
pub struct MeQuery<'a> {
    pub resource: Option<&'a str>,
}
