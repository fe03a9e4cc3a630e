//! Asset Version uploads (COMPAT §5.8, §7, §8): shapes, quirks of real clients, limits,
//! interrupted uploads and durability.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::helpers::{
    assert_error, multipart_body, redact, spawn_app, spawn_with, PartSpec, TestApp, ACCOUNT_SID,
};

async fn asset(app: &TestApp) -> (String, String, String) {
    let service = app.service("svc").await;
    let asset = app.asset(&service, "/style.css").await;
    let versions = format!("/v1/Services/{service}/Assets/{asset}/Versions");
    (service, asset, versions)
}

fn part<'a>(name: &'a str, data: &'a [u8]) -> PartSpec<'a> {
    PartSpec {
        name,
        filename: None,
        content_type: None,
        data,
    }
}

fn file<'a>(data: &'a [u8], content_type: Option<&'a str>) -> PartSpec<'a> {
    PartSpec {
        name: "Content",
        filename: Some("style.css"),
        content_type,
        data,
    }
}

#[tokio::test]
async fn upload_returns_the_version_resource() {
    let app = spawn_app().await;
    let (service, asset, versions) = asset(&app).await;
    let created = app
        .upload(&versions, "/style.css", "public", b"body{}")
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let sid = created.body["sid"].as_str().unwrap().to_owned();
    assert!(sid.starts_with("ZN") && sid.len() == 34);
    let url = app.url(&format!("{versions}/{sid}"));
    let expected = json!({
        "sid": sid,
        "account_sid": ACCOUNT_SID,
        "service_sid": service,
        "asset_sid": asset,
        "path": "/style.css",
        "visibility": "public",
        "date_created": "<date>",
        "url": url,
    });
    assert_eq!(redact(&created.body), expected);
    let fetched = app.get(&format!("{versions}/{sid}")).await;
    assert_eq!(fetched.body, created.body);
    let listed = app.get(&versions).await;
    assert_eq!(listed.body["asset_versions"], json!([created.body]));
    assert_eq!(listed.body["meta"]["key"], "asset_versions");
    assert_eq!(std::fs::read(app.blob_file(b"body{}")).unwrap(), b"body{}");
}

#[tokio::test]
async fn parts_in_any_order_without_content_type_and_without_leading_slash() {
    let app = spawn_app().await;
    let (_, _, versions) = asset(&app).await;
    let body = multipart_body(&[
        file(b"abc", None),
        part("Visibility", b"Protected"),
        part("Ignored", b"whatever"),
        part("Path", b"my%20file.png"),
    ]);
    let created = app.upload_raw(&versions, body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["path"], "/my%20file.png");
    assert_eq!(created.body["visibility"], "protected");
}

