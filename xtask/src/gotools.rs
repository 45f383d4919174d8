//! Go programs the project builds from the exact version of their module, each in a wrapper
//! module under `xtask/gotools/`, cached by its inputs: the node's builders (the Kaniko
//! executor) and the tools CI runs (promtool).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, ensure};
use sha2::{Digest as _, Sha256};

/// A program built from a wrapper module.
pub(crate) struct GoTool {
    /// The wrapper's directory under `xtask/gotools/`.
    pub(crate) wrapper: &'static str,
    /// The module the program comes from, and the version the wrapper must require.
    pub(crate) module: &'static str,
    pub(crate) version: &'static str,
    /// The main packages; each program is named after its package's last element, as Go
    /// names them.
    pub(crate) packages: Vec<&'static str>,
    pub(crate) ldflags: String,
}

/// promtool, which checks and unit-tests the operator's alerting rules.
pub(crate) fn promtool() -> GoTool {
    const MODULE: &str = "github.com/prometheus/prometheus";
    const VERSION: &str = "v0.307.3";
    GoTool {
        wrapper: "promtool",
        module: MODULE,
        version: VERSION,
        packages: vec!["github.com/prometheus/prometheus/cmd/promtool"],
        ldflags: format!("-s -w -X github.com/prometheus/common/version.Version={VERSION}"),
    }
}

/// The validators of OLM bundles (`operator-verify manifests <dir>` runs the checks
/// `operator-sdk bundle validate` runs).
pub(crate) fn operator_verify() -> GoTool {
    GoTool {
        wrapper: "operator-verify",
        module: "github.com/operator-framework/api",
        version: "v0.34.0",
        packages: vec!["github.com/operator-framework/api/cmd/operator-verify"],
        ldflags: "-s -w".to_owned(),
    }
}

/// Builds `tool`'s programs, or finds them in the cache, and returns their directory:
/// `<cache root>/go-tools/<wrapper>-<inputs>/`.
/// The build goes to a temporary directory renamed into place when complete, so an interrupted
/// build never looks like a good one; builds of earlier inputs are removed.
pub(crate) fn build(root: &Path, tool: &GoTool) -> anyhow::Result<PathBuf> {
    let wrapper = root.join("xtask/gotools").join(tool.wrapper);
    let read = |name: &str| {
        let path = wrapper.join(name);
        fs::read(&path).with_context(|| format!("reading {}", path.display()))
    };
    let go_mod = read("go.mod")?;
    let pinned =
        crate::controlplane::build::required_version(std::str::from_utf8(&go_mod)?, tool.module);
    ensure!(
        pinned == Some(tool.version),
        "xtask/gotools/{}/go.mod requires {} {pinned:?}, not {}",
        tool.wrapper,
        tool.module,
        tool.version
    );
    let go_version = Command::new("go")
        .arg("version")
        .output()
        .context("the Go toolchain is needed to build Go tools (`go` not found)")?
        .stdout;
    let mut hasher = Sha256::new();
    for part in [
        go_version,
        tool.packages.join(" ").into_bytes(),
        tool.ldflags.as_bytes().to_vec(),
        go_mod,
        read("go.sum")?,
        read("tools.go")?,
    ] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(&part);
    }
    let key = format!("{:x}", hasher.finalize());
    let tools = nbv_testenv::cache_root()?.join("go-tools");
    let dir = tools.join(format!("{}-{}", tool.wrapper, &key[..16]));
    let programs = || {
        tool.packages
            .iter()
            .map(|p| p.rsplit('/').next().unwrap_or(p))
    };
    if programs().all(|name| dir.join(name).is_file()) {
        return Ok(dir);
    }
    fs::create_dir_all(&tools).with_context(|| format!("creating {}", tools.display()))?;
    let tmp = tools.join(format!(".{}-{}", tool.wrapper, std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    // One package is built to its name, several into the directory: both name each program
    // after its package.
    let out = match tool.packages.as_slice() {
        [one] => tmp.join(one.rsplit('/').next().unwrap_or(one)),
        _ => tmp.clone(),
    };
    if let Err(e) =
        crate::controlplane::build::go_build(&wrapper, &out, &tool.ldflags, &tool.packages)
    {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    for entry in fs::read_dir(&tools)?.flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(&format!("{}-", tool.wrapper))
        {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
    fs::rename(&tmp, &dir).with_context(|| format!("moving the build to {}", dir.display()))?;
    Ok(dir)
}
