//! Compatibility with `@twilio-labs/serverless-api` 5.7.0, the library behind
//! `twilio-run deploy` / `twilio serverless:deploy`: its `deployLocalProject` deploys the
//! sample project in `tests/deploy/project` to the real binary (`tests/deploy/deploy.js`
//! redirects the library's hard-wired Twilio hosts to depot). Every asset is then fetched
//! through the environment's domain on the asset host, and a second deploy with one changed
//! file must switch what the domain serves. Needs `node` and `npm` (the package is installed
//! with `npm ci` into `tests/deploy/node_modules` on first run); set `DEPOT_SKIP_COMPAT=1`
//! to skip where they are not available.

#![allow(clippy::unwrap_used)] // Test helpers panic on purpose: a failed step is a failed test.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use hmac::Mac as _;
use reqwest::header::{CONTENT_TYPE, HOST};
use serde_json::Value;

#[path = "common/files.rs"]
mod files;
use files::copy_dir;

const SID: &str = "ACeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee";
const TOKEN: &str = "deploy-token";
const CLIENT_VERSION: &str = "5.7.0";

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/deploy")
}

/// Installs the pinned client from `package-lock.json` unless that version is already there.
fn ensure_client() {
    let dir = deploy_dir();
    let installed = dir.join("node_modules/@twilio-labs/serverless-api/package.json");
    let version = std::fs::read_to_string(&installed)
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .and_then(|json| json["version"].as_str().map(str::to_owned));
    if version.as_deref() == Some(CLIENT_VERSION) {
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(&dir)
        .status()
        .expect("npm is needed for the deploy-client compatibility test");
    assert!(status.success(), "npm ci in tests/deploy failed");
}

/// `depot serve` on a free port; killed when dropped, so a failed assertion leaks nothing.
struct Depot {
    child: Child,
    port: u16,
    base: String,
    _data: tempfile::TempDir,
}

impl Drop for Depot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_depot() -> Depot {
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_depot"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .env("DEPOT_ACCOUNT_SID", SID)
        .env("DEPOT_AUTH_TOKEN", TOKEN)
        .env_remove("DEPOT_PUBLIC_URL")
        .env_remove("DEPOT_HOST_DOMAIN")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let base = loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            let _ = child.kill();
            panic!("depot exited before its listening line");
        }
        if line.contains("listening on http://") {
            let at = line.find("http://").unwrap();
            break line[at..].trim().to_owned();
        }
    };
    // Keep draining stdout so that depot never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sink = String::new();
        while reader.read_line(&mut sink).unwrap_or(0) > 0 {
            sink.clear();
        }
    });
    let port = base.rsplit(':').next().unwrap().parse().unwrap();
    Depot {
        child,
        port,
        base,
        _data: data,
    }
}

/// Runs `node deploy.js` against depot and returns its JSON summary line.
fn deploy(depot: &Depot, project: &Path) -> Value {
    let output = Command::new("node")
        .arg(deploy_dir().join("deploy.js"))
        .current_dir(deploy_dir())
        .env("PORT", depot.port.to_string())
        .env("DEPOT_ACCOUNT_SID", SID)
        .env("DEPOT_AUTH_TOKEN", TOKEN)
        .env("PROJECT_DIR", project)
        .env("DEPLOY_ENV", "dev")
        .stdin(Stdio::null())
        .output()
        .expect("node is needed for the deploy-client compatibility test");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stderr}");
    assert!(
        output.status.success(),
        "deployLocalProject failed:\n{stdout}\n{stderr}"
    );
    let line = stdout.lines().rfind(|l| !l.trim().is_empty()).unwrap();
    println!("deploy result: {line}");
    serde_json::from_str(line).unwrap()
}

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

