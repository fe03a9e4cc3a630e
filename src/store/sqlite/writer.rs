//! Group commit for SQLite: one task owns the only writing connection and runs every queued
//! write of a moment in one transaction, so N concurrent writes cost one fsync instead of N.
//!
//! A write of several statements runs inside its own SAVEPOINT, so a write that fails is
//! rolled back alone and the others still commit; a single statement needs none, since SQLite
//! undoes a failed statement by itself. No caller hears "done" before the COMMIT that holds
//! its write has returned, so an acknowledged write is on disk (`synchronous = FULL`).

use futures_util::future::BoxFuture;
use sqlx::sqlite::SqliteConnection;
use sqlx::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::store::{StoreError, StoreResult};

/// Writes joined into one transaction at most.
const MAX_BATCH: usize = 512;

/// Called once the batch's COMMIT finished: `Ok` when it committed.
type Deliver = Box<dyn FnOnce(Result<(), String>) + Send>;
type JobFn =
    Box<dyn for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, (bool, Deliver)> + Send>;

struct Job {
    run: JobFn,
    /// Several statements: needs a SAVEPOINT to fail alone.
    several: bool,
}

/// Handle to the writer task.
#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer task on `conn`.
    pub fn spawn(conn: SqliteConnection) -> Writer {
        let (jobs, queue) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run(conn, queue));
        Writer { jobs }
    }

    /// Runs `work`, which may run several statements, on the writing connection inside the
    /// current batch, and returns its result once the batch has committed.
    pub async fn write<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, StoreResult<T>>
            + Send
            + 'static,
    {
        self.submit(work, true).await
    }

    /// Like [`Writer::write`] for `work` that runs exactly one statement.
    pub async fn write_one<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, StoreResult<T>>
            + Send
            + 'static,
    {
        self.submit(work, false).await
    }

    async fn submit<T, F>(&self, work: F, several: bool) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, StoreResult<T>>
            + Send
            + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let run: JobFn = Box::new(move |conn| {
            Box::pin(async move {
                let result = work(conn).await;
                let ok = result.is_ok();
                let deliver: Deliver = Box::new(move |committed| {
                    let outcome = match committed {
                        Ok(()) => result,
                        Err(message) => Err(StoreError::Backend(message.into())),
                    };
                    let _ = reply.send(outcome);
                });
                (ok, deliver)
            })
        });
        self.jobs
            .send(Job { run, several })
            .await
            .map_err(|_| StoreError::Backend("the SQLite writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Backend("the SQLite writer dropped a write".into()))?
    }
}

async fn run(mut conn: SqliteConnection, mut queue: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = queue.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let delivers = run_batch(&mut conn, &mut batch).await;
        let committed = match delivers {
            Ok(_) => commit(&mut conn).await,
            Err(ref message) => Err(message.clone()),
        };
        match delivers {
            Ok(delivers) => delivers.into_iter().for_each(|d| d(committed.clone())),
            Err(message) => {
                tracing::error!(error = %message, "SQLite write batch failed");
            }
        }
    }
    let _ = conn.close().await;
}

/// Runs every job of `batch` in one open transaction; on an error outside a job (the
/// transaction itself failing) the jobs are dropped, which answers their callers with an error.
async fn run_batch(
    conn: &mut SqliteConnection,
    batch: &mut Vec<Job>,
) -> Result<Vec<Deliver>, String> {
    let mut delivers = Vec::with_capacity(batch.len());
    exec(conn, "BEGIN IMMEDIATE").await?;
    for job in batch.drain(..) {
        if job.several {
            if let Err(message) = exec(conn, "SAVEPOINT job").await {
                let _ = exec(conn, "ROLLBACK").await;
                return Err(message);
            }
        }
        let (ok, deliver) = (job.run)(conn).await;
        let end = match (job.several, ok) {
            (false, _) => Ok(()),
            (true, true) => exec(conn, "RELEASE job").await,
            (true, false) => match exec(conn, "ROLLBACK TO job").await {
                Ok(()) => exec(conn, "RELEASE job").await,
                Err(message) => Err(message),
            },
        };
        delivers.push(deliver);
        if let Err(message) = end {
            let _ = exec(conn, "ROLLBACK").await;
            for deliver in delivers {
                deliver(Err(message.clone()));
            }
            return Err(message);
        }
    }
    Ok(delivers)
}

async fn commit(conn: &mut SqliteConnection) -> Result<(), String> {
    match exec(conn, "COMMIT").await {
        Ok(()) => Ok(()),
        Err(message) => {
            let _ = exec(conn, "ROLLBACK").await;
            Err(message)
        }
    }
}

async fn exec(conn: &mut SqliteConnection, sql: &str) -> Result<(), String> {
    sqlx::query(sql)
        .execute(&mut *conn)
        .await
        .map(|_| ())
        .map_err(|err| err.to_string())
}
