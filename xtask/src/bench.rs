//! `cargo xtask bench`: the scale benchmark (`xtask/bench`), built in release mode with the
//! chosen operator features, against a real control plane. It reports figures; CI does not run it.

use std::path::Path;
use std::process::Command;

use anyhow::bail;

use crate::sh;

pub(crate) fn run(
    root: &Path,
    features: &str,
    jobs: &str,
    out: &Path,
    options: &[String],
) -> anyhow::Result<()> {
    if features.split(',').any(|f| f.trim().is_empty()) {
        bail!("--features takes a comma-separated list such as 's2i,buildah' or 'community'");
    }
    let out = root.join(out);
    let mut command = format!("cargo xtask bench --features {features} --jobs {jobs}");
    if !options.is_empty() {
        command = format!("{command} -- {}", options.join(" "));
    }
    let mut bench = nbv_bench(root);
    bench
        .arg("--features")
        .arg(format!(
            "notebook-validator-operator/{}",
            features.replace(',', ",notebook-validator-operator/")
        ))
        .args([
            "--",
            "run",
            "--features",
            features,
            "--jobs",
            jobs,
            "--command",
            &command,
        ])
        .arg("--out")
        .arg(&out)
        .args(options);
    sh::run(bench, &command)
}

/// `cargo xtask bench-node`: the node benchmark of `nbv-bench`, after the node's images.
pub(crate) fn node(root: &Path, runs: usize, concurrency: &str) -> anyhow::Result<()> {
    crate::node::build_images(root, false, &[])?;
    let command = format!("cargo xtask bench-node --runs {runs} --concurrency {concurrency}");
    let mut bench = nbv_bench(root);
    bench
        .args(["--", "node"])
        .arg(format!("--runs={runs}"))
        .arg(format!("--concurrency={concurrency}"))
        .arg(format!("--command={command}"))
        .arg("--out")
        .arg(root.join("docs/benchmarks"));
    sh::run(bench, &command)
}

/// `cargo xtask bench-build-cache`: the build-cache benchmark of `nbv-bench`, after the node's
/// images, with the pod builders' strategies compiled in.
pub(crate) fn build_cache(root: &Path, builders: &str) -> anyhow::Result<()> {
    crate::node::build_images(root, false, &[])?;
    let command = format!("cargo xtask bench-build-cache --builders {builders}");
    let features: Vec<String> = builders
        .split(',')
        .map(|b| format!("notebook-validator-operator/{}", b.trim()))
        .collect();
    let mut bench = nbv_bench(root);
    bench
        .arg("--features")
        .arg(features.join(","))
        .args(["--", "build-cache"])
        .arg(format!("--builders={builders}"))
        .arg(format!("--command={command}"))
        .arg("--out")
        .arg(root.join("docs/benchmarks"));
    sh::run(bench, &command)
}

/// `cargo run --release --locked -p nbv-bench` in `root`; the caller adds features and arguments.
fn nbv_bench(root: &Path) -> Command {
    let mut cargo = sh::cargo();
    cargo
        .current_dir(root)
        .args(["run", "--release", "--locked", "-p", "nbv-bench"]);
    cargo
}