struct Fetched {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

/// A request to the asset host: depot's own address, the environment's domain as `Host`.
fn fetch(depot: &Depot, domain: &str, path: &str, signature: Option<&str>) -> Fetched {
    let mut request = http()
        .get(format!("{}{path}", depot.base))
        .header(HOST, domain);
    if let Some(signature) = signature {
        request = request.header("X-Twilio-Signature", signature);
    }
    let response = request.send().unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.bytes().unwrap().to_vec();
    Fetched {
        status,
        content_type,
        body,
    }
}

/// `X-Twilio-Signature` for a GET: base64 of HMAC-SHA1 over the full URL (COMPAT §11.4).
fn sign(url: &str) -> String {
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(TOKEN.as_bytes()).unwrap();
    mac.update(url.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn api_get(depot: &Depot, path: &str) -> Value {
    let response = http()
        .get(format!("{}/v1{path}", depot.base))
        .basic_auth(SID, Some(TOKEN))
        .send()
        .unwrap();
    let status = response.status().as_u16();
    let body = response.text().unwrap();
    assert_eq!(status, 200, "GET /v1{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn str_of<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing in {value}"))
}

/// The Environment as listed by the API (the list the client itself searches).
fn environment(depot: &Depot, service: &str, environment: &str) -> Value {
    let list = api_get(depot, &format!("/Services/{service}/Environments"));
    list["environments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["sid"] == environment)
        .unwrap_or_else(|| panic!("environment {environment} not listed: {list}"))
        .clone()
}

fn variables(depot: &Depot, service: &str, environment: &str) -> Vec<(String, String)> {
    let list = api_get(
        depot,
        &format!("/Services/{service}/Environments/{environment}/Variables"),
    );
    let mut pairs: Vec<(String, String)> = list["variables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (str_of(v, "key").to_owned(), str_of(v, "value").to_owned()))
        .collect();
    pairs.sort();
    pairs
}

fn expected_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap() {
        "html" => "text/html",
        "css" => "text/css",
        "png" => "image/png",
        "json" => "application/json",
        other => panic!("no expected type for .{other}"),
    }
}

/// Checks what the asset host serves for one deployment; returns the public paths checked.
fn check_hosting(
    depot: &Depot,
    project: &Path,
    result: &Value,
    greeting: &str,
) -> BTreeSet<String> {
    let domain = str_of(result, "domain");
    let mut public = BTreeSet::new();
    for asset in result["assets"].as_array().unwrap() {
        let path = str_of(asset, "path");
        let on_disk = std::fs::read(project.join(str_of(asset, "file"))).unwrap();
        let got = fetch(depot, domain, path, None);
        match str_of(asset, "access") {
            "public" => {
                assert_eq!(got.status, 200, "GET {path} on {domain}");
                assert!(
                    got.body == on_disk,
                    "GET {path}: bytes differ from the file"
                );
                assert!(
                    got.content_type.starts_with(expected_type(path)),
                    "GET {path}: Content-Type {:?}",
                    got.content_type
                );
                public.insert(path.to_owned());
            }
            "protected" => {
                assert_eq!(got.status, 403, "unsigned GET {path} on {domain}");
                let signature = sign(&format!("http://{domain}{path}"));
                let signed = fetch(depot, domain, path, Some(&signature));
                assert_eq!(signed.status, 200, "signed GET {path} on {domain}");
                assert!(signed.body == on_disk, "signed GET {path}: bytes differ");
                let wrong = fetch(depot, domain, path, Some(&sign("http://elsewhere/")));
                assert_eq!(wrong.status, 403, "GET {path} with a wrong signature");
            }
            "private" => assert_eq!(got.status, 404, "GET private {path} on {domain}"),
            other => panic!("unexpected access {other}"),
        }
    }
    let root = fetch(depot, domain, "/", None);
    assert_eq!(root.status, 200, "GET / on {domain}");
    assert!(
        root.body == std::fs::read(project.join("assets/assets/index.html")).unwrap(),
        "GET / must serve /assets/index.html"
    );
    let function = fetch(depot, domain, "/hello", None);
    if depot::runtime::find_on_path("node").is_some() {
        // The function runs with the `twilio` the build installed and the `.env` Variables
        // the toolkit sent (RUNTIME §7 T28).
        let body = String::from_utf8_lossy(&function.body);
        assert_eq!(function.status, 200, "GET /hello: {body}");
        assert_eq!(function.content_type, "text/xml");
        assert!(
            body.contains(&format!("<Message>{greeting} from depot</Message>")),
            "GET /hello: {body}"
        );
    } else {
        assert_eq!(function.status, 503, "GET /hello without Node.js");
    }
    assert_eq!(fetch(depot, domain, "/missing.txt", None).status, 404);
    assert_eq!(
        fetch(depot, "nobody-1234-dev.localhost", "/index.html", None).status,
        404,
        "an unknown domain serves nothing"
    );
    public
}

fn check_api_state(depot: &Depot, result: &Value, greeting: &str) {
    let service = str_of(result, "serviceSid");
    let env_sid = str_of(result, "environmentSid");
    let build_sid = str_of(result, "buildSid");
    let env = environment(depot, service, env_sid);
    assert_eq!(env["build_sid"], build_sid, "{env}");
    assert_eq!(env["domain_name"], result["domain"], "{env}");
    assert_eq!(env["domain_suffix"], "dev", "{env}");
    assert_eq!(env["unique_name"], "dev-environment", "{env}");
    let build = api_get(depot, &format!("/Services/{service}/Builds/{build_sid}"));
    assert_eq!(build["status"], "completed", "{build}");
    // The Build embeds what the client uploaded: paths, and visibility in upper case (§5.9).
    for (kind, key) in [
        ("asset_versions", "assets"),
        ("function_versions", "functions"),
    ] {
        let mut embedded: Vec<(String, String)> = build[kind]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                (
                    str_of(v, "path").to_owned(),
                    str_of(v, "visibility").to_owned(),
                )
            })
            .collect();
        let mut uploaded: Vec<(String, String)> = result[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let access = str_of(r, "access").to_uppercase();
                (str_of(r, "path").to_owned(), access)
            })
            .collect();
        embedded.sort();
        uploaded.sort();
        assert_eq!(embedded, uploaded, "{kind} of {build}");
    }
    // package.json `dependencies`, sent as the quoted JSON string of §9.3.
    assert_eq!(
        build["dependencies"],
        serde_json::json!([{"name": "twilio", "version": "^4.0.0"}]),
        "{build}"
    );
    assert_eq!(
        variables(depot, service, env_sid),
        vec![("GREETING".to_owned(), greeting.to_owned())]
    );
}

