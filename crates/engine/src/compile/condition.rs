//! Conditions and clauses: the condition tree, each clause's operator with its values parsed once
//! (regexes, numbers, dates, semantic versions, CIDRs, segment indices), and key sets.

use regex::Regex;
use rustc_hash::FxHashSet;
use serde_json::Value;

use super::serve::{BucketSource, bucket_source};
use super::{Compiler, Problem};
use crate::cidr::IpNet;
use crate::context::{AttributePath, attribute_path, launchdarkly_attribute_path, word_of};
use crate::model::{Clause, Condition, Dialect, Operator, Percentage};
use crate::{semver, time};

#[derive(Debug)]
pub(crate) enum Cond {
    /// `all` whose children are all clauses (the common shape), checked without recursion.
    AllClauses(Box<[CompiledClause]>),
    All(Box<[Cond]>),
    Any(Box<[Cond]>),
    Not(Box<Cond>),
    Clause(CompiledClause),
    Percentage {
        bucket: BucketSource,
        weight: u32,
    },
}

#[derive(Debug)]
pub(crate) struct CompiledClause {
    pub kind: Box<str>,
    pub path: AttributePath,
    /// The snapshot's number for this `kind` and `path`: clauses reading the same attribute
    /// share it, so one evaluation looks the attribute up once (`eval::reads`).
    pub attribute: usize,
    pub negate: bool,
    pub dialect: Dialect,
    pub test: Test,
    /// What a missing (or null) attribute is read as.
    pub when_missing: WhenMissing,
    pub route: Route,
}

/// How a clause is checked, decided when compiling so that evaluation branches once on the
/// common case (an attribute's value against the test) instead of once per special case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// The attribute's value, or each of its items, against the test.
    Value,
    /// `segment_match` (the test is [`Test::Segment`]).
    Segment,
    /// `exists`.
    Exists,
    /// LaunchDarkly: a clause on `kind` tests every kind the context has.
    LaunchDarklyKind,
    /// LaunchDarkly: an invalid attribute reference makes the flag malformed when evaluated.
    InvalidReference,
    /// Outside LaunchDarkly an operator this version does not know never matches, negated or
    /// not, present or missing.
    Never,
}

/// How a clause reads an attribute the context lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WhenMissing {
    /// The clause does not match, negated or not.
    NoMatch,
    /// Unleash's `currentTime`: the evaluation time.
    Clock,
    /// LaunchDarkly's built-in `anonymous`: `false`.
    False,
}

/// A clause's operator with its values pre-parsed.
#[derive(Debug)]
pub(crate) enum Test {
    InStrings(KeySet),
    /// Compared as text (Unleash compares everything as strings); `bool` = case-insensitive.
    InText(Box<[Box<str>]>, bool),
    InValues(Box<[Value]>),
    StartsWith(Box<[Box<str>]>, bool),
    EndsWith(Box<[Box<str>]>, bool),
    Contains(Box<[Box<str>]>, bool),
    Matches(Box<[Regex]>),
    Number(NumberCmp, Box<[f64]>),
    Before(Box<[i64]>),
    After(Box<[i64]>),
    Semver(NumberCmp, Box<[semver::OwnedVersion]>),
    InCidr(Box<[IpNet]>),
    Exists,
    Segment(Box<[Option<usize>]>),
    Never,
    /// LaunchDarkly: the attribute reference is invalid, which makes the flag malformed when
    /// the clause is evaluated (not before: an earlier rule may match first).
    InvalidReference,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum NumberCmp {
    Eq,
    Lt,
    Lte,
    Gt,
    Gte,
}

/// A set of keys: a short list is scanned, a long one hashed.
#[derive(Debug)]
pub(crate) enum KeySet {
    Few(Box<[ShortKey]>),
    Many(FxHashSet<Box<str>>),
}

/// A key of a short list with [`word_of`] its bytes, compared before the bytes themselves: for
/// keys of up to eight bytes the word and the length are the whole comparison.
#[derive(Debug)]
pub(crate) struct ShortKey {
    word: u64,
    key: Box<str>,
}

impl KeySet {
    const HASH_FROM: usize = 8;

    pub(super) fn new<'a>(keys: impl IntoIterator<Item = &'a str>) -> KeySet {
        let keys: Vec<Box<str>> = keys.into_iter().map(Into::into).collect();
        if keys.len() >= Self::HASH_FROM {
            KeySet::Many(keys.into_iter().collect())
        } else {
            KeySet::Few(
                keys.into_iter()
                    .map(|key| ShortKey {
                        word: word_of(key.as_bytes()),
                        key,
                    })
                    .collect(),
            )
        }
    }

    #[inline]
    pub(crate) fn contains(&self, key: &str) -> bool {
        self.contains_with_word(key, word_of(key.as_bytes()))
    }

    /// [`KeySet::contains`] for a key whose [`word_of`] is already known.
    #[inline]
    pub(crate) fn contains_with_word(&self, key: &str, word: u64) -> bool {
        match self {
            KeySet::Few(keys) => {
                let bytes = key.as_bytes();
                keys.iter().any(|k| {
                    k.word == word
                        && k.key.len() == bytes.len()
                        && (bytes.len() <= 8 || k.key.as_bytes() == bytes)
                })
            }
            KeySet::Many(keys) => keys.contains(key),
        }
    }
}

