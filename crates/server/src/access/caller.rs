//! Who is calling: the [`Caller`] every handler checks against, resolved from a presented API
//! token, its account and their roles.

use serde_json::{Value, json};
use switchyard_store::Store;

use super::actions::Action;
use super::identities::{AccountRecord, RoleRecord, TokenRecord};
use super::policy::{Policy, Statement, builtin_role};
use super::secrets::{TOKEN_PREFIX, parse_secret};
use crate::error::{ApiError, ApiResult, Code};
use crate::records::{self, GLOBAL};

/// An authenticated caller: its owner's policy and, for a scoped token, the token's own.
#[derive(Debug, Clone)]
pub struct Caller {
    pub account: String,
    pub token_id: String,
    owner: Policy,
    scope: Option<Policy>,
}

impl Caller {
    pub fn allows(&self, action: Action, resource: &str) -> bool {
        self.owner.allows(action.as_str(), resource) && self.scope_allows(action, resource)
    }

    /// [`Caller::allows`] for an action stored by name (a change request's).
    pub fn allows_named(&self, action: &str, resource: &str) -> bool {
        self.owner.allows(action, resource)
            && self
                .scope
                .as_ref()
                .is_none_or(|scope| scope.allows(action, resource))
    }

    /// The approvals the owner's roles, or the token's own scope, require of this write.
    pub fn required_approvals(&self, action: &str, resource: &str) -> u32 {
        let by_scope = self
            .scope
            .as_ref()
            .map_or(0, |scope| scope.required_approvals(action, resource));
        self.owner
            .required_approvals(action, resource)
            .max(by_scope)
    }

    /// Whether the token's own scope (not its owner's roles) allows this; unscoped tokens do.
    pub fn scope_allows(&self, action: Action, resource: &str) -> bool {
        self.scope
            .as_ref()
            .is_none_or(|s| s.allows(action.as_str(), resource))
    }

    /// The token's own statements, when it is scoped narrower than its owner.
    pub fn scope(&self) -> Option<&[Statement]> {
        self.scope.as_ref().map(|scope| scope.statements.as_slice())
    }

    /// The audit log's `actor`.
    pub fn actor(&self) -> Value {
        json!({"kind": "token", "id": self.token_id, "account": self.account})
    }

    /// Resolves a presented API token, or fails with `unauthorized`.
    pub async fn authenticate(store: &Store, presented: &str, now_ms: i64) -> ApiResult<Caller> {
        let unauthorized = || {
            ApiError::new(
                Code::Unauthorized,
                "missing, unknown, expired or revoked API token",
            )
        };
        let (id, secret_hash) = parse_secret(TOKEN_PREFIX, presented).ok_or_else(unauthorized)?;
        let Some(token) = records::get::<TokenRecord>(store, GLOBAL, id).await? else {
            return Err(unauthorized());
        };
        let token = token.record;
        if token.secret_hash != secret_hash || token.expires_at_ms.is_some_and(|t| t <= now_ms) {
            return Err(unauthorized());
        }
        let Some(account) = records::get::<AccountRecord>(store, GLOBAL, &token.account).await?
        else {
            return Err(unauthorized());
        };
        let account = account.record;
        if account.disabled {
            return Err(unauthorized());
        }
        Ok(Caller {
            owner: Policy {
                statements: role_statements(store, &account.roles).await?,
            },
            scope: token.statements.map(|statements| Policy { statements }),
            account: account.name,
            token_id: token.id,
        })
    }
}

impl Caller {
    /// The author of scheduled change `schedule` when it runs: their roles now (a disabled
    /// or deleted account's schedule does not run), recorded as acting through the schedule.
    pub async fn for_schedule(store: &Store, account: &str, schedule: &str) -> ApiResult<Caller> {
        let gone = || {
            ApiError::new(
                Code::Forbidden,
                format!("the schedule's author {account:?} is disabled or no longer exists"),
            )
        };
        let Some(stored) = records::get::<AccountRecord>(store, GLOBAL, account).await? else {
            return Err(gone());
        };
        if stored.record.disabled {
            return Err(gone());
        }
        Ok(Caller {
            owner: Policy {
                statements: role_statements(store, &stored.record.roles).await?,
            },
            scope: None,
            account: stored.record.name,
            token_id: format!("schedule/{schedule}"),
        })
    }
}

impl Caller {
    /// The schedule runner itself, closing a due change request that cannot apply: it may do
    /// nothing but that (no account is named like it: names have no parentheses).
    pub fn schedule_runner(schedule: &str) -> Caller {
        Caller {
            owner: Policy {
                statements: Vec::new(),
            },
            scope: None,
            account: "(schedule runner)".to_owned(),
            token_id: format!("schedule/{schedule}"),
        }
    }
}

/// The statements of every named role, built-in or stored. Unknown roles grant nothing.
pub async fn role_statements(store: &Store, roles: &[String]) -> ApiResult<Vec<Statement>> {
    let mut statements = Vec::new();
    for role in roles {
        if let Some(builtin) = builtin_role(role) {
            statements.extend(builtin);
        } else if let Some(role) = records::get::<RoleRecord>(store, GLOBAL, role).await? {
            statements.extend(role.record.statements);
        }
    }
    Ok(statements)
}
