//! The node's builder images that are made from programs built here rather than from Debian's
//! packages: the Kaniko executor, BuildKit and s2i (built by [`crate::gotools`]), the S2I
//! Python builder image, and the programs of Tekton's and Shipwright's pods. Each is packed without a container engine, as one layer over an empty image
//! or over another image of the layout.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::{PermissionsExt as _, chown};
use std::path::Path;

use anyhow::Context as _;

use super::images::{export, fresh_dir, hash, image_arg, read, umoci};
use crate::gotools::GoTool;

/// The maintained Kaniko fork the executor is built from (the original project is archived).
pub(crate) const KANIKO_MODULE: &str = "github.com/chainguard-dev/kaniko";
/// Its version; `xtask/gotools/kaniko/go.mod` requires exactly this one.
pub(crate) const KANIKO_VERSION: &str = "v1.25.3";
/// BuildKit, whose daemon and client the BuildKit strategy's build pod runs.
pub(crate) const BUILDKIT_MODULE: &str = "github.com/moby/buildkit";
/// Its version; `xtask/gotools/buildkit/go.mod` requires exactly this one.
pub(crate) const BUILDKIT_VERSION: &str = "v0.34.2";
/// The script upstream's images run builds with: it starts `buildkitd` for one `buildctl` call.
const BUILDKIT_DAEMONLESS: &str = "examples/buildctl-daemonless/buildctl-daemonless.sh";
/// The library OpenShift's builder turns source into images with, and its CLI.
pub(crate) const S2I_MODULE: &str = "github.com/openshift/source-to-image";
/// Its version; `xtask/gotools/s2i/go.mod` requires exactly this one.
pub(crate) const S2I_VERSION: &str = "v1.5.0";
/// Tekton Pipelines, whose controller the node runs as a host program.
pub(crate) const TEKTON_MODULE: &str = "github.com/tektoncd/pipeline";
/// Its version; `xtask/gotools/tekton/go.mod` requires exactly this one.
pub(crate) const TEKTON_VERSION: &str = "v1.6.0";
/// Rancher's local-path provisioner, which gives a PipelineRun's workspace claims volumes on
/// this machine's disk.
pub(crate) const LOCAL_PATH_MODULE: &str = "github.com/rancher/local-path-provisioner";
/// Its version; `xtask/gotools/local-path/go.mod` requires exactly this one.
pub(crate) const LOCAL_PATH_VERSION: &str = "v0.0.30";
/// Shipwright Build, whose controller the node runs as a host program over Tekton.
pub(crate) const SHIPWRIGHT_MODULE: &str = "github.com/shipwright-io/build";
/// Its version; `xtask/gotools/shipwright/go.mod` requires exactly this one.
pub(crate) const SHIPWRIGHT_VERSION: &str = "v0.17.0";
/// The programs Shipwright's build pods run, which its step templates expect in `/ko-app`.
const SHIPWRIGHT_POD_PROGRAMS: [&str; 4] = ["bundle", "git", "image-processing", "waiter"];
/// The release's sample strategy the node installs (`nbv_testenv::shipwright`).
const SHIPWRIGHT_BUILDAH_STRATEGY: &str =
    "samples/v1beta1/buildstrategy/buildah/buildstrategy_buildah_shipwright_managed_push_cr.yaml";
/// The programs Tekton's TaskRun pods run, which its controller expects in `/ko-app`.
const TEKTON_POD_PROGRAMS: [&str; 4] = ["entrypoint", "nop", "sidecarlogresults", "workingdirinit"];
/// Bumped whenever the image layouts below change in a way the hashed inputs do not show.
const RECIPE: &str = "builders-2";
/// The user S2I builder images run `assemble` as, and the one s2i's Dockerfile names.
const S2I_USER: u32 = 1001;

fn kaniko_tool() -> GoTool {
    GoTool {
        wrapper: "kaniko",
        module: KANIKO_MODULE,
        version: KANIKO_VERSION,
        packages: vec!["github.com/chainguard-dev/kaniko/cmd/executor"],
        ldflags: format!("-s -w -X {KANIKO_MODULE}/pkg/version.version={KANIKO_VERSION}"),
    }
}

fn buildkit_tool() -> GoTool {
    GoTool {
        wrapper: "buildkit",
        module: BUILDKIT_MODULE,
        version: BUILDKIT_VERSION,
        packages: vec![
            "github.com/moby/buildkit/cmd/buildkitd",
            "github.com/moby/buildkit/cmd/buildctl",
        ],
        ldflags: format!("-s -w -X {BUILDKIT_MODULE}/version.Version={BUILDKIT_VERSION}"),
    }
}

