//! Single sign-on against a provider the test plays itself, so it can hand the server ID tokens
//! made by hand: a good one signs in (the account created with its mapped roles, a session
//! token that machine tokens are minted from within policy), and each bad one — another key's
//! signature, `alg: none`, HS256, a wrong issuer or audience, expired, another nonce, a replayed
//! state, a state from another browser — is refused `401` and audited with its reason. The fake
//! token endpoint checks the client's secret and the PKCE verifier as a real provider does (the
//! real one, `oidc-provider` in Chromium, is `crates/cli/tests/cli/oidc.rs`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::StatusCode;
use rsa::pkcs8::DecodePrivateKey as _;
use rsa::{Pkcs1v15Sign, RsaPrivateKey};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use switchyard_server::access::AccessConfig;
use switchyard_server::access::oidc::{Oidc, OidcConfig, jwk_parts};
use switchyard_server::delivery::DeliveryConfig;
use switchyard_server::releases::GuardConfig;
use switchyard_server::{AppState, Clock};

mod accounts;

const KEY: &str = include_str!("../../../src/access/oidc/test-key-a.pem");
const OTHER_KEY: &str = include_str!("../../../src/access/oidc/test-key-b.pem");
const CLIENT: &str = "switchyard";
const SECRET: &str = "client-secret-1";

/// What the fake provider's token endpoint checks and answers.
#[derive(Default)]
struct Provider {
    /// The code challenge of the flow being finished.
    challenge: String,
    id_token: String,
    exchanges: Vec<Result<(), String>>,
}

type Shared = Arc<Mutex<Provider>>;

async fn token_endpoint(
    State(provider): State<Shared>,
    headers: HeaderMap,
    body: String,
) -> (AxumStatus, Json<Value>) {
    let form: HashMap<String, String> = reqwest::Url::parse(&format!("x:?{body}"))
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    let mut provider = provider.lock().unwrap();
    let basic = format!("Basic {}", STANDARD.encode(format!("{CLIENT}:{SECRET}")));
    let authorized = headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&basic);
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let outcome = if !authorized {
        Err("invalid_client".to_owned())
    } else if challenge != provider.challenge || form.get("code").map(String::as_str) != Some("c1")
    {
        Err("invalid_grant".to_owned())
    } else {
        Ok(())
    };
    provider.exchanges.push(outcome.clone());
    match outcome {
        Ok(()) => (
            AxumStatus::OK,
            Json(json!({"id_token": provider.id_token, "token_type": "Bearer"})),
        ),
        Err(error) => (AxumStatus::BAD_REQUEST, Json(json!({"error": error}))),
    }
}

async fn listen() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    (listener, base)
}

