//! The context attributes one evaluation has read, so that clauses reading the same attribute
//! (five rules starting with `country in [...]`) look it up once. Kept on the stack, a few
//! slots indexed by the attribute's number in the snapshot: two attributes sharing a slot only
//! look themselves up again, and nothing allocates.

use serde_json::Value;

use crate::compile::CompiledClause;
use crate::context::{Context, word_of};

pub(super) struct Reads<'c> {
    pub(super) ctx: &'c Context,
    /// The attribute number each slot holds, or [`Reads::EMPTY`].
    numbers: [usize; Reads::SLOTS],
    values: [Option<&'c Value>; Reads::SLOTS],
    /// A string value's [`word_of`], for the short key sets of `in` (0 for other values).
    words: [u64; Reads::SLOTS],
}

impl<'c> Reads<'c> {
    const SLOTS: usize = 8;
    /// No attribute has this number: numbers count the snapshot's distinct attributes.
    const EMPTY: usize = usize::MAX;

    pub(super) fn new(ctx: &'c Context) -> Reads<'c> {
        Reads {
            ctx,
            numbers: [Self::EMPTY; Self::SLOTS],
            values: [None; Self::SLOTS],
            words: [0; Self::SLOTS],
        }
    }

    /// The value of the clause's attribute in its context kind, `None` when either is missing.
    #[inline]
    pub(super) fn attribute(&mut self, clause: &CompiledClause) -> Option<&'c Value> {
        self.attribute_with_word(clause).0
    }

    /// [`Reads::attribute`] with the word of a string value.
    #[inline]
    pub(super) fn attribute_with_word(
        &mut self,
        clause: &CompiledClause,
    ) -> (Option<&'c Value>, u64) {
        let slot = clause.attribute % Self::SLOTS;
        if self.numbers[slot] == clause.attribute {
            return (self.values[slot], self.words[slot]);
        }
        let value = self
            .ctx
            .part(&clause.kind)
            .and_then(|part| part.get(&clause.path));
        let word = match value {
            Some(Value::String(s)) => word_of(s.as_bytes()),
            _ => 0,
        };
        self.numbers[slot] = clause.attribute;
        self.values[slot] = value;
        self.words[slot] = word;
        (value, word)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::{Value, json};

    use crate::{Context, Dataset, Env, Reason, Snapshot};

    /// More attributes than slots: attributes 1 and 17 share a slot, and each still reads its
    /// own value after the other displaced it.
    #[test]
    fn attributes_sharing_a_slot_read_their_own_values() {
        let rule = |i: usize, attribute: &str, value: &str| {
            json!({"id": format!("r{i}"), "serve": {"variation": 1}, "condition":
                {"attribute": attribute, "op": "in", "values": [value]}})
        };
        let mut rules: Vec<Value> = (0..20).map(|i| rule(i, &format!("a{i}"), "yes")).collect();
        rules.push(rule(20, "a1", "one"));
        rules.push(rule(21, "a17", "seventeen"));
        let data: Dataset = serde_json::from_value(json!({"flags": [{
            "key": "f", "kind": "boolean", "on": true,
            "variations": [{"value": false}, {"value": true}],
            "rules": rules, "fallthrough": {"variation": 0}}]}))
        .unwrap();
        let snapshot = Snapshot::compile(&data);
        assert!(snapshot.problems().is_empty(), "{:?}", snapshot.problems());
        let rule_of = |context: Value| {
            let context = Context::from_json(&context).unwrap();
            match snapshot.evaluate("f", &context, &Env::default()).reason {
                Reason::RuleMatch { rule_index, .. } => Some(rule_index),
                _ => None,
            }
        };
        assert_eq!(
            rule_of(json!({"key": "u", "a1": "one", "a17": "x"})),
            Some(20)
        );
        assert_eq!(
            rule_of(json!({"key": "u", "a1": "x", "a17": "seventeen"})),
            Some(21)
        );
        assert_eq!(rule_of(json!({"key": "u", "a17": "yes"})), Some(17));
        assert_eq!(rule_of(json!({"key": "u", "a1": "x", "a17": "x"})), None);
    }
}
