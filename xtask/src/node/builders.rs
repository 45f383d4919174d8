//! The pod builders that are Go programs (the Kaniko executor): each is built from the exact
//! version of its module in a wrapper module under `xtask/builders/`, cached by its inputs, and
//! packed into an image without a container engine, laid out as its upstream image lays it out.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context as _;

use super::images::{fresh_dir, hash, image_arg, read, umoci};

/// The maintained Kaniko fork the executor is built from (the original project is archived).
pub(crate) const KANIKO_MODULE: &str = "github.com/chainguard-dev/kaniko";
/// Its version; `xtask/builders/kaniko/go.mod` requires exactly this one.
pub(crate) const KANIKO_VERSION: &str = "v1.25.3";
/// Bumped whenever the image layouts below change in a way the hashed inputs do not show.
const RECIPE: &str = "builders-1";

/// A program built from a wrapper module.
struct GoTool {
    /// The wrapper's directory under `xtask/builders/`.
    wrapper: &'static str,
    /// The main package.
    package: &'static str,
    /// The output's file name.
    binary: &'static str,
    ldflags: String,
}

fn kaniko_tool() -> GoTool {
    GoTool {
        wrapper: "kaniko",
        package: "github.com/chainguard-dev/kaniko/cmd/executor",
        binary: "executor",
        ldflags: format!("-s -w -X {KANIKO_MODULE}/pkg/version.version={KANIKO_VERSION}"),
    }
}

/// Builds `tool`, or finds it in the cache: `<cache root>/go-tools/<binary>-<inputs>/<binary>`.
/// The build goes to a temporary directory renamed into place when complete, so an interrupted
/// build never looks like a good one.
fn build_tool(root: &Path, tool: &GoTool) -> anyhow::Result<PathBuf> {
    let wrapper = root.join("xtask/builders").join(tool.wrapper);
    let go_version = Command::new("go")
        .arg("version")
        .output()
        .context("the Go toolchain is needed to build the node's builders (`go` not found)")?
        .stdout;
    let mut inputs = vec![
        go_version,
        tool.package.as_bytes().to_vec(),
        tool.ldflags.as_bytes().to_vec(),
    ];
    for file in ["go.mod", "go.sum", "tools.go"] {
        inputs.push(read(&wrapper.join(file))?);
    }
    let key = hash(&inputs.iter().map(Vec::as_slice).collect::<Vec<_>>());
    let tools = nbv_testenv::cache_root()?.join("go-tools");
    let dir = tools.join(format!("{}-{key}", tool.wrapper));
    let out = dir.join(tool.binary);
    if out.is_file() {
        return Ok(out);
    }
    fs::create_dir_all(&tools).with_context(|| format!("creating {}", tools.display()))?;
    let tmp = tools.join(format!(".{}-{}", tool.wrapper, std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    if let Err(e) = crate::controlplane::build::go_build(
        &wrapper,
        &tmp.join(tool.binary),
        &tool.ldflags,
        &[tool.package],
    ) {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    // Builds of earlier inputs go.
    for entry in fs::read_dir(&tools)?.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(&format!("{}-", tool.wrapper)) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
    fs::rename(&tmp, &dir).with_context(|| format!("moving the build to {}", dir.display()))?;
    Ok(out)
}

/// The Kaniko executor's image, made when the layout lacks it; returns its key. It holds only
/// `/kaniko`, as upstream's image does: Kaniko unpacks the base image over `/` and runs the
/// Dockerfile's steps there, skipping `/kaniko`. `trusted` is the CA bundle with the node's CA,
/// which `SSL_CERT_DIR` names, so the executor trusts the node's registry whatever the base
/// image puts in `/etc/ssl`.
pub(super) fn kaniko(
    root: &Path,
    cache: &Path,
    layout: &Path,
    has: impl Fn(&str) -> bool,
    trusted: &[u8],
) -> anyhow::Result<String> {
    let go_mod = read(&root.join("xtask/builders/kaniko/go.mod"))?;
    let pinned =
        crate::controlplane::build::required_version(std::str::from_utf8(&go_mod)?, KANIKO_MODULE);
    anyhow::ensure!(
        pinned == Some(KANIKO_VERSION),
        "xtask/builders/kaniko/go.mod requires {KANIKO_MODULE} {pinned:?}, not {KANIKO_VERSION}"
    );
    let executor = build_tool(root, &kaniko_tool())?;
    let key = hash(&[RECIPE.as_bytes(), &read(&executor)?, trusted]);
    let tag = format!("kaniko-{key}");
    if has(&tag) {
        return Ok(key);
    }
    let staging = fresh_dir(cache, "kaniko-layer")?;
    let kaniko = staging.join("kaniko");
    fs::create_dir_all(kaniko.join("ssl/certs"))?;
    fs::create_dir_all(kaniko.join(".docker"))?;
    fs::create_dir_all(staging.join("etc"))?;
    fs::create_dir_all(staging.join("workspace"))?;
    fs::copy(&executor, kaniko.join("executor")).context("copying the executor")?;
    fs::write(kaniko.join("ssl/certs/ca-certificates.crt"), trusted)?;
    // Go's resolver reads it to prefer /etc/hosts, as upstream's image sets it.
    fs::write(staging.join("etc/nsswitch.conf"), "hosts: files dns\n")?;
    // Writable by any user, as upstream's, for builds that do not run as root.
    fs::set_permissions(&kaniko, fs::Permissions::from_mode(0o777))?;
    let image = image_arg(layout, &tag);
    umoci(&["new", "--image"], &[&image])?;
    umoci(
        &["insert", "--image"],
        &[&image, staging.as_os_str(), OsStr::new("/")],
    )?;
    umoci(
        &[
            "config",
            "--config.user",
            "0:0",
            "--config.entrypoint",
            "/kaniko/executor",
            "--config.workingdir",
            "/workspace",
            "--config.env",
            "HOME=/root",
            "--config.env",
            "USER=root",
            "--config.env",
            "PATH=/usr/local/bin:/kaniko",
            "--config.env",
            "SSL_CERT_DIR=/kaniko/ssl/certs",
            "--config.env",
            "DOCKER_CONFIG=/kaniko/.docker/",
            "--image",
        ],
        &[&image],
    )?;
    fs::remove_dir_all(&staging).with_context(|| format!("removing {}", staging.display()))?;
    Ok(key)
}
