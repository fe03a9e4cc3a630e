//! Running `npm install` for a build (RUNTIME §6.9 step 3): no shell, a scrubbed environment,
//! a depot-owned `HOME`, a time limit that kills npm and everything it started, and the tail of
//! its output kept for the operator.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncReadExt;

/// Bytes of npm output kept (the last ones).
pub const LOG_BYTES: usize = 64 << 10;

/// Operator settings passed through to npm: where the registry is and how to reach it. Nothing
/// else of depot's environment reaches npm or install scripts (database URLs, cloud keys).
const PASSED_THROUGH: &[&str] = &[
    "npm_config_registry",
    "NPM_CONFIG_REGISTRY",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// System directories kept on `PATH`: npm runs install scripts with `sh`, and native addons
/// need `make` and a compiler.
const SYSTEM_PATH: &[&str] = &["/usr/local/bin", "/usr/bin", "/bin"];

/// One `npm install` in `dir`, which holds the `package.json`.
pub struct Install<'a> {
    pub node: &'a Path,
    pub npm: &'a Path,
    pub dir: &'a Path,
    pub cache: &'a Path,
    pub home: &'a Path,
    pub offline: bool,
    pub ignore_scripts: bool,
    pub timeout: Duration,
}

/// How an install ended: `log` is npm's output (the last [`LOG_BYTES`]); `failure` a one-line
/// reason when it failed.
pub struct Outcome {
    pub log: Vec<u8>,
    pub failure: Option<String>,
}

impl Install<'_> {
    fn command(&self) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(self.npm);
        command
            .args([
                "install",
                "--omit=dev",
                "--no-audit",
                "--no-fund",
                "--no-update-notifier",
                "--prefer-offline",
                "--cache",
            ])
            .arg(self.cache);
        if self.offline {
            command.arg("--offline");
        }
        if self.ignore_scripts {
            command.arg("--ignore-scripts");
        }
        command
            .current_dir(self.dir)
            .env_clear()
            .env("PATH", search_path(self.node, self.npm))
            .env("HOME", self.home)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so that a timeout kills install scripts too.
            .process_group(0)
            .kill_on_drop(true);
        for name in PASSED_THROUGH {
            if let Some(value) = std::env::var_os(name) {
                command.env(name, value);
            }
        }
        command
    }

    /// Runs npm to the end or to the time limit.
    pub async fn run(&self) -> Outcome {
        let mut child = match self.command().spawn() {
            Ok(child) => child,
            Err(err) => {
                return Outcome {
                    log: Vec::new(),
                    failure: Some(format!("cannot run {}: {err}", self.npm.display())),
                }
            }
        };
        let tail = Arc::new(Mutex::new(Vec::new()));
        let readers = [
            child.stdout.take().map(|out| keep_tail(out, tail.clone())),
            child.stderr.take().map(|err| keep_tail(err, tail.clone())),
        ];
        let waited = tokio::time::timeout(self.timeout, child.wait()).await;
        if waited.is_err() {
            kill_group(&child);
            let _ = child.kill().await;
        }
        for reader in readers.into_iter().flatten() {
            // A grandchild npm did not start in its group could hold a pipe open forever.
            if tokio::time::timeout(Duration::from_secs(2), reader)
                .await
                .is_err()
            {
                tracing::warn!("npm output still open after npm ended");
            }
        }
        let log = tail.lock().map(|t| last(&t).to_vec()).unwrap_or_default();
        let failure = match waited {
            Err(_) => Some(format!("npm install timed out after {:?}", self.timeout)),
            Ok(Err(err)) => Some(format!("npm install failed: {err}")),
            Ok(Ok(status)) if status.success() => None,
            Ok(Ok(status)) => Some(format!("npm install failed: {}", summary(&log, status))),
        };
        Outcome { log, failure }
    }
}

