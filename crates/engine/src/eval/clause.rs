//! Conditions, clauses and segments: whether a context matches, and each operator's test of one
//! attribute value.

use std::net::IpAddr;

use serde_json::Value;

use super::bucket::{Bucket, bucket_of};
use super::reads::Reads;
use super::{Chain, Env, Malformed};
use crate::compile::{
    CompiledClause, CompiledRule, CompiledSegment, Cond, KeySet, NumberCmp, Route, Snapshot, Test,
    WhenMissing, number_of, time_of,
};
use crate::context::Context;
use crate::hash;
use crate::model::Dialect;
use crate::semver;

/// What LaunchDarkly reads a missing `anonymous` as.
static FALSE: Value = Value::Bool(false);

impl Snapshot {
    /// The first of `rules` whose condition the context matches, with its position. One call
    /// for all the rules, the attributes read once for them all (set up only for a flag with
    /// rules), and the common condition, all of some clauses, checked without a further call.
    #[inline(never)]
    pub(super) fn matching_rule<'r>(
        &self,
        rules: &'r [CompiledRule],
        ctx: &Context,
        env: &Env,
        chain: &mut Chain<'_>,
    ) -> Result<Option<(usize, &'r CompiledRule)>, Malformed> {
        let mut reads = Reads::new(ctx);
        'rules: for (index, rule) in rules.iter().enumerate() {
            match &rule.condition {
                Cond::AllClauses(clauses) => {
                    for clause in clauses.iter() {
                        if !self.clause_matches(clause, &mut reads, env, chain)? {
                            continue 'rules;
                        }
                    }
                }
                condition => {
                    if !self.matches(condition, &mut reads, env, chain)? {
                        continue 'rules;
                    }
                }
            }
            return Ok(Some((index, rule)));
        }
        Ok(None)
    }

    pub(super) fn matches(
        &self,
        cond: &Cond,
        reads: &mut Reads<'_>,
        env: &Env,
        chain: &mut Chain<'_>,
    ) -> Result<bool, Malformed> {
        Ok(match cond {
            Cond::AllClauses(clauses) => {
                for clause in clauses.iter() {
                    if !self.clause_matches(clause, reads, env, chain)? {
                        return Ok(false);
                    }
                }
                true
            }
            Cond::All(cs) => {
                for c in cs.iter() {
                    if !self.matches(c, reads, env, chain)? {
                        return Ok(false);
                    }
                }
                true
            }
            Cond::Any(cs) => {
                for c in cs.iter() {
                    if self.matches(c, reads, env, chain)? {
                        return Ok(true);
                    }
                }
                false
            }
            Cond::Not(c) => !self.matches(c, reads, env, chain)?,
            Cond::Percentage { bucket, .. } if bucket.invalid => return Err(Malformed),
            Cond::Percentage { bucket, weight } => match bucket_of(bucket, reads.ctx, env) {
                Some(Bucket::Int(b)) => b < *weight,
                Some(Bucket::LaunchDarkly(b)) => b < *weight as f32 / 100_000.0,
                None => false,
            },
            Cond::Clause(clause) => self.clause_matches(clause, reads, env, chain)?,
        })
    }

    /// The common clause (an attribute's value against its test) here; the rest, decided when
    /// compiling, in [`Snapshot::special_clause_matches`].
    #[inline(always)]
    fn clause_matches(
        &self,
        clause: &CompiledClause,
        reads: &mut Reads<'_>,
        env: &Env,
        chain: &mut Chain<'_>,
    ) -> Result<bool, Malformed> {
        if clause.route != Route::Value {
            return self.special_clause_matches(clause, reads, env, chain);
        }
        let (value, word) = match reads.attribute_with_word(clause) {
            (Some(Value::Null) | None, _) => return Ok(missing_matches(clause, reads.ctx, env)),
            (Some(v), word) => (v, word),
        };
        let found = match (value, &clause.test) {
            // The commonest test, `in` a list of strings, without the call into every test.
            (Value::String(s), Test::InStrings(keys)) => keys.contains_with_word(s, word),
            (Value::Array(items), test) => {
                items.iter().any(|item| test.matches(item, clause.dialect))
            }
            (single, test) => test.matches(single, clause.dialect),
        };
        Ok(found != clause.negate)
    }

    #[inline(never)]
    fn special_clause_matches(
        &self,
        clause: &CompiledClause,
        reads: &mut Reads<'_>,
        env: &Env,
        chain: &mut Chain<'_>,
    ) -> Result<bool, Malformed> {
        match clause.route {
            Route::Segment => {
                let Test::Segment(segments) = &clause.test else {
                    return Err(Malformed); // compiled only with a segment test
                };
                let mut any = false;
                for segment in segments.iter() {
                    match segment {
                        Some(index) => {
                            any = any || self.segment_contains(*index, reads, env, chain)?
                        }
                        // Native data must reference segments that exist; imported data did
                        // not match.
                        None if clause.dialect == Dialect::Native => return Err(Malformed),
                        None => {}
                    }
                }
                Ok(any != clause.negate)
            }
            Route::InvalidReference => Err(Malformed),
            Route::LaunchDarklyKind => {
                // LaunchDarkly: a clause on `kind` tests every kind the context has.
                let found = reads
                    .ctx
                    .parts()
                    .iter()
                    .filter_map(|p| p.attribute("kind"))
                    .any(|kind| clause.test.matches(kind, clause.dialect));
                Ok(found != clause.negate)
            }
            Route::Exists => {
                let value = reads.attribute(clause);
                Ok(value.is_some_and(|v| !v.is_null()) != clause.negate)
            }
            Route::Never => Ok(false),
            Route::Value => self.clause_matches(clause, reads, env, chain),
        }
    }

    #[inline(always)]
    pub(super) fn segment_contains(
        &self,
        index: usize,
        reads: &mut Reads<'_>,
        env: &Env,
        chain: &mut Chain<'_>,
    ) -> Result<bool, Malformed> {
        let segment = &self.segments[index];
        if segment.malformed {
            return Err(Malformed);
        }
        // LaunchDarkly: meeting a segment again while evaluating it is a cycle, an error only
        // when evaluation goes round it. Without a chain, the cycle found when compiling.
        let tracked = segment.launchdarkly && chain.tracks_segments();
        if segment.launchdarkly && !tracked && segment.on_cycle {
            return Err(Malformed);
        }
        if tracked {
            let position = u32::try_from(index).map_err(|_| Malformed)?;
            if chain.holds_segment(position) {
                return Err(Malformed);
            }
            chain.push_segment(position)?;
        }
        let contains = self.segment_contains_in(segment, reads, env, chain)?;
        if tracked {
            chain.pop_segment();
        }
        Ok(contains)
    }

    #[inline]
    fn segment_contains_in(
        &self,
        segment: &CompiledSegment,
        reads: &mut Reads<'_>,
        env: &Env,
        chain: &mut Chain<'_>,
    ) -> Result<bool, Malformed> {
        let ctx = reads.ctx;
        let listed = |lists: &[(Box<str>, KeySet)]| {
            lists
                .iter()
                .any(|(kind, keys)| ctx.part(kind).is_some_and(|p| keys.contains(p.key())))
        };
        // Checked for emptiness here, so that a segment of rules alone makes no call.
        if !segment.included.is_empty() && listed(&segment.included) {
            return Ok(true);
        }
        if !segment.excluded.is_empty() && listed(&segment.excluded) {
            return Ok(false);
        }
        for rule in segment.rules.iter() {
            if self.matches(rule, reads, env, chain)? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// Whether a clause matches when its attribute is missing or null.
#[cold]
fn missing_matches(clause: &CompiledClause, ctx: &Context, env: &Env) -> bool {
    let present = || ctx.part(&clause.kind).is_some();
    match clause.when_missing {
        // A missing attribute never matches, negated or not, in every dialect (Unleash's
        // `inverted` is imported as a logical `not` around the clause).
        WhenMissing::NoMatch => false,
        // Unleash reads a missing `currentTime` (that field only) as the evaluation time.
        WhenMissing::Clock => present() && clause.test.time_matches(env.now_ms) != clause.negate,
        // LaunchDarkly's built-in `anonymous` is `false` unless set.
        WhenMissing::False => {
            present() && clause.test.matches(&FALSE, clause.dialect) != clause.negate
        }
    }
}

impl Test {
    /// Whether one (non-array, non-null) attribute value passes this test. The string tests
    /// are here; the heavier ones (parsing the value, regexes, folding case) are each out of
    /// line, so that this dispatch stays a small function to call.
    fn matches(&self, value: &Value, dialect: Dialect) -> bool {
        match self {
            Test::InStrings(keys) => value.as_str().is_some_and(|s| keys.contains(s)),
            Test::StartsWith(wanted, false) => value
                .as_str()
                .is_some_and(|s| wanted.iter().any(|w| s.starts_with(&**w))),
            Test::EndsWith(wanted, false) => value
                .as_str()
                .is_some_and(|s| wanted.iter().any(|w| s.ends_with(&**w))),
            Test::Contains(wanted, false) => value
                .as_str()
                .is_some_and(|s| wanted.iter().any(|w| s.contains(&**w))),
            Test::Number(cmp, wanted) => number_of(value, dialect)
                .is_some_and(|n| wanted.iter().any(|w| compare(*cmp, n.partial_cmp(w)))),
            Test::Exists | Test::Segment(_) | Test::Never | Test::InvalidReference => false,
            _ => self.matches_heavy(value, dialect),
        }
    }

    #[inline(never)]
    fn matches_heavy(&self, value: &Value, dialect: Dialect) -> bool {
        match self {
            Test::InText(wanted, fold) => {
                with_str(value, |s| wanted.iter().any(|w| eq_folded(s, w, *fold)))
            }
            Test::InValues(wanted) => wanted.iter().any(|w| json_equal(w, value)),
            Test::StartsWith(wanted, fold) => value
                .as_str()
                .is_some_and(|s| wanted.iter().any(|w| starts_with(s, w, *fold))),
            Test::EndsWith(wanted, fold) => value
                .as_str()
                .is_some_and(|s| wanted.iter().any(|w| ends_with(s, w, *fold))),
            Test::Contains(wanted, fold) => value
                .as_str()
                .is_some_and(|s| wanted.iter().any(|w| contains(s, w, *fold))),
            Test::Matches(regexes) => value
                .as_str()
                .is_some_and(|s| regexes.iter().any(|r| r.is_match(s))),
            Test::Before(_) | Test::After(_) => {
                time_of(value).is_some_and(|t| self.time_matches(t))
            }
            Test::Semver(cmp, wanted) => {
                let lenient = dialect != Dialect::Unleash;
                value
                    .as_str()
                    .and_then(|s| semver::parse(s, lenient))
                    .is_some_and(|v| wanted.iter().any(|w| compare(*cmp, v.partial_cmp(w))))
            }
            Test::InCidr(nets) => value
                .as_str()
                .and_then(|s| s.trim().parse::<IpAddr>().ok())
                .is_some_and(|ip| {
                    // Unleash never matches an IPv4 network against an IPv4-mapped IPv6 address.
                    let contains = if dialect == Dialect::Unleash {
                        crate::cidr::IpNet::contains_same_family
                    } else {
                        crate::cidr::IpNet::contains
                    };
                    nets.iter().any(|n| contains(n, ip))
                }),
            Test::InStrings(_) | Test::Number(..) => self.matches(value, dialect),
            Test::Exists | Test::Segment(_) | Test::Never | Test::InvalidReference => false,
        }
    }

    fn time_matches(&self, t: i64) -> bool {
        match self {
            Test::Before(times) => times.iter().any(|w| t < *w),
            Test::After(times) => times.iter().any(|w| t > *w),
            _ => false,
        }
    }
}

fn compare(cmp: NumberCmp, ordering: Option<std::cmp::Ordering>) -> bool {
    use std::cmp::Ordering::*;
    matches!(
        (cmp, ordering),
        (NumberCmp::Eq, Some(Equal))
            | (NumberCmp::Lt, Some(Less))
            | (NumberCmp::Lte, Some(Less | Equal))
            | (NumberCmp::Gt, Some(Greater))
            | (NumberCmp::Gte, Some(Greater | Equal))
    )
}

/// JSON equality where numbers compare by value (`1` equals `1.0`).
fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// Calls `f` with the value as a string: strings as they are, numbers and booleans as written.
fn with_str(value: &Value, f: impl Fn(&str) -> bool) -> bool {
    match value {
        Value::String(s) => f(s),
        Value::Bool(b) => f(if *b { "true" } else { "false" }),
        Value::Number(n) => match n.as_i64() {
            Some(i) => f(hash::format_i64(i, &mut [0u8; 20])),
            None => false,
        },
        _ => false,
    }
}

fn folded(s: &str) -> impl DoubleEndedIterator<Item = char> + '_ {
    s.chars().flat_map(char::to_lowercase)
}

/// `wanted` is already lower-cased at compile time when `fold` is set.
fn eq_folded(s: &str, wanted: &str, fold: bool) -> bool {
    if fold {
        folded(s).eq(wanted.chars())
    } else {
        s == wanted
    }
}

fn starts_with(s: &str, prefix: &str, fold: bool) -> bool {
    if !fold {
        return s.starts_with(prefix);
    }
    let mut chars = folded(s);
    prefix.chars().all(|c| chars.next() == Some(c))
}

fn ends_with(s: &str, suffix: &str, fold: bool) -> bool {
    if !fold {
        return s.ends_with(suffix);
    }
    let mut chars = s.chars().rev().flat_map(|c| c.to_lowercase().rev());
    suffix.chars().rev().all(|c| chars.next() == Some(c))
}

fn contains(s: &str, needle: &str, fold: bool) -> bool {
    if !fold {
        return s.contains(needle);
    }
    s.char_indices()
        .any(|(i, _)| starts_with(&s[i..], needle, true))
        || needle.is_empty()
}
