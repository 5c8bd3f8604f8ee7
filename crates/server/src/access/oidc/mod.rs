//! Single sign-on with an OpenID Connect provider: the authorization code flow with PKCE for a
//! confidential client (docs/security.md, "Single sign-on"). This floor knows the provider
//! (discovery, key set, code exchange), verifies ID tokens and seals a flow's state into a
//! cookie; the routes that drive a browser through it are in `api/oidc.rs`.
//!
//! A flow keeps nothing in memory: its nonce and PKCE verifier are derived from its random
//! state with a key derived from the client secret, so any replica configured with the same
//! client finishes a flow another one started, and neither ever reaches the browser.

mod flow;
mod jwt;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Mutex;

pub use flow::{FLOW_COOKIE, FLOW_LIFETIME, Flow};
pub use jwt::{Expected, Jwk, LEEWAY_SECONDS, Refusal, jwk_parts, key_id, parse_jwks, verify};

/// How a `serve` signs people in with an OpenID provider.
#[derive(Clone)]
pub struct OidcConfig {
    /// The issuer URL, exactly as the provider's ID tokens say it (`iss`).
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// This server's `/api/v1/auth/oidc/callback`, as registered with the provider.
    pub redirect_url: String,
    /// The scopes asked for (default `openid profile`).
    pub scopes: String,
    /// The ID token claim that names the account (default `preferred_username`).
    pub username_claim: String,
    /// The ID token claim that lists the person's groups (default `groups`).
    pub role_claim: String,
    /// Group → role pairs; a person gets the role of every group they are in.
    pub role_map: Vec<(String, String)>,
    /// Create an account on a first sign-in (with the mapped roles, no password).
    pub jit_accounts: bool,
    /// How long a session token from a sign-in lives.
    pub session: Duration,
    /// The longest an API token minted with a session token may live, in days.
    pub machine_token_max_days: u32,
}

impl std::fmt::Debug for OidcConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcConfig")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("redirect_url", &self.redirect_url)
            .field("role_claim", &self.role_claim)
            .field("role_map", &self.role_map)
            .field("jit_accounts", &self.jit_accounts)
            .finish_non_exhaustive()
    }
}

impl OidcConfig {
    /// Reads `group=role,group=role`.
    pub fn parse_role_map(text: &str) -> Result<Vec<(String, String)>, String> {
        text.split(',')
            .map(str::trim)
            .filter(|pair| !pair.is_empty())
            .map(|pair| match pair.split_once('=') {
                Some((group, role)) if !group.trim().is_empty() && !role.trim().is_empty() => {
                    Ok((group.trim().to_owned(), role.trim().to_owned()))
                }
                _ => Err(format!("{pair:?} is not group=role")),
            })
            .collect()
    }

    /// The roles the claims map to (each once, in the map's order); `None` when the claims do
    /// not carry the role claim at all (an existing account then keeps its roles).
    pub fn roles_of(&self, claims: &Value) -> Option<Vec<String>> {
        let groups: Vec<&str> = match claims.get(&self.role_claim)? {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let mut roles: Vec<String> = Vec::new();
        for (group, role) in &self.role_map {
            if groups.contains(&group.as_str()) && !roles.contains(role) {
                roles.push(role.clone());
            }
        }
        Some(roles)
    }
}

/// What the provider's discovery document says about where to go.
#[derive(Debug, Clone, Deserialize)]
pub struct Endpoints {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
}

/// The configured provider, its discovered endpoints and its signing keys, fetched when first
/// needed (so `serve` starts while the provider is down) and kept.
#[derive(Debug)]
pub struct Oidc {
    pub config: OidcConfig,
    http: reqwest::Client,
    endpoints: Mutex<Option<Endpoints>>,
    keys: Mutex<KeySet>,
}

#[derive(Debug, Default)]
struct KeySet {
    keys: Vec<Jwk>,
    fetched: Option<Instant>,
}

/// The key set is fetched again for an unknown `kid` at most this often, so tokens naming
/// made-up keys cannot make the server hammer the provider.
const KEYS_REFRESH_MIN: Duration = Duration::from_secs(10);

/// HTTPS, or plain HTTP to this machine only.
fn private_enough(url: &str) -> bool {
    match reqwest::Url::parse(url) {
        Ok(url) if url.scheme() == "https" => true,
        Ok(url) if url.scheme() == "http" => matches!(
            url.host_str(),
            Some("127.0.0.1" | "localhost" | "[::1]" | "::1")
        ),
        _ => false,
    }
}

/// Why talking to the provider failed.
#[derive(Debug)]
pub struct ProviderError(pub String);

impl Oidc {
    pub fn new(config: OidcConfig) -> Arc<Oidc> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Arc::new(Oidc {
            config,
            http,
            endpoints: Mutex::new(None),
            keys: Mutex::new(KeySet::default()),
        })
    }

