//! Data from outside Switchyard turned into the engine's model: LaunchDarkly and Unleash exports
//! (and their contexts), and native data files written in YAML. Each importer produces native flags
//! in its origin's [`Dialect`](switchyard_engine::Dialect), so an imported flag serves every context
//! exactly what the origin served it.
//!
//! **API boundary:** this crate only converts. It does no IO (callers hand it text or JSON values)
//! and never evaluates: compiling and evaluating stay in `switchyard-engine`. It must never become
//! a dependency of the engine or the SDK, which is why YAML and the importers live here and not
//! there: every SDK user compiles the engine, and only tools that read foreign data compile this.

pub mod launchdarkly;
pub mod native;
pub mod unleash;

/// Why an import was refused, located by a path into the input (`features[3].strategies[0]`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ImportError {
    pub path: String,
    pub message: String,
}

impl ImportError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> ImportError {
        ImportError {
            path: path.into(),
            message: message.into(),
        }
    }
}
