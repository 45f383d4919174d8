//! The node's images, made without a container engine: a Debian root filesystem from
//! debootstrap, layers and OCI manifests from umoci, one OCI archive per image for containerd
//! to import.
//!
//! All images live in one OCI layout in the cache, so the Debian layer that the notebook and the
//! operator image share is stored once. Each image's tag carries a hash of its inputs; an image
//! whose tag exists is reused.
//!
//! | image | content |
//! | --- | --- |
//! | pause | `/pause` (nbv-pause), nothing else |
//! | notebook | Debian + Python with papermill and ipykernel in `/opt/nbv-python` (owned by 1000 and writable by group 0, so builds on it can install), git; USER 1000:0 |
//! | operator | Debian + `nbv-operator` and the `nbv` runner (static), git, sh, cp; USER 65532:0 |
//! | buildah | Debian + its `buildah`, `podman` and `runc` packages, for pod builders' build pods; USER root |
//! | buildkit | the buildah image plus `buildkitd` and `buildctl` built from their module (builders.rs) |
//! | kaniko | `/kaniko`: the executor built from its module, the CA bundle with the node's CA (builders.rs) |
//! | openshift-builder | the buildah image plus `s2i` built from its module (builders.rs) |
//! | s2i-python | the notebook image plus an S2I Python builder's scripts, USER 1001:0 (builders.rs) |
//! | tekton | `/ko-app`: the programs Tekton's TaskRun pods run, built from its module (builders.rs) |
//! | shipwright-git | Debian + git, git-lfs and ssh, and the node's CA |
//! | shipwright | shipwright-git + `/ko-app`: the programs Shipwright's build pods run, built from its module (builders.rs) |
//!
//! The operator image shares the notebook image's Debian layer, which holds Python too: one
//! layer on the node instead of two. Python plays no part in the operator image.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail, ensure};
use nbv_testenv::{NodeImage, NodeImages};
use sha2::{Digest as _, Sha256};

use crate::sh;

