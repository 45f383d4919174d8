//! Runs the real `nbv` binary against real notebooks with a real Python.
//!
//! Python comes from `NBV_PYTHON` if set, else the runner's own bootstrap
//! virtualenv in `NBV_CACHE_DIR` (default: a directory under the cargo target
//! dir, so it is built once and reused). If it cannot be set up, tests fail with
//! the reason.

#![allow(dead_code)] // Each test binary uses part of it.

pub(crate) mod tools;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use nbv_report::Report;

pub(crate) fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/notebooks")
}

pub(crate) fn example(name: &str) -> PathBuf {
    examples().join(name)
}

fn cache_dir() -> PathBuf {
    std::env::var_os("NBV_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("nbv-cache"))
}

pub(crate) fn command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nbv"));
    cmd.env("NBV_CACHE_DIR", cache_dir()).env("NO_COLOR", "1");
    cmd
}

/// Prepares Python once per test binary; panics with the setup output on failure.
pub(crate) fn ensure_python() {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    let ready = READY.get_or_init(|| {
        let out = command()
            .arg("setup")
            .output()
            .map_err(|e| format!("cannot run nbv setup: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "Python environment for the tests could not be prepared ({}):\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    });
    if let Err(reason) = ready {
        panic!("{reason}");
    }
}

/// `nbv validate ARGS --output json`, returning the exit code and parsed report.
pub(crate) fn validate(args: &[&str]) -> (i32, Report, Output) {
    ensure_python();
    let out = command()
        .arg("validate")
        .args(args)
        .args(["--output", "json"])
        .output()
        .expect("nbv runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report = Report::from_json(&stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}); stdout:\n{stdout}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().expect("exit code"), report, out)
}

/// Writes `content` to `dir/name`.
pub(crate) fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).expect("write test file");
    p
}

/// A notebook of `cells` for the kernel `kernel`.
pub(crate) fn notebook(cells: serde_json::Value, kernel: &str) -> String {
    serde_json::json!({
        "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": kernel, "display_name": kernel}},
        "cells": cells
    })
    .to_string()
}

/// A code cell that was never run.
pub(crate) fn code(source: &str) -> serde_json::Value {
    serde_json::json!({"cell_type": "code", "execution_count": null, "metadata": {}, "outputs": [], "source": source})
}

pub(crate) fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}
