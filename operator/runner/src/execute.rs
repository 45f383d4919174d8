//! Running the notebook in a child Python process, through a small nbclient driver
//! (`execute.py`): settings as one JSON argument (user strings never reach a shell), its own
//! process group so a timeout kills the kernel too, its log read for progress, and its journal
//! folded into the executed notebook when it was stopped before writing the notebook itself.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::dirs::write_file;
use crate::error::{RunError, infra, invalid};
use crate::params::Parameters;
use crate::python::Python;

/// Lines of the driver's log kept for error messages.
const TAIL_LINES: usize = 200;
/// Characters kept per log line; cell output can be huge.
const LINE_CHARS: usize = 2000;
/// Time the process group gets between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(3);
/// Time allowed for the log readers to drain after the driver ended.
const READER_GRACE: Duration = Duration::from_secs(5);

/// What to execute and how.
#[derive(Debug)]
pub(crate) struct Execution<'a> {
    pub(crate) python: &'a Python,
    pub(crate) input: &'a Path,
    pub(crate) output: &'a Path,
    pub(crate) cwd: &'a Path,
    pub(crate) parameters: &'a Parameters,
    pub(crate) kernel: Option<&'a str>,
    /// Seconds a cell may run unless its tag `nbv-timeout=SECONDS` says otherwise.
    pub(crate) cell_timeout: u64,
    pub(crate) timeout: Duration,
    /// Execute every cell, past those that raise (nbclient's `allow_errors`).
    pub(crate) continue_on_error: bool,
    pub(crate) env: Vec<(OsString, OsString)>,
}

/// The driver (`python -c DRIVER SETTINGS_JSON`).
const DRIVER: &str = include_str!("execute.py");

/// The driver's exit code when the kernel died (papermill's command line uses the same).
const DEAD_KERNEL: i32 = 138;
/// The driver's exit code when it failed itself, not the notebook.
const DRIVER_FAILED: i32 = 2;

/// How the driver ended.
#[derive(Debug)]
pub(crate) struct Finished {
    /// `None` when it was killed for exceeding the overall timeout.
    pub(crate) status: Option<ExitStatus>,
    /// Last lines of its log.
    pub(crate) log_tail: String,
}

impl Execution<'_> {
    fn command(&self) -> Result<Command, RunError> {
        let path = |p: &Path| {
            p.to_str()
                .map(str::to_owned)
                .ok_or_else(|| invalid(format!("{} is not a UTF-8 path", p.display())))
        };
        let parameters = self
            .parameters
            .json
            .as_deref()
            .map(serde_json::from_str::<serde_json::Value>)
            .transpose()
            .map_err(|e| invalid(format!("parameters are not a JSON object: {e}")))?;
        let settings = serde_json::json!({
            "input": path(self.input)?,
            "output": path(self.output)?,
            "cwd": path(self.cwd)?,
            "cell_timeout": self.cell_timeout,
            "kernel": self.kernel,
            "continue_on_error": self.continue_on_error,
            "pairs": self.parameters.pairs,
            "parameters": parameters,
        });
        let mut cmd = Command::new(&self.python.exe);
        cmd.arg("-c")
            .arg(DRIVER)
            .arg(settings.to_string())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        Ok(cmd)
    }

    /// Runs the notebook; `on_cell` is called with the 1-based cell number (the injected
    /// parameters cell counted) as each cell starts.
    pub(crate) fn run(
        &self,
        on_cell: Arc<dyn Fn(usize) + Send + Sync>,
    ) -> Result<Finished, RunError> {
        let mut child = self.command()?.spawn().map_err(|e| {
            infra(format!(
                "cannot start {} to run the notebook: {e}",
                self.python.exe.display()
            ))
        })?;
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let (done_tx, done_rx) = mpsc::channel();
        let streams: [Option<Box<dyn Read + Send>>; 2] = [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        ];
        let readers = streams.into_iter().flatten().map(|stream| {
            let (tail, on_cell, done) = (Arc::clone(&tail), Arc::clone(&on_cell), done_tx.clone());
            thread::spawn(move || {
                read_log(stream, &tail, on_cell.as_ref());
                let _ = done.send(());
            })
        });
        let readers = readers.count();
        let status = wait_or_kill(&mut child, self.timeout)?;
        // The kernel runs in its own session and may hold the pipes a little longer
        // (it exits once it notices the driver is gone); do not wait for it forever.
        for _ in 0..readers {
            if done_rx.recv_timeout(READER_GRACE).is_err() {
                break;
            }
        }
        fold_journal(self.output)?;
        let log_tail = tail
            .lock()
            .map(|t| t.iter().cloned().collect::<Vec<String>>().join("\n"))
            .unwrap_or_default();
        Ok(Finished { status, log_tail })
    }
}