fn s2i_tool() -> GoTool {
    GoTool {
        wrapper: "s2i",
        module: S2I_MODULE,
        version: S2I_VERSION,
        packages: vec!["github.com/openshift/source-to-image/cmd/s2i"],
        ldflags: format!("-s -w -X {S2I_MODULE}/pkg/version.versionFromGit={S2I_VERSION}"),
    }
}

fn tekton_tool() -> GoTool {
    let mut packages = vec!["github.com/tektoncd/pipeline/cmd/controller"];
    packages.extend([
        "github.com/tektoncd/pipeline/cmd/entrypoint",
        "github.com/tektoncd/pipeline/cmd/nop",
        "github.com/tektoncd/pipeline/cmd/sidecarlogresults",
        "github.com/tektoncd/pipeline/cmd/workingdirinit",
    ]);
    GoTool {
        wrapper: "tekton",
        module: TEKTON_MODULE,
        version: TEKTON_VERSION,
        packages,
        // The release label Tekton puts on the pods it makes.
        ldflags: format!("-s -w -X knative.dev/pkg/changeset.rev={TEKTON_VERSION}"),
    }
}

fn local_path_tool() -> GoTool {
    GoTool {
        wrapper: "local-path",
        module: LOCAL_PATH_MODULE,
        version: LOCAL_PATH_VERSION,
        packages: vec![LOCAL_PATH_MODULE],
        ldflags: format!("-s -w -X main.VERSION={LOCAL_PATH_VERSION}"),
    }
}

fn shipwright_tool() -> GoTool {
    let mut packages = vec!["github.com/shipwright-io/build/cmd/shipwright-build-controller"];
    packages.extend([
        "github.com/shipwright-io/build/cmd/bundle",
        "github.com/shipwright-io/build/cmd/git",
        "github.com/shipwright-io/build/cmd/image-processing",
        "github.com/shipwright-io/build/cmd/waiter",
    ]);
    GoTool {
        wrapper: "shipwright",
        module: SHIPWRIGHT_MODULE,
        version: SHIPWRIGHT_VERSION,
        packages,
        // The controller takes its version from a flag (`nbv_testenv::shipwright`).
        ldflags: "-s -w".to_owned(),
    }
}

/// Makes `tag` from one layer, the content of `staging`, over `from` (an empty image when
/// None), then sets `config` (umoci `--config.*` arguments) and removes `staging`. A tag left
/// half-made by a failure is removed, so that the next run makes it again.
fn layered(
    layout: &Path,
    from: Option<&str>,
    tag: &str,
    staging: &Path,
    config: &[&str],
) -> anyhow::Result<()> {
    let image = image_arg(layout, tag);
    // The layer's root stands for the image's `/`.
    fs::set_permissions(staging, fs::Permissions::from_mode(0o755))?;
    let insert = [staging.as_os_str(), OsStr::new("/")];
    let made = match from {
        None => umoci(&["new", "--image"], &[&image])
            .and_then(|()| umoci(&["insert", "--image"], &[&image, insert[0], insert[1]])),
        // The new tag appears only once the layer is in.
        Some(base) => umoci(
            &["insert", "--tag", tag, "--image"],
            &[&image_arg(layout, base), insert[0], insert[1]],
        ),
    }
    .and_then(|()| {
        if config.is_empty() {
            return Ok(());
        }
        let mut args = vec!["config"];
        args.extend_from_slice(config);
        args.push("--image");
        umoci(&args, &[&image])
    });
    if made.is_err() {
        let _ = umoci(&["rm", "--image"], &[&image]);
    }
    made?;
    fs::remove_dir_all(staging).with_context(|| format!("removing {}", staging.display()))
}

/// Creates `relative` below `staging`, each directory made here `0755` whatever the umask, as
/// the image's own directories are.
fn image_dirs(staging: &Path, relative: &str) -> anyhow::Result<std::path::PathBuf> {
    let mut dir = staging.to_path_buf();
    for part in relative.split('/').filter(|p| !p.is_empty()) {
        dir.push(part);
        if !dir.is_dir() {
            fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))?;
        }
    }
    Ok(dir)
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
    let executor = crate::gotools::build(root, &kaniko_tool())?.join("executor");
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
    layered(
        layout,
        None,
        &tag,
        &staging,
        &[
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
        ],
    )?;
    Ok(key)
}

