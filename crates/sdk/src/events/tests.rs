//! The recorder and sender, tested in memory.

#![allow(clippy::unwrap_used)]

use super::*;

fn user(key: &str) -> Context {
    Context::from_json(&serde_json::json!({"key": key})).unwrap()
}

fn recorder(capacity: usize, exposure_cache: usize) -> Recorder {
    Recorder::new(
        EventsConfig {
            capacity,
            exposure_cache,
            ..EventsConfig::default()
        },
        0,
    )
}

fn evaluated<'a>(flag: &'a str, variation: Option<&'a str>) -> Evaluated<'a> {
    Evaluated {
        flag,
        version: 3,
        variation_index: variation.map(|v| usize::from(v == "off")),
        variation,
        reason: "FALLTHROUGH",
        release: None,
        in_experiment: false,
    }
}

#[test]
fn a_context_newly_in_an_experiment_is_exposed_again_with_the_same_variation() {
    let events = recorder(100, 100);
    let context = user("u1");
    let before = evaluated("checkout", Some("on"));
    let during = Evaluated {
        in_experiment: true,
        ..evaluated("checkout", Some("on"))
    };
    events.evaluated(&before, &context, 1);
    events.evaluated(&during, &context, 2);
    for at_ms in 3..10 {
        events.evaluated(&before, &context, at_ms);
        events.evaluated(&during, &context, at_ms);
    }
    let batch = events.take_batch(100, 20).unwrap();
    let exposures: Vec<i64> = batch
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Exposure { at_ms, .. } => Some(*at_ms),
            _ => None,
        })
        .collect();
    assert_eq!(
        exposures,
        vec![1, 2],
        "one exposure before the experiment, one on entering it, none repeated"
    );
}

#[test]
fn evaluations_are_counted_exactly_and_exposures_sent_once() {
    let events = recorder(100, 100);
    for i in 0..1_000 {
        let context = user(&format!("u{}", i % 10));
        let variation = if i % 4 == 0 { "off" } else { "on" };
        events.evaluated(&evaluated("checkout", Some(variation)), &context, i);
    }
    events.evaluated(&evaluated("checkout", None), &user("u1"), 5);
    let batch = events.take_batch(1_000, 2_000).unwrap();
    let count = |variation: Option<&str>| {
        batch
            .summaries
            .iter()
            .find(|s| s.variation.as_deref() == variation)
            .map(|s| s.count)
    };
    assert_eq!(count(Some("on")), Some(750));
    assert_eq!(count(Some("off")), Some(250));
    assert_eq!(
        count(None),
        Some(1),
        "a default served is counted, not exposed"
    );
    assert_eq!((batch.start_ms, batch.end_ms), (0, 2_000));
    // u0, u4, u8 saw `off` (i % 4 == 0 hits even contexts only) and every context saw `on`.
    let exposures = batch
        .events
        .iter()
        .filter(|e| matches!(e, Event::Exposure { .. }))
        .count();
    assert_eq!(exposures, 10 + 5);
    assert!(events.take_batch(1_000, 3_000).is_none(), "nothing twice");
}

#[test]
fn a_full_queue_drops_the_oldest_and_counts_them() {
    let events = recorder(3, 100);
    for i in 0..5 {
        events.track("latency", &user("u1"), f64::from(i), i64::from(i));
    }
    let batch = events.take_batch(100, 10).unwrap();
    assert_eq!(batch.dropped, 2);
    let values: Vec<f64> = batch
        .events
        .iter()
        .map(|e| match e {
            Event::Metric { value, .. } => *value,
            Event::Exposure { .. } => -1.0,
        })
        .collect();
    assert_eq!(values, vec![2.0, 3.0, 4.0]);
}

#[test]
fn every_batch_has_its_own_random_id() {
    let events = recorder(10, 100);
    let mut ids = std::collections::BTreeSet::new();
    for i in 0..50 {
        events.track("a", &user("u1"), 1.0, i);
        let id = events.take_batch(100, i).unwrap().batch_id.unwrap();
        assert_eq!(id.len(), 32, "{id}");
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
        ids.insert(id);
    }
    assert_eq!(ids.len(), 50);
}

