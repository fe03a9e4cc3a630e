//! Workers per deployed (Environment, Build) (RUNTIME §6.6, §6.7): one invocation per worker at
//! a time, warm reuse, a cap per environment, idle reaping, an account-wide concurrency limit
//! with a short queue, and a time limit that kills the worker.
//!
//! Pools are keyed by build SID, so a new deployment (from this node or, through the site
//! change feed, any other) simply lands in a new pool; making it drains the environment's
//! other pools.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OnceCell, Semaphore};

use super::install;
use super::layout::BuildDir;
use super::protocol::{self, Init, Invoke, LogLine, Reply};
use super::worker::{Spawn, Worker};
use super::RuntimeConfig;
use crate::domain::Core;

/// The shim (`runtime/depot-fn-host.js`), written to the data dir at start.
const EMBEDDED_SHIM: &str = include_str!("../../runtime/depot-fn-host.js");

/// What one invocation came to.
#[derive(Debug)]
pub enum Outcome {
    Reply(Reply),
    /// No slot within the queue time: 429.
    Busy,
    /// Over the time limit: 504; the worker was killed.
    TimedOut(Duration),
    /// No result (start failure, crash, broken protocol): 500 and an error Log.
    Failed(String),
}

/// An outcome and the console lines written on the way to it.
#[derive(Debug)]
pub struct Invocation {
    pub outcome: Outcome,
    pub logs: Vec<LogLine>,
}

/// Which function of which deployed build to run.
pub struct Target<'a> {
    pub account_sid: &'a str,
    pub service_sid: &'a str,
    pub environment_sid: &'a str,
    pub build_sid: &'a str,
    /// The function's route, with its `/`.
    pub path: &'a str,
}

/// Every pool of this node.
pub struct Pools {
    config: RuntimeConfig,
    /// The shim on disk, or why functions cannot run.
    shim: Result<PathBuf, String>,
    scratch_root: PathBuf,
    pools: Mutex<HashMap<(String, String), Arc<Pool>>>,
    accounts: Mutex<HashMap<String, Arc<Semaphore>>>,
}

struct Pool {
    environment_sid: String,
    service_sid: String,
    prepared: OnceCell<Prepared>,
    idle: Mutex<Vec<Worker>>,
    /// One permit per worker the pool may run.
    slots: Arc<Semaphore>,
    draining: AtomicBool,
    scratch: PathBuf,
    last_used: Mutex<Instant>,
}

struct Prepared {
    dir: BuildDir,
    init: Init,
    spawn: Spawn,
}

impl Pools {
    /// Writes the shim under `{data}/functions/` (readable by depot's user only) and sets up
    /// empty pools.
    pub fn new(config: &RuntimeConfig, data_dir: &std::path::Path) -> Pools {
        let functions = data_dir.join("functions");
        let shim = match (&config.node, &config.shim) {
            (None, _) => Err(
                "Function execution needs Node.js: no `node` was found on PATH; install Node.js 20 or set --node"
                    .to_owned(),
            ),
            (Some(_), Some(path)) => Ok(path.clone()),
            (Some(_), None) => write_shim(&functions).map_err(|e| {
                format!("Function execution is unavailable: cannot write the worker shim: {e}")
            }),
        };
        Pools {
            config: config.clone(),
            shim,
            scratch_root: functions.join("scratch"),
            pools: Mutex::new(HashMap::new()),
            accounts: Mutex::new(HashMap::new()),
        }
    }

    /// Why functions cannot run on this node, if they cannot: the 503 body.
    pub fn unavailable(&self) -> Option<&str> {
        self.shim.as_ref().err().map(String::as_str)
    }

    /// One line at start: whether functions can run, and with what.
    pub async fn announce(&self) {
        match (&self.config.node, &self.shim) {
            (Some(node), Ok(shim)) => {
                let version = super::worker::node_version(node).await;
                match version {
                    Some(version) => tracing::info!(
                        node = %node.display(), %version, shim = %shim.display(),
                        "functions can run"
                    ),
                    None => tracing::warn!(
                        node = %node.display(),
                        "functions may not run: `node --version` failed"
                    ),
                }
            }
            _ => {
                let reason = self.unavailable().unwrap_or("no node");
                tracing::warn!("functions cannot run: {reason}");
            }
        }
    }

    /// Runs one invocation of `target`; `invoke.file` is filled in from the build's layout.
    pub async fn invoke(&self, core: &Core, target: &Target<'_>, invoke: Invoke) -> Invocation {
        match self.run(core, target, invoke).await {
            Ok(invocation) => invocation,
            Err(outcome) => Invocation {
                outcome,
                logs: Vec::new(),
            },
        }
    }

