//! Change requests (`docs/governance.md`): in an environment that requires approvals a writer's
//! change waits for another person's approval, what SDKs see changes only when it applies, a
//! base that moved on refuses the apply, and every step is in the verified audit log.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchyard_server::access::SdkKeyKind;
use switchyard_testkit::server::TestServer;

mod policy;
pub(crate) mod support;

use support::{approver, audited, held, person, served, set_required_approvals, until_served};

const PROD: &str = "/api/v1/projects/default/environments/production";
const CHECKOUT: &str = "/api/v1/projects/default/environments/production/flags/checkout";
const REQUESTS: &str = "/api/v1/projects/default/change-requests";

switchyard_testkit::backend_tests![change_requests_need_another_persons_approval];

async fn change_requests_need_another_persons_approval(url: String) {
    let server = TestServer::in_process(&url).start().await;
    let admin = Some(server.admin.clone());
    let admin = admin.as_deref();
    server
        .admin_post(
            "/api/v1/projects/default/flags",
            json!({"key": "checkout", "kind": "boolean"}),
        )
        .await;
    let key = server.sdk_key(SdkKeyKind::Server).await;
    let walt = person(&server, "walt", "writer").await;
    let walt = Some(walt.as_str());
    let ada = approver(&server, "ada").await;
    let ada = Some(ada.as_str());

    // A critical environment requires no approvals until an administrator sets a count.
    let environment = server.admin_get(PROD).await;
    assert_eq!(
        (&environment["critical"], &environment["required_approvals"]),
        (&json!(true), &json!(0))
    );
    let toggle = |on: bool| json!({"on": on, "comment": format!("turn it {on}")});
    let (status, _) = server
        .call(
            walt,
            Method::POST,
            &format!("{CHECKOUT}/toggle"),
            Some(toggle(false)),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // Strict input on the count, then one approval required.
    for bad in [json!(-1), json!(11), json!("two"), json!(1.5)] {
        let (status, answer) = set_required_approvals(&server, bad.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {answer}");
        assert_eq!(
            answer["error"]["field"], "required_approvals",
            "{bad}: {answer}"
        );
    }
    let (status, answer) = set_required_approvals(&server, json!(1)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["required_approvals"], 1);
    assert_eq!(served(&server, &key).await, json!(false));

    // A writer's toggle becomes a change request: 202, and nothing an SDK sees changes.
    let (status, answer) = server
        .call(
            walt,
            Method::POST,
            &format!("{CHECKOUT}/toggle"),
            Some(toggle(true)),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let request = &answer["change_request"];
    let id = request["id"].as_str().unwrap().to_owned();
    assert_eq!(request["state"], "pending");
    assert_eq!(request["operation"], "toggle");
    assert_eq!(request["author"], "walt");
    assert_eq!(request["revision"], 1);
    assert_eq!(request["before"]["on"], false);
    assert_eq!(request["after"]["on"], true);
    let base_version = server.admin_get(CHECKOUT).await["version"].clone();
    assert_eq!(
        request["base"],
        json!([{"kind": "targeting", "key": "checkout", "version": base_version}])
    );
    assert_eq!(server.admin_get(CHECKOUT).await["on"], false);
    assert_eq!(served(&server, &key).await, json!(false));
    let path = format!("{REQUESTS}/{id}");
    let listed = server
        .admin_get(&format!("{REQUESTS}?state=pending&environment=production"))
        .await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");

    // A writer may not approve at all, and nobody approves their own request: not even an
    // administrator's own toggle takes effect without someone else.
    let (status, answer) = server
        .call(
            walt,
            Method::POST,
            &format!("{path}/approve"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    let (status, own) = server
        .call(
            admin,
            Method::POST,
            &format!("{CHECKOUT}/toggle"),
            Some(toggle(true)),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{own}");
    let own_path = format!(
        "{REQUESTS}/{}",
        own["change_request"]["id"].as_str().unwrap()
    );
    let (status, answer) = server
        .call(admin, Method::POST, &format!("{own_path}/approve"), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("own change request"),
        "{answer}"
    );
    server
        .admin_post(
            &format!("{own_path}/withdraw"),
            json!({"comment": "walt's is enough"}),
        )
        .await;

    // A second person's approval applies it, and it reaches SDKs.
    let (status, answer) = server
        .call(
            ada,
            Method::POST,
            &format!("{path}/approve"),
            Some(json!({"revision": 1, "comment": "looks right"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["state"], "applied", "{answer}");
    assert_eq!(answer["approved"], 1);
    until_served(&server, &key, json!(true)).await;
    let flag_resource = "proj/default:env/production:flag/checkout";
    let steps = audited(&server, flag_resource).await;
    let applied = steps.last().unwrap();
    assert_eq!(applied.0, "flag:toggle", "{steps:?}");
    assert!(
        applied.1.contains(&id) && applied.1.contains("approved by ada"),
        "{applied:?}"
    );

    // A stale base: the writer proposes new targeting, a kill (never waiting for approval)
    // changes it meanwhile, and the apply is refused, changing nothing.
    let current = server.admin_get(CHECKOUT).await;
    let proposal = json!({"version": current["version"], "on": true,
                          "fallthrough": {"variation": 1}, "comment": "serve false"});
    let (status, answer) = server
        .call(walt, Method::PUT, CHECKOUT, Some(proposal.clone()))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let stale = answer["change_request"]["id"].as_str().unwrap().to_owned();
    let stale_path = format!("{REQUESTS}/{stale}");
    let (status, killed) = server
        .call(
            walt,
            Method::POST,
            &format!("{CHECKOUT}/kill"),
            Some(json!({"comment": "pager"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{killed}");
    let kill = audited(&server, flag_resource).await.pop().unwrap();
    assert_eq!(kill.0, "flag:kill");
    assert!(kill.1.contains("not subject to approval"), "{kill:?}");
    until_served(&server, &key, json!(false)).await;
    let after_kill = server.admin_get(CHECKOUT).await;
    let (status, answer) = server
        .call(ada, Method::POST, &format!("{stale_path}/approve"), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_eq!(answer["error"]["code"], "conflict");
    assert_eq!(server.admin_get(&stale_path).await["state"], "conflict");
    assert_eq!(server.admin_get(CHECKOUT).await, after_kill);
    let (status, _) = server
        .call(walt, Method::POST, &format!("{stale_path}/apply"), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // The author rebases with a revision, which drops earlier approvals.
    assert_eq!(
        set_required_approvals(&server, json!(2)).await.0,
        StatusCode::OK
    );
    let mut rebased = proposal.clone();
    rebased["version"] = after_kill["version"].clone();
    let revise = |request: Value, revision: u32| json!({"request": request, "revision": revision});
    let (status, answer) = server
        .call(
            walt,
            Method::PUT,
            &stale_path,
            Some(revise(rebased.clone(), 1)),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        (&answer["revision"], &answer["state"]),
        (&json!(2), &json!("pending"))
    );
    let approved = server
        .call(ada, Method::POST, &format!("{stale_path}/approve"), None)
        .await
        .1;
    assert_eq!(
        (&approved["approved"], &approved["state"]),
        (&json!(1), &json!("pending"))
    );
    let (status, answer) = server
        .call(
            walt,
            Method::PUT,
            &stale_path,
            Some(revise(rebased.clone(), 2)),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        (&answer["revision"], &answer["approved"]),
        (&json!(3), &json!(0))
    );
    assert_eq!(answer["approvals"], json!([]));
    // An approval of a revision the approver did not read is refused.
    let (status, _) = server
        .call(
            ada,
            Method::POST,
            &format!("{stale_path}/approve"),
            Some(json!({"revision": 2})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = server
        .call(walt, Method::POST, &format!("{stale_path}/apply"), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "no approvals yet");
    server
        .call(ada, Method::POST, &format!("{stale_path}/approve"), None)
        .await;
    let applied = server
        .admin_post(&format!("{stale_path}/approve"), json!({"revision": 3}))
        .await;
    assert_eq!(
        (&applied["state"], &applied["approved"]),
        (&json!("applied"), &json!(2))
    );
    until_served(&server, &key, json!(false)).await;
    let now = server.admin_get(CHECKOUT).await;
    assert_eq!(
        (&now["on"], &now["fallthrough"]),
        (&json!(true), &json!({"variation": 1}))
    );

    // Reject and withdraw; segments are gated too.
    assert_eq!(
        set_required_approvals(&server, json!(1)).await.0,
        StatusCode::OK
    );
    let (segment, _) = held(
        &server,
        walt,
        Method::POST,
        &format!("{PROD}/segments"),
        Some(json!({"key": "beta", "included": [{"values": ["u-1"]}]})),
    )
    .await;
    let rejected = server
        .call(
            ada,
            Method::POST,
            &format!("{segment}/reject"),
            Some(json!({"comment": "not now"})),
        )
        .await
        .1;
    assert_eq!(rejected["state"], "rejected", "{rejected}");
    let (status, _) = server
        .call(admin, Method::GET, &format!("{PROD}/segments/beta"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = server
        .call(ada, Method::POST, &format!("{segment}/approve"), None)
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a rejected request stays rejected"
    );
    let (withdrawn, _) = held(
        &server,
        walt,
        Method::POST,
        &format!("{CHECKOUT}/toggle"),
        Some(toggle(false)),
    )
    .await;
    let (status, answer) = server
        .call(ada, Method::POST, &format!("{withdrawn}/withdraw"), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    let (status, answer) = server
        .call(walt, Method::POST, &format!("{withdrawn}/withdraw"), None)
        .await;
    assert_eq!(
        (status, &answer["state"]),
        (StatusCode::OK, &json!("withdrawn"))
    );
    assert_eq!(server.admin_get(CHECKOUT).await["on"], true);

    // Bad input names the field.
    let (status, answer) = server
        .call(
            walt,
            Method::PUT,
            &withdrawn,
            Some(json!({"request": {"on": true, "bogus": 1}})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a withdrawn request is closed: {answer}"
    );
    let (open, _) = held(
        &server,
        walt,
        Method::POST,
        &format!("{CHECKOUT}/toggle"),
        Some(toggle(false)),
    )
    .await;
    let (status, answer) = server
        .call(
            walt,
            Method::PUT,
            &open,
            Some(json!({"request": {"on": true, "bogus": 1}})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["error"]["field"], "request.bogus");
    let (status, answer) = server
        .call(
            walt,
            Method::PUT,
            &open,
            Some(json!({"request": {"on": "yes"}})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["error"]["field"], "request.on");
    let (status, answer) = server
        .call(
            ada,
            Method::POST,
            &format!("{open}/approve"),
            Some(json!({"revison": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    let (status, answer) = server
        .call(
            admin,
            Method::GET,
            &format!("{REQUESTS}?state=merged"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["error"]["field"], "state");
    let (status, _) = server
        .call(admin, Method::GET, &format!("{REQUESTS}/nope"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A release start waits too; its roll back does not.
    let releases = format!("{PROD}/releases");
    let plan = json!({"flag": "checkout", "variation": "on",
                      "stages": [{"percent": 50, "min_bake_s": 3600}]});
    let (status, answer) = server.call(walt, Method::POST, &releases, Some(plan)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let start = &answer["change_request"];
    assert_eq!(start["operation"], "start_release");
    let release = start["resource"]
        .as_str()
        .unwrap()
        .rsplit_once(":release/")
        .unwrap()
        .1
        .to_owned();
    assert_eq!(server.admin_get(&releases).await, json!([]));
    let start_path = format!("{REQUESTS}/{}", start["id"].as_str().unwrap());
    let applied = server
        .call(ada, Method::POST, &format!("{start_path}/approve"), None)
        .await
        .1;
    assert_eq!(applied["state"], "applied", "{applied}");
    let running = server.admin_get(&format!("{releases}/{release}")).await;
    assert_eq!(running["state"], "running", "{running}");
    let (status, answer) = server
        .call(
            walt,
            Method::POST,
            &format!("{releases}/{release}/rollback"),
            None,
        )
        .await;
    assert_eq!(
        (status, &answer["state"]),
        (StatusCode::OK, &json!("rolled_back"))
    );
    let release_steps = audited(
        &server,
        &format!("proj/default:env/production:release/{release}"),
    )
    .await;
    assert!(
        release_steps
            .last()
            .unwrap()
            .1
            .contains("not subject to approval"),
        "{release_steps:?}"
    );
    assert!(
        release_steps[0].1.contains("approved by ada"),
        "{release_steps:?}"
    );

    // Deleting a segment waits too.
    assert_eq!(
        set_required_approvals(&server, json!(0)).await.0,
        StatusCode::OK
    );
    server
        .admin_post(&format!("{PROD}/segments"), json!({"key": "leaving"}))
        .await;
    assert_eq!(
        set_required_approvals(&server, json!(1)).await.0,
        StatusCode::OK
    );
    let segment_path = format!("{PROD}/segments/leaving");
    let (deletion, request) = held(
        &server,
        walt,
        Method::DELETE,
        &format!("{segment_path}?comment=unused"),
        None,
    )
    .await;
    assert_eq!(request["operation"], "delete_segment");
    let (status, _) = server.call(admin, Method::GET, &segment_path, None).await;
    assert_eq!(status, StatusCode::OK, "a held deletion deletes nothing");
    let (status, answer) = server
        .call(
            walt,
            Method::PUT,
            &deletion,
            Some(json!({"request": {"coment": "x"}})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["error"]["field"], "request.coment");
    let applied = server
        .call(ada, Method::POST, &format!("{deletion}/approve"), None)
        .await
        .1;
    assert_eq!(applied["state"], "applied", "{applied}");
    let (status, _) = server.call(admin, Method::GET, &segment_path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A kill trigger (an alerting system) never waits either.
    let trigger = server
        .admin_post(&format!("{CHECKOUT}/triggers"), json!({}))
        .await;
    let url = trigger["url"].as_str().unwrap();
    let (status, answer) = server.call(None, Method::POST, url, Some(json!({}))).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let kill = audited(&server, flag_resource).await.pop().unwrap();
    assert_eq!(kill.0, "flag:kill");
    assert!(kill.1.contains("not subject to approval"), "{kill:?}");

    // Every step is in the audit log, and the chain verifies.
    let steps: Vec<String> = audited(
        &server,
        &format!("proj/default:env/production:change-request/{stale}"),
    )
    .await
    .into_iter()
    .map(|(action, _)| action)
    .collect();
    assert_eq!(
        steps,
        [
            "change-request:create",
            "change-request:approve",
            "change-request:conflict",
            "change-request:revise",
            "change-request:approve",
            "change-request:revise",
            "change-request:approve",
            "change-request:approve",
        ],
    );
    let rejected_steps = audited(&server, "proj/default:env/production:change-request/").await;
    for step in ["change-request:reject", "change-request:withdraw"] {
        assert!(
            rejected_steps.iter().any(|(a, _)| a == step),
            "{step}: {rejected_steps:?}"
        );
    }
    let verified = server.admin_get("/api/v1/audit/verify").await;
    assert_eq!(verified["ok"], true, "{verified}");
    server.stop().await;
}
