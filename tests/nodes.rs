//! Several depot nodes over one PostgreSQL database and one S3 bucket, as real processes:
//! what one node writes every other reads at once, a deployment is served everywhere within a
//! second, and a build whose node dies is finished by another. And moving up: `depot migrate`
//! from the embedded default to another store, losing nothing.
//!
//! The shared-store tests need `DEPOT_TEST_POSTGRES_URL` and `DEPOT_TEST_S3_BUCKET` (with the
//! `AWS_*` variables `scripts/s3-server.sh start` prints); skipped, saying so, without them.

#![allow(clippy::unwrap_used)] // Test helpers panic on purpose: a failed step is a failed test.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::blocking::{multipart, Client};
use serde_json::Value;

const SID: &str = "ACdddddddddddddddddddddddddddddddd";
const TOKEN: &str = "nodes-token";

/// One `depot serve` process.
struct Node {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where the shared data lives: a fresh schema and a fresh bucket prefix per test.
struct Shared {
    database_url: String,
    blob_url: String,
}

fn shared() -> Option<Shared> {
    let (Ok(_), Ok(bucket)) = (
        std::env::var("DEPOT_TEST_POSTGRES_URL"),
        std::env::var("DEPOT_TEST_S3_BUCKET"),
    ) else {
        eprintln!(
            "skipped: set DEPOT_TEST_POSTGRES_URL and DEPOT_TEST_S3_BUCKET \
             (scripts/s3-server.sh start prints the S3 part)"
        );
        return None;
    };
    let database_url = fresh_schema();
    let prefix = depot::domain::sid::generate(depot::domain::sid::Prefix::Request);
    Some(Shared {
        database_url,
        blob_url: format!("s3://{bucket}/{}", &prefix[2..]),
    })
}

/// A new schema in the test database, and a URL whose connections use it.
fn fresh_schema() -> String {
    use sqlx::Connection;
    let base = std::env::var("DEPOT_TEST_POSTGRES_URL").unwrap();
    let schema = format!(
        "depot_nodes_{}",
        &depot::domain::sid::generate(depot::domain::sid::Prefix::Request)[2..14]
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut conn = sqlx::PgConnection::connect(&base).await.unwrap();
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut conn)
            .await
            .unwrap();
    });
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}options=-c%20search_path%3D{schema}")
}

fn embedded() -> Shared {
    let dir = tempfile::tempdir().unwrap().keep();
    Shared {
        database_url: format!("sqlite://{}", dir.join("depot.db").display()),
        blob_url: url::Url::from_directory_path(dir.join("blobs"))
            .unwrap()
            .to_string(),
    }
}

fn start(shared: &Shared) -> Node {
    start_with(shared, &[])
}

/// Starts a node on `shared`, with `envs` added to its environment.
fn start_with(shared: &Shared, envs: &[(&str, &str)]) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_depot"));
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .args(["--database-url", &shared.database_url])
        .args(["--blob-url", &shared.blob_url])
        .env("DEPOT_ACCOUNT_SID", SID)
        .env("DEPOT_AUTH_TOKEN", TOKEN)
        .envs(envs.iter().copied());
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut seen = Vec::new();
    let base = loop {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "depot exited: {seen:?}"
        );
        if let Some(at) = line.find("http://") {
            if line.contains("listening on") {
                break line[at..].trim_end().to_owned();
            }
        }
        seen.push(line);
    };
    // Keep reading stdout so the node never blocks on a full pipe.
    std::thread::spawn(move || for _ in reader.lines() {});
    Node {
        child,
        base,
        _dir: dir,
    }
}

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn post(node: &Node, path: &str, form: &[(&str, &str)]) -> Value {
    let response = client()
        .post(format!("{}{path}", node.base))
        .basic_auth(SID, Some(TOKEN))
        .form(form)
        .send()
        .unwrap();
    let status = response.status();
    let body: Value = response.json().unwrap();
    assert!(status.is_success(), "POST {path}: {status} {body}");
    body
}

