//! Load generator for `bench/intercept.sh`: the same authenticated API fetch over plain http
//! and through `--intercept-twilio` tunnels (CONNECT, TLS, HTTP/1.1 keep-alive), in one run, and
//! the cost of opening a new tunnel per request (what twilio-node does). wrk cannot tunnel,
//! hence this small client; it speaks HTTP/1.1 by hand to stay out of the measurement.
//!
//! Usage: intercept_load ADDR CA_PEM AUTH PATH SECONDS CONNECTIONS
//! Prints `RESULT case req_per_s p50_ms p99_ms errors` lines.

#![allow(clippy::unwrap_used)] // A benchmark tool: a failed step ends the run.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const HOST: &str = "serverless.twilio.com";

struct Args {
    addr: SocketAddr,
    tls: tokio_rustls::TlsConnector,
    request: Arc<Vec<u8>>,
    duration: Duration,
    connections: usize,
}

fn args() -> Args {
    let a: Vec<String> = std::env::args().collect();
    use rustls_pki_types::pem::PemObject as _;
    let pem = std::fs::read(&a[2]).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls_pki_types::CertificateDer::from_pem_slice(&pem).unwrap())
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Args {
        addr: a[1].parse().unwrap(),
        tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
        request: Arc::new(
            format!(
                "GET {} HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: Basic {}\r\n\r\n",
                a[4], a[3]
            )
            .into_bytes(),
        ),
        duration: Duration::from_secs(a[5].parse().unwrap()),
        connections: a[6].parse().unwrap(),
    }
}

/// One request and its whole response (Content-Length bodies only, as depot's API sends).
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut BufReader<S>,
    request: &[u8],
) -> std::io::Result<u16> {
    stream.get_mut().write_all(request).await?;
    let mut line = String::new();
    stream.read_line(&mut line).await?;
    let status = line.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut length = 0usize;
    loop {
        line.clear();
        if stream.read_line(&mut line).await? == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await?;
    Ok(status)
}

/// A tunnel to `HOST` through depot, TLS established.
async fn tunnel(args: &Args) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let mut tcp = TcpStream::connect(args.addr).await?;
    tcp.set_nodelay(true)?;
    tcp.write_all(format!("CONNECT {HOST}:443 HTTP/1.1\r\nHost: {HOST}:443\r\n\r\n").as_bytes())
        .await?;
    // The 200 has no body: read to the blank line byte by byte, so no TLS byte is consumed.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(tcp.read_u8().await?);
    }
    if !head.starts_with(b"HTTP/1.1 200") {
        return Err(std::io::Error::other("CONNECT refused"));
    }
    let name = rustls_pki_types::ServerName::try_from(HOST).unwrap();
    args.tls.connect(name, tcp).await
}

#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    errors: usize,
}

fn report(case: &str, tallies: Vec<Tally>, elapsed: Duration) {
    let mut all: Vec<Duration> = tallies.iter().flat_map(|t| t.latencies.clone()).collect();
    let errors: usize = tallies.iter().map(|t| t.errors).sum();
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "RESULT {case} {:.0} {:.2} {:.2} {errors}",
        all.len() as f64 / elapsed.as_secs_f64(),
        pct(0.5),
        pct(0.99)
    );
}

/// `connections` keep-alive connections (plain or tunnelled) sending requests back to back.
async fn keep_alive(args: Arc<Args>, tunnelled: bool) -> Vec<Tally> {
    let end = Instant::now() + args.duration;
    let mut tasks = Vec::new();
    for _ in 0..args.connections {
        let args = args.clone();
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            if tunnelled {
                let mut s = BufReader::new(tunnel(&args).await.unwrap());
                while Instant::now() < end {
                    let start = Instant::now();
                    match exchange(&mut s, &args.request).await {
                        Ok(200) => tally.latencies.push(start.elapsed()),
                        _ => tally.errors += 1,
                    }
                }
            } else {
                let mut s = BufReader::new(TcpStream::connect(args.addr).await.unwrap());
                while Instant::now() < end {
                    let start = Instant::now();
                    match exchange(&mut s, &args.request).await {
                        Ok(200) => tally.latencies.push(start.elapsed()),
                        _ => tally.errors += 1,
                    }
                }
            }
            tally
        }));
    }
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.unwrap());
    }
    out
}

/// A new connection (plain) or a new tunnel (CONNECT + TLS) for every request.
async fn per_request(args: Arc<Args>, tunnelled: bool) -> Vec<Tally> {
    let end = Instant::now() + args.duration;
    let mut tasks = Vec::new();
    for _ in 0..args.connections {
        let args = args.clone();
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            while Instant::now() < end {
                let start = Instant::now();
                let ok = if tunnelled {
                    match tunnel(&args).await {
                        Ok(t) => exchange(&mut BufReader::new(t), &args.request).await,
                        Err(e) => Err(e),
                    }
                } else {
                    match TcpStream::connect(args.addr).await {
                        Ok(t) => exchange(&mut BufReader::new(t), &args.request).await,
                        Err(e) => Err(e),
                    }
                };
                match ok {
                    Ok(200) => tally.latencies.push(start.elapsed()),
                    _ => tally.errors += 1,
                }
            }
            tally
        }));
    }
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.unwrap());
    }
    out
}

fn main() {
    let args = Arc::new(args());
    // One thread: the client's share of the machine is the same in every case.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        for (case, tunnelled, reuse) in [
            ("plain-keepalive", false, true),
            ("tunnel-keepalive", true, true),
            ("plain-new-connection", false, false),
            ("tunnel-new-tunnel", true, false),
        ] {
            let start = Instant::now();
            let tallies = match reuse {
                true => keep_alive(args.clone(), tunnelled).await,
                false => per_request(args.clone(), tunnelled).await,
            };
            report(case, tallies, start.elapsed());
        }
    });
}
