//! A build's npm dependencies (RUNTIME §4.3, §6.9 steps 2–6).
//!
//! Most builds of a project differ only in function code, so installs are shared: one
//! read-only `{data}/functions/installs/{key}/` per dependency set, keyed by a hash of the
//! normalised list, the Node major version and the platform, holding `package.json`,
//! `package-lock.json`, `node_modules/` and `npm.log`. It is installed in a staging dir and
//! renamed into place whole, then marked complete; a build dir links its `node_modules` to it.
//! Each node keeps installs in its own data dir; with a bucket between the nodes, the node that
//! ran npm shares the install there and the others unpack it (`shared_install`).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use crate::domain::builds::Dependency;
use crate::domain::Core;
use crate::runtime::layout::{self, BuildDir};
use crate::store::{Build, BuildDetail};

/// Read by depot as a feature flag, never installed: Twilio names versions npm does not have.
pub const HANDLER: &str = "@twilio/runtime-handler";
/// Added to builds that do not name it (Twilio does the same).
const TWILIO: &str = "twilio";
/// Written last into a complete install.
const MARKER: &str = ".installed";
/// Unreferenced installs younger than this are kept: a build may be about to link one.
const GC_AFTER: Duration = Duration::from_secs(3600);
/// Failure logs are kept this long for the operator.
const FAILED_LOG_KEPT: Duration = Duration::from_secs(7 * 24 * 3600);

/// The reason given when functions cannot run on this host.
pub const NO_NODE: &str =
    "functions need Node.js and npm on the depot host: none found on PATH (set DEPOT_NODE / DEPOT_NPM)";

/// The handler version a build declares (`@twilio/runtime-handler`), as written.
pub fn handler_version(build: &Build) -> Option<String> {
    stored(build)
        .ok()?
        .into_iter()
        .rev()
        .find(|d| d.name.trim() == HANDLER)
        .map(|d| d.version.trim().to_owned())
}

fn stored(build: &Build) -> Result<Vec<Dependency>, String> {
    if build.dependencies.trim().is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_str(&build.dependencies)
        .map_err(|e| format!("stored Dependencies unreadable: {e}"))
}

/// What npm installs for `build`: its Dependencies by name (a repeated name: the last wins),
/// without the handler, with `twilio` at `twilio_version` unless named.
pub fn dependency_set(
    build: &Build,
    twilio_version: &str,
) -> Result<BTreeMap<String, String>, String> {
    let mut set = BTreeMap::new();
    for dep in stored(build)? {
        let (name, version) = (dep.name.trim(), dep.version.trim());
        if name == HANDLER {
            continue;
        }
        check(name, version)?;
        set.insert(name.to_owned(), version.to_owned());
    }
    if !set.contains_key(TWILIO) {
        check(TWILIO, twilio_version)?;
        set.insert(TWILIO.to_owned(), twilio_version.to_owned());
    }
    Ok(set)
}

/// Only registry packages, by version, range or tag: the list goes into a `package.json`, and
/// `file:`, git, URL and alias specs would let a build read the host's files or run git.
fn check(name: &str, version: &str) -> Result<(), String> {
    if !valid_name(name) {
        return Err(format!(
            "Dependencies: {name:?} is not a valid npm package name"
        ));
    }
    let version_ok = !version.is_empty()
        && version.len() <= 256
        && version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b" .-+^~<>=|*".contains(&b));
    if !version_ok {
        return Err(format!(
            "Dependencies: {name}@{version:?} is not a registry version, range or tag \
             (file:, git, URL and npm: specs are not supported)"
        ));
    }
    Ok(())
}

/// npm's rules: at most 214 characters, URL-safe, an optional `@scope/`, no leading `.` or `_`.
fn valid_name(name: &str) -> bool {
    let part_ok = |part: &str| {
        !part.is_empty()
            && !part.starts_with(['.', '_'])
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
    };
    let bare = match name.strip_prefix('@') {
        Some(scoped) => match scoped.split_once('/') {
            Some((scope, bare)) if part_ok(scope) => bare,
            _ => return false,
        },
        None => name,
    };
    name.len() <= 214 && part_ok(bare)
}

