//! Evaluation contexts: who or what is evaluated. A context is one or more kinds (`user`,
//! `tenant`, `device`…), each with a key and attributes. Built once per request (this allocates);
//! evaluation then only borrows from it.

use serde_json::{Map, Value};

/// One kind of a (possibly multi-kind) context.
#[derive(Debug, Clone, PartialEq)]
pub struct SingleContext {
    kind: String,
    /// [`word_of`] the kind, compared before (for short kinds instead of) the kind itself.
    kind_word: u64,
    key: String,
    /// Every attribute, including `key` and `kind`, so that clauses can address them uniformly.
    /// A flat list: contexts have a handful of attributes, and a scan that compares lengths
    /// first beats a tree of string comparisons on the evaluation path.
    attributes: Vec<Attribute>,
}

/// A top-level attribute with its name's [`word_of`], compared before the name itself (and
/// instead of it for names of up to eight bytes).
#[derive(Debug, Clone, PartialEq)]
struct Attribute {
    word: u64,
    name: String,
    value: Value,
}

impl SingleContext {
    /// A context of `kind` with `key` and further attributes (`key`/`kind` entries are overwritten).
    pub fn new(kind: &str, key: &str, mut attributes: Map<String, Value>) -> SingleContext {
        attributes.insert("key".to_owned(), Value::String(key.to_owned()));
        attributes.insert("kind".to_owned(), Value::String(kind.to_owned()));
        SingleContext {
            kind: kind.to_owned(),
            kind_word: word_of(kind.as_bytes()),
            key: key.to_owned(),
            attributes: attributes
                .into_iter()
                .map(|(name, value)| Attribute {
                    word: word_of(name.as_bytes()),
                    name,
                    value,
                })
                .collect(),
        }
    }

    pub fn kind(&self) -> &str {
        &self.kind
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// The top-level attributes (`key` and `kind` included), in name order.
    pub fn attributes(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.attributes.iter().map(|a| (a.name.as_str(), &a.value))
    }

    /// The top-level attribute `name`.
    pub fn attribute(&self, name: &str) -> Option<&Value> {
        self.find(word_of(name.as_bytes()), name)
    }

    #[inline]
    fn find(&self, word: u64, name: &str) -> Option<&Value> {
        self.attributes
            .iter()
            .find(|a| {
                a.word == word && a.name.len() == name.len() && (name.len() <= 8 || a.name == name)
            })
            .map(|a| &a.value)
    }

    /// The value at `path`.
    pub fn get(&self, path: &AttributePath) -> Option<&Value> {
        let (first, rest) = path.segments.split_first()?;
        let mut value = self.find(path.first_word, first)?;
        for segment in rest {
            value = match value {
                Value::Object(map) => map.get(segment.as_ref())?,
                Value::Array(items) if path.into_arrays => {
                    items.get(segment.parse::<usize>().ok()?)?
                }
                _ => return None,
            };
        }
        Some(value)
    }
}

/// Up to eight bytes of `bytes` in a word, without a loop: all of them when there are at most
/// eight (overlapping reads of the first and last bytes, so that with the length the word is
/// the whole comparison), the first eight otherwise.
#[inline]
pub(crate) fn word_of(bytes: &[u8]) -> u64 {
    let n = bytes.len();
    let read2 = |at: usize| {
        bytes
            .get(at..at + 2)
            .map_or(0, |b| u64::from(u16::from_le_bytes([b[0], b[1]])))
    };
    let read4 = |at: usize| {
        bytes.get(at..at + 4).map_or(0, |b| {
            u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        })
    };
    if n >= 8 {
        read4(0) | read4(4) << 32
    } else if n >= 4 {
        read4(0) | read4(n - 4) << 32
    } else if n >= 2 {
        read2(0) | read2(n - 2) << 16
    } else {
        bytes.first().map_or(0, |&b| u64::from(b))
    }
}

/// A parsed attribute reference: JSON Pointer segments, the first one's [`word_of`] precomputed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttributePath {
    first_word: u64,
    segments: Box<[Box<str>]>,
    /// A segment may index into an array (`/list/0`). LaunchDarkly's references reach only
    /// into objects.
    into_arrays: bool,
}

