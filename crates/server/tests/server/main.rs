//! The server's HTTP tests in one binary (one link, one run): the API, delivery, events and
//! guarded releases, each against real servers started by `switchyard_testkit::server`, on
//! SQLite and on a throwaway PostgreSQL cluster.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Tests run receivers of their own (webhook endpoints) beside the server under test.
#![allow(clippy::disallowed_methods)]

mod api;
mod architecture;
mod audit_export;
mod change_requests;
mod change_requests_project;
mod config;
mod delivery;
mod events;
mod events_forged;
mod events_idempotent;
mod experiment_intake_cache;
mod experiment_results;
mod experiment_traffic;
mod experiments;
mod guards;
mod lifecycle;
mod low_findings;
mod metrics;
mod off_state_indices;
mod oidc;
mod otlp;
mod paging;
mod paging_strict;
mod playground;
mod promote;
mod relay_events;
mod releases;
mod releases_quantiles;
mod schedules;
mod shutdown;
mod stale_flags;
mod upgrade;
mod waves;
mod webhook_outbox;

/// The API path of the seeded project's `production` environment.
pub const PROD: &str = "/api/v1/projects/default/environments/production";
