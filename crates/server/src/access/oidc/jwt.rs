//! OpenID Connect ID tokens: a compact JWS signed RS256 by one of the provider's keys, and the
//! claims a relying party must check (OpenID Connect Core 1.0, section 3.1.3.7). Pure: the keys,
//! what is expected and the time come from the caller.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::traits::PublicKeyParts as _;
use rsa::{BigUint, Pkcs1v15Sign, RsaPublicKey};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// How far the provider's clock may be from ours when `exp` and `iat` are checked.
pub const LEEWAY_SECONDS: i64 = 60;

/// The DER prefix of a SHA-256 `DigestInfo` (RFC 8017, section 9.2, note 1).
const SHA256_DIGEST_INFO: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// Why an ID token was refused; [`Refusal::reason`] is what the audit record says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not three base64url parts of JSON, or a claim of the wrong type.
    Malformed(String),
    /// Anything but RS256: `none`, an HMAC algorithm (which would use a public key as a
    /// shared secret), or one this server does not verify.
    Algorithm(String),
    /// No key of the provider's key set has this `kid` (the caller refreshes the set once).
    UnknownKey(Option<String>),
    Signature,
    Issuer(String),
    Audience,
    Expired,
    IssuedInFuture,
    Nonce,
}

impl Refusal {
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Malformed(_) => "malformed",
            Refusal::Algorithm(_) => "algorithm",
            Refusal::UnknownKey(_) => "unknown_key",
            Refusal::Signature => "signature",
            Refusal::Issuer(_) => "issuer",
            Refusal::Audience => "audience",
            Refusal::Expired => "expired",
            Refusal::IssuedInFuture => "issued_in_future",
            Refusal::Nonce => "nonce",
        }
    }

    pub fn message(&self) -> String {
        match self {
            Refusal::Malformed(what) => format!("the ID token is malformed: {what}"),
            Refusal::Algorithm(alg) => {
                format!("the ID token is signed with {alg:?}; only RS256 is accepted")
            }
            Refusal::UnknownKey(kid) => {
                format!("no key of the provider's key set has kid {kid:?}")
            }
            Refusal::Signature => "the ID token's signature does not verify".into(),
            Refusal::Issuer(iss) => format!("the ID token was issued by {iss:?}, not the provider"),
            Refusal::Audience => "the ID token was not issued for this client".into(),
            Refusal::Expired => "the ID token has expired".into(),
            Refusal::IssuedInFuture => "the ID token was issued in the future".into(),
            Refusal::Nonce => "the ID token's nonce is not the one this sign-in sent".into(),
        }
    }
}

/// One RSA signing key of the provider's JWKS.
#[derive(Debug, Clone)]
pub struct Jwk {
    pub kid: Option<String>,
    key: RsaPublicKey,
}

impl Jwk {
    pub fn rsa(kid: Option<String>, key: RsaPublicKey) -> Jwk {
        Jwk { kid, key }
    }
}

/// The RSA signing keys of a JWKS document; other key types and encryption keys are skipped.
pub fn parse_jwks(document: &Value) -> Vec<Jwk> {
    #[derive(Deserialize)]
    struct Key {
        kty: String,
        #[serde(default)]
        kid: Option<String>,
        #[serde(default, rename = "use")]
        usage: Option<String>,
        #[serde(default)]
        n: Option<String>,
        #[serde(default)]
        e: Option<String>,
    }
    let keys = document.get("keys").and_then(Value::as_array);
    keys.into_iter()
        .flatten()
        .filter_map(|key| serde_json::from_value::<Key>(key.clone()).ok())
        .filter(|key| key.kty == "RSA" && key.usage.as_deref().is_none_or(|u| u == "sig"))
        .filter_map(|key| {
            let n = URL_SAFE_NO_PAD.decode(key.n?).ok()?;
            let e = URL_SAFE_NO_PAD.decode(key.e?).ok()?;
            let public = RsaPublicKey::new(BigUint::from_bytes_be(&n), BigUint::from_bytes_be(&e));
            Some(Jwk::rsa(key.kid, public.ok()?))
        })
        .collect()
}

/// The modulus and exponent of a key as a JWK's `n` and `e` (for tests and fakes).
pub fn jwk_parts(key: &RsaPublicKey) -> (String, String) {
    (
        URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
        URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
    )
}

/// What this sign-in expects of its ID token.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    /// Seconds since the Unix epoch.
    pub now: i64,
}

