//! Turns a [`Dataset`] into an immutable [`Snapshot`]: regexes, semvers, dates and CIDRs parsed
//! once, key lists as hash sets, references resolved to indices. Compilation never fails: each
//! problem is recorded with its field path; a flag with problems evaluates to an `ERROR`
//! (`MALFORMED_FLAG`) result, and [`Snapshot::problems`] is what validation reports.

use regex::Regex;
use rustc_hash::{FxHashMap, FxHashSet};
use serde_json::Value;

use crate::cidr::IpNet;
use crate::context::{AttributePath, attribute_path};
use crate::model::{
    Clause, Condition, Dataset, Dialect, Flag, FlagKind, KeyList, Operator, Percentage, Rollout,
    Segment, Serve, Variation,
};
use crate::{hash, semver, time};

/// A problem found while compiling, located by a path such as `flags[checkout].rules[0].serve`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    pub field: String,
    pub message: String,
    /// The flag (or segment) cannot be evaluated and answers `MALFORMED_FLAG`. Otherwise the
    /// problem only makes one clause never match (an operator this version does not know,
    /// which a newer server may have sent), and validation still rejects it.
    pub malformed: bool,
}

/// Compiled flags and segments of one environment. Immutable; share it behind an `Arc`.
#[derive(Debug)]
pub struct Snapshot {
    pub(crate) flags: Vec<CompiledFlag>,
    pub(crate) flag_index: FxHashMap<Box<str>, usize>,
    pub(crate) segments: Vec<CompiledSegment>,
    problems: Vec<Problem>,
}

#[derive(Debug)]
pub struct CompiledFlag {
    pub(crate) key: Box<str>,
    pub(crate) version: u64,
    pub(crate) kind: FlagKind,
    pub(crate) dialect: Dialect,
    pub(crate) variations: Box<[Variation]>,
    pub(crate) on: bool,
    pub(crate) off_variation: Option<usize>,
    pub(crate) prerequisites: Box<[CompiledPrerequisite]>,
    pub(crate) targets: Box<[CompiledTarget]>,
    pub(crate) rules: Box<[CompiledRule]>,
    pub(crate) fallthrough: CompiledServe,
    /// Set when compilation found a problem: evaluation answers `MALFORMED_FLAG`.
    pub(crate) malformed: bool,
    /// On, with no prerequisites, targets or rules, and a fallthrough that is one variation.
    pub(crate) is_static: bool,
    /// May be evaluated with a client SDK key.
    pub(crate) client_visible: bool,
}

impl CompiledFlag {
    pub fn key(&self) -> &str {
        &self.key
    }
    pub fn version(&self) -> u64 {
        self.version
    }
    pub fn kind(&self) -> FlagKind {
        self.kind
    }
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }
    pub fn variations(&self) -> &[Variation] {
        &self.variations
    }
    pub fn is_malformed(&self) -> bool {
        self.malformed
    }
    /// OpenFeature's `STATIC`: the flag serves one variation to everyone.
    pub fn is_static(&self) -> bool {
        self.is_static
    }
    pub fn is_on(&self) -> bool {
        self.on
    }
    pub fn client_visible(&self) -> bool {
        self.client_visible
    }
}

#[derive(Debug)]
pub(crate) struct CompiledPrerequisite {
    pub key: Box<str>,
    pub flag: Option<usize>,
    pub variations: Box<[usize]>,
}

#[derive(Debug)]
pub(crate) struct CompiledTarget {
    pub kind: Box<str>,
    pub keys: KeySet,
    pub variation: usize,
}

#[derive(Debug)]
pub(crate) struct CompiledRule {
    pub id: Box<str>,
    pub condition: Cond,
    pub serve: CompiledServe,
}

#[derive(Debug)]
pub(crate) enum CompiledServe {
    Variation(usize),
    Rollout(CompiledRollout),
    Release(Box<CompiledRelease>),
}

#[derive(Debug)]
pub(crate) struct CompiledRelease {
    pub stage: Box<str>,
    pub variation: usize,
    pub weight: u32,
    pub bucket: BucketSource,
    pub audience: Option<Cond>,
    pub previous: CompiledServe,
}

