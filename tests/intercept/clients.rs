//! Unmodified Twilio clients through `depot serve --intercept-twilio`, configured only by
//! environment variables, each process guarded: `guard.js` (Node, `--require`) and
//! `pyguard/sitecustomize.py` (Python) make any connection that is not to loopback throw and
//! record it; each test asserts that only the guard's own self-check was recorded.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::files::copy_dir;
use crate::support::{Depot, SID, TOKEN};
use crate::venv::venv;

const TWILIO_NODE: &str = "6.3.1";
const TWILIO_RUN: &str = "5.0.1";

fn skip(what: &str) -> bool {
    let skip = std::env::var_os("DEPOT_SKIP_COMPAT").is_some();
    if skip {
        eprintln!("DEPOT_SKIP_COMPAT set: skipping {what}");
    }
    skip
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/intercept")
}

fn installed_version(package: &str) -> Option<String> {
    let text = std::fs::read_to_string(
        dir()
            .join("node_modules")
            .join(package)
            .join("package.json"),
    )
    .ok()?;
    serde_json::from_str::<Value>(&text).ok()?["version"]
        .as_str()
        .map(str::to_owned)
}

/// twilio and twilio-run from `package-lock.json`, unless those versions are there already.
fn node_modules() {
    if installed_version("twilio").as_deref() == Some(TWILIO_NODE)
        && installed_version("twilio-run").as_deref() == Some(TWILIO_RUN)
    {
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(dir())
        .status()
        .expect("npm is needed for the twilio-node and twilio-run tests");
    assert!(status.success(), "npm ci in tests/intercept failed");
}

/// A client process with a clean environment: PATH, a private HOME, the guard's log, and
/// `vars` (the proxy settings a user would export).
fn client(program: &Path, home: &Path, log: &Path, vars: &[(String, String)]) -> Command {
    let mut command = Command::new(program);
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("DEPOT_GUARD_LOG", log)
        .env("DEPOT_ACCOUNT_SID", SID)
        .env("DEPOT_AUTH_TOKEN", TOKEN)
        .stdin(Stdio::null());
    for (name, value) in vars {
        command.env(name, value);
    }
    command
}

/// Runs `command`, then checks that it succeeded, printed `done`, and that the guard recorded
/// only its self-check (if `self_check`) and no other connection.
fn run_guarded(mut command: Command, log: &Path, done: &str, self_check: bool) -> Output {
    let _ = std::fs::remove_file(log);
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "client failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains(done), "{stdout}\n{stderr}");
    let blocked = std::fs::read_to_string(log).unwrap_or_default();
    let others: Vec<&str> = blocked
        .lines()
        .filter(|l| !l.contains("192.0.2.1"))
        .collect();
    assert!(others.is_empty(), "connections off the machine: {others:?}");
    assert_eq!(
        blocked.lines().count() == 1,
        self_check,
        "guard log: {blocked}"
    );
    output
}

/// What a Node user exports: the proxy (upper case, the one name twilio-node reads), the CA,
/// and here the guard.
fn node_env(depot: &Depot, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let guard = dir().join("guard.js");
    let ca = depot.data.path().join("ca.pem");
    let mut vars = vars(&[
        ("HTTP_PROXY", &depot.proxy()),
        ("NODE_EXTRA_CA_CERTS", &ca.display().to_string()),
        ("NODE_OPTIONS", &format!("--require {}", guard.display())),
    ]);
    vars.extend(self::vars(extra));
    vars
}

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

#[test]
fn twilio_python_unmodified_creates_lists_and_fetches_through_the_proxy() {
    if skip("the twilio-python intercept test") {
        return;
    }
    let python = venv().join("bin/python");
    let depot = Depot::start(&["--intercept-twilio"]);
    let home = tempfile::tempdir().unwrap();
    let log = home.path().join("guard.log");
    let bundle = depot
        .data
        .path()
        .join("ca-bundle.pem")
        .display()
        .to_string();
    for (prefix, host, region) in [
        ("py", "serverless.twilio.com", None),
        (
            "py-ie1",
            "serverless.dublin.ie1.twilio.com",
            Some(("dublin", "ie1")),
        ),
    ] {
        let mut vars = vars(&[
            ("HTTPS_PROXY", &depot.proxy()),
            ("REQUESTS_CA_BUNDLE", &bundle),
            ("PYTHONPATH", &dir().join("pyguard").display().to_string()),
            ("EXPECT_HOST", host),
            ("NAME_PREFIX", prefix),
        ]);
        if let Some((edge, region)) = region {
            vars.extend(self::vars(&[
                ("TWILIO_EDGE", edge),
                ("TWILIO_REGION", region),
            ]));
        }
        let mut command = client(&python, home.path(), &log, &vars);
        command.arg(dir().join("twilio_python.py"));
        run_guarded(command, &log, "checks passed", true);
    }
}

#[test]
fn twilio_node_unmodified_creates_lists_and_fetches_through_the_proxy() {
    if skip("the twilio-node intercept test") {
        return;
    }
    node_modules();
    let depot = Depot::start(&["--intercept-twilio"]);
    let home = tempfile::tempdir().unwrap();
    let log = home.path().join("guard.log");
    for (prefix, host, extra) in [
        ("node", "serverless.twilio.com", &[][..]),
        (
            "node-au1",
            "serverless.sydney.au1.twilio.com",
            &[("TWILIO_EDGE", "sydney"), ("TWILIO_REGION", "au1")][..],
        ),
    ] {
        let mut vars = node_env(&depot, extra);
        vars.extend(self::vars(&[
            ("EXPECT_HOST", host),
            ("NAME_PREFIX", prefix),
        ]));
        let mut command = client(Path::new("node"), home.path(), &log, &vars);
        command.arg(dir().join("twilio_node.js")).current_dir(dir());
        run_guarded(command, &log, "checks passed", true);
    }
}

/// GET `path` from the asset host: depot's own address, the environment's domain as Host.
fn served(depot: &Depot, domain: &str, path: &str) -> (u16, String) {
    let response = reqwest::blocking::Client::new()
        .get(format!("http://{}{path}", depot.addr))
        .header(reqwest::header::HOST, domain)
        .send()
        .unwrap();
    (response.status().as_u16(), response.text().unwrap())
}

#[test]
fn twilio_run_deploys_through_the_proxy_with_and_without_a_region() {
    if skip("the twilio-run intercept test") {
        return;
    }
    node_modules();
    let depot = Depot::start(&["--intercept-twilio"]);
    let home = tempfile::tempdir().unwrap();
    let log = home.path().join("guard.log");
    let cli = dir().join("node_modules/twilio-run/bin/twilio-run.js");
    for (name, region) in [("run-plain", None), ("run-ie1", Some("ie1"))] {
        let project = home.path().join(name);
        copy_dir(&dir().join("project"), &project);
        let extra: Vec<(&str, &str)> = region.map(|r| ("TWILIO_REGION", r)).into_iter().collect();
        let vars = node_env(&depot, &extra);
        let mut command = client(Path::new("node"), home.path(), &log, &vars);
        command
            .arg(&cli)
            .args(["deploy", "--username", SID, "--password", TOKEN])
            .args(["--service-name", name, "--environment", "dev", "-o", "json"])
            .current_dir(&project);
        let output = run_guarded(command, &log, "\"domain\"", false);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let json: Value = serde_json::from_str(&stdout[stdout.find('{').unwrap()..]).unwrap();
        let domain = json["domain"].as_str().unwrap();
        assert!(domain.starts_with(&format!("{name}-")), "{domain}");
        assert_eq!(
            served(&depot, domain, "/hello.txt"),
            (200, "hello through the tunnel\n".to_owned())
        );
        let (status, page) = served(&depot, domain, "/index.html");
        assert_eq!(status, 200);
        assert!(page.contains("served by depot"), "{page}");
        let (status, body) = served(&depot, domain, "/hi");
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap(),
            serde_json::json!({"greeting": "hi from depot"})
        );
    }
}
