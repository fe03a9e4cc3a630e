//! One Node process running depot's shim for one build (RUNTIME §6.6): spoken to over a Unix
//! socket on its fd 0, killed as a whole process group.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::net::UnixStream;
use tokio::process::{Child, Command};

use super::protocol::{self, FrameError, FromWorker, Init, ToWorker};

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
    /// Buffered for reading: one read often brings several frames (console lines, then the
    /// result). Writes go straight through.
    socket: BufReader<UnixStream>,
    max_frame: usize,
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
            socket: BufReader::new(socket),
            max_frame: spawn.max_frame,
        };
        let ready = tokio::time::timeout(START_TIMEOUT, async {
            worker
                .send(&protocol::encode(&ToWorker::Init(init))?)
                .await?;
            loop {
                match worker.receive().await? {
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

    /// Writes one encoded frame.
    pub async fn send(&mut self, frame: &[u8]) -> Result<(), FrameError> {
        protocol::write(self.socket.get_mut(), frame).await
    }

    /// Reads the next frame. Not cancel-safe: a read given up half-way leaves the stream
    /// mid-frame, so a caller that stops waiting must kill the worker.
    pub async fn receive(&mut self) -> Result<FromWorker, FrameError> {
        protocol::read(&mut self.socket, self.max_frame).await
    }

    /// Kills the worker and describes why it is unusable, with its exit status when it has one.
    pub fn crashed(&mut self, err: FrameError) -> Failure {
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

    /// The process id, while the process runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
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

/// The resident memory (`VmRSS`) of process `pid` in MiB, if it runs.
pub fn resident_mib(pid: Option<u32>) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
    resident_kib(&status).map(|kib| kib / 1024)
}

/// `VmRSS` of a `/proc/{pid}/status` text, in KiB.
fn resident_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resident_memory_is_read_from_proc_status() {
        let status = "Name:\tnode\nVmPeak:\t 1000 kB\nVmRSS:\t   94208 kB\nThreads:\t7\n";
        assert_eq!(resident_kib(status), Some(94208));
        assert_eq!(resident_kib("Name:\tnode\n"), None, "a zombie has no VmRSS");
        let own = std::fs::read_to_string("/proc/self/status").unwrap();
        assert!(resident_kib(&own).is_some_and(|kib| kib > 0));
    }
}