#[test]
fn a_batch_retried_later_goes_out_unchanged_before_newer_events() {
    let events = recorder(10, 100);
    events.track("a", &user("u1"), 1.0, 1);
    events.evaluated(&evaluated("f", Some("on")), &user("u1"), 1);
    let first = events.take_batch(100, 5).unwrap();
    events.track("b", &user("u1"), 2.0, 6);
    events.evaluated(&evaluated("f", Some("on")), &user("u1"), 6);
    events.retry_later(first.clone());
    // The same batch, id and all: a server that counted it the first time skips it.
    let again = events.take_batch(100, 9).unwrap();
    assert_eq!(again, first);
    events.retry_later(again);
    assert_eq!(
        events.take_batch(100, 10).unwrap(),
        first,
        "as often as it fails"
    );
    // Then what was recorded meanwhile, under a new id.
    let newer = events.take_batch(100, 11).unwrap();
    assert_ne!(newer.batch_id, first.batch_id);
    assert_eq!(newer.events.len(), 1);
    assert_eq!(newer.summaries[0].count, 1);
    assert!(events.take_batch(100, 12).is_none());
}

#[test]
fn a_batch_without_an_id_is_merged_back_before_newer_events() {
    let events = recorder(10, 100);
    events.track("a", &user("u1"), 1.0, 1);
    events.evaluated(&evaluated("f", Some("on")), &user("u1"), 1);
    let mut first = events.take_batch(100, 5).unwrap();
    first.batch_id = None;
    events.track("b", &user("u1"), 2.0, 6);
    events.retry_later(first.clone());
    let again = events.take_batch(100, 9).unwrap();
    assert_eq!(again.start_ms, 0);
    assert_eq!(again.summaries, first.summaries);
    assert_eq!(&again.events[..first.events.len()], &first.events[..]);
    assert_eq!(again.events.len(), first.events.len() + 1);
    assert!(again.batch_id.is_some(), "sent again as a new batch");
}

#[test]
fn the_exposure_cache_is_bounded() {
    let events = recorder(1_000, 4);
    for round in 0..2 {
        for i in 0..6 {
            events.evaluated(&evaluated("f", Some("on")), &user(&format!("u{i}")), round);
        }
    }
    let seen = events.window.lock().unwrap().seen.len();
    assert!(seen <= 4, "{seen}");
}

#[test]
fn relayed_batches_without_an_id_merge_summaries_and_queue_behind() {
    let relay = recorder(3, 100);
    relay.track("mine", &user("u0"), 0.0, 1);
    let downstream = recorder(100, 100);
    for _ in 0..3 {
        downstream.evaluated(&evaluated("f", Some("on")), &user("u1"), 2);
        downstream.track("theirs", &user("u1"), 1.0, 2);
    }
    let mut posted = downstream.take_batch(100, 3).unwrap();
    // An older SDK's batch.
    posted.batch_id = None;
    // The same batch twice: summaries add up in one slot, the queue stays bounded.
    relay.absorb(posted.clone(), 3).unwrap();
    relay.absorb(posted, 3).unwrap();
    let sent = relay.take_batch(100, 4).unwrap();
    assert_eq!(sent.summaries.len(), 1);
    assert_eq!(sent.summaries[0].count, 6);
    // 1 own + 2 × (1 exposure + 3 metrics) = 9 events into 3 places: the 6 oldest dropped.
    assert_eq!(sent.events.len(), 3);
    assert_eq!(sent.dropped, 6);
    assert!(
        sent.events
            .iter()
            .all(|e| matches!(e, Event::Metric { name, .. } if name == "theirs"))
    );
}