struct Harness {
    base: String,
    issuer: String,
    admin: String,
    provider: Shared,
    http: reqwest::Client,
    /// The database's directory, removed when the test ends.
    dir: std::path::PathBuf,
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn start(jit: bool, local_passwords: bool) -> Harness {
    let (provider_listener, issuer) = listen().await;
    let provider: Shared = Arc::default();
    let (n, e) = jwk_parts(&private(KEY).to_public_key());
    let discovery = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/auth"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
    });
    let jwks =
        json!({"keys": [{"kty": "RSA", "kid": "a", "use": "sig", "alg": "RS256", "n": n, "e": e}]});
    let app = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(move || async move { Json(discovery) }),
        )
        .route("/jwks", get(move || async move { Json(jwks) }))
        .route("/token", post(token_endpoint))
        .with_state(provider.clone());
    tokio::spawn(async move { axum::serve(provider_listener, app).await });

    let dir = std::env::temp_dir().join(format!(
        "switchyard-oidc-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let store = switchyard_store::Store::open(&format!("sqlite://{}/oidc.db", dir.display()))
        .await
        .unwrap();
    let admin = switchyard_server::bootstrap(&store)
        .await
        .unwrap()
        .unwrap()
        .token;
    let (listener, base) = listen().await;
    let config = OidcConfig {
        issuer: issuer.clone(),
        client_id: CLIENT.into(),
        client_secret: SECRET.into(),
        redirect_url: format!("{base}/api/v1/auth/oidc/callback"),
        scopes: "openid profile".into(),
        username_claim: "preferred_username".into(),
        role_claim: "groups".into(),
        role_map: OidcConfig::parse_role_map("engineering=writer,platform=admin").unwrap(),
        jit_accounts: jit,
        session: Duration::from_secs(3600),
        machine_token_max_days: 7,
    };
    let access = AccessConfig {
        oidc: Some(Oidc::new(config)),
        local_passwords,
        ..AccessConfig::default()
    };
    let state = AppState::with_access(
        store,
        DeliveryConfig::default(),
        GuardConfig::default(),
        access,
        Clock::default(),
    );
    tokio::spawn(switchyard_server::serve(
        listener,
        state,
        std::future::pending(),
    ));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Harness {
        base,
        issuer,
        admin,
        provider,
        http,
        dir,
    }
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn private(pem: &str) -> RsaPrivateKey {
    RsaPrivateKey::from_pkcs8_pem(pem).unwrap()
}

/// A compact JWS: `header.claims.signature`, RS256 by `key` whatever the header says.
fn sign(header: &Value, claims: &Value, key: &RsaPrivateKey) -> String {
    let part = |value: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap());
    let signed = format!("{}.{}", part(header), part(claims));
    let signature = key
        .sign(
            Pkcs1v15Sign::new_unprefixed(),
            &[
                &[
                    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04,
                    0x02, 0x01, 0x05, 0x00, 0x04, 0x20,
                ][..],
                &Sha256::digest(signed.as_bytes())[..],
            ]
            .concat(),
        )
        .unwrap();
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

fn now() -> i64 {
    (rand_suffix() / 1_000_000_000) as i64
}

/// A flow the server started: its state, the nonce it sent and the browser's cookie.
struct Started {
    state: String,
    nonce: String,
    cookie: String,
}

impl Harness {
    async fn begin(&self) -> Started {
        let response = self
            .http
            .get(format!("{}/api/v1/auth/oidc/start", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        let cookie = response.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
            "{cookie}"
        );
        let url = reqwest::Url::parse(&location).unwrap();
        assert!(
            location.starts_with(&format!("{}/auth?", self.issuer)),
            "{location}"
        );
        let query: HashMap<String, String> = url.query_pairs().into_owned().collect();
        assert_eq!(query["response_type"], "code");
        assert_eq!(query["client_id"], CLIENT);
        assert_eq!(query["code_challenge_method"], "S256");
        assert!(!location.contains("code_verifier"), "{location}");
        self.provider.lock().unwrap().challenge = query["code_challenge"].clone();
        Started {
            state: query["state"].clone(),
            nonce: query["nonce"].clone(),
            cookie: cookie.split(';').next().unwrap().to_owned(),
        }
    }

    fn claims(&self, nonce: &str) -> Value {
        json!({"iss": self.issuer, "aud": CLIENT, "sub": "person-1", "nonce": nonce,
               "iat": now(), "exp": now() + 300, "preferred_username": "dana",
               "groups": ["engineering", "cafeteria"]})
    }

    /// The provider redirects back with the code; the server's answer: status, `Location`,
    /// body.
    async fn callback(
        &self,
        started: &Started,
        state: &str,
        id_token: String,
    ) -> (StatusCode, String, Value) {
        self.provider.lock().unwrap().id_token = id_token;
        let response = self
            .http
            .get(format!("{}/api/v1/auth/oidc/callback", self.base))
            .query(&[("code", "c1"), ("state", state)])
            .header("cookie", &started.cookie)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let location = response
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, location, body)
    }

    async fn newest_audit(&self) -> Value {
        let page: Value = self
            .http
            .get(format!("{}/api/v1/audit?limit=1", self.base))
            .bearer_auth(&self.admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        page["records"][0].clone()
    }

    /// Runs one flow with the token `make` builds from the flow's nonce; checks it is refused
    /// for `reason` and audited so.
    async fn refused(&self, reason: &str, make: impl Fn(&Harness, &Started) -> String) {
        let started = self.begin().await;
        let token = make(self, &started);
        let (status, location, body) = self.callback(&started, &started.state, token).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{reason}: {location} {body}"
        );
        assert_eq!(body["error"]["code"], "unauthorized", "{body}");
        let audit = self.newest_audit().await;
        assert_eq!(audit["action"], "account:sign-in", "{reason}: {audit}");
        assert_eq!(audit["outcome"], "denied", "{reason}: {audit}");
        assert_eq!(audit["after"]["reason"], reason, "{audit}");
    }

    async fn call(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}/api/v1{path}", self.base))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

fn header() -> Value {
    json!({"alg": "RS256", "kid": "a", "typ": "JWT"})
}

/// The session token and account a successful callback hands the console in the fragment.
fn handed_over(location: &str) -> (String, String) {
    let fragment = location
        .strip_prefix("/#")
        .expect("a redirect to the console");
    let pairs: HashMap<&str, &str> = fragment
        .split('&')
        .filter_map(|p| p.split_once('='))
        .collect();
    (pairs["sso-token"].to_owned(), pairs["account"].to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_bad_id_token_is_refused_and_audited() {
    let harness = start(true, true).await;
    let part = |value: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap());

    harness
        .refused("signature", |h, s| {
            sign(&header(), &h.claims(&s.nonce), &private(OTHER_KEY))
        })
        .await;
    harness
        .refused("algorithm", |h, s| {
            format!(
                "{}.{}.",
                part(&json!({"alg": "none"})),
                part(&h.claims(&s.nonce))
            )
        })
        .await;
    // HS256 "signed" with the provider's public key as the shared secret.
    harness
        .refused("algorithm", |h, s| {
            let head = json!({"alg": "HS256", "kid": "a"});
            format!("{}.{}.AAAA", part(&head), part(&h.claims(&s.nonce)))
        })
        .await;
    harness
        .refused("issuer", |h, s| {
            let mut claims = h.claims(&s.nonce);
            claims["iss"] = json!("http://127.0.0.1:1/evil");
            sign(&header(), &claims, &private(KEY))
        })
        .await;
    harness
        .refused("audience", |h, s| {
            let mut claims = h.claims(&s.nonce);
            claims["aud"] = json!("another-client");
            sign(&header(), &claims, &private(KEY))
        })
        .await;
    harness
        .refused("expired", |h, s| {
            let mut claims = h.claims(&s.nonce);
            claims["iat"] = json!(now() - 3600);
            claims["exp"] = json!(now() - 600);
            sign(&header(), &claims, &private(KEY))
        })
        .await;
    harness
        .refused("nonce", |h, _| {
            sign(&header(), &h.claims("another-nonce"), &private(KEY))
        })
        .await;
    harness
        .refused("unknown_key", |h, s| {
            let head = json!({"alg": "RS256", "kid": "rotated-away"});
            sign(&head, &h.claims(&s.nonce), &private(OTHER_KEY))
        })
        .await;

    // A state that is not this browser's flow: refused before the code is exchanged.
    let exchanges = harness.provider.lock().unwrap().exchanges.len();
    let started = harness.begin().await;
    let good = sign(&header(), &harness.claims(&started.nonce), &private(KEY));
    let (status, _, _) = harness.callback(&started, "0123abcd", good.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(harness.newest_audit().await["after"]["reason"], "state");
    assert_eq!(harness.provider.lock().unwrap().exchanges.len(), exchanges);

    // Nothing refused signed anyone in.
    let (_, accounts) = harness
        .call(&harness.admin, reqwest::Method::GET, "/accounts", None)
        .await;
    assert!(!accounts.to_string().contains("dana"), "{accounts}");

    // The good token signs in, once: the same state again is a replay.
    let (status, location, body) = harness
        .callback(&started, &started.state, good.clone())
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let (session, account) = handed_over(&location);
    assert_eq!(account, "dana");
    let exchanges = harness.provider.lock().unwrap().exchanges.clone();
    assert_eq!(
        exchanges.last(),
        Some(&Ok(())),
        "client secret and PKCE verifier accepted"
    );
    let allowed = harness.newest_audit().await;
    assert_eq!(allowed["outcome"], "allowed", "{allowed}");
    assert_eq!(allowed["after"]["via"], "oidc");
    let (status, _, _) = harness.callback(&started, &started.state, good).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        harness.newest_audit().await["after"]["reason"],
        "state_replayed"
    );

    // The identity decides the account, not the name: another person at the provider who
    // calls themselves dana, or admin (a local account with a password), gets neither.
    harness
        .refused("other_identity", |h, s| {
            let mut claims = h.claims(&s.nonce);
            claims["sub"] = json!("person-2");
            sign(&header(), &claims, &private(KEY))
        })
        .await;
    harness
        .refused("local_account", |h, s| {
            let mut claims = h.claims(&s.nonce);
            claims["sub"] = json!("person-3");
            claims["preferred_username"] = json!("admin");
            sign(&header(), &claims, &private(KEY))
        })
        .await;

    // The just-in-time account has the mapped role (engineering → writer) and no password.
    let (status, dana) = harness
        .call(&harness.admin, reqwest::Method::GET, "/accounts/dana", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(dana["roles"], json!(["writer"]), "{dana}");
    let (status, me) = harness
        .call(&session, reqwest::Method::GET, "/me", None)
        .await;
    assert_eq!(
        (status, me["account"].as_str()),
        (StatusCode::OK, Some("dana"))
    );
}
