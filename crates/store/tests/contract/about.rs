//! Metric events about one flag evaluation (telemetry spans): they count toward that flag only,
//! in the variation the reporter saw, and in the release cohort of the context's exposure or,
//! failing one, the cohort the reporter's variation resolved to.

use std::collections::BTreeMap;

use switchyard_store::Store;
use switchyard_store::events::{
    ContextPart, EventBatch, Exposure, FlagRange, MetricEvent, MetricSubject, ReleaseTag,
};

const AT: i64 = 1_700_000_000_000;

fn user(key: &str) -> Vec<ContextPart> {
    vec![ContextPart {
        kind: "user".into(),
        key: key.into(),
    }]
}

fn tag(cohort: &str) -> ReleaseTag {
    ReleaseTag {
        stage: "r.1".into(),
        cohort: cohort.into(),
    }
}

fn exposure(who: &str, flag: &str, variation: &str, release: Option<ReleaseTag>) -> Exposure {
    Exposure {
        at_ms: AT - 100,
        contexts: user(who),
        flag: flag.into(),
        version: 1,
        variation: variation.into(),
        reason: "FALLTHROUGH".into(),
        release,
    }
}

fn event(at_ms: i64, contexts: Vec<ContextPart>, value: f64) -> MetricEvent {
    MetricEvent {
        at_ms,
        contexts,
        name: "latency_ms".into(),
        value,
        about: None,
    }
}

fn about(
    mut event: MetricEvent,
    flag: &str,
    variation: &str,
    release: Option<ReleaseTag>,
) -> MetricEvent {
    event.about = Some(MetricSubject {
        flag: flag.into(),
        variation: variation.into(),
        release,
    });
    event
}

fn batch(exposures: Vec<Exposure>, metrics: Vec<MetricEvent>) -> EventBatch {
    EventBatch {
        project: "web".into(),
        env: "prod".into(),
        counted_at_ms: AT,
        counts: Vec::new(),
        exposures,
        metrics,
        metric_flags: None,
        experiments: Vec::new(),
    }
}

/// variation → (count, sum) of `latency_ms` for `flag`.
async fn variation_cohorts(store: &Store, flag: &str) -> BTreeMap<String, (i64, f64)> {
    let range = FlagRange {
        project: "web",
        env: "prod",
        flag,
        from_ms: 0,
        to_ms: i64::MAX,
    };
    store
        .metric_cohorts(range)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.variation, (c.count, c.sum)))
        .collect()
}

/// release cohort → (count, sum) of `latency_ms` in `flag`'s stage `r.1`.
async fn release_cohorts(store: &Store, flag: &str) -> BTreeMap<String, (i64, f64)> {
    let stage = store
        .stage_cohorts("web", "prod", flag, "r.1")
        .await
        .unwrap();
    stage
        .metrics
        .into_iter()
        .map(|((_, cohort), m)| (cohort, (m.count, m.sum)))
        .collect()
}

fn cohorts<const N: usize>(rows: [(&str, i64, f64); N]) -> BTreeMap<String, (i64, f64)> {
    rows.into_iter()
        .map(|(cohort, count, sum)| (cohort.to_owned(), (count, sum)))
        .collect()
}

pub(crate) async fn metric_events_about_a_flag_count_toward_it_only(store: Store) {
    let first = batch(
        vec![
            // u1: `checkout` off, in the release's control; `search` on. u2: `search` only.
            exposure("u1", "checkout", "off", Some(tag("control"))),
            exposure("u1", "search", "on", None),
            exposure("u2", "search", "on", None),
        ],
        vec![
            // Served `on` as the span says (not u1's exposed `off`); release: u1's exposure
            // wins over the span's own cohort; not `search`, which u1 also saw.
            about(
                event(AT, user("u1"), 10.0),
                "checkout",
                "on",
                Some(tag("treated")),
            ),
            // No context at all: the span's variation and cohort.
            about(
                event(AT, vec![], 20.0),
                "checkout",
                "on",
                Some(tag("treated")),
            ),
            // A context never exposed to `checkout` and no cohort from the variation:
            // the variation counts, the release cohort is unattributed.
            about(event(AT, user("u2"), 30.0), "checkout", "off", None),
            // Before u1's release exposure: the span's cohort.
            about(
                event(AT - 200, user("u1"), 40.0),
                "checkout",
                "on",
                Some(tag("treated")),
            ),
            // Without a subject, as before: every flag u1 saw, by its exposures.
            event(AT, user("u1"), 5.0),
            // About `search`: u1's `checkout` release says nothing about it.
            about(event(AT, user("u1"), 60.0), "search", "on", None),
        ],
    );
    assert_eq!(store.ingest_events(&first).await.unwrap(), 6);
    assert_eq!(
        variation_cohorts(&store, "checkout").await,
        cohorts([("off", 2, 35.0), ("on", 3, 70.0)])
    );
    assert_eq!(
        variation_cohorts(&store, "search").await,
        cohorts([("on", 2, 65.0)])
    );
    assert_eq!(
        release_cohorts(&store, "checkout").await,
        cohorts([("control", 2, 15.0), ("treated", 2, 60.0)])
    );
    assert!(release_cohorts(&store, "search").await.is_empty());

    // `metric_flags` still applies: an event about a flag outside it counts nowhere.
    let mut limited = batch(
        Vec::new(),
        vec![
            about(
                event(AT, user("u1"), 7.0),
                "checkout",
                "on",
                Some(tag("treated")),
            ),
            about(event(AT, vec![], 8.0), "search", "off", None),
        ],
    );
    limited.metric_flags = Some(["search".to_owned()].into());
    assert_eq!(store.ingest_events(&limited).await.unwrap(), 1);
    assert_eq!(
        variation_cohorts(&store, "checkout").await,
        cohorts([("off", 2, 35.0), ("on", 3, 70.0)])
    );
    assert_eq!(
        release_cohorts(&store, "checkout").await,
        cohorts([("control", 2, 15.0), ("treated", 2, 60.0)])
    );
    assert_eq!(
        variation_cohorts(&store, "search").await,
        cohorts([("off", 1, 8.0), ("on", 2, 65.0)])
    );

    // An environment with no release exposures at all still uses the span's cohort.
    let mut elsewhere = batch(
        Vec::new(),
        vec![about(
            event(AT, user("u1"), 9.0),
            "checkout",
            "on",
            Some(tag("treated")),
        )],
    );
    elsewhere.env = "staging".into();
    assert_eq!(store.ingest_events(&elsewhere).await.unwrap(), 1);
    let staging = store
        .stage_cohorts("web", "staging", "checkout", "r.1")
        .await
        .unwrap();
    let treated = &staging.metrics[&("latency_ms".to_owned(), "treated".to_owned())];
    assert_eq!((treated.count, treated.sum), (1, 9.0));
}
