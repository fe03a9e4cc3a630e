//! The asset host (COMPAT §11): routing by Host, visibility, and HTTP semantics.

use std::io::Read;

use reqwest::{Method, StatusCode};

use crate::helpers::{asset_file, spawn_app, Deployable, TestApp, ACCOUNT_SID, AUTH_TOKEN};

fn css() -> Vec<u8> {
    "body { color: red; margin: 0 }\n".repeat(100).into_bytes()
}

async fn site(app: &TestApp) -> crate::helpers::Deployed {
    let css = css();
    let binary: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    app.deploy(&[
        asset_file("/style.css", "text/css", &css),
        asset_file("/img/logo.png", "image/png", &binary),
        asset_file("/assets/index.html", "text/html", b"<h1>home</h1>"),
        asset_file("/index.html", "text/html", b"not the root"),
        asset_file("/my%20file.txt", "text/plain", b"spaced"),
        Deployable {
            path: "/secret.json",
            visibility: "private",
            content_type: "application/json",
            data: b"{}",
            function: false,
        },
        Deployable {
            path: "/admin.html",
            visibility: "protected",
            content_type: "text/html",
            data: b"admin",
            function: false,
        },
    ])
    .await
}

#[tokio::test]
async fn serves_exact_bytes_with_type_length_and_validators() {
    let app = spawn_app().await;
    let site = site(&app).await;
    let binary: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    let got = app
        .host(Method::GET, &site.domain, "/img/logo.png")
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), StatusCode::OK);
    let h = got.headers().clone();
    assert_eq!(h["content-type"], "image/png");
    assert_eq!(h["content-length"], "5000");
    assert_eq!(h["accept-ranges"], "bytes");
    assert!(h["cache-control"].to_str().unwrap().contains("public"));
    let etag = h["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.len() == 66, "{etag}");
    assert!(h.contains_key("last-modified"));
    assert_eq!(got.bytes().await.unwrap().to_vec(), binary);

    // The port in Host is ignored, and the domain is case-insensitive.
    let upper = site.domain.to_uppercase();
    let with_port = format!("{upper}:{}", app.base.rsplit(':').next().unwrap());
    let again = app
        .host(Method::GET, &with_port, "/img/logo.png")
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::OK);

    let head = app
        .host(Method::HEAD, &site.domain, "/img/logo.png")
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()["content-length"], "5000");
    assert!(head.bytes().await.unwrap().is_empty());

    let cond = app
        .host(Method::GET, &site.domain, "/img/logo.png")
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(cond.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(cond.headers()["etag"], etag.as_str());
    assert!(cond.bytes().await.unwrap().is_empty());
    let weak = app
        .host(Method::GET, &site.domain, "/img/logo.png")
        .header("If-None-Match", format!("\"x\", W/{etag}"))
        .send()
        .await
        .unwrap();
    assert_eq!(weak.status(), StatusCode::NOT_MODIFIED);
    let other = app
        .host(Method::GET, &site.domain, "/img/logo.png")
        .header("If-None-Match", "\"other\"")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::OK);
    let last_modified = h["last-modified"].to_str().unwrap().to_owned();
    let ims = app
        .host(Method::GET, &site.domain, "/img/logo.png")
        .header("If-Modified-Since", &last_modified)
        .send()
        .await
        .unwrap();
    assert_eq!(ims.status(), StatusCode::NOT_MODIFIED);
    let old = app
        .host(Method::GET, &site.domain, "/img/logo.png")
        .header("If-Modified-Since", "Mon, 01 Jan 2001 00:00:00 GMT")
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), StatusCode::OK);
}

