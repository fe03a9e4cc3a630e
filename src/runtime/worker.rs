//! One Node process running depot's shim for one build (RUNTIME §6.6): spoken to over a Unix
//! socket on its fd 0, killed as a whole process group.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::net::UnixStream;
use tokio::process::{Child, Command};

use super::protocol::{self, FrameError, FromWorker, Init, Invoke, LogLine, Reply, ToWorker};

/// How long a worker may take to load the shim and answer `ready`; a cold start is well under a
/// second (RUNTIME §6.8), so this only catches a wedged start.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// How a worker is started.
#[derive(Debug, Clone)]
pub struct Spawn {
    pub node: PathBuf,
    pub shim: PathBuf,
    pub memory_mb: u32,
    /// The build directory: the worker's cwd.
    pub cwd: PathBuf,
    /// `HOME` and `TMPDIR`.
    pub scratch: PathBuf,
    /// For diagnostics only.
    pub environment_sid: String,
    pub max_frame: usize,
}

/// A started worker that answered `ready`.
pub struct Worker {
    child: Child,
    /// The process group (the child's pid: it leads its own group).
    group: Option<rustix::process::Pid>,
    /// Always `Some` but while [`Worker::rehome`] moves it.
    socket: Option<UnixStream>,
    /// The thread whose runtime watches the socket. Each HTTP thread runs its own runtime, and
    /// a socket registered with another thread's runtime is only noticed when that thread
    /// polls for I/O: every frame would cost two thread wake-ups, or wait behind the other
    /// thread's work.
    home: ThreadId,
    max_frame: usize,
    pub last_used: Instant,
}

/// Why an invocation got no result.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("the worker could not start: {0}")]
    Start(String),
    #[error("the worker stopped during the invocation: {0}")]
    Crashed(String),
}

