//! The operator contract, through the real binary: flags, the listening line, health,
//! credentials printed once, graceful SIGTERM, and durability across `kill -9`.

#![allow(clippy::unwrap_used)] // Test helpers panic on purpose: a failed step is a failed test.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const SID: &str = "ACcccccccccccccccccccccccccccccccc";
const TOKEN: &str = "cli-token";

struct Depot {
    child: Child,
    base: String,
    lines: Vec<String>,
}

/// Starts `depot serve` on port 0 and reads stdout up to the listening line.
fn start(data_dir: &std::path::Path, envs: &[(&str, &str)]) -> Depot {
    let mut command = Command::new(env!("CARGO_BIN_EXE_depot"));
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env_remove("DEPOT_ACCOUNT_SID")
        .env_remove("DEPOT_AUTH_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in envs {
        command.env(k, v);
    }
    let mut child = command.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = Vec::new();
    let mut reader = BufReader::new(stdout);
    loop {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "depot exited: {lines:?}"
        );
        let done = line.contains("listening on http://");
        lines.push(line.trim_end().to_owned());
        if done {
            break;
        }
    }
    let listening = lines.last().unwrap();
    let base = listening[listening.find("http://").unwrap()..].to_owned();
    assert!(!base.ends_with(":0"), "{base}");
    Depot { child, base, lines }
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    for _ in 0..100 {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    panic!("depot did not exit");
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn serve_prints_listening_line_and_answers_health() {
    let dir = tempfile::tempdir().unwrap();
    let mut depot = start(
        dir.path(),
        &[("DEPOT_ACCOUNT_SID", SID), ("DEPOT_AUTH_TOKEN", TOKEN)],
    );
    let health = client()
        .get(format!("{}/healthz", depot.base))
        .send()
        .unwrap();
    assert_eq!(health.status(), 200);
    sigterm(&depot.child);
    assert!(wait_exit(&mut depot.child).success());
}

#[test]
fn generated_credentials_are_printed_once_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = start(dir.path(), &[]);
    let text = first.lines.join("\n");
    let sid_line = first
        .lines
        .iter()
        .find(|l| l.contains("DEPOT_ACCOUNT_SID="))
        .unwrap();
    let token_line = first
        .lines
        .iter()
        .find(|l| l.contains("DEPOT_AUTH_TOKEN="))
        .unwrap();
    let sid = sid_line.split('=').nth(1).unwrap().to_owned();
    let token = token_line.split('=').nth(1).unwrap().to_owned();
    assert!(sid.starts_with("AC") && sid.len() == 34, "{text}");
    let ok = client()
        .get(format!("{}/v1/Services", first.base))
        .basic_auth(&sid, Some(&token))
        .send()
        .unwrap();
    assert_eq!(ok.status(), 200);
    sigterm(&first.child);
    assert!(wait_exit(&mut first.child).success());

    let mut second = start(dir.path(), &[]);
    assert!(
        !second.lines.join("\n").contains(&token),
        "token printed again"
    );
    let ok = client()
        .get(format!("{}/v1/Services", second.base))
        .basic_auth(&sid, Some(&token))
        .send()
        .unwrap();
    assert_eq!(ok.status(), 200);
    sigterm(&second.child);
    assert!(wait_exit(&mut second.child).success());
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let envs = [("DEPOT_ACCOUNT_SID", SID), ("DEPOT_AUTH_TOKEN", TOKEN)];
    let mut depot = start(dir.path(), &envs);
    let http = client();
    let created = http
        .post(format!("{}/v1/Services", depot.base))
        .basic_auth(SID, Some(TOKEN))
        .form(&[("UniqueName", "durable"), ("FriendlyName", "d")])
        .send()
        .unwrap();
    assert_eq!(created.status(), 201);
    let mut assets = Vec::new();
    for i in 0..20 {
        let created: serde_json::Value = http
            .post(format!("{}/v1/Services/durable/Assets", depot.base))
            .basic_auth(SID, Some(TOKEN))
            .form(&[("FriendlyName", format!("a{i}"))])
            .send()
            .unwrap()
            .json()
            .unwrap();
        assets.push(created["sid"].as_str().unwrap().to_owned());
    }
    depot.child.kill().unwrap(); // SIGKILL
    depot.child.wait().unwrap();

    let mut again = start(dir.path(), &envs);
    let listed: serde_json::Value = http
        .get(format!("{}/v1/Services/durable/Assets", again.base))
        .basic_auth(SID, Some(TOKEN))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let got: Vec<&str> = listed["assets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["sid"].as_str().unwrap())
        .collect();
    assert_eq!(got, assets);
    sigterm(&again.child);
    assert!(wait_exit(&mut again.child).success());
}

#[test]
fn bad_flags_fail_at_start_naming_the_flag() {
    let output = Command::new(env!("CARGO_BIN_EXE_depot"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(tempfile::tempdir().unwrap().path())
        .env("DEPOT_ACCOUNT_SID", "ACnothex")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("DEPOT_ACCOUNT_SID"));
}

#[test]
fn log_lines_are_plain_when_stderr_is_not_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_depot"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("DEPOT_ACCOUNT_SID", SID)
        .env("DEPOT_AUTH_TOKEN", TOKEN)
        .env("DEPOT_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("listening on") {
        line.clear();
        assert!(reader.read_line(&mut line).unwrap() > 0);
    }
    sigterm(&child);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("stopped"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "colour codes in {stderr:?}");
}

#[test]
fn sigterm_does_not_wait_for_idle_or_half_sent_requests() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let mut depot = start(
        dir.path(),
        &[("DEPOT_ACCOUNT_SID", SID), ("DEPOT_AUTH_TOKEN", TOKEN)],
    );
    let addr = depot.base.trim_start_matches("http://").to_owned();
    let _idle = std::net::TcpStream::connect(&addr).unwrap();
    let mut half = std::net::TcpStream::connect(&addr).unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Half: ")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let asked = std::time::Instant::now();
    sigterm(&depot.child);
    assert!(wait_exit(&mut depot.child).success());
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "{:?}",
        asked.elapsed()
    );
}

