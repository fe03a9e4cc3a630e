//! Starts a real depot on port 0 with a temporary data dir, and talks to it over HTTP.
//!
//! The database is SQLite in the data dir, or, when `DEPOT_TEST_POSTGRES_URL` is set, a fresh
//! schema of that PostgreSQL database for each app (kept across its restarts, dropped after).

use std::path::PathBuf;

use depot::config::{Bootstrap, Config, ConnectionLimits, Limits, LogPolicy, Upkeep};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tempfile::TempDir;
use tokio::sync::oneshot;

pub const ACCOUNT_SID: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
pub const AUTH_TOKEN: &str = "test-token-0123456789";

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub dir: TempDir,
    /// The database the server uses, for opening it beside the server.
    pub database_url: String,
    schema: Option<Schema>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// Whether the tests run against PostgreSQL (`DEPOT_TEST_POSTGRES_URL` is set).
pub fn on_postgres() -> bool {
    std::env::var("DEPOT_TEST_POSTGRES_URL").is_ok_and(|url| !url.is_empty())
}

/// A PostgreSQL schema made for one app, dropped with it.
struct Schema(depot::store::TestSchema);

impl Drop for Schema {
    fn drop(&mut self) {
        // Drop cannot await, and the test's runtime may be single-threaded: drop the schema
        // from a runtime of its own on another thread, and wait for it.
        let schema = self.0.clone();
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(schema.drop_schema())
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            // Straight to stderr: the harness would swallow eprintln! of a passing test.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "could not drop test schema {}: {dropped:?}",
                self.0.name
            );
        }
    }
}

/// A JSON answer: status and parsed body (`Value::Null` for an empty body).
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

pub fn config(data_dir: PathBuf, limits: Limits) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: format!("sqlite://{}", data_dir.join("depot.db").display()),
        blob_url: url::Url::from_directory_path(data_dir.join("blobs"))
            .unwrap()
            .to_string(),
        data_dir,
        public_url: None,
        host_domain: "localhost".into(),
        bootstrap: Bootstrap {
            account_sid: Some(ACCOUNT_SID.into()),
            auth_token: Some(AUTH_TOKEN.into()),
        },
        limits,
        connections: ConnectionLimits::default(),
        logs: LogPolicy::default(),
        upkeep: Upkeep::default(),
        runtime: depot::runtime::RuntimeConfig {
            node: depot::runtime::find_on_path("node"),
            npm: depot::runtime::find_on_path("npm"),
            npm_cache: Some(shared_npm_dir("npm-cache")),
            install_root: Some(shared_npm_dir("installs")),
            ..Default::default()
        },
        intercept_twilio: false,
    }
}

/// npm's cache and the installs, shared by every test of every run (under the target dir), so
/// that the suite downloads and installs `twilio` once. `DEPOT_TEST_NPM_DIR` moves them (an
/// empty dir measures a cold install).
pub fn shared_npm_dir(name: &str) -> PathBuf {
    std::env::var_os("DEPOT_TEST_NPM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("depot-npm"))
        .join(name)
}

pub async fn spawn_app() -> TestApp {
    spawn_with(|c| c).await
}

/// Starts depot with a config adjusted by `tweak`.
pub async fn spawn_with(tweak: impl FnOnce(Config) -> Config) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let schema = depot::store::postgres_test_schema()
        .await
        .unwrap()
        .map(Schema);
    let mut config = config(dir.path().to_path_buf(), Limits::default());
    if let Some(schema) = &schema {
        config.database_url = schema.0.url.clone();
    }
    start(dir, tweak(config), schema).await
}

