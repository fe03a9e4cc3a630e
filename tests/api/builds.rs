//! Builds and Build Status (COMPAT §5.9, §5.10, §9).

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{
    assert_error, asset_file, redact, spawn_app, spawn_with, Deployable, TestApp, ACCOUNT_SID,
};

fn function_file<'a>(path: &'a str, visibility: &'a str) -> Deployable<'a> {
    Deployable {
        path,
        visibility,
        content_type: "application/javascript",
        data: b"exports.handler = () => {};",
        function: true,
    }
}

#[tokio::test]
async fn create_build_embeds_versions_and_completes() {
    let app = spawn_app().await;
    let service = app.service("svc").await;
    let asset = app
        .version(&service, &asset_file("/style.css", "text/css", b"a{}"))
        .await;
    let function = app
        .version(&service, &function_file("/hello", "protected"))
        .await;
    let created = app
        .post(
            &format!("/v1/Services/{service}/Builds"),
            &[
                ("AssetVersions", asset.as_str()),
                ("FunctionVersions", function.as_str()),
                ("AssetVersions", asset.as_str()),
                (
                    "Dependencies",
                    r#""[{"name":"twilio","version":"^3.0.0"}]""#,
                ),
                ("Runtime", "node24"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let sid = created.body["sid"].as_str().unwrap().to_owned();
    assert!(sid.starts_with("ZB"));
    let url = app.url(&format!("/v1/Services/{service}/Builds/{sid}"));
    let body = redact(&created.body);
    assert_eq!(body["status"], "building");
    assert_eq!(body["runtime"], "node24");
    assert_eq!(
        body["dependencies"],
        json!([{"name": "twilio", "version": "^3.0.0"}])
    );
    assert_eq!(body["url"], url.as_str());
    assert_eq!(
        body["links"],
        json!({"build_status": format!("{url}/Status")})
    );
    assert_eq!(body["account_sid"], ACCOUNT_SID);
    let assets = body["asset_versions"].as_array().unwrap();
    assert_eq!(assets.len(), 1, "duplicate SIDs collapse");
    assert_eq!(assets[0]["visibility"], "PUBLIC");
    assert_eq!(assets[0]["path"], "/style.css");
    assert!(assets[0].get("url").is_none());
    assert!(assets[0]["asset_sid"].as_str().unwrap().starts_with("ZH"));
    let functions = body["function_versions"].as_array().unwrap();
    assert_eq!(functions[0]["visibility"], "PROTECTED");
    assert!(functions[0]["function_sid"]
        .as_str()
        .unwrap()
        .starts_with("ZH"));
    assert!(functions[0].get("asset_sid").is_none());

    assert_eq!(app.wait_build(&service, &sid).await, "completed");
    let status = app
        .get(&format!("/v1/Services/{service}/Builds/{sid}/Status"))
        .await;
    assert_eq!(
        status.body,
        json!({
            "sid": sid,
            "account_sid": ACCOUNT_SID,
            "service_sid": service,
            "status": "completed",
            "url": format!("{url}/Status"),
        })
    );
    let fetched = app
        .get(&format!("/v1/Services/{service}/Builds/{sid}"))
        .await;
    assert_eq!(fetched.body["status"], "completed");
    let listed = app.get(&format!("/v1/Services/{service}/Builds")).await;
    assert_eq!(listed.body["builds"], json!([fetched.body]));
    assert_eq!(listed.body["meta"]["key"], "builds");
}

#[tokio::test]
async fn default_runtime_and_no_dependencies() {
    let app = spawn_app().await;
    let service = app.service("svc").await;
    let asset = app
        .version(&service, &asset_file("/a", "text/plain", b"a"))
        .await;
    let created = app
        .post(
            &format!("/v1/Services/{service}/Builds"),
            &[("AssetVersions", asset.as_str())],
        )
        .await;
    assert_eq!(created.body["runtime"], "node22");
    assert_eq!(created.body["dependencies"], json!([]));
    assert_eq!(created.body["function_versions"], json!([]));
}

#[tokio::test]
async fn create_build_validation() {
    let app = spawn_app().await;
    let service = app.service("svc").await;
    let other = app.service("other").await;
    let asset = app
        .version(&service, &asset_file("/a", "text/plain", b"a"))
        .await;
    let function = app.version(&service, &function_file("/f", "public")).await;
    let foreign = app
        .version(&other, &asset_file("/a", "text/plain", b"a"))
        .await;
    let path = format!("/v1/Services/{service}/Builds");
    let missing = app.post(&path, &[("Runtime", "node22")]).await;
    assert_error(&missing, 400, 20001);
    assert_eq!(
        missing.body["message"],
        "Missing required parameter AssetVersions or FunctionVersions in the post body"
    );
    for form in [
        vec![("AssetVersions", "ZN123")],
        vec![("FunctionVersions", "nope")],
        vec![("AssetVersions", asset.as_str()), ("Runtime", "node7")],
        vec![("AssetVersions", asset.as_str()), ("Runtime", "python3")],
        vec![
            ("AssetVersions", asset.as_str()),
            ("Dependencies", "{not json"),
        ],
        vec![("AssetVersions", asset.as_str()), ("Dependencies", "[1,2]")],
    ] {
        assert_error(&app.post(&path, &form).await, 400, 20001);
    }
    for form in [
        vec![("AssetVersions", "ZN00000000000000000000000000000000")],
        vec![("AssetVersions", function.as_str())],
        vec![("FunctionVersions", asset.as_str())],
        vec![("AssetVersions", foreign.as_str())],
    ] {
        assert_error(&app.post(&path, &form).await, 404, 20404);
    }
    assert_eq!(app.get(&path).await.body["builds"], json!([]));
}

#[tokio::test]
async fn duplicate_paths_fail_the_build() {
    let app = spawn_app().await;
    let service = app.service("svc").await;
    let (sid, status) = app
        .build(
            &service,
            &[
                asset_file("/same", "text/plain", b"1"),
                asset_file("/same", "text/plain", b"2"),
            ],
        )
        .await;
    assert_eq!(status, "failed");
    let fetched = app
        .get(&format!("/v1/Services/{service}/Builds/{sid}"))
        .await;
    assert_eq!(fetched.body["status"], "failed");
}

#[tokio::test]
async fn per_build_limits_and_builds_per_hour() {
    let app = spawn_with(|mut c| {
        c.limits.max_build_assets = 1;
        c.limits.max_build_private_assets = 0;
        c.limits.max_builds_per_hour = 2;
        c
    })
    .await;
    let service = app.service("svc").await;
    let a = app
        .version(&service, &asset_file("/a", "text/plain", b"a"))
        .await;
    let b = app
        .version(&service, &asset_file("/b", "text/plain", b"b"))
        .await;
    let path = format!("/v1/Services/{service}/Builds");
    let over = app
        .post(
            &path,
            &[("AssetVersions", a.as_str()), ("AssetVersions", b.as_str())],
        )
        .await;
    assert_error(&over, 400, 20001);
    assert!(over.body["message"].as_str().unwrap().contains("limit"));
    for _ in 0..2 {
        assert_eq!(
            app.post(&path, &[("AssetVersions", a.as_str())])
                .await
                .status,
            201
        );
    }
    let limited = app.post(&path, &[("AssetVersions", a.as_str())]).await;
    assert_error(&limited, 429, 20429);
    let retry: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3600).contains(&retry), "{retry}");
}

#[tokio::test]
async fn deployed_builds_and_used_assets_cannot_be_deleted() {
    let app = spawn_app().await;
    let site = app
        .deploy(&[asset_file("/a.txt", "text/plain", b"a")])
        .await;
    let build_path = format!("/v1/Services/{}/Builds/{}", site.service, site.build);
    let conflict = app.delete(&build_path).await;
    assert_error(&conflict, 409, 20409);
    assert!(conflict.body["message"]
        .as_str()
        .unwrap()
        .contains(&site.environment));
    let asset = app
        .get(&format!(
            "/v1/Services/{}/Builds/{}",
            site.service, site.build
        ))
        .await
        .body["asset_versions"][0]["asset_sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let asset_path = format!("/v1/Services/{}/Assets/{asset}", site.service);
    let in_use = app.delete(&asset_path).await;
    assert_error(&in_use, 409, 20409);
    assert!(in_use.body["message"]
        .as_str()
        .unwrap()
        .contains(&site.build));

    // Undeploy, then the build can go, and then the asset.
    let undeploy = app
        .post(
            &format!(
                "/v1/Services/{}/Environments/{}/Deployments",
                site.service, site.environment
            ),
            &[],
        )
        .await;
    assert_eq!(undeploy.status, StatusCode::CREATED);
    assert_eq!(undeploy.body["build_sid"], serde_json::Value::Null);
    assert_eq!(app.delete(&build_path).await.status, StatusCode::NO_CONTENT);
    assert_error(&app.get(&build_path).await, 404, 20404);
    assert_eq!(app.delete(&asset_path).await.status, StatusCode::NO_CONTENT);
}

/// A build left `building` (as by a crash) is finished after a restart.
#[tokio::test]
async fn unfinished_builds_resume_after_restart() {
    let app = spawn_app().await;
    let service = app.service("svc").await;
    let version = app
        .version(&service, &asset_file("/a.css", "text/css", &[b'x'; 600]))
        .await;
    let sid = insert_building_build(&app, &service, &version).await;
    assert_eq!(
        app.get(&format!("/v1/Services/{service}/Builds/{sid}/Status"))
            .await
            .body["status"],
        "building"
    );
    let app = app.restart().await;
    assert_eq!(app.wait_build(&service, &sid).await, "completed");
}

/// Writes a `building` build straight into the database, bypassing the builder's queue.
pub async fn insert_building_build(app: &TestApp, service: &str, version: &str) -> String {
    let store = app.store().await;
    let now = depot::clock::now();
    let build = depot::store::Build {
        seq: 0,
        sid: depot::domain::sid::generate(depot::domain::sid::Prefix::Build),
        account_sid: ACCOUNT_SID.into(),
        service_sid: service.into(),
        status: depot::store::BuildStatus::Building,
        runtime: "node22".into(),
        dependencies: "[]".into(),
        failure: None,
        date_created: now,
        date_updated: now,
    };
    let quota = depot::store::BuildQuota { per_hour: 0, now };
    store
        .create_build(&build, &[version.to_owned()], &[], quota)
        .await
        .unwrap();
    build.sid
}