#[test]
fn a_port_in_use_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = start(
        dir.path(),
        &[("DEPOT_ACCOUNT_SID", SID), ("DEPOT_AUTH_TOKEN", TOKEN)],
    );
    let addr = first.base.trim_start_matches("http://").to_owned();
    let other = tempfile::tempdir().unwrap();
    let mut second = Command::new(env!("CARGO_BIN_EXE_depot"))
        .args(["serve", "--listen", &addr, "--data-dir"])
        .arg(other.path())
        .env("DEPOT_ACCOUNT_SID", SID)
        .env("DEPOT_AUTH_TOKEN", TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A second depot that shared the port would run on: wait_exit kills it and fails.
    assert!(!wait_exit(&mut second).success());
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(stderr.contains("cannot listen"), "{stderr}");
    sigterm(&first.child);
    assert!(wait_exit(&mut first.child).success());
}

/// Runs `depot deploy DIR` against `base` with the test account; (exit ok, stdout, stderr).
fn deploy(base: &str, dir: &std::path::Path, token: &str) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_depot"))
        .arg("deploy")
        .arg(dir)
        .args([
            "--url",
            base,
            "--service",
            "cli-app",
            "--environment",
            "dev",
        ])
        .env("DEPOT_ACCOUNT_SID", SID)
        .env("DEPOT_AUTH_TOKEN", token)
        .env_remove("DEPOT_API_KEY")
        .env_remove("DEPOT_API_SECRET")
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn get_json(base: &str, path: &str) -> serde_json::Value {
    client()
        .get(format!("{base}{path}"))
        .basic_auth(SID, Some(TOKEN))
        .send()
        .unwrap()
        .json()
        .unwrap()
}

fn served(base: &str, domain: &str, path: &str) -> (u16, String) {
    let response = client()
        .get(format!("{base}{path}"))
        .header("Host", domain)
        .send()
        .unwrap();
    (response.status().as_u16(), response.text().unwrap())
}

