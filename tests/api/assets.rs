use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{assert_error, redact, spawn_app, ACCOUNT_SID};

#[tokio::test]
async fn create_asset_returns_the_seed_shape() {
    let app = spawn_app().await;
    let service = app.service("svc").await;
    let created = app
        .post(
            &format!("/v1/Services/{service}/Assets"),
            &[("FriendlyName", "FriendlyName")],
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let sid = created.body["sid"].as_str().unwrap().to_owned();
    assert!(sid.starts_with("ZH") && sid.len() == 34);
    let url = app.url(&format!("/v1/Services/{service}/Assets/{sid}"));
    assert_eq!(
        redact(&created.body),
        json!({
            "sid": sid,
            "account_sid": ACCOUNT_SID,
            "service_sid": service,
            "friendly_name": "FriendlyName",
            "date_created": "<date>",
            "date_updated": "<date>",
            "url": url,
            "links": {"asset_versions": format!("{url}/Versions")}
        })
    );
}

#[tokio::test]
async fn assets_are_addressable_through_the_service_unique_name() {
    let app = spawn_app().await;
    let service = app.service("named").await;
    let created = app
        .post("/v1/Services/named/Assets", &[("FriendlyName", "a")])
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    // URLs always carry the real SID.
    assert_eq!(created.body["service_sid"], service.as_str());
    let sid = created.body["sid"].as_str().unwrap();
    let fetched = app.get(&format!("/v1/Services/named/Assets/{sid}")).await;
    assert_eq!(fetched.body, created.body);
}

#[tokio::test]
async fn fetch_update_delete_asset() {
    let app = spawn_app().await;
    let service = app.service("svc").await;
    let sid = app.asset(&service, "before").await;
    let path = format!("/v1/Services/{service}/Assets/{sid}");

    let fetched = app.get(&path).await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(fetched.body["friendly_name"], "before");

    let updated = app.post(&path, &[("FriendlyName", "after")]).await;
    assert_eq!(updated.status, StatusCode::OK);
    assert_eq!(updated.body["friendly_name"], "after");
    assert_eq!(updated.body["date_created"], fetched.body["date_created"]);
    assert_eq!(app.get(&path).await.body, updated.body);

    let deleted = app.delete(&path).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_error(&app.get(&path).await, 404, 20404);
    assert_error(&app.delete(&path).await, 404, 20404);
    assert_error(&app.post(&path, &[("FriendlyName", "x")]).await, 404, 20404);
}

#[tokio::test]
async fn friendly_name_rules_on_create_and_update() {
    let app = spawn_app().await;
    let service = app.service("svc").await;
    let list_path = format!("/v1/Services/{service}/Assets");
    let sid = app.asset(&service, "keep").await;
    let path = format!("{list_path}/{sid}");
    let max = "é".repeat(255);
    let over = "é".repeat(256);
    for form in [
        vec![],
        vec![("FriendlyName", "")],
        vec![("FriendlyName", over.as_str())],
    ] {
        assert_error(&app.post(&list_path, &form).await, 400, 20001);
        assert_error(&app.post(&path, &form).await, 400, 20001);
    }
    let missing = app.post(&list_path, &[]).await;
    assert_eq!(
        missing.body["message"],
        "Missing required parameter FriendlyName in the post body"
    );
    assert_eq!(app.get(&path).await.body["friendly_name"], "keep");
    let listed = app.get(&list_path).await;
    assert_eq!(listed.body["assets"].as_array().unwrap().len(), 1);
    // Exactly 255 characters is fine.
    let created = app
        .post(&list_path, &[("FriendlyName", max.as_str())])
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.body["friendly_name"], max.as_str());
}

#[tokio::test]
async fn asset_of_another_service_is_not_found() {
    let app = spawn_app().await;
    let first = app.service("first").await;
    let second = app.service("second").await;
    let sid = app.asset(&first, "a").await;
    let foreign = format!("/v1/Services/{second}/Assets/{sid}");
    assert_error(&app.get(&foreign).await, 404, 20404);
    assert_error(
        &app.post(&foreign, &[("FriendlyName", "x")]).await,
        404,
        20404,
    );
    assert_error(&app.delete(&foreign).await, 404, 20404);
    assert_eq!(
        app.get(&format!("/v1/Services/{first}/Assets/{sid}"))
            .await
            .body["friendly_name"],
        "a"
    );
}

#[tokio::test]
async fn unknown_service_wins_over_bad_parameters() {
    let app = spawn_app().await;
    let answer = app.post("/v1/Services/nope/Assets", &[]).await;
    assert_error(&answer, 404, 20404);
    assert_eq!(
        answer.body["message"],
        "The requested resource /Services/nope/Assets was not found"
    );
    let answer = app.get("/v1/Services/nope/Assets?PageSize=0").await;
    assert_error(&answer, 404, 20404);
}

#[tokio::test]
async fn another_accounts_assets_are_invisible() {
    let app = spawn_app().await;
    let service = app.service("mine").await;
    let asset = app.asset(&service, "a").await;
    let other = "ACbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    app.add_account(other, "other-token").await;
    for path in [
        format!("/v1/Services/{service}"),
        "/v1/Services/mine".to_owned(),
        format!("/v1/Services/{service}/Assets"),
        format!("/v1/Services/{service}/Assets/{asset}"),
    ] {
        let answer = app.call_as(other, "other-token", Method::GET, &path).await;
        assert_error(&answer, 404, 20404);
        let answer = app
            .call_as(other, "other-token", Method::DELETE, &path)
            .await;
        assert!(matches!(answer.status.as_u16(), 404 | 405), "{path}");
    }
    let listed = app
        .call_as(other, "other-token", Method::GET, "/v1/Services")
        .await;
    assert_eq!(listed.body["services"], json!([]));
    assert_eq!(
        app.get(&format!("/v1/Services/{service}/Assets/{asset}"))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn assets_survive_a_restart() {
    let app = spawn_app().await;
    let service = app.service("svc").await;
    let sid = app.asset(&service, "durable").await;
    let app = app.restart().await;
    let fetched = app
        .get(&format!("/v1/Services/{service}/Assets/{sid}"))
        .await;
    assert_eq!(fetched.body["friendly_name"], "durable");
}
