//! Builds with functions install their npm dependencies (RUNTIME §6.9, tests T24 and T25).
//!
//! These need `node` and `npm` on PATH and the npm registry; they say so and pass without them.
//! npm's cache is shared by the whole suite (`helpers::shared_npm_dir`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{asset_file, spawn_with, Deployable, TestApp};

const CODE: &[u8] =
    b"const ms = require('ms');\nexports.handler = (context, event, callback) => callback(null, ms('2 days'));\n";

fn function_file(path: &str) -> Deployable<'_> {
    Deployable {
        path,
        visibility: "public",
        content_type: "application/javascript",
        data: CODE,
        function: true,
    }
}

/// Whether node and npm are here; says why the test does nothing when not.
fn have_node(test: &str) -> bool {
    let found = depot::runtime::find_on_path("node").is_some()
        && depot::runtime::find_on_path("npm").is_some();
    if !found {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "{test}: skipped: node and npm are not on PATH"
        );
    }
    found
}

/// A depot with installs in its own data dir (the default) and the suite's npm cache.
async fn own_installs() -> TestApp {
    spawn_with(|mut c| {
        c.runtime.install_root = None;
        c
    })
    .await
}

/// Builds one new function version with `dependencies`; returns the Build SID and its outcome.
async fn build_function(app: &TestApp, service: &str, dependencies: &str) -> (String, String) {
    let version = app.version(service, &function_file("/days")).await;
    let created = app
        .post(
            &format!("/v1/Services/{service}/Builds"),
            &[
                ("FunctionVersions", version.as_str()),
                ("Dependencies", dependencies),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["status"], "building");
    let sid = created.body["sid"].as_str().unwrap().to_owned();
    let status = app.wait_build(service, &sid).await;
    (sid, status)
}

async fn failure(app: &TestApp, service: &str, build: &str) -> String {
    let detail = app.store().await.build(service, build).await.unwrap();
    detail.build.failure.unwrap_or_default()
}

fn installs(app: &TestApp) -> Vec<PathBuf> {
    let root = app.dir.path().join("functions/installs");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.is_dir() && !p.file_name().unwrap().to_string_lossy().starts_with('.')
                })
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    dirs
}

fn build_dir(app: &TestApp, build: &str) -> PathBuf {
    app.dir.path().join("functions/builds").join(build)
}

