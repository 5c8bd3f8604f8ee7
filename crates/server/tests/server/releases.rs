//! Guarded releases end to end: an application using the Rust SDK serves simulated traffic
//! through a release; when the treated cohort's error rate jumps 5×, the release rolls back by
//! itself and the SDK serves the old variation again. Also: automatic ramping to completion,
//! the manual controls, time windows, the kill switch through a trigger URL, and signed
//! webhooks.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::PROD;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchyard_sdk::{Client, Context, EventsConfig};
use switchyard_testkit::server::{GuardConfig, SdkKeyKind, TestServer, wait_for};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Mutex;

switchyard_testkit::backend_tests! {
    sqlite: [
        a_regression_rolls_back_by_itself,
        ramps_controls_windows_and_the_kill_switch,
    ],
    postgres: [
        a_regression_rolls_back_by_itself,
        ramps_controls_windows_and_the_kill_switch,
    ],
}

async fn start(url: &str) -> TestServer {
    let guard = GuardConfig {
        interval: Duration::from_millis(200),
    };
    let server = TestServer::in_process(url).guard(guard).start().await;
    server.seed_delivery_flags().await;
    server
}

async fn status(server: &TestServer, id: &str) -> Value {
    server.admin_get(&format!("{PROD}/releases/{id}")).await
}

fn user(i: u64) -> Context {
    Context::from_json(&json!({"key": format!("user-{i}")})).unwrap()
}

/// Simulated traffic: users evaluate the flag and report an error with a probability that
/// depends on what they were served; `regressed` makes the new variation's rate 5×.
struct Traffic {
    stop: AtomicBool,
    regressed: AtomicBool,
    evaluations: AtomicU64,
}

const BASE_ERROR_RATE: f64 = 0.02;