#[tokio::test]
async fn ranges() {
    let app = spawn_app().await;
    let site = site(&app).await;
    let binary: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    let part = app
        .host(Method::GET, &site.domain, "/img/logo.png")
        .header("Range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.headers()["content-range"], "bytes 10-19/5000");
    assert_eq!(
        part.bytes().await.unwrap().to_vec(),
        binary[10..20].to_vec()
    );
    let tail = app
        .host(Method::GET, &site.domain, "/img/logo.png")
        .header("Range", "bytes=-5")
        .send()
        .await
        .unwrap();
    assert_eq!(
        tail.bytes().await.unwrap().to_vec(),
        binary[4995..].to_vec()
    );
    let bad = app
        .host(Method::GET, &site.domain, "/img/logo.png")
        .header("Range", "bytes=6000-")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(bad.headers()["content-range"], "bytes */5000");
    // A range is served from the identity bytes even when compression is accepted.
    let css = app
        .host(Method::GET, &site.domain, "/style.css")
        .header("Range", "bytes=0-3")
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), StatusCode::PARTIAL_CONTENT);
    assert!(css.headers().get("content-encoding").is_none());
    assert_eq!(css.text().await.unwrap(), "body");
}

#[tokio::test]
async fn precompressed_copies_by_accept_encoding() {
    let app = spawn_app().await;
    let site = site(&app).await;
    let gz = app
        .host(Method::GET, &site.domain, "/style.css")
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    assert_eq!(gz.headers()["vary"], "Accept-Encoding");
    assert_eq!(gz.headers()["content-type"], "text/css");
    let gz_etag = gz.headers()["etag"].to_str().unwrap().to_owned();
    let body = gz.bytes().await.unwrap();
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_end(&mut plain)
        .unwrap();
    assert_eq!(plain, css());

    let br = app
        .host(Method::GET, &site.domain, "/style.css")
        .header("Accept-Encoding", "gzip, deflate, br")
        .send()
        .await
        .unwrap();
    assert_eq!(br.headers()["content-encoding"], "br");
    let body = br.bytes().await.unwrap();
    let mut plain = Vec::new();
    brotli::BrotliDecompress(&mut &body[..], &mut plain).unwrap();
    assert_eq!(plain, css());

    let refused = app
        .host(Method::GET, &site.domain, "/style.css")
        .header("Accept-Encoding", "br;q=0, gzip;q=0")
        .send()
        .await
        .unwrap();
    assert!(refused.headers().get("content-encoding").is_none());
    assert_eq!(refused.headers()["vary"], "Accept-Encoding");
    assert_eq!(refused.bytes().await.unwrap().to_vec(), css());

    let cond = app
        .host(Method::GET, &site.domain, "/style.css")
        .header("Accept-Encoding", "gzip")
        .header("If-None-Match", &gz_etag)
        .send()
        .await
        .unwrap();
    assert_eq!(cond.status(), StatusCode::NOT_MODIFIED);
    // Binary content is never compressed.
    let png = app
        .host(Method::GET, &site.domain, "/img/logo.png")
        .header("Accept-Encoding", "gzip, br")
        .send()
        .await
        .unwrap();
    assert!(png.headers().get("content-encoding").is_none());
}

