//! What a relay needs to serve an environment's browsers: `GET /sdk/v1/environment`
//! (authenticated by a server SDK key, format in `docs/delivery.md`) answers the environment's
//! client keys as SHA-256 hashes of their secrets, with their ids, and its `allowed_origins`.
//!
//! A relay fetches it per server key ([`Delivery::install_environment_info`]) and keeps the
//! result in its [`UpstreamKeys`]; a relay answers the route too, from what it fetched, so
//! relays chain. CORS (`cors.rs`) asks [`Delivery::origin_allowed`] and
//! [`Delivery::preflight_allowed`], which read the store on `serve` and the fetched lists on a
//! relay: one implementation for both.
//!
//! **Invariant:** a relay accepts a client key only when its upstream listed it (now, or in the
//! list the relay last fetched and saved); a key missing from a newer list stops working and its
//! open OFREP streams end.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};

use super::hub::{Delivery, SdkAccess, Source, events_token};
use super::sdk_routes::server_access;
use crate::access::{
    CLIENT_KEY_PREFIX, SdkKeyKind, SdkKeyRecord, parse_secret, same_secret, sha256_hex_of,
};
use crate::error::{ApiError, ApiResult, Code};
use crate::records::{self, EnvironmentRecord, GLOBAL, ProjectRecord, env_scope};

/// `GET /sdk/v1/environment`'s answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvironmentInfo {
    /// The environment's client keys (never their secrets).
    pub client_keys: Vec<ClientKeyHash>,
    /// The origins that may read client-key answers; empty: any origin.
    pub allowed_origins: Vec<String>,
}

/// One client key as a relay may know it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientKeyHash {
    pub id: String,
    /// Lower-case hex SHA-256 of the key's secret part (`syc_{id}_{secret}`).
    pub secret_sha256: String,
}

impl EnvironmentInfo {
    /// Keeps only entries a server could have sent: an id that is a plain identifier and a
    /// 64-digit hex hash (anything else would never match a presented key anyway).
    pub fn sanitized(mut self) -> EnvironmentInfo {
        let plain_id = |id: &str| {
            !id.is_empty()
                && id.len() <= 64
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        self.client_keys.retain(|key| {
            plain_id(&key.id)
                && key.secret_sha256.len() == 64
                && key
                    .secret_sha256
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        });
        self
    }
}

/// Served by `switchyard serve` and `switchyard relay` alike.
pub(super) fn router() -> Router<Arc<Delivery>> {
    Router::new().route("/sdk/v1/environment", get(environment))
}

/// The answer carries an `ETag`; a relay re-reading it every second sends it back in
/// `If-None-Match` and gets an empty `304` while nothing changed.
async fn environment(
    State(delivery): State<Arc<Delivery>>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let why = "client SDK keys evaluate through OFREP; flag data needs a server SDK key";
    let access = server_access(&delivery, &headers, why).await?;
    let info = delivery.environment_info(&access).await?;
    let body = serde_json::to_vec(&info).map_err(ApiError::internal)?;
    let etag = format!("\"{}\"", &sha256_hex_of(&body)[..32]);
    let etag = HeaderValue::from_str(&etag).map_err(ApiError::internal)?;
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|tags| tags.as_bytes() == etag.as_bytes());
    let mut response = if unchanged {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response()
    };
    response.headers_mut().insert(header::ETAG, etag);
    Ok(response)
}

/// What a relay knows of SDK keys: the server keys it was given (presented key → access) and,
/// per relayed environment, what its upstream last reported.
#[derive(Debug)]
pub(super) struct UpstreamKeys {
    server: HashMap<String, SdkAccess>,
    /// The relay's environment name (its server key's id) → what the upstream reported.
    relayed: RwLock<HashMap<String, Relayed>>,
    /// Environments whose client keys are not known yet (no answer, nothing saved): a client
    /// key the relay does not know may be one of theirs.
    pending: RwLock<HashSet<String>>,
}

#[derive(Debug)]
struct Relayed {
    info: EnvironmentInfo,
    /// Client key id → (hash of its secret, what it grants).
    clients: HashMap<String, (String, SdkAccess)>,
}

impl UpstreamKeys {
    pub(super) fn new(server: HashMap<String, SdkAccess>) -> UpstreamKeys {
        let pending = server.values().map(|access| access.env.clone()).collect();
        UpstreamKeys {
            server,
            relayed: RwLock::default(),
            pending: RwLock::new(pending),
        }
    }

