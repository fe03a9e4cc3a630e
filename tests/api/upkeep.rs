//! Derived data stays in step with what it derives from: compressed copies and their rows,
//! uploads cut short, and Logs that anyone can cause.

use std::io::Read;
use std::time::Duration;

use reqwest::{Method, StatusCode};

use crate::helpers::{asset_file, spawn_app, spawn_with, Deployable, TestApp};

fn css() -> Vec<u8> {
    "main { display: grid; gap: 1rem }\n"
        .repeat(200)
        .into_bytes()
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

fn copy_path(app: &TestApp, bytes: &[u8], encoding: &str) -> std::path::PathBuf {
    let mut path = app.blob_file(bytes).into_os_string();
    path.push(format!(".{encoding}"));
    path.into()
}

async fn brotli_body(
    app: &TestApp,
    domain: &str,
    path: &str,
) -> (StatusCode, Option<String>, Vec<u8>) {
    let got = app
        .host(Method::GET, domain, path)
        .header("Accept-Encoding", "br")
        .send()
        .await
        .unwrap();
    let status = got.status();
    let encoding = got
        .headers()
        .get("content-encoding")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = got.bytes().await.unwrap().to_vec();
    let plain = match encoding.as_deref() {
        Some("br") => {
            let mut plain = Vec::new();
            brotli::BrotliDecompress(&mut &body[..], &mut plain).unwrap();
            plain
        }
        _ => body,
    };
    (status, encoding, plain)
}

#[tokio::test]
async fn collected_content_takes_its_compressed_copies_and_their_rows_along() {
    let app = spawn_with(|mut c| {
        c.upkeep.gc_every = Duration::from_millis(200);
        c.upkeep.gc_grace = Duration::from_secs(1);
        c
    })
    .await;
    let service = app.service("gc").await;
    let (build, status) = app
        .build(&service, &[asset_file("/site.css", "text/css", &css())])
        .await;
    assert_eq!(status, "completed");
    assert!(copy_path(&app, &css(), "br").exists());
    let store = app.store().await;
    assert_eq!(store.encodings(&sha256(&css())).await.unwrap().len(), 2);

    // Nothing references the content any more: the collector takes it, copies and rows too.
    app.delete(&format!("/v1/Services/{service}/Builds/{build}"))
        .await;
    let assets = app.get(&format!("/v1/Services/{service}/Assets")).await;
    let asset = assets.body["assets"][0]["sid"].as_str().unwrap().to_owned();
    let deleted = app
        .delete(&format!("/v1/Services/{service}/Assets/{asset}"))
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    for _ in 0..50 {
        let gone = |path: std::path::PathBuf| !path.exists();
        if gone(app.blob_file(&css()))
            && gone(copy_path(&app, &css(), "br"))
            && gone(copy_path(&app, &css(), "gz"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!app.blob_file(&css()).exists());
    assert!(!copy_path(&app, &css(), "gz").exists());
    assert!(store.encodings(&sha256(&css())).await.unwrap().is_empty());

    // The same bytes again: built, compressed and served anew.
    let site = app
        .deploy(&[asset_file("/site.css", "text/css", &css())])
        .await;
    let (status, encoding, plain) = brotli_body(&app, &site.domain, "/site.css").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(encoding.as_deref(), Some("br"));
    assert_eq!(plain, css());
}

#[tokio::test]
async fn the_builder_trusts_files_not_rows() {
    let app = spawn_app().await;
    let service = app.service("rows").await;
    let (_, status) = app
        .build(&service, &[asset_file("/a.css", "text/css", &css())])
        .await;
    assert_eq!(status, "completed");
    // The copies vanish behind the rows' back (an older depot's GC, or an operator).
    std::fs::remove_file(copy_path(&app, &css(), "br")).unwrap();
    std::fs::remove_file(copy_path(&app, &css(), "gz")).unwrap();
    let site = app
        .deploy(&[asset_file("/a.css", "text/css", &css())])
        .await;
    assert!(
        copy_path(&app, &css(), "br").exists(),
        "the build made it again"
    );
    let (status, encoding, plain) = brotli_body(&app, &site.domain, "/a.css").await;
    assert_eq!((status, encoding.as_deref()), (StatusCode::OK, Some("br")));
    assert_eq!(plain, css());
}

#[tokio::test]
async fn a_compressed_copy_cut_short_is_never_served() {
    let app = spawn_app().await;
    let site = app
        .deploy(&[asset_file("/cut.css", "text/css", &css())])
        .await;
    // As a crash before a copy reached the disk would leave it.
    std::fs::write(copy_path(&app, &css(), "br"), b"").unwrap();
    std::fs::remove_file(copy_path(&app, &css(), "gz")).unwrap();
    for _ in 0..2 {
        let (status, encoding, plain) = brotli_body(&app, &site.domain, "/cut.css").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(encoding, None);
        assert_eq!(plain, css());
    }
    let gz = app
        .host(Method::GET, &site.domain, "/cut.css")
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gz.status(), StatusCode::OK);
    assert!(gz.headers().get("content-encoding").is_none());
    let mut body = Vec::new();
    gz.bytes()
        .await
        .unwrap()
        .as_ref()
        .read_to_end(&mut body)
        .unwrap();
    assert_eq!(body, css());
}

#[tokio::test]
async fn uploads_cut_short_by_a_crash_are_removed_at_start() {
    let app = spawn_app().await;
    let tmp = app.dir.path().join("blobs/tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let leftover = tmp.join("0123456789abcdef0123456789abcdef#1");
    std::fs::write(&leftover, vec![1u8; 4096]).unwrap();
    let app = app.restart().await;
    assert!(!app
        .dir
        .path()
        .join("blobs/tmp/0123456789abcdef0123456789abcdef#1")
        .exists());
}

/// A function that writes one Log per call (needs Node.js: the tests skip without it).
const LOGS_ONE_LINE: &[u8] = b"exports.handler = (context, event, callback) => { console.log('hit'); callback(null, 'ok'); };";

fn function_file(data: &[u8]) -> Deployable<'_> {
    Deployable {
        path: "/hook",
        visibility: "public",
        content_type: "application/javascript",
        data,
        function: true,
    }
}

async fn log_count(app: &TestApp, service: &str, environment: &str) -> usize {
    let logs = app
        .get(&format!(
            "/v1/Services/{service}/Environments/{environment}/Logs?PageSize=1000"
        ))
        .await;
    logs.body["logs"].as_array().unwrap().len()
}

async fn call_function(app: &TestApp, domain: &str, times: usize) {
    for _ in 0..times {
        let answer = app
            .host(Method::POST, domain, "/hook")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn anonymous_requests_write_logs_at_a_bounded_rate() {
    if depot::runtime::find_on_path("node").is_none() {
        eprintln!("skipping: function Logs need `node` on PATH");
        return;
    }
    let app = spawn_with(|mut c| {
        c.logs.max_rate = 1;
        c
    })
    .await;
    let site = app.deploy(&[function_file(LOGS_ONE_LINE)]).await;
    call_function(&app, &site.domain, 40).await;
    let written = log_count(&app, &site.service, &site.environment).await;
    // A burst of ten seconds' worth, plus what the rate refilled meanwhile (the first call
    // also starts a worker).
    assert!((10..=13).contains(&written), "{written}");
}

#[tokio::test]
async fn logs_beyond_the_per_environment_cap_are_pruned_oldest_first() {
    if depot::runtime::find_on_path("node").is_none() {
        eprintln!("skipping: function Logs need `node` on PATH");
        return;
    }
    let app = spawn_with(|mut c| {
        c.logs.max_rate = 0;
        c.logs.max_per_environment = 3;
        c.upkeep.prune_every = Duration::from_millis(100);
        c
    })
    .await;
    let site = app.deploy(&[function_file(LOGS_ONE_LINE)]).await;
    call_function(&app, &site.domain, 8).await;
    let path = format!(
        "/v1/Services/{}/Environments/{}/Logs?PageSize=1000",
        site.service, site.environment
    );
    let before = app.get(&path).await.body["logs"].clone();
    for _ in 0..50 {
        if log_count(&app, &site.service, &site.environment).await <= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = app.get(&path).await.body["logs"].clone();
    assert_eq!(after.as_array().unwrap().len(), 3);
    // Newest first in both lists: the three kept are the three newest.
    assert_eq!(
        after.as_array().unwrap()[..],
        before.as_array().unwrap()[..3]
    );
}
