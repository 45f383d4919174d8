//! `cargo xtask dist --features <set>`: the operator for a distribution, built in release mode
//! with the chosen strategies on top of the core S2I one (as the Containerfile's `FEATURES`
//! does), and the list of what it contains.

use std::path::Path;
use std::process::Command;

use anyhow::bail;

use crate::sh;

pub(crate) fn run(root: &Path, features: &str) -> anyhow::Result<()> {
    if features.split(',').any(|f| f.trim().is_empty()) {
        bail!("--features takes a comma-separated list such as 's2i,buildah' or 'community'");
    }
    let mut build = sh::cargo();
    build
        .current_dir(root)
        .args([
            "build",
            "--release",
            "--locked",
            "-p",
            "notebook-validator-operator",
            "-p",
            "nbv-runner",
        ])
        .args([
            "--features",
            &format!(
                "notebook-validator-operator/{}",
                features.replace(',', ",notebook-validator-operator/")
            ),
        ]);
    sh::run(
        build,
        &format!("cargo build --release (features: {features})"),
    )?;
    let binary = root.join("target/release/nbv-operator");
    let mut list = Command::new(&binary);
    list.args(["strategies", "--all"]);
    sh::run(list, &format!("{} strategies --all", binary.display()))?;
    println!(
        "binaries: {} and {}",
        binary.display(),
        root.join("target/release/nbv").display()
    );
    Ok(())
}