#[test]
fn serverless_api_deploys_a_local_project() {
    if std::env::var_os("DEPOT_SKIP_COMPAT").is_some() {
        eprintln!("DEPOT_SKIP_COMPAT set: skipping the serverless-api deploy test");
        return;
    }
    ensure_client();
    let work = tempfile::tempdir().unwrap();
    let project = work.path().join("project");
    copy_dir(&deploy_dir().join("project"), &project);
    let depot = start_depot();

    // First deploy: creates the Service, the "dev" Environment, every Function and Asset.
    let first = deploy(&depot, &project);
    assert_eq!(first["serviceName"], "deploy-compat");
    assert_eq!(
        first["hostsAsked"],
        serde_json::json!(["serverless", "serverless-upload"]),
        "both API and upload calls must have been redirected"
    );
    let domain = str_of(&first, "domain").to_owned();
    assert!(
        domain.starts_with("deploy-compat-") && domain.ends_with("-dev.localhost"),
        "{domain}"
    );
    let functions: Vec<(&str, &str)> = first["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (str_of(f, "path"), str_of(f, "access")))
        .collect();
    assert_eq!(functions, vec![("/hello", "public")]);
    let assets: BTreeSet<(&str, &str)> = first["assets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (str_of(a, "path"), str_of(a, "access")))
        .collect();
    let expected: BTreeSet<(&str, &str)> = [
        ("/admin.html", "protected"),
        ("/assets/index.html", "public"),
        ("/config.json", "private"),
        ("/img/logo.png", "public"),
        ("/index.html", "public"),
        ("/style.css", "public"),
    ]
    .into_iter()
    .collect();
    assert_eq!(assets, expected);
    let public = check_hosting(&depot, &project, &first, "hello");
    assert_eq!(public.len(), 4, "{public:?}");
    check_api_state(&depot, &first, "hello");
    let old_css = std::fs::read(project.join("assets/style.css")).unwrap();

    // Second deploy, one asset and one variable changed: the name is taken now, so the
    // client's create fails (409) and it reuses the Service it finds in the list.
    let new_css = b"body {\n  font-family: serif;\n  color: #a00;\n}\n/* second deploy */\n";
    std::fs::write(project.join("assets/style.css"), new_css).unwrap();
    std::fs::write(project.join(".env"), "GREETING=hola\n").unwrap();
    let second = deploy(&depot, &project);
    assert_eq!(second["serviceSid"], first["serviceSid"]);
    assert_eq!(second["environmentSid"], first["environmentSid"]);
    assert_eq!(second["domain"], first["domain"]);
    assert_ne!(second["buildSid"], first["buildSid"], "a new build");
    let css = fetch(&depot, &domain, "/style.css", None);
    assert_eq!(css.status, 200);
    assert!(
        css.body == new_css,
        "the domain must serve the new style.css"
    );
    assert!(css.body != old_css);
    check_hosting(&depot, &project, &second, "hola");
    check_api_state(&depot, &second, "hola");
    println!("deploy client checks passed: {public:?} served, build switched");
}
