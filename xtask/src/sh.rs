//! Running commands with their output shown, failing with the command line.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};

/// The workspace root (xtask lives one level below it).
pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// A `cargo` command, the same cargo that runs xtask.
pub(crate) fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Runs `cargo ARGS` in `root`, streaming its output, and times it.
pub(crate) fn cargo_step(root: &Path, args: &[&str]) -> anyhow::Result<()> {
    let mut command = cargo();
    command.current_dir(root).args(args);
    run(command, &format!("cargo {}", args.join(" ")))
}

/// Runs `cargo ARGS` in `root` and returns its standard output.
pub(crate) fn cargo_output(root: &Path, args: &[&str]) -> anyhow::Result<String> {
    let output = cargo()
        .current_dir(root)
        .args(args)
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("running cargo {}", args.join(" ")))?;
    if !output.status.success() {
        bail!("cargo {} failed with {}", args.join(" "), output.status);
    }
    Ok(String::from_utf8(output.stdout)?)
}

/// Runs `command`, streaming its output; fails naming `label` when it fails.
pub(crate) fn run(mut command: Command, label: &str) -> anyhow::Result<()> {
    println!("==> {label}");
    let started = Instant::now();
    let status = command
        .status()
        .with_context(|| format!("starting {label}"))?;
    println!("<== {label} ({:.0?})", started.elapsed());
    if !status.success() {
        bail!("{label} failed with {status}");
    }
    Ok(())
}

/// Whether `program` is on the PATH.
pub(crate) fn on_path(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
