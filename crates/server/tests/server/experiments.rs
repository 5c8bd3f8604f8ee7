//! Experiments as documents (`docs/experiments.md`, "Running an experiment"): metrics defined
//! once per project, refused by the field they get wrong; an experiment's plan refused likewise;
//! start writes the experiment rollout, which the engine splits as planned and reports
//! `in_experiment` for; one release or experiment per rule; stop restores the previous serving
//! exactly; ship serves the winner, audited; a change of the pre-registered plan starts a new
//! phase. Approvals: `experiments/governance.rs`.

mod governance;
mod retention;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchyard_engine::eval::Env;
use switchyard_engine::{Context, Snapshot};
use switchyard_server::records::EnvData;
use switchyard_testkit::server::TestServer;

use crate::PROD;

switchyard_testkit::backend_tests! {
    sqlite: [
        metrics_refuse_each_bad_input_by_field,
        an_experiment_plan_is_refused_by_the_field_it_gets_wrong,
        start_splits_the_traffic_stop_restores_and_ship_serves_the_winner,
    ],
    postgres: [start_splits_the_traffic_stop_restores_and_ship_serves_the_winner],
}

pub(crate) const METRICS: &str = "/api/v1/projects/default/metrics";
pub(crate) const EXPERIMENTS: &str = "/api/v1/projects/default/environments/production/experiments";

/// The `layout` flag (variations a, b, c), on in production: rule `de` (country DE) serves c,
/// everyone else a.
pub(crate) async fn layout_flag(server: &TestServer) {
    server
        .admin_post(
            "/api/v1/projects/default/flags",
            json!({"key": "layout", "kind": "string", "off_variation": "a", "variations": [
                {"key": "a", "value": "classic"}, {"key": "b", "value": "wide"},
                {"key": "c", "value": "compact"}]}),
        )
        .await;
    let targeting = json!({"version": 0, "on": true, "off_variation": 0,
        "rules": [{"id": "de", "condition": {"attribute": "country", "op": "in", "values": ["DE"]},
                   "serve": {"variation": 2}}],
        "fallthrough": {"variation": 0}});
    server
        .admin(
            Method::PUT,
            &format!("{PROD}/flags/layout"),
            Some(targeting),
        )
        .await;
}

pub(crate) async fn conversion_metric(server: &TestServer) {
    let metric = json!({"key": "conversion", "event": "purchase", "kind": "proportion",
                        "direction": "increase_is_good", "mde": 0.02});
    server.admin_post(METRICS, metric).await;
}

/// A plan comparing a (control) and b on the fallthrough, 60/40, with 40 % of the traffic.
pub(crate) fn plan() -> Value {
    json!({"flag": "layout", "name": "wide layout", "hypothesis": "wider pages sell more",
           "variations": ["a", "b"], "control": "a", "weights": [60, 40],
           "traffic_percent": 40, "primary_metric": "conversion"})
}

/// `body` with `field` set to `value`.
fn with(body: &Value, field: &str, value: Value) -> Value {
    let mut body = body.clone();
    body[field] = value;
    body
}

/// The status and the field an error names.
async fn refused(server: &TestServer, method: Method, path: &str, body: Value) -> (u16, Value) {
    let (status, answer) = server
        .call(Some(&server.admin), method, path, Some(body))
        .await;
    (status.as_u16(), answer["error"]["field"].clone())
}