    /// Why a key neither [`UpstreamKeys::authenticate`] nor [`UpstreamKeys::by_id`] found is
    /// refused, when it may be a client key (`syc_…`, or an id): while some environment's
    /// client keys are not known yet, it may be one of them, so `503` (retry shortly) instead
    /// of the `401` that SDKs take as final; `None` once every list is known.
    pub(super) fn not_known_yet(&self, maybe_client: bool) -> Option<ApiError> {
        let waiting = maybe_client && self.pending.read().is_ok_and(|p| !p.is_empty());
        waiting.then(|| {
            ApiError::new(
                Code::Unavailable,
                "this relay has not yet learned its environments' client keys from its upstream; \
                 retry shortly",
            )
        })
    }

    /// `env`'s client keys are known now, or will not be served at all.
    fn decided(&self, env: &str) {
        if let Ok(mut pending) = self.pending.write() {
            pending.remove(env);
        }
    }

    /// The access of a presented server key it was given or client key its upstream listed.
    pub(super) fn authenticate(&self, presented: &str) -> Option<SdkAccess> {
        if let Some(access) = self.server.get(presented) {
            return Some(access.clone());
        }
        let (id, secret_hash) = parse_secret(CLIENT_KEY_PREFIX, presented)?;
        let relayed = self.relayed.read().ok()?;
        relayed.values().find_map(|environment| {
            let (hash, access) = environment.clients.get(id)?;
            same_secret(hash, &secret_hash).then(|| access.clone())
        })
    }

    /// A known key by id (the OFREP event stream's URL names the key by id).
    pub(super) fn by_id(&self, key_id: &str) -> Option<SdkAccess> {
        if let Some(access) = self.server.values().find(|a| a.key_id == key_id) {
            return Some(access.clone());
        }
        let relayed = self.relayed.read().ok()?;
        relayed
            .values()
            .find_map(|environment| environment.clients.get(key_id))
            .map(|(_, access)| access.clone())
    }