#[test]
fn relayed_batches_with_an_id_go_on_whole_within_the_capacity() {
    let relay = recorder(10, 100);
    let downstream = recorder(100, 100);
    let mut posted = Vec::new();
    for round in 0..3 {
        downstream.evaluated(&evaluated("f", Some("on")), &user("u1"), round);
        for _ in 0..3 {
            downstream.track("theirs", &user("u1"), 1.0, round);
        }
        posted.push(downstream.take_batch(100, round + 1).unwrap());
    }
    // 1 summary + 4 events (the exposure is sent once), then 1 + 3 twice: the first two fit in
    // 10, the third does not.
    assert_eq!(posted[0].events.len(), 4);
    assert_eq!(posted[1].events.len(), 3);
    for batch in &posted {
        relay.absorb(batch.clone(), 5).unwrap();
    }
    assert_eq!(relay.take_batch(100, 10).unwrap(), posted[0]);
    assert_eq!(relay.take_batch(100, 10).unwrap(), posted[1]);
    // A downstream retry of the first batch is kept whole too, now that there is room again,
    // behind what did not fit, which goes out merged, under an id of the relay's own.
    relay.absorb(posted[0].clone(), 11).unwrap();
    let own = relay.take_batch(100, 12).unwrap();
    assert!(
        ![&posted[0], &posted[1], &posted[2]]
            .iter()
            .any(|b| b.batch_id == own.batch_id)
    );
    assert_eq!(own.summaries[0].count, 1);
    assert_eq!(own.events, posted[2].events);
    assert_eq!(relay.take_batch(100, 12).unwrap(), posted[0]);
    assert!(relay.take_batch(100, 13).is_none());
}

#[test]
fn a_relayed_batch_kept_whole_goes_out_after_what_was_recorded_before_it() {
    let relay = recorder(100, 100);
    // The relay's own OFREP answer, then a downstream SDK's metric for that context.
    relay.evaluated(&evaluated("f", Some("on")), &user("u1"), 1);
    let downstream = recorder(100, 100);
    downstream.track("error", &user("u1"), 1.0, 2);
    let posted = downstream.take_batch(100, 3).unwrap();
    relay.absorb(posted.clone(), 4).unwrap();
    relay.track("later", &user("u1"), 1.0, 5);

    let first = relay.take_batch(100, 6).unwrap();
    assert!(first.batch_id.is_some() && first.batch_id != posted.batch_id);
    assert_eq!(first.summaries.len(), 1);
    assert!(matches!(&first.events[..], [Event::Exposure { flag, .. }] if flag == "f"));
    assert_eq!(relay.take_batch(100, 6).unwrap(), posted);
    let last = relay.take_batch(100, 6).unwrap();
    assert!(matches!(&last.events[..], [Event::Metric { name, .. }] if name == "later"));
    assert!(relay.take_batch(100, 7).is_none());
}

#[test]
fn a_client_key_batch_stays_whole_with_its_marker_and_is_given_back_when_full() {
    let relay = recorder(5, 100);
    let downstream = recorder(100, 100);
    for _ in 0..4 {
        downstream.track("error", &user("u1"), 1.0, 1);
    }
    let mut posted = downstream.take_batch(100, 2).unwrap();
    posted.batch_id = None;
    posted.client_visible_only = true;
    relay.absorb(posted.clone(), 3).unwrap();
    // No room for a second: given back for the relay to refuse, never merged.
    let refused = relay.absorb(posted.clone(), 3).unwrap_err();
    assert_eq!(refused.events, posted.events);
    let forwarded = relay.take_batch(100, 4).unwrap();
    assert!(forwarded.client_visible_only);
    assert!(forwarded.batch_id.is_some(), "given an id");
    assert_eq!(forwarded.events, posted.events);
    assert!(relay.take_batch(100, 4).is_none());
    // A failed send holds it whole too, even without an id.
    relay.retry_later(posted.clone());
    assert_eq!(relay.take_batch(100, 5).unwrap(), posted);
    // Its marker reaches the wire only when set.
    let text = serde_json::to_string(&posted).unwrap();
    assert!(text.contains("\"client_visible_only\":true"), "{text}");
    let mut plain = posted;
    plain.client_visible_only = false;
    let text = serde_json::to_string(&plain).unwrap();
    assert!(!text.contains("client_visible_only"), "{text}");
    let parsed: Batch = serde_json::from_str(&text).unwrap();
    assert!(!parsed.client_visible_only);
}

