//! Who is calling: API tokens (random, shown once, stored as SHA-256), accounts with
//! Argon2id-hashed passwords and roles, and the [`Caller`] every handler checks against.

use argon2::Argon2;
use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use switchyard_store::Store;

use crate::error::{ApiError, ApiResult, Code};
use crate::policy::{Policy, Statement, builtin_role};

/// Prefixes say what a secret is at a glance (and let secret scanners find leaked ones).
pub const TOKEN_PREFIX: &str = "syt";
pub const SERVER_KEY_PREFIX: &str = "sys";
pub const CLIENT_KEY_PREFIX: &str = "syc";

/// A fresh `{prefix}_{id}_{secret}` credential: the id finds the stored record, the secret is
/// only ever stored hashed.
#[derive(Debug)]
pub struct NewSecret {
    pub id: String,
    pub secret_hash: String,
    pub plaintext: String,
}

pub fn new_secret(prefix: &str) -> NewSecret {
    let id = random_hex(8);
    let secret = random_hex(24);
    NewSecret {
        plaintext: format!("{prefix}_{id}_{secret}"),
        secret_hash: sha256_hex(&secret),
        id,
    }
}

/// Splits `{prefix}_{id}_{secret}` into its id and the hash of its secret.
pub fn parse_secret<'a>(prefix: &str, presented: &'a str) -> Option<(&'a str, String)> {
    let rest = presented.strip_prefix(prefix)?.strip_prefix('_')?;
    let (id, secret) = rest.split_once('_')?;
    Some((id, sha256_hex(secret)))
}

pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0_u8; bytes];
    OsRng.fill_bytes(&mut buf);
    hex(&buf)
}

pub fn sha256_hex(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Argon2id (memory-hard) with a random salt, in PHC string format.
pub fn hash_password(password: &str) -> ApiResult<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(ApiError::internal)
}

pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|hash| {
            Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok()
        })
        .unwrap_or(false)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccountRecord {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub disabled: bool,
    #[serde(default)]
    pub created_at_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenRecord {
    pub id: String,
    pub name: String,
    pub account: String,
    pub secret_hash: String,
    /// Narrows the owner's permissions; `None` acts with all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statements: Option<Vec<Statement>>,
    #[serde(default)]
    pub created_at_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoleRecord {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub statements: Vec<Statement>,
}

/// An authenticated caller: its owner's policy and, for a scoped token, the token's own.
#[derive(Debug, Clone)]
pub struct Caller {
    pub account: String,
    pub token_id: String,
    owner: Policy,
    scope: Option<Policy>,
}

impl Caller {
    pub fn allows(&self, action: &str, resource: &str) -> bool {
        self.owner.allows(action, resource)
            && self
                .scope
                .as_ref()
                .is_none_or(|s| s.allows(action, resource))
    }

    /// Whether the token's own scope (not its owner's roles) allows this; unscoped tokens do.
    pub fn scope_allows(&self, action: &str, resource: &str) -> bool {
        self.scope
            .as_ref()
            .is_none_or(|s| s.allows(action, resource))
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
        let token: TokenRecord = match store.get("token", "", id).await? {
            Some(doc) => serde_json::from_value(doc.body).map_err(ApiError::internal)?,
            None => return Err(unauthorized()),
        };
        if token.secret_hash != secret_hash || token.expires_at_ms.is_some_and(|t| t <= now_ms) {
            return Err(unauthorized());
        }
        let account: AccountRecord = match store.get("account", "", &token.account).await? {
            Some(doc) => serde_json::from_value(doc.body).map_err(ApiError::internal)?,
            None => return Err(unauthorized()),
        };
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

/// The statements of every named role, built-in or stored. Unknown roles grant nothing.
pub async fn role_statements(store: &Store, roles: &[String]) -> ApiResult<Vec<Statement>> {
    let mut statements = Vec::new();
    for role in roles {
        if let Some(builtin) = builtin_role(role) {
            statements.extend(builtin);
        } else if let Some(doc) = store.get("role", "", role).await? {
            let role: RoleRecord = serde_json::from_value(doc.body).map_err(ApiError::internal)?;
            statements.extend(role.statements);
        }
    }
    Ok(statements)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_round_trip_and_are_stored_hashed() {
        let secret = new_secret(TOKEN_PREFIX);
        assert!(secret.plaintext.starts_with("syt_"));
        assert!(!secret.plaintext.contains(&secret.secret_hash));
        let (id, hash) = parse_secret(TOKEN_PREFIX, &secret.plaintext).unwrap_or_default();
        assert_eq!((id, hash), (secret.id.as_str(), secret.secret_hash.clone()));
        assert!(parse_secret(SERVER_KEY_PREFIX, &secret.plaintext).is_none());
        assert!(parse_secret(TOKEN_PREFIX, "syt_nounderscore").is_none());
    }

    #[test]
    fn passwords_verify_only_themselves() {
        let phc = hash_password("correct horse").unwrap_or_default();
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &phc));
        assert!(!verify_password("wrong", &phc));
        assert!(!verify_password("correct horse", "not a hash"));
    }
}
