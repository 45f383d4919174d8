//! Generated files: written from the Rust types, checked fresh in CI.

use std::path::Path;

use anyhow::{Context, bail};

use crate::sh;

/// A generated file: where it lives and the command whose output it is.
struct Generated {
    path: &'static str,
    command: &'static [&'static str],
}

const GENERATED: &[Generated] = &[Generated {
    path: "deploy/crds/notebookvalidationjobs.mlops.redhat.com.yaml",
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
    crate::manifests::run(root, None, check)
}