#[test]
fn bulk_recording_matches_one_at_a_time() {
    let one = recorder(100, 100);
    let bulk = recorder(100, 100);
    let flags = [
        evaluated("a", Some("on")),
        evaluated("b", Some("off")),
        evaluated("a", Some("on")),
        evaluated("c", None),
    ];
    for context in [user("u1"), user("u2"), user("u1")] {
        for flag in &flags {
            one.evaluated(flag, &context, 7);
        }
        bulk.evaluated_all(&flags, &context, 7);
    }
    let sorted = |recorder: &Recorder| {
        let mut batch = recorder.take_batch(100, 8).unwrap();
        batch
            .summaries
            .sort_by(|x, y| (&x.flag, &x.variation).cmp(&(&y.flag, &y.variation)));
        batch
    };
    let (one, bulk) = (sorted(&one), sorted(&bulk));
    assert_eq!(one.summaries, bulk.summaries);
    assert_eq!(one.events, bulk.events);
    assert_eq!(
        bulk.events.len(),
        4,
        "2 contexts × 2 flags with a variation"
    );
}

#[test]
fn revisions_no_longer_served_are_let_go_of_while_a_batch_is_held() {
    let data: switchyard_engine::Dataset = serde_json::from_value(serde_json::json!({"flags": [
        {"key": "a", "version": 1, "kind": "boolean", "on": true,
         "variations": [{"value": true}, {"value": false}], "fallthrough": {"variation": 0}}]}))
    .unwrap();
    let snapshot = Arc::new(switchyard_engine::Snapshot::compile(&data));
    let events = recorder(10, 100);
    events.track("a", &user("u1"), 1.0, 1);
    let held = events.take_batch(100, 5).unwrap();
    events.retry_later(held.clone());
    for _ in 0..3 {
        let tally = events.tally(&snapshot).unwrap();
        assert!(tally.count(0, Some(0), "FALLTHROUGH"));
    }
    assert_eq!(events.take_batch(100, 6).unwrap(), held, "still held");
    assert_eq!(
        Arc::strong_count(&snapshot),
        1,
        "the retired revisions are let go of"
    );
    // Their counts are kept for the next batch.
    let newer = events.take_batch(100, 7).unwrap();
    assert_eq!(newer.summaries.len(), 1);
    assert_eq!(newer.summaries[0].count, 3);
}

