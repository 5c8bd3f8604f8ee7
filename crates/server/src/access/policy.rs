//! Access-control policies: statements with an effect, actions and resource patterns. A request
//! is allowed when some statement allows it and none denies it (deny wins; nothing is allowed by
//! default). A token may carry its own statements, which can only narrow its owner's.
//!
//! Resources are strings such as `proj/web:env/production:flag/checkout` (see product.md). In a
//! pattern, `*` matches any run of characters within one `:`-separated part, `**` matches across
//! parts, and a pattern that is exactly `*` matches every resource. Actions are `noun:verb`;
//! `flag:*` and `*` are patterns too.

use serde::{Deserialize, Serialize};

use super::actions::Action;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    Allow,
    Deny,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Statement {
    pub effect: Effect,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
}

impl Statement {
    pub fn allow(actions: &[&str], resources: &[&str]) -> Statement {
        Statement {
            effect: Effect::Allow,
            actions: actions.iter().map(|s| s.to_string()).collect(),
            resources: resources.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn applies(&self, action: &str, resource: &str) -> bool {
        self.actions.iter().any(|p| glob(p, action))
            && self.resources.iter().any(|p| glob(p, resource))
    }

    /// A problem with the statement's patterns, as `(field, message)`.
    pub fn problem(&self) -> Option<(&'static str, String)> {
        if self.actions.is_empty() {
            return Some(("actions", "a statement needs at least one action".into()));
        }
        if self.resources.is_empty() {
            return Some((
                "resources",
                "a statement needs at least one resource pattern".into(),
            ));
        }
        if let Some(action) = self
            .actions
            .iter()
            .find(|a| *a != "*" && !is_known_action_pattern(a))
        {
            return Some(("actions", format!("unknown action {action:?}")));
        }
        None
    }
}

fn is_known_action_pattern(pattern: &str) -> bool {
    Action::ALL
        .iter()
        .any(|action| glob(pattern, action.as_str()))
}

/// A set of statements evaluated together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    pub statements: Vec<Statement>,
}

impl Policy {
    pub fn allows(&self, action: &str, resource: &str) -> bool {
        let mut allowed = false;
        for statement in self
            .statements
            .iter()
            .filter(|s| s.applies(action, resource))
        {
            match statement.effect {
                Effect::Deny => return false,
                Effect::Allow => allowed = true,
            }
        }
        allowed
    }
}

/// The built-in roles; custom roles are stored like any other resource.
pub fn builtin_role(name: &str) -> Option<Vec<Statement>> {
    const READ: &[&str] = &[
        Action::ProjectRead.as_str(),
        Action::EnvRead.as_str(),
        Action::FlagRead.as_str(),
        Action::SegmentRead.as_str(),
        Action::ReleaseRead.as_str(),
        Action::AuditRead.as_str(),
    ];
    match name {
        "reader" => Some(vec![Statement::allow(READ, &["**"])]),
        "writer" => Some(vec![
            Statement::allow(READ, &["**"]),
            Statement::allow(
                &["flag:*", "segment:*", "release:*", "trigger:*"],
                &["proj/**"],
            ),
        ]),
        "admin" => Some(vec![Statement::allow(&["*"], &["*"])]),
        _ => None,
    }
}

pub const BUILTIN_ROLES: &[&str] = &["reader", "writer", "admin"];

/// Glob matching as described in the module documentation.
pub fn glob(pattern: &str, text: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    glob_from(pattern.as_bytes(), text.as_bytes())
}

fn glob_from(pattern: &[u8], text: &[u8]) -> bool {
    match pattern {
        [] => text.is_empty(),
        [b'*', b'*', rest @ ..] => (0..=text.len()).any(|i| glob_from(rest, &text[i..])),
        [b'*', rest @ ..] => {
            let part_end = text.iter().position(|&c| c == b':').unwrap_or(text.len());
            (0..=part_end).any(|i| glob_from(rest, &text[i..]))
        }
        [p, rest @ ..] => text.first() == Some(p) && glob_from(rest, &text[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let cases = [
            ("*", "proj/web:env/production:flag/x", true),
            (
                "proj/web:env/production:flag/checkout-*",
                "proj/web:env/production:flag/checkout-v2",
                true,
            ),
            (
                "proj/web:env/production:flag/checkout-*",
                "proj/web:env/staging:flag/checkout-v2",
                false,
            ),
            (
                "proj/*:env/*:segment/beta-*",
                "proj/api:env/eu:segment/beta-testers",
                true,
            ),
            (
                "proj/*:env/*:segment/beta-*",
                "proj/api:env/eu:flag/beta-testers",
                false,
            ),
            // `*` stays within a part; `**` crosses parts.
            ("proj/*", "proj/web:flag/x", false),
            ("proj/**", "proj/web:flag/x", true),
            ("proj/web:**", "proj/web:env/production:flag/x", true),
            ("proj/web:**", "proj/webshop:flag/x", false),
            ("flag:*", "flag:toggle", true),
            ("flag:*", "segment:update", false),
            ("audit", "audit", true),
            ("", "", true),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXbY", false),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(glob(pattern, text), expected, "{pattern} ~ {text}");
        }
    }

    #[test]
    fn deny_wins_and_nothing_is_allowed_by_default() {
        let mut policy = Policy {
            statements: vec![Statement::allow(&["flag:*"], &["proj/web:**"])],
        };
        assert!(policy.allows("flag:toggle", "proj/web:env/production:flag/a"));
        assert!(!policy.allows("segment:update", "proj/web:env/production:segment/a"));
        policy.statements.push(Statement {
            effect: Effect::Deny,
            actions: vec!["flag:toggle".into()],
            resources: vec!["proj/web:env/production:**".into()],
        });
        assert!(!policy.allows("flag:toggle", "proj/web:env/production:flag/a"));
        assert!(policy.allows("flag:toggle", "proj/web:env/staging:flag/a"));
        assert!(!Policy::default().allows("flag:read", "proj/web:flag/a"));
    }

    #[test]
    fn statements_name_known_actions() {
        assert!(Statement::allow(&["flag:*"], &["*"]).problem().is_none());
        assert!(
            Statement::allow(&["flags:toggle"], &["*"])
                .problem()
                .is_some()
        );
        assert!(Statement::allow(&["flag:read"], &[]).problem().is_some());
    }
}
