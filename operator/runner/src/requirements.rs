//! Installing a notebook's requirements where any UID can write.
//!
//! `pip install --target` puts packages in a directory keyed by the file's hash;
//! the kernel finds them through PYTHONPATH. Nothing is written to the image's
//! site-packages or to HOME, so this works on read-only images and on OpenShift.

use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::dirs::create_dir;
use crate::error::{RunError, infra, invalid};
use crate::python::{Python, run_checked};

const READY_MARKER: &str = ".nbv-ready";

/// The program builds run to list a notebook's requirements from its imports (one copy, in the
/// strategy API).
pub(crate) const FROM_IMPORTS: &str = include_str!("../../../core/src/imports.py");

/// Writes the requirements of `notebook`'s imports to `out` with `python`, as a build with
/// `fallbackStrategy: auto` does, and logs them.
pub(crate) fn generate(
    python: &Python,
    notebook: &Path,
    out: &Path,
    env: &[(OsString, OsString)],
    log: &dyn Fn(&str),
) -> Result<(), RunError> {
    let mut command = Command::new(&python.exe);
    command
        .arg("-c")
        .arg(FROM_IMPORTS)
        .arg(notebook)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("NBV_REQUIREMENTS_OUT", out);
    run_checked(
        command,
        "generating requirements from the notebook's imports",
        "the notebook must be readable JSON",
    )?;
    let listed = std::fs::read_to_string(out).unwrap_or_default();
    log(&format!(
        "requirements from the notebook's imports: {}",
        if listed.trim().is_empty() {
            "none".to_owned()
        } else {
            listed.lines().collect::<Vec<_>>().join(" ")
        }
    ));
    Ok(())
}

/// Installs `requirements` (once per content) and returns the directory to put on PYTHONPATH.
pub(crate) fn install(
    python: &Python,
    requirements: &Path,
    cache_dir: &Path,
    env: &[(OsString, OsString)],
    log: &dyn Fn(&str),
) -> Result<PathBuf, RunError> {
    let content = std::fs::read(requirements).map_err(|e| {
        invalid(format!(
            "cannot read requirements file {}: {e}",
            requirements.display()
        ))
    })?;
    let digest = Sha256::digest(&content);
    let key: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let target = cache_dir.join(format!("requirements-{key}"));
    if target.join(READY_MARKER).exists() {
        return Ok(target);
    }
    create_dir(cache_dir)?;
    let lock_path = cache_dir.join(format!("requirements-{key}.lock"));
    let lock = File::create(&lock_path)
        .map_err(|e| infra(format!("cannot create {}: {e}", lock_path.display())))?;
    lock.lock()
        .map_err(|e| infra(format!("cannot lock {}: {e}", lock_path.display())))?;
    if target.join(READY_MARKER).exists() {
        return Ok(target);
    }
    if target.exists() {
        std::fs::remove_dir_all(&target)
            .map_err(|e| infra(format!("cannot remove stale {}: {e}", target.display())))?;
    }
    log(&format!("installing {}", requirements.display()));
    let mut pip = Command::new(&python.exe);
    pip.args([
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "--quiet",
        "--no-warn-script-location",
        "--target",
    ])
    .arg(&target)
    .arg("--requirement")
    .arg(requirements)
    .envs(env.iter().map(|(k, v)| (k, v)));
    run_checked(
        pip,
        &format!("installing requirements from {}", requirements.display()),
        "check the requirements file and network access to the package index",
    )?;
    File::create(target.join(READY_MARKER))
        .map_err(|e| infra(format!("cannot finish {}: {e}", target.display())))?;
    Ok(target)
}
