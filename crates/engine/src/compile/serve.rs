//! What a rule or the fallthrough serves: one variation, a rollout over weighted slices, or a
//! guarded release's stage; and the bucket source (attributes, hash prefix, algorithm) that
//! rollouts, releases and percentage conditions bucket by.

use super::{Compiler, Cond};
use crate::context::{AttributePath, attribute_path, launchdarkly_attribute_path};
use crate::hash;
use crate::model::{Dialect, Flag, Rollout, Serve};

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
    /// `attributes` is the context's `key` alone (the default), read from the context's own
    /// `key` field instead of a search of its attributes.
    pub by_key: bool,
    /// When no attribute is present, hash the caller-supplied random value (Unleash).
    pub then_random: bool,
    /// The hash with the fixed prefix (`"{seed}."`, Unleash `"{group_id}:"`) already absorbed.
    pub hasher: PrefixHasher,
    /// Unleash: the modulus (100 for percentages, the total weight for variants).
    pub modulus: u32,
    /// LaunchDarkly: `bucketBy` is an invalid reference, which makes bucketing an error.
    pub invalid: bool,
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

impl Compiler<'_> {
    pub(super) fn serve(
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
                        format!("{} is over 100 %", percent(release.weight)),
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
            self.lazy_problem(
                format_args!("{field}.rollout.variations"),
                "a rollout needs variations",
            );
        }
        match flag.dialect {
            Dialect::Native if cumulative != 100_000 => self.problem(
                format_args!("{field}.rollout.variations"),
                format!("weights add up to {}, not 100 %", percent(cumulative)),
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
}

/// A weight in 0.001 % units as people read it: `99.5 %`, `100 %`, `0.001 %`.
fn percent(units: u32) -> String {
    let (whole, thousandths) = (units / 1000, units % 1000);
    if thousandths == 0 {
        format!("{whole} %")
    } else {
        let fraction = format!("{thousandths:03}");
        format!("{whole}.{} %", fraction.trim_end_matches('0'))
    }
}

pub(super) fn bucket_source(
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
    let mut invalid = false;
    let (attributes, then_random) = match (dialect, bucket_by) {
        (Dialect::Unleash, None | Some("default")) if for_variants => {
            (paths(&["userId", "sessionId", "remoteAddress"]), true)
        }
        (Dialect::Unleash, None | Some("default")) => (paths(&["userId", "sessionId"]), true),
        (Dialect::Unleash, Some("random")) => (paths(&[]), true),
        (Dialect::Unleash, Some(attribute)) => (paths(&[attribute]), for_variants),
        (_, None) => (paths(&["key"]), false),
        (Dialect::LaunchDarkly, Some(attribute)) => match launchdarkly_attribute_path(attribute) {
            Some(path) => (Box::new([path]) as Box<[AttributePath]>, false),
            None => {
                invalid = true;
                (paths(&[]), false)
            }
        },
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
    let by_key =
        matches!(&*attributes, [only] if matches!(only.segments(), [name] if &**name == "key"));
    BucketSource {
        dialect,
        kind: kind.into(),
        by_key,
        attributes,
        then_random,
        hasher,
        modulus,
        invalid,
    }
}
