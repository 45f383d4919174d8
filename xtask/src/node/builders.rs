//! The pod builders that are Go programs (the Kaniko executor), built by [`crate::gotools`] and
//! packed into an image without a container engine, laid out as its upstream image lays it out.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use anyhow::Context as _;

use super::images::{fresh_dir, hash, image_arg, read, umoci};
use crate::gotools::GoTool;

/// The maintained Kaniko fork the executor is built from (the original project is archived).
pub(crate) const KANIKO_MODULE: &str = "github.com/chainguard-dev/kaniko";
/// Its version; `xtask/gotools/kaniko/go.mod` requires exactly this one.
pub(crate) const KANIKO_VERSION: &str = "v1.25.3";
/// Bumped whenever the image layouts below change in a way the hashed inputs do not show.
const RECIPE: &str = "builders-1";

fn kaniko_tool() -> GoTool {
    GoTool {
        wrapper: "kaniko",
        module: KANIKO_MODULE,
        version: KANIKO_VERSION,
        package: "github.com/chainguard-dev/kaniko/cmd/executor",
        binary: "executor",
        ldflags: format!("-s -w -X {KANIKO_MODULE}/pkg/version.version={KANIKO_VERSION}"),
    }
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
    let executor = crate::gotools::build(root, &kaniko_tool())?;
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
