//! The test harness shared by the HTTP test binaries: a real server in-process on port 0.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use reqwest::{Method, StatusCode};
use serde_json::Value;
use switchyard_server::delivery::DeliveryConfig;
use switchyard_server::releases::GuardConfig;
use switchyard_server::{AppState, bootstrap};
use switchyard_store::Store;
use tokio::sync::oneshot;

pub struct Server {
    pub base: String,
    pub admin: String,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// Starts a server on `url`; the first one on a database bootstraps it (`admin` is then
    /// the admin token; a second replica is given it).
    pub async fn start(url: &str, admin: Option<&str>) -> Server {
        Server::start_with(url, admin, DeliveryConfig::default()).await
    }

    pub async fn start_with(url: &str, admin: Option<&str>, delivery: DeliveryConfig) -> Server {
        Server::start_full(url, admin, delivery, GuardConfig::default()).await
    }

    pub async fn start_full(
        url: &str,
        admin: Option<&str>,
        delivery: DeliveryConfig,
        guard: GuardConfig,
    ) -> Server {
        let store = Store::open(url).await.unwrap();
        let admin = match admin {
            Some(token) => token.to_owned(),
            None => {
                bootstrap(&store)
                    .await
                    .unwrap()
                    .expect("fresh database")
                    .token
            }
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(switchyard_server::serve(
            listener,
            AppState::with_config(store, delivery, guard),
            async {
                let _ = stopped.await;
            },
        ));
        Server {
            base,
            admin,
            http: reqwest::Client::new(),
            stop: Some(stop),
            task,
        }
    }

    pub async fn call(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call_with(token, method, path, body, &[]).await
    }

    pub async fn call_with(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, String)],
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, body) = self
            .call(Some(&self.admin.clone()), method.clone(), path, body)
            .await;
        assert!(status.is_success(), "{method} {path}: {status} {body}");
        body
    }

    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap().unwrap();
    }
}

pub const PROD: &str = "/api/v1/projects/default/environments/production";

/// A new SDK key (`server` or `client`) for production.
pub async fn sdk_key(server: &Server, kind: &str) -> String {
    let created = server
        .admin(
            Method::POST,
            &format!("{PROD}/sdk-keys"),
            Some(serde_json::json!({"kind": kind})),
        )
        .await;
    created["key"].as_str().unwrap().to_owned()
}

/// The flags of `testdata/delivery-flags.json`: boolean `checkout` (on, client-visible),
/// string `banner` (a rule for Germany), number `limit` (split 50/50), object `theme` (off).
pub async fn seed(server: &Server) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/delivery-flags.json"
    );
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for flag in fixture["flags"].as_array().unwrap() {
        server
            .admin(
                Method::POST,
                "/api/v1/projects/default/flags",
                Some(flag.clone()),
            )
            .await;
    }
    for (flag, body) in fixture["production"].as_object().unwrap() {
        let path = format!("{PROD}/flags/{flag}");
        let current = server.admin(Method::GET, &path, None).await;
        let mut body = body.clone();
        body["version"] = current["version"].clone();
        server.admin(Method::PUT, &path, Some(body)).await;
    }
}
