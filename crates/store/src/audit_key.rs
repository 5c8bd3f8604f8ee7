//! The Ed25519 key that signs audit records (`docs/security.md`, "Audit log"). The secret half
//! lives outside the database (a file the server is configured with); the public half is all a
//! verifier needs, so an exported log can be checked without the secret.

use std::fmt;
use std::io;
use std::path::Path;

use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};

/// What a record's signature covers: this prefix and the record's hash in lowercase hex.
pub const SIGNATURE_CONTEXT: &str = "switchyard-audit-v2:";

/// The secret signing key. Its `Debug` shows only the public key.
#[derive(Clone)]
pub struct AuditSigner {
    key: SigningKey,
}

impl fmt::Debug for AuditSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuditSigner(public {})", self.public_key())
    }
}

impl AuditSigner {
    pub fn from_seed(seed: [u8; 32]) -> AuditSigner {
        AuditSigner {
            key: SigningKey::from_bytes(&seed),
        }
    }

    /// A fresh key from the operating system's random source.
    pub fn generate() -> io::Result<AuditSigner> {
        let mut seed = [0_u8; 32];
        getrandom::fill(&mut seed).map_err(|e| io::Error::other(e.to_string()))?;
        Ok(AuditSigner::from_seed(seed))
    }

    /// The key file's text: the 32-byte secret seed in hex, one line.
    pub fn from_file_text(text: &str) -> io::Result<AuditSigner> {
        let seed = decode_hex::<32>(text.trim())
            .ok_or_else(|| invalid("an audit signing key file holds 64 hex digits"))?;
        Ok(AuditSigner::from_seed(seed))
    }

    pub fn file_text(&self) -> String {
        format!("{}\n", encode_hex(&self.key.to_bytes()))
    }

    /// Reads the key at `path`, or creates one there (readable by its owner only) when the file
    /// does not exist. The `bool` says whether it was created.
    pub fn load_or_create(path: &Path) -> io::Result<(AuditSigner, bool)> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok((AuditSigner::from_file_text(&text)?, false)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let signer = AuditSigner::generate()?;
                write_private(path, signer.file_text().as_bytes())?;
                Ok((signer, true))
            }
            Err(e) => Err(e),
        }
    }

    pub fn public_key(&self) -> AuditPublicKey {
        AuditPublicKey(self.key.verifying_key())
    }

    /// The signature of a record whose hash is `hash`, in hex.
    pub(crate) fn sign(&self, hash: &str) -> String {
        let signature = self
            .key
            .sign(format!("{SIGNATURE_CONTEXT}{hash}").as_bytes());
        encode_hex(&signature.to_bytes())
    }
}

/// The public half, shown in hex by `Display`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditPublicKey(VerifyingKey);

impl fmt::Display for AuditPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&encode_hex(self.0.as_bytes()))
    }
}

impl AuditPublicKey {
    pub fn from_hex(text: &str) -> io::Result<AuditPublicKey> {
        let bytes = decode_hex::<32>(text.trim())
            .ok_or_else(|| invalid("an audit public key is 64 hex digits"))?;
        VerifyingKey::from_bytes(&bytes)
            .map(AuditPublicKey)
            .map_err(|_| invalid("not an Ed25519 public key"))
    }

    /// Whether `signature` (hex) is this key's signature of a record hashing to `hash`.
    pub fn verifies(&self, hash: &str, signature: &str) -> bool {
        decode_hex::<64>(signature).is_some_and(|bytes| {
            self.0
                .verify(
                    format!("{SIGNATURE_CONTEXT}{hash}").as_bytes(),
                    &Signature::from_bytes(&bytes),
                )
                .is_ok()
        })
    }
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_owned())
}

/// Creates `path` with mode 0600 (on Unix); fails if it exists.
fn write_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

pub(crate) fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != 2 * N || !text.is_ascii() {
        return None;
    }
    let mut out = [0_u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn signatures_verify_only_under_their_key_and_hash() {
        let signer = AuditSigner::from_seed([7; 32]);
        let other = AuditSigner::from_seed([8; 32]).public_key();
        let signature = signer.sign("abc");
        let key = AuditPublicKey::from_hex(&signer.public_key().to_string()).unwrap();
        assert!(key.verifies("abc", &signature));
        assert!(!key.verifies("abd", &signature));
        assert!(!other.verifies("abc", &signature));
        assert!(!key.verifies("abc", "zz"));
        let reread = AuditSigner::from_file_text(&signer.file_text()).unwrap();
        assert_eq!(reread.public_key(), signer.public_key());
        assert!(AuditSigner::from_file_text("12").is_err());
    }
}
