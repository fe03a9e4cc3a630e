//! Rules every endpoint shares: authentication, 404 for bad SIDs, 405, body handling.

use reqwest::{Method, StatusCode};

use crate::helpers::{answer, assert_error, spawn_app, ACCOUNT_SID, AUTH_TOKEN};

#[tokio::test]
async fn healthz_needs_no_credentials() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn missing_or_wrong_credentials_are_401() {
    let app = spawn_app().await;
    let service = app.service("svc").await;
    let url = app.url(&format!("/v1/Services/{service}"));
    let none = answer(app.client.get(&url).send().await.unwrap()).await;
    assert_error(&none, 401, 20003);
    assert_eq!(
        none.headers["www-authenticate"],
        "Basic realm=\"Twilio API\""
    );
    assert_eq!(
        none.body["message"],
        "Authentication Error - No credentials provided"
    );

    let attempts = [
        (ACCOUNT_SID, "wrong-token"),
        ("ACbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", AUTH_TOKEN),
        ("", ""),
        ("not-a-sid", AUTH_TOKEN),
    ];
    for (user, password) in attempts {
        let wrong = answer(
            app.client
                .get(&url)
                .basic_auth(user, Some(password))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_error(&wrong, 401, 20003);
        assert_eq!(
            wrong.headers["www-authenticate"],
            "Basic realm=\"Twilio API\""
        );
    }
    let garbage = answer(
        app.client
            .get(&url)
            .header("Authorization", "Basic %%%")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(&garbage, 401, 20003);
}

#[tokio::test]
async fn auth_is_checked_before_routing() {
    let app = spawn_app().await;
    for (method, path) in [
        (Method::GET, "/v1/Nope"),
        (Method::PUT, "/v1/Services"),
        (Method::POST, "/v1/Services"),
    ] {
        let response = app
            .client
            .request(method, app.url(path))
            .send()
            .await
            .unwrap();
        assert_error(&answer(response).await, 401, 20003);
    }
}

#[tokio::test]
async fn malformed_sids_are_404_on_every_method() {
    let app = spawn_app().await;
    let service = app.service("svc").await;
    let long = "ZH".to_owned() + &"a".repeat(5000);
    let bad_sids = [
        "ZH123",
        "ZHzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
        "ZE0123456789abcdef0123456789abcdef",
        "ZH0123456789abcdef0123456789abcd%00",
        "ZH0123456789abcdef0123456789abc%C3%A9",
        "%FF%FE",
        long.as_str(),
        "ZH0123456789abcdef0123456789abcdef",
    ];
    for sid in bad_sids {
        let path = format!("/v1/Services/{service}/Assets/{sid}");
        assert_error(&app.get(&path).await, 404, 20404);
        assert_error(&app.post(&path, &[("FriendlyName", "x")]).await, 404, 20404);
        assert_error(&app.delete(&path).await, 404, 20404);
    }
    for service_segment in [
        "ZS123",
        "%00",
        "ZS0123456789abcdef0123456789abcdef",
        long.as_str(),
    ] {
        let path = format!("/v1/Services/{service_segment}");
        assert_error(&app.get(&path).await, 404, 20404);
        assert_error(&app.post(&path, &[("FriendlyName", "x")]).await, 404, 20404);
        assert_error(&app.delete(&path).await, 404, 20404);
        assert_error(&app.get(&format!("{path}/Assets")).await, 404, 20404);
    }
}

#[tokio::test]
async fn not_found_message_names_the_path_without_v1() {
    let app = spawn_app().await;
    let answer = app
        .get("/v1/Services/ZS0123456789abcdef0123456789abcdef")
        .await;
    assert_eq!(
        answer.body["message"],
        "The requested resource /Services/ZS0123456789abcdef0123456789abcdef was not found"
    );
    assert_error(&app.get("/v1/Unknown/Thing").await, 404, 20404);
    assert_error(&app.get("/").await, 404, 20404);
}

#[tokio::test]
async fn unsupported_methods_are_405_with_allow() {
    let app = spawn_app().await;
    let service = app.service("svc").await;
    let asset = app.asset(&service, "a").await;
    let cases = [
        (Method::PUT, "/v1/Services".to_owned()),
        (Method::DELETE, "/v1/Services".to_owned()),
        (Method::PATCH, format!("/v1/Services/{service}")),
        (Method::DELETE, format!("/v1/Services/{service}/Assets")),
        (
            Method::PUT,
            format!("/v1/Services/{service}/Assets/{asset}"),
        ),
    ];
    for (method, path) in cases {
        let response = app
            .client
            .request(method, app.url(&path))
            .basic_auth(ACCOUNT_SID, Some(AUTH_TOKEN))
            .send()
            .await
            .unwrap();
        let answer = answer(response).await;
        assert_error(&answer, 405, 20004);
        let allow = answer.headers["allow"].to_str().unwrap();
        assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    }
}

#[tokio::test]
async fn non_form_bodies_carry_no_parameters() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/v1/Services"))
        .basic_auth(ACCOUNT_SID, Some(AUTH_TOKEN))
        .header("Content-Type", "application/json")
        .body(r#"{"UniqueName":"x","FriendlyName":"y"}"#)
        .send()
        .await
        .unwrap();
    let answer = answer(response).await;
    assert_error(&answer, 400, 20001);
    assert_eq!(
        answer.body["message"],
        "Missing required parameter UniqueName in the post body"
    );
}

#[tokio::test]
async fn huge_api_bodies_are_413_and_change_nothing() {
    let app = spawn_app().await;
    let huge = format!("UniqueName=big&FriendlyName={}", "x".repeat(2 << 20));
    let response = app
        .client
        .post(app.url("/v1/Services"))
        .basic_auth(ACCOUNT_SID, Some(AUTH_TOKEN))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_error(&answer(response).await, 413, 20413);
    assert_error(&app.get("/v1/Services/big").await, 404, 20404);
}

#[tokio::test]
async fn query_parameters_on_post_are_ignored() {
    let app = spawn_app().await;
    let answer = app
        .post("/v1/Services?UniqueName=q&FriendlyName=q", &[])
        .await;
    assert_error(&answer, 400, 20001);
}