fn read_log(
    stream: impl Read,
    tail: &Mutex<VecDeque<String>>,
    on_cell: &(dyn Fn(usize) + Send + Sync),
) {
    let mut reader = BufReader::new(stream);
    let mut buf = Vec::new();
    // Byte lines: cell output need not be UTF-8, and one bad line must not stop the reader.
    while reader.read_until(b'\n', &mut buf).is_ok_and(|n| n > 0) {
        let line = String::from_utf8_lossy(&buf);
        let line = line.trim_end();
        if let Some(n) = line
            .strip_prefix("Executing Cell ")
            .and_then(|r| r.split('-').next()?.trim().parse().ok())
        {
            on_cell(n);
        }
        if let Ok(mut t) = tail.lock() {
            if t.len() == TAIL_LINES {
                t.pop_front();
            }
            t.push_back(nbv_report::truncate_chars(line, LINE_CHARS));
        }
        buf.clear();
    }
}

fn wait_or_kill(child: &mut Child, timeout: Duration) -> Result<Option<ExitStatus>, RunError> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|e| infra(format!("waiting for the notebook's driver: {e}")))?
        {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            kill_group(child);
            return Ok(None);
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Terminates the driver and everything it started (the kernel), then reaps it.
fn kill_group(child: &mut Child) {
    let Ok(pid) = i32::try_from(child.id()) else {
        let _ = child.kill();
        let _ = child.wait();
        return;
    };
    let group = Pid::from_raw(pid);
    let _ = killpg(group, Signal::SIGTERM);
    let until = Instant::now() + GRACE;
    while Instant::now() < until {
        if matches!(child.try_wait(), Ok(Some(_))) {
            break;
        }
        thread::sleep(Duration::from_millis(50));
    }
    // The kernel may outlive the driver's exit; the group kill reaches it either way.
    let _ = killpg(group, Signal::SIGKILL);
    let _ = child.wait();
}

/// Folds the driver's journal into the executed notebook. The driver writes the notebook whole
/// only before the first cell and after the last, so a run stopped in between has its cells'
/// states in the journal, one JSON line per change, the latest last.
fn fold_journal(output: &Path) -> Result<(), RunError> {
    let mut journal = output.as_os_str().to_owned();
    journal.push(".journal");
    let journal = PathBuf::from(journal);
    let Ok(lines) = std::fs::read(&journal) else {
        return Ok(());
    };
    let notebook = std::fs::read(output)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok());
    if let Some(mut notebook) = notebook {
        if let Some(cells) = notebook
            .get_mut("cells")
            .and_then(serde_json::Value::as_array_mut)
        {
            // A line cut short by the kill is not complete JSON and is left out.
            for line in lines.split(|b| *b == b'\n') {
                let Ok(mut entry) = serde_json::from_slice::<serde_json::Value>(line) else {
                    continue;
                };
                let index = entry.get("index").and_then(serde_json::Value::as_u64);
                let slot = index
                    .and_then(|i| usize::try_from(i).ok())
                    .and_then(|i| cells.get_mut(i));
                if let (Some(slot), Some(cell)) = (slot, entry.get_mut("cell")) {
                    *slot = cell.take();
                }
            }
        }
        let bytes = serde_json::to_vec(&notebook)
            .map_err(|e| infra(format!("cannot write the executed notebook: {e}")))?;
        write_file(output, bytes)
            .map_err(|e| infra(format!("cannot write {}: {e}", output.display())))?;
    }
    std::fs::remove_file(&journal)
        .map_err(|e| infra(format!("cannot remove {}: {e}", journal.display())))
}

/// Path of the executed notebook inside the work directory.
pub(crate) fn output_path(work_dir: &Path) -> PathBuf {
    work_dir.join("executed.ipynb")
}

impl Finished {
    /// Whether the kernel died (a crash, a signal, out of memory) while a cell ran.
    pub(crate) fn kernel_died(&self) -> bool {
        self.status.and_then(|s| s.code()) == Some(DEAD_KERNEL)
    }

    /// Whether the driver failed on its own (a bug, a broken nbclient): the notebook's cells
    /// say nothing then.
    pub(crate) fn driver_failed(&self) -> bool {
        self.status.and_then(|s| s.code()) == Some(DRIVER_FAILED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_journal_is_folded_into_the_notebook_latest_state_last() {
        let dir = tempfile::tempdir().unwrap();
        let output = output_path(dir.path());
        let pending = serde_json::json!({"cells": [{"source": "a", "state": "pending"}, {"source": "b", "state": "pending"}]});
        std::fs::write(&output, pending.to_string()).unwrap();
        let journal = dir.path().join("executed.ipynb.journal");
        // Cell 0 ran, then cell 1 started; the kill cut the last line short.
        let lines = [
            r#"{"index": 0, "cell": {"source": "a", "state": "running"}}"#,
            r#"{"index": 0, "cell": {"source": "a", "state": "completed"}}"#,
            r#"{"index": 1, "cell": {"source": "b", "state": "running"}}"#,
            r#"{"index": 1, "cell": {"source": "b", "sta"#,
        ];
        std::fs::write(&journal, lines.join("\n")).unwrap();
        fold_journal(&output).unwrap();
        let folded: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&output).unwrap()).unwrap();
        assert_eq!(folded["cells"][0]["state"], "completed");
        assert_eq!(folded["cells"][1]["state"], "running");
        assert!(!journal.exists());
        // Nothing to fold: the notebook stays as the driver wrote it.
        fold_journal(&output).unwrap();
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&std::fs::read(&output).unwrap()).unwrap(),
            folded
        );
    }
}
