//! Functions, Function Versions and Function Version Content (COMPAT §5.4–§5.6).

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_error, redact, spawn_app, ACCOUNT_SID};

#[tokio::test]
async fn function_crud() {
    let app = spawn_app().await;
    let service = app.service("svc").await;
    let list = format!("/v1/Services/{service}/Functions");
    let created = app.post(&list, &[("FriendlyName", "/hello")]).await;
    assert_eq!(created.status, StatusCode::CREATED);
    let sid = created.body["sid"].as_str().unwrap().to_owned();
    assert!(sid.starts_with("ZH"));
    let url = app.url(&format!("{list}/{sid}"));
    assert_eq!(
        redact(&created.body),
        json!({
            "sid": sid,
            "account_sid": ACCOUNT_SID,
            "service_sid": service,
            "friendly_name": "/hello",
            "date_created": "<date>",
            "date_updated": "<date>",
            "url": url,
            "links": {"function_versions": format!("{url}/Versions")}
        })
    );
    let listed = app.get(&list).await;
    assert_eq!(listed.body["functions"], json!([created.body]));
    assert_eq!(listed.body["meta"]["key"], "functions");
    let updated = app
        .post(&format!("{list}/{sid}"), &[("FriendlyName", "/renamed")])
        .await;
    assert_eq!(updated.body["friendly_name"], "/renamed");
    assert_error(&app.post(&format!("{list}/{sid}"), &[]).await, 400, 20001);
    assert_error(
        &app.post(&list, &[("FriendlyName", &"x".repeat(256))]).await,
        400,
        20001,
    );
    assert_eq!(
        app.delete(&format!("{list}/{sid}")).await.status,
        StatusCode::NO_CONTENT
    );
    assert_error(&app.get(&format!("{list}/{sid}")).await, 404, 20404);
}

#[tokio::test]
async fn asset_and_function_sids_do_not_cross() {
    let app = spawn_app().await;
    let service = app.service("svc").await;
    let asset = app.asset(&service, "a").await;
    let function = app.function(&service, "f").await;
    assert_error(
        &app.get(&format!("/v1/Services/{service}/Functions/{asset}"))
            .await,
        404,
        20404,
    );
    assert_error(
        &app.get(&format!("/v1/Services/{service}/Assets/{function}"))
            .await,
        404,
        20404,
    );
}

#[tokio::test]
async fn function_versions_link_their_content() {
    let app = spawn_app().await;
    let service = app.service("svc").await;
    let function = app.function(&service, "/hello").await;
    let versions = format!("/v1/Services/{service}/Functions/{function}/Versions");
    let code = "exports.handler = (context, event, callback) => callback(null, 'hi ✓');\n";
    let created = app
        .upload(&versions, "hello", "protected", code.as_bytes())
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let sid = created.body["sid"].as_str().unwrap().to_owned();
    let url = app.url(&format!("{versions}/{sid}"));
    assert_eq!(
        redact(&created.body),
        json!({
            "sid": sid,
            "account_sid": ACCOUNT_SID,
            "service_sid": service,
            "function_sid": function,
            "path": "/hello",
            "visibility": "protected",
            "date_created": "<date>",
            "url": url,
            "links": {"function_version_content": format!("{url}/Content")}
        })
    );
    assert_eq!(
        app.get(&format!("{versions}/{sid}")).await.body,
        created.body
    );
    let listed = app.get(&versions).await;
    assert_eq!(listed.body["function_versions"], json!([created.body]));
    assert_eq!(listed.body["meta"]["key"], "function_versions");

    let content = app.get(&format!("{versions}/{sid}/Content")).await;
    assert_eq!(content.status, StatusCode::OK);
    assert_eq!(
        content.body,
        json!({
            "sid": sid,
            "account_sid": ACCOUNT_SID,
            "service_sid": service,
            "function_sid": function,
            "content": code,
            "url": format!("{url}/Content"),
        })
    );
}

#[tokio::test]
async fn function_content_survives_a_restart_and_invalid_utf8_is_replaced() {
    let app = spawn_app().await;
    let service = app.service("svc").await;
    let function = app.function(&service, "f").await;
    let versions = format!("/v1/Services/{service}/Functions/{function}/Versions");
    let created = app.upload(&versions, "/f", "public", b"ok \xff end").await;
    let sid = created.body["sid"].as_str().unwrap().to_owned();
    let app = app.restart().await;
    let content = app.get(&format!("{versions}/{sid}/Content")).await;
    assert_eq!(content.body["content"], "ok \u{fffd} end");
}

#[tokio::test]
async fn function_size_limit_is_10_mib() {
    let app = spawn_app().await;
    let service = app.service("svc").await;
    let function = app.function(&service, "f").await;
    let versions = format!("/v1/Services/{service}/Functions/{function}/Versions");
    let at_limit = vec![b'/'; 10 << 20];
    assert_eq!(
        app.upload(&versions, "/f", "public", &at_limit)
            .await
            .status,
        201
    );
    let over = vec![b'/'; (10 << 20) + 1];
    assert_error(
        &app.upload(&versions, "/f", "public", &over).await,
        413,
        20413,
    );
}