fn drive(
    client: Arc<Client>,
    flag: &'static str,
    traffic: Arc<Traffic>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut seed: u64 = 0x5eed;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut i = 0u64;
        while !traffic.stop.load(Ordering::Relaxed) {
            for _ in 0..50 {
                let context = user(i % 3000);
                i += 1;
                let treated = client.bool_value(flag, &context, false);
                let rate = if treated && traffic.regressed.load(Ordering::Relaxed) {
                    5.0 * BASE_ERROR_RATE
                } else {
                    BASE_ERROR_RATE
                };
                if next() < rate {
                    client.track("error", &context, 1.0);
                }
            }
            traffic.evaluations.fetch_add(50, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
}

async fn a_regression_rolls_back_by_itself(url: String) {
    let server = start(&url).await;
    server.boolean_flag_serving_off("new-checkout").await;
    server
        .admin_post(
            &format!("{PROD}/segments"),
            json!({"key": "staff", "included": [{"kind": "user", "values": ["alice"]}]}),
        )
        .await;
    let hooks = Receiver::start().await;
    server
        .admin_post(
            "/api/v1/projects/default/webhooks",
            json!({"url": hooks.url, "secret": "s3cret", "events": ["release.*"]}),
        )
        .await;

    // Bad input is refused whole.
    let releases = format!("{PROD}/releases");
    let try_start = |body: Value| {
        let admin = Some(server.admin.as_str());
        server.call(admin, Method::POST, &releases, Some(body))
    };
    let (code, body) = try_start(json!({"flag": "new-checkout", "variation": "maybe"})).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "variation");

    let started = server
        .admin_post(
            &releases,
            json!({
                "flag": "new-checkout", "variation": "on", "audience": "staff",
                "stages": [{"percent": 20, "min_bake_s": 3600}],
                "guardrails": [{"metric": "error", "kind": "bad_events"}],
            }),
        )
        .await;
    let id = started["id"].as_str().unwrap().to_owned();
    assert_eq!(started["state"], "running");
    let (code, body) = try_start(json!({"flag": "new-checkout", "variation": "on"})).await;
    assert_eq!(
        code,
        StatusCode::CONFLICT,
        "one active release per flag: {body}"
    );

    let key = server.sdk_key(SdkKeyKind::Server).await;
    let client = Arc::new(
        Client::builder(&server.base, &key)
            .events(EventsConfig {
                flush_interval: Duration::from_millis(100),
                ..EventsConfig::default()
            })
            .build()
            .await,
    );
    let alice = Context::from_json(&json!({"key": "alice"})).unwrap();
    wait_for("the release layer to reach the SDK", 10, || async {
        client
            .bool_value("new-checkout", &alice, false)
            .then_some(())
    })
    .await;
    let treated: Vec<u64> = (0..3000)
        .filter(|i| client.bool_value("new-checkout", &user(*i), false))
        .collect();
    // 20 % of 3000 is 600; the binomial standard deviation is about 22.
    assert!((480..720).contains(&treated.len()), "{}", treated.len());

    // A/A: the same error rate on both sides for 60+ treated bad events: no roll back.
    let traffic = Arc::new(Traffic {
        stop: AtomicBool::new(false),
        regressed: AtomicBool::new(false),
        evaluations: AtomicU64::new(0),
    });
    let driver = drive(client.clone(), "new-checkout", traffic.clone());
    let quiet = wait_for("60 treated bad events under A/A", 60, || async {
        let s = status(&server, &id).await;
        let errors = &s["assessment"]["guardrails"][0];
        (errors["treated"].as_i64().unwrap_or(0) >= 60).then_some(s)
    })
    .await;
    assert_eq!(quiet["state"], "running", "{quiet}");
    let evidence = &quiet["assessment"]["guardrails"][0];
    println!(
        "A/A: {} treated / {} control bad events, ln E {} (threshold {})",
        evidence["treated"], evidence["control"], evidence["ln_e_total"], evidence["threshold"]
    );
    let rho = quiet["assessment"]["rho"].as_f64().unwrap();
    assert!((0.15..0.25).contains(&rho), "observed treated share {rho}");

    // The regression: treated users now fail 5× as often.
    let onset = Instant::now();
    traffic.regressed.store(true, Ordering::Relaxed);
    let rolled_back = wait_for("the automatic roll back", 60, || async {
        let s = status(&server, &id).await;
        (s["state"] != "running").then_some(s)
    })
    .await;
    let decided = onset.elapsed();
    assert_eq!(rolled_back["state"], "rolled_back", "{rolled_back}");
    wait_for("the SDK to serve the old variation", 10, || async {
        let back = treated
            .iter()
            .all(|i| !client.bool_value("new-checkout", &user(*i), true));
        back.then_some(())
    })
    .await;
    println!(
        "5× regression: rolled back {:?} after onset, served to the SDK {:?} after onset \
         ({} evaluations in all)",
        decided,
        onset.elapsed(),
        traffic.evaluations.load(Ordering::Relaxed)
    );
    traffic.stop.store(true, Ordering::Relaxed);
    driver.await.unwrap();
    assert!(
        !client.bool_value("new-checkout", &alice, true),
        "the audience too"
    );

    // Exactly the serving from before the release.
    let targeting = server
        .admin_get(&format!("{PROD}/flags/new-checkout"))
        .await;
    assert_eq!(targeting["fallthrough"], json!({"variation": 1}));

    // The decision is audited by the release itself, with its evidence.
    let audit = server
        .admin_get(&format!(
            "/api/v1/audit?resource=proj/default:env/production:release/{id}"
        ))
        .await;
    let records = audit["records"].as_array().unwrap();
    let decision = records
        .iter()
        .find(|r| r["action"] == "release:roll_back")
        .unwrap_or_else(|| panic!("no roll back record in {audit}"));
    assert_eq!(decision["actor"], json!({"kind": "release", "id": id}));
    let evidence = &decision["after"]["evidence"]["guardrails"][0];
    assert!(
        evidence["ln_e_total"].as_f64().unwrap() >= evidence["threshold"].as_f64().unwrap(),
        "{decision}"
    );
    assert!(evidence["treated"].as_i64().unwrap() > 0);
    assert!(records.iter().any(|r| r["action"] == "release:create"));

    // Webhooks: the start and the roll back, each correctly signed.
    let received = wait_for("the roll back webhook", 10, || async {
        let got = hooks.received.lock().await.clone();
        got.iter()
            .any(|(event, _, _)| event == "release.rolled_back")
            .then_some(got)
    })
    .await;
    for (event, signature, body) in &received {
        let t: i64 = signature
            .strip_prefix("t=")
            .and_then(|s| s.split(',').next())
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            signature,
            &switchyard_server::releases::webhooks::signature("s3cret", t, body.as_bytes()),
            "{event}"
        );
        let payload: Value = serde_json::from_str(body).unwrap();
        assert_eq!(payload["type"], event.as_str());
        assert_eq!(payload["release"], id.as_str());
    }
    assert!(received.iter().any(|(e, _, _)| e == "release.started"));
    client.close().await;
    server.stop().await;
}

