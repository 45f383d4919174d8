//! `cargo xtask controlplane build`: etcd, kube-apiserver, kube-controller-manager, the
//! supervisor, kubectl and helm, and the node's kube-scheduler, kubelet, pause program and image
//! registry, from the Go wrapper modules in `xtask/controlplane`.
//!
//! The result goes to a cache entry outside the work tree, keyed by version. It is built in a
//! temporary directory next to it and renamed into place only when complete, with a stamp
//! recording a hash of the inputs: an interrupted build never looks like a good one, and changed
//! inputs (go.mod, go.sum, the supervisor's source) cause a rebuild.

use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context as _, bail, ensure};
use nbv_testenv::{
    Binaries, ETCD_VERSION, HELM_VERSION, KUBERNETES_VERSION, NODE_EXECUTABLES, REGISTRY_VERSION,
    STAMP_FILE,
};
use sha2::{Digest as _, Sha256};

use super::wrappers_dir;

/// Builds (or finds in the cache) the binaries; returns their directory.
pub(super) fn build(force: bool) -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os(nbv_testenv::BIN_DIR_ENV).filter(|v| !v.is_empty()) {
        let binaries = Binaries::in_dir(Path::new(&dir)).map_err(|reason| {
            anyhow::anyhow!(
                "{}={}: {reason}",
                nbv_testenv::BIN_DIR_ENV,
                Path::new(&dir).display()
            )
        })?;
        eprintln!("using prebuilt binaries from {}", nbv_testenv::BIN_DIR_ENV);
        return Ok(binaries.dir);
    }

    let wrappers = wrappers_dir()?;
    check_pinned_versions(&wrappers)?;
    let go_version = command_output(Command::new("go").arg("version"))
        .context("the Go toolchain is needed to build the control plane (`go` not found)")?;
    let inputs = inputs_hash(&wrappers, &go_version)?;

    let entry = nbv_testenv::versioned_dir()?;
    let cache = entry
        .parent()
        .context("cache entry has no parent")?
        .to_path_buf();
    fs::create_dir_all(&cache).with_context(|| format!("creating {}", cache.display()))?;
    // One build at a time; a second caller waits, then finds the cache filled.
    let lock = File::create(cache.join(".lock")).context("creating the cache lock file")?;
    lock.lock().context("locking the cache")?;

    remove_abandoned_builds(&cache);
    if !force && stamp_matches(&entry, &inputs) {
        eprintln!("control-plane binaries are up to date");
        return Ok(nbv_testenv::bin_dir_of(&entry));
    }

    let tmp = cache.join(format!(".build-{}", std::process::id()));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).with_context(|| format!("removing {}", tmp.display()))?;
    }
    let bin = nbv_testenv::bin_dir_of(&tmp);
    fs::create_dir_all(&bin).with_context(|| format!("creating {}", bin.display()))?;

    let started = Instant::now();
    let result = build_into(&wrappers, &bin);
    if let Err(e) = result {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    verify_versions(&bin)?;
    write_stamp(&tmp, &inputs, &go_version)?;

    // Swap the complete build in; an older entry is moved aside first, as rename cannot replace
    // a non-empty directory.
    if entry.exists() {
        let old = cache.join(format!(".old-{}", std::process::id()));
        fs::rename(&entry, &old).with_context(|| format!("moving {} aside", entry.display()))?;
        fs::remove_dir_all(&old).with_context(|| format!("removing {}", old.display()))?;
    }
    fs::rename(&tmp, &entry).with_context(|| format!("moving the build to {}", entry.display()))?;
    eprintln!("built the control plane in {:.0?}", started.elapsed());
    Ok(nbv_testenv::bin_dir_of(&entry))
}