/// BuildKit's image: the Buildah image (`buildah`, a tag of the layout, which holds runc and
/// the CA bundle with the node's CA) with `buildkitd`, `buildctl` and upstream's
/// `buildctl-daemonless.sh` in `/usr/local/bin`, as upstream's images carry them. Returns its
/// key.
pub(super) fn buildkit(
    root: &Path,
    cache: &Path,
    layout: &Path,
    has: impl Fn(&str) -> bool,
    buildah: &str,
) -> anyhow::Result<String> {
    let built = crate::gotools::build(root, &buildkit_tool())?;
    let daemonless = module_dir(root, "buildkit", BUILDKIT_MODULE)?.join(BUILDKIT_DAEMONLESS);
    let programs = [
        ("buildkitd", built.join("buildkitd")),
        ("buildctl", built.join("buildctl")),
        ("buildctl-daemonless.sh", daemonless),
    ];
    over_buildah(cache, layout, has, buildah, "buildkit", &programs)
}

/// The OpenShift build executor's builder image: the Buildah image (`buildah`, a tag of the
/// layout) with `s2i` in `/usr/local/bin`, as OpenShift's builder image carries both Buildah
/// and the s2i library. Returns its key.
pub(super) fn openshift_builder(
    root: &Path,
    cache: &Path,
    layout: &Path,
    has: impl Fn(&str) -> bool,
    buildah: &str,
) -> anyhow::Result<String> {
    let s2i = crate::gotools::build(root, &s2i_tool())?.join("s2i");
    over_buildah(
        cache,
        layout,
        has,
        buildah,
        "openshift-builder",
        &[("s2i", s2i)],
    )
}

/// Image `name`: the Buildah image (`buildah`, a tag of the layout) with `programs` (name in
/// the image, file here) in `/usr/local/bin`. Returns its key, a hash of the Buildah image and
/// the programs.
fn over_buildah(
    cache: &Path,
    layout: &Path,
    has: impl Fn(&str) -> bool,
    buildah: &str,
    name: &str,
    programs: &[(&str, std::path::PathBuf)],
) -> anyhow::Result<String> {
    let mut inputs = vec![RECIPE.as_bytes().to_vec(), buildah.as_bytes().to_vec()];
    for (_, path) in programs {
        inputs.push(read(path)?);
    }
    let key = hash(&inputs.iter().map(Vec::as_slice).collect::<Vec<_>>());
    let tag = format!("{name}-{key}");
    if has(&tag) {
        return Ok(key);
    }
    let staging = fresh_dir(cache, &format!("{name}-layer"))?;
    let bin = image_dirs(&staging, "usr/local/bin")?;
    for (program, path) in programs {
        fs::copy(path, bin.join(program)).with_context(|| format!("copying {program}"))?;
        fs::set_permissions(bin.join(program), fs::Permissions::from_mode(0o755))?;
    }
    layered(layout, Some(buildah), &tag, &staging, &[])?;
    Ok(key)
}

/// What an S2I builder image's `assemble` does, as the S2I Python builder does it: the source
/// (which s2i's Dockerfile copies to `/tmp/src`) goes to the working directory, and
/// `requirements.txt` at its root is installed.
const ASSEMBLE: &str = r#"#!/bin/sh
set -eu
echo "---> Installing application source ..."
cp -Rf /tmp/src/. ./
rm -rf /tmp/src
if [ -f requirements.txt ]; then
  echo "---> Installing dependencies ..."
  python3 -m pip install --no-cache-dir --disable-pip-version-check -r requirements.txt
fi
"#;
const RUN: &str = r#"#!/bin/sh
exec python3 "${APP_FILE:-app.py}"
"#;
const USAGE: &str = r#"#!/bin/sh
echo "An S2I Python builder: installs requirements.txt from the source's root; runs \$APP_FILE (app.py)."
"#;
/// Where S2I builder images keep their scripts, and the label that says so.
const SCRIPTS_DIR: &str = "usr/libexec/s2i";
/// The S2I Python builder's working directory, where `assemble` puts the source.
const APP_ROOT: &str = "/opt/app-root/src";

