//! The 2010-04-01 Accounts and Keys subset (COMPAT §16): subaccounts, API keys, who may do
//! what, key authentication on Serverless v1, and isolation between accounts.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::*;

/// A request with any Basic credentials (and a form on POST).
async fn call(
    app: &TestApp,
    (user, password): (&str, &str),
    method: Method,
    path: &str,
    form: &[(&str, &str)],
) -> Answer {
    let mut request = app
        .client
        .request(method.clone(), app.url(path))
        .basic_auth(user, Some(password));
    if method == Method::POST {
        request = request.form(form);
    }
    answer(request.send().await.unwrap()).await
}

/// Creates a subaccount as the main account; returns (sid, auth_token).
async fn subaccount(app: &TestApp, name: &str) -> (String, String) {
    let created = app
        .post("/2010-04-01/Accounts.json", &[("FriendlyName", name)])
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    (
        created.body["sid"].as_str().unwrap().to_owned(),
        created.body["auth_token"].as_str().unwrap().to_owned(),
    )
}

/// Creates a key of `account` with `creds`; returns (sid, secret).
async fn new_key(app: &TestApp, creds: (&str, &str), account: &str) -> (String, String) {
    let path = format!("/2010-04-01/Accounts/{account}/Keys.json");
    let created = call(app, creds, Method::POST, &path, &[("FriendlyName", "ci")]).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    (
        created.body["sid"].as_str().unwrap().to_owned(),
        created.body["secret"].as_str().unwrap().to_owned(),
    )
}