/// Debian release of the base layer (the one this machine's apt sources serve).
const SUITE: &str = "bookworm";
/// Packages of the base layer besides debootstrap's minimal base.
const BASE_PACKAGES: &str = "git,ca-certificates,openssh-client,python3,python3-venv";
/// The builders image's packages: Debian's buildah and podman (so that a new pod-builder
/// strategy can be tried with either, docs/community/CONTRIBUTING.md), runc (which the BuildKit
/// image over this one runs build steps with), the CA bundle, and the
/// network plugins that their configuration package requires (a `container-network-stack`).
const BUILDAH_PACKAGES: &str = "buildah,podman,runc,ca-certificates,containernetworking-plugins";
/// The packages of the image Shipwright's build pods run: git, ssh and git-lfs, which its `git`
/// program checks for before it clones, as upstream's image has them.
const SHIPWRIGHT_GIT_PACKAGES: &str = "git,git-lfs,openssh-client,ca-certificates";
/// What the notebook image installs with pip; the runner's own pins (nbv-runner's python.rs).
const NOTEBOOK_PIP: [&str; 2] = ["papermill==2.7.0", "ipykernel==7.4.0"];
/// Where the notebook image's Python environment lives.
const NOTEBOOK_VENV: &str = "/opt/nbv-python";
/// Notebook images that differ only in their user: (image name, USER).
const USER_VARIANTS: [(&str, &str); 2] = [
    ("notebook-arbitrary-uid", "1000680000:0"),
    ("notebook-named-user", "nobody"),
];
/// Bumped whenever the recipes below change in a way the hashed inputs do not show.
const RECIPE: &str = "node-images-2";
/// Bumped whenever the notebook image's recipe changes in a way its hashed inputs do not show.
const NOTEBOOK_RECIPE: &str = "notebook-2";
/// Debian's bundle of trusted CA certificates.
pub(super) const CA_BUNDLE: &str = "etc/ssl/certs/ca-certificates.crt";
const SYSTEM_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Builds what is missing and writes the list of images; returns the list's path.
pub(crate) fn build(
    root: &Path,
    force: bool,
    engines: &[super::Engine],
) -> anyhow::Result<PathBuf> {
    for tool in ["umoci", "debootstrap", "tar", "chroot"] {
        ensure!(
            which(tool),
            "{tool} is missing; `cargo xtask node deps` installs the node's packages"
        );
    }
    let cache = NodeImages::cache_dir()?;
    fs::create_dir_all(&cache).with_context(|| format!("creating {}", cache.display()))?;
    let lock = fs::File::create(cache.join(".lock")).context("creating the image cache lock")?;
    lock.lock().context("locking the image cache")?;
    let layout = cache.join("layout");
    if !layout.join("index.json").is_file() {
        umoci(&["init", "--layout"], &[layout.as_os_str()])?;
    }
    let tags = umoci_output(&["ls", "--layout"], &layout)?;
    let has = |tag: &str| tags.lines().any(|t| t.trim() == tag);

    let mirror = apt_mirror()?;
    let base_key = hash(&[
        RECIPE.as_bytes(),
        SUITE.as_bytes(),
        BASE_PACKAGES.as_bytes(),
        mirror.as_bytes(),
    ]);
    let base_tag = format!("base-{base_key}");
    let base_bundle = cache.join(format!("{base_tag}.ca-certificates.crt"));
    if force || !has(&base_tag) || !base_bundle.is_file() {
        // The bundle is kept beside the layer: the images above it add the node's CA to it.
        debootstrap_image(
            &cache,
            &layout,
            &base_tag,
            BASE_PACKAGES,
            &mirror,
            |rootfs| {
                fs::copy(rootfs.join(CA_BUNDLE), &base_bundle)
                    .map(drop)
                    .context("keeping the base's CA bundle")
            },
        )?;
    }
    // The node's CA, trusted by the images that talk to the node's services.
    let ca = nbv_testenv::node::NodeCa::load_or_create()?;
    let ca_pem = read(&ca.cert)?;
    let mut trusted = read(&base_bundle)?;
    trusted.extend_from_slice(&ca_pem);

    let notebook_key = hash(&[
        NOTEBOOK_RECIPE.as_bytes(),
        base_key.as_bytes(),
        NOTEBOOK_PIP.join(" ").as_bytes(),
        &ca_pem,
    ]);
    let notebook_tag = format!("notebook-{notebook_key}");
    if force || !has(&notebook_tag) {
        build_notebook(&cache, &layout, &base_tag, &notebook_tag, &trusted)?;
    }
    // The same layers under another user: only the image configuration differs.
    for (variant, user) in USER_VARIANTS {
        let tag = format!("{variant}-{notebook_key}");
        if force || !has(&tag) {
            umoci(
                &["config", "--tag", &tag, "--config.user", user, "--image"],
                &[&image_arg(&layout, &notebook_tag)],
            )?;
        }
    }

    // The pause program comes from the control plane's build: build it first when the cache
    // lacks it, so that a fresh machine's first `cluster up --node` works.
    let bin = crate::controlplane::binaries_dir()?;
    let pause_key = hash(&[RECIPE.as_bytes(), &read(&bin.join("nbv-pause"))?]);
    let pause_tag = format!("pause-{pause_key}");
    if !has(&pause_tag) {
        build_pause(&layout, &pause_tag, &bin.join("nbv-pause"))?;
    }

    // Buildah trusts the node's registry through the system bundle, as Go programs do.
    let debian_with_node_ca = |name: &str, packages: &str| -> anyhow::Result<String> {
        let key = hash(&[
            RECIPE.as_bytes(),
            SUITE.as_bytes(),
            packages.as_bytes(),
            mirror.as_bytes(),
            &ca_pem,
        ]);
        let tag = format!("{name}-{key}");
        if force || !has(&tag) {
            debootstrap_image(&cache, &layout, &tag, packages, &mirror, |rootfs| {
                let mut bundle = read(&rootfs.join(CA_BUNDLE))?;
                bundle.extend_from_slice(&ca_pem);
                fs::write(rootfs.join(CA_BUNDLE), bundle).context("adding the node's CA")
            })?;
        }
        Ok(key)
    };
    let buildah_key = debian_with_node_ca("buildah", BUILDAH_PACKAGES)?;
    let buildah_tag = format!("buildah-{buildah_key}");

    let kaniko_key = super::builders::kaniko(root, &cache, &layout, has, &trusted)?;
    let buildkit_key = super::builders::buildkit(root, &cache, &layout, has, &buildah_tag)?;
    let openshift_builder_key =
        super::builders::openshift_builder(root, &cache, &layout, has, &buildah_tag)?;
    let s2i_python_key = super::builders::s2i_python(&cache, &layout, has, &notebook_tag)?;
    let engines = super::Engine::with_prerequisites(&kept_engines(engines));
    let tekton = if engines.contains(&super::Engine::Tekton) {
        Some(super::builders::tekton(root, &cache, &layout, has)?)
    } else {
        None
    };
    let shipwright = if engines.contains(&super::Engine::Shipwright) {
        let git_tag = format!(
            "shipwright-git-{}",
            debian_with_node_ca("shipwright-git", SHIPWRIGHT_GIT_PACKAGES)?
        );
        let built = super::builders::shipwright(root, &cache, &layout, has, &git_tag)?;
        Some((git_tag, built))
    } else {
        None
    };

    let binaries = operator_binaries(root)?;
    let mut inputs = vec![base_key.clone().into_bytes(), trusted.clone()];
    for path in &binaries {
        inputs.push(read(path)?);
    }
    let operator_key = hash(&inputs.iter().map(Vec::as_slice).collect::<Vec<_>>());
    let operator_tag = format!("operator-{operator_key}");
    if !has(&operator_tag) {
        build_operator(
            &cache,
            &layout,
            &base_tag,
            &operator_tag,
            &binaries,
            &trusted,
        )?;
    }

    let images = NodeImages {
        pause: export(&cache, &layout, "pause", &pause_key)?,
        notebook: export(&cache, &layout, "notebook", &notebook_key)?,
        operator: export(&cache, &layout, "operator", &operator_key)?,
        notebook_arbitrary_uid: export(&cache, &layout, USER_VARIANTS[0].0, &notebook_key)?,
        notebook_named_user: export(&cache, &layout, USER_VARIANTS[1].0, &notebook_key)?,
        buildah: export(&cache, &layout, "buildah", &buildah_key)?,
        kaniko: export(&cache, &layout, "kaniko", &kaniko_key)?,
        buildkit: export(&cache, &layout, "buildkit", &buildkit_key)?,
        openshift_builder: export(&cache, &layout, "openshift-builder", &openshift_builder_key)?,
        s2i_python: export(&cache, &layout, "s2i-python", &s2i_python_key)?,
        tekton: tekton.as_ref().map(|(_, release)| release.clone()),
        shipwright: shipwright.as_ref().map(|(_, (_, release))| release.clone()),
    };
    remove_stale_archives(&cache, &images)?;
    // Tags of earlier inputs go, and the blobs only they used.
    let tekton_tag = tekton.as_ref().map(|(key, _)| format!("tekton-{key}"));
    let mut current: Vec<String> = vec![
        base_tag.clone(),
        notebook_tag.clone(),
        pause_tag.clone(),
        buildah_tag.clone(),
        format!("kaniko-{kaniko_key}"),
        format!("buildkit-{buildkit_key}"),
        format!("openshift-builder-{openshift_builder_key}"),
        format!("s2i-python-{s2i_python_key}"),
        operator_tag.clone(),
        format!("{}-{notebook_key}", USER_VARIANTS[0].0),
        format!("{}-{notebook_key}", USER_VARIANTS[1].0),
    ];
    current.extend(tekton_tag);
    if let Some((git_tag, (key, _))) = &shipwright {
        current.extend([git_tag.clone(), format!("shipwright-{key}")]);
    }
    for tag in tags.lines().map(str::trim).filter(|t| !t.is_empty()) {
        if !current.iter().any(|c| c == tag) {
            umoci(&["rm", "--image"], &[&image_arg(&layout, tag)])?;
            let _ = fs::remove_file(cache.join(format!("{tag}.ca-certificates.crt")));
        }
    }
    umoci(&["gc", "--layout"], &[layout.as_os_str()])?;
    let manifest = NodeImages::manifest_path()?;
    fs::write(&manifest, serde_json::to_string_pretty(&images)?)
        .with_context(|| format!("writing {}", manifest.display()))?;
    Ok(manifest)
}