fn get(node: &Node, path: &str) -> (u16, Value) {
    let response = client()
        .get(format!("{}{path}", node.base))
        .basic_auth(SID, Some(TOKEN))
        .send()
        .unwrap();
    (response.status().as_u16(), response.json().unwrap())
}

fn upload(node: &Node, service: &str, asset: &str, path: &str, content: Vec<u8>) -> String {
    let form = multipart::Form::new()
        .text("Path", path.to_owned())
        .text("Visibility", "public")
        .part(
            "Content",
            multipart::Part::bytes(content)
                .file_name("file")
                .mime_str("text/plain")
                .unwrap(),
        );
    let response = client()
        .post(format!(
            "{}/v1/Services/{service}/Assets/{asset}/Versions",
            node.base
        ))
        .basic_auth(SID, Some(TOKEN))
        .multipart(form)
        .send()
        .unwrap();
    let status = response.status();
    let body: Value = response.json().unwrap();
    assert!(status.is_success(), "upload: {status} {body}");
    body["sid"].as_str().unwrap().to_owned()
}

/// GETs `path` on `domain` through `node` (hosting by Host header).
fn fetch(node: &Node, domain: &str, path: &str) -> (u16, String) {
    let response = client()
        .get(format!("{}{path}", node.base))
        .header("Host", domain)
        .send()
        .unwrap();
    (response.status().as_u16(), response.text().unwrap())
}

fn build_status(node: &Node, service: &str, build: &str) -> String {
    let (_, body) = get(
        node,
        &format!("/v1/Services/{service}/Builds/{build}/Status"),
    );
    body["status"].as_str().unwrap().to_owned()
}