async fn start(dir: TempDir, config: Config, schema: Option<Schema>) -> TestApp {
    let database_url = config.database_url.clone();
    let (server, _) = depot::Server::bind(config).await.unwrap();
    let addr = server.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        server
            .run(async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    TestApp {
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        dir,
        database_url,
        schema,
        stop: Some(stop),
        task: Some(task),
    }
}

impl TestApp {
    /// Stops the server gracefully and starts a new one on the same data dir.
    pub async fn restart(self) -> TestApp {
        self.restart_with(|c| c).await
    }

    /// Like [`TestApp::restart`], with the new server's config adjusted by `tweak`.
    pub async fn restart_with(mut self, tweak: impl FnOnce(Config) -> Config) -> TestApp {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
        let mut config = config(self.dir.path().to_path_buf(), Limits::default());
        config.database_url = self.database_url.clone();
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        start(dir, tweak(config), self.schema.take()).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn call(&self, method: Method, path: &str, form: &[(&str, &str)]) -> Answer {
        let mut request = self
            .client
            .request(method.clone(), self.url(path))
            .basic_auth(ACCOUNT_SID, Some(AUTH_TOKEN));
        if method == Method::POST {
            request = request.form(form);
        }
        answer(request.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, &[]).await
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Answer {
        self.call(Method::POST, path, form).await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.call(Method::DELETE, path, &[]).await
    }

    /// Creates a Service named `name` and returns its SID.
    pub async fn service(&self, name: &str) -> String {
        let created = self
            .post(
                "/v1/Services",
                &[("UniqueName", name), ("FriendlyName", name)],
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        created.body["sid"].as_str().unwrap().to_owned()
    }

    /// Creates an Asset in `service` and returns its SID.
    pub async fn asset(&self, service: &str, name: &str) -> String {
        self.named(service, "Assets", name).await
    }

    /// Creates a Function in `service` and returns its SID.
    pub async fn function(&self, service: &str, name: &str) -> String {
        self.named(service, "Functions", name).await
    }

    async fn named(&self, service: &str, collection: &str, name: &str) -> String {
        let path = format!("/v1/Services/{service}/{collection}");
        let created = self.post(&path, &[("FriendlyName", name)]).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        created.body["sid"].as_str().unwrap().to_owned()
    }
}

pub async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    Answer {
        status,
        headers,
        body,
    }
}

/// Asserts a Twilio error body: exactly `code`, `message`, `more_info`, `status`.
pub fn assert_error(answer: &Answer, status: u16, code: u64) {
    assert_eq!(answer.status.as_u16(), status, "{}", answer.body);
    let body = answer.body.as_object().expect("error body is an object");
    let keys: Vec<&str> = body.keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 4, "{keys:?}");
    assert_eq!(body["code"], code);
    assert_eq!(body["status"], status);
    assert_eq!(
        body["more_info"],
        format!("https://www.twilio.com/docs/errors/{code}")
    );
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(answer.headers["content-type"], "application/json");
}

/// Replaces generated SIDs and dates with placeholders for whole-body comparisons.
pub fn redact(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = match k.as_str() {
                        "date_created" | "date_updated" => {
                            let text = v.as_str().unwrap();
                            assert!(is_twilio_date(text), "{k}: {text}");
                            Value::String("<date>".into())
                        }
                        _ => redact(v),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        other => other.clone(),
    }
}

fn is_twilio_date(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'Z'
}

impl TestApp {
    /// Adds a second account straight into the database, as another tenant would exist.
    pub async fn add_account(&self, sid: &str, token: &str) {
        let store = self.store().await;
        store
            .upsert_account(&depot::store::Account {
                sid: sid.into(),
                auth_token: token.into(),
            })
            .await
            .unwrap();
    }

    /// A request as another account.
    pub async fn call_as(&self, sid: &str, token: &str, method: Method, path: &str) -> Answer {
        let request = self
            .client
            .request(method, self.url(path))
            .basic_auth(sid, Some(token));
        answer(request.send().await.unwrap()).await
    }
}

/// One part of a hand-built multipart body.
pub struct PartSpec<'a> {
    pub name: &'a str,
    pub filename: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub data: &'a [u8],
}

pub const BOUNDARY: &str = "depot-test-boundary-7MA4YWxkTrZu0gW";

/// A multipart/form-data body with exactly the given parts, in order.
pub fn multipart_body(parts: &[PartSpec<'_>]) -> Vec<u8> {
    let mut body = Vec::new();
    for part in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        let mut disposition = format!("Content-Disposition: form-data; name=\"{}\"", part.name);
        if let Some(filename) = part.filename {
            disposition.push_str(&format!("; filename=\"{filename}\""));
        }
        body.extend_from_slice(disposition.as_bytes());
        body.extend_from_slice(b"\r\n");
        if let Some(ct) = part.content_type {
            body.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(part.data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

impl TestApp {
    /// POSTs a raw multipart body.
    pub async fn upload_raw(&self, path: &str, body: Vec<u8>) -> Answer {
        let response = self
            .client
            .post(self.url(path))
            .basic_auth(ACCOUNT_SID, Some(AUTH_TOKEN))
            .header(
                "Content-Type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        answer(response).await
    }

    /// Uploads `data` the way serverless-api does: Path, Visibility, then Content.
    pub async fn upload(
        &self,
        versions_path: &str,
        path: &str,
        visibility: &str,
        data: &[u8],
    ) -> Answer {
        let body = multipart_body(&[
            PartSpec {
                name: "Path",
                filename: None,
                content_type: None,
                data: path.as_bytes(),
            },
            PartSpec {
                name: "Visibility",
                filename: None,
                content_type: None,
                data: visibility.as_bytes(),
            },
            PartSpec {
                name: "Content",
                filename: Some("file"),
                content_type: Some("application/octet-stream"),
                data,
            },
        ]);
        self.upload_raw(versions_path, body).await
    }

    /// Where content with this SHA-256 lives on disk.
    pub fn blob_file(&self, bytes: &[u8]) -> PathBuf {
        use sha2::Digest;
        let hash = hex::encode(sha2::Sha256::digest(bytes));
        self.dir
            .path()
            .join("blobs/sha256")
            .join(&hash[..2])
            .join(hash)
    }

    /// Files in the blob store's `tmp/` folder.
    pub fn tmp_blobs(&self) -> usize {
        std::fs::read_dir(self.dir.path().join("blobs/tmp"))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// Files under the blob store's content folder.
    pub fn stored_blobs(&self) -> usize {
        let root = self.dir.path().join("blobs/sha256");
        std::fs::read_dir(root)
            .map(|dirs| {
                dirs.filter_map(Result::ok)
                    .map(|d| std::fs::read_dir(d.path()).map(|f| f.count()).unwrap_or(0))
                    .sum()
            })
            .unwrap_or(0)
    }
}

/// A file to deploy: path, visibility, content type, bytes; `function` for Function Versions.
pub struct Deployable<'a> {
    pub path: &'a str,
    pub visibility: &'a str,
    pub content_type: &'a str,
    pub data: &'a [u8],
    pub function: bool,
}

pub fn asset_file<'a>(path: &'a str, content_type: &'a str, data: &'a [u8]) -> Deployable<'a> {
    Deployable {
        path,
        visibility: "public",
        content_type,
        data,
        function: false,
    }
}

/// What [`TestApp::deploy`] made.
pub struct Deployed {
    pub service: String,
    pub environment: String,
    pub domain: String,
    pub build: String,
}

impl TestApp {
    /// Uploads one version of `file` into a new Asset or Function; returns the version SID.
    pub async fn version(&self, service: &str, file: &Deployable<'_>) -> String {
        let (collection, name) = if file.function {
            ("Functions", "f")
        } else {
            ("Assets", "a")
        };
        let container = self.named(service, collection, name).await;
        let body = multipart_body(&[
            PartSpec {
                name: "Path",
                filename: None,
                content_type: None,
                data: file.path.as_bytes(),
            },
            PartSpec {
                name: "Visibility",
                filename: None,
                content_type: None,
                data: file.visibility.as_bytes(),
            },
            PartSpec {
                name: "Content",
                filename: Some("c"),
                content_type: Some(file.content_type),
                data: file.data,
            },
        ]);
        let uploaded = self
            .upload_raw(
                &format!("/v1/Services/{service}/{collection}/{container}/Versions"),
                body,
            )
            .await;
        assert_eq!(uploaded.status, StatusCode::CREATED, "{}", uploaded.body);
        uploaded.body["sid"].as_str().unwrap().to_owned()
    }

    /// Creates a build of `files` in `service` and waits until it is no longer building.
    pub async fn build(&self, service: &str, files: &[Deployable<'_>]) -> (String, String) {
        self.build_with(service, files, None).await
    }

    /// Like [`TestApp::build`], with the Build's `Dependencies` set when given.
    pub async fn build_with(
        &self,
        service: &str,
        files: &[Deployable<'_>],
        dependencies: Option<&str>,
    ) -> (String, String) {
        let mut form = Vec::new();
        if let Some(dependencies) = dependencies {
            form.push(("Dependencies", dependencies.to_owned()));
        }
        for file in files {
            let sid = self.version(service, file).await;
            let key = if file.function {
                "FunctionVersions"
            } else {
                "AssetVersions"
            };
            form.push((key, sid));
        }
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let created = self
            .post(&format!("/v1/Services/{service}/Builds"), &form)
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let sid = created.body["sid"].as_str().unwrap().to_owned();
        let status = self.wait_build(service, &sid).await;
        (sid, status)
    }

    /// Polls Build Status until it leaves `building`; builds with functions run `npm install`,
    /// which takes minutes with a cold npm cache.
    pub async fn wait_build(&self, service: &str, build: &str) -> String {
        for round in 0..1400 {
            let status = self
                .get(&format!("/v1/Services/{service}/Builds/{build}/Status"))
                .await;
            let value = status.body["status"].as_str().unwrap().to_owned();
            if value != "building" {
                return value;
            }
            let pause = if round < 200 { 25 } else { 250 };
            tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
        }
        panic!("build {build} still building");
    }

    /// A service, an environment and a completed build of `files`, deployed.
    pub async fn deploy(&self, files: &[Deployable<'_>]) -> Deployed {
        self.deploy_with("site", files, None).await
    }

    /// Like [`TestApp::deploy`], to a Service named `name`, with the Build's `Dependencies` set
    /// when given.
    pub async fn deploy_with(
        &self,
        name: &str,
        files: &[Deployable<'_>],
        dependencies: Option<&str>,
    ) -> Deployed {
        let service = self.service(name).await;
        let environment = self
            .post(
                &format!("/v1/Services/{service}/Environments"),
                &[("UniqueName", "dev-environment"), ("DomainSuffix", "dev")],
            )
            .await;
        let domain = environment.body["domain_name"].as_str().unwrap().to_owned();
        let environment = environment.body["sid"].as_str().unwrap().to_owned();
        let (build, status) = self.build_with(&service, files, dependencies).await;
        assert_eq!(status, "completed");
        let deployed = self
            .post(
                &format!("/v1/Services/{service}/Environments/{environment}/Deployments"),
                &[("BuildSid", build.as_str())],
            )
            .await;
        assert_eq!(deployed.status, StatusCode::CREATED, "{}", deployed.body);
        Deployed {
            service,
            environment,
            domain,
            build,
        }
    }

    /// A request to the asset host for `domain`.
    pub fn host(&self, method: Method, domain: &str, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .header("Host", domain)
    }
}

impl TestApp {
    /// The database, opened beside the server, as another depot process would.
    pub async fn store(&self) -> std::sync::Arc<dyn depot::store::Store> {
        depot::store::open(&self.database_url, 1 << 20)
            .await
            .unwrap()
    }
}