fn build_pause(layout: &Path, tag: &str, program: &Path) -> anyhow::Result<()> {
    let image = image_arg(layout, tag);
    umoci(&["new", "--image"], &[&image])?;
    umoci(
        &["insert", "--image"],
        &[&image, program.as_os_str(), OsStr::new("/pause")],
    )?;
    umoci(
        &[
            "config",
            "--config.entrypoint",
            "/pause",
            "--config.user",
            "65535:65535",
            "--image",
        ],
        &[&image],
    )
}

/// debootstrap into a bundle's rootfs, repacked as one layer; `finish` adds to the rootfs first.
/// On failure the tag goes too: an existing tag means a complete image.
fn debootstrap_image(
    cache: &Path,
    layout: &Path,
    tag: &str,
    packages: &str,
    mirror: &str,
    finish: impl FnOnce(&Path) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let bundle = fresh_path(cache, &format!("bundle-{tag}"))?;
    let image = image_arg(layout, tag);
    umoci(&["new", "--image"], &[&image])?;
    let built = debootstrap_into(&image, &bundle, packages, mirror, finish);
    if built.is_err() {
        let _ = umoci(&["rm", "--image"], &[&image]);
    }
    let _ = fs::remove_dir_all(&bundle);
    built?;
    eprintln!("built {tag} in {:.0?}", started.elapsed());
    Ok(())
}