async fn ramps_controls_windows_and_the_kill_switch(url: String) {
    let server = start(&url).await;
    let releases = format!("{PROD}/releases");

    // No traffic, no guardrails, no bake: the guard ramps through both stages and completes.
    server.boolean_flag_serving_off("search-v2").await;
    let ramp = server
        .admin_post(
            &releases,
            json!({"flag": "search-v2", "variation": "on",
                        "stages": [{"percent": 5}, {"percent": 50}]}),
        )
        .await;
    let id = ramp["id"].as_str().unwrap().to_owned();
    let done = wait_for("the ramp to complete", 20, || async {
        let s = status(&server, &id).await;
        (s["state"] == "completed").then_some(s)
    })
    .await;
    let events: Vec<&str> = done["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        ["release:create", "release:advance", "release:complete"]
    );
    let targeting = server.admin_get(&format!("{PROD}/flags/search-v2")).await;
    assert_eq!(
        targeting["fallthrough"],
        json!({"variation": 0}),
        "everyone gets `on`"
    );

    // Outside its time window a release waits, scheduled, and changes nothing.
    server.boolean_flag_serving_off("later").await;
    let closed = {
        let now_minute = (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            / 60)
            % (24 * 60);
        let start = (now_minute + 12 * 60) % (24 * 60);
        let hhmm = |m: u64| format!("{:02}:{:02}", m / 60, m % 60);
        json!([{"start": hhmm(start), "end": hhmm((start + 1) % (24 * 60))}])
    };
    let waiting = server
        .admin_post(
            &releases,
            json!({"flag": "later", "variation": "on", "windows": closed,
                        "stages": [{"percent": 10}]}),
        )
        .await;
    assert_eq!(waiting["state"], "scheduled", "{waiting}");
    let waiting_id = waiting["id"].as_str().unwrap();
    // A witness release, created after it, completes only after the guard has made passes over
    // every release: by then the closed window has been looked at and kept closed.
    server.boolean_flag_serving_off("witness").await;
    let witness = server
        .admin_post(
            &releases,
            json!({"flag": "witness", "variation": "on", "stages": [{"percent": 10}]}),
        )
        .await;
    let witness_id = witness["id"].as_str().unwrap().to_owned();
    wait_for("the witness release to complete", 20, || async {
        (status(&server, &witness_id).await["state"] == "completed").then_some(())
    })
    .await;
    assert_eq!(status(&server, waiting_id).await["state"], "scheduled");
    let (code, _) = server
        .call(
            Some(&server.admin),
            Method::POST,
            &format!("{releases}/{waiting_id}/advance"),
            None,
        )
        .await;
    assert_eq!(
        code,
        StatusCode::CONFLICT,
        "a scheduled release cannot advance"
    );
    server
        .admin(
            Method::POST,
            &format!("{releases}/{waiting_id}/abort"),
            None,
        )
        .await;
    let targeting = server.admin_get(&format!("{PROD}/flags/later")).await;
    assert_eq!(targeting["fallthrough"], json!({"variation": 1}));

    // Pause, resume, advance by hand; then the kill switch through a trigger URL.
    server.boolean_flag_serving_off("payments").await;
    let manual = server
        .admin_post(
            &releases,
            json!({"flag": "payments", "variation": "on",
                        "stages": [{"percent": 10, "min_bake_s": 3600},
                                   {"percent": 30, "min_bake_s": 3600}]}),
        )
        .await;
    let id = manual["id"].as_str().unwrap().to_owned();
    let paused = server
        .admin_post(
            &format!("{releases}/{id}/pause"),
            json!({"comment": "waiting for the on-call"}),
        )
        .await;
    assert_eq!(paused["state"], "holding");
    assert!(
        paused["hold"]["rolls_back_at_ms"].is_null(),
        "a person's pause has no timeout"
    );
    let resumed = server
        .admin(Method::POST, &format!("{releases}/{id}/resume"), None)
        .await;
    assert_eq!(resumed["state"], "running");
    let advanced = server
        .admin(Method::POST, &format!("{releases}/{id}/advance"), None)
        .await;
    assert_eq!(
        (advanced["state"].clone(), advanced["stage"].clone()),
        (json!("running"), json!(1))
    );
    let layer =
        &server.admin_get(&format!("{PROD}/flags/payments")).await["fallthrough"]["release"];
    assert_eq!(
        (layer["weight"].clone(), layer["stage"].clone()),
        (json!(30000), json!(format!("{id}.1")))
    );

    let key = server.sdk_key(SdkKeyKind::Server).await;
    let client = Client::builder(&server.base, &key).build().await;
    let treated = wait_for("a treated user", 10, || async {
        (0..200).find(|i| client.bool_value("payments", &user(*i), false))
    })
    .await;
    let trigger = server
        .admin_post(
            &format!("{PROD}/flags/payments/triggers"),
            json!({"description": "pager: payments error budget"}),
        )
        .await;
    let url = trigger["url"].as_str().unwrap();
    let (code, _) = server
        .call(None, Method::POST, &format!("{url}x"), None)
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND, "a wrong secret does nothing");
    let (code, killed) = server.call(None, Method::POST, url, None).await;
    assert_eq!(code, StatusCode::OK, "{killed}");
    assert_eq!(killed["aborted_releases"], json!([id]));
    let after = status(&server, &id).await;
    assert_eq!(after["state"], "aborted");
    let targeting = server.admin_get(&format!("{PROD}/flags/payments")).await;
    assert_eq!(targeting["on"], false);
    assert_eq!(
        targeting["fallthrough"],
        json!({"variation": 1}),
        "the layer is gone"
    );
    wait_for("the kill to reach the SDK", 10, || async {
        (!client.bool_value("payments", &user(treated), true)).then_some(())
    })
    .await;
    // The API's kill is the same operation.
    let killed = server
        .admin(Method::POST, &format!("{PROD}/flags/checkout/kill"), None)
        .await;
    assert_eq!(killed["aborted_releases"], json!([]));
    client.close().await;
    server.stop().await;
}

