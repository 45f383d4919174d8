//! Where the control-plane binaries live, and finding them.

use std::path::{Path, PathBuf};

use crate::Error;

/// The Kubernetes release the binaries are built from; matches the k8s-openapi feature of the workspace.
pub const KUBERNETES_VERSION: &str = "v1.34.4";
/// The etcd release the binaries are built from.
pub const ETCD_VERSION: &str = "v3.5.35";
/// The Helm release built next to the servers, for the tests of the operator's chart.
pub const HELM_VERSION: &str = "v3.22.0";
/// The distribution registry the node serves images with.
pub const REGISTRY_VERSION: &str = "v3.1.2";
/// Names a directory of prebuilt binaries to use instead of the cache.
pub const BIN_DIR_ENV: &str = "NBV_CONTROLPLANE_BIN_DIR";
/// The file `cargo xtask controlplane build` writes last; a cache entry without it is not used.
pub const STAMP_FILE: &str = "stamp";

/// The executables a control plane needs, all in one directory.
pub const EXECUTABLES: [&str; 4] = [
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "nbv-supervise",
];

/// The executables a node adds to the control plane, in the same directory.
pub const NODE_EXECUTABLES: [&str; 7] = [
    "kube-scheduler",
    "kubelet",
    "nbv-pause",
    "nbv-node-down",
    "nbv-node-serve",
    "nbv-registry",
    "nbv-service-proxy",
];

/// `$XDG_CACHE_HOME/nbv-controlplane`, or `~/.cache/nbv-controlplane`: outside the work tree, so
/// `cargo clean` and fresh checkouts keep the binaries, which take minutes to build.
pub fn cache_root() -> Result<PathBuf, Error> {
    let base = match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
            Some(home) => PathBuf::from(home).join(".cache"),
            None => {
                return Err(Error::BinariesMissing {
                    reason:
                        "neither XDG_CACHE_HOME nor HOME is set, so there is no cache directory"
                            .into(),
                });
            }
        },
    };
    Ok(base.join("nbv-controlplane"))
}

/// The cache entry for the pinned versions: `<cache root>/v1.34.4-etcd3.5.35`.
pub fn versioned_dir() -> Result<PathBuf, Error> {
    let etcd = ETCD_VERSION.trim_start_matches('v');
    Ok(cache_root()?.join(format!("{KUBERNETES_VERSION}-etcd{etcd}")))
}

/// The directory holding the executables of a cache entry.
pub fn bin_dir_of(entry: &Path) -> PathBuf {
    entry.join("bin")
}

/// Paths of the executables a control plane runs.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// Directory they were found in.
    pub dir: PathBuf,
    /// `etcd`.
    pub etcd: PathBuf,
    /// `kube-apiserver`.
    pub kube_apiserver: PathBuf,
    /// `kube-controller-manager`.
    pub kube_controller_manager: PathBuf,
    /// `nbv-supervise`, which ties each server's life to its owner's.
    pub supervisor: PathBuf,
}

impl Binaries {
    /// `NBV_CONTROLPLANE_BIN_DIR` if set, else the cache entry for the pinned versions.
    ///
    /// Fails, telling how to build them, when any executable is missing: tests must not pass
    /// without having run.
    pub fn locate() -> Result<Self, Error> {
        if let Some(dir) = std::env::var_os(BIN_DIR_ENV).filter(|v| !v.is_empty()) {
            return Self::in_dir(Path::new(&dir)).map_err(|reason| Error::BinariesMissing {
                reason: format!("{BIN_DIR_ENV}={}: {reason}", Path::new(&dir).display()),
            });
        }
        let entry = versioned_dir()?;
        if !entry.join(STAMP_FILE).is_file() {
            return Err(Error::BinariesMissing {
                reason: format!("no complete build in {}", entry.display()),
            });
        }
        Self::in_dir(&bin_dir_of(&entry)).map_err(|reason| Error::BinariesMissing { reason })
    }

    /// The executables in `dir`, or what is missing there.
    pub fn in_dir(dir: &Path) -> Result<Self, String> {
        let missing: Vec<&str> = EXECUTABLES
            .iter()
            .copied()
            .filter(|name| !is_executable(&dir.join(name)))
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "{} has no executable {}",
                dir.display(),
                missing.join(", ")
            ));
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            etcd: dir.join("etcd"),
            kube_apiserver: dir.join("kube-apiserver"),
            kube_controller_manager: dir.join("kube-controller-manager"),
            supervisor: dir.join("nbv-supervise"),
        })
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}
