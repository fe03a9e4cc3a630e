//! Workers per deployed (Environment, Build) (RUNTIME §6.6, §6.7): one invocation per worker at
//! a time, warm reuse, a cap per environment, idle reaping, an account-wide concurrency limit
//! with a short queue, and a time limit that kills the worker.
//!
//! A pool is a queue of invocations and up to `max_workers` drivers (`driver`), each feeding
//! one worker from it. A request queues its invocation and waits for the answer; a pool with
//! nobody waiting for work starts another worker if it may.
//!
//! Pools are keyed by build SID, so a new deployment (from this node or, through the site
//! change feed, any other) simply lands in a new pool; making it drains the environment's
//! other pools.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch, OnceCell, Semaphore};

use super::driver::{self, PIPELINE_BELOW};
use super::install;
use super::layout::BuildDir;
use super::protocol::{self, Init, Invoke, LogLine, Reply, ToWorker};
use super::worker::{Spawn, Worker};
use super::RuntimeConfig;
use crate::domain::Core;

/// Resident memory a worker may have beyond its heap limit (`--fn-memory-mb`): Node itself,
/// the build's modules and JIT code take about 90 MiB (docs/benchmarks.md); a worker over
/// heap + this is stopped.
const RESIDENT_HEADROOM_MIB: u64 = 128;

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
    /// `node --version`, asked once.
    node_version: OnceCell<Option<String>>,
}

pub struct Pool {
    environment_sid: String,
    service_sid: String,
    prepared: OnceCell<Prepared>,
    jobs: mpsc::UnboundedSender<Job>,
    queue: tokio::sync::Mutex<mpsc::UnboundedReceiver<Job>>,
    /// Jobs in `queue`, abandoned ones included.
    queued: AtomicUsize,
    /// Drivers alive, starting ones included; at most `max_workers`.
    workers: AtomicUsize,
    max_workers: usize,
    /// Drivers whose worker is starting.
    starting: AtomicUsize,
    /// Drivers waiting for a job.
    idle: AtomicUsize,
    /// Recent invocation time, a moving average in microseconds: drivers pipeline while it is
    /// short.
    recent_micros: AtomicU64,
    timeout: Duration,
    /// Resident memory a worker may reach, in MiB.
    memory_limit_mib: u64,
    idle_time: Duration,
    draining: watch::Sender<bool>,
    scratch: PathBuf,
    last_used: Mutex<Instant>,
}

/// One invocation waiting for, or in the hands of, a driver.
pub struct Job {
    pub id: String,
    /// The encoded `invoke` frame.
    pub frame: Vec<u8>,
    ticket: Arc<Ticket>,
    answer: oneshot::Sender<Invocation>,
}

impl Job {
    /// Hands the outcome to the request waiting for it (gone if its task was cancelled).
    pub fn answer(self, outcome: Outcome, logs: Vec<LogLine>) {
        let _ = self.answer.send(Invocation { outcome, logs });
    }
}

/// Who has a queued job: still nobody, a driver, or nobody ever (its request gave up waiting
/// and answered 429). A request can only give up while no driver took the job.
#[derive(Default)]
struct Ticket(AtomicU8);

const WAITING: u8 = 0;
const TAKEN: u8 = 1;
const ABANDONED: u8 = 2;

impl Ticket {
    /// Whether a driver may run the job (a job put back after its worker died is taken already).
    fn take(&self) -> bool {
        match self
            .0
            .compare_exchange(WAITING, TAKEN, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(state) => state == TAKEN,
        }
    }

