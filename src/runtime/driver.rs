//! The task that feeds one worker: it takes invocations from its pool's queue and runs them one
//! after another, each under the time limit, until the worker has been idle too long, dies,
//! or its pool is drained.
//!
//! Under load a driver hands its worker the next invocation before the current one has
//! answered (pipelining, at most [`DEPTH`] in flight). The shim still runs one at a time; what
//! changes is that a worker finishing an invocation finds the next one already in its socket
//! and goes on without sleeping, which is most of what an invocation of a small function costs
//! (docs/benchmarks.md). A driver pipelines only when no other driver of the pool is waiting
//! for work and the pool's invocations have lately been quick, so an invocation is never put
//! behind a slow one while a worker is free.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::pool::{Job, Outcome, Pool};
use super::protocol::{FrameError, FromWorker, LogLine};
use super::worker::{resident_mib, Worker};

/// Invocations in one worker's hands at once: the running one and the next.
pub const DEPTH: usize = 2;

/// One invocation written to the worker.
struct InFlight {
    job: Job,
    logs: Vec<LogLine>,
    /// When it started running: when it was written, or when the one before it answered.
    started: Instant,
}

/// Starts a worker for `pool` and feeds it until it stops.
pub async fn drive(pool: Arc<Pool>) {
    let worker = match pool.start_worker().await {
        Ok(worker) => worker,
        Err(reason) => return pool.start_failed(reason),
    };
    feed(&pool, worker).await;
    pool.driver_stopped();
}

async fn feed(pool: &Pool, mut worker: Worker) {
    let timeout = pool.timeout();
    let memory_limit = pool.memory_limit_mib();
    let mut next_check = Instant::now() + MEMORY_CHECK;
    let mut running: VecDeque<InFlight> = VecDeque::new();
    loop {
        if running.is_empty() {
            let Some(job) = pool.next_job().await else {
                return; // idle too long, or drained
            };
            // An idle worker can die of leftover async work: the job goes to another.
            if !worker.is_alive() {
                pool.requeue(job);
                return;
            }
            let started = Instant::now();
            if let Err(err) = write(&mut worker, &job, started + timeout).await {
                let outcome = err.outcome(&mut worker, started);
                return fail_all(pool, running_with(job, started), outcome);
            }
            running.push_back(InFlight {
                job,
                logs: Vec::new(),
                started,
            });
        }
        while running.len() < DEPTH && pool.pipelining() {
            let Some(job) = pool.try_next_job() else {
                break;
            };
            let head = running.front().map_or_else(Instant::now, |r| r.started);
            if let Err(err) = write(&mut worker, &job, head + timeout).await {
                let outcome = err.outcome(&mut worker, head);
                pool.requeue(job);
                return fail_all(pool, running, outcome);
            }
            running.push_back(InFlight {
                job,
                logs: Vec::new(),
                started: head, // replaced when the one before it answers
            });
        }
        let Some(started) = running.front().map(|head| head.started) else {
            continue;
        };
        let deadline = started + timeout;
        match receive(&mut worker, deadline, memory_limit, &mut next_check).await {
            Received::OverMemory(resident) => {
                worker.kill();
                let outcome = Outcome::Failed(format!(
                    "the worker went over its memory limit ({resident} MiB resident, limit {memory_limit} MiB) and was stopped"
                ));
                return fail_all(pool, running, outcome);
            }
            Received::TimedOut => {
                // A busy loop cannot be interrupted from inside Node: the process goes.
                worker.kill();
                let outcome = Outcome::TimedOut(started.elapsed());
                return fail_all(pool, running, outcome);
            }
            Received::Frame(Ok(FromWorker::Log(line))) => {
                // Late output of an earlier invocation (its async work went on) is dropped.
                if let Some(to) = running.iter_mut().find(|r| r.job.id == line.id) {
                    to.logs.push(line);
                }
            }
            Received::Frame(Ok(FromWorker::Result(reply)))
                if running.front().is_some_and(|head| head.job.id == reply.id) =>
            {
                let now = Instant::now();
                let Some(done) = running.pop_front() else {
                    continue;
                };
                pool.record_duration(now - done.started);
                done.job.answer(Outcome::Reply(reply), done.logs);
                if let Some(next) = running.front_mut() {
                    next.started = now;
                }
            }
            Received::Frame(Ok(other)) => {
                let err = FrameError::Malformed(format!("unexpected message {other:?}"));
                let outcome = Outcome::Failed(worker.crashed(err).to_string());
                return fail_all(pool, running, outcome);
            }
            Received::Frame(Err(err)) => {
                let outcome = Outcome::Failed(worker.crashed(err).to_string());
                return fail_all(pool, running, outcome);
            }
        }
    }
}