impl Compiler<'_> {
    pub(super) fn condition(
        &mut self,
        cond: &Condition,
        dialect: Dialect,
        seed: &str,
        field: &str,
    ) -> Cond {
        match cond {
            Condition::All(cs) => {
                let all = self.conditions(cs, dialect, seed, field, "all");
                if all.iter().all(|c| matches!(c, Cond::Clause(_))) {
                    let clauses = all.into_vec().into_iter().filter_map(|c| match c {
                        Cond::Clause(clause) => Some(clause),
                        _ => None,
                    });
                    Cond::AllClauses(clauses.collect())
                } else {
                    Cond::All(all)
                }
            }
            Condition::Any(cs) => Cond::Any(self.conditions(cs, dialect, seed, field, "any")),
            Condition::Not(c) => Cond::Not(Box::new(self.condition(
                c,
                dialect,
                seed,
                &format!("{field}.not"),
            ))),
            Condition::Percentage(p) => self.percentage(p, dialect, seed, field),
            Condition::Clause(clause) => Cond::Clause(self.clause(clause, dialect, field)),
        }
    }

    fn conditions(
        &mut self,
        cs: &[Condition],
        dialect: Dialect,
        seed: &str,
        field: &str,
        op: &str,
    ) -> Box<[Cond]> {
        cs.iter()
            .enumerate()
            .map(|(i, c)| self.condition(c, dialect, seed, &format!("{field}.{op}[{i}]")))
            .collect()
    }

    fn percentage(&mut self, p: &Percentage, dialect: Dialect, seed: &str, field: &str) -> Cond {
        let (limit, modulus) = match dialect {
            Dialect::Unleash => (100, 100),
            _ => (100_000, 100_000),
        };
        if p.weight > limit {
            self.problem(
                format_args!("{field}.percentage.weight"),
                format!("at most {limit}"),
            );
        }
        Cond::Percentage {
            bucket: bucket_source(
                dialect,
                &p.context_kind,
                p.bucket_by.as_deref(),
                p.seed.as_deref().unwrap_or(seed),
                0,
                modulus,
            ),
            weight: p.weight,
        }
    }

    fn clause(&mut self, clause: &Clause, dialect: Dialect, field: &str) -> CompiledClause {
        let mut test = self.test(clause, dialect, field);
        let path = match dialect {
            // LaunchDarkly ignores the attribute of a segment clause.
            Dialect::LaunchDarkly if clause.op != Operator::SegmentMatch => {
                launchdarkly_attribute_path(&clause.attribute).unwrap_or_else(|| {
                    test = Test::InvalidReference;
                    attribute_path(&clause.attribute)
                })
            }
            _ => attribute_path(&clause.attribute),
        };
        let single = |name: &str| path.segments().len() == 1 && &*path.segments()[0] == name;
        let when_missing = match (&test, dialect) {
            (Test::Before(_) | Test::After(_), Dialect::Unleash) if single("currentTime") => {
                WhenMissing::Clock
            }
            (_, Dialect::LaunchDarkly) if single("anonymous") => WhenMissing::False,
            _ => WhenMissing::NoMatch,
        };
        let route = match (&test, dialect) {
            (Test::Segment(_), _) => Route::Segment,
            (Test::InvalidReference, Dialect::LaunchDarkly) => Route::InvalidReference,
            (_, Dialect::LaunchDarkly) if single("kind") => Route::LaunchDarklyKind,
            (Test::Exists, _) => Route::Exists,
            (Test::Never, Dialect::Native | Dialect::Unleash) => Route::Never,
            _ => Route::Value,
        };
        let kind: Box<str> = clause.kind.as_str().into();
        let next = self.attributes.len();
        let attribute = *self
            .attributes
            .entry((kind.clone(), path.clone()))
            .or_insert(next);
        CompiledClause {
            kind,
            path,
            attribute,
            negate: clause.negate,
            dialect,
            test,
            when_missing,
            route,
        }
    }

    fn test(&mut self, clause: &Clause, dialect: Dialect, field: &str) -> Test {
        let fold = clause.case_insensitive;
        // Only native data is held to validation; imported data keeps its origin's leniency
        // (an unparseable value there simply never matches).
        let strict = dialect == Dialect::Native;
        let mut bad = |this: &mut Self, i: usize, what: &str| {
            if strict {
                this.problem(format_args!("{field}.values[{i}]"), what.to_owned());
            }
        };
        let strings =
            |this: &mut Self, bad: &mut dyn FnMut(&mut Self, usize, &str)| -> Box<[Box<str>]> {
                parse_each(this, &clause.values, bad, "expected a string", |v| {
                    let s = v.as_str()?;
                    Some(if fold {
                        s.to_lowercase().into_boxed_str()
                    } else {
                        s.into()
                    })
                })
            };
        match &clause.op {
            Operator::In if dialect == Dialect::Unleash || fold => {
                // Unleash compares everything as strings; folding needs strings too.
                Test::InText(
                    clause
                        .values
                        .iter()
                        .map(|v| {
                            let s = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                            if fold { s.to_lowercase() } else { s }.into_boxed_str()
                        })
                        .collect(),
                    fold,
                )
            }
            Operator::In if clause.values.iter().all(Value::is_string) => {
                Test::InStrings(KeySet::new(clause.values.iter().filter_map(Value::as_str)))
            }
            Operator::In => Test::InValues(clause.values.clone().into_boxed_slice()),
            Operator::StartsWith => Test::StartsWith(strings(self, &mut bad), fold),
            Operator::EndsWith => Test::EndsWith(strings(self, &mut bad), fold),
            Operator::Contains => Test::Contains(strings(self, &mut bad), fold),
            Operator::Matches => Test::Matches(
                clause
                    .values
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| {
                        let pattern = v.as_str()?;
                        let built = regex::RegexBuilder::new(pattern)
                            .case_insensitive(fold)
                            .size_limit(1 << 20)
                            .build();
                        built
                            .map_err(|e| bad(self, i, &format!("invalid regex: {e}")))
                            .ok()
                    })
                    .collect(),
            ),
            Operator::Lt | Operator::Lte | Operator::Gt | Operator::Gte => {
                let numbers =
                    parse_each(self, &clause.values, &mut bad, "expected a number", |v| {
                        number_of(v, dialect)
                    });
                Test::Number(number_cmp(&clause.op), numbers)
            }
            Operator::Before | Operator::After => {
                let expected = "expected an RFC 3339 date-time or Unix milliseconds";
                let times: Box<[i64]> =
                    parse_each(self, &clause.values, &mut bad, expected, time_of);
                if clause.op == Operator::Before {
                    Test::Before(times)
                } else {
                    Test::After(times)
                }
            }
            Operator::SemverEq
            | Operator::SemverLt
            | Operator::SemverLte
            | Operator::SemverGt
            | Operator::SemverGte => {
                let lenient = dialect != Dialect::Unleash;
                let expected = "expected a semantic version";
                let versions = parse_each(self, &clause.values, &mut bad, expected, |v| {
                    v.as_str()
                        .and_then(|s| semver::OwnedVersion::parse(s, lenient))
                });
                Test::Semver(number_cmp(&clause.op), versions)
            }
            Operator::InCidr => {
                let expected = "expected an IP address or CIDR block";
                Test::InCidr(parse_each(self, &clause.values, &mut bad, expected, |v| {
                    v.as_str().and_then(IpNet::parse)
                }))
            }
            Operator::Exists => Test::Exists,
            Operator::SegmentMatch => Test::Segment(
                clause
                    .values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        let found = v.as_str().and_then(|k| self.segments.get(k).copied());
                        if found.is_none() {
                            bad(self, i, "no such segment");
                        }
                        found
                    })
                    .collect(),
            ),
            Operator::Unknown(name) => {
                self.problems.push(Problem {
                    field: format!("{}.{field}.op", self.field),
                    message: format!("unknown operator `{name}`"),
                    malformed: false,
                });
                Test::Never
            }
        }
    }
}