#[test]
fn deploy_uploads_a_project_then_only_what_changed() {
    let data = tempfile::tempdir().unwrap();
    let mut depot = start(
        data.path(),
        &[("DEPOT_ACCOUNT_SID", SID), ("DEPOT_AUTH_TOKEN", TOKEN)],
    );
    let project = tempfile::tempdir().unwrap();
    let root = project.path();
    for dir in ["assets/css", "assets/assets", "functions/api"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    std::fs::write(root.join("assets/assets/index.html"), "<h1>home</h1>").unwrap();
    std::fs::write(root.join("assets/css/site.css"), "body { color: red }").unwrap();
    std::fs::write(root.join("assets/config.private.json"), "{\"k\":1}").unwrap();
    // Function source with bytes a text round trip could change.
    let source = "exports.handler = (c, e, cb) => cb(null, 'héllo\\r\\n');\r\n\t// ünïcode\n";
    std::fs::write(root.join("functions/api/hello.protected.js"), source).unwrap();
    std::fs::write(root.join("functions/ping.js"), "exports.handler = 1;").unwrap();

    let (ok, out, err) = deploy(&depot.base, root, TOKEN);
    assert!(ok, "{out}{err}");
    assert!(out.contains("(5 uploaded, 0 unchanged)"), "{out}");
    let domain = out
        .split_whitespace()
        .find(|w| w.ends_with(".localhost"))
        .unwrap()
        .to_owned();
    assert_eq!(
        served(&depot.base, &domain, "/"),
        (200, "<h1>home</h1>".into())
    );
    assert_eq!(served(&depot.base, &domain, "/config.json").0, 404);

    // One file changes: one upload, one new build, every function's source byte for byte.
    std::fs::write(root.join("assets/css/site.css"), "body { color: blue }").unwrap();
    let (ok, out, err) = deploy(&depot.base, root, TOKEN);
    assert!(ok, "{out}{err}");
    assert!(out.contains("(1 uploaded, 4 unchanged)"), "{out}");
    assert_eq!(
        served(&depot.base, &domain, "/css/site.css"),
        (200, "body { color: blue }".into())
    );
    let builds = get_json(&depot.base, "/v1/Services/cli-app/Builds");
    assert_eq!(builds["builds"].as_array().unwrap().len(), 2);
    let functions = get_json(&depot.base, "/v1/Services/cli-app/Functions");
    let function = functions["functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["friendly_name"] == "/api/hello")
        .unwrap()["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let versions = get_json(
        &depot.base,
        &format!("/v1/Services/cli-app/Functions/{function}/Versions"),
    );
    assert_eq!(versions["function_versions"].as_array().unwrap().len(), 1);
    let version = versions["function_versions"][0]["sid"].as_str().unwrap();
    let content = get_json(
        &depot.base,
        &format!("/v1/Services/cli-app/Functions/{function}/Versions/{version}/Content"),
    );
    assert_eq!(content["content"], source);

    // Bad credentials and a folder without a project: a clear message, non-zero, and what was
    // live stays live.
    let (ok, out, err) = deploy(&depot.base, root, "wrong-token");
    assert!(!ok, "{out}");
    assert!(err.contains("401") && err.contains("Authenticate"), "{err}");
    let empty = tempfile::tempdir().unwrap();
    let (ok, _, err) = deploy(&depot.base, empty.path(), TOKEN);
    assert!(!ok);
    assert!(
        err.contains("assets/") && err.contains("functions/"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(
        served(&depot.base, &domain, "/css/site.css"),
        (200, "body { color: blue }".into())
    );

    // ls shows the environment and what it serves; rollback brings the first build back.
    let builds = get_json(&depot.base, "/v1/Services/cli-app/Builds");
    let first_build = builds["builds"][0]["sid"].as_str().unwrap().to_owned();
    let second_build = builds["builds"][1]["sid"].as_str().unwrap().to_owned();
    let (ok, out, err) = client_command(&depot.base, &["ls"]);
    assert!(ok, "{err}");
    assert!(out.contains("cli-app") && out.contains(&domain), "{out}");
    assert!(out.contains(&second_build), "{out}");
    let target = ["--service", "cli-app", "--environment", "dev"];
    let (ok, out, err) = client_command(&depot.base, &[&["rollback"][..], &target].concat());
    assert!(ok, "{err}");
    assert!(out.contains(&first_build), "{out}");
    assert_eq!(
        served(&depot.base, &domain, "/css/site.css"),
        (200, "body { color: red }".into())
    );
    // A function path without a handler writes an error Log (500; 503 and a Log when this
    // machine has no Node.js); logs prints it.
    let status = served(&depot.base, &domain, "/ping").0;
    assert!(status == 500 || status == 503, "GET /ping: {status}");
    let (ok, out, err) = client_command(&depot.base, &[&["logs"][..], &target].concat());
    assert!(ok, "{err}");
    assert!(!out.trim().is_empty(), "no log lines: {err}");
    sigterm(&depot.child);
    assert!(wait_exit(&mut depot.child).success());
}

/// Runs a client command against `base` with the test account; (exit ok, stdout, stderr).
fn client_command(base: &str, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_depot"))
        .args(args)
        .args(["--url", base])
        .env("DEPOT_ACCOUNT_SID", SID)
        .env("DEPOT_AUTH_TOKEN", TOKEN)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn help_names_the_commands_and_flags() {
    for args in [
        vec!["--help"],
        vec!["deploy", "--help"],
        vec!["migrate", "--help"],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_depot"))
            .args(&args)
            .output()
            .unwrap();
        assert!(output.status.success(), "{args:?}");
        let text = String::from_utf8_lossy(&output.stdout);
        let wanted: &[&str] = match args[0] {
            "deploy" => &["--url", "--service", "--environment", "--api-key"],
            "migrate" => &["--to-database-url", "--to-blob-url"],
            _ => &["serve", "deploy", "migrate"],
        };
        for flag in wanted {
            assert!(text.contains(flag), "{args:?} does not name {flag}: {text}");
        }
    }
}

#[test]
fn metrics_request_ids_and_json_logs() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let metrics_port = free.local_addr().unwrap().port();
    drop(free);
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_depot"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--data-dir",
        ])
        .arg(dir.path())
        .args(["--metrics-listen", &format!("127.0.0.1:{metrics_port}")])
        .env("DEPOT_ACCOUNT_SID", SID)
        .env("DEPOT_AUTH_TOKEN", TOKEN)
        .env("DEPOT_LOG", "depot=debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let base = loop {
        let mut line = String::new();
        assert!(reader.read_line(&mut line).unwrap() > 0, "depot exited");
        if let Some(at) = line.find("http://") {
            break line[at..].trim_end().to_owned();
        }
    };
    let answer = client()
        .get(format!("{base}/v1/Services"))
        .basic_auth(SID, Some(TOKEN))
        .send()
        .unwrap();
    let request_id = answer.headers()["twilio-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        request_id.len() == 34
            && request_id.starts_with("RQ")
            && request_id[2..].chars().all(|c| c.is_ascii_hexdigit()),
        "{request_id}"
    );
    let metrics = client()
        .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("depot_http_requests_total")
            && metrics.contains("route=\"/v1/Services\"")
            && metrics.contains("depot_http_request_duration_seconds"),
        "{metrics}"
    );
    // The API's own port has no /metrics.
    let api_metrics = client()
        .get(format!("{base}/metrics"))
        .basic_auth(SID, Some(TOKEN))
        .send()
        .unwrap();
    assert_eq!(api_metrics.status(), 404);
    sigterm(&child);
    assert!(wait_exit(&mut child).success());
    let mut logs = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut logs).unwrap();
    let line = logs
        .lines()
        .find(|l| l.contains(&request_id))
        .unwrap_or_else(|| panic!("no log line names {request_id}: {logs}"));
    let parsed: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(parsed["fields"]["request_id"], request_id.as_str());
    assert!(!logs.contains(TOKEN), "a token reached the logs");
}

