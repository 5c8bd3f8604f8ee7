//! What an explanation of an evaluation asks that an [`Evaluation`](super::Evaluation) does not
//! answer: which individual target matched, and whether the context is in a segment. Answered
//! by the matchers evaluation itself uses, so an explanation cannot disagree with the result it
//! explains. Off the evaluation path: nothing here is called while evaluating.

use super::reads::Reads;
use super::{Chain, Env};
use crate::compile::{CompiledFlag, Snapshot};
use crate::context::Context;

impl Snapshot {
    /// The position in `flag`'s individual targets of the one `ctx` matches, checked as
    /// evaluation checks them (the first whose context kind's key is listed). Whether targets
    /// decide at all is evaluation's business: it asks only when its reason is `TARGET_MATCH`.
    pub fn matched_target(&self, flag: &CompiledFlag, ctx: &Context) -> Option<usize> {
        flag.targets.iter().position(|target| {
            ctx.part(&target.kind)
                .is_some_and(|part| target.keys.contains(part.key()))
        })
    }

    /// Whether `ctx` is in the segment at `index`, its position in the `segments` of the
    /// [`Dataset`](crate::Dataset) this snapshot was compiled from. `None`: there is no such
    /// segment, or it cannot be evaluated (malformed, or evaluation goes round a cycle).
    pub fn segment_contains_context(&self, index: usize, ctx: &Context, env: &Env) -> Option<bool> {
        if index >= self.segments.len() {
            return None;
        }
        let (mut flags, mut segments) = ([0u32; Chain::FLAGS], [0u32; Chain::SEGMENTS]);
        // A LaunchDarkly segment keeps its chain, as it does inside a flag's evaluation.
        let mut chain = if self.segments[index].launchdarkly {
            Chain::new(&mut flags, &mut segments)
        } else {
            Chain::new(&mut [], &mut [])
        };
        self.segment_contains(index, &mut Reads::new(ctx), env, &mut chain)
            .ok()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use crate::{Context, Dataset, Env, Snapshot};

    fn snapshot() -> Snapshot {
        let data = Dataset::from_json(&json!({
            "flags": [{
                "key": "f", "kind": "boolean",
                "variations": [{"value": true}, {"value": false}],
                "on": true,
                "targets": [
                    {"kind": "org", "variation": 1, "values": ["acme"]},
                    {"kind": "user", "variation": 0, "values": ["u1", "u2"]}
                ],
                "fallthrough": {"variation": 1}
            }],
            "segments": [
                {"key": "beta", "included": [{"kind": "user", "values": ["u1"]}]},
                {"key": "staff", "rules": [{"condition": {"attribute": "email", "op": "ends_with", "values": ["@acme.com"]}}]}
            ]
        }).to_string())
        .unwrap();
        Snapshot::compile(&data)
    }

    fn context(value: serde_json::Value) -> Context {
        Context::from_json(&value).unwrap()
    }

    #[test]
    fn the_matched_target_is_the_first_listing_the_contexts_key() {
        let snapshot = snapshot();
        let flag = snapshot.flag("f").unwrap();
        let u2 = context(json!({"key": "u2"}));
        assert_eq!(snapshot.matched_target(flag, &u2), Some(1));
        let both = context(json!({"kind": "multi", "user": {"key": "u1"}, "org": {"key": "acme"}}));
        assert_eq!(snapshot.matched_target(flag, &both), Some(0));
        let nobody = context(json!({"key": "u9"}));
        assert_eq!(snapshot.matched_target(flag, &nobody), None);
    }

    #[test]
    fn segment_membership_by_inclusion_and_by_rule() {
        let snapshot = snapshot();
        let env = Env::default();
        let u1 = context(json!({"key": "u1"}));
        let staff = context(json!({"key": "u5", "email": "ana@acme.com"}));
        assert_eq!(snapshot.segment_contains_context(0, &u1, &env), Some(true));
        assert_eq!(
            snapshot.segment_contains_context(0, &staff, &env),
            Some(false)
        );
        assert_eq!(
            snapshot.segment_contains_context(1, &staff, &env),
            Some(true)
        );
        assert_eq!(snapshot.segment_contains_context(1, &u1, &env), Some(false));
        assert_eq!(snapshot.segment_contains_context(2, &u1, &env), None);
    }
}