/// What waiting for the worker's next frame came to.
enum Received {
    Frame(Result<FromWorker, FrameError>),
    /// The running invocation's deadline passed first.
    TimedOut,
    /// The worker's resident memory (MiB) went over the limit meanwhile.
    OverMemory(u64),
}

/// Waits for the next frame until `deadline`, looking at the worker's resident memory every
/// [`MEMORY_CHECK`] meanwhile: a function's Buffers live outside the V8 heap that
/// `--max-old-space-size` caps.
async fn receive(
    worker: &mut Worker,
    deadline: Instant,
    memory_limit: u64,
    next_check: &mut Instant,
) -> Received {
    let pid = worker.pid();
    let over = |pid| resident_mib(pid).filter(|&mib| mib > memory_limit);
    if Instant::now() >= *next_check {
        *next_check = Instant::now() + MEMORY_CHECK;
        if let Some(resident) = over(pid) {
            return Received::OverMemory(resident);
        }
    }
    // One read for the whole wait, never dropped half-way but when the worker goes anyway.
    let frame = worker.receive();
    tokio::pin!(frame);
    loop {
        let wake = deadline.min(*next_check);
        tokio::select! {
            biased;
            got = &mut frame => return Received::Frame(got),
            _ = tokio::time::sleep_until(wake) => {}
        }
        if wake >= deadline {
            return Received::TimedOut;
        }
        *next_check = Instant::now() + MEMORY_CHECK;
        if let Some(resident) = over(pid) {
            return Received::OverMemory(resident);
        }
    }
}

/// A write that could not finish: the socket failed, or the worker stopped reading until the
/// running invocation's time was up (a busy loop).
enum WriteError {
    Frame(FrameError),
    TimedOut,
}

impl WriteError {
    /// What the running invocation comes to; the worker is killed.
    fn outcome(self, worker: &mut Worker, started: Instant) -> Outcome {
        match self {
            WriteError::Frame(err) => Outcome::Failed(worker.crashed(err).to_string()),
            WriteError::TimedOut => {
                worker.kill();
                Outcome::TimedOut(started.elapsed())
            }
        }
    }
}

/// Writes a job's frame, giving up at the running invocation's deadline.
async fn write(worker: &mut Worker, job: &Job, deadline: Instant) -> Result<(), WriteError> {
    match tokio::time::timeout_at(deadline, worker.send(&job.frame)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(WriteError::Frame(err)),
        Err(_) => Err(WriteError::TimedOut),
    }
}

fn running_with(job: Job, started: Instant) -> VecDeque<InFlight> {
    VecDeque::from([InFlight {
        job,
        logs: Vec::new(),
        started,
    }])
}

/// The worker is gone: the running invocation comes to `outcome`; the ones that had not
/// started go back to the queue for another worker.
fn fail_all(pool: &Pool, mut running: VecDeque<InFlight>, outcome: Outcome) {
    if let Some(head) = running.pop_front() {
        head.job.answer(outcome, head.logs);
    }
    for waiting in running {
        pool.requeue(waiting.job);
    }
}

/// How often a worker's resident memory is looked at while it runs an invocation.
const MEMORY_CHECK: Duration = Duration::from_millis(250);

/// How quick a pool's invocations must have been lately for its drivers to pipeline.
pub const PIPELINE_BELOW: Duration = Duration::from_millis(5);
