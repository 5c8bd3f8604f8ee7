//! Stored credentials and identities: accounts, API tokens, custom roles, SDK keys.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::policy::Statement;
use super::secrets::{TOKEN_PREFIX, new_secret};
use crate::clock::now_ms;
use crate::records::Record;

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

impl Record for AccountRecord {
    const KIND: &'static str = "account";
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

impl Record for TokenRecord {
    const KIND: &'static str = "token";
}

impl TokenRecord {
    /// A new token record and its plaintext (to be shown once).
    pub fn mint(
        account: &str,
        name: &str,
        statements: Option<Vec<Statement>>,
        expires_in_days: Option<u32>,
    ) -> (TokenRecord, String) {
        let secret = new_secret(TOKEN_PREFIX);
        let now = now_ms();
        let record = TokenRecord {
            id: secret.id,
            name: name.to_owned(),
            account: account.to_owned(),
            secret_hash: secret.secret_hash,
            statements,
            created_at_ms: now,
            expires_at_ms: expires_in_days.map(|days| now + i64::from(days) * 86_400_000),
        };
        (record, secret.plaintext)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoleRecord {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub statements: Vec<Statement>,
}

impl Record for RoleRecord {
    const KIND: &'static str = "role";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SdkKeyKind {
    /// Full flag data, for server-side SDKs and relays.
    Server,
    /// Evaluation of client-visible flags only.
    Client,
}

/// An SDK key of one environment (scope `{project}/{env}`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SdkKeyRecord {
    pub id: String,
    pub name: String,
    pub kind: SdkKeyKind,
    pub secret_hash: String,
    pub created_at_ms: i64,
}

impl Record for SdkKeyRecord {
    const KIND: &'static str = "sdk_key";
}