fn build_into(wrappers: &Path, bin: &Path) -> anyhow::Result<()> {
    let (major, minor) = major_minor(KUBERNETES_VERSION)?;
    // Without these the binaries report v0.0.0, and clients warn about the version skew.
    let k8s_ldflags = [
        "-s -w".to_owned(),
        format!("-X k8s.io/component-base/version.gitVersion={KUBERNETES_VERSION}"),
        format!("-X k8s.io/component-base/version.gitMajor={major}"),
        format!("-X k8s.io/component-base/version.gitMinor={minor}"),
        format!("-X k8s.io/client-go/pkg/version.gitVersion={KUBERNETES_VERSION}"),
        "-X k8s.io/component-base/version.gitTreeState=clean".to_owned(),
    ]
    .join(" ");
    go_build(
        &wrappers.join("kubernetes"),
        bin,
        &k8s_ldflags,
        &[
            "k8s.io/kubernetes/cmd/kube-apiserver",
            "k8s.io/kubernetes/cmd/kube-controller-manager",
            // Not needed by tests; for people using `cargo xtask cluster`.
            "k8s.io/kubernetes/cmd/kubectl",
            // The node.
            "k8s.io/kubernetes/cmd/kube-scheduler",
            "k8s.io/kubernetes/cmd/kubelet",
        ],
    )?;
    // Output files named explicitly: go would name etcd's binary after its module path.
    go_build(
        &wrappers.join("etcd"),
        &bin.join("etcd"),
        "-s -w",
        &["go.etcd.io/etcd/server/v3"],
    )?;
    go_build(
        &wrappers.join("supervisor"),
        &bin.join("nbv-supervise"),
        "-s -w",
        &["."],
    )?;
    // The node's sandbox ("pause") image holds only this.
    go_build(
        &wrappers.join("pause"),
        &bin.join("nbv-pause"),
        "-s -w",
        &["."],
    )?;
    // Git and files for the node's pods, which reach nothing outside the machine.
    go_build(
        &wrappers.join("nodeserve"),
        &bin.join("nbv-node-serve"),
        "-s -w",
        &["."],
    )?;
    // Undoes the node's changes to the host, even when its owner died.
    go_build(
        &wrappers.join("nodedown"),
        &bin.join("nbv-node-down"),
        "-s -w",
        &["."],
    )?;
    // The `kubernetes` Service for pods, which have no kube-proxy.
    go_build(
        &wrappers.join("serviceproxy"),
        &bin.join("nbv-service-proxy"),
        "-s -w",
        &["."],
    )?;
    // The node's image registry: pod builds push to it, the kubelet pulls from it.
    go_build(
        &wrappers.join("registry"),
        &bin.join("nbv-registry"),
        "-s -w",
        &["github.com/distribution/distribution/v3/cmd/registry"],
    )?;
    // For the tests of the operator's chart.
    go_build(
        &wrappers.join("helm"),
        &bin.join("helm"),
        &format!("-s -w -X helm.sh/helm/v3/internal/version.version={HELM_VERSION}"),
        &["helm.sh/helm/v3/cmd/helm"],
    )
}

pub(crate) fn go_build(
    module: &Path,
    out: &Path,
    ldflags: &str,
    packages: &[&str],
) -> anyhow::Result<()> {
    let started = Instant::now();
    eprintln!("go build {} (in {})", packages.join(" "), module.display());
    // A directory output needs a trailing slash to be taken as one.
    let mut out_arg = out.as_os_str().to_owned();
    if out.is_dir() {
        out_arg.push("/");
    }
    let status = Command::new("go")
        .current_dir(module)
        .env("CGO_ENABLED", "0")
        // go.mod and go.sum are complete; never rewrite them during a build.
        .env("GOFLAGS", "-mod=readonly")
        .args(["build", "-trimpath", "-ldflags", ldflags, "-o"])
        .arg(out_arg)
        .args(packages)
        .status()
        .context("running go build")?;
    ensure!(
        status.success(),
        "go build {} failed ({status})",
        packages.join(" ")
    );
    eprintln!("  done in {:.0?}", started.elapsed());
    Ok(())
}

/// The versions nbv-testenv expects must be the ones the wrapper modules build.
fn check_pinned_versions(wrappers: &Path) -> anyhow::Result<()> {
    for (module, dependency, expected) in [
        ("kubernetes", "k8s.io/kubernetes", KUBERNETES_VERSION),
        ("etcd", "go.etcd.io/etcd/server/v3", ETCD_VERSION),
        ("helm", "helm.sh/helm/v3", HELM_VERSION),
        (
            "registry",
            "github.com/distribution/distribution/v3",
            REGISTRY_VERSION,
        ),
    ] {
        let go_mod = wrappers.join(module).join("go.mod");
        let text =
            fs::read_to_string(&go_mod).with_context(|| format!("reading {}", go_mod.display()))?;
        let found = required_version(&text, dependency)
            .with_context(|| format!("{} does not require {dependency}", go_mod.display()))?;
        ensure!(
            found == expected,
            "{} requires {dependency} {found}, but nbv-testenv pins {expected}; \
             run `cargo xtask controlplane gomod` after changing the pin",
            go_mod.display()
        );
    }
    Ok(())
}

/// The version of `dependency` in a go.mod's require directives.
pub(crate) fn required_version<'a>(go_mod: &'a str, dependency: &str) -> Option<&'a str> {
    go_mod.lines().find_map(|line| {
        let line = line.trim().trim_start_matches("require").trim();
        let mut words = line.split_whitespace();
        (words.next() == Some(dependency))
            .then(|| words.next())
            .flatten()
    })
}

fn major_minor(version: &str) -> anyhow::Result<(&str, &str)> {
    let mut parts = version.trim_start_matches('v').split('.');
    match (parts.next(), parts.next()) {
        (Some(major), Some(minor)) => Ok((major, minor)),
        _ => bail!("cannot read major and minor from {version}"),
    }
}

