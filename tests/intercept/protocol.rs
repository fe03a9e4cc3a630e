//! The proxy's rules and the tunnel, with a raw client: which `CONNECT` targets open a tunnel,
//! what the tunnel serves, and what happens to everything else.

use std::os::unix::fs::PermissionsExt as _;

use serde_json::Value;

use crate::support::{get, open_tls, send_head, Depot, SID};

const INTERCEPT: &[&str] = &["--intercept-twilio"];

#[tokio::test]
async fn connect_to_any_other_host_is_refused_with_403() {
    let depot = Depot::start(INTERCEPT);
    let own = format!("127.0.0.1:{}", depot.addr.port());
    let targets = [
        "serverless.twilio.com.evil.com:443",
        "evil-serverless.twilio.com:443",
        "chat.twilio.com:443",
        "studio.twilio.com:443",
        "serverless.twilio.com:80",
        "serverless.twilio.com:8443",
        "93.184.216.34:443",
        "127.0.0.1:443",
        own.as_str(),
        "localhost:443",
        "example.com:443",
    ];
    for target in targets {
        let (status, _) = send_head(
            depot.addr,
            &format!("CONNECT {target} HTTP/1.1\r\nHost: {target}"),
        )
        .await;
        assert_eq!(status, "HTTP/1.1 403 Forbidden", "CONNECT {target}");
    }
    // The Host header never overrides the request target.
    let (status, _) = send_head(
        depot.addr,
        "CONNECT example.com:443 HTTP/1.1\r\nHost: serverless.twilio.com:443",
    )
    .await;
    assert_eq!(status, "HTTP/1.1 403 Forbidden");
}

#[tokio::test]
async fn connect_is_refused_without_the_flag() {
    let depot = Depot::start(&[]);
    for target in ["serverless.twilio.com:443", "api.twilio.com:443"] {
        let (status, _) = send_head(
            depot.addr,
            &format!("CONNECT {target} HTTP/1.1\r\nHost: {target}"),
        )
        .await;
        assert_eq!(status, "HTTP/1.1 403 Forbidden", "CONNECT {target}");
    }
    assert!(
        !depot.data.path().join("ca.pem").exists(),
        "no CA without the flag"
    );
    assert!(!depot.printed.iter().any(|l| l.contains("HTTPS_PROXY")));
}

#[tokio::test]
async fn the_environment_variable_turns_interception_on_and_off() {
    let on = Depot::start_with(
        tempfile::tempdir().unwrap(),
        &[],
        &[("DEPOT_INTERCEPT_TWILIO", "1")],
    );
    assert!(on.printed.iter().any(|l| l.contains("export HTTPS_PROXY=")));
    let (status, _) = send_head(on.addr, "CONNECT api.twilio.com:443 HTTP/1.1").await;
    assert!(status.ends_with(" 200 OK"), "{status}");
    let off = Depot::start_with(
        tempfile::tempdir().unwrap(),
        &[],
        &[("DEPOT_INTERCEPT_TWILIO", "0")],
    );
    let (status, _) = send_head(off.addr, "CONNECT api.twilio.com:443 HTTP/1.1").await;
    assert_eq!(status, "HTTP/1.1 403 Forbidden");
}

#[tokio::test]
async fn absolute_form_proxy_requests_are_refused() {
    let depot = Depot::start(INTERCEPT);
    for head in [
        "GET http://example.com/ HTTP/1.1\r\nHost: example.com",
        "GET http://serverless.twilio.com/v1/Services HTTP/1.1\r\nHost: serverless.twilio.com",
        "POST http://127.0.0.1:9/ HTTP/1.1\r\nHost: 127.0.0.1:9\r\nContent-Length: 0",
    ] {
        let (status, _) = send_head(depot.addr, head).await;
        assert_eq!(status, "HTTP/1.1 403 Forbidden", "{head}");
    }
}