/// A webhook receiver: answers 500 to the first delivery (so retries are exercised), then 200;
/// keeps (event, signature, body) of every delivery it accepted.
struct Receiver {
    url: String,
    received: Arc<Mutex<Vec<(String, String, String)>>>,
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let kept = received.clone();
        tokio::spawn(async move {
            let mut first = true;
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let mut data = Vec::new();
                let mut buf = [0u8; 4096];
                let (head, body) = loop {
                    let n = socket.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        break (String::new(), String::new());
                    }
                    data.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&data).to_string();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let length = header(head, "content-length")
                            .and_then(|l| l.parse::<usize>().ok())
                            .unwrap_or(0);
                        if body.len() >= length {
                            break (head.to_owned(), body.to_owned());
                        }
                    }
                };
                let status = if first {
                    "500 Internal Server Error"
                } else {
                    "200 OK"
                };
                if !first {
                    kept.lock().await.push((
                        header(&head, "x-switchyard-event").unwrap_or_default(),
                        header(&head, "x-switchyard-signature").unwrap_or_default(),
                        body,
                    ));
                }
                first = false;
                let reply =
                    format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                let _ = socket.write_all(reply.as_bytes()).await;
            }
        });
        Receiver { url, received }
    }
}

fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.trim().to_owned())
    })
}
