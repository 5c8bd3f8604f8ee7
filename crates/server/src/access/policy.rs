//! Access-control policies: statements with an effect, actions and resource patterns. A request
//! is allowed when some statement allows it and none denies it (deny wins; nothing is allowed by
//! default). A token may carry its own statements, which can only narrow its owner's.
//!
//! Resources are strings such as `proj/web:env/production:flag/checkout` (see product.md). In a
//! pattern, `*` matches any run of characters within one `:`-separated part, `**` matches across
//! parts, and a pattern that is exactly `*` matches every resource. Actions are `noun:verb`;
//! `flag:*` and `*` are patterns too.
//!
//! A third effect, `require_approval` (with `approvals`), neither allows nor denies: a write it
//! matches becomes a change request needing that many approvals (`docs/governance.md`).

use serde::{Deserialize, Serialize};

use super::actions::Action;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    Allow,
    Deny,
    /// The matching writes of whoever holds it wait for `approvals` other people.
    #[serde(rename = "require_approval")]
    RequireApproval,
}

/// The most approvals an environment or a statement may require: beyond it, changes would
/// wait for people an installation is unlikely to have.
pub const MAX_REQUIRED_APPROVALS: u32 = 10;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Statement {
    pub effect: Effect,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
    /// For `require_approval` only: how many approvals (1 to 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approvals: Option<u32>,
}