#[derive(Debug)]
pub(crate) struct CompiledRollout {
    pub bucket: BucketSource,
    /// Running totals of the weights, in the order given.
    pub slices: Box<[Slice]>,
    pub experiment: bool,
}

#[derive(Debug)]
pub(crate) struct Slice {
    pub variation: usize,
    pub cumulative: u32,
    /// LaunchDarkly accumulates `weight / 100000` in `f32`; kept to reproduce it bit for bit.
    pub cumulative_f32: f32,
    pub untracked: bool,
}

/// Where a bucket comes from: which attribute(s), the hash prefix and the algorithm.
#[derive(Debug)]
pub(crate) struct BucketSource {
    pub dialect: Dialect,
    pub kind: Box<str>,
    /// Attributes tried in order; the first present one is hashed.
    pub attributes: Box<[AttributePath]>,
    /// When no attribute is present, hash the caller-supplied random value (Unleash).
    pub then_random: bool,
    /// The hash with the fixed prefix (`"{seed}."`, Unleash `"{group_id}:"`) already absorbed.
    pub hasher: PrefixHasher,
    /// Unleash: the modulus (100 for percentages, the total weight for variants).
    pub modulus: u32,
}

#[derive(Clone)]
pub(crate) enum PrefixHasher {
    Murmur3(hash::Murmur3),
    Sha1(sha1_smol::Sha1),
}

impl std::fmt::Debug for PrefixHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PrefixHasher::Murmur3(m) => m.fmt(f),
            PrefixHasher::Sha1(_) => f.write_str("Sha1(..)"),
        }
    }
}

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
    pub negate: bool,
    pub dialect: Dialect,
    pub test: Test,
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
    Few(Box<[Box<str>]>),
    Many(FxHashSet<Box<str>>),
}

impl KeySet {
    const HASH_FROM: usize = 8;

    fn new<'a>(keys: impl IntoIterator<Item = &'a str>) -> KeySet {
        let keys: Vec<Box<str>> = keys.into_iter().map(Into::into).collect();
        if keys.len() >= Self::HASH_FROM {
            KeySet::Many(keys.into_iter().collect())
        } else {
            KeySet::Few(keys.into_boxed_slice())
        }
    }

    pub fn contains(&self, key: &str) -> bool {
        match self {
            KeySet::Few(keys) => keys.iter().any(|k| crate::context::short_str_eq(k, key)),
            KeySet::Many(keys) => keys.contains(key),
        }
    }
}

#[derive(Debug)]
pub(crate) struct CompiledSegment {
    pub included: Box<[(Box<str>, KeySet)]>,
    pub excluded: Box<[(Box<str>, KeySet)]>,
    pub rules: Box<[Cond]>,
    /// Part of a reference cycle, or has a problem of its own.
    pub malformed: bool,
}

impl Snapshot {
    pub fn compile(data: &Dataset) -> Snapshot {
        let mut problems = Vec::new();
        let segment_index: FxHashMap<&str, usize> = data
            .segments
            .iter()
            .enumerate()
            .map(|(i, s)| (s.key.as_str(), i))
            .collect();
        let flag_index: FxHashMap<Box<str>, usize> = data
            .flags
            .iter()
            .enumerate()
            .map(|(i, f)| (f.key.as_str().into(), i))
            .collect();
        note_duplicates(data.flags.iter().map(|f| &f.key), "flags", &mut problems);
        note_duplicates(
            data.segments.iter().map(|s| &s.key),
            "segments",
            &mut problems,
        );

        let mut segments: Vec<CompiledSegment> = data
            .segments
            .iter()
            .map(|segment| {
                let mut c = Compiler {
                    segments: &segment_index,
                    lazy_variations: false,
                    problems: Vec::new(),
                    field: format!("segments[{}]", segment.key),
                };
                let compiled = c.segment(segment);
                problems.append(&mut c.problems);
                compiled
            })
            .collect();
        for cyclic in cycles(&segment_references(&data.segments, &segment_index)) {
            segments[cyclic].malformed = true;
            problems.push(Problem {
                field: format!("segments[{}].rules", data.segments[cyclic].key),
                message: "segment references form a cycle".into(),
                malformed: true,
            });
        }

        let mut flags: Vec<CompiledFlag> = data
            .flags
            .iter()
            .map(|flag| {
                let mut c = Compiler {
                    segments: &segment_index,
                    lazy_variations: flag.dialect == Dialect::LaunchDarkly,
                    problems: Vec::new(),
                    field: format!("flags[{}]", flag.key),
                };
                let mut compiled = c.flag(flag, &flag_index);
                compiled.malformed = c.problems.iter().any(|p| p.malformed);
                problems.append(&mut c.problems);
                compiled
            })
            .collect();
        let prerequisite_graph: Vec<Vec<usize>> = flags
            .iter()
            .map(|f| f.prerequisites.iter().filter_map(|p| p.flag).collect())
            .collect();
        for cyclic in cycles(&prerequisite_graph) {
            flags[cyclic].malformed = true;
            problems.push(Problem {
                field: format!("flags[{}].prerequisites", flags[cyclic].key),
                message: "prerequisites form a cycle".into(),
                malformed: true,
            });
        }
        Snapshot {
            flags,
            flag_index,
            segments,
            problems,
        }
    }

