//! Installing a notebook's requirements where any UID can write.
//!
//! `pip install --target` puts packages in a directory keyed by the file's hash;
//! the kernel finds them through PYTHONPATH. Nothing is written to the image's
//! site-packages or to HOME, so this works on read-only images and on OpenShift.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

use nbv_report::GeneratedRequirements;
use sha2::{Digest, Sha256};

use crate::dirs::create_dir;
use crate::error::{RunError, infra, invalid};
use crate::python::{Python, run_checked};

const READY_MARKER: &str = ".nbv-ready";

/// The program builds run to list a notebook's requirements from its imports (one copy, in the
/// strategy API).
const FROM_IMPORTS: &str = include_str!("../../../core/src/imports.py");

/// The command that lists `notebook`'s requirements with `python`, `import_names`
/// (`MODULE=DISTRIBUTION`) added to the table of import names. Arguments, never a shell.
pub(crate) fn from_imports_command(
    python: impl AsRef<OsStr>,
    notebook: &Path,
    import_names: &[String],
) -> Command {
    let mut command = Command::new(python);
    command.arg("-c").arg(FROM_IMPORTS);
    for name in import_names {
        command.arg("--name").arg(name);
    }
    command.arg(notebook);
    command
}

/// Writes the requirements of `notebook`'s imports to `out` with `python`, as a build with
/// `fallbackStrategy: auto` does, logs them and returns what was generated.
pub(crate) fn generate(
    python: &Python,
    notebook: &Path,
    import_names: &[String],
    out: &Path,
    env: &[(OsString, OsString)],
    log: &dyn Fn(&str),
) -> Result<GeneratedRequirements, RunError> {
    let mut command = from_imports_command(&python.exe, notebook, import_names);
    command
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("NBV_REQUIREMENTS_OUT", out);
    run_checked(
        command,
        "generating requirements from the notebook's imports",
        "the notebook must be readable JSON",
    )?;
    let generated = read_generated(out)?;
    log(&format!(
        "requirements from the notebook's imports: {}",
        if generated.requirements.is_empty() {
            "none".to_owned()
        } else {
            generated.requirements.join(" ")
        }
    ));
    Ok(generated)
}

/// Reads a requirements file written by the generating program (here or in a build).
pub(crate) fn read_generated(path: &Path) -> Result<GeneratedRequirements, RunError> {
    std::fs::read_to_string(path)
        .map(|text| GeneratedRequirements::parse(&text))
        .map_err(|e| {
            infra(format!(
                "cannot read the generated requirements {}: {e}",
                path.display()
            ))
        })
}

/// Checks `MODULE=DISTRIBUTION` entries of the import-name table.
pub(crate) fn check_import_names(names: &[String]) -> Result<(), RunError> {
    match names.iter().find(|n| {
        n.split_once('=')
            .is_none_or(|(module, dist)| module.is_empty() || dist.is_empty())
    }) {
        Some(bad) => Err(invalid(format!(
            "import name '{bad}' is not MODULE=DISTRIBUTION (e.g. yaml=PyYAML)"
        ))),
        None => Ok(()),
    }
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
