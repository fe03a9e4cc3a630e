//! The console in a real browser: `tests/console/browser.js` drives Debian's headless
//! Chromium (through playwright-core, pinned in `tests/console/package-lock.json`) against
//! `depot serve --host-domain depot.example`: sign-in (a wrong token refused), a service,
//! three files uploaded with the picker and a function by drag and drop, build and deploy, the
//! domain's page, a hostile page on that domain failing to act in the console, rollback, a log
//! line followed live, sign-out, and a second account seeing nothing of the first.
//!
//! Without Chromium or Node.js it skips with a note, except under `CI=true`, where it must
//! run. `DEPOT_CONSOLE_SCREENSHOTS=DIR` saves screenshots of the main pages (docs/console/).

#![allow(clippy::unwrap_used)] // Test helpers panic on purpose: a failed step is a failed test.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const SID: &str = "ACcccccccccccccccccccccccccccccccc";
const TOKEN: &str = "console-browser-token";

fn test_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/console")
}

fn chromium() -> Option<PathBuf> {
    std::env::var_os("DEPOT_CHROMIUM")
        .map(PathBuf::from)
        .into_iter()
        .chain(["/usr/bin/chromium", "/usr/bin/chromium-browser"].map(PathBuf::from))
        .find(|p| p.is_file())
}

fn has(command: &str) -> bool {
    Command::new(command)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Installs playwright-core from the lock file unless it is already there.
fn ensure_driver() {
    let dir = test_dir();
    if dir
        .join("node_modules/playwright-core/package.json")
        .is_file()
    {
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(&dir)
        .status()
        .expect("npm runs");
    assert!(status.success(), "npm ci in tests/console failed");
}

/// `depot serve` on a free port; killed when dropped.
struct Depot {
    child: Child,
    port: u16,
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
    // npm's cache is the one the API tests share, so `twilio` is downloaded once per machine.
    let npm_cache = std::env::var_os("DEPOT_TEST_NPM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("depot-npm"))
        .join("npm-cache");
    let mut child = Command::new(env!("CARGO_BIN_EXE_depot"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--host-domain",
            "depot.example",
        ])
        .arg("--data-dir")
        .arg(data.path())
        .arg("--npm-cache")
        .arg(npm_cache)
        .env("DEPOT_ACCOUNT_SID", SID)
        .env("DEPOT_AUTH_TOKEN", TOKEN)
        .env_remove("DEPOT_PUBLIC_URL")
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
        if let Some(at) = line.find("http://") {
            if line.contains("listening on") {
                break line[at..].trim().to_owned();
            }
        }
    };
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
        _data: data,
    }
}

/// A subaccount: a second account with its own credentials and nothing of the first's.
fn second_account(depot: &Depot) -> (String, String) {
    let client = reqwest::blocking::Client::new();
    let answer: serde_json::Value = client
        .post(format!(
            "http://127.0.0.1:{}/2010-04-01/Accounts.json",
            depot.port
        ))
        .basic_auth(SID, Some(TOKEN))
        .form(&[("FriendlyName", "second")])
        .send()
        .unwrap()
        .json()
        .unwrap();
    (
        answer["sid"].as_str().unwrap().to_owned(),
        answer["auth_token"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn the_console_works_in_a_real_browser() {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let Some(chromium) = chromium() else {
        assert!(
            !ci,
            "CI=true: Chromium is required (apt-get install chromium)"
        );
        eprintln!("console browser test skipped: no Chromium (apt-get install chromium)");
        return;
    };
    if !has("node") || !has("npm") {
        assert!(!ci, "CI=true: Node.js and npm are required");
        eprintln!("console browser test skipped: no node/npm");
        return;
    }
    ensure_driver();
    let depot = start_depot();
    let (sub_sid, sub_token) = second_account(&depot);
    let started = std::time::Instant::now();
    let mut command = Command::new("node");
    command
        .arg(test_dir().join("browser.js"))
        .current_dir(test_dir())
        .env("DEPOT_PORT", depot.port.to_string())
        .env("ACCOUNT_SID", SID)
        .env("AUTH_TOKEN", TOKEN)
        .env("SUB_SID", &sub_sid)
        .env("SUB_TOKEN", &sub_token)
        .env("CHROMIUM", &chromium)
        .stdin(Stdio::null());
    if let Some(dir) = std::env::var_os("DEPOT_CONSOLE_SCREENSHOTS") {
        std::fs::create_dir_all(&dir).unwrap();
        command.env("SCREENSHOTS", std::path::absolute(dir).unwrap());
    }
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{stdout}");
    assert!(output.status.success(), "browser test failed:\n{stderr}");
    eprintln!(
        "browser steps took {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