#[test]
fn accounts_and_keys_commands_drive_the_2010_api() {
    let data = tempfile::tempdir().unwrap();
    let mut depot = start(
        data.path(),
        &[("DEPOT_ACCOUNT_SID", SID), ("DEPOT_AUTH_TOKEN", TOKEN)],
    );
    let (ok, out, err) = client_command(
        &depot.base,
        &["accounts", "create", "--friendly-name", "team"],
    );
    assert!(ok, "{err}");
    let subaccount = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("DEPOT_ACCOUNT_SID="))
        .unwrap()
        .to_owned();
    let (ok, out, err) = client_command(&depot.base, &["accounts", "list"]);
    assert!(ok, "{err}");
    assert!(out.contains(SID) && out.contains(&subaccount), "{out}");

    let (ok, out, err) = client_command(&depot.base, &["keys", "create", "--friendly-name", "ci"]);
    assert!(ok, "{err}");
    let value = |name: &str| {
        out.lines()
            .find_map(|l| l.trim().strip_prefix(name).map(str::to_owned))
            .unwrap()
    };
    let (key, secret) = (value("DEPOT_API_KEY="), value("DEPOT_API_SECRET="));
    // The key works for the Serverless API through every client command.
    let with_key = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_depot"))
            .args(args)
            .args(["--url", &depot.base])
            .env_remove("DEPOT_ACCOUNT_SID")
            .env_remove("DEPOT_AUTH_TOKEN")
            .env("DEPOT_API_KEY", &key)
            .env("DEPOT_API_SECRET", &secret)
            .output()
            .unwrap()
    };
    assert!(with_key(&["ls"]).status.success());
    let (ok, out, _) = client_command(&depot.base, &["keys", "list"]);
    assert!(ok && out.contains(&key), "{out}");
    let (ok, _, err) = client_command(&depot.base, &["keys", "delete", &key]);
    assert!(ok, "{err}");
    let refused = with_key(&["ls"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("401"));
    sigterm(&depot.child);
    assert!(wait_exit(&mut depot.child).success());
}