/// What real clients send: a bare `CONNECT` (Python's http.client sends no headers beyond the
/// request line when it has none to add) and `Connection: close` (Node's proxy agents). Both
/// tunnels stay open for several requests (one long-lived tunnel, as Python uses).
#[tokio::test]
async fn bare_and_connection_close_tunnels_serve_several_requests_over_https_urls() {
    let depot = Depot::start(INTERCEPT);
    let ca = depot.ca_pem();
    for head in [
        "CONNECT serverless.twilio.com:443 HTTP/1.1",
        "CONNECT serverless.twilio.com:443 HTTP/1.1\r\nHost: serverless.twilio.com:443\r\nConnection: close",
        "CONNECT SERVERLESS.twilio.com:443 HTTP/1.0",
    ] {
        let (status, tunnel) = send_head(depot.addr, head).await;
        assert!(status.ends_with(" 200 OK"), "{head}: {status}");
        let mut tls = open_tls(tunnel, &ca, "serverless.twilio.com", &[]).await.unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), None);
        for _ in 0..3 {
            let (status, body) = get(&mut tls, "serverless.twilio.com", "/v1/Services").await;
            assert_eq!(status, 200, "{body}");
            let body: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(
                body["meta"]["url"],
                "https://serverless.twilio.com/v1/Services?PageSize=50&Page=0"
            );
        }
    }
}

#[tokio::test]
async fn the_tunnel_answers_on_the_connected_twilio_host_whatever_the_inner_host_says() {
    let depot = Depot::start(&[
        "--intercept-twilio",
        "--public-url",
        "http://depot.example:4000",
    ]);
    let ca = depot.ca_pem();
    let (_, tunnel) = send_head(
        depot.addr,
        "CONNECT serverless-upload.dublin.ie1.twilio.com:443 HTTP/1.1\r\nHost: serverless-upload.dublin.ie1.twilio.com:443",
    )
    .await;
    let mut tls = open_tls(
        tunnel,
        &ca,
        "serverless-upload.dublin.ie1.twilio.com",
        &[b"http/1.1"],
    )
    .await
    .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let (_, body) = get(
        &mut tls,
        "serverless-upload.dublin.ie1.twilio.com",
        "/v1/Services",
    )
    .await;
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body["meta"]["url"],
        "https://serverless-upload.dublin.ie1.twilio.com/v1/Services?PageSize=50&Page=0"
    );
    // A foreign inner Host does not redirect the client's next request off the tunnel.
    let (_, body) = get(&mut tls, "evil.example", "/v1/Services").await;
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body["meta"]["url"],
        "https://serverless-upload.dublin.ie1.twilio.com/v1/Services?PageSize=50&Page=0"
    );
    // The 2010 API on api.twilio.com, as `twilio login` fetches it.
    let (_, tunnel) = send_head(depot.addr, "CONNECT api.twilio.com:443 HTTP/1.1").await;
    let mut tls = open_tls(tunnel, &ca, "api.twilio.com", &[]).await.unwrap();
    let (status, body) = get(
        &mut tls,
        "api.twilio.com",
        &format!("/2010-04-01/Accounts/{SID}.json"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["sid"], SID);
    // Outside the tunnel nothing changed: --public-url, and unauthenticated requests are 401.
    let plain = reqwest::Client::new()
        .get(format!("http://{}/v1/Services", depot.addr))
        .basic_auth(SID, Some(crate::support::TOKEN))
        .send()
        .await
        .unwrap();
    let body: Value = plain.json().await.unwrap();
    assert_eq!(
        body["meta"]["url"],
        "http://depot.example:4000/v1/Services?PageSize=50&Page=0"
    );
    let (_, tunnel) = send_head(depot.addr, "CONNECT serverless.twilio.com:443 HTTP/1.1").await;
    let mut tls = open_tls(tunnel, &ca, "serverless.twilio.com", &[])
        .await
        .unwrap();
    tokio::io::AsyncWriteExt::write_all(
        &mut tls,
        b"GET /v1/Services HTTP/1.1\r\nHost: serverless.twilio.com\r\n\r\n",
    )
    .await
    .unwrap();
    let mut head = [0u8; 12];
    tokio::io::AsyncReadExt::read_exact(&mut tls, &mut head)
        .await
        .unwrap();
    assert_eq!(&head, b"HTTP/1.1 401");
}