    /// Everything compilation found wrong, by field. Empty for valid data.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    pub fn flag(&self, key: &str) -> Option<&CompiledFlag> {
        self.flag_index.get(key).map(|&i| &self.flags[i])
    }

    /// A flag and its position in [`Snapshot::flags`] (for tables built alongside).
    pub fn flag_with_position(&self, key: &str) -> Option<(usize, &CompiledFlag)> {
        self.flag_index.get(key).map(|&i| (i, &self.flags[i]))
    }

    pub fn flags(&self) -> impl Iterator<Item = &CompiledFlag> {
        self.flags.iter()
    }
}

fn note_duplicates<'a>(
    keys: impl Iterator<Item = &'a String>,
    what: &str,
    problems: &mut Vec<Problem>,
) {
    let mut seen = FxHashSet::default();
    for key in keys {
        if !seen.insert(key) {
            problems.push(Problem {
                field: format!("{what}[{key}]"),
                message: format!("duplicate key `{key}`"),
                malformed: false,
            });
        }
    }
}

fn segment_references(segments: &[Segment], index: &FxHashMap<&str, usize>) -> Vec<Vec<usize>> {
    fn walk(cond: &Condition, index: &FxHashMap<&str, usize>, out: &mut Vec<usize>) {
        match cond {
            Condition::All(cs) | Condition::Any(cs) => cs.iter().for_each(|c| walk(c, index, out)),
            Condition::Not(c) => walk(c, index, out),
            Condition::Percentage(_) => {}
            Condition::Clause(clause) if clause.op == Operator::SegmentMatch => out.extend(
                clause
                    .values
                    .iter()
                    .filter_map(|v| v.as_str().and_then(|k| index.get(k).copied())),
            ),
            Condition::Clause(_) => {}
        }
    }
    segments
        .iter()
        .map(|s| {
            let mut out = Vec::new();
            s.rules
                .iter()
                .for_each(|r| walk(&r.condition, index, &mut out));
            out
        })
        .collect()
}

/// Nodes that lie on a cycle of `graph` (adjacency lists), found by iterative colouring DFS.
fn cycles(graph: &[Vec<usize>]) -> Vec<usize> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let mut mark = vec![Mark::New; graph.len()];
    let mut on_cycle = vec![false; graph.len()];
    for root in 0..graph.len() {
        if mark[root] != Mark::New {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        mark[root] = Mark::Open;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if let Some(&child) = graph[node].get(*next) {
                *next += 1;
                match mark[child] {
                    Mark::New => {
                        mark[child] = Mark::Open;
                        stack.push((child, 0));
                    }
                    Mark::Open => {
                        // Everything on the stack from `child` up is on this cycle.
                        let from = stack.iter().position(|&(n, _)| n == child).unwrap_or(0);
                        stack[from..].iter().for_each(|&(n, _)| on_cycle[n] = true);
                    }
                    Mark::Done => {}
                }
            } else {
                mark[node] = Mark::Done;
                stack.pop();
            }
        }
    }
    (0..graph.len()).filter(|&n| on_cycle[n]).collect()
}

