//! Deployments and Logs (COMPAT §5.11, §5.12, §10).

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::builds::insert_building_build;
use crate::helpers::{assert_error, asset_file, redact, spawn_app, Deployable, ACCOUNT_SID};

#[tokio::test]
async fn deployment_switches_the_environment() {
    let app = spawn_app().await;
    let site = app
        .deploy(&[asset_file("/a.txt", "text/plain", b"one")])
        .await;
    let list = format!(
        "/v1/Services/{}/Environments/{}/Deployments",
        site.service, site.environment
    );
    let listed = app.get(&list).await;
    let deployments = listed.body["deployments"].as_array().unwrap().clone();
    assert_eq!(deployments.len(), 1);
    let sid = deployments[0]["sid"].as_str().unwrap().to_owned();
    assert_eq!(
        redact(&deployments[0]),
        json!({
            "sid": sid,
            "account_sid": ACCOUNT_SID,
            "service_sid": site.service,
            "environment_sid": site.environment,
            "build_sid": site.build,
            "date_created": "<date>",
            "date_updated": "<date>",
            "url": app.url(&format!("{list}/{sid}")),
        })
    );
    assert_eq!(app.get(&format!("{list}/{sid}")).await.body, deployments[0]);
    let env = app
        .get(&format!(
            "/v1/Services/{}/Environments/{}",
            site.service, site.environment
        ))
        .await;
    assert_eq!(env.body["build_sid"], site.build.as_str());
    let served = app
        .host(Method::GET, &site.domain, "/a.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(served.text().await.unwrap(), "one");

    // A second build replaces the first for every request after the 201.
    let (second, status) = app
        .build(&site.service, &[asset_file("/a.txt", "text/plain", b"two")])
        .await;
    assert_eq!(status, "completed");
    let deployed = app.post(&list, &[("BuildSid", second.as_str())]).await;
    assert_eq!(deployed.status, StatusCode::CREATED);
    let served = app
        .host(Method::GET, &site.domain, "/a.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(served.text().await.unwrap(), "two");
    // Redeploying the current build is allowed.
    assert_eq!(
        app.post(&list, &[("BuildSid", second.as_str())])
            .await
            .status,
        StatusCode::CREATED
    );
    assert_eq!(
        app.get(&list).await.body["deployments"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_error(&app.post(&format!("{list}/{sid}"), &[]).await, 405, 20004);
}

#[tokio::test]
async fn deployment_rules() {
    let app = spawn_app().await;
    let site = app
        .deploy(&[asset_file("/a.txt", "text/plain", b"one")])
        .await;
    let list = format!(
        "/v1/Services/{}/Environments/{}/Deployments",
        site.service, site.environment
    );
    let version = app
        .version(&site.service, &asset_file("/b", "text/plain", b"b"))
        .await;
    let building = insert_building_build(&app, &site.service, &version).await;
    let conflict = app.post(&list, &[("BuildSid", building.as_str())]).await;
    assert_error(&conflict, 409, 20409);
    assert_eq!(
        conflict.body["message"],
        format!("Build {building} is not completed")
    );
    assert_error(
        &app.post(&list, &[("BuildSid", "ZB00000000000000000000000000000000")])
            .await,
        404,
        20404,
    );
    assert_error(&app.post(&list, &[("BuildSid", "ZB1")]).await, 400, 20001);
    assert_error(
        &app.post(
            &list,
            &[("BuildSid", site.build.as_str()), ("IsPlugin", "maybe")],
        )
        .await,
        400,
        20001,
    );
    let other = app.service("other").await;
    let other_env = app
        .post(
            &format!("/v1/Services/{other}/Environments"),
            &[("UniqueName", "e")],
        )
        .await
        .body["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let foreign = app
        .post(
            &format!("/v1/Services/{other}/Environments/{other_env}/Deployments"),
            &[("BuildSid", site.build.as_str())],
        )
        .await;
    assert_error(&foreign, 404, 20404);
    // Nothing changed.
    let env = app
        .get(&format!(
            "/v1/Services/{}/Environments/{}",
            site.service, site.environment
        ))
        .await;
    assert_eq!(env.body["build_sid"], site.build.as_str());
}

#[tokio::test]
async fn function_requests_write_logs() {
    if depot::runtime::find_on_path("node").is_none() {
        eprintln!("skipping: `node` is not on PATH");
        return;
    }
    let app = spawn_app().await;
    let site = app
        .deploy(&[Deployable {
            path: "/hello",
            visibility: "public",
            content_type: "application/javascript",
            data: b"exports.handler = (c, e, cb) => { console.error('failed here'); cb(null, 'ok'); };",
            function: true,
        }])
        .await;
    for method in [Method::GET, Method::POST] {
        let answer = app
            .host(method, &site.domain, "/hello?x=1")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        assert!(answer.headers()["twilio-request-id"]
            .to_str()
            .unwrap()
            .starts_with("RQ"));
    }
    let list = format!(
        "/v1/Services/{}/Environments/{}/Logs",
        site.service, site.environment
    );
    let logs = app.get(&list).await;
    let items = logs.body["logs"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2);
    let newest = &items[0];
    let function_sid = newest["function_sid"].as_str().unwrap().to_owned();
    let deployment = app
        .get(&format!(
            "/v1/Services/{}/Environments/{}/Deployments",
            site.service, site.environment
        ))
        .await
        .body["deployments"][0]["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let sid = newest["sid"].as_str().unwrap().to_owned();
    assert!(sid.starts_with("NO"));
    assert_eq!(
        redact(newest),
        json!({
            "sid": sid,
            "account_sid": ACCOUNT_SID,
            "service_sid": site.service,
            "environment_sid": site.environment,
            "build_sid": site.build,
            "deployment_sid": deployment,
            "function_sid": function_sid,
            "request_sid": newest["request_sid"],
            "level": "error",
            "message": "failed here",
            "date_created": "<date>",
            "url": app.url(&format!("{list}/{sid}")),
        })
    );
    assert!(items[0]["request_sid"] != items[1]["request_sid"]);
    assert_eq!(app.get(&format!("{list}/{sid}")).await.body, *newest);

    let filtered = app
        .get(&format!(
            "{list}?FunctionSid={function_sid}&StartDate=2020-01-01T00:00:00Z"
        ))
        .await;
    assert_eq!(filtered.body["logs"].as_array().unwrap().len(), 2);
    assert!(filtered.body["meta"]["url"]
        .as_str()
        .unwrap()
        .contains("StartDate=2020-01-01T00%3A00%3A00Z&FunctionSid="));
    let none = app
        .get(&format!(
            "{list}?FunctionSid=ZH00000000000000000000000000000000"
        ))
        .await;
    assert_eq!(none.body["logs"], json!([]));
    let future = app
        .get(&format!("{list}?StartDate=2999-01-01T00:00:00.000Z"))
        .await;
    assert_eq!(future.body["logs"], json!([]));
    let past = app
        .get(&format!("{list}?EndDate=2000-01-01T00:00:00Z"))
        .await;
    assert_eq!(past.body["logs"], json!([]));
    let paged = app.get(&format!("{list}?PageSize=1")).await;
    assert_eq!(paged.body["logs"][0]["sid"], items[0]["sid"]);
    let next = paged.body["meta"]["next_page_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = app.get(next.strip_prefix(&app.base).unwrap()).await;
    assert_eq!(second.body["logs"][0]["sid"], items[1]["sid"]);
    for bad in [
        "FunctionSid=ZE00000000000000000000000000000000",
        "StartDate=yesterday",
        "EndDate=2020-13-01",
    ] {
        assert_error(&app.get(&format!("{list}?{bad}")).await, 400, 20001);
    }
    assert_error(
        &app.get(&format!("{list}/NO00000000000000000000000000000000"))
            .await,
        404,
        20404,
    );
}