fn keys_of(body: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

fn is_rfc2822(text: &str) -> bool {
    // `Wed, 18 Aug 2010 20:01:40 +0000`
    let b = text.as_bytes();
    b.len() == 31 && b[3] == b',' && text.ends_with(" +0000") && b[7] == b' ' && b[19] == b':'
}

fn is_sid(prefix: &str, value: &Value) -> bool {
    value.as_str().is_some_and(|s| {
        s.len() == 34
            && s.starts_with(prefix)
            && s[2..]
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

#[tokio::test]
async fn subaccounts_are_created_listed_fetched_and_updated() {
    let app = spawn_app().await;
    let created = app
        .post("/2010-04-01/Accounts.json", &[("FriendlyName", "team a")])
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let body = &created.body;
    assert_eq!(
        keys_of(body),
        [
            "auth_token",
            "date_created",
            "date_updated",
            "friendly_name",
            "owner_account_sid",
            "sid",
            "status",
            "subresource_uris",
            "type",
            "uri"
        ]
    );
    let sid = body["sid"].as_str().unwrap().to_owned();
    assert!(is_sid("AC", &body["sid"]));
    let token = body["auth_token"].as_str().unwrap();
    assert_eq!(token.len(), 32);
    assert!(token
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    assert_eq!(body["friendly_name"], "team a");
    assert_eq!(body["owner_account_sid"], ACCOUNT_SID);
    assert_eq!(body["status"], "active");
    assert_eq!(body["type"], "Full");
    assert_eq!(body["uri"], format!("/2010-04-01/Accounts/{sid}.json"));
    assert_eq!(
        body["subresource_uris"]["keys"],
        format!("/2010-04-01/Accounts/{sid}/Keys.json")
    );
    assert!(is_rfc2822(body["date_created"].as_str().unwrap()), "{body}");

    // A default name.
    let unnamed = app.post("/2010-04-01/Accounts.json", &[]).await;
    assert_eq!(unnamed.status, StatusCode::CREATED);
    assert!(unnamed.body["friendly_name"]
        .as_str()
        .unwrap()
        .starts_with("SubAccount Created at "));

    // The main account is its own owner; the list holds it first, then its subaccounts.
    let main = app
        .get(&format!("/2010-04-01/Accounts/{ACCOUNT_SID}.json"))
        .await;
    assert_eq!(main.status, StatusCode::OK);
    assert_eq!(main.body["owner_account_sid"], ACCOUNT_SID);
    assert_eq!(main.body["auth_token"], AUTH_TOKEN);
    let list = app.get("/2010-04-01/Accounts.json").await;
    assert_eq!(list.status, StatusCode::OK);
    let sids: Vec<&str> = list.body["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["sid"].as_str().unwrap())
        .collect();
    assert_eq!(
        sids,
        [
            ACCOUNT_SID,
            sid.as_str(),
            unnamed.body["sid"].as_str().unwrap()
        ]
    );

    // Fetch and update (name, then status), as the parent.
    let path = format!("/2010-04-01/Accounts/{sid}.json");
    let fetched = app.get(&path).await;
    assert_eq!(fetched.body, created.body);
    let renamed = app.post(&path, &[("FriendlyName", "team b")]).await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    assert_eq!(renamed.body["friendly_name"], "team b");
    assert_eq!(renamed.body["status"], "active");
    let filtered = app
        .get("/2010-04-01/Accounts.json?FriendlyName=team+b")
        .await;
    assert_eq!(filtered.body["accounts"].as_array().unwrap().len(), 1);
    assert_eq!(
        filtered.body["uri"],
        "/2010-04-01/Accounts.json?FriendlyName=team+b&PageSize=50&Page=0"
    );

    // The subaccount sees only itself, and can rename itself.
    let own = call(
        &app,
        (&sid, token),
        Method::GET,
        "/2010-04-01/Accounts.json",
        &[],
    )
    .await;
    assert_eq!(own.body["accounts"].as_array().unwrap().len(), 1);
    let main_path = format!("/2010-04-01/Accounts/{ACCOUNT_SID}.json");
    let parent = call(&app, (&sid, token), Method::GET, &main_path, &[]).await;
    assert_error(&parent, 404, 20404);
    assert_eq!(
        parent.body["message"],
        format!("The requested resource {main_path} was not found")
    );
    let own_status = call(
        &app,
        (&sid, token),
        Method::POST,
        &path,
        &[("Status", "suspended")],
    )
    .await;
    assert_error(&own_status, 403, 20403);
    let main_status = app.post(&main_path, &[("Status", "suspended")]).await;
    assert_error(&main_status, 403, 20403);

    // Bad values.
    assert_error(&app.post(&path, &[("Status", "asleep")]).await, 400, 20001);
    let long = "x".repeat(65);
    assert_error(
        &app.post(&path, &[("FriendlyName", long.as_str())]).await,
        400,
        20001,
    );
    assert_error(
        &app.get("/2010-04-01/Accounts/ACnope.json").await,
        404,
        20404,
    );
    assert_error(
        &app.get(&format!("/2010-04-01/Accounts/{sid}")).await,
        404,
        20404,
    );
    assert_error(&app.get("/2010-04-01/Accounts").await, 404, 20404);
    assert_error(&app.delete(&path).await, 405, 20004);

    // Closed is final, and stays listed.
    let closed = app.post(&path, &[("Status", "closed")]).await;
    assert_eq!(closed.body["status"], "closed");
    assert_error(&app.post(&path, &[("Status", "active")]).await, 400, 21479);
    let closed_list = app.get("/2010-04-01/Accounts.json?Status=closed").await;
    assert_eq!(closed_list.body["accounts"][0]["sid"], sid.as_str());
}

#[tokio::test]
async fn subaccounts_cannot_create_accounts_and_suspended_ones_are_refused() {
    let app = spawn_app().await;
    let (sid, token) = subaccount(&app, "sub").await;
    let nested = call(
        &app,
        (&sid, &token),
        Method::POST,
        "/2010-04-01/Accounts.json",
        &[("FriendlyName", "nested")],
    )
    .await;
    assert_error(&nested, 403, 20403);

    let (key, secret) = new_key(&app, (&sid, &token), &sid).await;
    let ok = call(&app, (&sid, &token), Method::GET, "/v1/Services", &[]).await;
    assert_eq!(ok.status, StatusCode::OK);

    let path = format!("/2010-04-01/Accounts/{sid}.json");
    let suspended = app.post(&path, &[("Status", "suspended")]).await;
    assert_eq!(suspended.body["status"], "suspended", "{}", suspended.body);
    // Refused from the next request on, with the token and with its keys.
    let refused = call(&app, (&sid, &token), Method::GET, "/v1/Services", &[]).await;
    assert_error(&refused, 401, 20003);
    let by_key = call(&app, (&key, &secret), Method::GET, "/v1/Services", &[]).await;
    assert_error(&by_key, 401, 20003);
    // The parent still reaches it, and brings it back.
    let back = app.post(&path, &[("Status", "active")]).await;
    assert_eq!(back.body["status"], "active");
    let ok = call(&app, (&sid, &token), Method::GET, "/v1/Services", &[]).await;
    assert_eq!(ok.status, StatusCode::OK);
}

#[tokio::test]
async fn keys_are_created_listed_fetched_updated_and_deleted() {
    let app = spawn_app().await;
    let (sub, sub_token) = subaccount(&app, "sub").await;
    let keys = format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Keys.json");
    let created = app.post(&keys, &[("FriendlyName", "deploy")]).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(
        keys_of(&created.body),
        [
            "date_created",
            "date_updated",
            "friendly_name",
            "secret",
            "sid"
        ]
    );
    assert!(is_sid("SK", &created.body["sid"]));
    let secret = created.body["secret"].as_str().unwrap();
    assert_eq!(secret.len(), 32);
    assert!(secret.bytes().all(|b| b.is_ascii_alphanumeric()));
    let sid = created.body["sid"].as_str().unwrap();
    let unnamed = app.post(&keys, &[]).await;
    assert_eq!(unnamed.body["friendly_name"], Value::Null);

    // Never the secret again.
    let path = format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Keys/{sid}.json");
    let fetched = app.get(&path).await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(
        keys_of(&fetched.body),
        ["date_created", "date_updated", "friendly_name", "sid"]
    );
    assert!(is_rfc2822(fetched.body["date_updated"].as_str().unwrap()));
    let list = app.get(&keys).await;
    assert_eq!(list.status, StatusCode::OK);
    let listed = list.body["keys"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["sid"], sid);
    assert!(listed.iter().all(|k| k.get("secret").is_none()));
    let renamed = app.post(&path, &[("FriendlyName", "renamed")]).await;
    assert_eq!(renamed.status, StatusCode::OK);
    assert_eq!(renamed.body["friendly_name"], "renamed");
    assert!(renamed.body.get("secret").is_none());

    // The parent manages a subaccount's keys; the subaccount does not see the parent's.
    let (sub_key, _) = new_key(&app, (ACCOUNT_SID, AUTH_TOKEN), &sub).await;
    let sub_keys = format!("/2010-04-01/Accounts/{sub}/Keys.json");
    let seen = call(&app, (&sub, &sub_token), Method::GET, &sub_keys, &[]).await;
    assert_eq!(seen.body["keys"][0]["sid"], sub_key.as_str());
    let foreign = call(&app, (&sub, &sub_token), Method::GET, &path, &[]).await;
    assert_error(&foreign, 404, 20404);
    let other = call(&app, (&sub, &sub_token), Method::GET, &keys, &[]).await;
    assert_error(&other, 404, 20404);
    // A key SID under the wrong account is not found.
    let misplaced = format!("/2010-04-01/Accounts/{sub}/Keys/{sid}.json");
    assert_error(&app.get(&misplaced).await, 404, 20404);

    // Delete.
    let deleted = app.delete(&path).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_error(&app.get(&path).await, 404, 20404);
    assert_error(&app.delete(&path).await, 404, 20404);
    assert_error(
        &app.get(&format!(
            "/2010-04-01/Accounts/{ACCOUNT_SID}/Keys/SKnope.json"
        ))
        .await,
        404,
        20404,
    );
    let long = "k".repeat(65);
    assert_error(
        &app.post(&keys, &[("FriendlyName", long.as_str())]).await,
        400,
        20001,
    );
}

#[tokio::test]
async fn keys_act_as_their_account_on_serverless_and_are_refused_on_2010_paths() {
    let app = spawn_app().await;
    let (sub, sub_token) = subaccount(&app, "sub").await;
    let (key, secret) = new_key(&app, (&sub, &sub_token), &sub).await;
    let creds = (key.as_str(), secret.as_str());

    let made = call(
        &app,
        creds,
        Method::POST,
        "/v1/Services",
        &[("UniqueName", "by-key"), ("FriendlyName", "by key")],
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    assert_eq!(made.body["account_sid"], sub.as_str());
    let service = made.body["sid"].as_str().unwrap();
    let seen = call(
        &app,
        (&sub, &sub_token),
        Method::GET,
        &format!("/v1/Services/{service}"),
        &[],
    )
    .await;
    assert_eq!(seen.status, StatusCode::OK);

    // Wrong secret, unknown key.
    let wrong = call(
        &app,
        (&key, "x".repeat(32).as_str()),
        Method::GET,
        "/v1/Services",
        &[],
    )
    .await;
    assert_error(&wrong, 401, 20003);
    let unknown = call(
        &app,
        ("SK00000000000000000000000000000000", secret.as_str()),
        Method::GET,
        "/v1/Services",
        &[],
    )
    .await;
    assert_error(&unknown, 401, 20003);

    // Every 2010 path refuses keys.
    for (method, path) in [
        (Method::GET, "/2010-04-01/Accounts.json".to_owned()),
        (Method::POST, "/2010-04-01/Accounts.json".to_owned()),
        (Method::GET, format!("/2010-04-01/Accounts/{sub}.json")),
        (Method::POST, format!("/2010-04-01/Accounts/{sub}.json")),
        (Method::GET, format!("/2010-04-01/Accounts/{sub}/Keys.json")),
        (
            Method::POST,
            format!("/2010-04-01/Accounts/{sub}/Keys.json"),
        ),
        (
            Method::GET,
            format!("/2010-04-01/Accounts/{sub}/Keys/{key}.json"),
        ),
        (
            Method::DELETE,
            format!("/2010-04-01/Accounts/{sub}/Keys/{key}.json"),
        ),
    ] {
        let refused = call(&app, creds, method, &path, &[]).await;
        assert_error(&refused, 403, 20403);
    }

    // Deleted: refused from the next request on.
    let path = format!("/2010-04-01/Accounts/{sub}/Keys/{key}.json");
    let ok = call(&app, creds, Method::GET, "/v1/Services", &[]).await;
    assert_eq!(ok.status, StatusCode::OK);
    let deleted = call(&app, (&sub, &sub_token), Method::DELETE, &path, &[]).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let refused = call(&app, creds, Method::GET, "/v1/Services", &[]).await;
    assert_error(&refused, 401, 20003);
}

#[tokio::test]
async fn lists_page_the_2010_way() {
    let app = spawn_app().await;
    for n in 0..3 {
        subaccount(&app, &format!("sub {n}")).await;
    }
    let first = app.get("/2010-04-01/Accounts.json?PageSize=2").await;
    assert_eq!(first.status, StatusCode::OK);
    let body = &first.body;
    assert_eq!(
        keys_of(body),
        [
            "accounts",
            "end",
            "first_page_uri",
            "next_page_uri",
            "page",
            "page_size",
            "previous_page_uri",
            "start",
            "uri"
        ]
    );
    assert_eq!(body["accounts"].as_array().unwrap().len(), 2);
    assert_eq!(body["start"], 0);
    assert_eq!(body["end"], 1);
    assert_eq!(body["page"], 0);
    assert_eq!(body["page_size"], 2);
    assert_eq!(body["previous_page_uri"], Value::Null);
    assert_eq!(
        body["first_page_uri"],
        "/2010-04-01/Accounts.json?PageSize=2&Page=0"
    );
    assert_eq!(body["uri"], "/2010-04-01/Accounts.json?PageSize=2&Page=0");
    let next = body["next_page_uri"].as_str().unwrap();
    assert!(next.starts_with("/2010-04-01/Accounts.json?PageSize=2&Page=1&PageToken="));

    let second = app.get(next).await;
    assert_eq!(second.status, StatusCode::OK);
    let body = &second.body;
    assert_eq!(body["accounts"].as_array().unwrap().len(), 2);
    assert_eq!(body["start"], 2);
    assert_eq!(body["end"], 3);
    assert_eq!(body["page"], 1);
    assert_eq!(body["next_page_uri"], Value::Null);
    assert_eq!(
        body["previous_page_uri"],
        "/2010-04-01/Accounts.json?PageSize=2&Page=0"
    );

    let empty = app
        .get(&format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Keys.json"))
        .await;
    assert_eq!(empty.body["keys"], serde_json::json!([]));
    assert_eq!(empty.body["start"], 0);
    assert_eq!(empty.body["end"], 0);
    assert_eq!(empty.body["next_page_uri"], Value::Null);
    assert_error(
        &app.get("/2010-04-01/Accounts.json?PageSize=0").await,
        400,
        20001,
    );
}

#[tokio::test]
async fn accounts_are_isolated_on_every_serverless_resource() {
    let app = spawn_app().await;
    let (other, other_token) = subaccount(&app, "tenant").await;
    let deployed = app
        .deploy(&[asset_file("/a.txt", "text/plain", b"hello")])
        .await;
    let asset = app.asset(&deployed.service, "b").await;
    let service = &deployed.service;
    let paths = [
        format!("/v1/Services/{service}"),
        format!("/v1/Services/{service}/Assets"),
        format!("/v1/Services/{service}/Assets/{asset}"),
        format!("/v1/Services/{service}/Builds"),
        format!("/v1/Services/{service}/Builds/{}", deployed.build),
        format!("/v1/Services/{service}/Environments"),
        format!(
            "/v1/Services/{service}/Environments/{}",
            deployed.environment
        ),
        format!(
            "/v1/Services/{service}/Environments/{}/Deployments",
            deployed.environment
        ),
    ];
    for path in &paths {
        let own = app.get(path).await;
        assert_eq!(own.status, StatusCode::OK, "{path}: {}", own.body);
        let foreign = call(&app, (&other, &other_token), Method::GET, path, &[]).await;
        assert_error(&foreign, 404, 20404);
        // Nor can it delete them.
        let deleted = call(&app, (&other, &other_token), Method::DELETE, path, &[]).await;
        assert!(matches!(deleted.status.as_u16(), 404 | 405), "{path}");
    }
    // The other account's lists are empty; by unique name too.
    let list = call(
        &app,
        (&other, &other_token),
        Method::GET,
        "/v1/Services",
        &[],
    )
    .await;
    assert_eq!(list.body["services"], serde_json::json!([]));
    let by_name = call(
        &app,
        (&other, &other_token),
        Method::GET,
        "/v1/Services/site",
        &[],
    )
    .await;
    assert_error(&by_name, 404, 20404);
    // And the parent does not reach the subaccount's Serverless resources either.
    let theirs = call(
        &app,
        (&other, &other_token),
        Method::POST,
        "/v1/Services",
        &[("UniqueName", "theirs"), ("FriendlyName", "theirs")],
    )
    .await;
    let theirs = theirs.body["sid"].as_str().unwrap();
    assert_error(
        &app.get(&format!("/v1/Services/{theirs}")).await,
        404,
        20404,
    );
    // The main account's service still stands.
    assert_eq!(app.get(&paths[0]).await.status, StatusCode::OK);
}