/// `node`'s and `npm`'s directories first (npm's launcher runs `env node`), then the system's.
fn search_path(node: &Path, npm: &Path) -> std::ffi::OsString {
    let mut dirs: Vec<PathBuf> = Vec::new();
    for dir in [node.parent(), npm.parent()]
        .into_iter()
        .flatten()
        .map(Path::to_path_buf)
        .chain(SYSTEM_PATH.iter().map(PathBuf::from))
    {
        if !dir.as_os_str().is_empty() && !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    std::env::join_paths(dirs).unwrap_or_default()
}

fn kill_group(child: &tokio::process::Child) {
    let pid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .and_then(rustix::process::Pid::from_raw);
    if let Some(pid) = pid {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

/// Reads a pipe to its end, keeping the last [`LOG_BYTES`] of everything read into `tail`.
fn keep_tail(
    mut pipe: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    tail: Arc<Mutex<Vec<u8>>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut buf = vec![0u8; 8192];
        loop {
            match pipe.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if let Ok(mut tail) = tail.lock() {
                        tail.extend_from_slice(&buf[..n]);
                        // Trimmed now and then, not on every read.
                        if tail.len() > 2 * LOG_BYTES {
                            let cut = tail.len() - LOG_BYTES;
                            tail.drain(..cut);
                        }
                    }
                }
            }
        }
    })
}

fn last(log: &[u8]) -> &[u8] {
    &log[log.len().saturating_sub(LOG_BYTES)..]
}

/// Longest failure summary, in characters.
const SUMMARY_CHARS: usize = 300;

/// npm's first telling error line ("npm error 404 Not Found - GET https://…"; older npm
/// prints "npm ERR!"), else the last line of output, else the exit status.
pub fn summary(log: &[u8], status: std::process::ExitStatus) -> String {
    let text = String::from_utf8_lossy(log);
    let errors = text.lines().filter_map(|line| {
        let rest = line
            .strip_prefix("npm error")
            .or_else(|| line.strip_prefix("npm ERR!"))?
            .trim();
        let noise = rest.len() < 5
            || [
                "code ",
                "errno ",
                "syscall ",
                "A complete log",
                "Log files were not",
            ]
            .iter()
            .any(|p| rest.starts_with(p));
        (!noise).then_some(line.trim())
    });
    let line = errors
        .chain(text.lines().rev().map(str::trim).filter(|l| !l.is_empty()))
        .next()
        .map(str::to_owned)
        .unwrap_or_else(|| format!("npm exited with {status}"));
    if line.chars().count() > SUMMARY_CHARS {
        let cut: String = line.chars().take(SUMMARY_CHARS).collect();
        format!("{cut}…")
    } else {
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn summary_names_npms_error() {
        let log = b"npm error code E404\nnpm error 404 Not Found - GET https://registry.npmjs.org/no-such-pkg - Not found\nnpm error 404\nnpm error A complete log of this run can be found in: /x.log\n";
        assert_eq!(
            summary(log, std::process::ExitStatus::from_raw(256)),
            "npm error 404 Not Found - GET https://registry.npmjs.org/no-such-pkg - Not found"
        );
        let old =
            b"npm ERR! code ETARGET\nnpm ERR! notarget No matching version found for ms@99.\n";
        assert_eq!(
            summary(old, std::process::ExitStatus::from_raw(256)),
            "npm ERR! notarget No matching version found for ms@99."
        );
        assert_eq!(
            summary(b"boom\n\n", std::process::ExitStatus::from_raw(256)),
            "boom"
        );
        assert!(summary(b"", std::process::ExitStatus::from_raw(256)).starts_with("npm exited"));
    }

    #[test]
    fn path_has_the_tools_dirs_first_without_repeats() {
        let path = search_path(
            Path::new("/opt/node/bin/node"),
            Path::new("/opt/node/bin/npm"),
        );
        assert_eq!(
            path.to_string_lossy(),
            "/opt/node/bin:/usr/local/bin:/usr/bin:/bin"
        );
    }
}