impl Statement {
    pub fn allow(actions: &[&str], resources: &[&str]) -> Statement {
        Statement {
            effect: Effect::Allow,
            actions: actions.iter().map(|s| s.to_string()).collect(),
            resources: resources.iter().map(|s| s.to_string()).collect(),
            approvals: None,
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
        match (self.effect, self.approvals) {
            (Effect::RequireApproval, Some(1..=MAX_REQUIRED_APPROVALS)) => None,
            (Effect::RequireApproval, _) => Some((
                "approvals",
                format!("require_approval needs approvals from 1 to {MAX_REQUIRED_APPROVALS}"),
            )),
            (_, Some(_)) => Some((
                "approvals",
                "only a require_approval statement takes approvals".into(),
            )),
            (_, None) => None,
        }
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
                Effect::RequireApproval => {}
            }
        }
        allowed
    }

    /// The approvals its `require_approval` statements ask of this write (0: none).
    pub fn required_approvals(&self, action: &str, resource: &str) -> u32 {
        self.statements
            .iter()
            .filter(|s| s.effect == Effect::RequireApproval && s.applies(action, resource))
            .filter_map(|s| s.approvals)
            .max()
            .unwrap_or(0)
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
        Action::ChangeRequestRead.as_str(),
        Action::MetricRead.as_str(),
        Action::ExperimentRead.as_str(),
    ];
    match name {
        "reader" => Some(vec![Statement::allow(READ, &["**"])]),
        "writer" => Some(vec![
            Statement::allow(READ, &["**"]),
            Statement::allow(
                &[
                    "flag:*",
                    "segment:*",
                    "release:*",
                    "trigger:*",
                    "metric:*",
                    "experiment:*",
                    // Revise and withdraw their own change requests; approving is not a
                    // writer's (give a role `change-request:approve`).
                    Action::ChangeRequestUpdate.as_str(),
                ],
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

/// One pass over the pattern, keeping the set of text positions the pattern read so far can end
/// at: O(pattern × text), where trying each split recursively was exponential in the number of
/// wildcards (8 `**a` parts against 60 characters took seconds).
fn glob_from(pattern: &[u8], text: &[u8]) -> bool {
    // reachable[i]: the pattern read so far matches text[..i].
    let mut reachable = vec![false; text.len() + 1];
    reachable[0] = true;
    let mut rest = pattern;
    loop {
        rest = match rest {
            [] => return reachable[text.len()],
            [b'*', b'*', tail @ ..] => {
                // Any run of characters: every position from the first reachable one on.
                if let Some(first) = reachable.iter().position(|&r| r) {
                    reachable[first..].fill(true);
                }
                tail
            }
            [b'*', tail @ ..] => {
                // A run without `:`: carry reachability forward until a `:` is consumed.
                let mut carry = false;
                for (i, r) in reachable.iter_mut().enumerate() {
                    carry |= *r;
                    *r = carry;
                    if text.get(i) == Some(&b':') {
                        carry = false;
                    }
                }
                tail
            }
            [p, tail @ ..] => {
                for i in (1..=text.len()).rev() {
                    reachable[i] = reachable[i - 1] && text[i - 1] == *p;
                }
                reachable[0] = false;
                tail
            }
        };
        if !reachable.contains(&true) {
            return false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_testkit::glob::glob_by_regex;

    #[test]
    #[allow(clippy::unwrap_used)]
    fn approval_requirements_neither_allow_nor_deny() {
        let statements: Vec<Statement> = serde_json::from_str(
            r#"[{"effect": "allow", "actions": ["flag:*"], "resources": ["**"]},
                {"effect": "require_approval", "approvals": 2, "actions": ["flag:toggle"],
                 "resources": ["proj/a:**"]},
                {"effect": "require_approval", "approvals": 1, "actions": ["flag:*"],
                 "resources": ["**"]}]"#,
        )
        .unwrap();
        let policy = Policy { statements };
        assert!(policy.allows("flag:toggle", "proj/a:env/x:flag/y"));
        assert_eq!(
            policy.required_approvals("flag:toggle", "proj/a:env/x:flag/y"),
            2
        );
        assert_eq!(
            policy.required_approvals("flag:update", "proj/b:env/x:flag/y"),
            1
        );
        assert_eq!(
            policy.required_approvals("segment:update", "proj/a:env/x"),
            0
        );
        let alone = Policy {
            statements: policy.statements[1..].to_vec(),
        };
        assert!(!alone.allows("flag:toggle", "proj/a:env/x:flag/y"));
    }

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

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1000))]

        /// Small alphabets so that wildcards, `:` and literals collide often.
        #[test]
        fn glob_agrees_with_the_regex_reference(
            pattern in "[ab:*/é]{0,12}",
            text in "[ab:/é]{0,16}",
        ) {
            proptest::prop_assert_eq!(glob(&pattern, &text), glob_by_regex(&pattern, &text));
        }

        /// A text built from the pattern (wildcards filled in) always matches.
        #[test]
        fn glob_matches_what_its_pattern_generates(
            parts in proptest::collection::vec(("[ab:/]{0,3}", 0..3usize, "[ab/]{0,3}", "[ab:/]{0,3}"), 0..6),
        ) {
            let mut pattern = String::new();
            let mut text = String::new();
            for (literal, wildcard, within, across) in &parts {
                pattern.push_str(literal);
                text.push_str(literal);
                match wildcard {
                    1 => { pattern.push('*'); text.push_str(within); }
                    2 => { pattern.push_str("**"); text.push_str(across); }
                    _ => {}
                }
            }
            proptest::prop_assert!(glob(&pattern, &text), "{} ~ {}", pattern, text);
        }
    }

    /// Wildcard-heavy patterns that miss: the old recursive matcher tried every split and took
    /// seconds (exponential in the number of wildcards); one pass takes microseconds. The bound
    /// is generous enough for a debug build on a busy machine and still far below the old time.
    #[test]
    fn pathological_patterns_finish_quickly() {
        let cases = [
            ("**a".repeat(6) + "b", "a".repeat(40)),
            ("**a".repeat(8) + "b", "a".repeat(60)),
            ("**a".repeat(12) + ":b", "a".repeat(200)),
            ("*a".repeat(12) + "b", "a".repeat(200)),
            ("**:".repeat(10) + "x", ":".repeat(200)),
        ];
        for (pattern, text) in cases {
            let started = std::time::Instant::now();
            assert!(!glob(&pattern, &text));
            let took = started.elapsed();
            assert!(
                took < std::time::Duration::from_millis(100),
                "{pattern} against {} characters took {took:?}",
                text.len()
            );
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
            approvals: None,
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