/// An S2I Python builder image on the notebook image (tag `notebook`): it follows the
/// contract of the S2I Python builder (scripts in `/usr/libexec/s2i` named by the
/// `io.openshift.s2i.scripts-url` label, `assemble` installing `requirements.txt` from the
/// source's root into the image's Python environment, UID 1001 in group 0). Returns its key.
pub(super) fn s2i_python(
    cache: &Path,
    layout: &Path,
    has: impl Fn(&str) -> bool,
    notebook: &str,
) -> anyhow::Result<String> {
    let key = hash(&[
        RECIPE.as_bytes(),
        notebook.as_bytes(),
        ASSEMBLE.as_bytes(),
        RUN.as_bytes(),
        USAGE.as_bytes(),
    ]);
    let tag = format!("s2i-python-{key}");
    if has(&tag) {
        return Ok(key);
    }
    let staging = fresh_dir(cache, "s2i-python-layer")?;
    let scripts = image_dirs(&staging, SCRIPTS_DIR)?;
    for (name, text) in [("assemble", ASSEMBLE), ("run", RUN), ("usage", USAGE)] {
        let path = scripts.join(name);
        fs::write(&path, text)?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755))?;
    }
    // The layer's directories land as they are here: the app root belongs to the builder's
    // user and group 0 may write it, as on OpenShift.
    let app_root = image_dirs(&staging, APP_ROOT)?;
    for dir in [
        app_root.parent().context("the app root has a parent")?,
        &app_root,
    ] {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o775))?;
        chown(dir, Some(S2I_USER), Some(0)).context("chown of the app root")?;
    }
    let user = format!("{S2I_USER}:0");
    let scripts_url = format!("io.openshift.s2i.scripts-url=image:///{SCRIPTS_DIR}");
    layered(
        layout,
        Some(notebook),
        &tag,
        &staging,
        &[
            "--config.user",
            &user,
            "--config.workingdir",
            APP_ROOT,
            "--config.env",
            &format!("HOME={APP_ROOT}"),
            "--config.label",
            &scripts_url,
            "--config.label",
            "io.k8s.description=S2I Python builder of the local node",
        ],
    )?;
    Ok(key)
}

/// Tekton Pipelines for the node, built from its module: the image of its TaskRun pods'
/// programs (its key is returned with the release), and the release the node runs, with its
/// controller, CRDs and ConfigMaps copied from the module into `cache/tekton-<version>`, and the
/// local-path provisioner its PipelineRuns' workspace claims need.
pub(super) fn tekton(
    root: &Path,
    cache: &Path,
    layout: &Path,
    has: impl Fn(&str) -> bool,
) -> anyhow::Result<(String, nbv_testenv::tekton::TektonRelease)> {
    let built = crate::gotools::build(root, &tekton_tool())?;
    let mut inputs = vec![RECIPE.as_bytes().to_vec()];
    for program in TEKTON_POD_PROGRAMS {
        inputs.push(read(&built.join(program))?);
    }
    let key = hash(&inputs.iter().map(Vec::as_slice).collect::<Vec<_>>());
    let tag = format!("tekton-{key}");
    if !has(&tag) {
        let staging = fresh_dir(cache, "tekton-layer")?;
        let ko_app = image_dirs(&staging, "ko-app")?;
        for program in TEKTON_POD_PROGRAMS {
            fs::copy(built.join(program), ko_app.join(program))
                .with_context(|| format!("copying {program}"))?;
        }
        // As upstream's images: a numeric non-root user, nop as what runs when nothing else is
        // named (stopped sidecars are swapped to this image with their command kept).
        layered(
            layout,
            None,
            &tag,
            &staging,
            &[
                "--config.user",
                "65532:65532",
                "--config.entrypoint",
                "/ko-app/nop",
            ],
        )?;
    }
    let pods = export(cache, layout, "tekton", &key)?;
    Ok((key, tekton_release(root, cache, &built, pods)?))
}

/// The controller and the CRDs and ConfigMaps of the release, from the module the wrapper
/// requires.
fn tekton_release(
    root: &Path,
    cache: &Path,
    built: &Path,
    pods: nbv_testenv::NodeImage,
) -> anyhow::Result<nbv_testenv::tekton::TektonRelease> {
    let module = module_dir(root, "tekton", TEKTON_MODULE)?;
    let release = nbv_testenv::tekton::TektonRelease {
        version: TEKTON_VERSION.to_owned(),
        pods,
        controller: built.join("controller"),
        crds: cache.join(format!("tekton-{TEKTON_VERSION}/crds")),
        config: cache.join(format!("tekton-{TEKTON_VERSION}/config")),
        storage_provisioner: crate::gotools::build(root, &local_path_tool())?
            .join("local-path-provisioner"),
    };
    for (from, to, keep) in [
        (module.join("config/300-crds"), &release.crds, "300-"),
        (module.join("config"), &release.config, "config-"),
    ] {
        let _ = fs::remove_dir_all(to);
        fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
        for entry in fs::read_dir(&from).with_context(|| format!("reading {}", from.display()))? {
            let name = entry?.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(keep) && name.ends_with(".yaml") {
                fs::copy(from.join(name.as_ref()), to.join(name.as_ref()))?;
            }
        }
    }
    Ok(release)
}

