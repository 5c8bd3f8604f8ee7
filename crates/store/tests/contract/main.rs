//! The storage contract: one suite, run against SQLite and against a throwaway PostgreSQL cluster.
//! Each case gets a fresh, empty database.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod about;
mod audit;
mod durability;
mod event_batches;
mod events;
mod experiment_outside;
mod experiments;
mod exposures_migration;
mod group_commit;
mod release_tallies;
mod writes;

use std::future::Future;
use std::pin::Pin;

use serde_json::json;
use switchyard_store::{AuditRecord, Committed, Expected, Store, StoreError, Write};
use switchyard_testkit::cases;
use switchyard_testkit::postgres::TempCluster;

use about::metric_events_about_a_flag_count_toward_it_only;
use audit::{
    audit_chain_verifies_and_detects_tampering, audit_pages_filter_by_resource,
    legacy_records_still_verify, signed_chain_detects_a_recomputed_chain,
};
use event_batches::{
    a_batch_id_is_counted_once_until_forgotten, racing_copies_of_a_batch_count_once,
};
use events::event_aggregates_are_exact;
use experiment_outside::exposures_outside_an_experiment_make_no_unit;
use experiments::{
    concurrent_batches_lose_no_unit_update, experiment_totals_are_exact,
    experiment_units_are_bounded,
};
use exposures_migration::exposures_survive_the_context_first_migration;
use group_commit::concurrent_batches_are_each_all_or_nothing;
use release_tallies::release_tallies_match_a_recount;
use writes::{
    concurrent_writers_lose_nothing, deletes_expect_a_version,
    racing_updates_of_one_version_admit_one, stale_writes_conflict_and_change_nothing,
    versions_and_revisions,
};

type Case = fn(Store) -> Pin<Box<dyn Future<Output = ()> + Send>>;

const CASES: &[(&str, Case)] = cases![
    versions_and_revisions,
    stale_writes_conflict_and_change_nothing,
    deletes_expect_a_version,
    audit_chain_verifies_and_detects_tampering,
    signed_chain_detects_a_recomputed_chain,
    concurrent_writers_lose_nothing,
    racing_updates_of_one_version_admit_one,
    audit_pages_filter_by_resource,
    event_aggregates_are_exact,
    metric_events_about_a_flag_count_toward_it_only,
    a_batch_id_is_counted_once_until_forgotten,
    racing_copies_of_a_batch_count_once,
    experiment_totals_are_exact,
    experiment_units_are_bounded,
    concurrent_batches_lose_no_unit_update,
    exposures_outside_an_experiment_make_no_unit,
    release_tallies_match_a_recount,
    concurrent_batches_are_each_all_or_nothing,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    let dir = std::env::temp_dir().join(format!("switchyard-store-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (i, (name, case)) in CASES.iter().enumerate() {
        let url = format!("sqlite://{}/case-{i}.db", dir.display());
        eprintln!("sqlite: {name}");
        case(Store::open(&url).await.unwrap()).await;
        // Reopening applies no migration twice and keeps the data.
        let reopened = Store::open(&url).await.unwrap();
        assert!(reopened.ready().await.unwrap());
        chain_still_verifies(&reopened, name).await;
    }
    eprintln!("sqlite: legacy_records_still_verify");
    legacy_records_still_verify(&format!("sqlite://{}/legacy.db", dir.display())).await;
    eprintln!("sqlite: exposures_survive_the_context_first_migration");
    let url = format!("sqlite://{}/exposures-9.db", dir.display());
    exposures_survive_the_context_first_migration(&url).await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    let Some(cluster) = TempCluster::start() else {
        return;
    };
    for (name, case) in CASES {
        let url = cluster.create_database();
        eprintln!("postgres: {name}");
        case(Store::open(&url).await.unwrap()).await;
        let reopened = Store::open(&url).await.unwrap();
        assert!(reopened.ready().await.unwrap());
        chain_still_verifies(&reopened, name).await;
    }
    eprintln!("postgres: legacy_records_still_verify");
    legacy_records_still_verify(&cluster.create_database()).await;
    eprintln!("postgres: exposures_survive_the_context_first_migration");
    exposures_survive_the_context_first_migration(&cluster.create_database()).await;
}

/// After a reopen the audit chain is still all there: it verifies over every stored record, or,
/// where the case tampered with it, stops at the break, before the last record.
async fn chain_still_verifies(store: &Store, case: &str) {
    let report = store.verify_audit_chain().await.unwrap();
    let stored = store.audit_page(None, None, i64::MAX).await.unwrap().len() as i64;
    if report.ok {
        assert_eq!(report.records, stored, "{case}: every record verifies");
    } else {
        assert!(
            report.records < stored,
            "{case}: verification stops at the tampered record: {report:?} of {stored}"
        );
    }
}

fn record(action: &str, resource: &str) -> AuditRecord {
    AuditRecord {
        at_ms: 1_700_000_000_000,
        actor: json!({"kind": "account", "id": "admin"}),
        action: action.into(),
        resource: resource.into(),
        outcome: "allowed".into(),
        before: None,
        after: None,
        comment: Some("why".into()),
        request_id: Some("req-1".into()),
    }
}

/// Creates flag `key` in `web`, expected absent, audited as `flag:create`.
async fn create(
    store: &Store,
    key: &str,
    body: serde_json::Value,
) -> Result<Committed, StoreError> {
    store
        .commit(
            &[put(key, body, Expected::Absent)],
            &record("flag:create", "r"),
        )
        .await
}

fn put(key: &str, body: serde_json::Value, expected: Expected) -> Write {
    Write::Put {
        kind: "flag".into(),
        scope: "web".into(),
        key: key.into(),
        body,
        expected,
    }
}
