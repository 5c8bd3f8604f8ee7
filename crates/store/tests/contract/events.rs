//! Event intake and its aggregates.

use switchyard_store::Store;

/// Replays a known stream of exposures and metric events in batches and compares every
/// aggregate with a computation of its own, straight from the stream.
pub(crate) async fn event_aggregates_are_exact(store: Store) {
    use std::collections::BTreeMap;
    use switchyard_stats::Histogram;
    use switchyard_store::events::{
        ContextPart, EvaluationCount, EventBatch, Exposure, FlagRange, MetricEvent, MetricSubject,
        ReleaseTag, minute_of,
    };

    fn add<K: Ord>(value: f64, sums: &mut BTreeMap<K, (i64, f64, f64)>, key: K) {
        let cohort = sums.entry(key).or_insert((0, 0.0, 0.0));
        cohort.0 += 1;
        cohort.1 += value;
        cohort.2 += value * value;
    }

    let mut seed: u64 = 42;
    let mut next = move |bound: u64| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % bound
    };
    let user = |i: u64| {
        vec![ContextPart {
            kind: "user".into(),
            key: format!("u{i}"),
        }]
    };
    // Time-ordered stream: exposures to `checkout` (a context may switch variation) and
    // latency/error events, some from contexts never exposed.
    enum Item {
        Exposure(Exposure),
        Metric(MetricEvent),
    }
    let start = 1_700_000_000_000_i64;
    let mut stream = Vec::new();
    for step in 0..3_000_i64 {
        let at_ms = start + step * 97;
        let who = next(60);
        if next(3) == 0 {
            let on = (who + next(10) / 9) % 2 == 0;
            let version = 1 + (step / 1_000);
            stream.push(Item::Exposure(Exposure {
                at_ms,
                contexts: user(who),
                flag: "checkout".into(),
                version,
                variation: if on { "on" } else { "off" }.into(),
                reason: "FALLTHROUGH".into(),
                // A release stage per version; most exposures are in it.
                release: (next(5) != 0).then(|| ReleaseTag {
                    stage: format!("r.{version}"),
                    cohort: if on { "treated" } else { "control" }.into(),
                }),
            }));
        } else {
            // Some events are about one evaluation (telemetry spans): of `checkout`, with or
            // without the cohort the variation resolves to, or of `search`, which no context
            // was exposed to; some of them have no context at all.
            let version = 1 + (step / 1_000);
            let about = match next(6) {
                0 => {
                    let on = next(2) == 0;
                    Some(MetricSubject {
                        flag: "checkout".into(),
                        variation: if on { "on" } else { "off" }.into(),
                        release: (next(2) == 0).then(|| ReleaseTag {
                            stage: format!("r.{version}"),
                            cohort: if on { "treated" } else { "control" }.into(),
                        }),
                    })
                }
                1 => Some(MetricSubject {
                    flag: "search".into(),
                    variation: "on".into(),
                    release: None,
                }),
                _ => None,
            };
            let contexts = if about.is_some() && next(4) == 0 {
                Vec::new()
            } else {
                user(who)
            };
            stream.push(Item::Metric(MetricEvent {
                at_ms,
                contexts,
                name: if next(4) == 0 { "error" } else { "latency_ms" }.into(),
                // Whole numbers: their sums are exact in f64, so "exact" means equal.
                value: (next(500) + 1) as f64,
                about,
            }));
        }
    }

    // The independent computation: for each metric event, the variation of the context's
    // most recent exposure to the flag at or before the event (ties: the larger variation);
    // for an event about an evaluation, the variation it names.
    let mut expected: BTreeMap<(String, String), (i64, f64, f64)> = BTreeMap::new();
    let mut search_expected: BTreeMap<(String, String), (i64, f64, f64)> = BTreeMap::new();
    let mut exposed: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
    let mut latest: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new(); // who → variation → first seen
    // The same for release cohorts: who → (stage, cohort) → first seen; then per stage.
    let mut in_release: BTreeMap<String, BTreeMap<ReleaseTag, i64>> = BTreeMap::new();
    let mut release_metrics: BTreeMap<(String, String, String), (i64, f64, f64)> = BTreeMap::new();
    // And the histogram of each release cohort's values, counted one by one.
    let mut release_histograms: BTreeMap<(String, String, String), Histogram> = BTreeMap::new();
    for item in &stream {
        match item {
            Item::Exposure(e) => {
                let key = &e.contexts[0].key;
                if let Some(tag) = &e.release {
                    in_release
                        .entry(key.clone())
                        .or_default()
                        .entry(tag.clone())
                        .or_insert(e.at_ms);
                }
                latest
                    .entry(key.clone())
                    .or_default()
                    .entry(e.variation.clone())
                    .or_insert(e.at_ms);
                let seen = exposed
                    .entry((key.clone(), e.variation.clone()))
                    .or_insert((e.at_ms, e.at_ms));
                seen.1 = e.at_ms;
            }
            Item::Metric(m) => {
                if let Some(subject) = &m.about
                    && subject.flag == "search"
                {
                    add(
                        m.value,
                        &mut search_expected,
                        (m.name.clone(), subject.variation.clone()),
                    );
                    continue;
                }
                // Every exposure in the stream is to `checkout`.
                let who = m.contexts.first().map(|part| part.key.clone());
                let exposed_tag = who
                    .as_ref()
                    .and_then(|who| in_release.get(who))
                    .and_then(|tags| {
                        tags.iter()
                            .max_by_key(|(tag, first)| (**first, (*tag).clone()))
                    })
                    .map(|(tag, _)| tag.clone());
                let subject_tag = m.about.as_ref().and_then(|s| s.release.clone());
                if let Some(tag) = exposed_tag.or(subject_tag) {
                    add(
                        m.value,
                        &mut release_metrics,
                        (tag.stage.clone(), tag.cohort.clone(), m.name.clone()),
                    );
                    release_histograms
                        .entry((tag.stage.clone(), tag.cohort.clone(), m.name.clone()))
                        .or_default()
                        .add(m.value)
                        .unwrap();
                }
                let variation = match &m.about {
                    Some(subject) => subject.variation.clone(),
                    None => {
                        let Some(variations) = who.as_ref().and_then(|who| latest.get(who)) else {
                            continue;
                        };
                        let (variation, _) = variations
                            .iter()
                            .max_by_key(|(variation, first)| (**first, (*variation).clone()))
                            .unwrap();
                        variation.clone()
                    }
                };
                add(m.value, &mut expected, (m.name.clone(), variation));
            }
        }
    }

    // Ingest in batches of varying size, with evaluation counts alongside.
    let mut total_evaluations = 0;
    let mut batches = 0;
    let mut items = stream.into_iter().peekable();
    while items.peek().is_some() {
        let size = 1 + next(200) as usize;
        let mut batch = EventBatch {
            project: "p".into(),
            env: "production".into(),
            counted_at_ms: start,
            counts: vec![EvaluationCount {
                flag: "checkout".into(),
                version: 1,
                variation: "on".into(),
                reason: "FALLTHROUGH".into(),
                release: None,
                count: size as i64,
            }],
            exposures: Vec::new(),
            metrics: Vec::new(),
            metric_flags: None,
            experiments: Vec::new(),
        };
        total_evaluations += size as i64;
        batches += 1;
        batch.counts.push(EvaluationCount {
            flag: "checkout".into(),
            version: 2,
            variation: "on".into(),
            reason: "FALLTHROUGH".into(),
            release: Some(ReleaseTag {
                stage: "r.2".into(),
                cohort: "treated".into(),
            }),
            count: 1,
        });
        for item in items.by_ref().take(size) {
            match item {
                Item::Exposure(e) => batch.exposures.push(e),
                Item::Metric(m) => batch.metrics.push(m),
            }
        }
        store.ingest_events(&batch).await.unwrap();
    }

    let range = FlagRange {
        project: "p",
        env: "production",
        flag: "checkout",
        from_ms: start,
        to_ms: start + 3_600_000,
    };
    let got: BTreeMap<(String, String), (i64, f64, f64)> = store
        .metric_cohorts(range)
        .await
        .unwrap()
        .into_iter()
        .map(|c| ((c.metric, c.variation), (c.count, c.sum, c.sum_of_squares)))
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(got, expected);
    let search: BTreeMap<(String, String), (i64, f64, f64)> = store
        .metric_cohorts(FlagRange {
            flag: "search",
            ..range
        })
        .await
        .unwrap()
        .into_iter()
        .map(|c| ((c.metric, c.variation), (c.count, c.sum, c.sum_of_squares)))
        .collect();
    assert!(!search_expected.is_empty());
    assert_eq!(search, search_expected);

    let series = store.evaluation_series(range).await.unwrap();
    assert_eq!(series.len(), 2);
    assert_eq!(series[0].minute_ms, minute_of(start));
    assert_eq!(series[0].count, total_evaluations);
    assert_eq!(series[1].version, 2);

    // Release cohorts, stage by stage.
    for stage in ["r.1", "r.2", "r.3"] {
        let got = store
            .stage_cohorts("p", "production", "checkout", stage)
            .await
            .unwrap();
        let want_metrics: BTreeMap<(String, String), (i64, f64, f64)> = release_metrics
            .iter()
            .filter(|((s, _, _), _)| s == stage)
            .map(|((_, cohort, metric), v)| ((metric.clone(), cohort.clone()), *v))
            .collect();
        let got_metrics: BTreeMap<(String, String), (i64, f64, f64)> = got
            .metrics
            .iter()
            .map(|(k, m)| (k.clone(), (m.count, m.sum, m.sum_of_squares)))
            .collect();
        assert!(!want_metrics.is_empty(), "{stage}");
        assert_eq!(got_metrics, want_metrics, "{stage}");
        let want_histograms: BTreeMap<(String, String), Histogram> = release_histograms
            .iter()
            .filter(|((s, _, _), _)| s == stage)
            .map(|((_, cohort, metric), h)| ((metric.clone(), cohort.clone()), h.clone()))
            .collect();
        assert_eq!(got.histograms, want_histograms, "{stage}");
        for ((metric, cohort), histogram) in &got.histograms {
            let moments = &got.metrics[&(metric.clone(), cohort.clone())];
            assert_eq!(histogram.count(), moments.count as u64, "{stage}");
        }
        let mut want_contexts: BTreeMap<String, i64> = BTreeMap::new();
        let mut crossed = 0;
        for tags in in_release.values() {
            let cohorts: Vec<&ReleaseTag> = tags.keys().filter(|t| t.stage == stage).collect();
            for tag in &cohorts {
                *want_contexts.entry(tag.cohort.clone()).or_default() += 1;
            }
            crossed += i64::from(cohorts.len() > 1);
        }
        assert_eq!(got.contexts, want_contexts, "{stage}");
        assert_eq!(got.crossed_contexts, crossed, "{stage}");
        let want_evaluations: BTreeMap<String, i64> = match stage {
            "r.2" => [("treated".to_owned(), batches)].into(),
            _ => BTreeMap::new(),
        };
        assert_eq!(got.evaluations, want_evaluations, "{stage}");
    }

    let contexts = store.exposed_contexts(range, None, 10_000).await.unwrap();
    let got: BTreeMap<(String, String), (i64, i64)> = contexts
        .into_iter()
        .map(|c| ((c.key, c.variation), (c.first_seen_ms, c.last_seen_ms)))
        .collect();
    assert_eq!(got, exposed);
    let only_on = store
        .exposed_contexts(range, Some("on"), 10_000)
        .await
        .unwrap();
    assert!(!only_on.is_empty() && only_on.iter().all(|c| c.variation == "on"));

    // Retention: everything last seen before the cut goes.
    let cut = start + 150_000;
    let before = exposed.values().filter(|(_, last)| *last < cut).count() as u64;
    assert_eq!(store.prune_exposures(cut).await.unwrap(), before);
}