    async fn run(
        &self,
        core: &Core,
        target: &Target<'_>,
        mut invoke: Invoke,
    ) -> Result<Invocation, Outcome> {
        let shim = self.shim.clone().map_err(Outcome::Failed)?;
        let node = self
            .config
            .node
            .clone()
            .ok_or_else(|| Outcome::Failed("no node".to_owned()))?;
        let deadline = tokio::time::Instant::now() + self.config.queue;
        let account = self.account(target.account_sid);
        let Ok(Ok(account_slot)) = tokio::time::timeout_at(deadline, account.acquire_owned()).await
        else {
            return Err(Outcome::Busy);
        };
        let pool = self.pool(target);
        let prepared = pool
            .prepared
            .get_or_try_init(|| self.prepare(core, target, node, shim, &pool.scratch))
            .await
            .map_err(|reason| Outcome::Failed(reason.clone()))?;
        let Some(file) = prepared
            .dir
            .functions
            .iter()
            .find(|f| f.path == target.path)
        else {
            return Err(Outcome::Failed(format!(
                "function {} is not part of build {}",
                target.path, target.build_sid
            )));
        };
        invoke.file = file.file.clone();
        let Ok(Ok(worker_slot)) =
            tokio::time::timeout_at(deadline, pool.slots.clone().acquire_owned()).await
        else {
            return Err(Outcome::Busy);
        };
        let mut worker = match pool.take_idle() {
            Some(mut worker) => match worker.rehome() {
                Ok(()) => worker,
                Err(err) => return Err(Outcome::Failed(err.to_string())),
            },
            None => match Worker::start(&prepared.spawn, &prepared.init).await {
                Ok(worker) => worker,
                Err(err) => return Err(Outcome::Failed(err.to_string())),
            },
        };
        let mut logs = Vec::new();
        let started = Instant::now();
        let outcome = match tokio::time::timeout(
            self.config.timeout,
            worker.invoke(&invoke, &mut logs),
        )
        .await
        {
            Ok(Ok(reply)) => {
                pool.give_back(worker);
                Outcome::Reply(reply)
            }
            Ok(Err(failure)) => Outcome::Failed(failure.to_string()),
            Err(_) => {
                // A busy loop cannot be interrupted from inside Node: the process goes.
                worker.kill();
                Outcome::TimedOut(started.elapsed())
            }
        };
        // The worker is back in the pool before its slots free up.
        drop((worker_slot, account_slot));
        Ok(Invocation { outcome, logs })
    }