#[tokio::test]
async fn every_visibility_is_accepted() {
    let app = spawn_app().await;
    let (_, _, versions) = asset(&app).await;
    for visibility in ["public", "protected", "private", "PRIVATE"] {
        let created = app.upload(&versions, "/a.txt", visibility, b"x").await;
        assert_eq!(created.status, StatusCode::CREATED);
        assert_eq!(created.body["visibility"], visibility.to_ascii_lowercase());
    }
    assert_eq!(
        app.get(&versions).await.body["asset_versions"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
}

#[tokio::test]
async fn empty_and_binary_content_are_stored_exactly() {
    let app = spawn_app().await;
    let (_, _, versions) = asset(&app).await;
    let empty = app.upload(&versions, "/empty", "public", b"").await;
    assert_eq!(empty.status, StatusCode::CREATED);
    assert_eq!(std::fs::read(app.blob_file(b"")).unwrap(), b"");

    let every_byte: Vec<u8> = (0..=255u8).cycle().take(256 * 40).collect();
    let binary = app.upload(&versions, "/bin", "public", &every_byte).await;
    assert_eq!(binary.status, StatusCode::CREATED);
    assert_eq!(
        std::fs::read(app.blob_file(&every_byte)).unwrap(),
        every_byte
    );
}

#[tokio::test]
async fn identical_content_is_stored_once() {
    let app = spawn_app().await;
    let (_, _, versions) = asset(&app).await;
    for _ in 0..3 {
        let created = app
            .upload(&versions, "/same.css", "public", b"same bytes")
            .await;
        assert_eq!(created.status, StatusCode::CREATED);
    }
    assert_eq!(app.stored_blobs(), 1);
    assert_eq!(app.tmp_blobs(), 0);
}

#[tokio::test]
async fn size_limits_accept_the_limit_and_refuse_one_byte_more() {
    let app = spawn_app().await;
    let (_, _, versions) = asset(&app).await;
    let limit = vec![b'a'; 25 << 20];
    let ok = app.upload(&versions, "/big.bin", "public", &limit).await;
    assert_eq!(ok.status, StatusCode::CREATED);

    let over = vec![b'b'; (25 << 20) + 1];
    let refused = app.upload(&versions, "/big.bin", "public", &over).await;
    assert_error(&refused, 413, 20413);
    assert_eq!(
        app.get(&versions).await.body["asset_versions"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(app.stored_blobs(), 1);
    assert!(!app.blob_file(&over).exists());
    wait_for_no_tmp(&app).await;
}

#[tokio::test]
async fn private_limit_applies_even_when_visibility_comes_after_content() {
    let app = spawn_app().await;
    let (_, _, versions) = asset(&app).await;
    let over = vec![b'p'; (10 << 20) + 1];
    let body = multipart_body(&[
        part("Path", b"/p"),
        file(&over, None),
        part("Visibility", b"private"),
    ]);
    assert_error(&app.upload_raw(&versions, body).await, 413, 20413);
    let early = app.upload(&versions, "/p", "private", &over).await;
    assert_error(&early, 413, 20413);
    let public = app.upload(&versions, "/p", "public", &over).await;
    assert_eq!(public.status, StatusCode::CREATED);
    assert_eq!(app.stored_blobs(), 1);
    wait_for_no_tmp(&app).await;
}

#[tokio::test]
async fn limits_are_configurable() {
    let app = spawn_with(|mut c| {
        c.limits.max_public_asset_bytes = 10;
        c
    })
    .await;
    let (_, _, versions) = asset(&app).await;
    assert_eq!(
        app.upload(&versions, "/a", "public", b"0123456789")
            .await
            .status,
        201
    );
    assert_error(
        &app.upload(&versions, "/a", "public", b"0123456789x").await,
        413,
        20413,
    );
}

#[tokio::test]
async fn bad_uploads_are_400_and_store_nothing() {
    let app = spawn_app().await;
    let (_, _, versions) = asset(&app).await;
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            multipart_body(&[part("Visibility", b"public"), file(b"x", None)]),
            "Path",
        ),
        (
            multipart_body(&[part("Path", b"/a"), file(b"x", None)]),
            "Visibility",
        ),
        (
            multipart_body(&[part("Path", b"/a"), part("Visibility", b"public")]),
            "Content",
        ),
        (
            multipart_body(&[
                part("Path", b""),
                part("Visibility", b"public"),
                file(b"x", None),
            ]),
            "Path",
        ),
    ];
    for (body, missing) in cases {
        let answer = app.upload_raw(&versions, body).await;
        assert_error(&answer, 400, 20001);
        assert_eq!(
            answer.body["message"],
            format!("Missing required parameter {missing} in the post body")
        );
    }
    for (path, visibility) in [("/a/../b", "public"), ("/a?b", "public"), ("/a", "hidden")] {
        assert_error(
            &app.upload(&versions, path, visibility, b"x").await,
            400,
            20001,
        );
    }
    let form = app
        .post(&versions, &[("Path", "/a"), ("Visibility", "public")])
        .await;
    assert_error(&form, 400, 20001);
    assert_eq!(app.get(&versions).await.body["asset_versions"], json!([]));
    assert_eq!(app.stored_blobs(), 0);
    wait_for_no_tmp(&app).await;
}

#[tokio::test]
async fn unknown_asset_or_service_is_404() {
    let app = spawn_app().await;
    let (service, asset, _) = asset(&app).await;
    let other = app.service("other").await;
    for path in [
        format!("/v1/Services/{other}/Assets/{asset}/Versions"),
        format!("/v1/Services/{service}/Assets/ZH00000000000000000000000000000000/Versions"),
        format!("/v1/Services/{service}/Assets/nope/Versions"),
    ] {
        assert_error(&app.upload(&path, "/a", "public", b"x").await, 404, 20404);
        assert_error(&app.get(&path).await, 404, 20404);
    }
    let versions = format!("/v1/Services/{service}/Assets/{asset}/Versions");
    assert_error(
        &app.get(&format!("{versions}/ZN00000000000000000000000000000000"))
            .await,
        404,
        20404,
    );
    assert_error(&app.get(&format!("{versions}/ZNshort")).await, 404, 20404);
}

#[tokio::test]
async fn a_version_under_another_asset_is_not_found() {
    let app = spawn_app().await;
    let (service, _, versions) = asset(&app).await;
    let created = app.upload(&versions, "/a", "public", b"x").await;
    let sid = created.body["sid"].as_str().unwrap();
    let other = app.asset(&service, "other").await;
    let foreign = format!("/v1/Services/{service}/Assets/{other}/Versions/{sid}");
    assert_error(&app.get(&foreign).await, 404, 20404);
}

#[tokio::test]
async fn deleting_an_asset_removes_its_versions() {
    let app = spawn_app().await;
    let (service, asset, versions) = asset(&app).await;
    let created = app.upload(&versions, "/a", "public", b"x").await;
    let sid = created.body["sid"].as_str().unwrap();
    let deleted = app
        .delete(&format!("/v1/Services/{service}/Assets/{asset}"))
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_error(&app.get(&format!("{versions}/{sid}")).await, 404, 20404);
}

#[tokio::test]
async fn versions_survive_a_restart() {
    let app = spawn_app().await;
    let (_, _, versions) = asset(&app).await;
    let created = app.upload(&versions, "/kept.css", "public", b"kept").await;
    let sid = created.body["sid"].as_str().unwrap().to_owned();
    let app = app.restart().await;
    let fetched = app.get(&format!("{versions}/{sid}")).await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(fetched.body["path"], "/kept.css");
    assert_eq!(std::fs::read(app.blob_file(b"kept")).unwrap(), b"kept");
}

#[tokio::test]
async fn a_client_that_disconnects_mid_upload_leaves_nothing() {
    let app = spawn_app().await;
    let (_, _, versions) = asset(&app).await;
    let head = multipart_body(&[part("Path", b"/cut"), part("Visibility", b"public")]);
    // Drop the closing boundary: the body goes on with a Content part that never ends.
    let mut body =
        head[..head.len() - format!("--{}--\r\n", crate::helpers::BOUNDARY).len()].to_vec();
    body.extend_from_slice(
        format!(
            "--{}\r\nContent-Disposition: form-data; name=\"Content\"; filename=\"c\"\r\n\r\n",
            crate::helpers::BOUNDARY
        )
        .as_bytes(),
    );
    body.extend_from_slice(&vec![b'z'; 3 << 20]);
    let auth = base64_auth();
    let request = format!(
        "POST {versions} HTTP/1.1\r\nHost: {}\r\nAuthorization: Basic {auth}\r\n\
         Content-Type: multipart/form-data; boundary={}\r\nContent-Length: {}\r\n\r\n",
        app.base.trim_start_matches("http://"),
        crate::helpers::BOUNDARY,
        body.len() + (20 << 20)
    );
    let mut stream = tokio::net::TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    stream.write_all(&body).await.unwrap();
    stream.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(stream);

    wait_for_no_tmp(&app).await;
    assert_eq!(app.get(&versions).await.body["asset_versions"], json!([]));
    assert_eq!(app.stored_blobs(), 0);
    // The server is still fine.
    assert_eq!(
        app.upload(&versions, "/after", "public", b"ok")
            .await
            .status,
        201
    );
}

fn base64_auth() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        crate::helpers::ACCOUNT_SID,
        crate::helpers::AUTH_TOKEN
    ))
}

async fn wait_for_no_tmp(app: &TestApp) {
    for _ in 0..100 {
        if app.tmp_blobs() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{} files left in blobs/tmp", app.tmp_blobs());
}
