use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_error, redact, spawn_app, spawn_with, ACCOUNT_SID};

#[tokio::test]
async fn create_service_returns_the_full_resource() {
    let app = spawn_app().await;
    let created = app
        .post(
            "/v1/Services",
            &[
                ("UniqueName", "my-app"),
                ("FriendlyName", "My App"),
                ("Unknown", "x"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.headers["content-type"], "application/json");
    let sid = created.body["sid"].as_str().unwrap().to_owned();
    assert!(sid.starts_with("ZS") && sid.len() == 34);
    let domain_base = created.body["domain_base"].as_str().unwrap().to_owned();
    assert!(domain_base.starts_with("my-app-") && domain_base.len() == "my-app-".len() + 4);
    let url = app.url(&format!("/v1/Services/{sid}"));
    assert_eq!(
        redact(&created.body),
        json!({
            "sid": sid,
            "account_sid": ACCOUNT_SID,
            "friendly_name": "My App",
            "unique_name": "my-app",
            "include_credentials": true,
            "ui_editable": false,
            "domain_base": domain_base,
            "date_created": "<date>",
            "date_updated": "<date>",
            "url": url,
            "links": {
                "environments": format!("{url}/Environments"),
                "functions": format!("{url}/Functions"),
                "assets": format!("{url}/Assets"),
                "builds": format!("{url}/Builds"),
            }
        })
    );
    // Key order follows Twilio's examples.
    let raw = app
        .client
        .get(&url)
        .basic_auth(
            crate::helpers::ACCOUNT_SID,
            Some(crate::helpers::AUTH_TOKEN),
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(raw.starts_with(r#"{"sid":"ZS"#), "{raw}");
    assert!(raw.ends_with(r#"/Builds"}}"#), "{raw}");
}

#[tokio::test]
async fn fetch_service_by_sid_or_unique_name() {
    let app = spawn_app().await;
    let sid = app.service("my-app").await;
    let by_sid = app.get(&format!("/v1/Services/{sid}")).await;
    let by_name = app.get("/v1/Services/my-app").await;
    assert_eq!(by_sid.status, StatusCode::OK);
    assert_eq!(by_sid.body, by_name.body);
    assert_eq!(by_name.body["sid"], sid.as_str());
    // Trailing slash tolerated.
    let slashed = app.get(&format!("/v1/Services/{sid}/")).await;
    assert_eq!(slashed.body, by_sid.body);
}

#[tokio::test]
async fn create_service_booleans_are_stored() {
    let app = spawn_app().await;
    let created = app
        .post(
            "/v1/Services",
            &[
                ("UniqueName", "b"),
                ("FriendlyName", "b"),
                ("IncludeCredentials", "FALSE"),
                ("UiEditable", "True"),
            ],
        )
        .await;
    assert_eq!(created.body["include_credentials"], false);
    assert_eq!(created.body["ui_editable"], true);
}

#[tokio::test]
async fn create_service_rejects_bad_parameters_and_changes_nothing() {
    let app = spawn_app().await;
    let long_name = "x".repeat(256);
    let long_unique = "n".repeat(51);
    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![("FriendlyName", "f")],
        vec![("UniqueName", ""), ("FriendlyName", "f")],
        vec![("UniqueName", "ok")],
        vec![("UniqueName", "ok"), ("FriendlyName", "")],
        vec![("UniqueName", "ok"), ("FriendlyName", &long_name)],
        vec![("UniqueName", "-bad"), ("FriendlyName", "f")],
        vec![("UniqueName", "has space"), ("FriendlyName", "f")],
        vec![("UniqueName", &long_unique), ("FriendlyName", "f")],
        vec![
            ("UniqueName", "ZS0123456789abcdef0123456789abcdef"),
            ("FriendlyName", "f"),
        ],
        vec![
            ("UniqueName", "ok"),
            ("FriendlyName", "f"),
            ("IncludeCredentials", "yes"),
        ],
        vec![
            ("UniqueName", "ok"),
            ("FriendlyName", "f"),
            ("UiEditable", "1"),
        ],
    ];
    for form in cases {
        let answer = app.post("/v1/Services", &form).await;
        assert_error(&answer, 400, 20001);
    }
    let missing = app.post("/v1/Services", &[("FriendlyName", "f")]).await;
    assert_eq!(
        missing.body["message"],
        "Missing required parameter UniqueName in the post body"
    );
    let list = app.get("/v1/Services").await;
    assert_eq!(list.body["services"], json!([]));
}

#[tokio::test]
async fn duplicate_unique_name_is_409() {
    let app = spawn_app().await;
    app.service("twice").await;
    let again = app
        .post(
            "/v1/Services",
            &[("UniqueName", "twice"), ("FriendlyName", "f")],
        )
        .await;
    assert_error(&again, 409, 20409);
    assert_eq!(
        again.body["message"],
        "Service with UniqueName twice already exists"
    );
}

#[tokio::test]
async fn services_per_account_limit_is_enforced() {
    let app = spawn_with(|mut c| {
        c.limits.max_services = 2;
        c
    })
    .await;
    app.service("one").await;
    app.service("two").await;
    let third = app
        .post(
            "/v1/Services",
            &[("UniqueName", "three"), ("FriendlyName", "f")],
        )
        .await;
    assert_error(&third, 400, 20001);
    assert!(third.body["message"].as_str().unwrap().contains("limit"));
}

#[tokio::test]
async fn update_service_changes_only_given_fields() {
    let app = spawn_app().await;
    let sid = app.service("upd").await;
    let before = app.get(&format!("/v1/Services/{sid}")).await.body;
    let updated = app
        .post(
            &format!("/v1/Services/{sid}"),
            &[
                ("FriendlyName", "Renamed"),
                ("UiEditable", "true"),
                ("UniqueName", "ignored"),
            ],
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK);
    assert_eq!(updated.body["friendly_name"], "Renamed");
    assert_eq!(updated.body["ui_editable"], true);
    assert_eq!(updated.body["include_credentials"], true);
    assert_eq!(updated.body["unique_name"], "upd");
    assert_eq!(updated.body["domain_base"], before["domain_base"]);
    let fetched = app.get(&format!("/v1/Services/{sid}")).await;
    assert_eq!(fetched.body, updated.body);

    let unchanged = app.post(&format!("/v1/Services/{sid}"), &[]).await;
    assert_eq!(unchanged.status, StatusCode::OK);
    assert_eq!(unchanged.body, updated.body);
}

#[tokio::test]
async fn update_service_rejects_bad_values_and_changes_nothing() {
    let app = spawn_app().await;
    let sid = app.service("upd").await;
    let path = format!("/v1/Services/{sid}");
    let long_name = "x".repeat(256);
    for form in [
        vec![("FriendlyName", long_name.as_str())],
        vec![("IncludeCredentials", "maybe")],
        vec![("FriendlyName", "ok"), ("UiEditable", "2")],
    ] {
        assert_error(&app.post(&path, &form).await, 400, 20001);
    }
    let fetched = app.get(&path).await;
    assert_eq!(fetched.body["friendly_name"], "upd");
    assert_eq!(fetched.body["ui_editable"], false);
}

#[tokio::test]
async fn delete_service_removes_it_and_everything_below() {
    let app = spawn_app().await;
    let sid = app.service("gone").await;
    let asset = app.asset(&sid, "a").await;
    let deleted = app.delete(&format!("/v1/Services/{sid}")).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(deleted.body, serde_json::Value::Null);
    assert_error(&app.get(&format!("/v1/Services/{sid}")).await, 404, 20404);
    assert_error(
        &app.get(&format!("/v1/Services/{sid}/Assets/{asset}")).await,
        404,
        20404,
    );
    assert_error(
        &app.delete(&format!("/v1/Services/{sid}")).await,
        404,
        20404,
    );
    // The unique name is free again.
    app.service("gone").await;
}

#[tokio::test]
async fn delete_service_by_unique_name() {
    let app = spawn_app().await;
    app.service("byname").await;
    let deleted = app.delete("/v1/Services/byname").await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_error(&app.get("/v1/Services/byname").await, 404, 20404);
}

#[tokio::test]
async fn services_survive_a_restart() {
    let app = spawn_app().await;
    let sid = app.service("durable").await;
    let app = app.restart().await;
    let fetched = app.get(&format!("/v1/Services/{sid}")).await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(fetched.body["unique_name"], "durable");
}

#[tokio::test]
async fn public_url_is_the_base_of_every_url() {
    let app = spawn_with(|mut c| {
        c.public_url = Some("https://depot.example.com".into());
        c
    })
    .await;
    let sid = app.service("pub").await;
    let fetched = app.get(&format!("/v1/Services/{sid}")).await;
    assert_eq!(
        fetched.body["url"],
        format!("https://depot.example.com/v1/Services/{sid}")
    );
    let listed = app.get("/v1/Services").await;
    assert_eq!(
        listed.body["meta"]["url"],
        "https://depot.example.com/v1/Services?PageSize=50&Page=0"
    );
}