    /// The provider's endpoints from `{issuer}/.well-known/openid-configuration`; its `issuer`
    /// must be the configured one (OpenID Connect Discovery 1.0, section 4.3).
    pub async fn endpoints(&self) -> Result<Endpoints, ProviderError> {
        let mut cached = self.endpoints.lock().await;
        if let Some(endpoints) = cached.as_ref() {
            return Ok(endpoints.clone());
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.config.issuer.trim_end_matches('/')
        );
        let endpoints: Endpoints = self.get_json(&url).await.and_then(|document| {
            serde_json::from_value(document)
                .map_err(|e| ProviderError(format!("discovery document at {url}: {e}")))
        })?;
        for (what, url) in [
            ("issuer", &self.config.issuer),
            ("token endpoint", &endpoints.token_endpoint),
            ("key set", &endpoints.jwks_uri),
        ] {
            if !private_enough(url) {
                return Err(ProviderError(format!(
                    "the provider's {what} {url:?} is not HTTPS: the client secret and the keys \
                     that vouch for every sign-in would cross the network readable and forgeable \
                     (plain HTTP is allowed only on this machine, for a local provider)"
                )));
            }
        }
        if endpoints.issuer != self.config.issuer {
            return Err(ProviderError(format!(
                "the discovery document names issuer {:?}, not {:?}",
                endpoints.issuer, self.config.issuer
            )));
        }
        *cached = Some(endpoints.clone());
        Ok(endpoints)
    }

    /// Verifies an ID token; a `kid` the cached key set lacks fetches the set once more.
    pub async fn verify_id_token(
        &self,
        token: &str,
        expected: Expected<'_>,
    ) -> Result<Value, Refusal> {
        let keys = self.keys.lock().await.keys.clone();
        match verify(token, &keys, expected) {
            Err(Refusal::UnknownKey(_)) => {}
            other => return other,
        }
        let keys = self.refresh_keys().await.map_err(|error| {
            tracing::warn!(error = %error.0, "cannot fetch the OpenID provider's key set");
            Refusal::UnknownKey(key_id(token))
        })?;
        verify(token, &keys, expected)
    }

    async fn refresh_keys(&self) -> Result<Vec<Jwk>, ProviderError> {
        let mut set = self.keys.lock().await;
        if set
            .fetched
            .is_some_and(|at| at.elapsed() < KEYS_REFRESH_MIN)
        {
            return Ok(set.keys.clone());
        }
        let endpoints = self.endpoints().await?;
        let document = self.get_json(&endpoints.jwks_uri).await?;
        set.keys = parse_jwks(&document);
        set.fetched = Some(Instant::now());
        Ok(set.keys.clone())
    }

    /// Exchanges an authorization code for the provider's ID token, authenticating as the
    /// client (`client_secret_basic`) and proving the flow with its PKCE verifier.
    pub async fn exchange_code(&self, code: &str, verifier: &str) -> Result<String, ProviderError> {
        let endpoints = self.endpoints().await?;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.config.redirect_url.as_str()),
            ("code_verifier", verifier),
        ];
        // RFC 6749, section 2.3.1: the id and secret are form-encoded before Basic.
        let user = form_encode(&self.config.client_id);
        let password = form_encode(&self.config.client_secret);
        let response = self
            .http
            .post(&endpoints.token_endpoint)
            .basic_auth(user, Some(password))
            .form(&form)
            .send()
            .await
            .map_err(|e| ProviderError(format!("token endpoint: {e}")))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let error = body.get("error").and_then(Value::as_str).unwrap_or("");
            return Err(ProviderError(format!(
                "the token endpoint answered {status} {error}"
            )));
        }
        body.get("id_token")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| ProviderError("the token endpoint's answer has no id_token".into()))
    }

    async fn get_json(&self, url: &str) -> Result<Value, ProviderError> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| ProviderError(format!("{url}: {e}")))?;
        if !response.status().is_success() {
            return Err(ProviderError(format!(
                "{url} answered {}",
                response.status()
            )));
        }
        response
            .json()
            .await
            .map_err(|e| ProviderError(format!("{url}: {e}")))
    }
}

fn form_encode(text: &str) -> String {
    reqwest::Url::parse_with_params("x:", [("v", text)])
        .ok()
        .and_then(|url| url.query().map(|q| q.trim_start_matches("v=").to_owned()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn the_provider_is_reached_over_https_or_on_this_machine() {
        assert!(private_enough("https://idp.example.com/realms/a"));
        assert!(private_enough("http://127.0.0.1:8080"));
        assert!(private_enough("http://localhost:8080/jwks"));
        assert!(private_enough("http://[::1]:9000"));
        assert!(!private_enough("http://idp.example.com"));
        assert!(!private_enough("http://127.0.0.1.evil.example"));
        assert!(!private_enough("ftp://idp.example.com"));
        assert!(!private_enough("not a url"));
    }

    #[test]
    fn groups_map_to_roles_once_each() {
        let config = OidcConfig {
            issuer: "http://idp.test".into(),
            client_id: "c".into(),
            client_secret: "s".into(),
            redirect_url: "http://sy.test/api/v1/auth/oidc/callback".into(),
            scopes: "openid profile".into(),
            username_claim: "preferred_username".into(),
            role_claim: "groups".into(),
            role_map: OidcConfig::parse_role_map("eng=writer, ops=writer,admins=admin").unwrap(),
            jit_accounts: true,
            session: Duration::from_secs(3600),
            machine_token_max_days: 30,
        };
        let roles = |claims: Value| config.roles_of(&claims);
        assert_eq!(
            roles(json!({"groups": ["eng", "ops", "x"]})),
            Some(vec!["writer".to_owned()])
        );
        assert_eq!(
            roles(json!({"groups": "admins"})),
            Some(vec!["admin".to_owned()])
        );
        assert_eq!(roles(json!({"groups": []})), Some(vec![]));
        assert_eq!(roles(json!({})), None);
        assert!(OidcConfig::parse_role_map("eng").is_err());
        assert!(OidcConfig::parse_role_map("=admin").is_err());
        assert_eq!(form_encode("a b:c&"), "a+b%3Ac%26");
    }
}