fn debootstrap_into(
    image: &OsStr,
    bundle: &Path,
    packages: &str,
    mirror: &str,
    finish: impl FnOnce(&Path) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    umoci(&["unpack", "--image"], &[image, bundle.as_os_str()])?;
    let rootfs = bundle.join("rootfs");
    let mut debootstrap = Command::new("debootstrap");
    debootstrap
        .args(["--variant=minbase", &format!("--include={packages}"), SUITE])
        .arg(&rootfs)
        .arg(mirror);
    sh::run(debootstrap, &format!("debootstrap ({packages})"))?;
    // Package caches and logs are not part of an image.
    for dir in ["var/cache/apt/archives", "var/lib/apt/lists", "var/log"] {
        clear_dir(&rootfs.join(dir))?;
    }
    finish(&rootfs)?;
    umoci(&["repack", "--image"], &[image, bundle.as_os_str()])?;
    umoci(
        &[
            "config",
            "--config.env",
            &format!("PATH={SYSTEM_PATH}"),
            "--image",
        ],
        &[image],
    )
}

/// The base plus a virtualenv with papermill and ipykernel, installed in a chroot.
fn build_notebook(
    cache: &Path,
    layout: &Path,
    base: &str,
    tag: &str,
    trusted: &[u8],
) -> anyhow::Result<()> {
    let bundle = fresh_path(cache, "bundle-notebook")?;
    umoci(
        &["unpack", "--image"],
        &[&image_arg(layout, base), bundle.as_os_str()],
    )?;
    let rootfs = bundle.join("rootfs");
    // pip needs name resolution and the machine's CA bundle (package traffic may pass a
    // TLS-inspecting proxy); both are removed again before the layer is made.
    fs::copy("/etc/resolv.conf", rootfs.join("etc/resolv.conf")).context("copying resolv.conf")?;
    let ca = host_ca_bundle();
    let ca_in_root = rootfs.join("tmp/host-ca.pem");
    if let Some(ca) = &ca {
        fs::copy(ca, &ca_in_root).with_context(|| format!("copying {}", ca.display()))?;
    }
    let mut venv = Command::new("chroot");
    venv.arg(&rootfs)
        .args(["/usr/bin/python3", "-m", "venv", NOTEBOOK_VENV]);
    sh::run(venv, "python3 -m venv (notebook image)")?;
    let mut pip = Command::new("chroot");
    pip.arg(&rootfs)
        .arg(format!("{NOTEBOOK_VENV}/bin/pip"))
        .args(["install", "--no-cache-dir", "--disable-pip-version-check"])
        .args(NOTEBOOK_PIP)
        .env_clear()
        .env("PATH", SYSTEM_PATH)
        .env("HOME", "/root");
    if ca.is_some() {
        pip.env("PIP_CERT", "/tmp/host-ca.pem");
    }
    sh::run(pip, "pip install papermill ipykernel (notebook image)")?;
    let _ = fs::remove_file(&ca_in_root);
    fs::write(rootfs.join("etc/resolv.conf"), "").context("emptying resolv.conf")?;
    fs::write(rootfs.join(CA_BUNDLE), trusted).context("adding the node's CA")?;
    // pip trusts the system bundle (with the node's CA), as an organisation's images do.
    fs::write(
        rootfs.join("etc/pip.conf"),
        format!("[global]\ncert = /{CA_BUNDLE}\n"),
    )
    .context("writing /etc/pip.conf")?;
    // Builds on this image install as its user into its environment, which that user owns and
    // group 0 may write, as in Jupyter's and S2I's images: Kaniko runs `RUN` as the user's own
    // group, not the group `USER uid:gid` names, and Buildah as `uid:0`.
    let venv = rootfs.join(NOTEBOOK_VENV.trim_start_matches('/'));
    for args in [["chmod", "-R", "g+w"], ["chown", "-R", "1000:0"]] {
        let mut command = Command::new(args[0]);
        command.args(&args[1..]).arg(&venv);
        sh::run(
            command,
            &format!(
                "{} (the notebook image's Python environment)",
                args.join(" ")
            ),
        )?;
    }
    // Writable by the notebook's user (any UID in group 0, as on OpenShift).
    for dir in ["home/jovyan", "workspace"] {
        let path = rootfs.join(dir);
        fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        set_group_writable(&path)?;
    }
    let image = image_arg(layout, tag);
    umoci(&["repack", "--image"], &[&image, bundle.as_os_str()])?;
    umoci(
        &[
            "config",
            "--config.user",
            "1000:0",
            "--config.env",
            &format!("PATH={NOTEBOOK_VENV}/bin:{SYSTEM_PATH}"),
            "--config.env",
            "HOME=/home/jovyan",
            "--config.workingdir",
            "/home/jovyan",
            "--image",
        ],
        &[&image],
    )?;
    fs::remove_dir_all(&bundle).with_context(|| format!("removing {}", bundle.display()))
}

