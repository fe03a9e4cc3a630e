//! The Python venv with twilio-python (tests/compat/requirements.txt) under `target/`, shared
//! by the test crates that drive the real library; made on first use, reused while the
//! requirements are unchanged.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The venv's directory, made (or remade) when its requirements changed.
pub fn venv() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let venv = root.join("target").join("compat-venv");
    let requirements = root.join("tests/compat/requirements.txt");
    let stamp = venv.join("installed.txt");
    let wanted = std::fs::read_to_string(&requirements).unwrap();
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        return venv;
    }
    let status = Command::new("python3")
        .args(["-m", "venv", "--clear"])
        .arg(&venv)
        .status()
        .expect("python3 is needed for the twilio-python tests");
    assert!(status.success(), "python3 -m venv failed");
    let status = Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
        .arg(&requirements)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "pip install -r tests/compat/requirements.txt failed"
    );
    std::fs::write(&stamp, wanted).unwrap();
    venv
}