/// The install's name: changes whenever npm could install something else.
pub fn install_key(
    set: &BTreeMap<String, String>,
    node_major: &str,
    ignore_scripts: bool,
) -> String {
    let mut hash = Sha256::new();
    hash.update(format!(
        "depot-install-1\n{}-{}\nnode {node_major}\nignore-scripts {ignore_scripts}\n",
        std::env::consts::OS,
        std::env::consts::ARCH
    ));
    for (name, version) in set {
        hash.update(format!("{name}\t{version}\n"));
    }
    hex::encode(hash.finalize())
}

fn package_json(set: &BTreeMap<String, String>) -> String {
    serde_json::json!({
        "name": "depot-build-dependencies",
        "version": "0.0.0",
        "private": true,
        "dependencies": set,
    })
    .to_string()
}

/// Where this node keeps installs.
pub fn installs_root(core: &Core) -> PathBuf {
    core.config
        .runtime
        .install_root
        .clone()
        .unwrap_or_else(|| functions_dir(core).join("installs"))
}

fn functions_dir(core: &Core) -> PathBuf {
    core.config.data_dir.join("functions")
}

/// The build laid out on this node with its dependencies installed and linked, so that
/// `require('twilio')` from a function resolves. Any node may call it before running a build;
/// a node that did not build it installs on first use.
pub async fn ensure(core: &Core, detail: &BuildDetail) -> Result<BuildDir, String> {
    if detail.functions.is_empty() {
        return layout::prepare(core, detail).await;
    }
    let runtime = &core.config.runtime;
    let (Some(node), Some(npm)) = (&runtime.node, &runtime.npm) else {
        return Err(NO_NODE.to_owned());
    };
    let set = dependency_set(&detail.build, &runtime.twilio_version)?;
    let dir = layout::prepare(core, detail).await?;
    let key = install_key(&set, &node_major(node).await?, runtime.npm_ignore_scripts);
    let lock = key_lock(&installs_root(core).join(&key));
    // Held until linked, so that garbage collection cannot remove the install in between.
    let _held = lock.lock().await;
    let install = install(core, node, npm, &key, &set).await?;
    link(&dir.root, &install.join("node_modules")).await?;
    Ok(dir)
}

/// One async lock per install dir: builds of one dependency set on this node install once.
/// Entries stay; a node sees few distinct sets.
fn key_lock(dir: &Path) -> Arc<tokio::sync::Mutex<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>> = OnceLock::new();
    let locks = LOCKS.get_or_init(Default::default);
    let mut locks = locks
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    locks.entry(dir.to_path_buf()).or_default().clone()
}

async fn exists(path: &Path) -> bool {
    tokio::fs::try_exists(path).await.unwrap_or(false)
}

/// The complete install of `key`, made now unless it already is. The caller holds its lock.
async fn install(
    core: &Core,
    node: &Path,
    npm: &Path,
    key: &str,
    set: &BTreeMap<String, String>,
) -> Result<PathBuf, String> {
    let root = installs_root(core);
    let dir = root.join(key);
    if exists(&dir.join(MARKER)).await {
        return Ok(dir);
    }
    let cache = core
        .config
        .runtime
        .npm_cache
        .clone()
        .unwrap_or_else(|| functions_dir(core).join("npm-cache"));
    let home = functions_dir(core).join("home");
    for made in [&root, &cache, &home] {
        tokio::fs::create_dir_all(made)
            .await
            .map_err(|e| format!("cannot create {}: {e}", made.display()))?;
    }
    let staging = root.join(format!(
        ".{key}.{}",
        crate::domain::sid::generate(crate::domain::sid::Prefix::Request)
    ));
    // Another node may have installed this set already (with a bucket between the nodes).
    let fetched = super::shared_install::fetch(core, key, &staging, MARKER).await;
    let result = if fetched {
        Ok(())
    } else {
        install_in(core, node, npm, &staging, &cache, &home, set).await
    };
    let outcome = match result {
        Ok(()) => move_into_place(&staging, &dir).await,
        Err(err) => Err(err),
    };
    if outcome.is_ok() && !fetched {
        // Before the build completes, so that a deployment of it finds the install shared.
        super::shared_install::publish(core, key, &dir).await;
    }
    if outcome.is_err() {
        // The staging dir goes, its log stays beside the installs for the operator.
        let log = root.join(format!("{key}.npm.log"));
        let _ = tokio::fs::rename(staging.join("npm.log"), &log).await;
        let _ = tokio::fs::remove_dir_all(&staging).await;
    }
    outcome.map(|()| dir)
}

