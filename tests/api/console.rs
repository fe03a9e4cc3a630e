//! The browser console over HTTP: sign-in and its cookie, CSRF and origin checks, security
//! headers, isolation between accounts, escaping of hostile names, and where it is served.

use reqwest::header::{HeaderMap, COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};

use crate::helpers::{asset_file, spawn_app, spawn_with, TestApp, ACCOUNT_SID, AUTH_TOKEN};

const OTHER_SID: &str = "ACbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const OTHER_TOKEN: &str = "other-token-0123456789";

/// A browser's view of the console: one session cookie, no redirects followed.
struct Browser<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    cookie: Option<String>,
}

struct Page {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl<'a> Browser<'a> {
    fn new(app: &'a TestApp) -> Browser<'a> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Browser {
            app,
            client,
            cookie: None,
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Page {
        let request = match &self.cookie {
            Some(cookie) => request.header(COOKIE, cookie),
            None => request,
        };
        let response = request.send().await.unwrap();
        Page {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        }
    }

    async fn get(&self, path: &str) -> Page {
        self.send(self.client.get(self.app.url(path))).await
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        self.send(self.client.post(self.app.url(path)).form(form))
            .await
    }

    async fn sign_in(app: &'a TestApp, sid: &str, token: &str) -> Browser<'a> {
        let mut browser = Browser::new(app);
        let page = browser
            .post(
                "/console/sign-in",
                &[("AccountSid", sid), ("AuthToken", token)],
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        browser.cookie = Some(session_cookie(&page.headers));
        browser
    }

    /// The CSRF token of the session, as its pages carry it.
    async fn csrf(&self) -> String {
        let page = self.get("/console/services").await;
        let marker = "name=\"csrf\" value=\"";
        let start = page.body.find(marker).expect("a form with a token") + marker.len();
        let end = page.body[start..].find('"').unwrap() + start;
        page.body[start..end].to_owned()
    }

    /// Creates a service through the console; returns its SID.
    async fn create_service(&self, unique_name: &str, friendly_name: &str) -> String {
        let csrf = self.csrf().await;
        let page = self
            .post(
                "/console/services",
                &[
                    ("csrf", &csrf),
                    ("UniqueName", unique_name),
                    ("FriendlyName", friendly_name),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        let location = page.headers[LOCATION].to_str().unwrap();
        let sid = location
            .trim_start_matches("/console/services/")
            .split('?')
            .next()
            .unwrap();
        sid.to_owned()
    }
}

/// `name=value` of the session cookie a sign-in set.
fn session_cookie(headers: &HeaderMap) -> String {
    let set = headers[SET_COOKIE].to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn pages_need_a_session_and_sign_in_sets_a_strict_host_only_cookie() {
    let app = spawn_app().await;
    let anonymous = Browser::new(&app);
    let page = anonymous.get("/console/services").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.headers[LOCATION], "/console/sign-in");

    let page = anonymous
        .post(
            "/console/sign-in",
            &[("AccountSid", ACCOUNT_SID), ("AuthToken", AUTH_TOKEN)],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let cookie = page.headers[SET_COOKIE].to_str().unwrap();
    assert!(cookie.starts_with("depot_console="), "{cookie}");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    assert!(!cookie.to_ascii_lowercase().contains("domain"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain http: {cookie}");
}

#[tokio::test]
async fn over_https_the_cookie_is_secure_with_a_host_prefix() {
    let app = spawn_app().await;
    let browser = Browser::new(&app);
    let request = browser
        .client
        .post(app.url("/console/sign-in"))
        .header("X-Forwarded-Proto", "https")
        .form(&[("AccountSid", ACCOUNT_SID), ("AuthToken", AUTH_TOKEN)]);
    let page = browser.send(request).await;
    let cookie = page.headers[SET_COOKIE].to_str().unwrap();
    assert!(cookie.starts_with("__Host-depot_console="), "{cookie}");
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(cookie.contains("Path=/;"), "{cookie}");
    assert!(!cookie.to_ascii_lowercase().contains("domain"), "{cookie}");
}

#[tokio::test]
async fn a_wrong_token_or_secret_is_refused() {
    let app = spawn_app().await;
    let browser = Browser::new(&app);
    for form in [
        [("AccountSid", ACCOUNT_SID), ("AuthToken", "wrong")],
        [("AccountSid", "ACnope"), ("AuthToken", AUTH_TOKEN)],
        [("ApiKeySid", ACCOUNT_SID), ("ApiKeySecret", AUTH_TOKEN)],
        [
            ("ApiKeySid", "SKaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
            ("ApiKeySecret", "x"),
        ],
    ] {
        let page = browser.post("/console/sign-in", &form).await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{form:?}");
        assert!(page.body.contains("Sign-in failed"));
        assert!(!page.headers.contains_key(SET_COOKIE));
    }
}

#[tokio::test]
async fn an_api_key_signs_in_until_it_is_deleted() {
    let app = spawn_app().await;
    let key = app
        .post(
            &format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Keys.json"),
            &[("FriendlyName", "console")],
        )
        .await;
    let (key_sid, secret) = (
        key.body["sid"].as_str().unwrap().to_owned(),
        key.body["secret"].as_str().unwrap().to_owned(),
    );
    let mut browser = Browser::new(&app);
    let page = browser
        .post(
            "/console/sign-in",
            &[("ApiKeySid", &key_sid), ("ApiKeySecret", &secret)],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    browser.cookie = Some(session_cookie(&page.headers));
    let page = browser.get("/console/services").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(&key_sid));

    let deleted = app
        .delete(&format!(
            "/2010-04-01/Accounts/{ACCOUNT_SID}/Keys/{key_sid}.json"
        ))
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let page = browser.get("/console/services").await;
    assert_eq!(
        page.status,
        StatusCode::SEE_OTHER,
        "a deleted key ends its sessions"
    );
}

#[tokio::test]
async fn sign_out_ends_the_session_for_every_copy_of_the_cookie() {
    let app = spawn_app().await;
    let browser = Browser::sign_in(&app, ACCOUNT_SID, AUTH_TOKEN).await;
    let csrf = browser.csrf().await;
    let page = browser.post("/console/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let cleared = page.headers[SET_COOKIE].to_str().unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    // The old cookie, kept by someone, no longer works.
    let page = browser.get("/console/services").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.headers[LOCATION], "/console/sign-in");
}

#[tokio::test]
async fn every_page_forbids_framing_and_inline_script() {
    let app = spawn_app().await;
    let browser = Browser::sign_in(&app, ACCOUNT_SID, AUTH_TOKEN).await;
    let service = browser.create_service("framed", "Framed").await;
    for path in [
        "/console/sign-in".to_owned(),
        "/console/services".to_owned(),
        format!("/console/services/{service}"),
        format!("/console/services/{service}/files"),
        "/console/nowhere".to_owned(),
    ] {
        let page = browser.get(&path).await;
        let csp = page.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(page.headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(page.headers["cache-control"], "no-store", "{path}");
        assert!(!page.body.contains("<script>"), "{path}: inline script");
        assert!(
            !page.headers.contains_key("access-control-allow-origin"),
            "{path}: the console sends no CORS headers"
        );
    }
}

#[tokio::test]
async fn a_change_without_the_session_token_changes_nothing() {
    let app = spawn_app().await;
    let browser = Browser::sign_in(&app, ACCOUNT_SID, AUTH_TOKEN).await;
    for form in [
        vec![("UniqueName", "forged"), ("FriendlyName", "Forged")],
        vec![
            ("csrf", "not-the-token"),
            ("UniqueName", "forged"),
            ("FriendlyName", "Forged"),
        ],
    ] {
        let page = browser.post("/console/services", &form).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN);
    }
    // The right token from a sibling origin (an environment's page) is refused too.
    let csrf = browser.csrf().await;
    let request = browser
        .client
        .post(app.url("/console/services"))
        .header("Origin", "http://site-1234.localhost")
        .form(&[
            ("csrf", csrf.as_str()),
            ("UniqueName", "forged"),
            ("FriendlyName", "Forged"),
        ]);
    assert_eq!(browser.send(request).await.status, StatusCode::FORBIDDEN);
    let request = browser
        .client
        .post(app.url("/console/services"))
        .header("Sec-Fetch-Site", "same-site")
        .form(&[
            ("csrf", csrf.as_str()),
            ("UniqueName", "forged"),
            ("FriendlyName", "Forged"),
        ]);
    assert_eq!(browser.send(request).await.status, StatusCode::FORBIDDEN);
    // An upload without the token as its first part stores nothing.
    let service = app.service("target").await;
    let body = crate::helpers::multipart_body(&[crate::helpers::PartSpec {
        name: "Content",
        filename: Some("evil.html"),
        content_type: Some("text/html"),
        data: b"<h1>evil</h1>",
    }]);
    let request = browser
        .client
        .post(app.url(&format!("/console/services/{service}/files")))
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={}", crate::helpers::BOUNDARY),
        )
        .body(body);
    assert_eq!(browser.send(request).await.status, StatusCode::FORBIDDEN);

    let services = app.get("/v1/Services").await;
    let names: Vec<&str> = services.body["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["unique_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["target"]);
    let assets = app.get(&format!("/v1/Services/{service}/Assets")).await;
    assert_eq!(assets.body["assets"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn a_second_account_sees_nothing_of_the_first() {
    let app = spawn_app().await;
    app.add_account(OTHER_SID, OTHER_TOKEN).await;
    let first = Browser::sign_in(&app, ACCOUNT_SID, AUTH_TOKEN).await;
    let service = first
        .create_service("first-only", "First's secret app")
        .await;
    let page = first.get(&format!("/console/services/{service}")).await;
    assert_eq!(page.status, StatusCode::OK);

    let second = Browser::sign_in(&app, OTHER_SID, OTHER_TOKEN).await;
    let page = second.get("/console/services").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("first-only"));
    assert!(!page.body.contains(&service));
    assert!(page.body.contains("No services yet"));
    for path in [
        format!("/console/services/{service}"),
        format!("/console/services/{service}/files"),
        "/console/services/first-only".to_owned(),
    ] {
        let page = second.get(&path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        assert!(!page.body.contains("First's secret app"), "{path}");
    }
    let csrf = second.csrf().await;
    let page = second
        .post(
            &format!("/console/services/{service}/delete"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    let still = app.get(&format!("/v1/Services/{service}")).await;
    assert_eq!(still.status, StatusCode::OK);
}

#[tokio::test]
async fn hostile_names_paths_and_log_lines_are_escaped() {
    let app = spawn_app().await;
    let browser = Browser::sign_in(&app, ACCOUNT_SID, AUTH_TOKEN).await;
    let hostile = "<script>alert(1)</script>";
    let service = browser.create_service("hostile", hostile).await;
    let asset = app
        .post(
            &format!("/v1/Services/{service}/Assets"),
            &[("FriendlyName", "<img src=x onerror=alert(2)>")],
        )
        .await;
    let asset = asset.body["sid"].as_str().unwrap().to_owned();
    let uploaded = app
        .upload(
            &format!("/v1/Services/{service}/Assets/{asset}/Versions"),
            "/\"><svg onload=alert(3)>.html",
            "public",
            b"<h1>x</h1>",
        )
        .await;
    assert_eq!(uploaded.status, StatusCode::CREATED, "{}", uploaded.body);
    for path in [
        "/console/services".to_owned(),
        format!("/console/services/{service}"),
        format!("/console/services/{service}/files"),
    ] {
        let page = browser.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        for raw in [hostile, "<img src=x", "<svg onload"] {
            assert!(!page.body.contains(raw), "{path} shows {raw} unescaped");
        }
    }
    let files = browser
        .get(&format!("/console/services/{service}/files"))
        .await;
    assert!(files.body.contains("&lt;img src=x onerror=alert(2)&gt;"));
    assert!(files
        .body
        .contains("/&quot;&gt;&lt;svg onload=alert(3)&gt;.html"));
}

#[tokio::test]
async fn the_console_is_not_served_under_the_host_domain() {
    let app = spawn_with(|mut config| {
        config.host_domain = "depot.example".into();
        config
    })
    .await;
    let deployed = app
        .deploy(&[asset_file("/index.html", "text/html", b"<h1>site</h1>")])
        .await;
    for host in [deployed.domain.as_str(), "anything.depot.example"] {
        let page = app
            .host(Method::GET, host, "/console/sign-in")
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::NOT_FOUND, "{host}");
        let body = page.text().await.unwrap();
        assert!(!body.contains("AuthToken"), "{host}");
    }
    // The host domain itself is the API's name: the console answers there.
    let page = app
        .host(Method::GET, "depot.example", "/console/sign-in")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
}

#[tokio::test]
async fn upload_build_and_deploy_from_the_console() {
    let app = spawn_app().await;
    let browser = Browser::sign_in(&app, ACCOUNT_SID, AUTH_TOKEN).await;
    let service = browser.create_service("shop", "Shop").await;
    let csrf = browser.csrf().await;
    let page = browser
        .post(
            &format!("/console/services/{service}/environments"),
            &[("csrf", &csrf), ("UniqueName", "production")],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let env_page = page.headers[LOCATION].to_str().unwrap().to_owned();
    let environment = env_page
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned();

    let body = crate::helpers::multipart_body(&[
        part("csrf", None, csrf.as_bytes()),
        part("Kind", None, b"asset"),
        part("Visibility", None, b"public"),
        part("Content", Some("index.html"), b"<h1>one</h1>"),
        part("Content", Some("app.css"), b"body{}"),
    ]);
    let request = browser
        .client
        .post(app.url(&format!("/console/services/{service}/files")))
        .header("Accept", "application/json")
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={}", crate::helpers::BOUNDARY),
        )
        .body(body);
    let page = browser.send(request).await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.body);
    let answer: serde_json::Value = serde_json::from_str(&page.body).unwrap();
    let versions: Vec<String> = answer["uploaded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["sid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(versions.len(), 2);

    let mut form = vec![
        ("csrf", csrf.as_str()),
        ("Environment", environment.as_str()),
    ];
    form.extend(versions.iter().map(|v| ("AssetVersions", v.as_str())));
    let page = browser
        .post(&format!("/console/services/{service}/builds"), &form)
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let deployed_page = page.headers[LOCATION].to_str().unwrap().to_owned();
    assert!(deployed_page.ends_with("?done=deployed"), "{deployed_page}");
    let env = app
        .get(&format!(
            "/v1/Services/{service}/Environments/{environment}"
        ))
        .await;
    let domain = env.body["domain_name"].as_str().unwrap();
    let served = app
        .host(Method::GET, domain, "/index.html")
        .send()
        .await
        .unwrap();
    assert_eq!(served.text().await.unwrap(), "<h1>one</h1>");
    let page = browser.get(&deployed_page).await;
    assert!(page
        .body
        .contains("Deployed: the environment now serves this build."));
    let first_build = env.body["build_sid"].as_str().unwrap().to_owned();

    // A second build and a rollback: the very next request to the domain sees each (this
    // node's site cache is refreshed at once, as after the API's deployments).
    let body = crate::helpers::multipart_body(&[
        part("csrf", None, csrf.as_bytes()),
        part("Visibility", None, b"public"),
        part("Content", Some("index.html"), b"<h1>two</h1>"),
    ]);
    let request = browser
        .client
        .post(app.url(&format!("/console/services/{service}/files")))
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={}", crate::helpers::BOUNDARY),
        )
        .body(body);
    let page = browser.send(request).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let assets = app.get(&format!("/v1/Services/{service}/Assets")).await;
    assert_eq!(
        assets.body["assets"].as_array().unwrap().len(),
        2,
        "same name, same asset"
    );
    let files = browser
        .get(&format!("/console/services/{service}/files"))
        .await;
    assert!(files.body.contains("2 version(s)"));
    let newest = |name: &str| {
        let marker = format!("Version of {name} to build\"><option value=\"");
        let at = files.body.find(&marker).unwrap() + marker.len();
        files.body[at..at + 34].to_owned()
    };
    let form = [
        ("csrf", csrf.as_str()),
        ("Environment", environment.as_str()),
        ("AssetVersions", &newest("index.html")),
        ("AssetVersions", &newest("app.css")),
    ];
    let page = browser
        .post(&format!("/console/services/{service}/builds"), &form)
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let served = app.host(Method::GET, domain, "/index.html").send().await;
    assert_eq!(served.unwrap().text().await.unwrap(), "<h1>two</h1>");
    let page = browser
        .post(
            &format!("/console/services/{service}/environments/{environment}/deploy"),
            &[("csrf", csrf.as_str()), ("BuildSid", first_build.as_str())],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let served = app.host(Method::GET, domain, "/index.html").send().await;
    assert_eq!(served.unwrap().text().await.unwrap(), "<h1>one</h1>");
}

fn part<'a>(
    name: &'a str,
    filename: Option<&'a str>,
    data: &'a [u8],
) -> crate::helpers::PartSpec<'a> {
    crate::helpers::PartSpec {
        name,
        filename,
        content_type: filename.map(|_| "application/octet-stream"),
        data,
    }
}

#[tokio::test]
async fn variables_are_added_edited_and_deleted_and_bad_input_changes_nothing() {
    let app = spawn_app().await;
    let browser = Browser::sign_in(&app, ACCOUNT_SID, AUTH_TOKEN).await;
    let deployed = app
        .deploy(&[asset_file("/index.html", "text/html", b"<h1>x</h1>")])
        .await;
    let (service, environment) = (&deployed.service, &deployed.environment);
    let page_path = format!("/console/services/{service}/environments/{environment}");
    let vars = format!("/v1/Services/{service}/Environments/{environment}/Variables");
    let csrf = browser.csrf().await;
    let page = browser
        .post(
            &format!("{page_path}/variables"),
            &[
                ("csrf", &csrf),
                ("Key", "API_URL"),
                ("Value", "<b>https://x</b>"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let listed = app.get(&vars).await;
    let sid = listed.body["variables"][0]["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let page = browser.get(&page_path).await;
    assert!(page.body.contains("value=\"&lt;b&gt;https://x&lt;/b&gt;\""));

    // A duplicate key is the API's 409, shown on the page; nothing changes.
    let page = browser
        .post(
            &format!("{page_path}/variables"),
            &[("csrf", &csrf), ("Key", "API_URL"), ("Value", "again")],
        )
        .await;
    assert_eq!(page.status, StatusCode::CONFLICT);
    assert!(page
        .body
        .contains("Variable with Key API_URL already exists"));
    assert_eq!(
        app.get(&vars).await.body["variables"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let page = browser
        .post(
            &format!("{page_path}/variables/{sid}"),
            &[("csrf", &csrf), ("Key", "API_URL"), ("Value", "https://y")],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(
        app.get(&format!("{vars}/{sid}")).await.body["value"],
        "https://y"
    );
    let page = browser
        .post(
            &format!("{page_path}/variables/{sid}/delete"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert!(app.get(&vars).await.body["variables"]
        .as_array()
        .unwrap()
        .is_empty());
    let page = browser.get(&page_path).await;
    assert!(page.body.contains("No variables."));
}
