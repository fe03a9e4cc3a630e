//! The listener's limits: slow, idle, stalled and numerous clients are closed or turned away,
//! oversized heads are 431, and HTTP/2 (h2c) reaches both the API and the asset host.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{asset_file, spawn_with, TestApp, ACCOUNT_SID, AUTH_TOKEN};

async fn quick_timeouts() -> TestApp {
    spawn_with(|mut c| {
        c.connections.header_timeout = Duration::from_millis(400);
        c.connections.idle_timeout = Duration::from_millis(400);
        c.connections.body_timeout = Duration::from_millis(400);
        c
    })
    .await
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Reads until the server closes the connection; returns what it sent and when it closed.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(limit, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (got, started.elapsed()),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => panic!("connection still open after {limit:?}"),
        }
    }
}

#[tokio::test]
async fn a_request_head_sent_slowly_is_cut_off() {
    let app = quick_timeouts().await;
    let mut slow = connect(&app).await;
    let started = Instant::now();
    // One byte every 100 ms never completes the head: the header timeout counts from the
    // first byte, however steadily bytes arrive.
    for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: abcdefgh" {
        if slow.write_all(&[*byte]).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        if started.elapsed() > Duration::from_secs(3) {
            panic!("a slow head was not cut off");
        }
    }
    let (_, _) = read_until_closed(&mut slow, Duration::from_secs(3)).await;
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn idle_connections_are_closed_and_keep_alive_works_until_then() {
    let app = quick_timeouts().await;
    let mut idle = connect(&app).await;
    let (_, after) = read_until_closed(&mut idle, Duration::from_secs(3)).await;
    assert!(after >= Duration::from_millis(300), "{after:?}");

    let mut kept = connect(&app).await;
    for _ in 0..3 {
        kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 256];
        let n = kept.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, after) = read_until_closed(&mut kept, Duration::from_secs(3)).await;
    assert!(after >= Duration::from_millis(150), "{after:?}");
}

#[tokio::test]
async fn a_stalled_upload_is_dropped_and_leaves_nothing_behind() {
    let app = quick_timeouts().await;
    let service = app.service("stall").await;
    let asset = app.asset(&service, "a").await;
    let boundary = "stall-boundary";
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"Path\"\r\n\r\n/a.bin\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"Visibility\"\r\n\r\npublic\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"Content\"; filename=\"a\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    );
    let auth = base64_basic();
    let request = format!(
        "POST /v1/Services/{service}/Assets/{asset}/Versions HTTP/1.1\r\nHost: x\r\n\
         Authorization: Basic {auth}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\n\
         Content-Length: 1000000\r\n\r\n{head}"
    );
    let mut upload = connect(&app).await;
    upload.write_all(request.as_bytes()).await.unwrap();
    upload.write_all(&[7u8; 300_000]).await.unwrap();
    // ...and then nothing more.
    let (_, after) = read_until_closed(&mut upload, Duration::from_secs(5)).await;
    assert!(after < Duration::from_secs(5));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.tmp_blobs(), 0, "the staged upload was removed");
    assert_eq!(app.stored_blobs(), 0);
    let versions = app
        .get(&format!("/v1/Services/{service}/Assets/{asset}/Versions"))
        .await;
    assert_eq!(versions.body["asset_versions"], serde_json::json!([]));
}

fn base64_basic() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT_SID}:{AUTH_TOKEN}"))
}

#[tokio::test]
async fn an_oversized_request_head_is_431() {
    let app = spawn_with(|c| c).await;
    let big = "x".repeat(40 << 10);
    let answer = app
        .client
        .get(app.url("/v1/Services"))
        .header("X-Big", &big)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    // A 300 KB Host is refused the same way, before it can reach any cache.
    let host = format!("{}-1234.localhost", "a".repeat(300 << 10));
    let mut raw = connect(&app).await;
    raw.write_all(format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
        .await
        .ok();
    let (got, _) = read_until_closed(&mut raw, Duration::from_secs(5)).await;
    assert!(
        got.starts_with(b"HTTP/1.1 431"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
}

#[tokio::test]
async fn at_the_connection_cap_idle_connections_make_room() {
    let app = spawn_with(|mut c| {
        c.connections.max_connections = 4;
        c
    })
    .await;
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(connect(&app).await);
    }
    // Accepted and idle for over a second: connections idle for less are spared.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    for _ in 0..3 {
        let health = client.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(health.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn a_host_longer_than_a_dns_name_is_not_an_environment() {
    let app = spawn_with(|c| c).await;
    let label = "a".repeat(64);
    for host in [
        format!("{label}-1234.localhost"),
        format!("{}-1234.localhost", "a.".repeat(130)),
    ] {
        let answer = app
            .client
            .get(app.url("/x"))
            .header("Host", &host)
            .send()
            .await
            .unwrap();
        // The API answers (401 without credentials), not the asset host (plain-text 404).
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED, "{host}");
    }
}

#[tokio::test]
async fn http2_reaches_the_api_and_the_asset_host_by_authority() {
    let app = spawn_with(|c| c).await;
    let site = app
        .deploy(&[asset_file("/hello.txt", "text/plain", b"over h2")])
        .await;
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let api = h2
        .get(app.url("/v1/Services"))
        .basic_auth(ACCOUNT_SID, Some(AUTH_TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(api.version(), reqwest::Version::HTTP_2);
    assert_eq!(api.status(), StatusCode::OK);
    // HTTP/2 carries the host in `:authority`; no Host header is sent.
    let addr: std::net::SocketAddr = app.base.trim_start_matches("http://").parse().unwrap();
    let resolved = reqwest::Client::builder()
        .http2_prior_knowledge()
        .resolve(&site.domain, addr)
        .build()
        .unwrap();
    let file = resolved
        .get(format!("http://{}:{}/hello.txt", site.domain, addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(file.version(), reqwest::Version::HTTP_2);
    assert_eq!(file.status(), StatusCode::OK);
    assert_eq!(file.text().await.unwrap(), "over h2");
}

#[tokio::test]
async fn a_shorter_limit_applies_as_soon_as_its_state_begins() {
    // Idle is long; a head and a stalled request must still end on their own, shorter limits.
    let app = spawn_with(|mut c| {
        c.connections.header_timeout = Duration::from_millis(300);
        c.connections.body_timeout = Duration::from_millis(300);
        c.connections.idle_timeout = Duration::from_secs(10);
        c
    })
    .await;
    // Connected and idle first, so the watchdog has looked at the connection while idle.
    let mut head = connect(&app).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    head.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let (_, after) = read_until_closed(&mut head, Duration::from_secs(5)).await;
    assert!(after < Duration::from_secs(2), "{after:?}");

    let mut stalled = connect(&app).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let request = format!(
        "POST /v1/Services HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nUniq",
        base64_basic()
    );
    stalled.write_all(request.as_bytes()).await.unwrap();
    let (answer, after) = read_until_closed(&mut stalled, Duration::from_secs(5)).await;
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    assert!(after < Duration::from_secs(2), "{after:?}");
}