    /// The account's concurrency semaphore.
    fn account(&self, account_sid: &str) -> Arc<Semaphore> {
        let mut accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        accounts
            .entry(account_sid.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(self.config.account_concurrency)))
            .clone()
    }

    /// The pool of (environment, build), made on first use; making it drains the
    /// environment's pools of other builds.
    fn pool(&self, target: &Target<'_>) -> Arc<Pool> {
        let key = (
            target.environment_sid.to_owned(),
            target.build_sid.to_owned(),
        );
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pool) = pools.get(&key) {
            return pool.clone();
        }
        let stale: Vec<(String, String)> = pools
            .keys()
            .filter(|(env, build)| env == &key.0 && build != &key.1)
            .cloned()
            .collect();
        for old in stale {
            if let Some(pool) = pools.remove(&old) {
                tracing::debug!(environment = %old.0, build = %old.1, "draining the pool of an earlier build");
                pool.drain();
            }
        }
        let pool = Arc::new(Pool {
            environment_sid: key.0.clone(),
            service_sid: target.service_sid.to_owned(),
            prepared: OnceCell::new(),
            idle: Mutex::new(Vec::new()),
            slots: Arc::new(Semaphore::new(self.config.max_workers_per_environment)),
            draining: AtomicBool::new(false),
            scratch: self.scratch_root.join(format!("{}-{}", key.0, key.1)),
            last_used: Mutex::new(Instant::now()),
        });
        pools.insert(key, pool.clone());
        pool
    }

    /// Lays the build out and describes how its workers start.
    async fn prepare(
        &self,
        core: &Core,
        target: &Target<'_>,
        node: PathBuf,
        shim: PathBuf,
        scratch: &std::path::Path,
    ) -> Result<Prepared, String> {
        let detail = core
            .store
            .build(target.service_sid, target.build_sid)
            .await
            .map_err(|e| format!("cannot read build {}: {e}", target.build_sid))?;
        // Laid out with its npm install linked: this node may not be the one that built it.
        let dir = install::ensure(core, &detail).await?;
        private_dir(scratch).map_err(|e| format!("cannot create {}: {e}", scratch.display()))?;
        let init = Init {
            root: dir.root.clone(),
            handler_version: install::handler_version(&detail.build),
            assets: dir.private_assets.clone(),
            functions: dir
                .functions
                .iter()
                .map(|f| (f.path.trim_start_matches('/').to_owned(), f.file.clone()))
                .collect::<BTreeMap<_, _>>(),
        };
        let spawn = Spawn {
            node,
            shim,
            memory_mb: self.config.memory_mb,
            cwd: dir.root.clone(),
            scratch: scratch.to_path_buf(),
            environment_sid: target.environment_sid.to_owned(),
            max_frame: protocol::max_frame(self.config.max_body_bytes),
        };
        Ok(Prepared { dir, init, spawn })
    }

    /// Drains the pools of `environment_sid` but the one of `keep` (the build deployed there
    /// now, if any): a redeployed or deleted environment's workers stop at once, not at its
    /// next request or when the idle reaper finds them.
    pub fn retire(&self, environment_sid: &str, keep: Option<&str>) {
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        pools.retain(|(env, build), pool| {
            let stays = env != environment_sid || Some(build.as_str()) == keep;
            if !stays {
                tracing::debug!(environment = %env, build = %build, "retiring a pool");
                pool.drain();
            }
            stays
        });
    }

    /// Retires the pools of environments that no longer exist (after changes were missed or
    /// a Service was deleted, when no single domain names them).
    pub async fn retire_deleted(&self, core: &Core) {
        let pools: Vec<(String, String)> = {
            let pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
            pools
                .values()
                .map(|p| (p.service_sid.clone(), p.environment_sid.clone()))
                .collect()
        };
        for (service_sid, environment_sid) in pools {
            if let Err(crate::store::StoreError::NotFound) =
                core.store.environment(&service_sid, &environment_sid).await
            {
                self.retire(&environment_sid, None);
            }
        }
    }

    /// Stops workers idle longer than the idle time and forgets pools with none left.
    pub fn reap(&self) {
        let idle = self.config.idle;
        let max = self.config.max_workers_per_environment;
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        pools.retain(|_, pool| {
            let mut workers = pool.idle.lock().unwrap_or_else(|e| e.into_inner());
            workers.retain(|w| w.last_used.elapsed() < idle);
            let unused = pool
                .last_used
                .lock()
                .map(|at| at.elapsed() >= idle)
                .unwrap_or(true);
            let keep = !(workers.is_empty() && unused && pool.slots.available_permits() == max);
            drop(workers);
            if !keep {
                pool.drain();
            }
            keep
        });
    }

    /// Workers alive now (idle ones) in the pool of `environment_sid`, for tests and metrics.
    pub fn idle_workers(&self, environment_sid: &str) -> usize {
        let pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        pools
            .values()
            .filter(|p| p.environment_sid == environment_sid)
            .map(|p| p.idle.lock().map(|w| w.len()).unwrap_or(0))
            .sum()
    }
}

/// Reaps idle workers now and then.
pub async fn reap_forever(pools: Arc<Pools>) {
    let every = (pools.config.idle / 2).clamp(Duration::from_millis(100), Duration::from_secs(30));
    let mut ticks = tokio::time::interval(every);
    loop {
        ticks.tick().await;
        pools.reap();
    }
}

impl Pool {
    /// A warm worker still alive, if any: the most recently used one of this thread's, else
    /// any (the caller moves it here).
    fn take_idle(&self) -> Option<Worker> {
        if let Ok(mut at) = self.last_used.lock() {
            *at = Instant::now();
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let at = idle.iter().rposition(Worker::is_home);
            let mut worker = match at {
                Some(at) => idle.remove(at),
                None => idle.pop()?,
            };
            if worker.is_alive() {
                return Some(worker);
            }
        }
    }

    /// Keeps a worker warm, unless the pool is being drained.
    fn give_back(&self, worker: Worker) {
        if self.draining.load(Ordering::Acquire) {
            return;
        }
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(worker);
    }

    /// Stops idle workers now; busy ones stop when their invocation ends.
    fn drain(&self) {
        self.draining.store(true, Ordering::Release);
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Workers are gone by now (they hold no reference to the pool); their scratch goes too.
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

/// Writes the embedded shim to `{dir}/depot-fn-host.js`.
fn write_shim(dir: &std::path::Path) -> std::io::Result<PathBuf> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    private_dir(dir)?;
    let path = dir.join("depot-fn-host.js");
    let staging = dir.join(".depot-fn-host.js.tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&staging)?;
    file.write_all(EMBEDDED_SHIM.as_bytes())?;
    file.sync_all()?;
    // Renamed into place: a worker starting meanwhile never reads half a file.
    std::fs::rename(&staging, &path)?;
    Ok(path)
}

fn private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}