fn build_operator(
    cache: &Path,
    layout: &Path,
    base: &str,
    tag: &str,
    binaries: &[PathBuf],
    trusted: &[u8],
) -> anyhow::Result<()> {
    // One layer: the binaries and the CA bundle with the node's CA.
    let staging = fresh_dir(cache, "operator-layer")?;
    let bin = staging.join("usr/local/bin");
    fs::create_dir_all(&bin)?;
    for path in binaries {
        let name = path.file_name().context("binary without a name")?;
        let dest = bin.join(name);
        fs::copy(path, &dest).with_context(|| format!("copying {}", path.display()))?;
        let status = Command::new("strip").arg(&dest).status();
        if !status.is_ok_and(|s| s.success()) {
            eprintln!("strip {} failed; keeping its symbols", dest.display());
        }
    }
    let bundle = staging.join(CA_BUNDLE);
    fs::create_dir_all(bundle.parent().context("bundle path")?)?;
    fs::write(&bundle, trusted)?;
    umoci(
        &["insert", "--tag", tag, "--image"],
        &[
            &image_arg(layout, base),
            staging.as_os_str(),
            OsStr::new("/"),
        ],
    )?;
    umoci(
        &[
            "config",
            "--config.user",
            "65532:0",
            "--config.entrypoint",
            "/usr/local/bin/nbv-operator",
            "--config.cmd",
            "run",
            "--image",
        ],
        &[&image_arg(layout, tag)],
    )?;
    fs::remove_dir_all(&staging).with_context(|| format!("removing {}", staging.display()))
}

/// `nbv` linked statically (it is copied into arbitrary notebook images) and `nbv-operator`.
fn operator_binaries(root: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let target = host_target()?;
    let mut runner = sh::cargo();
    runner
        .current_dir(root)
        .args([
            "build",
            "--locked",
            "-p",
            "nbv-runner",
            "--bin",
            "nbv",
            "--target",
            &target,
        ])
        // With --target, these flags reach the runner and not the build scripts.
        .env("RUSTFLAGS", "-C target-feature=+crt-static");
    sh::run(runner, "cargo build nbv (static, for the operator image)")?;
    sh::cargo_step(
        root,
        &[
            "build",
            "--locked",
            "-p",
            "notebook-validator-operator",
            "--bin",
            "nbv-operator",
        ],
    )?;
    let target_dir = root.join("target");
    Ok(vec![
        target_dir.join(&target).join("debug").join("nbv"),
        target_dir.join("debug").join("nbv-operator"),
    ])
}

fn host_target() -> anyhow::Result<String> {
    let out = Command::new("rustc")
        .arg("-vV")
        .output()
        .context("running rustc -vV")?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_owned)
        .context("rustc -vV names no host")
}