fn number_cmp(op: &Operator) -> NumberCmp {
    match op {
        Operator::Lt | Operator::SemverLt => NumberCmp::Lt,
        Operator::Lte | Operator::SemverLte => NumberCmp::Lte,
        Operator::Gt | Operator::SemverGt => NumberCmp::Gt,
        Operator::Gte | Operator::SemverGte => NumberCmp::Gte,
        _ => NumberCmp::Eq,
    }
}

/// A clause value or attribute as a number. Unleash sends every context value as a string.
pub(crate) fn number_of(v: &Value, dialect: Dialect) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) if dialect == Dialect::Unleash => s.trim().parse().ok(),
        _ => None,
    }
}

/// A date-time as Unix milliseconds: a number (ms) or an RFC 3339 string.
pub(crate) fn time_of(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64),
        Value::String(s) => time::parse_rfc3339_ms(s),
        _ => None,
    }
}

/// `values`, each parsed by `parse`; a value that does not parse is reported through `bad` as
/// `expected` and left out.
fn parse_each<C, T, Out: FromIterator<T>>(
    this: &mut C,
    values: &[Value],
    bad: &mut dyn FnMut(&mut C, usize, &str),
    expected: &str,
    parse: impl Fn(&Value) -> Option<T>,
) -> Out {
    values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| {
            let parsed = parse(v);
            if parsed.is_none() {
                bad(this, i, expected);
            }
            parsed
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::KeySet;

    #[test]
    fn short_key_sets_tell_alike_keys_apart() {
        let keys = ["", "a", "ab", "abc", "abcde", "abcdefgh", "abcdefghij"];
        let set = KeySet::new(keys);
        assert!(matches!(set, KeySet::Few(_)));
        for key in keys {
            assert!(set.contains(key), "{key}");
        }
        for other in [
            "b",
            "ba",
            "abd",
            "abXd",
            "abXde",
            "abcdefgX",
            "abcdefghiX",
            "abcdefghi",
        ] {
            assert!(!set.contains(other), "{other}");
        }
    }
}