    /// Installs what the upstream reported for `server`'s environment; returns the ids of the
    /// client keys it no longer lists.
    fn install(&self, server: &SdkAccess, info: EnvironmentInfo) -> Vec<String> {
        let clients: HashMap<String, (String, SdkAccess)> = info
            .client_keys
            .iter()
            .map(|key| {
                let access = SdkAccess {
                    key_id: key.id.clone(),
                    project: server.project.clone(),
                    env: server.env.clone(),
                    kind: SdkKeyKind::Client,
                    events_token: events_token(&key.secret_sha256),
                };
                (key.id.clone(), (key.secret_sha256.clone(), access))
            })
            .collect();
        self.decided(&server.env);
        let Ok(mut relayed) = self.relayed.write() else {
            return Vec::new();
        };
        let previous = relayed.insert(server.env.clone(), Relayed { info, clients });
        let still = &relayed[&server.env].clients;
        previous
            .map(|previous| {
                previous
                    .clients
                    .into_keys()
                    .filter(|id| !still.contains_key(id))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Forgets `server`'s environment (its key was refused); returns its client key ids.
    fn forget(&self, server: &SdkAccess) -> Vec<String> {
        self.decided(&server.env);
        self.relayed
            .write()
            .ok()
            .and_then(|mut relayed| relayed.remove(&server.env))
            .map(|gone| gone.clients.into_keys().collect())
            .unwrap_or_default()
    }

    fn info(&self, env: &str) -> Option<EnvironmentInfo> {
        Some(self.relayed.read().ok()?.get(env)?.info.clone())
    }

    /// Whether some relayed environment lets `origin` read: any origin when one lists none.
    fn any_allows(&self, origin: &str) -> bool {
        self.relayed.read().is_ok_and(|relayed| {
            relayed
                .values()
                .any(|environment| allows(&environment.info.allowed_origins, origin))
        })
    }
}

/// Whether an origin list (empty: any origin) holds `origin` (lists are stored lower-cased).
fn allows(allowed: &[String], origin: &str) -> bool {
    allowed.is_empty() || allowed.iter().any(|a| a.eq_ignore_ascii_case(origin))
}

/// How long `serve` reuses the union of its environments' origin lists for preflights, so a
/// flood of (keyless) preflights costs no store reads.
const PREFLIGHT_ORIGINS_TTL: Duration = Duration::from_secs(1);

/// The origins some environment allows (`None`: some environment allows any), as of `at`.
#[derive(Debug)]
pub(super) struct PreflightOrigins {
    at: Instant,
    origins: Option<BTreeSet<String>>,
}

impl Delivery {
    /// The environment's client keys (hashes) and allowed origins: from the store on `serve`,
    /// as last fetched on a relay (`503` until it has fetched).
    pub async fn environment_info(&self, access: &SdkAccess) -> ApiResult<EnvironmentInfo> {
        let store = match &self.source {
            Source::Store(store) => store,
            Source::Upstream(keys) => {
                return keys.info(&access.env).ok_or_else(|| {
                    ApiError::new(
                        Code::Unavailable,
                        "the relay has not yet learned this environment's client keys from its \
                         upstream",
                    )
                });
            }
        };
        let scope = env_scope(&access.project, &access.env);
        let client_keys = records::list::<SdkKeyRecord>(store, &scope)
            .await?
            .into_iter()
            .filter(|key| key.record.kind == SdkKeyKind::Client)
            .map(|key| ClientKeyHash {
                id: key.record.id,
                secret_sha256: key.record.secret_hash,
            })
            .collect();
        let environment = records::get::<EnvironmentRecord>(store, &access.project, &access.env)
            .await?
            .ok_or_else(|| ApiError::not_found("environment"))?;
        Ok(EnvironmentInfo {
            client_keys,
            allowed_origins: environment.record.allowed_origins,
        })
    }

    /// A relay: serves the client keys and origins its upstream reported for `server`'s
    /// environment. A client key no longer listed is refused from now on and its open streams
    /// end. (Nothing to do on `serve`.)
    pub fn install_environment_info(&self, server: &SdkAccess, info: EnvironmentInfo) {
        let Source::Upstream(keys) = &self.source else {
            return;
        };
        for gone in keys.install(server, info.sanitized()) {
            tracing::info!(key = %gone, "client SDK key no longer listed upstream: refused from now on");
            self.streams.revoke(&gone);
        }
    }

    /// A relay: stops serving the client keys of `server`'s environment (its key was refused).
    pub fn forget_environment_info(&self, server: &SdkAccess) {
        let Source::Upstream(keys) = &self.source else {
            return;
        };
        for gone in keys.forget(server) {
            self.streams.revoke(&gone);
        }
    }

    /// Whether the environment of the client key `access` lets `origin` read its answers: any
    /// origin unless the environment lists `allowed_origins`.
    pub(super) async fn origin_allowed(&self, access: &SdkAccess, origin: &str) -> bool {
        match &self.source {
            Source::Upstream(keys) => keys
                .info(&access.env)
                .is_some_and(|info| allows(&info.allowed_origins, origin)),
            Source::Store(store) => {
                match records::get::<EnvironmentRecord>(store, &access.project, &access.env).await {
                    Ok(Some(environment)) => allows(&environment.record.allowed_origins, origin),
                    _ => false,
                }
            }
        }
    }

    /// Whether a preflight (no key, so no environment) from `origin` is answered: when some
    /// environment served here allows it. `serve` reads its environments at most once per
    /// [`PREFLIGHT_ORIGINS_TTL`]; a store error answers as allowed (the real answer is still
    /// checked against the key's environment).
    pub(super) async fn preflight_allowed(&self, origin: &str) -> bool {
        let store = match &self.source {
            Source::Upstream(keys) => return keys.any_allows(origin),
            Source::Store(store) => store,
        };
        if let Ok(cached) = self.preflight_origins.lock()
            && let Some(cached) = cached.as_ref()
            && cached.at.elapsed() < PREFLIGHT_ORIGINS_TTL
        {
            return cached
                .origins
                .as_ref()
                .is_none_or(|o| allows_set(o, origin));
        }
        let origins = match store_origins(store).await {
            Ok(origins) => origins,
            Err(error) => {
                tracing::warn!(error = %error.message, "cannot read environments' origins");
                return true;
            }
        };
        let allowed = origins.as_ref().is_none_or(|o| allows_set(o, origin));
        if let Ok(mut cached) = self.preflight_origins.lock() {
            *cached = Some(PreflightOrigins {
                at: Instant::now(),
                origins,
            });
        }
        allowed
    }
}

fn allows_set(origins: &BTreeSet<String>, origin: &str) -> bool {
    origins.contains(&origin.to_ascii_lowercase())
}

/// Every environment's origins together (`None` as soon as one allows any).
async fn store_origins(store: &switchyard_store::Store) -> ApiResult<Option<BTreeSet<String>>> {
    let mut origins = BTreeSet::new();
    for project in records::list_readable::<ProjectRecord>(store, GLOBAL).await? {
        for environment in records::list_readable::<EnvironmentRecord>(store, &project.key).await? {
            let allowed = environment.record.allowed_origins;
            if allowed.is_empty() {
                return Ok(None);
            }
            origins.extend(allowed);
        }
    }
    Ok(Some(origins))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::access::sha256_hex;

    fn server() -> SdkAccess {
        SdkAccess {
            key_id: "srv".into(),
            project: "upstream".into(),
            env: "srv".into(),
            kind: SdkKeyKind::Server,
            events_token: String::new(),
        }
    }

    fn listing(ids: &[&str], origins: &[&str]) -> EnvironmentInfo {
        EnvironmentInfo {
            client_keys: ids
                .iter()
                .map(|id| ClientKeyHash {
                    id: (*id).to_owned(),
                    secret_sha256: sha256_hex(&format!("secret-of-{id}")),
                })
                .collect(),
            allowed_origins: origins.iter().map(|o| (*o).to_owned()).collect(),
        }
    }

    #[test]
    fn a_client_key_is_accepted_only_while_listed_and_with_its_secret() {
        let keys = UpstreamKeys::new(HashMap::from([("sys_srv_x".to_owned(), server())]));
        assert!(
            keys.authenticate("syc_c1_secret-of-c1").is_none(),
            "nothing listed yet"
        );
        assert_eq!(
            keys.authenticate("sys_srv_x").unwrap().kind,
            SdkKeyKind::Server
        );

        assert!(
            keys.install(&server(), listing(&["c1", "c2"], &[]))
                .is_empty()
        );
        let client = keys.authenticate("syc_c1_secret-of-c1").unwrap();
        assert_eq!(
            (client.kind, client.env.as_str()),
            (SdkKeyKind::Client, "srv")
        );
        assert_eq!(
            client.events_token,
            events_token(&sha256_hex("secret-of-c1"))
        );
        assert_eq!(keys.by_id("c1"), Some(client));
        assert!(
            keys.authenticate("syc_c1_secret-of-c2").is_none(),
            "another key's secret"
        );
        assert!(
            keys.authenticate("sys_c1_secret-of-c1").is_none(),
            "a server prefix"
        );

        let gone = keys.install(&server(), listing(&["c2"], &[]));
        assert_eq!(gone, ["c1"]);
        assert!(keys.authenticate("syc_c1_secret-of-c1").is_none());
        assert!(keys.by_id("c1").is_none());
        assert!(keys.authenticate("syc_c2_secret-of-c2").is_some());

        assert_eq!(keys.forget(&server()), ["c2"]);
        assert!(keys.authenticate("syc_c2_secret-of-c2").is_none());
    }

    #[test]
    fn a_client_key_is_asked_to_retry_only_until_its_lists_are_known() {
        let keys = UpstreamKeys::new(HashMap::from([("sys_srv_x".to_owned(), server())]));
        let waiting = keys.not_known_yet(true).unwrap();
        assert_eq!(waiting.code, Code::Unavailable);
        assert!(
            keys.not_known_yet(false).is_none(),
            "a server key is known at once"
        );
        keys.install(&server(), listing(&["c1"], &[]));
        assert!(
            keys.not_known_yet(true).is_none(),
            "known: an unknown key stays 401"
        );
        let refused = UpstreamKeys::new(HashMap::from([("sys_srv_x".to_owned(), server())]));
        refused.forget(&server());
        assert!(
            refused.not_known_yet(true).is_none(),
            "a refused server key decides"
        );
    }

    #[test]
    fn preflights_follow_the_relayed_origin_lists() {
        let keys = UpstreamKeys::new(HashMap::new());
        assert!(
            !keys.any_allows("https://app.example"),
            "nothing relayed yet"
        );
        keys.install(&server(), listing(&[], &["https://app.example"]));
        assert!(keys.any_allows("https://app.example"));
        assert!(keys.any_allows("https://APP.example"));
        assert!(!keys.any_allows("https://elsewhere.example"));
        keys.install(&server(), listing(&[], &[]));
        assert!(
            keys.any_allows("https://elsewhere.example"),
            "empty: any origin"
        );
    }

    #[test]
    fn entries_no_server_could_send_are_dropped() {
        let mut info = listing(&["ok"], &[]);
        info.client_keys.push(ClientKeyHash {
            id: "../etc".into(),
            secret_sha256: sha256_hex("x"),
        });
        info.client_keys.push(ClientKeyHash {
            id: "short".into(),
            secret_sha256: "abc".into(),
        });
        let kept: Vec<String> = info
            .sanitized()
            .client_keys
            .into_iter()
            .map(|k| k.id)
            .collect();
        assert_eq!(kept, ["ok"]);
    }
}