/// One image as an OCI archive containerd can import, named `nbv.local/<name>:<key>`.
pub(super) fn export(
    cache: &Path,
    layout: &Path,
    name: &str,
    key: &str,
) -> anyhow::Result<NodeImage> {
    let reference = format!("nbv.local/{name}:{key}");
    let archive = cache.join("archives").join(format!("{name}-{key}.tar"));
    if archive.is_file() {
        return Ok(NodeImage { reference, archive });
    }
    let index: serde_json::Value = serde_json::from_slice(&read(&layout.join("index.json"))?)?;
    let tag = format!("{name}-{key}");
    let mut descriptor = index["manifests"]
        .as_array()
        .and_then(|ms| {
            ms.iter()
                .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag.as_str())
        })
        .cloned()
        .with_context(|| format!("{} has no tag {tag}", layout.display()))?;
    // containerd names an imported image after this annotation.
    descriptor["annotations"] = serde_json::json!({
        "io.containerd.image.name": reference,
        "org.opencontainers.image.ref.name": key,
    });
    let manifest_digest = digest_of(&descriptor)?;
    let manifest: serde_json::Value =
        serde_json::from_slice(&read(&blob(layout, &manifest_digest))?)?;
    let mut digests = vec![manifest_digest, digest_of(&manifest["config"])?];
    for layer in manifest["layers"].as_array().into_iter().flatten() {
        digests.push(digest_of(layer)?);
    }

    let staging = fresh_dir(cache, &format!("export-{name}"))?;
    fs::create_dir_all(staging.join("blobs/sha256"))?;
    fs::copy(layout.join("oci-layout"), staging.join("oci-layout"))?;
    fs::write(
        staging.join("index.json"),
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": [descriptor]}))?,
    )?;
    for digest in &digests {
        let dest = staging.join("blobs/sha256").join(digest);
        fs::hard_link(blob(layout, digest), &dest)
            .or_else(|_| fs::copy(blob(layout, digest), &dest).map(|_| ()))
            .with_context(|| format!("linking blob {digest}"))?;
    }
    fs::create_dir_all(archive.parent().context("archive without a directory")?)?;
    let partial = archive.with_extension("tar.partial");
    let mut tar = Command::new("tar");
    tar.arg("-C").arg(&staging).arg("-cf").arg(&partial).args([
        "oci-layout",
        "index.json",
        "blobs",
    ]);
    let status = tar.status().context("running tar")?;
    ensure!(status.success(), "tar of {name} failed ({status})");
    fs::rename(&partial, &archive)?;
    fs::remove_dir_all(&staging)?;
    Ok(NodeImage { reference, archive })
}

/// Archives of images that are no longer current (their layout tags stay until `--force`).
fn remove_stale_archives(cache: &Path, images: &NodeImages) -> anyhow::Result<()> {
    let dir = cache.join("archives");
    let current: Vec<&Path> = images.all().iter().map(|i| i.archive.as_path()).collect();
    for entry in fs::read_dir(&dir)?.flatten() {
        if !current.contains(&entry.path().as_path()) {
            let _ = fs::remove_file(entry.path());
        }
    }
    Ok(())
}

fn digest_of(descriptor: &serde_json::Value) -> anyhow::Result<String> {
    descriptor["digest"]
        .as_str()
        .and_then(|d| d.strip_prefix("sha256:"))
        .map(str::to_owned)
        .with_context(|| format!("descriptor without a sha256 digest: {descriptor}"))
}

fn blob(layout: &Path, digest: &str) -> PathBuf {
    layout.join("blobs/sha256").join(digest)
}

/// The mirror apt uses here (deb822 `URIs:` or a one-line `deb` entry): debootstrap needs one,
/// and the machine's own is the one known to be reachable.
fn apt_mirror() -> anyhow::Result<String> {
    let mut texts = Vec::new();
    if let Ok(entries) = fs::read_dir("/etc/apt/sources.list.d") {
        let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        files.sort();
        for f in files {
            texts.push(fs::read_to_string(&f).unwrap_or_default());
        }
    }
    texts.push(fs::read_to_string("/etc/apt/sources.list").unwrap_or_default());
    texts
        .iter()
        .find_map(|text| mirror_in(text))
        .context("no Debian mirror found in /etc/apt/sources.list{,.d}; debootstrap needs one")
}

