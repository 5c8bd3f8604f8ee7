//! One sign-in in progress. The browser holds only its random `state` and expiry, sealed with an
//! HMAC so it cannot be made up or stretched; the nonce and the PKCE verifier are derived from
//! the state on the server, so they are never sent to the browser and any replica with the same
//! client secret can finish the flow.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::{Digest as _, Sha256};

use crate::access::{random_hex, same_secret, sha256_hex};

/// The cookie that binds a flow to the browser that started it.
pub const FLOW_COOKIE: &str = "sy_oidc_flow";
/// How long a person has at the provider before the flow is refused.
pub const FLOW_LIFETIME: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    pub state: String,
    /// Seconds since the Unix epoch.
    pub expires_at: i64,
}

impl Flow {
    pub fn start(now: i64) -> Flow {
        let lifetime = i64::try_from(FLOW_LIFETIME.as_secs()).unwrap_or(600);
        Flow {
            state: random_hex(32),
            expires_at: now + lifetime,
        }
    }

    /// The cookie's value: `state.expiry.mac`.
    pub fn seal(&self, secret: &str) -> String {
        let body = format!("{}.{}", self.state, self.expires_at);
        let mac = mac(secret, &format!("cookie\n{body}"));
        format!("{body}.{mac}")
    }

    /// The flow a cookie seals, if the seal is this server's and the flow has not expired.
    pub fn open(cookie: &str, secret: &str, now: i64) -> Option<Flow> {
        let (body, presented) = cookie.rsplit_once('.')?;
        if !same_secret(presented, &mac(secret, &format!("cookie\n{body}"))) {
            return None;
        }
        let (state, expires_at) = body.split_once('.')?;
        let flow = Flow {
            state: state.to_owned(),
            expires_at: expires_at.parse().ok()?,
        };
        (flow.expires_at > now).then_some(flow)
    }

    pub fn nonce(&self, secret: &str) -> String {
        mac(secret, &format!("nonce\n{}", self.state))
    }

    /// 43 base64url characters (RFC 7636 asks for 43 to 128).
    pub fn verifier(&self, secret: &str) -> String {
        mac(secret, &format!("pkce\n{}", self.state))
    }

    /// The S256 code challenge of the verifier.
    pub fn challenge(&self, secret: &str) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(self.verifier(secret).as_bytes()))
    }

    /// Where the store remembers that this flow was used (never the state itself).
    pub fn used_key(&self) -> String {
        sha256_hex(&self.state)
    }
}

/// HMAC-SHA256 of `message` under a key derived from the client secret, base64url.
fn mac(secret: &str, message: &str) -> String {
    let key = {
        let mut derive =
            Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable_key());
        derive.update(b"switchyard-oidc-flow-v1");
        derive.finalize().into_bytes()
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap_or_else(|_| unreachable_key());
    mac.update(message.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// HMAC takes keys of any length; this only satisfies the type.
fn unreachable_key() -> Hmac<Sha256> {
    <Hmac<Sha256> as hmac::digest::KeyInit>::new(&Default::default())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_sealed_flow_opens_only_with_its_secret_unchanged_and_in_time() {
        let flow = Flow::start(1000);
        let sealed = flow.seal("secret");
        assert_eq!(Flow::open(&sealed, "secret", 1000), Some(flow.clone()));
        assert_eq!(Flow::open(&sealed, "other", 1000), None);
        assert_eq!(Flow::open(&sealed, "secret", flow.expires_at), None);
        let stretched = sealed.replace(
            &format!(".{}.", flow.expires_at),
            &format!(".{}.", flow.expires_at + 9999),
        );
        assert_eq!(Flow::open(&stretched, "secret", 1000), None);
        for garbage in ["", ".", "a.b", "a.b.c"] {
            assert_eq!(Flow::open(garbage, "secret", 1000), None);
        }
    }

    #[test]
    fn nonce_and_verifier_follow_from_the_state_and_the_secret_only() {
        let flow = Flow::start(0);
        let again = Flow::open(&flow.seal("s"), "s", 0).unwrap();
        assert_eq!(flow.nonce("s"), again.nonce("s"));
        assert_eq!(flow.verifier("s"), again.verifier("s"));
        assert_ne!(flow.nonce("s"), flow.verifier("s"));
        assert_ne!(flow.nonce("s"), flow.nonce("t"));
        assert_ne!(flow.nonce("s"), Flow::start(0).nonce("s"));
        assert_eq!(flow.verifier("s").len(), 43);
        assert_eq!(flow.challenge("s").len(), 43);
    }
}