struct Compiler<'a> {
    segments: &'a FxHashMap<&'a str, usize>,
    /// A missing variation is an error only where evaluation serves it (LaunchDarkly's way),
    /// rather than making the whole flag malformed.
    lazy_variations: bool,
    problems: Vec<Problem>,
    /// Path of the item being compiled, for problem reports.
    field: String,
}

impl Compiler<'_> {
    fn problem(&mut self, field: impl std::fmt::Display, message: impl Into<String>) {
        self.problems.push(Problem {
            field: format!("{}.{field}", self.field),
            message: message.into(),
            malformed: true,
        });
    }

    fn flag(&mut self, flag: &Flag, flag_index: &FxHashMap<Box<str>, usize>) -> CompiledFlag {
        let t = &flag.targeting;
        let count = flag.variations.len();
        if count == 0 {
            self.problem("variations", "a flag needs at least one variation");
        }
        for (i, v) in flag.variations.iter().enumerate() {
            if !flag.kind.admits(&v.value) {
                self.problem(
                    format_args!("variations[{i}].value"),
                    format!("not a {:?} value", flag.kind).to_lowercase(),
                );
            }
            if !v.key.is_empty() && flag.variations[..i].iter().any(|w| w.key == v.key) {
                self.problem(
                    format_args!("variations[{i}].key"),
                    "duplicate variation key",
                );
            }
        }
        if let Some(off) = t.off_variation {
            self.check_variation(off, count, "off_variation");
        }
        let prerequisites = t
            .prerequisites
            .iter()
            .enumerate()
            .map(|(i, p)| {
                if p.key == flag.key {
                    self.problem(
                        format_args!("prerequisites[{i}]"),
                        "a flag cannot require itself",
                    );
                }
                CompiledPrerequisite {
                    key: p.key.as_str().into(),
                    flag: flag_index.get(p.key.as_str()).copied(),
                    variations: p.variations.clone().into_boxed_slice(),
                }
            })
            .collect();
        let targets = t
            .targets
            .iter()
            .enumerate()
            .map(|(i, target)| {
                self.check_variation(
                    target.variation,
                    count,
                    format_args!("targets[{i}].variation"),
                );
                CompiledTarget {
                    kind: target.kind.as_str().into(),
                    keys: KeySet::new(target.values.iter().map(String::as_str)),
                    variation: target.variation,
                }
            })
            .collect();
        let default_seed = format!("{}.{}", flag.key, flag.salt);
        let rules: Box<[CompiledRule]> = t
            .rules
            .iter()
            .enumerate()
            .map(|(i, rule)| CompiledRule {
                id: rule.id.as_str().into(),
                condition: self.condition(
                    &rule.condition,
                    flag.dialect,
                    &default_seed,
                    &format!("rules[{i}].condition"),
                ),
                serve: self.serve(
                    &rule.serve,
                    flag,
                    &default_seed,
                    &format!("rules[{i}].serve"),
                ),
            })
            .collect();
        let fallthrough = self.serve(&t.fallthrough, flag, &default_seed, "fallthrough");
        let is_static = t.on
            && t.prerequisites.is_empty()
            && t.targets.is_empty()
            && rules.is_empty()
            && matches!(fallthrough, CompiledServe::Variation(_));
        CompiledFlag {
            key: flag.key.as_str().into(),
            version: flag.version,
            kind: flag.kind,
            dialect: flag.dialect,
            variations: {
                let mut variations = flag.variations.clone();
                crate::model::default_variation_keys(&mut variations);
                variations.into_boxed_slice()
            },
            on: t.on,
            off_variation: t.off_variation,
            prerequisites,
            targets,
            rules,
            fallthrough,
            malformed: false,
            is_static,
            client_visible: flag.client_visible,
        }
    }

    fn check_variation(&mut self, index: usize, count: usize, field: impl std::fmt::Display) {
        if index >= count {
            self.problems.push(Problem {
                field: format!("{}.{field}", self.field),
                message: format!("variation {index} does not exist ({count} variations)"),
                // LaunchDarkly reports a bad variation only when evaluation reaches it.
                malformed: !self.lazy_variations,
            });
        }
    }

    fn serve(
        &mut self,
        serve: &Serve,
        flag: &Flag,
        default_seed: &str,
        field: &str,
    ) -> CompiledServe {
        match serve {
            Serve::Variation(v) => {
                self.check_variation(*v, flag.variations.len(), format_args!("{field}.variation"));
                CompiledServe::Variation(*v)
            }
            Serve::Rollout(r) => CompiledServe::Rollout(self.rollout(r, flag, default_seed, field)),
            Serve::Release(release) => {
                let field = format!("{field}.release");
                self.check_variation(
                    release.variation,
                    flag.variations.len(),
                    format_args!("{field}.variation"),
                );
                if release.weight > 100_000 {
                    self.problem(
                        format_args!("{field}.weight"),
                        format!("{} is over 100000 (100 %)", release.weight),
                    );
                }
                if let Serve::Release(_) = release.previous {
                    // One release per rule: its roll back restores exactly `previous`.
                    self.problem(
                        format_args!("{field}.previous"),
                        "a release cannot be layered on another release",
                    );
                }
                let audience = release.audience.as_ref().map(|condition| {
                    self.condition(
                        condition,
                        flag.dialect,
                        default_seed,
                        &format!("{field}.audience"),
                    )
                });
                let previous = self.serve(
                    &release.previous,
                    flag,
                    default_seed,
                    &format!("{field}.previous"),
                );
                CompiledServe::Release(Box::new(CompiledRelease {
                    stage: release.stage.as_str().into(),
                    variation: release.variation,
                    weight: release.weight,
                    bucket: bucket_source(
                        Dialect::Native,
                        &release.context_kind,
                        release.bucket_by.as_deref(),
                        &release.seed,
                        0,
                        100_000,
                    ),
                    audience,
                    previous,
                }))
            }
        }
    }

    fn rollout(
        &mut self,
        r: &Rollout,
        flag: &Flag,
        default_seed: &str,
        field: &str,
    ) -> CompiledRollout {
        let mut slices = Vec::with_capacity(r.variations.len());
        let (mut cumulative, mut cumulative_f32) = (0u32, 0f32);
        for (i, wv) in r.variations.iter().enumerate() {
            self.check_variation(
                wv.variation,
                flag.variations.len(),
                format_args!("{field}.rollout.variations[{i}].variation"),
            );
            cumulative = cumulative.saturating_add(wv.weight);
            cumulative_f32 += wv.weight as f32 / 100_000.0;
            slices.push(Slice {
                variation: wv.variation,
                cumulative,
                cumulative_f32,
                untracked: wv.untracked,
            });
        }
        if slices.is_empty() {
            self.problem(
                format_args!("{field}.rollout.variations"),
                "a rollout needs variations",
            );
        }
        match flag.dialect {
            Dialect::Native if cumulative != 100_000 => self.problem(
                format_args!("{field}.rollout.variations"),
                format!("weights must sum to 100000 (0.001 % units), not {cumulative}"),
            ),
            Dialect::Unleash if cumulative == 0 => self.problem(
                format_args!("{field}.rollout.variations"),
                "weights must not all be zero",
            ),
            _ => {}
        }
        let bucket = bucket_source(
            flag.dialect,
            &r.context_kind,
            r.bucket_by.as_deref(),
            r.seed.as_deref().unwrap_or(default_seed),
            crate::hash::UNLEASH_VARIANT_SEED,
            cumulative.max(1),
        );
        CompiledRollout {
            bucket,
            slices: slices.into_boxed_slice(),
            experiment: r.experiment,
        }
    }

    fn segment(&mut self, segment: &Segment) -> CompiledSegment {
        let key_lists = |lists: &[KeyList]| -> Box<[(Box<str>, KeySet)]> {
            lists
                .iter()
                .map(|l| {
                    (
                        l.kind.as_str().into(),
                        KeySet::new(l.values.iter().map(String::as_str)),
                    )
                })
                .collect()
        };
        let default_seed = format!("{}.{}", segment.key, segment.salt);
        let rules = segment
            .rules
            .iter()
            .enumerate()
            .map(|(i, rule)| {
                self.condition(
                    &rule.condition,
                    segment.dialect,
                    &default_seed,
                    &format!("rules[{i}].condition"),
                )
            })
            .collect();
        CompiledSegment {
            included: key_lists(&segment.included),
            excluded: key_lists(&segment.excluded),
            rules,
            malformed: self.problems.iter().any(|p| p.malformed),
        }
    }

    fn condition(&mut self, cond: &Condition, dialect: Dialect, seed: &str, field: &str) -> Cond {
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
        let test = self.test(clause, dialect, field);
        CompiledClause {
            kind: clause.kind.as_str().into(),
            path: attribute_path(&clause.attribute),
            negate: clause.negate,
            dialect,
            test,
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
                clause
                    .values
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| match v.as_str() {
                        Some(s) if fold => Some(s.to_lowercase().into_boxed_str()),
                        Some(s) => Some(s.into()),
                        None => {
                            bad(this, i, "expected a string");
                            None
                        }
                    })
                    .collect()
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
                let numbers = clause
                    .values
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| {
                        let n = number_of(v, dialect);
                        if n.is_none() {
                            bad(self, i, "expected a number");
                        }
                        n
                    })
                    .collect();
                Test::Number(number_cmp(&clause.op), numbers)
            }
            Operator::Before | Operator::After => {
                let times: Box<[i64]> = clause
                    .values
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| {
                        let t = time_of(v);
                        if t.is_none() {
                            bad(
                                self,
                                i,
                                "expected an RFC 3339 date-time or Unix milliseconds",
                            );
                        }
                        t
                    })
                    .collect();
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
                let versions = clause
                    .values
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| {
                        let version = v
                            .as_str()
                            .and_then(|s| semver::OwnedVersion::parse(s, lenient));
                        if version.is_none() {
                            bad(self, i, "expected a semantic version");
                        }
                        version
                    })
                    .collect();
                Test::Semver(number_cmp(&clause.op), versions)
            }
            Operator::InCidr => Test::InCidr(
                clause
                    .values
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| {
                        let net = v.as_str().and_then(IpNet::parse);
                        if net.is_none() {
                            bad(self, i, "expected an IP address or CIDR block");
                        }
                        net
                    })
                    .collect(),
            ),
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