/// Shipwright Build for the node, built from its module: the image of its build pods' programs
/// (its key is returned with the release), and the release the node runs, with its controller,
/// CRDs and sample Buildah strategy copied from the module into `cache/shipwright-<version>`.
///
/// The image is `base` (a tag of the layout: Debian with the tools the `git` program runs, and
/// the node's CA, so that the node's git server and registry are trusted) with the programs in
/// `/ko-app` and `/shared-home` writable by every user (the `HOME` of Shipwright's steps, as
/// upstream's base image has it).
pub(super) fn shipwright(
    root: &Path,
    cache: &Path,
    layout: &Path,
    has: impl Fn(&str) -> bool,
    base: &str,
) -> anyhow::Result<(String, nbv_testenv::shipwright::ShipwrightRelease)> {
    let built = crate::gotools::build(root, &shipwright_tool())?;
    let mut inputs = vec![RECIPE.as_bytes().to_vec(), base.as_bytes().to_vec()];
    for program in SHIPWRIGHT_POD_PROGRAMS {
        inputs.push(read(&built.join(program))?);
    }
    let key = hash(&inputs.iter().map(Vec::as_slice).collect::<Vec<_>>());
    let tag = format!("shipwright-{key}");
    if !has(&tag) {
        let staging = fresh_dir(cache, "shipwright-layer")?;
        let ko_app = image_dirs(&staging, "ko-app")?;
        for program in SHIPWRIGHT_POD_PROGRAMS {
            fs::copy(built.join(program), ko_app.join(program))
                .with_context(|| format!("copying {program}"))?;
        }
        let home = staging.join("shared-home");
        fs::create_dir(&home).context("creating /shared-home")?;
        fs::set_permissions(&home, fs::Permissions::from_mode(0o1777))?;
        layered(
            layout,
            Some(base),
            &tag,
            &staging,
            &["--config.user", "1000:1000"],
        )?;
    }
    let pods = export(cache, layout, "shipwright", &key)?;
    let module = module_dir(root, "shipwright", SHIPWRIGHT_MODULE)?;
    let release_dir = cache.join(format!("shipwright-{SHIPWRIGHT_VERSION}"));
    let release = nbv_testenv::shipwright::ShipwrightRelease {
        version: SHIPWRIGHT_VERSION.to_owned(),
        pods,
        controller: built.join("shipwright-build-controller"),
        crds: release_dir.join("crds"),
        buildah_strategy: release_dir.join("buildah-strategy.yaml"),
    };
    let _ = fs::remove_dir_all(&release_dir);
    fs::create_dir_all(&release.crds)
        .with_context(|| format!("creating {}", release.crds.display()))?;
    let crds = module.join("deploy/crds");
    for entry in fs::read_dir(&crds).with_context(|| format!("reading {}", crds.display()))? {
        let entry = entry?;
        if entry.path().extension().is_some_and(|e| e == "yaml") {
            fs::copy(entry.path(), release.crds.join(entry.file_name()))?;
        }
    }
    fs::copy(
        module.join(SHIPWRIGHT_BUILDAH_STRATEGY),
        &release.buildah_strategy,
    )
    .context("copying the sample Buildah strategy")?;
    Ok((key, release))
}

/// The directory of `module` in Go's module cache, at the version the wrapper requires.
fn module_dir(root: &Path, wrapper: &str, module: &str) -> anyhow::Result<std::path::PathBuf> {
    let out = std::process::Command::new("go")
        .current_dir(root.join("xtask/gotools").join(wrapper))
        .env("GOFLAGS", "-mod=readonly")
        .args(["list", "-m", "-f", "{{.Dir}}", module])
        .output()
        .context("running go list")?;
    anyhow::ensure!(
        out.status.success(),
        "go list -m {module} failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(std::path::PathBuf::from(
        String::from_utf8(out.stdout)?.trim(),
    ))
}
