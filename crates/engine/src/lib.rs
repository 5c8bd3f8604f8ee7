//! The Switchyard evaluation engine: the flag model, the compile step that turns flags and
//! segments into an immutable [`Snapshot`], evaluation with reasons, and native and imported
//! bucketing (the [`Dialect`]s that imported flags keep).
//!
//! **Architecture invariant:** this crate is pure. It does no IO, spawns nothing, reads no clock
//! and no randomness (time and a random number come in through [`Env`]), and evaluation of a
//! compiled flag never allocates, never panics and never returns `Err`: a problem is an `ERROR`
//! reason with the caller's default. The SDK, server, relay and CLI all evaluate through it.
//!
//! **API boundary:** the model is read from JSON only. Other platforms' data and YAML files are
//! converted by `switchyard-import`, so neither is compiled into every SDK user's build.

pub mod cidr;
pub mod compile;
pub mod context;
pub mod eval;
pub mod hash;
pub mod model;
#[cfg(feature = "schema")]
mod schema;
pub mod semver;
#[cfg(feature = "schema")]
pub mod strict;
pub mod time;
pub mod wire;

pub use compile::{CompiledFlag, Problem, Snapshot};
pub use context::{Context, ContextError, SingleContext};
pub use eval::{
    Cohort, Env, ErrorKind, Evaluation, RandomSource, Reason, ReleaseCohort, RolloutInfo, ValueType,
};
pub use model::{Dataset, Dialect, Flag, FlagKind, Segment};