impl AttributePath {
    pub fn segments(&self) -> &[Box<str>] {
        &self.segments
    }
}

/// A single- or multi-kind context.
#[derive(Debug, Clone, PartialEq)]
pub struct Context {
    parts: Vec<SingleContext>,
    /// A hash of the kinds and keys, taken once (see [`Context::fingerprint`]).
    fingerprint: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContextError {
    #[error("a context must be a JSON object")]
    NotAnObject,
    #[error("context kind `{0}` has no string `key`")]
    MissingKey(String),
    #[error("invalid context kind `{0}`")]
    InvalidKind(String),
    #[error("a multi-kind context needs at least one kind")]
    EmptyMulti,
    #[error("context kind `{0}` appears twice")]
    DuplicateKind(String),
    #[error("context kind `{0}` has an empty `key`")]
    EmptyKey(String),
    #[error("context kind `{kind}`: `{attribute}` must be {expected}")]
    InvalidAttribute {
        kind: String,
        attribute: String,
        expected: &'static str,
    },
}

impl Context {
    pub fn single(part: SingleContext) -> Context {
        Context::of(vec![part])
    }

    fn of(parts: Vec<SingleContext>) -> Context {
        use std::hash::{Hash, Hasher};
        let mut hasher = rustc_hash::FxHasher::default();
        for part in &parts {
            part.kind.hash(&mut hasher);
            part.key.hash(&mut hasher);
        }
        Context {
            fingerprint: hasher.finish(),
            parts,
        }
    }

    pub fn multi(parts: Vec<SingleContext>) -> Result<Context, ContextError> {
        if parts.is_empty() {
            return Err(ContextError::EmptyMulti);
        }
        for (i, part) in parts.iter().enumerate() {
            if parts[..i].iter().any(|p| p.kind == part.kind) {
                return Err(ContextError::DuplicateKind(part.kind.clone()));
            }
        }
        Ok(Context::of(parts))
    }

    /// Parses a native context: `{"kind":"user","key":…}`, `{"kind":"multi","user":{…},…}`,
    /// or an object without `kind`, which is a `user`.
    pub fn from_json(value: &Value) -> Result<Context, ContextError> {
        let Value::Object(object) = value else {
            return Err(ContextError::NotAnObject);
        };
        match object.get("kind") {
            Some(Value::String(kind)) if kind == "multi" => {
                let parts = object
                    .iter()
                    .filter(|(name, _)| name.as_str() != "kind")
                    .map(|(kind, body)| single_from_object(kind, body))
                    .collect::<Result<Vec<_>, _>>()?;
                Context::multi(parts)
            }
            Some(Value::String(kind)) => Ok(Context::single(single_from_object(kind, value)?)),
            Some(other) => Err(ContextError::InvalidKind(other.to_string())),
            None => Ok(Context::single(single_from_object("user", value)?)),
        }
    }

    /// Parses an OpenFeature evaluation context: a `user` keyed by `targetingKey`, unless it
    /// carries `kind`, in which case it is a native context.
    pub fn from_openfeature(value: &Value) -> Result<Context, ContextError> {
        let Value::Object(object) = value else {
            return Err(ContextError::NotAnObject);
        };
        if object.contains_key("kind") {
            return Context::from_json(value);
        }
        let key = match object.get("targetingKey") {
            Some(Value::String(key)) => key.as_str(),
            Some(_) => return Err(ContextError::MissingKey("user".to_owned())),
            None => "",
        };
        let mut attributes = object.clone();
        attributes.remove("targetingKey");
        // Flags imported from Unleash target and stick by `userId`; Unleash's own OpenFeature
        // providers send the targeting key as `userId`, so do the same.
        if !key.is_empty() && !attributes.contains_key("userId") {
            attributes.insert("userId".to_owned(), Value::String(key.to_owned()));
        }
        Ok(Context::single(SingleContext::new("user", key, attributes)))
    }

