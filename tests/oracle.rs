//! The oracle tests (RUNTIME §6.5 item 2, §7 T27): the fixture functions of
//! `tests/oracle/fixtures` run through `LocalDevelopmentServer` of the npm package
//! `@twilio/runtime-handler@2.1.0` (the `/dev` entry `twilio-run start` uses, in-process mode;
//! `tests/oracle/dev-server.js`) and through depot (deployed with the raw API, called with the
//! environment's Host). Identical requests go to both; status, media type, the relevant headers
//! and the body (JSON as values) must match, except where RUNTIME.md says depot deliberately
//! follows production instead of the emulator: each of those divergences is its own case that
//! asserts both sides' values, and fails if the two sides stop differing.
//!
//! Needs `node` and `npm` (the package is installed with `npm ci` into
//! `tests/oracle/node_modules` on first run); set `DEPOT_SKIP_COMPAT=1` to skip where they are
//! not available.

#![allow(clippy::unwrap_used)] // Test helpers panic on purpose: a failed step is a failed test.

#[allow(dead_code)] // Only the deploy helpers are used here.
#[path = "api/helpers.rs"]
mod helpers;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use helpers::{Deployable, TestApp};

const HANDLER_VERSION: &str = "2.1.0";
const DEPENDENCIES: &str =
    r#"[{"name":"twilio","version":"5.0.3"},{"name":"@twilio/runtime-handler","version":"2.1.0"}]"#;

fn oracle_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracle")
}

/// Installs the pinned packages from `package-lock.json` unless that handler is already there.
fn ensure_oracle() {
    let dir = oracle_dir();
    let installed = dir.join("node_modules/@twilio/runtime-handler/package.json");
    let version = std::fs::read_to_string(&installed)
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .and_then(|json| json["version"].as_str().map(str::to_owned));
    if version.as_deref() == Some(HANDLER_VERSION) {
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(&dir)
        .status()
        .expect("npm is needed for the oracle tests");
    assert!(status.success(), "npm ci in tests/oracle failed");
}

/// `node dev-server.js` over the fixtures; killed when dropped.
struct DevServer {
    child: Child,
    base: String,
    port: u16,
}

impl Drop for DevServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_dev_server() -> DevServer {
    let dir = oracle_dir();
    let mut child = Command::new("node")
        .arg(dir.join("dev-server.js"))
        .arg(dir.join("fixtures"))
        .arg("0")
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node is needed for the oracle tests");
    // Its stderr (stack traces of the error cases) goes to the test's captured output.
    let errors = BufReader::new(child.stderr.take().unwrap());
    std::thread::spawn(move || {
        for line in errors.lines().map_while(Result::ok) {
            println!("dev-server: {line}");
        }
    });
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap() == 0 {
        let _ = child.kill();
        panic!("dev-server.js exited before listening");
    }
    let port: u16 = line
        .trim()
        .strip_prefix("listening ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .unwrap();
    // Keep draining stdout (functions may log) so that the server never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sink = String::new();
        while reader.read_line(&mut sink).unwrap_or(0) > 0 {
            sink.clear();
        }
    });
    DevServer {
        child,
        base: format!("http://127.0.0.1:{port}"),
        port,
    }
}

/// A fixture file as both servers see it: twilio-run's naming, `name.private.js` is the
/// private function `/name`, `config.private.json` the private asset `/config.json`.
struct Fixture {
    path: String,
    visibility: &'static str,
    data: Vec<u8>,
    function: bool,
}

fn fixtures() -> Vec<Fixture> {
    let mut all = Vec::new();
    for (folder, function) in [("functions", true), ("assets", false)] {
        let dir = oracle_dir().join("fixtures").join(folder);
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        for file in names {
            let mut name = if function {
                file.strip_suffix(".js").unwrap().to_owned()
            } else {
                file.clone()
            };
            let mut visibility = "public";
            for level in ["private", "protected"] {
                let marker = format!(".{level}");
                if function && name.ends_with(&marker) {
                    name.truncate(name.len() - marker.len());
                    visibility = level;
                } else if !function && name.contains(&format!("{marker}.")) {
                    name = name.replace(&format!("{marker}."), ".");
                    visibility = level;
                }
            }
            all.push(Fixture {
                path: format!("/{name}"),
                visibility,
                data: std::fs::read(dir.join(&file)).unwrap(),
                function,
            });
        }
    }
    all
}