/// The first main-archive mirror of a sources file (not the security archive).
fn mirror_in(text: &str) -> Option<String> {
    text.lines().map(str::trim).find_map(|line| {
        let uri = line
            .strip_prefix("URIs:")
            .and_then(|rest| rest.split_whitespace().next())
            .or_else(|| {
                let mut words = line.strip_prefix("deb ")?.split_whitespace();
                words.find(|w| w.contains("://"))
            })?;
        (!uri.contains("security")).then(|| uri.trim_end_matches('/').to_owned())
    })
}

fn host_ca_bundle() -> Option<PathBuf> {
    std::env::var_os("PIP_CERT")
        .or_else(|| std::env::var_os("SSL_CERT_FILE"))
        .map(PathBuf::from)
        .into_iter()
        .chain([PathBuf::from("/etc/ssl/certs/ca-certificates.crt")])
        .find(|p| p.is_file())
}

pub(super) fn image_arg(layout: &Path, tag: &str) -> OsString {
    let mut s = layout.as_os_str().to_owned();
    s.push(":");
    s.push(tag);
    s
}

pub(super) fn umoci(args: &[&str], paths: &[&OsStr]) -> anyhow::Result<()> {
    let mut cmd = Command::new("umoci");
    cmd.args(args);
    for p in paths {
        cmd.arg(p);
    }
    let out = cmd.output().context("running umoci")?;
    if !out.status.success() {
        bail!(
            "umoci {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn umoci_output(args: &[&str], layout: &Path) -> anyhow::Result<String> {
    let out = Command::new("umoci")
        .args(args)
        .arg(layout)
        .output()
        .context("running umoci")?;
    ensure!(
        out.status.success(),
        "umoci {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub(super) fn hash(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    format!("{:x}", hasher.finalize())[..16].to_owned()
}

pub(super) fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// `<cache>/.<name>`, emptied and created.
pub(super) fn fresh_dir(cache: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let dir = fresh_path(cache, name)?;
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// `<cache>/.<name>`, removed if present (umoci unpack creates its bundle itself).
fn fresh_path(cache: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let dir = cache.join(format!(".{name}"));
    if dir.exists() {
        fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    Ok(dir)
}

fn clear_dir(dir: &Path) -> anyhow::Result<()> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() && !path.is_symlink() {
            // apt's partial/ and lock files are recreated by apt itself.
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        }
        .with_context(|| format!("removing {}", path.display()))?;
    }
    Ok(())
}

fn set_group_writable(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    fs::set_permissions(path, fs::Permissions::from_mode(0o2775))
        .with_context(|| format!("chmod {}", path.display()))?;
    // Group 0, the group OpenShift's random UIDs run in.
    let status = Command::new("chown").arg("1000:0").arg(path).status()?;
    ensure!(status.success(), "chown {} failed", path.display());
    Ok(())
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
}

/// `engines` and those the last build made whose controllers are still built: a build that
/// does not ask for an engine keeps it rather than leave its tests and `cluster up --with`
/// without it (rebuilding an engine still built only finds it in the cache).
fn kept_engines(engines: &[super::Engine]) -> Vec<super::Engine> {
    let mut kept = engines.to_vec();
    if let Ok(last) = NodeImages::load() {
        let built = [
            (
                super::Engine::Tekton,
                last.tekton.as_ref().map(|t| &t.controller),
            ),
            (
                super::Engine::Shipwright,
                last.shipwright.as_ref().map(|s| &s.controller),
            ),
        ];
        for (engine, controller) in built {
            if controller.is_some_and(|c| c.is_file()) && !kept.contains(&engine) {
                kept.push(engine);
            }
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_main_mirror_in_both_formats() {
        let deb822 = "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\n\nTypes: deb\nURIs: http://mirror.example/debian-security\n";
        assert_eq!(
            mirror_in(deb822).as_deref(),
            Some("http://mirror.example/debian")
        );
        let one_line = "# comment\ndeb [arch=amd64] http://mirror.example/debian/ bookworm main\n";
        assert_eq!(
            mirror_in(one_line).as_deref(),
            Some("http://mirror.example/debian")
        );
        assert_eq!(
            mirror_in("deb http://mirror.example/debian-security bookworm-security main"),
            None
        );
    }

    #[test]
    fn hashes_depend_on_part_boundaries() {
        assert_ne!(hash(&[b"ab", b"c"]), hash(&[b"a", b"bc"]));
    }
}
