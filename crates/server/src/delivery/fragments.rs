//! OFREP answer pieces pre-encoded once per revision: each flag's key and version and every
//! variation's `"value","variant"`, so a bulk evaluation is engine evaluations and byte copies.

use switchyard_engine::Snapshot;

/// OFREP answer pieces that depend only on the published data, encoded once per revision so
/// a bulk answer is mostly copying bytes (one entry per flag, in the snapshot's order).
#[derive(Debug, Default)]
pub struct OfrepFragments {
    pub(super) flags: Vec<FlagFragments>,
}

#[derive(Debug)]
pub(super) struct FlagFragments {
    /// `"key":"…",`
    pub(super) key: Vec<u8>,
    /// `"version":N`
    pub(super) version: Vec<u8>,
    /// Per variation: `,"value":…,"variant":"…"`.
    pub(super) variations: Vec<Vec<u8>>,
}

impl OfrepFragments {
    pub fn new(snapshot: &Snapshot) -> OfrepFragments {
        OfrepFragments {
            flags: snapshot
                .flags()
                .map(|flag| FlagFragments {
                    key: format!("\"key\":{},", json(flag.key())).into_bytes(),
                    version: format!("\"version\":{}", flag.version()).into_bytes(),
                    variations: flag
                        .variations()
                        .iter()
                        .map(|v| {
                            format!(",\"value\":{},\"variant\":{}", json(&v.value), json(&v.key))
                                .into_bytes()
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

fn json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}