/// The header's `kid`, when the token has a readable header (to pick a key set to refresh).
pub fn key_id(token: &str) -> Option<String> {
    let header = token.split('.').next()?;
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
    header.get("kid")?.as_str().map(str::to_owned)
}

/// Verifies `token` against `keys` and `expected`; its claims when every check passes. The
/// signature is checked before any claim is believed.
pub fn verify(token: &str, keys: &[Jwk], expected: Expected<'_>) -> Result<Value, Refusal> {
    let malformed = |what: &str| Refusal::Malformed(what.to_owned());
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("not three dot-separated parts"));
    };
    let decode = |part: &str, what: &str| URL_SAFE_NO_PAD.decode(part).map_err(|_| malformed(what));
    let header: Value = serde_json::from_slice(&decode(header, "header is not base64url")?)
        .map_err(|_| malformed("header is not JSON"))?;
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
    if alg != "RS256" {
        return Err(Refusal::Algorithm(alg.to_owned()));
    }
    let kid = header.get("kid").and_then(Value::as_str);
    let key = match kid {
        Some(kid) => keys.iter().find(|key| key.kid.as_deref() == Some(kid)),
        // Without a kid, only a key set of one key says which key it is.
        None if keys.len() == 1 => keys.first(),
        None => None,
    };
    let key = key.ok_or_else(|| Refusal::UnknownKey(kid.map(str::to_owned)))?;
    let signature = decode(signature, "signature is not base64url")?;
    let signed = &token[..token.len() - token.rsplit('.').next().map_or(0, str::len) - 1];
    let digest = Sha256::digest(signed.as_bytes());
    let scheme = Pkcs1v15Sign {
        hash_len: Some(32),
        prefix: SHA256_DIGEST_INFO.to_vec().into_boxed_slice(),
    };
    key.key
        .verify(scheme, &digest, &signature)
        .map_err(|_| Refusal::Signature)?;
    let claims: Value = serde_json::from_slice(&decode(payload, "payload is not base64url")?)
        .map_err(|_| malformed("payload is not JSON"))?;
    check_claims(&claims, expected)?;
    Ok(claims)
}