/// Deploys every fixture to a new Service's "dev" Environment; returns its domain.
async fn deploy_fixtures(app: &TestApp) -> String {
    // Without credentials, as the dev server runs here (its `env` has none).
    let created = app
        .post(
            "/v1/Services",
            &[
                ("UniqueName", "oracle"),
                ("FriendlyName", "oracle"),
                ("IncludeCredentials", "false"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let service = created.body["sid"].as_str().unwrap().to_owned();
    let environment = app
        .post(
            &format!("/v1/Services/{service}/Environments"),
            &[("UniqueName", "dev-environment"), ("DomainSuffix", "dev")],
        )
        .await;
    assert_eq!(
        environment.status,
        StatusCode::CREATED,
        "{}",
        environment.body
    );
    let domain = environment.body["domain_name"].as_str().unwrap().to_owned();
    let environment = environment.body["sid"].as_str().unwrap().to_owned();
    let fixtures = fixtures();
    let files: Vec<Deployable<'_>> = fixtures
        .iter()
        .map(|fixture| Deployable {
            path: &fixture.path,
            visibility: fixture.visibility,
            content_type: if fixture.function {
                "application/javascript"
            } else {
                "application/json"
            },
            data: &fixture.data,
            function: fixture.function,
        })
        .collect();
    let (build, status) = app.build_with(&service, &files, Some(DEPENDENCIES)).await;
    assert_eq!(status, "completed");
    let deployed = app
        .post(
            &format!("/v1/Services/{service}/Environments/{environment}/Deployments"),
            &[("BuildSid", build.as_str())],
        )
        .await;
    assert_eq!(deployed.status, StatusCode::CREATED, "{}", deployed.body);
    domain
}

/// One answer, from either side.
#[derive(Debug)]
struct Reply {
    status: u16,
    /// The whole Content-Type header, if any.
    content_type: Option<String>,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    /// The media type: Content-Type without parameters, lower case.
    fn media_type(&self) -> Option<String> {
        self.content_type
            .as_deref()
            .map(|t| t.split(';').next().unwrap().trim().to_ascii_lowercase())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// Every value of a header, in order.
    fn all(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }
}

/// What a case sends; the same to both sides.
struct Request {
    method: Method,
    path: &'static str,
    headers: &'static [(&'static str, &'static str)],
    body: Option<&'static str>,
}

fn get(path: &'static str) -> Request {
    Request {
        method: Method::GET,
        path,
        headers: &[],
        body: None,
    }
}

/// How the two replies of a case relate.
enum Expect {
    /// Same status, media type, listed headers (all values, in order) and body (JSON as
    /// values). `ignore` lists JSON pointers removed from both bodies first, each covered by a
    /// divergence case.
    Same {
        headers: &'static [&'static str],
        ignore: &'static [&'static str],
    },
    /// A listed divergence: why (the RUNTIME.md rule), and what each side must answer.
    Diverges {
        why: &'static str,
        dev: fn(&Reply, &Env),
        depot: fn(&Reply, &Env),
    },
}

/// Facts about the run that the checks need.
struct Env {
    dev_port: u16,
}

struct Case {
    name: &'static str,
    request: Request,
    expect: Expect,
}

const SAME: Expect = Expect::Same {
    headers: &[],
    ignore: &[],
};

/// Echoed events differ in `request.headers.host` only (see the `host header` case).
const SAME_BUT_HOST: Expect = Expect::Same {
    headers: &[],
    ignore: &["/request/headers/host"],
};

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "T1 hello TwiML",
            request: get("/hello"),
            expect: SAME,
        },
        Case {
            name: "T2 echo: JSON body over query, proxy headers stripped",
            request: Request {
                method: Method::POST,
                path: "/echo?B=q&C=1",
                headers: &[
                    ("content-type", "application/json"),
                    ("x-forwarded-for", "1.2.3.4"),
                    ("x-forwarded-proto", "https"),
                    ("via", "1.1 proxy"),
                    ("referer", "http://elsewhere/"),
                    ("x-real-ip", "1.2.3.4"),
                    ("x-custom", "kept"),
                    ("authorization", "Bearer t"),
                ],
                body: Some(r#"{"B":"json","o":{"d":1},"l":[1,"x",null]}"#),
            },
            expect: SAME_BUT_HOST,
        },
        Case {
            name: "T2 echo: JSON with a charset parameter",
            request: Request {
                method: Method::POST,
                path: "/echo",
                headers: &[("content-type", "application/json; charset=utf-8")],
                body: Some(r#"{"a":"b"}"#),
            },
            expect: SAME_BUT_HOST,
        },
        Case {
            name: "T3 echo: form body over query, repeated keys",
            request: Request {
                method: Method::POST,
                path: "/echo?B=q&E=1",
                headers: &[("content-type", "application/x-www-form-urlencoded")],
                body: Some("B=f&D=x&D=y&c=&a%5Bb%5D=1"),
            },
            expect: SAME_BUT_HOST,
        },
        Case {
            name: "echo: repeated and nested query parameters",
            request: get("/echo?r=1&r=2&a[b]=1&e="),
            expect: SAME_BUT_HOST,
        },
        Case {
            name: "echo: a header sent twice",
            request: Request {
                method: Method::GET,
                path: "/echo",
                headers: &[("x-twice", "one"), ("x-twice", "two")],
                body: None,
            },
            expect: SAME_BUT_HOST,
        },
        Case {
            name: "echo: other body types are ignored",
            request: Request {
                method: Method::POST,
                path: "/echo?q=1",
                headers: &[("content-type", "text/plain")],
                body: Some("a=1"),
            },
            expect: SAME_BUT_HOST,
        },
        Case {
            name: "T4 echo: cookies",
            request: Request {
                method: Method::GET,
                path: "/echo",
                headers: &[("cookie", "a=1; b=2; c=x%20y")],
                body: None,
            },
            expect: SAME_BUT_HOST,
        },
        Case {
            name: "T6 Twilio.Response: 201, X-Multi twice, JSON body",
            request: get("/response"),
            expect: Expect::Same {
                headers: &["x-multi"],
                ignore: &[],
            },
        },
        Case {
            name: "Twilio.Response: string body without Content-Type",
            request: get("/response-string"),
            expect: SAME,
        },
        Case {
            name: "Twilio.Response: string body with its own Content-Type",
            request: get("/response-typed"),
            expect: SAME,
        },
        Case {
            name: "T8 private asset through Runtime, getAssets/getFunctions keys",
            request: get("/runtime"),
            expect: SAME,
        },
        Case {
            name: "string payload",
            request: get("/text"),
            expect: SAME,
        },
        Case {
            name: "object payload",
            request: get("/object"),
            expect: SAME,
        },
        Case {
            name: "no payload",
            request: get("/empty"),
            expect: SAME,
        },
        Case {
            name: "Twilio.Response: constructor options",
            request: get("/response-options"),
            expect: SAME,
        },
        Case {
            name: "Twilio.Response: setHeaders with an array, object body with a text type",
            request: get("/response-options?headers=1"),
            expect: Expect::Same {
                headers: &["x-list"],
                ignore: &[],
            },
        },
        Case {
            name: "callback called twice: the first wins",
            request: get("/twice"),
            expect: SAME,
        },
        Case {
            name: "async handler calling back after an await",
            request: get("/async"),
            expect: SAME,
        },
        Case {
            name: "context.PATH, globals, getTwilioClient without credentials",
            request: get("/context"),
            expect: SAME,
        },
        Case {
            name: "MessagingResponse TwiML, escaped",
            request: get("/sms"),
            expect: SAME,
        },
        Case {
            name: "array payload",
            request: get("/values?kind=array"),
            expect: SAME,
        },
        Case {
            name: "true payload",
            request: get("/values?kind=true"),
            expect: SAME,
        },
        Case {
            name: "false payload",
            request: get("/values?kind=false"),
            expect: SAME,
        },
        Case {
            name: "null payload",
            request: get("/values?kind=null"),
            expect: SAME,
        },
        Case {
            name: "empty string payload",
            request: get("/values?kind=emptyString"),
            expect: SAME,
        },
        Case {
            name: "echo: a `request` parameter replaces event.request",
            request: get("/echo?request=x"),
            expect: SAME,
        },
        Case {
            name: "echo: top-level JSON array spread into keys",
            request: Request {
                method: Method::POST,
                path: "/echo",
                headers: &[("content-type", "application/json")],
                body: Some(r#"[1,{"a":2}]"#),
            },
            expect: SAME_BUT_HOST,
        },
        Case {
            name: "echo: j: cookies parsed as JSON, URL-decoded values",
            request: Request {
                method: Method::GET,
                path: "/echo",
                headers: &[("cookie", r#"j=j:{"a":1}; k=%7B%7D; l=j:nope"#)],
                body: None,
            },
            expect: SAME_BUT_HOST,
        },
        Case {
            name: "OPTIONS answered with the CORS set",
            request: Request {
                method: Method::OPTIONS,
                path: "/echo",
                headers: &[],
                body: None,
            },
            expect: Expect::Diverges {
                why: "not listed in RUNTIME.md, cosmetic: the same 204 and CORS set (COMPAT §11.5), but Express labels the empty 204 `text/plain; charset=UTF-8`, depot sends no Content-Type",
                dev: |r, _| {
                    assert_cors(r);
                    assert_eq!(r.content_type.as_deref(), Some("text/plain; charset=UTF-8"));
                },
                depot: |r, _| {
                    assert_cors(r);
                    assert_eq!(r.content_type, None);
                },
            },
        },
        // The listed divergences (RUNTIME §2.1, §2.3, §2.7, §6.2 item 6).
        Case {
            name: "host header",
            request: get("/echo"),
            expect: Expect::Diverges {
                why: "§2.3: the dev runtime passes `host` to functions; production and depot strip it",
                dev: |r, env| {
                    assert_eq!(r.status, 200);
                    assert_eq!(
                        r.json()["request"]["headers"]["host"],
                        format!("127.0.0.1:{}", env.dev_port)
                    );
                },
                depot: |r, _| {
                    assert_eq!(r.status, 200);
                    let event = r.json();
                    assert!(event["request"]["headers"].is_object(), "{event}");
                    assert!(event["request"]["headers"].get("host").is_none(), "{event}");
                },
            },
        },
        Case {
            name: "T16 callback('bad')",
            request: get("/bad"),
            expect: Expect::Diverges {
                why: "§2.7: same status and body, but the dev runtime sends a string error as text/html, depot as text/plain",
                dev: |r, _| {
                    assert_eq!(r.status, 500);
                    assert_eq!(r.media_type().as_deref(), Some("text/html"));
                    assert_eq!(r.text(), "bad");
                },
                depot: |r, _| {
                    assert_eq!(r.status, 500);
                    assert_eq!(r.media_type().as_deref(), Some("text/plain"));
                    assert_eq!(r.text(), "bad");
                },
            },
        },
        Case {
            name: "thrown Error",
            request: get("/boom"),
            expect: Expect::Diverges {
                why: "§2.7: the dev runtime answers JSON {message,name,stack}; depot text/plain `Error: boom`, the stack only in the error Log",
                dev: |r, _| {
                    assert_eq!(r.status, 500);
                    assert_eq!(r.media_type().as_deref(), Some("application/json"));
                    let body = r.json();
                    assert_eq!(body["message"], "boom");
                    assert_eq!(body["name"], "Error");
                    assert!(body["stack"].as_str().unwrap().contains("boom.js"), "{body}");
                },
                depot: |r, _| {
                    assert_eq!(r.status, 500);
                    assert_eq!(r.media_type().as_deref(), Some("text/plain"));
                    assert_eq!(r.text(), "Error: boom");
                },
            },
        },
        Case {
            name: "malformed JSON body",
            request: Request {
                method: Method::POST,
                path: "/echo",
                headers: &[("content-type", "application/json")],
                body: Some("{not json"),
            },
            expect: Expect::Diverges {
                why: "§2.1: both refuse with 400 before the function runs; the dev runtime with an HTML page carrying a stack, depot text/plain",
                dev: |r, _| {
                    assert_eq!(r.status, 400);
                    assert_eq!(r.media_type().as_deref(), Some("text/html"));
                    assert!(r.text().contains("SyntaxError"), "{}", r.text());
                    assert!(r.text().contains("node_modules"), "a stack: {}", r.text());
                },
                depot: |r, _| {
                    assert_eq!(r.status, 400);
                    assert_eq!(r.media_type().as_deref(), Some("text/plain"));
                    assert!(!r.text().contains("node_modules"), "{}", r.text());
                },
            },
        },
        Case {
            name: "JSON scalar body",
            request: Request {
                method: Method::POST,
                path: "/echo",
                headers: &[("content-type", "application/json")],
                body: Some("3"),
            },
            expect: Expect::Diverges {
                why: "§2.1/§2.3: both refuse a JSON scalar with 400; the dev runtime with an HTML page carrying a stack, depot text/plain",
                dev: |r, _| {
                    assert_eq!(r.status, 400);
                    assert_eq!(r.media_type().as_deref(), Some("text/html"));
                    assert!(r.text().contains("node_modules"), "a stack: {}", r.text());
                },
                depot: |r, _| {
                    assert_eq!(r.status, 400);
                    assert_eq!(r.media_type().as_deref(), Some("text/plain"));
                    assert!(!r.text().contains("node_modules"), "{}", r.text());
                },
            },
        },
        Case {
            name: "T6 cookie",
            request: get("/cookie"),
            expect: Expect::Diverges {
                why: "§2.8: production cookie rules (HttpOnly added; Secure only under https) in depot, none in the dev runtime",
                dev: |r, _| {
                    assert_eq!(r.status, 200);
                    assert_eq!(r.all("set-cookie"), ["tz=UTC;Max-Age=60"]);
                    assert_eq!(r.text(), "ok");
                },
                depot: |r, _| {
                    assert_eq!(r.status, 200);
                    assert_eq!(r.all("set-cookie"), ["tz=UTC;Max-Age=60;HttpOnly"]);
                    assert_eq!(r.text(), "ok");
                },
            },
        },
        Case {
            name: "private asset by URL",
            request: get("/config.json"),
            expect: Expect::Diverges {
                why: "§2.1/COMPAT §11.3: the dev runtime answers 403, depot 404 as production",
                dev: |r, _| {
                    assert_eq!(r.status, 403);
                    assert_eq!(r.text(), "This asset has been marked as private");
                },
                depot: |r, _| {
                    assert_eq!(r.status, 404);
                    assert!(!r.text().contains("greeting"), "{}", r.text());
                },
            },
        },
        Case {
            name: "private function by URL",
            request: get("/secret"),
            expect: Expect::Diverges {
                why: "§2.1: the dev runtime executes private functions; depot answers 404 as production",
                dev: |r, _| {
                    assert_eq!(r.status, 200);
                    assert_eq!(r.text(), "secret ran");
                },
                depot: |r, _| {
                    assert_eq!(r.status, 404);
                    assert!(!r.text().contains("secret ran"), "{}", r.text());
                },
            },
        },
        Case {
            name: "PUT",
            request: Request {
                method: Method::PUT,
                path: "/text",
                headers: &[],
                body: None,
            },
            expect: Expect::Diverges {
                why: "§2.1: the dev runtime runs the handler for any method; depot answers 405",
                dev: dev_ran_text,
                depot: depot_405,
            },
        },
        Case {
            name: "DELETE",
            request: Request {
                method: Method::DELETE,
                path: "/text",
                headers: &[],
                body: None,
            },
            expect: Expect::Diverges {
                why: "§2.1: the dev runtime runs the handler for any method; depot answers 405",
                dev: dev_ran_text,
                depot: depot_405,
            },
        },
    ]
}

/// OPTIONS: 204, empty, with the CORS set of COMPAT §11.5.
fn assert_cors(r: &Reply) {
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    for (name, value) in [
        ("access-control-allow-origin", "*"),
        ("access-control-allow-methods", "GET, POST, OPTIONS"),
        (
            "access-control-allow-headers",
            "Accept, Authorization, Content-Type, If-Match, If-Modified-Since, If-None-Match, If-Unmodified-Since, User-Agent",
        ),
        ("access-control-expose-headers", "ETag"),
        ("access-control-max-age", "86400"),
        ("access-control-allow-credentials", "true"),
    ] {
        assert_eq!(r.all(name), [value], "{name}");
    }
}

fn dev_ran_text(r: &Reply, _: &Env) {
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "just text");
}

fn depot_405(r: &Reply, _: &Env) {
    assert_eq!(r.status, 405);
    assert_eq!(r.all("allow"), ["GET, POST, OPTIONS"]);
    assert!(!r.text().contains("just text"), "{}", r.text());
}

async fn send(client: &reqwest::Client, url: String, host: Option<&str>, req: &Request) -> Reply {
    let mut builder = client.request(req.method.clone(), url);
    if let Some(host) = host {
        builder = builder.header("Host", host);
    }
    for (name, value) in req.headers {
        builder = builder.header(*name, *value);
    }
    if let Some(body) = req.body {
        builder = builder.body(body);
    }
    let response = builder.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let content_type = headers
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.bytes().await.unwrap().to_vec();
    Reply {
        status,
        content_type,
        headers,
        body,
    }
}

/// The body as compared: JSON as a value (minus `ignore`), anything else as text.
fn comparable(reply: &Reply, ignore: &[&str]) -> Value {
    if reply.media_type().as_deref() == Some("application/json") {
        let mut value = reply.json();
        for pointer in ignore {
            let (parent, key) = pointer.rsplit_once('/').unwrap();
            if let Some(Value::Object(map)) = value.pointer_mut(parent) {
                map.remove(key);
            }
        }
        value
    } else {
        Value::String(reply.text())
    }
}

/// The differences between two replies that must be the same; empty when they are.
fn differences(dev: &Reply, depot: &Reply, headers: &[&str], ignore: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    if dev.status != depot.status {
        found.push(format!(
            "status: dev {} / depot {}",
            dev.status, depot.status
        ));
    }
    if dev.media_type() != depot.media_type() {
        found.push(format!(
            "Content-Type: dev {:?} / depot {:?}",
            dev.content_type, depot.content_type
        ));
    }
    for name in headers {
        let (a, b) = (dev.all(name), depot.all(name));
        if a != b {
            found.push(format!("{name}: dev {a:?} / depot {b:?}"));
        }
    }
    let (a, b) = (comparable(dev, ignore), comparable(depot, ignore));
    if a != b {
        found.push(format!("body: dev {a} / depot {b}"));
    }
    found
}

/// Runs a check that panics, as a result.
fn check(what: &str, f: impl FnOnce()) -> Result<(), String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default();
        format!("{what}: {message}")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn depot_matches_the_dev_runtime_except_listed_divergences() {
    if std::env::var_os("DEPOT_SKIP_COMPAT").is_some() {
        eprintln!("DEPOT_SKIP_COMPAT set: skipping the oracle tests");
        return;
    }
    let started = Instant::now();
    ensure_oracle();
    let dev = start_dev_server();
    let app = helpers::spawn_with(|mut c| {
        c.runtime.timeout = Duration::from_secs(5);
        c
    })
    .await;
    let domain = deploy_fixtures(&app).await;
    println!(
        "set-up (install, dev server, deploy): {:?}",
        started.elapsed()
    );

    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let env = Env { dev_port: dev.port };
    let mut failures = Vec::new();
    let mut divergences = 0;
    for case in cases() {
        let url = |base: &str| format!("{base}{}", case.request.path);
        let dev_reply = send(&client, url(&dev.base), None, &case.request).await;
        let depot_reply = send(&client, url(&app.base), Some(&domain), &case.request).await;
        match &case.expect {
            Expect::Same { headers, ignore } => {
                let found = differences(&dev_reply, &depot_reply, headers, ignore);
                if found.is_empty() {
                    println!("same      {}", case.name);
                } else {
                    println!("DIFFERENT {}: {found:?}", case.name);
                    failures.push(format!("{}: {}", case.name, found.join("; ")));
                }
            }
            Expect::Diverges {
                why,
                dev: dev_check,
                depot: depot_check,
            } => {
                divergences += 1;
                println!(
                    "diverges  {} ({why}): dev {} {:?} {:?} / depot {} {:?} {:?}",
                    case.name,
                    dev_reply.status,
                    dev_reply.content_type,
                    dev_reply.text(),
                    depot_reply.status,
                    depot_reply.content_type,
                    depot_reply.text()
                );
                let results = [
                    check("dev side", || dev_check(&dev_reply, &env)),
                    check("depot side", || depot_check(&depot_reply, &env)),
                ];
                for result in results {
                    if let Err(message) = result {
                        failures.push(format!("{}: {message}", case.name));
                    }
                }
                if differences(&dev_reply, &depot_reply, &["set-cookie"], &[]).is_empty() {
                    failures.push(format!(
                        "{}: listed as a divergence but both sides agree",
                        case.name
                    ));
                }
            }
        }
    }
    println!(
        "{} cases ({divergences} listed divergences) in {:?}",
        cases().len(),
        started.elapsed()
    );
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
