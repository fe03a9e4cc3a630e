//! Running deployed Functions (RUNTIME.md): builds laid out on disk with their npm
//! dependencies (`layout`, `install`), Node worker processes running depot's shim
//! (`runtime/depot-fn-host.js`, spoken to in `protocol`), pooled per deployed environment
//! (`pool`), and the request side on the asset host (`invoke`).

pub mod cookies;
mod driver;
pub mod headers;
pub mod install;
pub mod invoke;
pub mod layout;
mod npm;
pub mod pool;
pub mod protocol;
mod shared_install;
pub mod worker;

use std::path::PathBuf;
use std::time::Duration;

/// What the operator set for functions; defaults follow RUNTIME §6.7.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// The `node` binary; `None` when none was found: builds with functions fail and function
    /// paths answer 503.
    pub node: Option<PathBuf>,
    /// A shim file to run instead of the one embedded in depot (tests, and shim development).
    pub shim: Option<PathBuf>,
    /// The `npm` binary used by builds.
    pub npm: Option<PathBuf>,
    /// Wall time of one invocation.
    pub timeout: Duration,
    /// `--max-old-space-size` of each worker, in MiB; its resident memory may go 128 MiB over.
    pub memory_mb: u32,
    /// Invocations running at once per account.
    pub account_concurrency: usize,
    /// How long an invocation may wait for a slot before 429.
    pub queue: Duration,
    /// Workers per deployed environment at most.
    pub max_workers_per_environment: usize,
    /// Idle workers are stopped after this long.
    pub idle: Duration,
    /// Largest request body and response body of a function, in bytes.
    pub max_body_bytes: usize,
    /// Bytes of console output kept per invocation.
    pub log_bytes: usize,
    /// How long `npm install` may run.
    pub install_timeout: Duration,
    /// `npm install --offline`.
    pub npm_offline: bool,
    /// `npm install --ignore-scripts`.
    pub npm_ignore_scripts: bool,
    /// The `twilio` version added to builds that do not name one.
    pub twilio_version: String,
    /// npm's cache; default `{data}/functions/npm-cache`. Several depots of one host (or a
    /// test suite) may share one, so a package is downloaded once.
    pub npm_cache: Option<PathBuf>,
    /// Where shared installs live; default `{data}/functions/installs`. Not a flag: a root
    /// shared by several depots is never garbage-collected (none of them sees every build), so
    /// only tests set it.
    pub install_root: Option<PathBuf>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            node: None,
            shim: None,
            npm: None,
            timeout: Duration::from_secs(10),
            memory_mb: 256,
            account_concurrency: 30,
            queue: Duration::from_secs(1),
            max_workers_per_environment: default_workers(),
            idle: Duration::from_secs(300),
            max_body_bytes: 6 * 1024 * 1024,
            log_bytes: 3072,
            install_timeout: Duration::from_secs(240),
            npm_offline: false,
            npm_ignore_scripts: false,
            twilio_version: "5.0.3".to_owned(),
            npm_cache: None,
            install_root: None,
        }
    }
}

/// The first executable named `name` on `PATH`.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| {
            use std::os::unix::fs::PermissionsExt;
            candidate
                .metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Workers per environment unless told: two per core, from 2 to 8. Each invocation wakes its
/// worker, so workers beyond a couple per core only add process switches and JIT warm-ups
/// (measured in docs/benchmarks.md: 4 workers beat 8 on 2 cores in throughput and p99).
pub fn default_workers() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (2 * cores).clamp(2, 8)
}