fn wait_build(node: &Node, service: &str, build: &str, within: Duration) -> String {
    let started = Instant::now();
    loop {
        let status = build_status(node, service, build);
        if status != "building" || started.elapsed() > within {
            return status;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn two_nodes_share_one_database_and_one_bucket() {
    let Some(shared) = shared() else { return };
    // Started together on an empty schema: one migrates, the other waits for it.
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| start(&shared));
        let b = s.spawn(|| start(&shared));
        (a.join().unwrap(), b.join().unwrap())
    });

    // Created through A, readable through B at once.
    let service = post(
        &a,
        "/v1/Services",
        &[("UniqueName", "shared"), ("FriendlyName", "S")],
    );
    let service = service["sid"].as_str().unwrap().to_owned();
    assert_eq!(get(&b, &format!("/v1/Services/{service}")).0, 200);
    let asset = post(
        &a,
        &format!("/v1/Services/{service}/Assets"),
        &[("FriendlyName", "index")],
    );
    let asset = asset["sid"].as_str().unwrap().to_owned();
    let version = upload(
        &a,
        &service,
        &asset,
        "/index.html",
        b"<h1>one</h1>".to_vec(),
    );
    let (status, fetched) = get(
        &b,
        &format!("/v1/Services/{service}/Assets/{asset}/Versions/{version}"),
    );
    assert_eq!(status, 200, "{fetched}");

    // Built and deployed through B, served by both.
    let environment = post(
        &b,
        &format!("/v1/Services/{service}/Environments"),
        &[("UniqueName", "production"), ("DomainSuffix", "prod")],
    );
    let environment_sid = environment["sid"].as_str().unwrap().to_owned();
    let domain = environment["domain_name"].as_str().unwrap().to_owned();
    let build = post(
        &b,
        &format!("/v1/Services/{service}/Builds"),
        &[("AssetVersions", &version)],
    );
    let build = build["sid"].as_str().unwrap().to_owned();
    assert_eq!(
        wait_build(&a, &service, &build, Duration::from_secs(30)),
        "completed"
    );
    // A caches the domain as serving nothing before the deployment.
    assert_eq!(fetch(&a, &domain, "/index.html").0, 404);
    post(
        &b,
        &format!("/v1/Services/{service}/Environments/{environment_sid}/Deployments"),
        &[("BuildSid", &build)],
    );
    let deployed = Instant::now();
    assert_eq!(
        fetch(&b, &domain, "/index.html"),
        (200, "<h1>one</h1>".into())
    );
    loop {
        let (status, body) = fetch(&a, &domain, "/index.html");
        if status == 200 {
            assert_eq!(body, "<h1>one</h1>");
            break;
        }
        assert!(
            deployed.elapsed() < Duration::from_secs(1),
            "node A still answers {status} a second after the deployment"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    println!(
        "deployment served by the other node after {:?}",
        deployed.elapsed()
    );

    // A redeploy switches both nodes too.
    let second = upload(
        &a,
        &service,
        &asset,
        "/index.html",
        b"<h1>two</h1>".to_vec(),
    );
    let build = post(
        &a,
        &format!("/v1/Services/{service}/Builds"),
        &[("AssetVersions", &second)],
    );
    let build = build["sid"].as_str().unwrap().to_owned();
    assert_eq!(
        wait_build(&b, &service, &build, Duration::from_secs(30)),
        "completed"
    );
    post(
        &a,
        &format!("/v1/Services/{service}/Environments/{environment_sid}/Deployments"),
        &[("BuildSid", &build)],
    );
    let redeployed = Instant::now();
    loop {
        if fetch(&b, &domain, "/index.html").1 == "<h1>two</h1>" {
            break;
        }
        assert!(
            redeployed.elapsed() < Duration::from_secs(1),
            "B still serves the old build"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A function deployed through one node runs on the other, which lays the build out and takes
/// the install the first node shared in the bucket: its own npm could not install anything.
#[test]
fn a_function_deployed_on_one_node_runs_on_the_other() {
    let Some(shared) = shared() else { return };
    if depot::runtime::find_on_path("node").is_none() {
        eprintln!("skipped: `node` is not on PATH");
        return;
    }
    // One npm cache for both nodes and every run: only the first run downloads.
    let cache = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("depot-nodes-npm");
    let cache = cache.to_str().unwrap();
    let a = start_with(&shared, &[("DEPOT_NPM_CACHE", cache)]);
    let b = start_with(
        &shared,
        &[("DEPOT_NPM_CACHE", cache), ("DEPOT_NPM", "/bin/false")],
    );
    let service = post(
        &a,
        "/v1/Services",
        &[("UniqueName", "fns"), ("FriendlyName", "F")],
    );
    let service = service["sid"].as_str().unwrap().to_owned();
    let function = post(
        &a,
        &format!("/v1/Services/{service}/Functions"),
        &[("FriendlyName", "hello")],
    );
    let function = function["sid"].as_str().unwrap().to_owned();
    let form = multipart::Form::new()
        .text("Path", "/hello")
        .text("Visibility", "public")
        .part(
            "Content",
            multipart::Part::bytes(
                b"exports.handler = (context, event, callback) => \
                  callback(null, `hello from ${context.DOMAIN_NAME}`);"
                    .to_vec(),
            )
            .file_name("hello.js")
            .mime_str("application/javascript")
            .unwrap(),
        );
    let response = client()
        .post(format!(
            "{}/v1/Services/{service}/Functions/{function}/Versions",
            a.base
        ))
        .basic_auth(SID, Some(TOKEN))
        .multipart(form)
        .send()
        .unwrap();
    assert!(response.status().is_success());
    let version: Value = response.json().unwrap();
    let version = version["sid"].as_str().unwrap().to_owned();
    let environment = post(
        &a,
        &format!("/v1/Services/{service}/Environments"),
        &[("UniqueName", "production"), ("DomainSuffix", "prod")],
    );
    let environment_sid = environment["sid"].as_str().unwrap().to_owned();
    let domain = environment["domain_name"].as_str().unwrap().to_owned();
    let build = post(
        &a,
        &format!("/v1/Services/{service}/Builds"),
        &[("FunctionVersions", &version)],
    );
    let build = build["sid"].as_str().unwrap().to_owned();
    assert_eq!(
        wait_build(&a, &service, &build, Duration::from_secs(240)),
        "completed"
    );
    post(
        &a,
        &format!("/v1/Services/{service}/Environments/{environment_sid}/Deployments"),
        &[("BuildSid", &build)],
    );
    let deployed = Instant::now();
    let (status, body) = fetch(&b, &domain, "/hello");
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with(&format!("hello from {domain}")), "{body}");
    println!(
        "function first answered by the other node after {:?} (unpacking the shared install included)",
        deployed.elapsed()
    );
    assert_eq!(fetch(&a, &domain, "/hello").0, 200);
}

#[test]
fn a_build_whose_node_dies_is_finished_by_another() {
    let Some(shared) = shared() else { return };
    let mut a = start(&shared);
    let service = post(
        &a,
        "/v1/Services",
        &[("UniqueName", "orphans"), ("FriendlyName", "O")],
    );
    let service = service["sid"].as_str().unwrap().to_owned();
    // Large, compressible assets: precompressing them keeps the build busy for a while.
    let mut versions = Vec::new();
    for n in 0..2 {
        let asset = post(
            &a,
            &format!("/v1/Services/{service}/Assets"),
            &[("FriendlyName", "big")],
        );
        let asset = asset["sid"].as_str().unwrap().to_owned();
        let text: String = (0..200_000)
            .map(|i| format!("line {i} of file {n}: {}\n", i * 7919 % 104_729))
            .collect();
        versions.push(upload(
            &a,
            &service,
            &asset,
            &format!("/big-{n}.txt"),
            text.into_bytes(),
        ));
    }
    let form: Vec<(&str, &str)> = versions
        .iter()
        .map(|v| ("AssetVersions", v.as_str()))
        .collect();
    let build = post(&a, &format!("/v1/Services/{service}/Builds"), &form);
    let build = build["sid"].as_str().unwrap().to_owned();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        build_status(&a, &service, &build),
        "building",
        "the build finished before its node could be killed: make it bigger"
    );
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    let killed = Instant::now();

    let b = start(&shared);
    let status = wait_build(&b, &service, &build, Duration::from_secs(60));
    assert_eq!(status, "completed");
    println!(
        "build finished by another node {:?} after the kill",
        killed.elapsed()
    );
    // The claim lapses within 10 s; rebuilding 2 × 7 MB through the loopback S3 server (moto,
    // Python) took 14 s more on a quiet 2-core machine and 26 s on a busy one.
    assert!(
        killed.elapsed() < Duration::from_secs(60),
        "took {:?}",
        killed.elapsed()
    );
}

/// Everything a client can read about a service, with the server's address taken out.
fn snapshot(node: &Node, service: &str, environment: &str) -> Value {
    let paths = [
        format!("/v1/Services/{service}"),
        format!("/v1/Services/{service}/Assets"),
        format!("/v1/Services/{service}/Builds"),
        format!("/v1/Services/{service}/Environments"),
        format!("/v1/Services/{service}/Environments/{environment}/Deployments"),
        format!("/v1/Services/{service}/Environments/{environment}/Variables"),
        format!("/v1/Services/{service}/Environments/{environment}/Logs"),
    ];
    let mut all = Vec::new();
    for path in paths {
        let (status, body) = get(node, &path);
        assert_eq!(status, 200, "{path}: {body}");
        all.push(serde_json::from_str::<Value>(&body.to_string().replace(&node.base, "")).unwrap());
    }
    Value::Array(all)
}

#[test]
fn migrate_copies_everything_with_its_sids_dates_and_bytes() {
    let source = embedded();
    let node = start(&source);
    let service = post(
        &node,
        "/v1/Services",
        &[("UniqueName", "moving"), ("FriendlyName", "M")],
    );
    let service = service["sid"].as_str().unwrap().to_owned();
    let asset = post(
        &node,
        &format!("/v1/Services/{service}/Assets"),
        &[("FriendlyName", "a")],
    );
    let asset = asset["sid"].as_str().unwrap().to_owned();
    let old = upload(
        &node,
        &service,
        &asset,
        "/index.html",
        b"<p>old</p>".to_vec(),
    );
    let text: String = (0..2000)
        .map(|i| format!("style {i} {{ color: red }}\n"))
        .collect();
    let css = upload(
        &node,
        &service,
        &asset,
        "/site.css",
        text.clone().into_bytes(),
    );
    let environment = post(
        &node,
        &format!("/v1/Services/{service}/Environments"),
        &[("UniqueName", "live"), ("DomainSuffix", "live")],
    );
    let environment_sid = environment["sid"].as_str().unwrap().to_owned();
    let domain = environment["domain_name"].as_str().unwrap().to_owned();
    post(
        &node,
        &format!("/v1/Services/{service}/Environments/{environment_sid}/Variables"),
        &[("Key", "API_URL"), ("Value", "https://example.com")],
    );
    for version in [&old, &css] {
        let build = post(
            &node,
            &format!("/v1/Services/{service}/Builds"),
            &[("AssetVersions", version)],
        );
        let build = build["sid"].as_str().unwrap().to_owned();
        assert_eq!(
            wait_build(&node, &service, &build, Duration::from_secs(30)),
            "completed"
        );
        post(
            &node,
            &format!("/v1/Services/{service}/Environments/{environment_sid}/Deployments"),
            &[("BuildSid", &build)],
        );
    }
    // A subaccount and an API key move too; the key's secret goes on working.
    let subaccount = post(
        &node,
        "/2010-04-01/Accounts.json",
        &[("FriendlyName", "team")],
    );
    let subaccount = subaccount["sid"].as_str().unwrap().to_owned();
    let key = post(
        &node,
        &format!("/2010-04-01/Accounts/{SID}/Keys.json"),
        &[("FriendlyName", "ci")],
    );
    let (key_sid, secret) = (
        key["sid"].as_str().unwrap().to_owned(),
        key["secret"].as_str().unwrap().to_owned(),
    );
    let before = snapshot(&node, &service, &environment_sid);
    let served = fetch(&node, &domain, "/site.css");
    assert_eq!(served, (200, text.clone()));
    drop(node);

    let target = match shared() {
        Some(shared) => shared,
        None => embedded(),
    };
    let source_dir = source
        .database_url
        .trim_start_matches("sqlite://")
        .to_owned();
    let output = Command::new(env!("CARGO_BIN_EXE_depot"))
        .args(["migrate", "--from-database-url", &source.database_url])
        .args(["--from-blob-url", &source.blob_url])
        .args(["--to-database-url", &target.database_url])
        .args(["--to-blob-url", &target.blob_url])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("copied 2 accounts"),
        "{stdout} ({source_dir})"
    );
    assert!(stdout.contains("2 blobs"), "{stdout}");

    // A second run refuses to copy into what is no longer empty.
    let again = Command::new(env!("CARGO_BIN_EXE_depot"))
        .args(["migrate", "--from-database-url", &source.database_url])
        .args(["--from-blob-url", &source.blob_url])
        .args(["--to-database-url", &target.database_url])
        .args(["--to-blob-url", &target.blob_url])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("empty"));

    let moved = start(&target);
    assert_eq!(snapshot(&moved, &service, &environment_sid), before);
    let (status, record) = get(&moved, &format!("/2010-04-01/Accounts/{subaccount}.json"));
    assert_eq!(status, 200, "{record}");
    assert_eq!(record["owner_account_sid"], SID);
    let with_key = client()
        .get(format!("{}/v1/Services/{service}", moved.base))
        .basic_auth(&key_sid, Some(&secret))
        .send()
        .unwrap();
    assert_eq!(with_key.status(), 200);
    assert_eq!(fetch(&moved, &domain, "/site.css"), (200, text));
    let (status, version) = get(
        &moved,
        &format!("/v1/Services/{service}/Assets/{asset}/Versions/{old}"),
    );
    assert_eq!(status, 200);
    assert_eq!(version["path"], "/index.html");
}

/// A TCP forwarder to `target` that can be cut: while cut, its connections are closed and new
/// ones are closed at once, as when a database or a bucket becomes unreachable.
struct Cuttable {
    port: u16,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    generation: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Cuttable {
    fn to(target: std::net::SocketAddr) -> Cuttable {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let generation = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (up2, generation2) = (up.clone(), generation.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if !up2.load(Ordering::SeqCst) {
                    continue; // dropped: closed at once
                }
                let Ok(server) = std::net::TcpStream::connect(target) else {
                    continue;
                };
                let born = generation2.load(Ordering::SeqCst);
                for (from, to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    let generation = generation2.clone();
                    std::thread::spawn(move || pump(from, to, &generation, born));
                }
            }
        });
        Cuttable {
            port,
            up,
            generation,
        }
    }

    fn cut(&self) {
        use std::sync::atomic::Ordering;
        self.up.store(false, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    fn restore(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Copies `from` to `to` until either ends or the forwarder is cut.
fn pump(
    mut from: std::net::TcpStream,
    mut to: std::net::TcpStream,
    generation: &std::sync::atomic::AtomicU64,
    born: u64,
) {
    use std::io::{Read, Write};
    from.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut buf = [0u8; 16 * 1024];
    loop {
        if generation.load(std::sync::atomic::Ordering::SeqCst) != born {
            break;
        }
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    let _ = from.shutdown(std::net::Shutdown::Both);
    let _ = to.shutdown(std::net::Shutdown::Both);
}

fn status_of(node: &Node, path: &str) -> (u16, Value) {
    let response = client()
        .get(format!("{}{path}", node.base))
        .basic_auth(SID, Some(TOKEN))
        .send()
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

#[test]
fn an_unreachable_database_or_bucket_means_503_then_recovery_without_restart() {
    let Some(shared) = shared() else { return };
    // The node reaches PostgreSQL and the bucket through forwarders the test can cut.
    let database: url::Url = shared.database_url.parse().unwrap();
    let pg = Cuttable::to(
        format!("127.0.0.1:{}", database.port().unwrap_or(5432))
            .parse()
            .unwrap(),
    );
    let mut through = database.clone();
    through.set_port(Some(pg.port)).unwrap();
    let endpoint: url::Url = std::env::var("AWS_ENDPOINT_URL").unwrap().parse().unwrap();
    let s3 = Cuttable::to(
        format!("127.0.0.1:{}", endpoint.port().unwrap())
            .parse()
            .unwrap(),
    );
    let routed = Shared {
        database_url: through.to_string(),
        blob_url: shared.blob_url.clone(),
    };
    let s3_endpoint = format!("http://127.0.0.1:{}", s3.port);
    let node = start_with(&routed, &[("AWS_ENDPOINT_URL", &s3_endpoint)]);
    let service = post(
        &node,
        "/v1/Services",
        &[("UniqueName", "outage"), ("FriendlyName", "O")],
    );
    let service = service["sid"].as_str().unwrap().to_owned();
    let asset = post(
        &node,
        &format!("/v1/Services/{service}/Assets"),
        &[("FriendlyName", "a")],
    );
    let asset = asset["sid"].as_str().unwrap().to_owned();
    upload(&node, &service, &asset, "/a.txt", b"before".to_vec());

    // The bucket goes away: uploads answer 503 with a Twilio-style body; reads still work.
    s3.cut();
    let form = multipart::Form::new()
        .text("Path", "/b.txt")
        .text("Visibility", "public")
        .part(
            "Content",
            multipart::Part::bytes(b"during".to_vec()).file_name("b"),
        );
    let refused = client()
        .post(format!(
            "{}/v1/Services/{service}/Assets/{asset}/Versions",
            node.base
        ))
        .basic_auth(SID, Some(TOKEN))
        .multipart(form)
        .send()
        .unwrap();
    assert_eq!(refused.status().as_u16(), 503);
    let body: Value = refused.json().unwrap();
    assert_eq!(body["code"], 20503, "{body}");
    assert_eq!(status_of(&node, &format!("/v1/Services/{service}")).0, 200);
    s3.restore();
    upload(&node, &service, &asset, "/b.txt", b"after".to_vec());

    // The database goes away: the API answers 503, and recovers by itself.
    pg.cut();
    let (status, body) = status_of(&node, &format!("/v1/Services/{service}/Assets/{asset}"));
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], 20503, "{body}");
    pg.restore();
    let restored = Instant::now();
    loop {
        let (status, body) = status_of(&node, &format!("/v1/Services/{service}/Assets/{asset}"));
        if status == 200 {
            break;
        }
        assert!(
            restored.elapsed() < Duration::from_secs(10),
            "still {status}: {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
