//! Paging (`docs/api.md`, "Paging"): `limit` and `cursor` on the flag and segment lists reach
//! every item exactly once with the filters applied, and an unpaged list answers as before; the
//! audit log's filters page by `before` over the whole log (SQLite and PostgreSQL: the filters
//! run in the database) and name the people behind tokens.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{Value, json};
use switchyard_store::{AuditRecord, Expected, Write};
use switchyard_testkit::server::TestServer;

use crate::PROD;

const FLAGS: &str = "/api/v1/projects/default/flags";

/// `GET path` as `token`: the status, the `x-next-cursor` and `x-total-count` headers, the body.
async fn get_paged(
    server: &TestServer,
    token: &str,
    path: &str,
) -> (StatusCode, Option<String>, Option<usize>, Value) {
    let response = reqwest::Client::new()
        .get(format!("{}{path}", server.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let next = header("x-next-cursor");
    let total = header("x-total-count").map(|t| t.parse().unwrap());
    let status = response.status();
    (status, next, total, response.json().await.unwrap())
}

/// Every page of `path` (which has a query string) at `limit`: each page's items, checking the
/// headers of each.
async fn all_pages(server: &TestServer, path: &str, limit: usize, total: usize) -> Vec<Vec<Value>> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{path}&limit={limit}");
        if let Some(cursor) = &cursor {
            url.push_str(&format!("&cursor={cursor}"));
        }
        let (status, next, count, body) = get_paged(server, &server.admin, &url).await;
        assert_eq!(status, StatusCode::OK, "{url}: {body}");
        assert_eq!(count, Some(total), "{url}: x-total-count");
        let items = body.as_array().unwrap().clone();
        assert!(items.len() <= limit, "{url}: {} items", items.len());
        pages.push(items);
        assert!(
            pages.len() <= total / limit + 2,
            "{url}: paging does not end"
        );
        match next {
            Some(next) => cursor = Some(next),
            None => return pages,
        }
    }
}

/// Copies of the stored document `key` of `kind` in `scope` as keys `keys` (tags: `tag` on every
/// tenth), written in one commit behind the API's back so thousands take a moment.
async fn clone_documents(server: &TestServer, kind: &str, scope: &str, key: &str, keys: &[String]) {
    let store = server.state().unwrap().store.clone();
    let template = store.get(kind, scope, key).await.unwrap().unwrap().body;
    let writes: Vec<Write> = keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let mut body = template.clone();
            body["key"] = json!(key);
            if kind == "flag" && i % 10 == 0 {
                body["tags"] = json!(["tenth"]);
            }
            Write::Put {
                kind: kind.into(),
                scope: scope.into(),
                key: key.clone(),
                body,
                expected: Expected::Absent,
            }
        })
        .collect();
    let audit = record(
        0,
        json!({"kind": "system", "id": "test"}),
        "test:seed",
        "test/seed",
    );
    store.commit(&writes, &audit).await.unwrap();
}

fn record(at_ms: i64, actor: Value, action: &str, resource: &str) -> AuditRecord {
    AuditRecord {
        at_ms,
        actor,
        action: action.into(),
        resource: resource.into(),
        outcome: "allowed".into(),
        before: None,
        after: None,
        comment: None,
        request_id: None,
    }
}

