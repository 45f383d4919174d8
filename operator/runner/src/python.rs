//! Finding a Python interpreter that has nbclient and ipykernel, or making one.
//!
//! Order: `NBV_PYTHON`; `python3` on PATH if it already has both; else a
//! virtualenv in the cache directory, created once per [`VENV_KEY`] and reused.

use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::dirs::create_dir;
use crate::error::{RunError, infra};

/// Pinned packages of the bootstrap virtualenv.
const PACKAGES: [&str; 2] = ["nbclient==0.11.0", "ipykernel==7.4.0"];
/// Names the virtualenv; change it whenever [`PACKAGES`] changes.
const VENV_KEY: &str = "venv-2-nbclient0.11.0-ipykernel7.4.0";
/// Written last, so a half-built virtualenv is never used.
const READY_MARKER: &str = ".nbv-ready";

/// An interpreter that can run notebooks (nbclient and ipykernel).
#[derive(Debug)]
pub(crate) struct Python {
    pub(crate) exe: PathBuf,
}

/// Returns an interpreter with nbclient and ipykernel, creating the virtualenv if needed.
pub(crate) fn resolve(
    cache_dir: &Path,
    env: &[(OsString, OsString)],
    log: &dyn Fn(&str),
) -> Result<Python, RunError> {
    if let Some(exe) = std::env::var_os("NBV_PYTHON").filter(|p| !p.is_empty()) {
        let exe = PathBuf::from(exe);
        return if has_tools(&exe) {
            Ok(Python { exe })
        } else {
            Err(infra(format!(
                "NBV_PYTHON={} cannot import nbclient and ipykernel; install them there (papermill brings nbclient) or unset NBV_PYTHON",
                exe.display()
            )))
        };
    }
    let system = PathBuf::from("python3");
    if has_tools(&system) {
        return Ok(Python { exe: system });
    }
    bootstrap(cache_dir, env, log)
}

/// Whether `exe` can import nbclient and ipykernel. Found, not imported: importing them takes
/// longer than the rest of a small notebook's run.
fn has_tools(exe: &Path) -> bool {
    const FIND: &str = "import importlib.util as u, sys\nsys.exit(0 if all(u.find_spec(m) for m in ('nbclient', 'ipykernel')) else 1)";
    Command::new(exe)
        .args(["-c", FIND])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn bootstrap(
    cache_dir: &Path,
    env: &[(OsString, OsString)],
    log: &dyn Fn(&str),
) -> Result<Python, RunError> {
    let venv = cache_dir.join(VENV_KEY);
    let exe = venv.join("bin").join("python");
    if venv.join(READY_MARKER).exists() {
        return Ok(Python { exe });
    }
    create_dir(cache_dir)?;
    // Concurrent runs (parallel tests, several shells) build the virtualenv once.
    let lock_path = cache_dir.join(format!("{VENV_KEY}.lock"));
    let lock = File::create(&lock_path)
        .map_err(|e| infra(format!("cannot create {}: {e}", lock_path.display())))?;
    lock.lock()
        .map_err(|e| infra(format!("cannot lock {}: {e}", lock_path.display())))?;
    if venv.join(READY_MARKER).exists() {
        return Ok(Python { exe });
    }
    log(&format!(
        "setting up Python environment in {} (first run only)",
        venv.display()
    ));
    if venv.exists() {
        std::fs::remove_dir_all(&venv)
            .map_err(|e| infra(format!("cannot remove stale {}: {e}", venv.display())))?;
    }
    let mut create = Command::new("python3");
    create.arg("-m").arg("venv").arg(&venv);
    run_checked(
        create,
        "python3 -m venv",
        "install Python 3 with the venv module (e.g. the python3-venv package), or set NBV_PYTHON",
    )?;
    let mut install = Command::new(&exe);
    install
        .args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "--quiet",
        ])
        .args(PACKAGES)
        .envs(env.iter().map(|(k, v)| (k, v)));
    run_checked(
        install,
        "pip install nbclient ipykernel",
        "check network access to the package index, or set NBV_PYTHON",
    )?;
    File::create(venv.join(READY_MARKER))
        .map_err(|e| infra(format!("cannot finish {}: {e}", venv.display())))?;
    Ok(Python { exe })
}

/// Runs a setup command, turning failure into an infrastructure error with its output.
pub(crate) fn run_checked(mut command: Command, what: &str, hint: &str) -> Result<(), RunError> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| infra(format!("{what} could not start: {e}; {hint}")))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail: Vec<&str> = stderr
        .lines()
        .rev()
        .take(15)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    Err(infra(format!(
        "{what} failed ({}); {hint}\n{}",
        output.status,
        tail.join("\n")
    )))
}