/// The certificate is minted for the `CONNECT` host only: a client expecting another name
/// refuses it.
#[tokio::test]
async fn the_certificate_names_only_the_connected_host() {
    let depot = Depot::start(INTERCEPT);
    let (_, tunnel) = send_head(depot.addr, "CONNECT serverless.twilio.com:443 HTTP/1.1").await;
    let refused = open_tls(tunnel, &depot.ca_pem(), "api.twilio.com", &[]).await;
    assert!(
        refused.is_err(),
        "a certificate for serverless.twilio.com passed as api.twilio.com"
    );
}

/// reqwest as a proxy client: its own `CONNECT`, then h2 when ALPN offers it.
#[tokio::test]
async fn a_proxying_client_speaks_h2_and_http1_inside_the_tunnel() {
    let depot = Depot::start(INTERCEPT);
    let ca = reqwest::Certificate::from_pem(depot.ca_pem().as_bytes()).unwrap();
    for h1 in [false, true] {
        let mut builder = reqwest::Client::builder()
            .proxy(reqwest::Proxy::https(depot.proxy()).unwrap())
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca.clone());
        if h1 {
            builder = builder.http1_only();
        }
        let response = builder
            .build()
            .unwrap()
            .get("https://serverless.twilio.com/v1/Services?PageSize=1")
            .basic_auth(SID, Some(crate::support::TOKEN))
            .send()
            .await
            .unwrap();
        let version = response.version();
        assert_eq!(response.status(), 200);
        assert_eq!(
            version,
            if h1 {
                reqwest::Version::HTTP_11
            } else {
                reqwest::Version::HTTP_2
            }
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body["meta"]["first_page_url"],
            "https://serverless.twilio.com/v1/Services?PageSize=1&Page=0"
        );
    }
}

/// Made on first start, reused on the next; the export lines name the files; nothing in the
/// data dir is readable by group or others.
#[tokio::test]
async fn the_ca_is_reused_across_restarts_and_kept_private() {
    let depot = Depot::start(INTERCEPT);
    let first = depot.ca_pem();
    let data = depot.data.path().to_owned();
    let printed = depot.printed.join("\n");
    for wanted in [
        format!("export HTTPS_PROXY={}", depot.proxy()),
        format!("export HTTP_PROXY={}", depot.proxy()),
        format!(
            "export REQUESTS_CA_BUNDLE={}",
            data.join("ca-bundle.pem").display()
        ),
        format!(
            "export NODE_EXTRA_CA_CERTS={}",
            data.join("ca.pem").display()
        ),
    ] {
        assert!(printed.contains(&wanted), "{wanted} not in:\n{printed}");
    }
    let again = Depot::start_in(depot.stop(), INTERCEPT);
    assert_eq!(again.ca_pem(), first);
    let mut dirs = vec![data.clone()];
    let mut files = 0;
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let mode = entry.metadata().unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{} is {mode:o}", entry.path().display());
            if entry.file_type().unwrap().is_dir() {
                dirs.push(entry.path());
            } else {
                files += 1;
            }
        }
    }
    assert!(files >= 4, "ca.pem, ca-key.pem, ca-bundle.pem, depot.db");
    let bundle = std::fs::read_to_string(data.join("ca-bundle.pem")).unwrap();
    assert!(bundle.ends_with(&first));
    // The system's roots come first where the machine has them.
    if std::path::Path::new("/etc/ssl/certs/ca-certificates.crt").exists() {
        assert!(bundle.matches("BEGIN CERTIFICATE").count() > 10);
    }
}

/// A tunnel keeps its connection's limits: one left silent after the `200` is closed at
/// `--idle-timeout`, one that stalls inside its TLS handshake at `--header-timeout`.
#[tokio::test]
async fn stalled_tunnels_are_closed_by_the_connection_watchdog() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let depot = Depot::start(&[
        "--intercept-twilio",
        "--idle-timeout",
        "1",
        "--header-timeout",
        "1",
    ]);
    for partial in [&b""[..], &[0x16, 0x03, 0x01, 0x02, 0x00][..]] {
        let (status, mut tunnel) =
            send_head(depot.addr, "CONNECT serverless.twilio.com:443 HTTP/1.1").await;
        assert!(status.ends_with(" 200 OK"), "{status}");
        tunnel.get_mut().write_all(partial).await.unwrap();
        let started = std::time::Instant::now();
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(std::time::Duration::from_secs(10), tunnel.read(&mut byte))
            .await
            .expect("the stalled tunnel was not closed within 10 s");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
}