impl Worker {
    /// Starts a worker and sends it `init`.
    pub async fn start(spawn: &Spawn, init: &Init) -> Result<Worker, Failure> {
        let (ours, theirs) =
            std::os::unix::net::UnixStream::pair().map_err(|e| Failure::Start(e.to_string()))?;
        ours.set_nonblocking(true)
            .map_err(|e| Failure::Start(e.to_string()))?;
        let socket = UnixStream::from_std(ours).map_err(|e| Failure::Start(e.to_string()))?;
        let path_dir = spawn
            .node
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let mut command = Command::new(&spawn.node);
        command
            .arg(format!("--max-old-space-size={}", spawn.memory_mb))
            .arg(&spawn.shim)
            .current_dir(&spawn.cwd)
            // Never depot's own environment: it may hold database URLs and secrets.
            .env_clear()
            .env("PATH", path_dir)
            .env("HOME", &spawn.scratch)
            .env("TMPDIR", &spawn.scratch)
            .env("NODE_ENV", "production")
            .stdin(Stdio::from(OwnedFd::from(theirs)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .map_err(|e| Failure::Start(format!("cannot run {}: {e}", spawn.node.display())))?;
        // The command holds the worker's end of the socket: dropped now, a worker that dies while
        // starting closes the last copy and the read below ends at once, not after START_TIMEOUT.
        drop(command);
        let group = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .and_then(rustix::process::Pid::from_raw);
        if let Some(out) = child.stdout.take() {
            tokio::spawn(forward(out, spawn.environment_sid.clone(), false));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(forward(err, spawn.environment_sid.clone(), true));
        }
        let mut worker = Worker {
            child,
            group,
            socket: Some(socket),
            home: std::thread::current().id(),
            max_frame: spawn.max_frame,
            last_used: Instant::now(),
        };
        let max_frame = worker.max_frame;
        let ready = tokio::time::timeout(START_TIMEOUT, async {
            let socket = worker.socket.as_mut().ok_or(FrameError::Closed)?;
            protocol::write(socket, &ToWorker::Init(init)).await?;
            loop {
                match protocol::read(socket, max_frame).await? {
                    FromWorker::Ready => return Ok::<(), FrameError>(()),
                    // Output of module loading before any invocation has no request to go to.
                    FromWorker::Log(_) => continue,
                    FromWorker::Result(_) => {
                        return Err(FrameError::Malformed("result before ready".into()))
                    }
                }
            }
        })
        .await;
        match ready {
            Ok(Ok(())) => Ok(worker),
            Ok(Err(err)) => {
                worker.kill();
                Err(Failure::Start(err.to_string()))
            }
            Err(_) => {
                worker.kill();
                Err(Failure::Start(format!(
                    "no ready answer within {} s",
                    START_TIMEOUT.as_secs()
                )))
            }
        }
    }

    /// Runs one invocation; console lines land in `logs` as they arrive, so a caller that gives
    /// up on time still has them.
    pub async fn invoke(
        &mut self,
        invoke: &Invoke,
        logs: &mut Vec<LogLine>,
    ) -> Result<Reply, Failure> {
        let id = invoke.id.clone();
        let result = match self.socket.as_mut() {
            Some(socket) => protocol::write(socket, &ToWorker::Invoke(invoke)).await,
            None => Err(FrameError::Closed),
        };
        result.map_err(|e| self.crashed(e))?;
        loop {
            let frame = match self.socket.as_mut() {
                Some(socket) => protocol::read(socket, self.max_frame).await,
                None => Err(FrameError::Closed),
            };
            match frame {
                Ok(FromWorker::Log(line)) if line.id == id => logs.push(line),
                // Late output of an earlier invocation (its async work went on): not ours.
                Ok(FromWorker::Log(_)) => {}
                Ok(FromWorker::Result(reply)) if reply.id == id => {
                    self.last_used = Instant::now();
                    return Ok(reply);
                }
                Ok(other) => {
                    return Err(self.crashed(FrameError::Malformed(format!(
                        "unexpected message {other:?}"
                    ))))
                }
                Err(err) => return Err(self.crashed(err)),
            }
        }
    }

    /// Moves the socket to the calling thread's runtime, if it is watched by another's.
    pub fn rehome(&mut self) -> Result<(), Failure> {
        let here = std::thread::current().id();
        if self.home == here {
            return Ok(());
        }
        let moved = self
            .socket
            .take()
            .ok_or(FrameError::Closed)
            .and_then(|socket| Ok(socket.into_std()?))
            .and_then(|socket| Ok(UnixStream::from_std(socket)?));
        match moved {
            Ok(socket) => {
                self.socket = Some(socket);
                self.home = here;
                Ok(())
            }
            Err(err) => Err(self.crashed(err)),
        }
    }

    /// Whether the calling thread's runtime watches this worker's socket.
    pub fn is_home(&self) -> bool {
        self.home == std::thread::current().id()
    }

    /// Describes why the worker is unusable, adding its exit status when it has one.
    fn crashed(&mut self, err: FrameError) -> Failure {
        self.kill();
        let status = self
            .child
            .try_wait()
            .ok()
            .flatten()
            .map(|s| format!(" ({s})"))
            .unwrap_or_default();
        Failure::Crashed(format!("{err}{status}"))
    }

    /// Whether the process still runs (an idle worker can die of leftover async work).
    pub fn is_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGKILL to the whole process group: anything the function spawned goes too.
    pub fn kill(&mut self) {
        if let Some(group) = self.group.take() {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
        let _ = self.child.start_kill();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Copies a worker's stdout or stderr lines to depot's log.
async fn forward(stream: impl AsyncRead + Unpin, environment_sid: String, is_stderr: bool) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if is_stderr {
            tracing::warn!(environment = %environment_sid, "function worker: {line}");
        } else {
            tracing::debug!(environment = %environment_sid, "function worker: {line}");
        }
    }
}

/// `node --version`, for the start-up line.
pub async fn node_version(node: &Path) -> Option<String> {
    let output = tokio::time::timeout(
        Duration::from_secs(5),
        Command::new(node)
            .arg("--version")
            .env_clear()
            .kill_on_drop(true)
            .output(),
    )
    .await
    .ok()?
    .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}