/// Runs what a worker would: `require` from the build's functions dir.
fn node_in(dir: &Path, script: &str) -> String {
    let out = std::process::Command::new("node")
        .args(["-e", script])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// T24: listed packages and `twilio` are installed once per dependency set and resolve from
/// the build's functions.
#[tokio::test]
async fn dependencies_install_once_per_set_and_resolve() {
    if !have_node("dependencies_install_once_per_set_and_resolve") {
        return;
    }
    let app = own_installs().await;
    let service = app.service("deps").await;
    let started = Instant::now();
    let (first, status) =
        build_function(&app, &service, r#"[{"name":"ms","version":"2.1.3"}]"#).await;
    let first_took = started.elapsed();
    assert_eq!(
        status,
        "completed",
        "{}",
        failure(&app, &service, &first).await
    );
    let dirs = installs(&app);
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    let install = &dirs[0];
    for file in [
        "package.json",
        "package-lock.json",
        "npm.log",
        ".installed",
        "node_modules/ms/package.json",
        "node_modules/twilio/package.json",
    ] {
        assert!(
            install.join(file).exists(),
            "{file} in {}",
            install.display()
        );
    }
    let stamp = std::fs::read(install.join(".installed")).unwrap();
    let functions = build_dir(&app, &first).join("functions");
    assert_eq!(
        node_in(
            &functions,
            "require('twilio'); console.log(require('ms')('2 days'))"
        ),
        "172800000"
    );

    // The same set, in another order and with the handler (never installed): reused.
    let started = Instant::now();
    let (second, status) = build_function(
        &app,
        &service,
        r#"[{"name":"@twilio/runtime-handler","version":"2.1.2"},{"name":"twilio","version":"5.0.3"},{"name":"ms","version":"2.1.3"}]"#,
    )
    .await;
    let second_took = started.elapsed();
    assert_eq!(
        status,
        "completed",
        "{}",
        failure(&app, &service, &second).await
    );
    assert_eq!(installs(&app), dirs, "no second install");
    assert_eq!(std::fs::read(install.join(".installed")).unwrap(), stamp);
    let link =
        |build: &str| std::fs::read_link(build_dir(&app, build).join("node_modules")).unwrap();
    assert_eq!(link(&first), link(&second));
    assert!(!install
        .join("node_modules/@twilio/runtime-handler")
        .exists());
    assert!(
        second_took < Duration::from_secs(5),
        "reusing took {second_took:?}"
    );
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "install: first build {first_took:?}, second build {second_took:?}"
    );
}

/// T25: a package npm does not know fails the build with npm's reason; it cannot be deployed.
#[tokio::test]
async fn an_unknown_package_fails_the_build() {
    if !have_node("an_unknown_package_fails_the_build") {
        return;
    }
    let app = own_installs().await;
    let service = app.service("deps").await;
    let (build, status) = build_function(
        &app,
        &service,
        r#"[{"name":"depot-no-such-package-4f1c9e","version":"1.0.0"}]"#,
    )
    .await;
    assert_eq!(status, "failed");
    let reason = failure(&app, &service, &build).await;
    assert!(reason.starts_with("npm install failed: "), "{reason}");
    assert!(reason.contains("depot-no-such-package-4f1c9e"), "{reason}");
    assert!(reason.contains("404"), "{reason}");
    assert!(installs(&app).is_empty());
    let logs: Vec<_> = std::fs::read_dir(app.dir.path().join("functions/installs"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".npm.log"))
        .collect();
    assert_eq!(logs.len(), 1, "npm's output kept for the operator");

    let environment = app
        .post(
            &format!("/v1/Services/{service}/Environments"),
            &[("UniqueName", "dev"), ("DomainSuffix", "dev")],
        )
        .await;
    let environment = environment.body["sid"].as_str().unwrap();
    let deployed = app
        .post(
            &format!("/v1/Services/{service}/Environments/{environment}/Deployments"),
            &[("BuildSid", build.as_str())],
        )
        .await;
    assert_eq!(deployed.status, StatusCode::CONFLICT, "{}", deployed.body);
}

/// Without Node.js, builds with functions fail and say what to set; asset builds complete.
#[tokio::test]
async fn without_node_function_builds_fail_and_asset_builds_complete() {
    let app = spawn_with(|mut c| {
        c.runtime.node = None;
        c.runtime.npm = None;
        c
    })
    .await;
    let service = app.service("no-node").await;
    let (build, status) = build_function(&app, &service, "[]").await;
    assert_eq!(status, "failed");
    assert_eq!(
        failure(&app, &service, &build).await,
        "functions need Node.js and npm on the depot host: none found on PATH (set DEPOT_NODE / DEPOT_NPM)"
    );
    let (_, status) = app
        .build(&service, &[asset_file("/a.css", "text/css", b"a{}")])
        .await;
    assert_eq!(status, "completed");
    assert!(!app.dir.path().join("functions").exists());
}

/// Dependencies that are not registry packages never reach npm.
#[tokio::test]
async fn file_and_git_dependencies_fail_before_npm() {
    let app = spawn_with(|mut c| {
        // npm would fail loudly if it ran.
        c.runtime.node = Some("/bin/true".into());
        c.runtime.npm = Some("/nonexistent/npm".into());
        c
    })
    .await;
    let service = app.service("specs").await;
    for spec in ["file:/etc", "git+https://example.com/x.git", "user/repo"] {
        let deps = json!([{"name": "x", "version": spec}]).to_string();
        let (build, status) = build_function(&app, &service, &deps).await;
        assert_eq!(status, "failed");
        let reason = failure(&app, &service, &build).await;
        assert!(reason.contains("not a registry version"), "{reason}");
    }
}

/// Installs no laid-out build links to go once an hour old; linked or recent ones stay.
#[tokio::test]
async fn unlinked_installs_are_collected() {
    let app = spawn_with(|mut c| {
        c.runtime.install_root = None;
        c.upkeep.gc_every = Duration::from_millis(100);
        c
    })
    .await;
    let root = app.dir.path().join("functions/installs");
    let make = |key: &str, old: bool| {
        let dir = root.join(key);
        std::fs::create_dir_all(dir.join("node_modules")).unwrap();
        std::fs::write(dir.join(".installed"), b"1").unwrap();
        if old {
            let status = std::process::Command::new("touch")
                .args(["-d", "2 hours ago"])
                .arg(dir.join(".installed"))
                .status()
                .unwrap();
            assert!(status.success());
        }
        dir
    };
    let unused = make(&"a".repeat(64), true);
    let linked = make(&"b".repeat(64), true);
    let recent = make(&"c".repeat(64), false);
    let build = build_dir(&app, "ZB00000000000000000000000000000000");
    std::fs::create_dir_all(&build).unwrap();
    std::os::unix::fs::symlink(linked.join("node_modules"), build.join("node_modules")).unwrap();
    for _ in 0..100 {
        if !unused.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!unused.exists());
    assert!(linked.exists());
    assert!(recent.exists());
}

/// Writes an executable shell script standing in for npm.
fn fake_npm(dir: &Path, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("npm");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// npm gets a scrubbed environment and depot's HOME, and its output lands in the log and the
/// failure reason.
#[tokio::test]
async fn npm_runs_in_a_scrubbed_environment() {
    if !have_node("npm_runs_in_a_scrubbed_environment") {
        return;
    }
    let tools = tempfile::tempdir().unwrap();
    let npm = fake_npm(
        tools.path(),
        "env\necho \"args: $*\"\necho 'npm error nope, not today'\nexit 1",
    );
    let app = spawn_with(|mut c| {
        c.runtime.npm = Some(npm);
        c.runtime.install_root = None;
        c
    })
    .await;
    let service = app.service("env").await;
    let (build, status) = build_function(&app, &service, "[]").await;
    assert_eq!(status, "failed");
    assert_eq!(
        failure(&app, &service, &build).await,
        "npm install failed: npm error nope, not today"
    );
    let root = app.dir.path().join("functions/installs");
    let log = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().ends_with(".npm.log"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .unwrap();
    let home = app.dir.path().join("functions/home");
    assert!(log.contains(&format!("HOME={}", home.display())), "{log}");
    assert!(
        log.contains("args: install --omit=dev --no-audit --no-fund"),
        "{log}"
    );
    assert!(log.contains("--prefer-offline --cache "), "{log}");
    // The test process runs under cargo, whose variables must not reach npm.
    assert!(!log.contains("CARGO"), "{log}");
}

/// An install over its time limit is killed with everything it started.
#[tokio::test]
async fn a_slow_install_is_killed_at_the_limit() {
    if !have_node("a_slow_install_is_killed_at_the_limit") {
        return;
    }
    let tools = tempfile::tempdir().unwrap();
    // The sleep is a child of the script: killing the script alone would leave the pipes open.
    let npm = fake_npm(tools.path(), "sleep 60\nexit 0");
    let app = spawn_with(|mut c| {
        c.runtime.npm = Some(npm);
        c.runtime.install_root = None;
        c.runtime.install_timeout = Duration::from_millis(500);
        c
    })
    .await;
    let service = app.service("slow").await;
    let started = Instant::now();
    let (build, status) = build_function(&app, &service, "[]").await;
    assert_eq!(status, "failed");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        failure(&app, &service, &build).await,
        "npm install timed out after 500ms"
    );
}
