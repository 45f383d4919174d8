//! Generated files: written from the Rust types and from tests' own cases, checked fresh in CI.
//! One command writes them all (`cargo xtask codegen`) and `--check` fails on a stale one.

use std::path::Path;

use anyhow::{Context, bail};

use crate::sh;

/// A generated file: where it lives and the command whose output it is.
struct Generated {
    path: &'static str,
    command: &'static [&'static str],
}

const GENERATED: &[Generated] = &[Generated {
    path: "deploy/crds/mlops.redhat.com.yaml",
    command: &[
        "run",
        "--quiet",
        "-p",
        "notebook-validator-operator",
        "--",
        "crd",
    ],
}];

/// Writes every generated file, or with `check` fails when one differs from what is generated.
pub(crate) fn run(root: &Path, check: bool) -> anyhow::Result<()> {
    let mut stale = Vec::new();
    for file in GENERATED {
        let fresh = sh::cargo_output(root, file.command)?;
        let path = root.join(file.path);
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current == fresh {
            continue;
        }
        if check {
            stale.push(file.path);
        } else {
            std::fs::create_dir_all(path.parent().context("generated file has a parent")?)?;
            std::fs::write(&path, fresh).with_context(|| format!("writing {}", path.display()))?;
            println!("wrote {}", file.path);
        }
    }
    if !stale.is_empty() {
        bail!(
            "generated files are stale: {}; run `cargo xtask codegen`",
            stale.join(", ")
        );
    }
    // The deployment manifests embed the CRD and the strategies' RBAC rules.
    crate::manifests::run(root, None, check)?;
    docs(root, check)
}

/// The test binaries that write documentation from their cases (parity matrix, auto order,
/// hostile-input tables, result schema, the README's status example): each checks its files,
/// and writes them with `NBV_UPDATE_DOCS` set.
const DOC_TESTS: &[&[&str]] = &[
    &[
        "-p",
        "notebook-validator-operator",
        "--features",
        "community",
        "--test",
        "generated",
    ],
    &[
        "-p",
        "notebook-validator-operator",
        "--test",
        "hostile_input",
    ],
    &["-p", "nbv-report", "--test", "schema_docs"],
    &[
        "-p",
        "notebook-validator-operator",
        "--test",
        "control_plane",
        "invalid_notebook_validation_jobs",
    ],
    &[
        "-p",
        "notebook-validator-operator",
        "--test",
        "control_plane",
        "invalid_suites",
    ],
    &[
        "-p",
        "notebook-validator-operator",
        "--test",
        "reconcile",
        "an_s2i_build",
    ],
];

fn docs(root: &Path, check: bool) -> anyhow::Result<()> {
    // Three of them run on the real control plane.
    let bin_dir = crate::controlplane::binaries_dir()?;
    let mut stale = Vec::new();
    for args in DOC_TESTS {
        let mut command = sh::cargo();
        command
            .current_dir(root)
            .args(["test", "--locked"])
            .args(*args)
            .env("NBV_CONTROLPLANE_BIN_DIR", &bin_dir)
            .env("INSTA_UPDATE", "no");
        if !check {
            command.env("NBV_UPDATE_DOCS", "1");
        }
        let what = format!("cargo test {}", args.join(" "));
        if let Err(e) = sh::run(command, &what) {
            if !check {
                return Err(e);
            }
            stale.push(what);
        }
    }
    if !stale.is_empty() {
        bail!(
            "generated documentation is stale (or its test fails): {}; run `cargo xtask codegen`",
            stale.join(", ")
        );
    }
    Ok(())
}