fn bucket_source(
    dialect: Dialect,
    kind: &str,
    bucket_by: Option<&str>,
    prefix: &str,
    unleash_seed: u32,
    modulus: u32,
) -> BucketSource {
    let paths = |names: &[&str]| names.iter().map(|n| attribute_path(n)).collect();
    // Unleash picks variants (hash seed ≠ 0) by userId, sessionId, remoteAddress, else at random,
    // and a custom stickiness field that is missing falls back to random too; gradual rollouts
    // use userId, sessionId, else random, and a missing custom field is simply not in them.
    let for_variants = unleash_seed != 0;
    let (attributes, then_random) = match (dialect, bucket_by) {
        (Dialect::Unleash, None | Some("default")) if for_variants => {
            (paths(&["userId", "sessionId", "remoteAddress"]), true)
        }
        (Dialect::Unleash, None | Some("default")) => (paths(&["userId", "sessionId"]), true),
        (Dialect::Unleash, Some("random")) => (paths(&[]), true),
        (Dialect::Unleash, Some(attribute)) => (paths(&[attribute]), for_variants),
        (_, None) => (paths(&["key"]), false),
        (_, Some(attribute)) => (paths(&[attribute]), false),
    };
    let hasher = match dialect {
        Dialect::Native | Dialect::Unleash => {
            let (separator, seed): (&[u8], u32) = match dialect {
                Dialect::Unleash => (b":", unleash_seed),
                _ => (b".", 0),
            };
            let mut murmur = hash::Murmur3::new(seed);
            murmur.update(prefix.as_bytes());
            murmur.update(separator);
            PrefixHasher::Murmur3(murmur)
        }
        Dialect::LaunchDarkly => {
            let mut sha = sha1_smol::Sha1::new();
            sha.update(prefix.as_bytes());
            sha.update(b".");
            PrefixHasher::Sha1(sha)
        }
    };
    BucketSource {
        dialect,
        kind: kind.into(),
        attributes,
        then_random,
        hasher,
        modulus,
    }
}
