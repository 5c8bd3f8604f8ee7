//! Importers from other platforms. Each turns its origin's data (and contexts) into the native
//! model with the origin's [`Dialect`](crate::model::Dialect), so an imported flag serves every
//! context exactly what the origin served it.

pub mod launchdarkly;
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