#[tokio::test]
async fn root_falls_back_to_assets_index_only() {
    let app = spawn_app().await;
    let site = site(&app).await;
    let root = app
        .host(Method::GET, &site.domain, "/")
        .send()
        .await
        .unwrap();
    assert_eq!(root.text().await.unwrap(), "<h1>home</h1>");
    let index = app
        .host(Method::GET, &site.domain, "/index.html")
        .send()
        .await
        .unwrap();
    assert_eq!(index.text().await.unwrap(), "not the root");
    let decoded = app
        .host(Method::GET, &site.domain, "/my%20file.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(decoded.text().await.unwrap(), "spaced");
    let query = app
        .host(Method::GET, &site.domain, "/style.css?v=3")
        .send()
        .await
        .unwrap();
    assert_eq!(query.status(), StatusCode::OK);
}

#[tokio::test]
async fn visibility_and_methods() {
    let app = spawn_app().await;
    let site = site(&app).await;
    let private = app
        .host(Method::GET, &site.domain, "/secret.json")
        .send()
        .await
        .unwrap();
    assert_eq!(private.status(), StatusCode::NOT_FOUND);
    assert!(private.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let protected = app
        .host(Method::GET, &site.domain, "/admin.html")
        .send()
        .await
        .unwrap();
    assert_eq!(protected.status(), StatusCode::FORBIDDEN);
    let wrong = app
        .host(Method::GET, &site.domain, "/admin.html")
        .header("X-Twilio-Signature", "bm9wZQ==")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    let url = format!("https://{}/admin.html", site.domain);
    let signature = depot::signature::compute(AUTH_TOKEN, &url, &[]);
    let signed = app
        .host(Method::GET, &site.domain, "/admin.html")
        .header("X-Twilio-Signature", signature)
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), StatusCode::OK);
    assert_eq!(signed.text().await.unwrap(), "admin");

    let options = app
        .host(Method::OPTIONS, &site.domain, "/admin.html")
        .send()
        .await
        .unwrap();
    assert_eq!(options.status(), StatusCode::NO_CONTENT);
    assert_eq!(options.headers()["access-control-allow-origin"], "*");
    assert_eq!(options.headers()["access-control-max-age"], "86400");
    let post = app
        .host(Method::POST, &site.domain, "/style.css")
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(post.headers()["allow"], "GET, HEAD, OPTIONS");
    let _ = ACCOUNT_SID;
}

#[tokio::test]
async fn hostile_paths_never_leave_the_build() {
    let app = spawn_app().await;
    let site = site(&app).await;
    let long = format!("/{}", "a".repeat(10_000));
    for path in [
        "/img/../style.css",
        "/./style.css",
        "/img/%2e%2e/style.css",
        "/%2fstyle.css",
        "/style.css%00",
        "/..%2f..%2fetc%2fpasswd",
        "/nope",
        long.as_str(),
    ] {
        // Raw requests: an HTTP client would resolve the dot segments before sending.
        assert_eq!(raw_status(&app, &site.domain, path).await, 404, "{path}");
    }
}

#[tokio::test]
async fn unknown_domains_and_undeployed_environments_are_404() {
    let app = spawn_app().await;
    let site = site(&app).await;
    for domain in ["nothing-1234.localhost", "site-0000-dev.localhost"] {
        let got = app
            .host(Method::GET, domain, "/style.css")
            .send()
            .await
            .unwrap();
        assert_eq!(got.status(), StatusCode::NOT_FOUND);
    }
    let fresh = app
        .post(
            &format!("/v1/Services/{}/Environments", site.service),
            &[("UniqueName", "empty")],
        )
        .await;
    let domain = fresh.body["domain_name"].as_str().unwrap().to_owned();
    let got = app
        .host(Method::GET, &domain, "/style.css")
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), StatusCode::NOT_FOUND);

    // Deleting the environment stops its domain at once; so does deleting the service.
    let env_path = format!(
        "/v1/Services/{}/Environments/{}",
        site.service, site.environment
    );
    assert_eq!(
        app.host(Method::GET, &site.domain, "/style.css")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    app.delete(&env_path).await;
    assert_eq!(
        app.host(Method::GET, &site.domain, "/style.css")
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn deleting_the_service_stops_its_domains() {
    let app = spawn_app().await;
    let site = site(&app).await;
    assert_eq!(
        app.host(Method::GET, &site.domain, "/style.css")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    app.delete(&format!("/v1/Services/{}", site.service)).await;
    assert_eq!(
        app.host(Method::GET, &site.domain, "/style.css")
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn the_host_serves_after_a_restart() {
    let app = spawn_app().await;
    let site = site(&app).await;
    let app = app.restart().await;
    let got = app
        .host(Method::GET, &site.domain, "/style.css")
        .send()
        .await
        .unwrap();
    assert_eq!(got.bytes().await.unwrap().to_vec(), css());
}

/// Sends `GET {path}` exactly as written and returns the status code.
async fn raw_status(app: &TestApp, domain: &str, path: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {domain}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response);
    text.split(' ').nth(1).unwrap().parse().unwrap()
}