async fn metrics_refuse_each_bad_input_by_field(url: String) {
    let server = TestServer::in_process(&url).start().await;
    let good = json!({"key": "revenue", "name": "Revenue per order", "event": "purchase",
                      "kind": "ratio", "denominator_event": "order", "direction": "increase_is_good",
                      "mde": 0.05});
    let bad = [
        (with(&good, "kind", json!("median")), "kind"),
        (
            json!({"key": "revenue", "event": "purchase", "kind": "ratio",
                   "direction": "increase_is_good", "mde": 0.05}),
            "denominator_event",
        ),
        (with(&good, "mde", json!(0)), "mde"),
        (with(&good, "mde", json!(-0.1)), "mde"),
        (with(&good, "window_hours", json!(0)), "window_hours"),
        (with(&good, "direction", json!("up")), "direction"),
        (with(&good, "colour", json!("red")), "colour"),
        (with(&good, "key", json!("no spaces")), "key"),
    ];
    for (body, field) in bad {
        let answer = refused(&server, Method::POST, METRICS, body.clone()).await;
        assert_eq!(answer, (422, json!(field)), "{body}");
    }
    let created = server.admin_post(METRICS, good.clone()).await;
    assert_eq!(
        (created["version"].clone(), created["window_hours"].clone()),
        (json!(1), json!(72))
    );
    let (status, _) = server
        .call(
            Some(&server.admin),
            Method::POST,
            METRICS,
            Some(good.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "the key is taken");
    let one = format!("{METRICS}/revenue");
    let stale = with(&with(&good, "mde", json!(0.1)), "version", json!(7));
    assert_eq!(
        refused(&server, Method::PUT, &one, stale).await,
        (409, json!("version"))
    );
    let update = with(&with(&good, "mde", json!(0.1)), "version", json!(1));
    let updated = server.admin(Method::PUT, &one, Some(update)).await;
    assert_eq!(
        (updated["mde"].clone(), updated["version"].clone()),
        (json!(0.1), json!(2))
    );
    let listed = server.admin_get(METRICS).await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(server.admin_get(&one).await["mde"], 0.1);
    server.admin(Method::DELETE, &one, None).await;
    let (status, _) = server
        .call(Some(&server.admin), Method::GET, &one, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn an_experiment_plan_is_refused_by_the_field_it_gets_wrong(url: String) {
    let server = TestServer::in_process(&url).start().await;
    server.seed_delivery_flags().await;
    layout_flag(&server).await;
    conversion_metric(&server).await;
    let bad = [
        (with(&plan(), "control", json!("c")), 422, "control"),
        (
            with(&plan(), "traffic_percent", json!(120)),
            422,
            "traffic_percent",
        ),
        (
            with(&plan(), "traffic_percent", json!(0)),
            422,
            "traffic_percent",
        ),
        (
            with(&plan(), "primary_metric", json!("revenue")),
            422,
            "primary_metric",
        ),
        (
            with(&plan(), "variations", json!(["a", "z"])),
            422,
            "variations[1]",
        ),
        (with(&plan(), "weights", json!([50, 40])), 422, "weights"),
        (with(&plan(), "method", json!("frequentist")), 422, "method"),
        (with(&plan(), "colour", json!("red")), 422, "colour"),
        (with(&plan(), "rule", json!("nope")), 422, "rule"),
        // `theme` is off in production; `limit` serves a 50/50 rollout.
        (
            json!({"flag": "theme", "name": "t", "variations": ["dark", "light"],
                   "control": "dark", "traffic_percent": 10, "primary_metric": "conversion"}),
            422,
            "flag",
        ),
        (
            json!({"flag": "limit", "name": "l", "variations": ["low", "high"],
                   "control": "low", "traffic_percent": 10, "primary_metric": "conversion"}),
            422,
            "rule",
        ),
    ];
    for (body, status, field) in bad {
        let answer = refused(&server, Method::POST, EXPERIMENTS, body.clone()).await;
        assert_eq!(answer, (status, json!(field)), "{body}");
    }
    let off = json!({"flag": "theme", "name": "t", "variations": ["dark", "light"],
                     "control": "dark", "traffic_percent": 10, "primary_metric": "conversion"});
    let (_, answer) = server
        .call(Some(&server.admin), Method::POST, EXPERIMENTS, Some(off))
        .await;
    assert_eq!(
        answer["error"]["message"],
        "the flag is off in production: turn it on first"
    );
    let created = server.admin_post(EXPERIMENTS, plan()).await;
    assert_eq!(created["state"], "draft");
    assert_eq!(created["phase"], 1);
    let id = created["id"].as_str().unwrap();
    assert_eq!(created["seed"], format!("experiment-{id}"));
    assert_eq!(
        (created["method"].clone(), created["alpha"].clone()),
        (json!("fixed_horizon"), json!(0.05))
    );
    assert_eq!(
        (
            created["cuped"].clone(),
            created["pre_period_hours"].clone()
        ),
        (json!(true), json!(168))
    );
    let listed = server.admin_get(EXPERIMENTS).await;
    assert_eq!(listed[0]["id"], id);
    // A draft is edited freely (with its version); nothing is served yet.
    let edit = with(
        &with(&plan(), "traffic_percent", json!(20)),
        "version",
        json!(1),
    );
    let edited = server
        .admin(Method::PUT, &format!("{EXPERIMENTS}/{id}"), Some(edit))
        .await;
    assert_eq!(
        (edited["traffic_percent"].clone(), edited["phase"].clone()),
        (json!(20.0), json!(1))
    );
    let targeting = server.admin_get(&format!("{PROD}/flags/layout")).await;
    assert_eq!(targeting["fallthrough"], json!({"variation": 0}));
}

/// Contexts `split` evaluates. The experiment's seed is its random id, so the shares vary by
/// run: at 20,000 the ±3 points the test allows are ~9 standard errors (at 2,000 they were
/// ~2.7, and one CI run in a few hundred fell outside).
const SPLIT_CONTEXTS: u32 = 20_000;

/// How [`SPLIT_CONTEXTS`] users who are not in Germany are served `layout` now, evaluated by the
/// engine on the environment's data: per variation key, how many, and how many of those in the
/// experiment.
async fn split(server: &TestServer) -> Vec<(String, u32, u32)> {
    let store = &server.state().unwrap().store;
    let data = EnvData::load(store, "default", "production").await.unwrap();
    let snapshot = Snapshot::compile(&data.dataset());
    let env = Env {
        now_ms: 0,
        random: 0,
    };
    let mut counts: Vec<(String, u32, u32)> = ["a", "b", "c"]
        .iter()
        .map(|k| (k.to_string(), 0, 0))
        .collect();
    for i in 0..SPLIT_CONTEXTS {
        let context = Context::from_json(&json!({"key": format!("user-{i}"), "country": "FR"}));
        let evaluation = snapshot.evaluate("layout", &context.unwrap(), &env);
        let index = evaluation.variation_index.unwrap();
        counts[index].1 += 1;
        if evaluation.reason.rollout().is_some_and(|r| r.in_experiment) {
            counts[index].2 += 1;
        }
    }
    counts
}

async fn start_splits_the_traffic_stop_restores_and_ship_serves_the_winner(url: String) {
    let server = TestServer::in_process(&url).start().await;
    layout_flag(&server).await;
    conversion_metric(&server).await;
    let before = server.admin_get(&format!("{PROD}/flags/layout")).await;
    let id = server.admin_post(EXPERIMENTS, plan()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let one = format!("{EXPERIMENTS}/{id}");
    let started = server.admin_post(&format!("{one}/start"), json!({})).await;
    assert_eq!(started["state"], "running", "{started}");
    assert_eq!(
        started["metrics"][0]["key"], "conversion",
        "the plan's snapshot"
    );
    assert_eq!(started["previous"], json!({"variation": 0}));

    // 40 % of the traffic in the experiment, split 60/40 (24 % and 16 % of everyone); the
    // rest keep a, untracked. The slices exactly, then what the engine makes of them.
    let during = server.admin_get(&format!("{PROD}/flags/layout")).await;
    let rollout = &during["fallthrough"]["rollout"];
    assert_eq!(
        rollout["variations"],
        json!([{"variation": 0, "weight": 24000}, {"variation": 1, "weight": 16000},
               {"variation": 0, "weight": 60000, "untracked": true}]),
        "{rollout}"
    );
    assert_eq!(rollout["seed"], format!("experiment-{id}"));
    let counts = split(&server).await;
    let tracked: u32 = counts.iter().map(|c| c.2).sum();
    let percent = |n: u32| f64::from(n) / f64::from(SPLIT_CONTEXTS) * 100.0;
    assert!((percent(tracked) - 40.0).abs() <= 3.0, "{counts:?}");
    assert!((percent(counts[0].2) - 24.0).abs() <= 3.0, "{counts:?}");
    assert!((percent(counts[1].2) - 16.0).abs() <= 3.0, "{counts:?}");
    assert_eq!(
        counts[1].1, counts[1].2,
        "b is served only in the experiment: {counts:?}"
    );
    assert_eq!(counts[2].1, 0, "{counts:?}");
    assert_eq!(counts[0].1 + counts[1].1, SPLIT_CONTEXTS);
    // Germany's rule is untouched.
    assert_eq!(during["rules"], before["rules"]);

    // One release or experiment per rule, both ways.
    let releases = format!("{PROD}/releases");
    let release = json!({"flag": "layout", "variation": "b", "stages": [{"percent": 10}]});
    let answer = refused(&server, Method::POST, &releases, release).await;
    assert_eq!(answer, (409, json!("rule")));
    let second = refused(&server, Method::POST, EXPERIMENTS, plan()).await;
    assert_eq!(second, (409, json!("rule")));
    let on_rule = json!({"flag": "layout", "rule": "de", "variation": "a",
                         "stages": [{"percent": 10, "min_bake_s": 3600}]});
    let release = server.admin_post(&releases, on_rule).await;
    let on_de = with(&plan(), "rule", json!("de"));
    assert_eq!(
        refused(&server, Method::POST, EXPERIMENTS, on_de).await,
        (409, json!("rule"))
    );
    let abort = format!("{releases}/{}/abort", release["id"].as_str().unwrap());
    server.admin_post(&abort, json!({})).await;

    // A metric a running experiment uses stays.
    let metric = format!("{METRICS}/conversion");
    let (status, _) = server
        .call(Some(&server.admin), Method::DELETE, &metric, None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // While running: the serving cannot change; a change of the pre-registered analysis
    // starts phase 2.
    let version = server.admin_get(&one).await["version"].clone();
    let traffic = with(
        &with(&plan(), "traffic_percent", json!(50)),
        "version",
        version.clone(),
    );
    assert_eq!(
        refused(&server, Method::PUT, &one, traffic).await,
        (409, json!("traffic_percent"))
    );
    let sequential = with(
        &with(&plan(), "method", json!("sequential")),
        "version",
        version,
    );
    let phase2 = server.admin(Method::PUT, &one, Some(sequential)).await;
    assert_eq!(
        (phase2["phase"].clone(), phase2["method"].clone()),
        (json!(2), json!("sequential"))
    );
    assert!(phase2["started_ms"].as_i64() >= started["started_ms"].as_i64());
    assert_eq!(
        phase2["history"].as_array().unwrap().last().unwrap()["event"],
        "new_phase"
    );
    let renamed = with(
        &with(&plan(), "method", json!("sequential")),
        "version",
        phase2["version"].clone(),
    );
    let renamed = with(&renamed, "name", json!("wider layout"));
    assert_eq!(
        server.admin(Method::PUT, &one, Some(renamed)).await["phase"],
        2
    );

    // Stop puts back exactly what was served before.
    let stopped = server.admin_post(&format!("{one}/stop"), json!({})).await;
    assert_eq!(stopped["state"], "stopped");
    let after = server.admin_get(&format!("{PROD}/flags/layout")).await;
    for part in [
        "on",
        "rules",
        "fallthrough",
        "targets",
        "prerequisites",
        "off_variation",
    ] {
        assert_eq!(after[part], before[part], "{part}");
    }
    let (status, _) = server
        .call(
            Some(&server.admin),
            Method::POST,
            &format!("{one}/start"),
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a stopped experiment does not start again"
    );

    // Ship: the winner is served to everyone on the fallthrough, audited.
    let id = server.admin_post(EXPERIMENTS, plan()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let one = format!("{EXPERIMENTS}/{id}");
    server.admin_post(&format!("{one}/start"), json!({})).await;
    let ship = format!("{one}/ship");
    let wrong = refused(&server, Method::POST, &ship, json!({"variation": "c"})).await;
    assert_eq!(wrong, (422, json!("variation")));
    let shipped = server
        .admin_post(&ship, json!({"variation": "b", "comment": "b wins"}))
        .await;
    assert_eq!(
        (
            shipped["state"].clone(),
            shipped["shipped_variation"].clone()
        ),
        (json!("shipped"), json!("b"))
    );
    let served = server.admin_get(&format!("{PROD}/flags/layout")).await;
    assert_eq!(served["fallthrough"], json!({"variation": 1}));
    assert_eq!(served["rules"], before["rules"]);
    let counts = split(&server).await;
    assert_eq!(
        (counts[1].1, counts[1].2),
        (SPLIT_CONTEXTS, 0),
        "{counts:?}"
    );
    let resource = format!("proj/default:env/production:experiment/{id}");
    let audit = server
        .admin_get(&format!("/api/v1/audit?resource={resource}"))
        .await;
    let last = &audit["records"][0];
    assert_eq!(last["action"], "experiment:ship");
    assert_eq!(
        last["comment"],
        format!("shipped b from experiment {id} (b wins)")
    );
    // Now the metric can go.
    server.admin(Method::DELETE, &metric, None).await;
}
