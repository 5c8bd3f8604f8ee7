//! Turns a [`Dataset`] into an immutable [`Snapshot`]: regexes, semvers, dates and CIDRs parsed
//! once, key lists as hash sets, references resolved to indices. Compilation never fails: each
//! problem is recorded with its field path; a flag with problems evaluates to an `ERROR`
//! (`MALFORMED_FLAG`) result, and [`Snapshot::problems`] is what validation reports.

mod condition;
mod cycles;
mod env_use;
mod flag_index;
mod serve;

use rustc_hash::FxHashMap;

use crate::context::AttributePath;
use crate::model::{Dataset, Dialect, Flag, FlagKind, KeyList, Segment, Variation};

/// Every attribute (context kind and path) that a snapshot's clauses read, numbered.
type AttributeNumbers = FxHashMap<(Box<str>, AttributePath), usize>;

use cycles::{cycles, note_duplicates, segment_references};
use flag_index::FlagIndex;

pub(crate) use condition::{
    CompiledClause, Cond, KeySet, NumberCmp, Route, Test, WhenMissing, number_of, time_of,
};
pub(crate) use serve::{
    BucketSource, CompiledRelease, CompiledRollout, CompiledServe, PrefixHasher,
};

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
    pub(crate) flag_index: FlagIndex,
    pub(crate) segments: Vec<CompiledSegment>,
    problems: Vec<Problem>,
}

#[derive(Debug)]
pub struct CompiledFlag {
    pub(crate) key: Box<str>,
    /// Where this flag sits in [`Snapshot::flags`].
    pub(crate) position: u32,
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
    /// Evaluation may read the [`crate::Env`] (conservative: `false` means it certainly does not).
    pub(crate) reads_env: bool,
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
    /// Whether evaluating this flag may read the [`crate::Env`]'s clock or random number. When
    /// it is `false`, `Env::default()` gives the same answer, sparing the caller a clock read.
    pub fn reads_env(&self) -> bool {
        self.reads_env
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
pub(crate) struct CompiledSegment {
    pub included: Box<[(Box<str>, KeySet)]>,
    pub excluded: Box<[(Box<str>, KeySet)]>,
    pub rules: Box<[Cond]>,
    /// Part of a reference cycle, or has a problem of its own.
    pub malformed: bool,
    /// A LaunchDarkly segment: a reference cycle is an error only when evaluation goes round
    /// it, tracked by the evaluation's chain (`on_cycle` is the fallback when
    /// no chain is kept).
    pub launchdarkly: bool,
    pub on_cycle: bool,
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

        let mut attributes = AttributeNumbers::default();
        let mut segments: Vec<CompiledSegment> = data
            .segments
            .iter()
            .map(|segment| {
                let field = format!("segments[{}]", segment.key);
                let mut c = Compiler::new(&segment_index, &mut attributes, false, field);
                let compiled = c.segment(segment);
                problems.append(&mut c.problems);
                compiled
            })
            .collect();
        for cyclic in cycles(&segment_references(&data.segments, &segment_index)) {
            let segment = &mut segments[cyclic];
            segment.on_cycle = true;
            // LaunchDarkly fails only an evaluation that goes round the cycle.
            segment.malformed = !segment.launchdarkly;
            problems.push(Problem {
                field: format!("segments[{}].rules", data.segments[cyclic].key),
                message: "segment references form a cycle".into(),
                malformed: segment.malformed,
            });
        }

        let mut flags: Vec<CompiledFlag> = data
            .flags
            .iter()
            .enumerate()
            .map(|(position, flag)| {
                let lazy_variations = flag.dialect == Dialect::LaunchDarkly;
                let field = format!("flags[{}]", flag.key);
                let mut c = Compiler::new(&segment_index, &mut attributes, lazy_variations, field);
                let mut compiled = c.flag(flag, &flag_index);
                compiled.position = u32::try_from(position).unwrap_or(u32::MAX);
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
            let flag = &mut flags[cyclic];
            // LaunchDarkly answers an off flag on a cycle `OFF`, and fails only an evaluation
            // that goes round the cycle (tracked as it evaluates).
            let malformed = flag.dialect != Dialect::LaunchDarkly;
            flag.malformed |= malformed;
            problems.push(Problem {
                field: format!("flags[{}].prerequisites", flag.key),
                message: "prerequisites form a cycle".into(),
                malformed,
            });
        }
        env_use::mark_env_readers(&mut flags, &segments);
        Snapshot {
            flags,
            flag_index: FlagIndex::new(data.flags.iter().map(|f| f.key.as_str())),
            segments,
            problems,
        }
    }

    /// Everything compilation found wrong, by field. Empty for valid data.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    pub fn flag(&self, key: &str) -> Option<&CompiledFlag> {
        self.flag_index.get(key).and_then(|i| self.flags.get(i))
    }

    /// A flag and its position in [`Snapshot::flags`] (for tables built alongside).
    pub fn flag_with_position(&self, key: &str) -> Option<(usize, &CompiledFlag)> {
        self.flag_index
            .get(key)
            .and_then(|i| Some((i, self.flags.get(i)?)))
    }

    /// The flag at `position` in [`Snapshot::flags`] (see [`Snapshot::flag_with_position`]).
    pub fn flag_at(&self, position: usize) -> Option<&CompiledFlag> {
        self.flags.get(position)
    }

    pub fn flags(&self) -> impl Iterator<Item = &CompiledFlag> {
        self.flags.iter()
    }
}

struct Compiler<'a> {
    segments: &'a FxHashMap<&'a str, usize>,
    attributes: &'a mut AttributeNumbers,
    /// A missing variation, an empty rollout or a flag requiring itself is an error only where
    /// evaluation meets it (LaunchDarkly's way), rather than making the whole flag malformed.
    lazy_variations: bool,
    problems: Vec<Problem>,
    /// Path of the item being compiled, for problem reports.
    field: String,
}

impl<'a> Compiler<'a> {
    fn new(
        segments: &'a FxHashMap<&'a str, usize>,
        attributes: &'a mut AttributeNumbers,
        lazy_variations: bool,
        field: String,
    ) -> Compiler<'a> {
        Compiler {
            segments,
            attributes,
            lazy_variations,
            problems: Vec::new(),
            field,
        }
    }

    /// A problem that LaunchDarkly reports only when evaluation meets it.
    fn lazy_problem(&mut self, field: impl std::fmt::Display, message: impl Into<String>) {
        self.problems.push(Problem {
            field: format!("{}.{field}", self.field),
            message: message.into(),
            malformed: !self.lazy_variations,
        });
    }

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
            self.lazy_problem("variations", "a flag needs at least one variation");
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
                    self.lazy_problem(
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
            position: 0,
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
            reads_env: true,
        }
    }

    fn check_variation(&mut self, index: usize, count: usize, field: impl std::fmt::Display) {
        if index >= count {
            self.lazy_problem(
                field,
                format!("variation {index} does not exist ({count} variations)"),
            );
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
            launchdarkly: segment.dialect == Dialect::LaunchDarkly,
            on_cycle: false,
        }
    }
}