    fn abandon(&self) -> bool {
        self.0
            .compare_exchange(WAITING, ABANDONED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
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
            node_version: OnceCell::new(),
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
        // Held until the answer: queued and running invocations both count.
        let Ok(Ok(_account_slot)) =
            tokio::time::timeout_at(deadline, account.acquire_owned()).await
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
        let frame = protocol::encode(&ToWorker::Invoke(&invoke))
            .map_err(|e| Outcome::Failed(format!("cannot encode the invocation: {e}")))?;
        let (answer, mut answered) = oneshot::channel();
        let ticket = Arc::new(Ticket::default());
        pool.submit(Job {
            id: invoke.id,
            frame,
            ticket: ticket.clone(),
            answer,
        });
        let stopped = |_| Outcome::Failed("the worker pool stopped".to_owned());
        tokio::select! {
            got = &mut answered => return got.map_err(stopped),
            _ = tokio::time::sleep_until(deadline) => {}
        }
        // Past the queue time the request gives up, unless a driver took its job or a worker
        // is starting (a cold start may take longer than the queue time; it was waited for).
        loop {
            if pool.starting.load(Ordering::Acquire) == 0 && ticket.abandon() {
                return Err(Outcome::Busy);
            }
            tokio::select! {
                got = &mut answered => return got.map_err(stopped),
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
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
        let (jobs, queue) = mpsc::unbounded_channel();
        let pool = Arc::new(Pool {
            environment_sid: key.0.clone(),
            service_sid: target.service_sid.to_owned(),
            prepared: OnceCell::new(),
            jobs,
            queue: tokio::sync::Mutex::new(queue),
            queued: AtomicUsize::new(0),
            workers: AtomicUsize::new(0),
            max_workers: self.config.max_workers_per_environment.max(1),
            starting: AtomicUsize::new(0),
            idle: AtomicUsize::new(0),
            // Not pipelining until the pool's invocations have shown they are quick.
            recent_micros: AtomicU64::new(2 * PIPELINE_BELOW.as_micros() as u64),
            timeout: self.config.timeout,
            memory_limit_mib: u64::from(self.config.memory_mb) + RESIDENT_HEADROOM_MIB,
            idle_time: self.config.idle,
            draining: watch::Sender::new(false),
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
        let version = self
            .node_version
            .get_or_init(|| super::worker::node_version(&node))
            .await;
        if let Some(other) = version
            .as_deref()
            .filter(|v| !runs_runtime(&detail.build.runtime, v))
        {
            // Not refused: Twilio moves Runtimes forward too, and most code runs on either.
            tracing::warn!(
                build = %target.build_sid, runtime = %detail.build.runtime, node = %other,
                "the build names another Node.js major than this node runs; its functions run on {other}"
            );
        }
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

    /// Forgets pools unused for the idle time whose workers are all gone (each driver stops its
    /// worker after that long without work).
    pub fn reap(&self) {
        let idle = self.config.idle;
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        pools.retain(|_, pool| {
            let unused = pool
                .last_used
                .lock()
                .map(|at| at.elapsed() >= idle)
                .unwrap_or(true);
            let keep = !(unused && pool.workers.load(Ordering::Acquire) == 0);
            if !keep {
                pool.drain();
            }
            keep
        });
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
    /// Queues a job, and starts a worker for it when no driver is waiting for work.
    fn submit(self: &Arc<Self>, job: Job) {
        if let Ok(mut at) = self.last_used.lock() {
            *at = Instant::now();
        }
        self.queued.fetch_add(1, Ordering::AcqRel);
        // The receiver lives as long as the pool, so the send cannot fail.
        let _ = self.jobs.send(job);
        if self.idle.load(Ordering::Acquire) == 0 {
            self.grow();
        }
    }

    /// Starts one more driver and worker, if the pool may have another.
    fn grow(self: &Arc<Self>) {
        let mut workers = self.workers.load(Ordering::Acquire);
        while workers < self.max_workers {
            match self.workers.compare_exchange(
                workers,
                workers + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    self.starting.fetch_add(1, Ordering::AcqRel);
                    tokio::spawn(driver::drive(self.clone()));
                    return;
                }
                Err(now) => workers = now,
            }
        }
    }

    /// The worker of a new driver.
    pub async fn start_worker(&self) -> Result<Worker, String> {
        let started = match self.prepared.get() {
            Some(prepared) => Worker::start(&prepared.spawn, &prepared.init)
                .await
                .map_err(|e| e.to_string()),
            None => Err("the build is not prepared".to_owned()),
        };
        self.starting.fetch_sub(1, Ordering::AcqRel);
        started
    }

    /// A worker did not start: a queued job fails with the reason (rather than wait for a
    /// worker that may never come), and the next one gets a start of its own.
    pub fn start_failed(self: &Arc<Self>, reason: String) {
        tracing::warn!(environment = %self.environment_sid, "function worker did not start: {reason}");
        self.workers.fetch_sub(1, Ordering::AcqRel);
        if let Some(job) = self.try_take(false) {
            job.answer(Outcome::Failed(reason), Vec::new());
        }
        self.grow_for_queued();
    }

    /// A driver stopped (idle, drained, or its worker died): jobs it put back, or that came
    /// meanwhile, need a driver.
    pub fn driver_stopped(self: &Arc<Self>) {
        self.workers.fetch_sub(1, Ordering::AcqRel);
        self.grow_for_queued();
    }

    fn grow_for_queued(self: &Arc<Self>) {
        if self.queued.load(Ordering::Acquire) > 0 && self.idle.load(Ordering::Acquire) == 0 {
            self.grow();
        }
    }

    /// The next job, waiting for it up to the idle time; `None` when the driver should stop:
    /// idle that long, or drained with nothing left queued.
    pub async fn next_job(&self) -> Option<Job> {
        self.idle.fetch_add(1, Ordering::AcqRel);
        let job = self.wait_for_job().await;
        self.idle.fetch_sub(1, Ordering::AcqRel);
        job
    }

    async fn wait_for_job(&self) -> Option<Job> {
        let until = tokio::time::Instant::now() + self.idle_time;
        let mut draining = self.draining.subscribe();
        let mut queue = tokio::time::timeout_at(until, self.queue.lock())
            .await
            .ok()?;
        loop {
            while let Ok(job) = queue.try_recv() {
                if let Some(job) = self.taken(job) {
                    return Some(job);
                }
            }
            if *draining.borrow_and_update() {
                return None;
            }
            tokio::select! {
                job = queue.recv() => match job {
                    Some(job) => if let Some(job) = self.taken(job) {
                        return Some(job);
                    },
                    None => return None,
                },
                _ = draining.changed() => {}
                _ = tokio::time::sleep_until(until) => return None,
            }
        }
    }

    /// A job for a driver that has one in hand already, if one is queued and no other driver
    /// waits for work.
    pub fn try_next_job(&self) -> Option<Job> {
        self.try_take(true)
    }

    fn try_take(&self, only_if_none_idle: bool) -> Option<Job> {
        if only_if_none_idle && self.idle.load(Ordering::Acquire) > 0 {
            return None;
        }
        let mut queue = self.queue.try_lock().ok()?;
        loop {
            let job = queue.try_recv().ok()?;
            if let Some(job) = self.taken(job) {
                return Some(job);
            }
        }
    }

    /// A job just received, unless its request gave up on it.
    fn taken(&self, job: Job) -> Option<Job> {
        self.queued.fetch_sub(1, Ordering::AcqRel);
        job.ticket.take().then_some(job)
    }

    /// Puts back a job that never started because its worker died.
    pub fn requeue(&self, job: Job) {
        self.queued.fetch_add(1, Ordering::AcqRel);
        let _ = self.jobs.send(job);
    }

    /// Whether drivers may hand a worker its next invocation early (see `driver`).
    pub fn pipelining(&self) -> bool {
        self.recent_micros.load(Ordering::Relaxed) < PIPELINE_BELOW.as_micros() as u64
    }

    pub fn record_duration(&self, took: Duration) {
        let sample = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let recent = self.recent_micros.load(Ordering::Relaxed);
        // A moving average over about the last eight; racing updates only lose a sample.
        let next = recent - recent / 8 + sample / 8;
        self.recent_micros.store(next, Ordering::Relaxed);
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub fn memory_limit_mib(&self) -> u64 {
        self.memory_limit_mib
    }

    /// Idle drivers stop now; busy ones once the queue is empty.
    fn drain(&self) {
        self.draining.send_replace(true);
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Workers are gone by now (they hold no reference to the pool); their scratch goes too.
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

/// Whether `node --version` (`v20.20.2`) is the major a Build's Runtime (`node20`) names.
fn runs_runtime(runtime: &str, node_version: &str) -> bool {
    let major = node_version
        .trim_start_matches('v')
        .split('.')
        .next()
        .unwrap_or_default();
    runtime.strip_prefix("node") == Some(major)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtimes_are_matched_by_node_major() {
        assert!(runs_runtime("node20", "v20.20.2"));
        assert!(!runs_runtime("node22", "v20.20.2"));
        assert!(!runs_runtime("node2", "v20.1.0"));
        assert!(!runs_runtime("node20", "garbage"));
    }

    #[test]
    fn a_ticket_is_taken_or_abandoned_never_both() {
        let taken = Ticket::default();
        assert!(taken.take());
        assert!(
            !taken.abandon(),
            "a request cannot give up on a running job"
        );
        assert!(
            taken.take(),
            "a job put back after its worker died runs again"
        );

        let abandoned = Ticket::default();
        assert!(abandoned.abandon());
        assert!(
            !abandoned.take(),
            "nobody runs a job its request gave up on"
        );
    }
}