fn inputs_hash(wrappers: &Path, go_version: &str) -> anyhow::Result<String> {
    let mut hasher = Sha256::new();
    hasher.update(go_version.as_bytes());
    for file in [
        "kubernetes/go.mod",
        "kubernetes/go.sum",
        "kubernetes/tools.go",
        "etcd/go.mod",
        "etcd/go.sum",
        "supervisor/go.mod",
        "supervisor/main.go",
        "pause/go.mod",
        "pause/main.go",
        "nodeserve/go.mod",
        "nodeserve/main.go",
        "nodedown/go.mod",
        "nodedown/main.go",
        "serviceproxy/go.mod",
        "serviceproxy/main.go",
        "helm/go.mod",
        "helm/go.sum",
        "helm/tools.go",
        "registry/go.mod",
        "registry/go.sum",
        "registry/tools.go",
    ] {
        let path = wrappers.join(file);
        let bytes = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        hasher.update(file.as_bytes());
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
    Ok(format!("{:x}", hasher.finalize()))
}

fn stamp_matches(entry: &Path, inputs: &str) -> bool {
    let Ok(stamp) = fs::read_to_string(entry.join(STAMP_FILE)) else {
        return false;
    };
    let recorded = stamp.lines().find_map(|l| l.strip_prefix("inputs-sha256 "));
    let bin = nbv_testenv::bin_dir_of(entry);
    recorded == Some(inputs)
        && Binaries::in_dir(&bin).is_ok()
        && bin.join("kubectl").is_file()
        && bin.join("helm").is_file()
        && NODE_EXECUTABLES.iter().all(|name| bin.join(name).is_file())
}

fn write_stamp(entry: &Path, inputs: &str, go_version: &str) -> anyhow::Result<()> {
    let path = entry.join(STAMP_FILE);
    let mut file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    writeln!(file, "kubernetes {KUBERNETES_VERSION}")?;
    writeln!(file, "etcd {ETCD_VERSION}")?;
    writeln!(file, "helm {HELM_VERSION}")?;
    writeln!(file, "go {go_version}")?;
    writeln!(file, "inputs-sha256 {inputs}")?;
    file.sync_all()?;
    Ok(())
}

/// The binaries must report the versions they were built as.
fn verify_versions(bin: &Path) -> anyhow::Result<()> {
    for (name, args) in [
        ("kube-apiserver", &["--version"][..]),
        ("kube-controller-manager", &["--version"]),
        ("kubectl", &["version", "--client"]),
        ("kube-scheduler", &["--version"]),
        ("kubelet", &["--version"]),
    ] {
        let out = command_output(Command::new(bin.join(name)).args(args))?;
        ensure!(
            out.contains(KUBERNETES_VERSION),
            "{name} --version says {out:?}, expected {KUBERNETES_VERSION}"
        );
    }
    let out = command_output(Command::new(bin.join("etcd")).arg("--version"))?;
    ensure!(
        out.contains(ETCD_VERSION.trim_start_matches('v')),
        "etcd --version says {out:?}, expected {ETCD_VERSION}"
    );
    let out = command_output(Command::new(bin.join("helm")).args(["version", "--short"]))?;
    ensure!(
        out.contains(HELM_VERSION),
        "helm version says {out:?}, expected {HELM_VERSION}"
    );
    Ok(())
}

/// Leftovers of builds whose process is gone (killed, machine rebooted).
fn remove_abandoned_builds(cache: &Path) {
    let Ok(entries) = fs::read_dir(cache) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| {
                n.strip_prefix(".build-")
                    .or_else(|| n.strip_prefix(".old-"))
            })
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !nbv_testenv::is_running(pid) || pid == std::process::id() {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

pub(super) fn command_output(cmd: &mut Command) -> anyhow::Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("running {:?}", cmd.get_program()))?;
    ensure!(
        out.status.success(),
        "{:?} failed ({}): {}",
        cmd.get_program(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_required_versions() {
        let go_mod = "module x\n\nrequire k8s.io/kubernetes v1.34.4\n\nrequire (\n\tgo.etcd.io/etcd/server/v3 v3.5.35\n\tfoo v1 // indirect\n)\n";
        assert_eq!(
            required_version(go_mod, "k8s.io/kubernetes"),
            Some("v1.34.4")
        );
        assert_eq!(
            required_version(go_mod, "go.etcd.io/etcd/server/v3"),
            Some("v3.5.35")
        );
        assert_eq!(required_version(go_mod, "bar"), None);
    }

    #[test]
    fn wrapper_modules_match_the_pinned_versions() {
        check_pinned_versions(&wrappers_dir().unwrap()).unwrap();
    }

    #[test]
    fn splits_versions() {
        assert_eq!(major_minor("v1.34.4").unwrap(), ("1", "34"));
        assert!(major_minor("v1").is_err());
    }
}
