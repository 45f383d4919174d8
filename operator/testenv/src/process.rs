//! Servers run under `nbv-supervise`, so none outlives its owner.

use std::ffi::OsString;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Error;

/// How the servers' lives are tied to the process that started them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// Stopped when the owning process closes their stdin pipe: when the `ControlPlane` is
    /// dropped, or when the owning process ends in any way (the kernel closes the pipe then).
    Owned,
    /// Running on after the owner exits, in a process group of their own, until their
    /// supervisor gets SIGTERM (for `cargo xtask cluster`).
    Detached,
}

/// What a supervised server is, for status reports and clean-up checks.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProcessInfo {
    /// `etcd`, `kube-apiserver` or `kube-controller-manager`.
    pub name: String,
    /// The `nbv-supervise` process.
    pub supervisor_pid: u32,
    /// The server itself, once the supervisor has started it.
    pub server_pid: Option<u32>,
    /// Its combined stdout and stderr.
    pub log: PathBuf,
}

/// One server and its supervisor.
#[derive(Debug)]
pub(crate) struct Supervised {
    pub(crate) name: &'static str,
    child: Child,
    /// Held open for as long as the server should run; closing it stops the server.
    stdin: Option<ChildStdin>,
    pub(crate) log: PathBuf,
    pid_file: PathBuf,
    exit_file: PathBuf,
}

pub(crate) struct Spawn<'a> {
    pub(crate) name: &'static str,
    pub(crate) supervisor: &'a Path,
    pub(crate) program: &'a Path,
    pub(crate) args: Vec<OsString>,
    /// Environment variables set for the server besides the owner's.
    pub(crate) env: Vec<(&'static str, OsString)>,
    /// Where logs, pid and exit files go.
    pub(crate) run_dir: &'a Path,
    /// Removed by the supervisor after the server has stopped.
    pub(crate) cleanup: Option<&'a Path>,
    /// A command the supervisor runs after the server has stopped (program, then arguments).
    pub(crate) after: Vec<OsString>,
    pub(crate) lifetime: Lifetime,
}

impl Spawn<'_> {
    pub(crate) fn start(self) -> Result<Supervised, Error> {
        let log = self.run_dir.join(format!("{}.log", self.name));
        let pid_file = self.run_dir.join(format!("{}.pid", self.name));
        let exit_file = self.run_dir.join(format!("{}.exit", self.name));
        let out = File::create(&log).map_err(|e| Error::io(&log, e))?;
        let err = out.try_clone().map_err(|e| Error::io(&log, e))?;

        let mut cmd = Command::new(self.supervisor);
        cmd.arg("--pid-file")
            .arg(&pid_file)
            .arg("--exit-file")
            .arg(&exit_file);
        if let Some(path) = self.cleanup {
            cmd.arg("--cleanup").arg(path);
        }
        for arg in &self.after {
            cmd.arg("--after").arg(arg);
        }
        match self.lifetime {
            Lifetime::Owned => {
                cmd.stdin(Stdio::piped());
            }
            Lifetime::Detached => {
                cmd.arg("--detached").stdin(Stdio::null()).process_group(0);
            }
        }
        cmd.arg("--")
            .arg(self.program)
            .args(&self.args)
            .envs(self.env)
            .stdout(out)
            .stderr(err);
        let mut child = cmd.spawn().map_err(|e| Error::io(self.supervisor, e))?;
        let stdin = child.stdin.take();
        Ok(Supervised {
            name: self.name,
            child,
            stdin,
            log,
            pid_file,
            exit_file,
        })
    }
}

impl Supervised {
    /// Why the server is no longer running, if it is not.
    pub(crate) fn exited(&mut self) -> Option<String> {
        if let Ok(text) = std::fs::read_to_string(&self.exit_file) {
            return Some(text.trim().to_owned());
        }
        match self.child.try_wait() {
            Ok(Some(status)) => Some(format!("its supervisor exited: {status}")),
            _ => None,
        }
    }

    pub(crate) fn info(&self) -> ProcessInfo {
        ProcessInfo {
            name: self.name.to_owned(),
            supervisor_pid: self.child.id(),
            server_pid: std::fs::read_to_string(&self.pid_file)
                .ok()
                .and_then(|s| s.trim().parse().ok()),
            log: self.log.clone(),
        }
    }

    /// Asks the supervisor to stop the server, without waiting.
    pub(crate) fn request_stop(&mut self) {
        // EOF on its stdin is the supervisor's stop signal.
        self.stdin.take();
    }

    /// Waits for the supervisor to finish stopping the server and cleaning up; kills it (and so,
    /// through the server's parent-death signal, the server) if that takes longer than `limit`.
    pub(crate) fn wait(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => return,
                Ok(None) if Instant::now() >= deadline => {
                    tracing::warn!(
                        name = self.name,
                        "supervisor did not stop in time; killing it"
                    );
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    /// Kills the supervisor at once; the server follows through its parent-death signal.
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub(crate) fn log_tail(&self, lines: usize) -> String {
        tail(&self.log, lines)
    }
}

/// The last `lines` lines of a file, for error messages.
pub(crate) fn tail(path: &Path, lines: usize) -> String {
    let Ok(file) = File::open(path) else {
        return format!("(cannot read {})", path.display());
    };
    let all: Vec<String> = BufReader::new(file).lines().map_while(Result::ok).collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Resident set size of a process in KiB, from `/proc`; `None` if it is gone.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Whether a process is still running: present in `/proc` and not a zombie waiting to be reaped.
pub fn is_running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name, which may itself contain spaces.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}