async fn install_in(
    core: &Core,
    node: &Path,
    npm: &Path,
    staging: &Path,
    cache: &Path,
    home: &Path,
    set: &BTreeMap<String, String>,
) -> Result<(), String> {
    let write = |path: PathBuf, data: Vec<u8>| async move {
        tokio::fs::write(&path, data)
            .await
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    };
    tokio::fs::create_dir_all(staging)
        .await
        .map_err(|e| format!("cannot create {}: {e}", staging.display()))?;
    write(staging.join("package.json"), package_json(set).into_bytes()).await?;
    let runtime = &core.config.runtime;
    let started = std::time::Instant::now();
    let outcome = super::npm::Install {
        node,
        npm,
        dir: staging,
        cache,
        home,
        offline: runtime.npm_offline,
        ignore_scripts: runtime.npm_ignore_scripts,
        timeout: runtime.install_timeout,
    }
    .run()
    .await;
    write(staging.join("npm.log"), outcome.log).await?;
    if let Some(failure) = outcome.failure {
        return Err(failure);
    }
    tracing::info!(
        dir = %staging.display(),
        packages = set.len(),
        ms = started.elapsed().as_millis() as u64,
        "npm install done"
    );
    // A link to a missing dir would make `require` errors confusing.
    let modules = staging.join("node_modules");
    tokio::fs::create_dir_all(&modules)
        .await
        .map_err(|e| format!("cannot create {}: {e}", modules.display()))?;
    let stamp = crate::clock::now().to_string().into_bytes();
    write(staging.join(MARKER), stamp).await
}

async fn move_into_place(staging: &Path, dir: &Path) -> Result<(), String> {
    if exists(dir).await {
        if exists(&dir.join(MARKER)).await {
            // Another depot sharing the install root finished first.
            let _ = tokio::fs::remove_dir_all(staging).await;
            return Ok(());
        }
        // Cannot happen with whole renames; cleared rather than trusted.
        tokio::fs::remove_dir_all(dir)
            .await
            .map_err(|e| format!("cannot remove {}: {e}", dir.display()))?;
    }
    match tokio::fs::rename(staging, dir).await {
        Ok(()) => Ok(()),
        Err(_) if exists(&dir.join(MARKER)).await => {
            let _ = tokio::fs::remove_dir_all(staging).await;
            Ok(())
        }
        Err(err) => Err(format!("cannot move install into {}: {err}", dir.display())),
    }
}

/// Points `{build}/node_modules` at `modules`: a new link is made beside it and renamed over
/// it, so a running worker never sees it missing. Nothing is done when it already points there.
async fn link(build: &Path, modules: &Path) -> Result<(), String> {
    let modules = std::path::absolute(modules)
        .map_err(|e| format!("cannot resolve {}: {e}", modules.display()))?;
    let at = build.join("node_modules");
    if tokio::fs::read_link(&at).await.is_ok_and(|t| t == modules) {
        return Ok(());
    }
    let fresh = build.join(format!(
        ".node_modules.{}",
        crate::domain::sid::generate(crate::domain::sid::Prefix::Request)
    ));
    tokio::fs::symlink(&modules, &fresh)
        .await
        .map_err(|e| format!("cannot link {}: {e}", fresh.display()))?;
    if let Err(err) = tokio::fs::rename(&fresh, &at).await {
        let _ = tokio::fs::remove_file(&fresh).await;
        return Err(format!("cannot link {}: {err}", at.display()));
    }
    Ok(())
}

/// The install keys linked from builds laid out on this node.
async fn linked_keys(core: &Core) -> std::collections::HashSet<String> {
    let mut keys = std::collections::HashSet::new();
    let Ok(mut builds) = tokio::fs::read_dir(layout::builds_root(core)).await else {
        return keys;
    };
    while let Ok(Some(build)) = builds.next_entry().await {
        if let Ok(target) = tokio::fs::read_link(build.path().join("node_modules")).await {
            if let Some(key) = target.parent().and_then(Path::file_name) {
                keys.insert(key.to_string_lossy().into_owned());
            }
        }
    }
    keys
}