#[test]
fn bulk_recording_at_flag_positions_matches_the_locked_path() {
    let data: switchyard_engine::Dataset = serde_json::from_value(serde_json::json!({"flags": [
        {"key": "a", "version": 4, "kind": "boolean", "on": true,
         "variations": [{"value": true}, {"value": false}], "fallthrough": {"variation": 0}},
        {"key": "b", "version": 2, "kind": "boolean", "on": true,
         "variations": [{"value": true}, {"value": false}], "fallthrough": {"variation": 1}},
        {"key": "c", "version": 9, "kind": "boolean", "on": true,
         "variations": [{"value": true}, {"value": false}], "fallthrough": {"variation": 0}}]}))
    .unwrap();
    let first = Arc::new(switchyard_engine::Snapshot::compile(&data));
    let second = Arc::new(switchyard_engine::Snapshot::compile(&data));
    // What an OFREP answer records for each flag: served, an error, a release cohort, and an
    // experiment, in every kind of slot the tally and the window's map take.
    let evaluations =
        |snapshot: &'_ switchyard_engine::Snapshot| -> Vec<(usize, Evaluated<'static>)> {
            let mut all = Vec::new();
            for (position, flag) in snapshot.flags().enumerate() {
                let served = |index: usize| Evaluated {
                    flag: ["a", "b", "c"][position],
                    version: flag.version(),
                    variation_index: Some(index),
                    variation: Some(["0", "1"][index]),
                    reason: "FALLTHROUGH",
                    release: None,
                    in_experiment: false,
                };
                assert_eq!(flag.variations()[1].key, "1");
                all.push((position, served(position % 2)));
                all.push((position, served(1)));
                all.push((
                    position,
                    Evaluated {
                        variation_index: None,
                        variation: None,
                        reason: "ERROR",
                        ..served(0)
                    },
                ));
                all.push((
                    position,
                    Evaluated {
                        release: Some(switchyard_engine::ReleaseCohort {
                            stage: "r.1",
                            cohort: switchyard_engine::Cohort::Treated,
                        }),
                        ..served(0)
                    },
                ));
                all.push((
                    position,
                    Evaluated {
                        in_experiment: true,
                        ..served(1)
                    },
                ));
            }
            all
        };
    let locked = recorder(100, 100);
    let bulk = recorder(100, 100);
    let rounds = [
        (user("u1"), &first),
        (user("u2"), &first),
        (user("u1"), &first),
        (user("u1"), &second),
        (user("u3"), &second),
    ];
    for (at_ms, (context, revision)) in rounds.iter().enumerate() {
        let evaluations = evaluations(revision);
        let plain: Vec<Evaluated<'_>> = evaluations.iter().map(|(_, e)| copy(e)).collect();
        locked.evaluated_all(&plain, context, at_ms as i64);
        let mut recording = bulk.bulk(revision, context).unwrap();
        for (position, evaluated) in evaluations {
            recording.add(position, evaluated);
        }
        recording.finish(|| at_ms as i64);
    }
    let sorted = |recorder: &Recorder| {
        let mut batch = recorder.take_batch(100, 8).unwrap();
        batch.summaries.sort_by(|x, y| {
            let release = |s: &Summary| {
                s.release
                    .as_ref()
                    .map(|r| (r.stage.clone(), r.cohort.name()))
            };
            (&x.flag, &x.variation, &x.reason, release(x)).cmp(&(
                &y.flag,
                &y.variation,
                &y.reason,
                release(y),
            ))
        });
        batch
    };
    let (locked, bulk) = (sorted(&locked), sorted(&bulk));
    assert_eq!(locked.summaries, bulk.summaries);
    assert_eq!(locked.events, bulk.events);
    let a_on = bulk
        .summaries
        .iter()
        .find(|s| s.flag == "a" && s.variation.as_deref() == Some("0") && s.release.is_none())
        .unwrap();
    assert_eq!((a_on.version, a_on.count), (4, 5));
    assert_eq!(
        Arc::strong_count(&first),
        1,
        "the first revision is let go of"
    );
    assert_eq!(Arc::strong_count(&second), 2, "the one served is kept");
}

fn copy<'a>(evaluated: &Evaluated<'a>) -> Evaluated<'a> {
    Evaluated {
        release: evaluated.release,
        ..*evaluated
    }
}

#[test]
fn exposures_seen_one_way_are_not_reported_again_the_other_way() {
    let data: switchyard_engine::Dataset = serde_json::from_value(serde_json::json!({"flags": [
        {"key": "a", "version": 1, "kind": "boolean", "on": true,
         "variations": [{"value": true}, {"value": false}], "fallthrough": {"variation": 0}}]}))
    .unwrap();
    let revision = Arc::new(switchyard_engine::Snapshot::compile(&data));
    let served = |index: usize| Evaluated {
        flag: "a",
        version: 1,
        variation_index: Some(index),
        variation: Some(["0", "1"][index]),
        reason: "FALLTHROUGH",
        release: None,
        in_experiment: false,
    };
    let events = recorder(100, 100);
    let (u1, u2) = (user("u1"), user("u2"));
    // One at a time, then in a bulk answer (the fingerprint from the revision's keys)...
    events.evaluated(&served(0), &u1, 1);
    let mut bulk = events.bulk(&revision, &u1).unwrap();
    bulk.add(0, served(0));
    bulk.add(0, served(1));
    bulk.finish(|| 2);
    // ...and the other way round.
    let mut bulk = events.bulk(&revision, &u2).unwrap();
    bulk.add(0, served(1));
    bulk.finish(|| 3);
    events.evaluated(&served(1), &u2, 4);
    let batch = events.take_batch(100, 5).unwrap();
    let exposures: Vec<i64> = batch
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Exposure { at_ms, .. } => Some(*at_ms),
            _ => None,
        })
        .collect();
    assert_eq!(
        exposures,
        vec![1, 2, 3],
        "u1 to 0 and 1, u2 to 1: once each"
    );
    let counts: u64 = batch.summaries.iter().map(|s| s.count).sum();
    assert_eq!(counts, 5);
}
