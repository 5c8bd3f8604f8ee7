//! Conditions: the tree of clauses and percentages that rules and segments test, and the
//! clause operators (unknown ones kept so data round-trips).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::{default_kind, is_false};

/// A condition tree. Serialized as `{"all": [...]}`, `{"any": [...]}`, `{"not": {...}}`,
/// `{"percentage": {...}}` or a clause object.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    All(Vec<Condition>),
    Any(Vec<Condition>),
    Not(Box<Condition>),
    /// True for a stable share of contexts (used by segment rules and imported gradual rollouts).
    Percentage(Percentage),
    Clause(Clause),
}

impl Condition {
    pub fn always() -> Condition {
        Condition::All(Vec::new())
    }
}

impl Serialize for Condition {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        /// Borrowed twin of the tree nodes: serde's external tagging writes `{"all": [...]}`.
        #[derive(Serialize)]
        #[serde(rename_all = "snake_case")]
        enum Node<'a> {
            All(&'a [Condition]),
            Any(&'a [Condition]),
            Not(&'a Condition),
            Percentage(&'a Percentage),
        }
        match self {
            Condition::All(c) => Node::All(c).serialize(s),
            Condition::Any(c) => Node::Any(c).serialize(s),
            Condition::Not(c) => Node::Not(c).serialize(s),
            Condition::Percentage(p) => Node::Percentage(p).serialize(s),
            Condition::Clause(c) => c.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let value = Value::deserialize(d)?;
        let Value::Object(map) = &value else {
            return Err(D::Error::custom("a condition must be an object"));
        };
        let single = |key: &str| (map.len() == 1).then(|| map.get(key)).flatten();
        let parsed = if let Some(v) = single("all") {
            serde_json::from_value(v.clone()).map(Condition::All)
        } else if let Some(v) = single("any") {
            serde_json::from_value(v.clone()).map(Condition::Any)
        } else if let Some(v) = single("not") {
            serde_json::from_value(v.clone()).map(|c| Condition::Not(Box::new(c)))
        } else if let Some(v) = single("percentage") {
            serde_json::from_value(v.clone()).map(Condition::Percentage)
        } else {
            serde_json::from_value(value).map(Condition::Clause)
        };
        parsed.map_err(D::Error::custom)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Percentage {
    /// Native and LaunchDarkly: 0..=100000 (units of 0.001 %). Unleash dialect: 0..=100.
    pub weight: u32,
    #[serde(default = "default_kind")]
    pub context_kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<String>,
}

/// A test of one attribute of one context kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Clause {
    #[serde(default = "default_kind")]
    pub kind: String,
    /// JSON Pointer (`/address/city`) or a top-level attribute name. Unused by `segment_match`.
    #[serde(default)]
    pub attribute: String,
    pub op: Operator,
    #[serde(default)]
    pub values: Vec<Value>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub negate: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub case_insensitive: bool,
}

/// Clause operators. Unknown names are kept (so data round-trips) and never match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operator {
    In,
    StartsWith,
    EndsWith,
    Contains,
    Matches,
    Lt,
    Lte,
    Gt,
    Gte,
    Before,
    After,
    SemverEq,
    SemverLt,
    SemverLte,
    SemverGt,
    SemverGte,
    InCidr,
    Exists,
    SegmentMatch,
    Unknown(String),
}

impl Operator {
    pub(crate) const NAMES: [(&'static str, Operator); 19] = [
        ("in", Operator::In),
        ("starts_with", Operator::StartsWith),
        ("ends_with", Operator::EndsWith),
        ("contains", Operator::Contains),
        ("matches", Operator::Matches),
        ("lt", Operator::Lt),
        ("lte", Operator::Lte),
        ("gt", Operator::Gt),
        ("gte", Operator::Gte),
        ("before", Operator::Before),
        ("after", Operator::After),
        ("semver_eq", Operator::SemverEq),
        ("semver_lt", Operator::SemverLt),
        ("semver_lte", Operator::SemverLte),
        ("semver_gt", Operator::SemverGt),
        ("semver_gte", Operator::SemverGte),
        ("in_cidr", Operator::InCidr),
        ("exists", Operator::Exists),
        ("segment_match", Operator::SegmentMatch),
    ];

    pub fn name(&self) -> &str {
        match self {
            Operator::Unknown(name) => name,
            known => Self::NAMES
                .iter()
                .find(|(_, op)| op == known)
                .map_or("", |(name, _)| name),
        }
    }

    pub fn parse(name: &str) -> Operator {
        if name == "equals" {
            return Operator::In;
        }
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map_or_else(|| Operator::Unknown(name.to_owned()), |(_, op)| op.clone())
    }
}

impl Serialize for Operator {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Operator {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Ok(Operator::parse(&name))
    }
}