fn older_than(meta: &std::fs::Metadata, age: Duration) -> bool {
    meta.modified()
        .ok()
        .and_then(|m| SystemTime::now().duration_since(m).ok())
        .is_some_and(|elapsed| elapsed > age)
}

/// Removes installs no build laid out on this node links to, once an hour old, and staging
/// dirs a crash left behind. Returns how many went. A shared install root is left alone: no
/// single depot knows every build linked to it.
pub async fn collect_garbage(core: &Core) -> usize {
    if core.config.runtime.install_root.is_some() {
        return 0;
    }
    let root = installs_root(core);
    let Ok(mut entries) = tokio::fs::read_dir(&root).await else {
        return 0;
    };
    let mut removed = 0;
    while let Ok(Some(entry)) = entries.next_entry().await {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let Ok(meta) = tokio::fs::symlink_metadata(&path).await else {
            continue;
        };
        let gone = if name.ends_with(".npm.log") {
            older_than(&meta, FAILED_LOG_KEPT) && tokio::fs::remove_file(&path).await.is_ok()
        } else if name.starts_with('.') {
            // Staging dirs and archives live as long as an install, far less than an hour.
            older_than(&meta, GC_AFTER) && remove_scratch(&path, meta.is_dir()).await
        } else {
            remove_unlinked(core, &root, &name).await
        };
        removed += usize::from(gone);
    }
    removed
}

async fn remove_scratch(path: &Path, is_dir: bool) -> bool {
    let removed = if is_dir {
        tokio::fs::remove_dir_all(path).await
    } else {
        tokio::fs::remove_file(path).await
    };
    removed.is_ok()
}

/// Removes install `key` unless a build links to it or it was installed within the hour.
async fn remove_unlinked(core: &Core, root: &Path, key: &str) -> bool {
    let dir = root.join(key);
    let lock = key_lock(&dir);
    // Busy: a build is installing or linking it right now.
    let Ok(_held) = lock.try_lock() else {
        return false;
    };
    let recent = match tokio::fs::metadata(dir.join(MARKER)).await {
        Ok(meta) => !older_than(&meta, GC_AFTER),
        // Not complete: only a crash mid-move leaves that.
        Err(_) => tokio::fs::symlink_metadata(&dir)
            .await
            .map_or(true, |meta| !older_than(&meta, GC_AFTER)),
    };
    if recent || linked_keys(core).await.contains(key) {
        return false;
    }
    // Renamed first, so that no build can link to a half-removed install.
    let doomed = root.join(format!(
        ".{key}.gone.{}",
        crate::domain::sid::generate(crate::domain::sid::Prefix::Request)
    ));
    if tokio::fs::rename(&dir, &doomed).await.is_err() {
        return false;
    }
    tokio::fs::remove_dir_all(&doomed).await.is_ok()
}

