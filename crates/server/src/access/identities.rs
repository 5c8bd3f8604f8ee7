//! Stored credentials and identities: accounts, API tokens, custom roles, SDK keys.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::policy::Statement;
use super::secrets::{TOKEN_PREFIX, new_secret};
use super::throttle::SignInLimits;
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
    /// The single sign-on identity (`{issuer} {sub}`) this account belongs to, set when it is
    /// made or first signed into through SSO; afterwards only that identity signs into it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sso_subject: Option<String>,
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
    /// How the token was given out when not by `POST /tokens`: `"oidc"` for a single sign-on
    /// session (whose machine tokens may live only as long as policy says).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
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
            via: None,
        };
        (record, secret.plaintext)
    }
}

/// The longest an API token may live unless `serve --max-token-lifetime` says otherwise.
pub const DEFAULT_MAX_TOKEN_LIFETIME_DAYS: u32 = 90;
/// What a sign-in token lives when the sign-in does not ask (within the maximum).
pub const SIGN_IN_TOKEN_DAYS: u32 = 7;

/// Limits on credentials: how long tokens may live and how sign-in is throttled.
#[derive(Debug, Clone)]
pub struct AccessConfig {
    pub max_token_lifetime_days: u32,
    pub sign_in: SignInLimits,
    /// Single sign-on with an OpenID provider, when configured.
    pub oidc: Option<std::sync::Arc<super::oidc::Oidc>>,
    /// `false` refuses sign-in with a password (`serve --no-local-passwords`).
    pub local_passwords: bool,
}

impl Default for AccessConfig {
    fn default() -> Self {
        AccessConfig {
            max_token_lifetime_days: DEFAULT_MAX_TOKEN_LIFETIME_DAYS,
            sign_in: SignInLimits::default(),
            oidc: None,
            local_passwords: true,
        }
    }
}

impl AccessConfig {
    /// The days a new token lives: `requested`, or `default` (capped at the maximum) when it
    /// is absent; `Err` says why a requested lifetime is refused (zero, or over the maximum).
    pub fn token_days(&self, requested: Option<u32>, default: u32) -> Result<u32, String> {
        let max = self.max_token_lifetime_days.max(1);
        match requested {
            None => Ok(default.min(max)),
            Some(days) if (1..=max).contains(&days) => Ok(days),
            Some(days) => Err(format!(
                "{days} days is not allowed: a token lives 1 to {max} days (the server's \
                 maximum token lifetime)"
            )),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_lifetimes_stay_within_the_maximum() {
        let config = AccessConfig {
            max_token_lifetime_days: 90,
            ..AccessConfig::default()
        };
        assert_eq!(config.token_days(None, 90), Ok(90));
        assert_eq!(config.token_days(None, 365), Ok(90));
        assert_eq!(config.token_days(Some(30), 90), Ok(30));
        assert_eq!(config.token_days(Some(90), 90), Ok(90));
        assert!(config.token_days(Some(91), 90).is_err());
        assert!(config.token_days(Some(0), 90).is_err());
    }
}