fn keys_of(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|item| item["key"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flag_and_segment_lists_page_by_key() {
    let dir = tempfile_dir("paging-lists");
    let server = TestServer::in_process(&format!("sqlite://{dir}/lists.db"))
        .start()
        .await;
    server
        .admin_post(FLAGS, json!({"key": "paging-0000", "kind": "boolean"}))
        .await;
    let keys: Vec<String> = (1..2000).map(|i| format!("paging-{i:04}")).collect();
    clone_documents(&server, "flag", "default", "paging-0000", &keys).await;

    // Unpaged: everything, as before, with no paging headers.
    let (status, next, total, everything) = get_paged(&server, &server.admin, FLAGS).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (next, total),
        (None, None),
        "an unpaged list has no paging headers"
    );
    let everything = everything.as_array().unwrap().clone();
    assert!(everything.len() >= 2000, "{}", everything.len());

    // 100 at a time: every flag exactly once, in key order, the same items as unpaged.
    let pages = all_pages(&server, &format!("{FLAGS}?"), 100, everything.len()).await;
    assert_eq!(pages.len(), everything.len().div_ceil(100));
    assert!(pages.iter().rev().skip(1).all(|page| page.len() == 100));
    let paged: Vec<Value> = pages.concat();
    let mut sorted = keys_of(&everything);
    sorted.sort();
    assert_eq!(keys_of(&paged), sorted, "every flag once, in key order");
    assert_eq!(
        paged, everything,
        "a page's items are the unpaged list's items"
    );

    // Filters and paging together: the tenth flags (tag), a search, archived ones (none).
    let tagged = all_pages(&server, &format!("{FLAGS}?tag=tenth"), 7, 200).await;
    let tagged = keys_of(&tagged.concat());
    let expected: Vec<String> = (1..2000)
        .step_by(10)
        .map(|i| format!("paging-{i:04}"))
        .collect();
    assert_eq!(tagged, expected);
    let searched = all_pages(
        &server,
        &format!("{FLAGS}?q=PAGING-01&kind=boolean"),
        30,
        100,
    )
    .await;
    assert_eq!(keys_of(&searched.concat()).len(), 100);
    let (_, next, total, archived) = get_paged(
        &server,
        &server.admin,
        &format!("{FLAGS}?archived=true&limit=5"),
    )
    .await;
    assert_eq!((next, total, archived), (None, Some(0), json!([])));

    // A cursor alone pages with the largest limit; the last key's cursor answers nothing more.
    let (_, next, total, rest) = get_paged(
        &server,
        &server.admin,
        &format!("{FLAGS}?cursor=paging-1989"),
    )
    .await;
    assert_eq!((next, total), (None, Some(everything.len())));
    let after: Vec<&String> = sorted
        .iter()
        .filter(|k| k.as_str() > "paging-1989")
        .collect();
    assert_eq!(
        keys_of(rest.as_array().unwrap()).iter().collect::<Vec<_>>(),
        after
    );

    // Bad values are 400 naming the parameter.
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("limit=10&cursor=not%20a%20cursor", "cursor"),
    ] {
        let (status, _, _, body) =
            get_paged(&server, &server.admin, &format!("{FLAGS}?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["error"]["field"], field, "{query}: {body}");
    }

    // The OpenAPI document names the parameters and headers.
    let document = server.admin_get("/api/v1/openapi.json").await;
    let list = &document["paths"]["/api/v1/projects/{project}/flags"]["get"];
    let parameters: Vec<&str> = list["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(
        parameters.contains(&"limit") && parameters.contains(&"cursor"),
        "{list}"
    );
    assert!(
        list["responses"]["200"]["headers"]["x-next-cursor"].is_object(),
        "{list}"
    );

    // Segments: 25 in production, 10 a page.
    let segments = format!("{PROD}/segments");
    server.admin_post(&segments, json!({"key": "seg-00"})).await;
    let keys: Vec<String> = (1..25).map(|i| format!("seg-{i:02}")).collect();
    let scope = server
        .state()
        .unwrap()
        .store
        .find_by_key("segment", "seg-00")
        .await
        .unwrap()
        .unwrap()
        .scope;
    clone_documents(&server, "segment", &scope, "seg-00", &keys).await;
    let (_, next, total, unpaged) = get_paged(&server, &server.admin, &segments).await;
    assert_eq!((next, total), (None, None));
    let pages = all_pages(&server, &format!("{segments}?"), 10, 25).await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [10, 10, 5]);
    assert_eq!(Value::from(pages.concat()), unpaged);
    let (status, _, _, body) =
        get_paged(&server, &server.admin, &format!("{segments}?limit=-3")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["field"], "limit");
    server.stop().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

fn tempfile_dir(name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("switchyard-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.display().to_string()
}

mod audit {
    use super::*;

    switchyard_testkit::backend_tests![audit_filters_page_over_the_whole_log];

    /// Bulk records start at this time, a second apart.
    const T0: i64 = 1_700_000_000_000;
    const BULK: i64 = 2100;

    /// The actor, action and resource of bulk record `i`: three actors, four actions, two
    /// environments (and one spelt `Production` every 50th, which `env=production` must leave
    /// out although SQLite's `LIKE` ignores case), five flags and a rare one.
    fn bulk(i: i64) -> AuditRecord {
        let actor = match i % 3 {
            0 => json!({"kind": "token", "id": "tok-bob", "account": "bob"}),
            1 => json!({"kind": "release", "id": "r1"}),
            _ => json!({"kind": "token", "id": "tok-cy", "account": "cy"}),
        };
        let action = [
            "flag:toggle",
            "flag:update",
            "segment:update",
            "release:advance",
        ][(i % 4) as usize];
        let env = match i {
            _ if i % 50 == 0 => "Production",
            _ if i % 2 == 0 => "production",
            _ => "staging",
        };
        let flag = if i % 700 == 1 {
            "rare".to_owned()
        } else {
            format!("f{}", i % 5)
        };
        let resource = if action == "segment:update" {
            format!("proj/default:env/{env}:segment/s1")
        } else {
            format!("proj/default:env/{env}:flag/{flag}")
        };
        record(T0 + i * 1000, actor, action, &resource)
    }

    /// Every record, newest first, by paging without filters.
    async fn whole_log(server: &TestServer) -> Vec<Value> {
        let mut records = Vec::new();
        let mut path = "/api/v1/audit?limit=500".to_owned();
        loop {
            let page = server.admin_get(&path).await;
            records.extend(page["records"].as_array().unwrap().iter().cloned());
            match page["next_before"].as_i64() {
                Some(before) => path = format!("/api/v1/audit?limit=500&before={before}"),
                None => return records,
            }
        }
    }

    /// Pages `query` at `limit`: every page consistent (newest first, full but the last, each
    /// record matching `keep`), and together exactly the records of `log` that `keep` keeps.
    async fn check_filter(
        server: &TestServer,
        log: &[Value],
        query: &str,
        limit: usize,
        keep: impl Fn(&Value) -> bool,
    ) {
        let expected: Vec<i64> = log
            .iter()
            .filter(|r| keep(r))
            .map(|r| r["seq"].as_i64().unwrap())
            .collect();
        let mut seen = Vec::new();
        let mut before = None;
        loop {
            let mut path = format!("/api/v1/audit?{query}&limit={limit}");
            if let Some(before) = before {
                path.push_str(&format!("&before={before}"));
            }
            let page = server.admin_get(&path).await;
            let records = page["records"].as_array().unwrap();
            assert!(records.len() <= limit, "{path}");
            for record in records {
                assert!(keep(record), "{path}: {record}");
            }
            seen.extend(records.iter().map(|r| r["seq"].as_i64().unwrap()));
            match page["next_before"].as_i64() {
                Some(next) => {
                    assert_eq!(
                        records.len(),
                        limit,
                        "{path}: a page before the last is full"
                    );
                    assert_eq!(Some(next), seen.last().copied(), "{path}");
                    before = Some(next);
                }
                None => break,
            }
        }
        let unique: BTreeSet<i64> = seen.iter().copied().collect();
        assert_eq!(unique.len(), seen.len(), "{query}: a record was repeated");
        assert!(
            seen.windows(2).all(|w| w[0] > w[1]),
            "{query}: newest first"
        );
        assert_eq!(seen, expected, "{query}: none lost");
    }

    async fn audit_filters_page_over_the_whole_log(url: String) {
        let server = TestServer::in_process(&url).start().await;
        // A real token's record: ana toggles a flag with her own token.
        server
            .admin_post(FLAGS, json!({"key": "checkout", "kind": "boolean"}))
            .await;
        server
            .admin_post(
                "/api/v1/accounts",
                json!({"name": "ana", "password": "correct horse battery staple",
                       "roles": ["writer"]}),
            )
            .await;
        let token = server
            .admin_post(
                "/api/v1/tokens",
                json!({"name": "ana-laptop", "account": "ana", "unscoped": true}),
            )
            .await;
        let ana = token["token"].as_str().unwrap();
        let (status, body) = server
            .call(
                Some(ana),
                reqwest::Method::POST,
                &format!("{PROD}/flags/checkout/toggle"),
                Some(json!({"on": true})),
            )
            .await;
        assert!(status.is_success(), "{body}");

        let store = server.state().unwrap().store.clone();
        for i in 0..BULK {
            store.commit(&[], &bulk(i)).await.unwrap();
        }
        let log = whole_log(&server).await;
        assert!(log.len() as i64 > BULK, "{}", log.len());

        // Names and places read from each record.
        let toggle = log
            .iter()
            .find(|r| {
                r["action"] == "flag:toggle"
                    && r["actor"]["kind"] == "token"
                    && r["actor"]["account"] == "ana"
            })
            .unwrap_or_else(|| panic!("{:#?}", &log[log.len() - 8..]));
        assert_eq!(toggle["actor_name"], "ana", "{toggle}");
        assert_eq!(
            (&toggle["project"], &toggle["environment"], &toggle["flag"]),
            (&json!("default"), &json!("production"), &json!("checkout"))
        );
        let name_of = |kind: &str| {
            log.iter()
                .find(|r| r["actor"]["kind"] == kind)
                .map(|r| r["actor_name"].clone())
        };
        assert_eq!(name_of("release"), Some(json!("guard")));
        for system in log.iter().filter(|r| r["actor"]["kind"] == "system") {
            assert_eq!(system["actor_name"], system["actor"]["id"], "{system}");
        }
        let segment = log
            .iter()
            .find(|r| r["action"] == "segment:update")
            .unwrap();
        assert_eq!(segment.get("flag"), None, "{segment}");

        let field = |r: &Value, name: &str| r[name].as_str().unwrap_or_default().to_owned();
        let at = |r: &Value| r["at_ms"].as_i64().unwrap();
        check_filter(&server, &log, "actor=bob", 97, |r| {
            field(r, "actor_name") == "bob"
        })
        .await;
        check_filter(&server, &log, "actor=ana", 5, |r| {
            field(r, "actor_name") == "ana"
        })
        .await;
        check_filter(&server, &log, "actor=guard", 250, |r| {
            field(r, "actor_name") == "guard"
        })
        .await;
        check_filter(&server, &log, "action=flag:*", 333, |r| {
            field(r, "action").starts_with("flag:")
        })
        .await;
        check_filter(&server, &log, "action=segment:update", 100, |r| {
            field(r, "action") == "segment:update"
        })
        .await;
        check_filter(&server, &log, "env=production", 150, |r| {
            field(r, "environment") == "production"
        })
        .await;
        // A flag with 3 records among thousands still pages (one a page).
        check_filter(&server, &log, "flag=rare", 1, |r| {
            field(r, "flag") == "rare"
        })
        .await;
        let (from, to) = (T0 + 300_000, T0 + 1_500_000);
        check_filter(&server, &log, &format!("from={from}&to={to}"), 200, |r| {
            (from..to).contains(&at(r))
        })
        .await;
        check_filter(
            &server,
            &log,
            &format!(
                "actor=bob&action=flag:*&project=default&env=staging&flag=f3&from={from}&to={to}"
            ),
            4,
            |r| {
                field(r, "actor_name") == "bob"
                    && field(r, "action").starts_with("flag:")
                    && field(r, "project") == "default"
                    && field(r, "environment") == "staging"
                    && field(r, "flag") == "f3"
                    && (from..to).contains(&at(r))
            },
        )
        .await;
        check_filter(&server, &log, "actor=nobody", 50, |_| false).await;

        // Bad values name the parameter.
        for (query, name) in [("limit=many", "limit"), ("from=5&to=4", "to")] {
            let (status, body) = server
                .call(
                    Some(&server.admin),
                    reqwest::Method::GET,
                    &format!("/api/v1/audit?{query}"),
                    None,
                )
                .await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
            assert_eq!(body["error"]["field"], name, "{query}: {body}");
        }
        server.stop().await;
    }
}

/// A release's status names who started it and when its stage's bake ends; a targeting error
/// speaks in percentages and names the rule by its id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn releases_and_errors_speak_in_the_users_terms() {
    let dir = tempfile_dir("paging-terms");
    let server = TestServer::in_process(&format!("sqlite://{dir}/terms.db"))
        .start()
        .await;
    server
        .admin_post(FLAGS, json!({"key": "ramp", "kind": "boolean"}))
        .await;
    let targeting = format!("{PROD}/flags/ramp");
    let put = |body: Value| {
        server.call(
            Some(&server.admin),
            reqwest::Method::PUT,
            &targeting,
            Some(body),
        )
    };

    // Weights in 0.001 % units are reported as percentages, a rule by its id (or position).
    let rollout = json!({"rollout": {"variations": [
        {"variation": 0, "weight": 50_000}, {"variation": 1, "weight": 49_500}]}});
    let (status, body) = put(json!({"version": 0, "on": true, "off_variation": 1,
        "rules": [{"id": "beta-users", "serve": rollout}], "fallthrough": {"variation": 1}}))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        body["error"]["message"], "rule “beta-users”: weights add up to 99.5 %, not 100 %",
        "{body}"
    );
    let (status, body) = put(json!({"version": 0, "on": true, "off_variation": 1,
        "rules": [{"serve": {"variation": 0}}, {"serve": rollout}],
        "fallthrough": {"variation": 1}}))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        body["error"]["message"],
        "rule #2: weights add up to 99.5 %, not 100 %"
    );
    let (status, body) = put(json!({"version": 0, "on": true, "off_variation": 1,
        "fallthrough": rollout}))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        body["error"]["message"],
        "weights add up to 99.5 %, not 100 %"
    );

    // Ana starts a release with her token: the status names her and the bake deadline.
    let (status, body) = put(json!({"version": 0, "on": true, "off_variation": 1,
        "fallthrough": {"variation": 1}}))
    .await;
    assert!(status.is_success(), "{body}");
    server
        .admin_post(
            "/api/v1/accounts",
            json!({"name": "ana", "password": "correct horse battery staple",
                   "roles": ["writer"]}),
        )
        .await;
    let token = server
        .admin_post(
            "/api/v1/tokens",
            json!({"name": "ana-laptop", "account": "ana", "unscoped": true}),
        )
        .await;
    let (status, started) = server
        .call(
            token["token"].as_str(),
            reqwest::Method::POST,
            &format!("{PROD}/releases"),
            Some(json!({"flag": "ramp", "variation": "on",
                        "stages": [{"percent": 20, "min_bake_s": 3600}, {"percent": 100}]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    let id = started["id"].as_str().unwrap();
    let status = server.admin_get(&format!("{PROD}/releases/{id}")).await;
    for status in [&started, &status] {
        assert_eq!(status["started_by_name"], "ana", "{status}");
        let stage_started = status["stage_started_ms"].as_i64().unwrap();
        assert_eq!(
            status["stage_ends_at_ms"].as_i64(),
            Some(stage_started + 3_600_000),
            "{status}"
        );
        // The guard's next look comes long before the bake ends.
        let next_decision = status["next_decision_ms"].as_i64().unwrap();
        assert!(next_decision < stage_started + 3_600_000, "{status}");
    }
    server.stop().await;
    std::fs::remove_dir_all(&dir).unwrap();
}