fn check_claims(claims: &Value, expected: Expected<'_>) -> Result<(), Refusal> {
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let number = |name: &str| {
        claims
            .get(name)
            .and_then(Value::as_i64)
            .ok_or_else(|| Refusal::Malformed(format!("{name} is missing or not a number")))
    };
    let issuer = text("iss").unwrap_or("");
    if issuer != expected.issuer {
        return Err(Refusal::Issuer(issuer.to_owned()));
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !audiences.contains(&expected.client_id) {
        return Err(Refusal::Audience);
    }
    // Several audiences: the authorized party must be this client (Core 3.1.3.7, 4 and 5).
    if audiences.len() > 1 && text("azp") != Some(expected.client_id) {
        return Err(Refusal::Audience);
    }
    if number("exp")? + LEEWAY_SECONDS < expected.now {
        return Err(Refusal::Expired);
    }
    if number("iat")? - LEEWAY_SECONDS > expected.now {
        return Err(Refusal::IssuedInFuture);
    }
    let nonce = text("nonce").unwrap_or("");
    if !crate::access::same_secret(nonce, expected.nonce) {
        return Err(Refusal::Nonce);
    }
    if text("sub").is_none_or(str::is_empty) {
        return Err(Refusal::Malformed("sub is missing".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rsa::RsaPrivateKey;
    use rsa::pkcs8::DecodePrivateKey as _;
    use serde_json::json;

    const KEY: &str = include_str!("test-key-a.pem");
    const OTHER_KEY: &str = include_str!("test-key-b.pem");

    fn private(pem: &str) -> RsaPrivateKey {
        RsaPrivateKey::from_pkcs8_pem(pem).unwrap()
    }

    fn sign(header: &Value, claims: &Value, key: &RsaPrivateKey) -> String {
        let part = |value: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap());
        let signed = format!("{}.{}", part(header), part(claims));
        let scheme = Pkcs1v15Sign {
            hash_len: Some(32),
            prefix: SHA256_DIGEST_INFO.to_vec().into_boxed_slice(),
        };
        let signature = key
            .sign(scheme, &Sha256::digest(signed.as_bytes()))
            .unwrap();
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    const NOW: i64 = 1_800_000_000;

    fn claims() -> Value {
        json!({"iss": "http://idp.test", "aud": "switchyard", "sub": "u1", "nonce": "n-1",
               "iat": NOW, "exp": NOW + 300})
    }

    fn expected() -> Expected<'static> {
        Expected {
            issuer: "http://idp.test",
            client_id: "switchyard",
            nonce: "n-1",
            now: NOW,
        }
    }

    fn keys() -> Vec<Jwk> {
        vec![Jwk::rsa(Some("a".into()), private(KEY).to_public_key())]
    }

    fn header() -> Value {
        json!({"alg": "RS256", "kid": "a"})
    }

    fn check(claims: &Value) -> Result<Value, Refusal> {
        verify(&sign(&header(), claims, &private(KEY)), &keys(), expected())
    }

    #[test]
    fn a_token_signed_by_the_providers_key_with_the_right_claims_verifies() {
        let verified = check(&claims()).unwrap();
        assert_eq!(verified["sub"], "u1");
        // Several audiences with this client as the authorized party.
        let mut several = claims();
        several["aud"] = json!(["other", "switchyard"]);
        several["azp"] = json!("switchyard");
        check(&several).unwrap();
        // Within the leeway either side.
        let mut skewed = claims();
        skewed["exp"] = json!(NOW - 30);
        skewed["iat"] = json!(NOW + 30);
        check(&skewed).unwrap();
    }

    #[test]
    fn each_refusal_has_its_reason() {
        let with = |name: &str, value: Value| {
            let mut claims = claims();
            claims[name] = value;
            check(&claims).unwrap_err().reason()
        };
        assert_eq!(with("iss", json!("http://evil.test")), "issuer");
        assert_eq!(with("aud", json!("someone-else")), "audience");
        assert_eq!(
            with("aud", json!(["someone-else", "switchyard"])),
            "audience"
        );
        assert_eq!(with("exp", json!(NOW - 61)), "expired");
        assert_eq!(with("iat", json!(NOW + 61)), "issued_in_future");
        assert_eq!(with("nonce", json!("n-2")), "nonce");
        assert_eq!(with("exp", json!("soon")), "malformed");
        let mut no_nonce = claims();
        no_nonce.as_object_mut().unwrap().remove("nonce");
        assert_eq!(check(&no_nonce).unwrap_err(), Refusal::Nonce);
    }

    #[test]
    fn a_signature_by_another_key_or_over_other_claims_is_refused() {
        let forged = sign(&header(), &claims(), &private(OTHER_KEY));
        assert_eq!(
            verify(&forged, &keys(), expected()),
            Err(Refusal::Signature)
        );
        // A real signature moved onto other claims.
        let real = sign(&header(), &claims(), &private(KEY));
        let mut other = claims();
        other["sub"] = json!("admin");
        let tampered = sign(&header(), &other, &private(OTHER_KEY));
        let (head, _) = tampered.rsplit_once('.').unwrap();
        let (_, signature) = real.rsplit_once('.').unwrap();
        let spliced = format!("{head}.{signature}");
        assert_eq!(
            verify(&spliced, &keys(), expected()),
            Err(Refusal::Signature)
        );
    }

    #[test]
    fn none_and_hmac_algorithms_are_refused_before_any_key_is_used() {
        let part = |value: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap());
        let unsigned = format!("{}.{}.", part(&json!({"alg": "none"})), part(&claims()));
        assert_eq!(
            verify(&unsigned, &keys(), expected()),
            Err(Refusal::Algorithm("none".into()))
        );
        let hmac = format!(
            "{}.{}.c2ln",
            part(&json!({"alg": "HS256", "kid": "a"})),
            part(&claims())
        );
        assert_eq!(
            verify(&hmac, &keys(), expected()).unwrap_err().reason(),
            "algorithm"
        );
    }

    #[test]
    fn an_unknown_kid_asks_for_the_key_set_again() {
        let token = sign(
            &json!({"alg": "RS256", "kid": "b"}),
            &claims(),
            &private(OTHER_KEY),
        );
        assert_eq!(key_id(&token).as_deref(), Some("b"));
        assert_eq!(
            verify(&token, &keys(), expected()),
            Err(Refusal::UnknownKey(Some("b".into())))
        );
        let (n, e) = jwk_parts(&private(OTHER_KEY).to_public_key());
        let set = json!({"keys": [
            {"kty": "EC", "kid": "ec"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": n, "e": e},
            {"kty": "RSA", "kid": "b", "use": "sig", "n": n, "e": e}]});
        let parsed = parse_jwks(&set);
        assert_eq!(parsed.len(), 1);
        verify(&token, &parsed, expected()).unwrap();
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        for token in ["", "a", "a.b", "a.b.c.d", "!!.!!.!!", "e30.e30.e30"] {
            assert!(verify(token, &keys(), expected()).is_err(), "{token}");
        }
    }
}
