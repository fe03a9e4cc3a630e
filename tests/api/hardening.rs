//! Smaller guarantees of the hardening work: quotas that deletion cannot reset, a private data
//! dir, bounded multipart part headers, and CORS for browsers.

use std::os::unix::fs::PermissionsExt;

use reqwest::{Method, StatusCode};

use crate::helpers::{
    assert_error, asset_file, multipart_body, on_postgres, spawn_app, spawn_with, PartSpec,
};

#[tokio::test]
async fn builds_per_hour_counts_creations_even_of_deleted_builds() {
    let app = spawn_with(|mut c| {
        c.limits.max_builds_per_hour = 2;
        c
    })
    .await;
    let service = app.service("quota").await;
    let version = app
        .version(&service, &asset_file("/a.txt", "text/plain", b"a"))
        .await;
    let builds = format!("/v1/Services/{service}/Builds");
    for _ in 0..2 {
        let created = app.post(&builds, &[("AssetVersions", &version)]).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let sid = created.body["sid"].as_str().unwrap();
        app.wait_build(&service, sid).await;
        let deleted = app.delete(&format!("{builds}/{sid}")).await;
        assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    }
    let third = app.post(&builds, &[("AssetVersions", &version)]).await;
    assert_error(&third, 429, 20429);
    assert!(third.headers.contains_key("retry-after"));
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn the_data_dir_is_readable_by_depot_only() {
    let app = spawn_app().await;
    let service = app.service("private").await;
    app.version(
        &service,
        &asset_file("/a.txt", "text/plain", b"secret bytes"),
    )
    .await;
    let dir = app.dir.path();
    assert_eq!(mode(dir), 0o700);
    // On PostgreSQL the data dir holds no database file.
    if !on_postgres() {
        assert_eq!(mode(&dir.join("depot.db")), 0o600);
    }
    assert_eq!(mode(&app.blob_file(b"secret bytes")), 0o600);
}

#[tokio::test]
async fn part_headers_are_capped() {
    let app = spawn_app().await;
    let service = app.service("parts").await;
    let asset = app.asset(&service, "a").await;
    let versions = format!("/v1/Services/{service}/Assets/{asset}/Versions");
    let junk = format!("x\r\nX-Junk: {}", "j".repeat(200 << 10));
    let body = multipart_body(&[
        PartSpec {
            name: "Path",
            filename: None,
            content_type: Some(&junk),
            data: b"/a.txt",
        },
        PartSpec {
            name: "Visibility",
            filename: None,
            content_type: None,
            data: b"public",
        },
        PartSpec {
            name: "Content",
            filename: Some("a"),
            content_type: Some("text/plain"),
            data: b"a",
        },
    ]);
    let refused = app.upload_raw(&versions, body).await;
    assert_error(&refused, 400, 20001);
    assert!(refused.body["message"]
        .as_str()
        .unwrap()
        .contains("part headers too large"));

    // Large parts that are not headers still go through, as do parts depot skips.
    let big = vec![b'z'; 300 << 10];
    let body = multipart_body(&[
        PartSpec {
            name: "Unknown",
            filename: Some("skip"),
            content_type: None,
            data: &big,
        },
        PartSpec {
            name: "Path",
            filename: None,
            content_type: None,
            data: b"/big.txt",
        },
        PartSpec {
            name: "Visibility",
            filename: None,
            content_type: None,
            data: b"public",
        },
        PartSpec {
            name: "Content",
            filename: Some("big"),
            content_type: Some("text/plain"),
            data: &big,
        },
    ]);
    let accepted = app.upload_raw(&versions, body).await;
    assert_eq!(accepted.status, StatusCode::CREATED, "{}", accepted.body);
    assert_eq!(accepted.body["path"], "/big.txt");
}

#[tokio::test]
async fn the_api_speaks_cors_and_answers_preflights_without_credentials() {
    let app = spawn_app().await;
    let listed = app.get("/v1/Services").await;
    assert_eq!(listed.status, StatusCode::OK);
    let h = &listed.headers;
    assert_eq!(h["access-control-allow-origin"], "*");
    assert_eq!(
        h["access-control-allow-methods"],
        "GET, POST, DELETE, OPTIONS"
    );
    assert!(h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .contains("Authorization"));
    assert_eq!(h["access-control-allow-credentials"], "true");
    assert_eq!(h["access-control-expose-headers"], "ETag");
    // Errors carry them too, so a browser can read the Twilio error body.
    let unauthenticated = app
        .client
        .get(app.url("/v1/Services"))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        unauthenticated.headers()["access-control-allow-origin"],
        "*"
    );

    let preflight = app
        .client
        .request(Method::OPTIONS, app.url("/v1/Services/ZSx/Assets"))
        .header("Origin", "https://console.example")
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), StatusCode::NO_CONTENT);
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    assert_eq!(preflight.headers()["access-control-max-age"], "86400");
    assert!(preflight.bytes().await.unwrap().is_empty());
}
