//! Environments and Variables (COMPAT §5.2, §5.3).

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{assert_error, redact, spawn_app, spawn_with, ACCOUNT_SID};

#[tokio::test]
async fn create_environment_returns_its_domain() {
    let app = spawn_app().await;
    let service = app.service("my-app").await;
    let base = app.get(&format!("/v1/Services/{service}")).await.body["domain_base"]
        .as_str()
        .unwrap()
        .to_owned();
    let list = format!("/v1/Services/{service}/Environments");
    let created = app
        .post(
            &list,
            &[
                ("UniqueName", "dev-environment"),
                ("DomainSuffix", "Dev"),
                ("FriendlyName", "ignored"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let sid = created.body["sid"].as_str().unwrap().to_owned();
    let url = app.url(&format!("{list}/{sid}"));
    assert_eq!(
        redact(&created.body),
        json!({
            "sid": sid,
            "account_sid": ACCOUNT_SID,
            "service_sid": service,
            "build_sid": null,
            "unique_name": "dev-environment",
            "domain_suffix": "Dev",
            "domain_name": format!("{base}-dev.localhost"),
            "date_created": "<date>",
            "date_updated": "<date>",
            "url": url,
            "links": {
                "variables": format!("{url}/Variables"),
                "deployments": format!("{url}/Deployments"),
                "logs": format!("{url}/Logs"),
            }
        })
    );
    let production = app.post(&list, &[("UniqueName", "production")]).await;
    assert_eq!(production.body["domain_suffix"], serde_json::Value::Null);
    assert_eq!(production.body["domain_name"], format!("{base}.localhost"));
    let listed = app.get(&list).await;
    assert_eq!(listed.body["environments"].as_array().unwrap().len(), 2);
    assert_eq!(listed.body["meta"]["key"], "environments");
    assert_eq!(app.get(&format!("{list}/{sid}")).await.body, created.body);
}

#[tokio::test]
async fn environment_names_and_suffixes_are_unique() {
    let app = spawn_app().await;
    let service = app.service("svc").await;
    let list = format!("/v1/Services/{service}/Environments");
    app.post(&list, &[("UniqueName", "a"), ("DomainSuffix", "dev")])
        .await;
    app.post(&list, &[("UniqueName", "prod")]).await;
    for form in [
        vec![("UniqueName", "a"), ("DomainSuffix", "other")],
        vec![("UniqueName", "b"), ("DomainSuffix", "DEV")],
        vec![("UniqueName", "c")],
    ] {
        let answer = app.post(&list, &form).await;
        assert_error(&answer, 409, 20409);
        assert_eq!(
            answer.body["message"],
            "Environment with this UniqueName or DomainSuffix already exists."
        );
    }
}

#[tokio::test]
async fn environment_validation_and_limits() {
    let app = spawn_with(|mut c| {
        c.limits.max_environments = 2;
        c
    })
    .await;
    let service = app.service("svc").await;
    let list = format!("/v1/Services/{service}/Environments");
    let long = "x".repeat(101);
    for form in [
        vec![],
        vec![("DomainSuffix", "dev")],
        vec![("UniqueName", long.as_str())],
        vec![("UniqueName", "a\u{1}b")],
        vec![("UniqueName", "ok"), ("DomainSuffix", "-bad")],
        vec![("UniqueName", "ok"), ("DomainSuffix", "seventeen-chars-x")],
    ] {
        assert_error(&app.post(&list, &form).await, 400, 20001);
    }
    app.post(&list, &[("UniqueName", "one"), ("DomainSuffix", "one")])
        .await;
    app.post(&list, &[("UniqueName", "two"), ("DomainSuffix", "two")])
        .await;
    let third = app
        .post(&list, &[("UniqueName", "three"), ("DomainSuffix", "three")])
        .await;
    assert_error(&third, 400, 20001);
    assert!(third.body["message"].as_str().unwrap().contains("limit"));
}

#[tokio::test]
async fn environments_have_no_update_and_delete_cascades() {
    let app = spawn_app().await;
    let service = app.service("svc").await;
    let list = format!("/v1/Services/{service}/Environments");
    let sid = app.post(&list, &[("UniqueName", "e")]).await.body["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("{list}/{sid}");
    assert_error(&app.post(&path, &[("UniqueName", "x")]).await, 405, 20004);
    let variable = app
        .post(
            &format!("{path}/Variables"),
            &[("Key", "A"), ("Value", "1")],
        )
        .await;
    assert_eq!(variable.status, StatusCode::CREATED);
    assert_eq!(app.delete(&path).await.status, StatusCode::NO_CONTENT);
    assert_error(&app.get(&path).await, 404, 20404);
    assert_error(&app.get(&format!("{path}/Variables")).await, 404, 20404);
    assert_error(&app.delete(&path).await, 404, 20404);
    assert_error(&app.get(&format!("{list}/ZE123")).await, 404, 20404);
}

#[tokio::test]
async fn variables_crud() {
    let app = spawn_app().await;
    let service = app.service("svc").await;
    let env = app
        .post(
            &format!("/v1/Services/{service}/Environments"),
            &[("UniqueName", "e")],
        )
        .await
        .body["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let list = format!("/v1/Services/{service}/Environments/{env}/Variables");
    let created = app
        .post(&list, &[("Key", "GREETING"), ("Value", "hello")])
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let sid = created.body["sid"].as_str().unwrap().to_owned();
    assert!(sid.starts_with("ZV"));
    assert_eq!(
        redact(&created.body),
        json!({
            "sid": sid,
            "account_sid": ACCOUNT_SID,
            "service_sid": service,
            "environment_sid": env,
            "key": "GREETING",
            "value": "hello",
            "date_created": "<date>",
            "date_updated": "<date>",
            "url": app.url(&format!("{list}/{sid}")),
        })
    );
    let path = format!("{list}/{sid}");
    let updated = app.post(&path, &[("Value", "")]).await;
    assert_eq!(updated.status, StatusCode::OK);
    assert_eq!(updated.body["value"], "");
    assert_eq!(updated.body["key"], "GREETING");
    let renamed = app.post(&path, &[("Key", "HELLO")]).await;
    assert_eq!(renamed.body["key"], "HELLO");
    assert_eq!(
        app.get(&list).await.body["variables"],
        json!([renamed.body])
    );

    app.post(&list, &[("Key", "OTHER"), ("Value", "x")]).await;
    assert_error(
        &app.post(&list, &[("Key", "HELLO"), ("Value", "y")]).await,
        409,
        20409,
    );
    assert_error(&app.post(&path, &[("Key", "OTHER")]).await, 409, 20409);
    let long_value = "é".repeat(226);
    for form in [
        vec![("Value", "x")],
        vec![("Key", "K")],
        vec![("Key", &"k".repeat(129) as &str), ("Value", "x")],
        vec![("Key", "K"), ("Value", long_value.as_str())],
    ] {
        assert_error(&app.post(&list, &form).await, 400, 20001);
    }
    assert_error(&app.post(&path, &[("Key", "")]).await, 400, 20001);
    let empty = app.post(&list, &[("Key", "EMPTY"), ("Value", "")]).await;
    assert_eq!(empty.status, StatusCode::CREATED);

    assert_eq!(app.delete(&path).await.status, StatusCode::NO_CONTENT);
    assert_error(&app.get(&path).await, 404, 20404);
    let call = app.call(Method::PUT, &path, &[]).await;
    assert_error(&call, 405, 20004);
}
