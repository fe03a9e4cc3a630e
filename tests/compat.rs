//! Compatibility with Twilio's official Python helper library (twilio 9.13.0), installed into
//! a venv under `target/` on first run. Needs `python3` and the PyPI registry; set
//! `DEPOT_SKIP_COMPAT=1` to skip where neither is available.

#![allow(clippy::unwrap_used)] // Test helpers panic on purpose: a failed step is a failed test.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

#[path = "common/venv.rs"]
mod common_venv;
use common_venv::venv;

const SID: &str = "ACdddddddddddddddddddddddddddddddd";
const TOKEN: &str = "compat-token";

#[test]
fn twilio_python_library_drives_depot() {
    if std::env::var_os("DEPOT_SKIP_COMPAT").is_some() {
        eprintln!("DEPOT_SKIP_COMPAT set: skipping the twilio-python compatibility test");
        return;
    }
    let venv = venv();
    let data = tempfile::tempdir().unwrap();
    let mut depot = Command::new(env!("CARGO_BIN_EXE_depot"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .env("DEPOT_ACCOUNT_SID", SID)
        .env("DEPOT_AUTH_TOKEN", TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(depot.stdout.take().unwrap());
    let base = loop {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "depot exited early"
        );
        if let Some(at) = line.find("http://") {
            break line[at..].trim().to_owned();
        }
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat/twilio_python.py");
    let output = Command::new(venv.join("bin/python"))
        .arg(&script)
        .env("DEPOT_URL", &base)
        .env("DEPOT_ACCOUNT_SID", SID)
        .env("DEPOT_AUTH_TOKEN", TOKEN)
        .output()
        .unwrap();
    let _ = depot.kill();
    let _ = depot.wait();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "compat script failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("checks passed"), "{stdout}");
}
