//! Secrets: API tokens, SDK keys and trigger URLs (random, shown once, stored as SHA-256) and
//! Argon2id-hashed account passwords.

use argon2::Argon2;
use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ApiResult};

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
    sha256_hex_of(text.as_bytes())
}

/// Whether two secrets (or their hashes) are equal, in time that depends on their length only,
/// so a caller cannot learn a stored value byte by byte from how fast it is refused.
pub fn same_secret(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

pub fn sha256_hex_of(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
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

/// Checks `password` against `phc`, or, when there is no hash to check (an unknown account,
/// one without a password), against a fixed dummy hash and answers `false`: both cost one
/// Argon2 verification, so the answer's timing does not tell whether an account exists.
pub fn verify_password_or_dummy(password: &str, phc: Option<&str>) -> bool {
    static DUMMY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        hash_password("no account has this password").unwrap_or_default()
    });
    match phc {
        Some(phc) => verify_password(password, phc),
        None => {
            verify_password(password, &DUMMY);
            false
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_secret_compares_whole_values() {
        assert!(same_secret("abc123", "abc123"));
        assert!(!same_secret("abc123", "abc124"));
        assert!(!same_secret("abc123", "abc1234"));
        assert!(!same_secret("", "a"));
        assert!(same_secret("", ""));
    }

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
        assert!(verify_password_or_dummy("correct horse", Some(&phc)));
        assert!(!verify_password_or_dummy(
            "no account has this password",
            None
        ));
    }
}