    pub fn parts(&self) -> &[SingleContext] {
        &self.parts
    }

    /// A hash of the context's kinds and keys (not its other attributes), taken when it was
    /// built: who the context is, for deduplicating what was reported about it. Equal contexts
    /// have equal fingerprints; stable within one build of this crate, not across versions.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    pub fn part(&self, kind: &str) -> Option<&SingleContext> {
        let word = word_of(kind.as_bytes());
        self.parts.iter().find(|p| {
            p.kind_word == word && p.kind.len() == kind.len() && (kind.len() <= 8 || p.kind == kind)
        })
    }
}

fn single_from_object(kind: &str, body: &Value) -> Result<SingleContext, ContextError> {
    if kind.is_empty() || kind == "kind" || kind == "multi" {
        return Err(ContextError::InvalidKind(kind.to_owned()));
    }
    let Value::Object(attributes) = body else {
        return Err(ContextError::NotAnObject);
    };
    let Some(Value::String(key)) = attributes.get("key") else {
        return Err(ContextError::MissingKey(kind.to_owned()));
    };
    Ok(SingleContext::new(kind, &key.clone(), attributes.clone()))
}

/// Parses an attribute reference: `/a/b~1c` is a JSON Pointer (`~1` = `/`, `~0` = `~`); anything
/// not starting with `/` is one top-level attribute name.
pub fn attribute_path(reference: &str) -> AttributePath {
    let segments: Box<[Box<str>]> = match reference.strip_prefix('/') {
        Some(pointer) => pointer
            .split('/')
            .map(|s| s.replace("~1", "/").replace("~0", "~").into_boxed_str())
            .collect(),
        None => Box::new([reference.into()]),
    };
    AttributePath {
        first_word: segments.first().map_or(0, |s| word_of(s.as_bytes())),
        segments,
        into_arrays: true,
    }
}