/// `node --version`'s major, asked once per binary.
async fn node_major(node: &Path) -> Result<String, String> {
    static SEEN: OnceLock<Mutex<HashMap<PathBuf, String>>> = OnceLock::new();
    let seen = SEEN.get_or_init(Default::default);
    if let Some(major) = seen.lock().ok().and_then(|s| s.get(node).cloned()) {
        return Ok(major);
    }
    let asked = tokio::process::Command::new(node)
        .arg("--version")
        .env_clear()
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(30), asked)
        .await
        .map_err(|_| format!("{} --version did not answer", node.display()))?
        .map_err(|e| format!("cannot run {}: {e}", node.display()))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let major = text
        .trim()
        .strip_prefix('v')
        .and_then(|v| v.split('.').next())
        .filter(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| format!("{} --version answered {:?}", node.display(), text.trim()))?
        .to_owned();
    if let Ok(mut seen) = seen.lock() {
        seen.insert(node.to_path_buf(), major.clone());
    }
    Ok(major)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(dependencies: &str) -> Build {
        Build {
            seq: 0,
            sid: "ZB00000000000000000000000000000000".into(),
            account_sid: String::new(),
            service_sid: String::new(),
            status: crate::store::BuildStatus::Building,
            runtime: "node22".into(),
            dependencies: dependencies.into(),
            failure: None,
            date_created: 0,
            date_updated: 0,
        }
    }

    #[test]
    fn the_set_drops_the_handler_and_adds_twilio() {
        let b = build(
            r#"[{"name":"ms","version":"2.1.3"},{"name":"@twilio/runtime-handler","version":"2.1.2"},{"name":" lodash ","version":" ^4 "}]"#,
        );
        let set = dependency_set(&b, "5.0.3").unwrap();
        assert_eq!(
            set.into_iter().collect::<Vec<_>>(),
            vec![
                ("lodash".to_owned(), "^4".to_owned()),
                ("ms".to_owned(), "2.1.3".to_owned()),
                ("twilio".to_owned(), "5.0.3".to_owned()),
            ]
        );
        let named =
            build(r#"[{"name":"twilio","version":"^3.0.0"},{"name":"twilio","version":"4.0.0"}]"#);
        let set = dependency_set(&named, "5.0.3").unwrap();
        assert_eq!(set.get("twilio").map(String::as_str), Some("4.0.0"));
        assert_eq!(set.len(), 1);
        assert_eq!(dependency_set(&build(""), "5.0.3").unwrap().len(), 1);
        assert_eq!(dependency_set(&build("[]"), "5.0.3").unwrap().len(), 1);
    }

    #[test]
    fn only_registry_packages_pass() {
        for (name, version) in [
            ("ms", "file:../../etc"),
            ("ms", "git+https://github.com/x/y"),
            ("ms", "x/y"),
            ("ms", "npm:evil@1"),
            ("ms", "1.0.0; rm -rf /"),
            ("ms", ""),
            ("../ms", "1"),
            (".ms", "1"),
            ("@scope", "1"),
            ("@/x", "1"),
            ("a b", "1"),
            ("ms\"", "1"),
        ] {
            let b = build(&serde_json::json!([{"name": name, "version": version}]).to_string());
            assert!(dependency_set(&b, "5.0.3").is_err(), "{name}@{version}");
        }
        for (name, version) in [
            ("ms", "2.1.3"),
            (
                "@twilio-labs/serverless-runtime-types",
                "^4.0.0 || >=5.0.0-beta.1",
            ),
            ("JSONStream", "latest"),
            ("lodash.get", "~4.4.2"),
            ("x", "*"),
            ("x", "1.x"),
        ] {
            let b = build(&serde_json::json!([{"name": name, "version": version}]).to_string());
            assert!(dependency_set(&b, "5.0.3").is_ok(), "{name}@{version}");
        }
        assert!(dependency_set(&build("[]"), "file:/x").is_err());
    }

    #[test]
    fn the_key_follows_the_set_node_and_scripts() {
        let set = |deps: &str| dependency_set(&build(deps), "5.0.3").unwrap();
        let a = set(r#"[{"name":"ms","version":"2.1.3"},{"name":"twilio","version":"5.0.3"}]"#);
        // Order and the handler do not matter.
        let b = set(
            r#"[{"name":"@twilio/runtime-handler","version":"1.2.0"},{"name":"ms","version":"2.1.3"}]"#,
        );
        assert_eq!(install_key(&a, "20", false), install_key(&b, "20", false));
        assert_eq!(install_key(&a, "20", false).len(), 64);
        assert_ne!(install_key(&a, "20", false), install_key(&a, "22", false));
        assert_ne!(install_key(&a, "20", false), install_key(&a, "20", true));
        let c = set(r#"[{"name":"ms","version":"2.1.2"}]"#);
        assert_ne!(install_key(&a, "20", false), install_key(&c, "20", false));
    }

    #[test]
    fn handler_version_is_read_not_installed() {
        let b = build(
            r#"[{"name":"twilio","version":"5.0.3"},{"name":"@twilio/runtime-handler","version":" 2.1.2 "}]"#,
        );
        assert_eq!(handler_version(&b).as_deref(), Some("2.1.2"));
        assert_eq!(handler_version(&build("[]")), None);
        assert_eq!(handler_version(&build("")), None);
        assert_eq!(handler_version(&build("not json")), None);
    }

    #[test]
    fn package_json_lists_the_set() {
        let set = dependency_set(&build(r#"[{"name":"ms","version":"2.1.3"}]"#), "5.0.3").unwrap();
        let parsed: serde_json::Value = serde_json::from_str(&package_json(&set)).unwrap();
        assert_eq!(
            parsed["dependencies"],
            serde_json::json!({"ms": "2.1.3", "twilio": "5.0.3"})
        );
        assert_eq!(parsed["private"], true);
    }
}
