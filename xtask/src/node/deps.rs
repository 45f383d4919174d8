//! The node's programs come from the distribution's packages.

use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, ensure};

/// Debian package → a file it installs, to tell whether it is there.
const PACKAGES: [(&str, &str); 6] = [
    ("containerd", "/usr/bin/containerd"),
    ("runc", "/usr/sbin/runc"),
    ("containernetworking-plugins", "/usr/lib/cni/bridge"),
    ("iptables", "/usr/sbin/iptables"),
    ("umoci", "/usr/bin/umoci"),
    ("debootstrap", "/usr/sbin/debootstrap"),
];

/// Installs the missing packages with apt-get (needs root).
pub(crate) fn install() -> anyhow::Result<()> {
    let missing: Vec<&str> = PACKAGES
        .iter()
        .filter(|(_, file)| !Path::new(file).exists())
        .map(|(package, _)| *package)
        .collect();
    if missing.is_empty() {
        eprintln!("node packages are installed");
        return Ok(());
    }
    eprintln!("installing {}", missing.join(" "));
    let apt = |args: &[&str]| -> anyhow::Result<()> {
        let status = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .context("running apt-get (the node's packages come from the distribution)")?;
        ensure!(
            status.success(),
            "apt-get {} failed ({status})",
            args.join(" ")
        );
        Ok(())
    };
    apt(&["update", "-qq"])?;
    let mut args = vec!["install", "-y", "-qq", "--no-install-recommends"];
    args.extend(&missing);
    apt(&args)
}