/// An attribute reference as LaunchDarkly reads it: like [`attribute_path`], but reaching only
/// into objects; `None` when LaunchDarkly holds the reference invalid (empty, `/`, an empty
/// segment as in `//a` or `/a/`, or a `~` not followed by `0` or `1`).
pub fn launchdarkly_attribute_path(reference: &str) -> Option<AttributePath> {
    if reference.is_empty() || reference == "/" {
        return None;
    }
    if let Some(pointer) = reference.strip_prefix('/') {
        let valid_segment = |segment: &str| {
            !segment.is_empty()
                && segment
                    .split('~')
                    .skip(1)
                    .all(|after| after.starts_with(['0', '1']))
        };
        if !pointer.split('/').all(valid_segment) {
            return None;
        }
    }
    Some(AttributePath {
        into_arrays: false,
        ..attribute_path(reference)
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn context_without_kind_is_a_user() {
        let ctx = Context::from_json(&json!({"key": "u1", "name": "Ann"})).unwrap();
        assert_eq!(ctx.parts().len(), 1);
        assert_eq!(ctx.part("user").unwrap().key(), "u1");
    }

    #[test]
    fn multi_kind_context_has_each_kind() {
        let ctx = Context::from_json(&json!({
            "kind": "multi", "user": {"key": "u1"}, "tenant": {"key": "acme", "plan": "gold"}
        }))
        .unwrap();
        assert_eq!(ctx.part("tenant").unwrap().key(), "acme");
        assert_eq!(ctx.part("user").unwrap().key(), "u1");
        assert!(ctx.part("device").is_none());
    }

    #[test]
    fn invalid_contexts_are_rejected() {
        for bad in [
            json!([]),
            json!({"name": "no key"}),
            json!({"kind": "user", "key": 5}),
            json!({"kind": "multi"}),
            json!({"kind": 3, "key": "k"}),
            json!({"kind": "multi", "user": {"name": "x"}}),
        ] {
            assert!(Context::from_json(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pointer_paths_reach_nested_attributes() {
        let ctx = Context::from_json(&json!({
            "key": "u1", "address": {"city": "Oslo"}, "a/b": 1, "m~n": 2, "list": [10, 20]
        }))
        .unwrap();
        let user = ctx.part("user").unwrap();
        assert_eq!(
            user.get(&attribute_path("/address/city")),
            Some(&json!("Oslo"))
        );
        assert_eq!(user.get(&attribute_path("/a~1b")), Some(&json!(1)));
        assert_eq!(user.get(&attribute_path("/m~0n")), Some(&json!(2)));
        assert_eq!(user.get(&attribute_path("/list/1")), Some(&json!(20)));
        assert_eq!(user.get(&attribute_path("a/b")), Some(&json!(1)));
        assert_eq!(user.get(&attribute_path("key")), Some(&json!("u1")));
        assert_eq!(user.get(&attribute_path("kind")), Some(&json!("user")));
        assert_eq!(user.get(&attribute_path("/address/zip")), None);
    }

    #[test]
    fn launchdarkly_references_are_checked_and_stop_at_arrays() {
        for invalid in ["", "/", "//email", "/email/", "/a~2b", "/a~", "/a//b"] {
            assert!(launchdarkly_attribute_path(invalid).is_none(), "{invalid}");
        }
        let ctx = Context::from_json(&json!({
            "key": "u1", "address": {"city": "Oslo"}, "a/b": 1, "m~n": 2, "list": [10, 20]
        }))
        .unwrap();
        let user = ctx.part("user").unwrap();
        let get = |reference: &str| user.get(&launchdarkly_attribute_path(reference).unwrap());
        assert_eq!(get("/address/city"), Some(&json!("Oslo")));
        assert_eq!(get("/a~1b"), Some(&json!(1)));
        assert_eq!(get("/m~0n"), Some(&json!(2)));
        assert_eq!(get("a/b"), Some(&json!(1)));
        assert_eq!(get("/list"), Some(&json!([10, 20])));
        assert_eq!(get("/list/1"), None, "LaunchDarkly never indexes arrays");
    }

    #[test]
    fn names_alike_in_their_words_are_told_apart() {
        let names = [
            "",
            "a",
            "b",
            "ab",
            "ba",
            "abc",
            "acc",
            "abcd",
            "abdd",
            "abcde",
            "abXde",
            "abcdefg",
            "abcXefg",
            "abcdefgh",
            "abcdefgX",
            "appVersion1",
            "appVersion2",
            "appVersion",
        ];
        let attributes: Map<String, Value> =
            names.iter().map(|n| (n.to_string(), json!(n))).collect();
        let user = SingleContext::new("user", "u", attributes);
        for name in names {
            assert_eq!(user.attribute(name), Some(&json!(name)), "{name}");
            assert_eq!(
                user.get(&attribute_path(name)),
                Some(&json!(name)),
                "{name}"
            );
        }
        assert_eq!(user.attribute("abcdefghi"), None);
        assert_eq!(user.attribute("appVersion3"), None);
    }

    #[test]
    fn openfeature_context_uses_targeting_key() {
        let ctx = Context::from_openfeature(&json!({"targetingKey": "u9", "plan": "pro"})).unwrap();
        let user = ctx.part("user").unwrap();
        assert_eq!(user.key(), "u9");
        assert_eq!(user.get(&attribute_path("plan")), Some(&json!("pro")));
        let native = Context::from_openfeature(&json!({"kind": "tenant", "key": "acme"})).unwrap();
        assert_eq!(native.part("tenant").unwrap().key(), "acme");
    }
}
