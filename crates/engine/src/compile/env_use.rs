//! Which flags read the [`crate::Env`] (the clock or the random number): callers that know a
//! flag does not can skip reading a clock and advancing a random source on every evaluation.
//! Only Unleash's semantics read either (a missing `currentTime` is the evaluation time, the
//! `random` stickiness); the answer is conservative through segments and prerequisites.

use super::{CompiledFlag, CompiledSegment, CompiledServe, Cond, Test, WhenMissing};

/// Sets [`CompiledFlag::reads_env`] on every flag.
pub(super) fn mark_env_readers(flags: &mut [CompiledFlag], segments: &[CompiledSegment]) {
    // Any segment reading the environment, directly: a segment that reaches one through other
    // segments reaches one that reads it directly, so this bound holds for chains too.
    let any_segment = segments
        .iter()
        .any(|s| s.rules.iter().any(|rule| cond_reads(rule, false)));
    for flag in flags.iter_mut() {
        flag.reads_env = flag_reads(flag, any_segment);
    }
    // Prerequisites are evaluated too: a flag with any is marked when any flag reads.
    if flags.iter().any(|f| f.reads_env) {
        for flag in flags.iter_mut() {
            flag.reads_env |= !flag.prerequisites.is_empty();
        }
    }
}

fn flag_reads(flag: &CompiledFlag, segments_read: bool) -> bool {
    flag.rules.iter().any(|rule| {
        cond_reads(&rule.condition, segments_read) || serve_reads(&rule.serve, segments_read)
    }) || serve_reads(&flag.fallthrough, segments_read)
}

fn serve_reads(serve: &CompiledServe, segments_read: bool) -> bool {
    match serve {
        CompiledServe::Variation(_) => false,
        CompiledServe::Rollout(rollout) => rollout.bucket.then_random,
        CompiledServe::Release(release) => {
            release.bucket.then_random
                || release
                    .audience
                    .as_ref()
                    .is_some_and(|c| cond_reads(c, segments_read))
                || serve_reads(&release.previous, segments_read)
        }
    }
}

fn cond_reads(cond: &Cond, segments_read: bool) -> bool {
    let clause_reads = |clause: &super::CompiledClause| {
        clause.when_missing == WhenMissing::Clock
            || matches!(clause.test, Test::Segment(_)) && segments_read
    };
    match cond {
        Cond::AllClauses(clauses) => clauses.iter().any(clause_reads),
        Cond::All(cs) | Cond::Any(cs) => cs.iter().any(|c| cond_reads(c, segments_read)),
        Cond::Not(c) => cond_reads(c, segments_read),
        Cond::Clause(clause) => clause_reads(clause),
        Cond::Percentage { bucket, .. } => bucket.then_random,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use crate::{Dataset, Snapshot};

    fn reads_env(flags: serde_json::Value, segments: serde_json::Value) -> Vec<(String, bool)> {
        let data: Dataset =
            serde_json::from_value(json!({"flags": flags, "segments": segments})).unwrap();
        let snapshot = Snapshot::compile(&data);
        snapshot
            .flags()
            .map(|f| (f.key().to_owned(), f.reads_env()))
            .collect()
    }

    fn flag(key: &str, dialect: &str, targeting: serde_json::Value) -> serde_json::Value {
        let mut flag = json!({"key": key, "kind": "boolean", "salt": "s", "on": true, "dialect": dialect,
            "variations": [{"value": false}, {"value": true}], "fallthrough": {"variation": 0}});
        flag.as_object_mut()
            .unwrap()
            .extend(targeting.as_object().unwrap().clone());
        flag
    }

    #[test]
    fn only_the_clock_and_random_stickiness_read_the_environment() {
        let clock =
            json!({"op": "before", "attribute": "currentTime", "values": ["2030-01-01T00:00:00Z"]});
        let random = json!({"rollout": {"bucket_by": "random", "variations": [
            {"variation": 0, "weight": 50000}, {"variation": 1, "weight": 50000}]}});
        let answers = reads_env(
            json!([
                flag("plain", "native", json!({})),
                flag(
                    "native-split",
                    "native",
                    json!({"fallthrough": {"rollout": {"variations": [
                    {"variation": 0, "weight": 50000}, {"variation": 1, "weight": 50000}]}}})
                ),
                flag(
                    "clock",
                    "unleash",
                    json!({"rules": [{"id": "r", "serve": {"variation": 1}, "condition": clock}]})
                ),
                flag("random", "unleash", json!({"fallthrough": random})),
                flag(
                    "via-segment",
                    "native",
                    json!({"rules": [{"id": "r", "serve": {"variation": 1},
                    "condition": {"op": "segment_match", "values": ["timed"]}}]})
                ),
                flag(
                    "via-prerequisite",
                    "native",
                    json!({"prerequisites": [{"key": "plain", "variations": [0]}]})
                ),
            ]),
            json!([{"key": "timed", "dialect": "unleash", "rules": [{"condition": clock}]}]),
        );
        let answers: std::collections::BTreeMap<_, _> = answers.into_iter().collect();
        assert!(!answers["plain"]);
        assert!(!answers["native-split"]);
        assert!(answers["clock"], "{answers:?}");
        assert!(answers["random"], "{answers:?}");
        assert!(answers["via-segment"], "{answers:?}");
        // Conservative: some flag reads the environment, so prerequisites might lead to it.
        assert!(answers["via-prerequisite"], "{answers:?}");
    }
}
