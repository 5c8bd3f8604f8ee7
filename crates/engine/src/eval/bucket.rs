//! Where a context falls in a rollout or a percentage: its bucket in its flag's dialect, and the
//! rollout slice that bucket selects.

use serde_json::Value;

use super::{Env, RolloutInfo};
use crate::compile::{BucketSource, CompiledRollout, PrefixHasher};
use crate::context::{AttributePath, Context, SingleContext};
use crate::hash;
use crate::model::Dialect;

/// Picks the rollout slice for the context: the first whose running total exceeds its bucket.
/// `None` for a rollout without slices or with an invalid `bucketBy` (malformed).
pub(super) fn place(
    rollout: &CompiledRollout,
    ctx: &Context,
    env: &Env,
) -> Option<(usize, RolloutInfo)> {
    let source = &rollout.bucket;
    if source.invalid {
        return None;
    }
    let bucket = bucket_in(source, ctx, env);
    let slice = rollout
        .slices
        .iter()
        .find(|slice| match bucket {
            Some(Bucket::Int(b)) => b < slice.cumulative,
            Some(Bucket::LaunchDarkly(b)) => b < slice.cumulative_f32,
            None => false,
        })
        // LaunchDarkly: weights short of 100 % leave the remainder to the last slice.
        .or(rollout.slices.last())?;
    let bucket_units = match bucket {
        Some(Bucket::Int(b)) => b,
        Some(Bucket::LaunchDarkly(b)) => (b * 100_000.0) as u32,
        None => 0,
    };
    Some((
        slice.variation,
        RolloutInfo {
            bucket: bucket_units,
            in_experiment: rollout.experiment
                && !slice.untracked
                && ctx.part(&source.kind).is_some(),
        },
    ))
}

pub(super) enum Bucket {
    Int(u32),
    LaunchDarkly(f32),
}

/// The context's bucket. A context with nothing to bucket by (missing kind or attribute, or a
/// value that is neither a string nor an integer) sits where its dialect puts it: natively at
/// 99999, the end of the range, so it is never in a small percentage; for LaunchDarkly at 0; for
/// Unleash nowhere (`None`: not in any percentage).
#[inline(never)]
pub(super) fn bucket_of(source: &BucketSource, ctx: &Context, env: &Env) -> Option<Bucket> {
    bucket_in(source, ctx, env)
}

/// [`bucket_of`], inlined into [`place`]: a rollout's bucket without a call.
#[inline(always)]
fn bucket_in(source: &BucketSource, ctx: &Context, env: &Env) -> Option<Bucket> {
    let part = ctx.part(&source.kind);
    let mut digits = [0u8; 20];
    let attribute = match part {
        // The `key` attribute is always the context's key, a string; an empty one is absent as
        // `present` has it.
        Some(p) if source.by_key => Some(p.key())
            .filter(|k| !k.is_empty() || source.dialect == Dialect::LaunchDarkly)
            .map(Attribute::Key),
        Some(p) => source
            .attributes
            .iter()
            .find_map(|path| present(p, path, source.dialect))
            .map(Attribute::Value),
        None => None,
    };
    let integer = |n: &serde_json::Number| match source.dialect {
        Dialect::LaunchDarkly => n.as_f64().and_then(hash::launchdarkly_bucketable_int),
        _ => n.as_i64(),
    };
    let value: Option<&str> = match attribute {
        Some(Attribute::Key(key)) => Some(key),
        Some(Attribute::Value(Value::String(s))) => Some(s),
        Some(Attribute::Value(Value::Number(n))) => {
            integer(n).map(|i| hash::format_i64(i, &mut digits))
        }
        Some(Attribute::Value(_)) => None,
        None if source.then_random => Some(hash::format_i64(i64::from(env.random), &mut digits)),
        None => None,
    };
    let Some(value) = value else {
        return match source.dialect {
            Dialect::Native => Some(Bucket::Int(99_999)),
            Dialect::LaunchDarkly => Some(Bucket::LaunchDarkly(0.0)),
            Dialect::Unleash => None,
        };
    };
    Some(match (&source.hasher, source.dialect) {
        (PrefixHasher::Sha1(sha), _) => {
            Bucket::LaunchDarkly(hash::launchdarkly_bucket_from(sha, value))
        }
        (PrefixHasher::Murmur3(murmur), Dialect::Unleash) => {
            Bucket::Int(murmur.finish_with(value.as_bytes()) % source.modulus)
        }
        (PrefixHasher::Murmur3(murmur), _) => Bucket::Int(hash::native_bucket_of_hash(
            murmur.finish_with(value.as_bytes()),
        )),
    })
}

/// What a context is bucketed by: its key, or the first present attribute of the source's.
enum Attribute<'c> {
    Key(&'c str),
    Value(&'c Value),
}

/// The attribute to bucket by. An empty string is absent, except to LaunchDarkly, which hashes
/// it like any other string.
fn present<'c>(
    part: &'c SingleContext,
    path: &AttributePath,
    dialect: Dialect,
) -> Option<&'c Value> {
    part.get(path)
        .filter(|v| !v.is_null() && (*v != "" || dialect == Dialect::LaunchDarkly))
}
