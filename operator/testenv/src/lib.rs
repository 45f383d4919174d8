//! A real Kubernetes control plane for integration tests: etcd, kube-apiserver and
//! kube-controller-manager, built from source by `cargo xtask controlplane build`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), nbv_testenv::Error> {
//! // One control plane per test binary, started on first use; a namespace per test.
//! let env = nbv_testenv::TestEnv::new("my-test").await?;
//! let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
//!     kube::Api::namespaced(env.client.clone(), &env.namespace);
//! # let _ = pods; Ok(()) }
//! ```
//!
//! What is real: storage, admission (PodSecurity included), RBAC, CRD validation (OpenAPI and
//! CEL), service-account tokens, owner-reference garbage collection and namespace deletion. With
//! a node ([`TestEnv::on_node`], [`node`]) there is a scheduler, a kubelet, containerd and a
//! registry too, and pods really run; without one, Pods are stored and never run. There is no
//! aggregated API: OpenShift, Tekton and Shipwright resources are stand-in CRDs from [`crds`],
//! and [`openshift`] executes the OpenShift Builds on the node as OpenShift's build controller
//! would. On the node, [`tekton`] runs the real Tekton Pipelines controller instead.
//!
//! Every server runs under `nbv-supervise`, which stops it when the test process closes a pipe;
//! the kernel closes it when the process ends for any reason, so nothing is left running and the
//! temporary state directory is removed even after a panic or a kill.

mod binaries;
mod controller;
mod controlplane;
pub mod crds;
pub mod local_path;
pub mod node;
pub mod openshift;
mod pki;
mod process;
mod shared;
pub mod shipwright;
pub mod tekton;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use binaries::{
    BIN_DIR_ENV, Binaries, ETCD_VERSION, EXECUTABLES, HELM_VERSION, KUBERNETES_VERSION,
    NODE_EXECUTABLES, REGISTRY_VERSION, STAMP_FILE, bin_dir_of, cache_root, versioned_dir,
};
pub use controller::HostController;
pub use controlplane::{
    ControlPlane, ControlPlaneBuilder, DEFAULT_CONTROLLERS, KEEP_ENV, KUBERNETES_SERVICE_IP,
    SERVICE_CLUSTER_IP_RANGE, StartupTimings, client_from, config_from, readyz,
};
pub use crds::install_crds;
pub use node::{NodeImage, NodeImages, NodeServer};
pub use pki::{CertPair, Pki};
pub use process::{Lifetime, ProcessInfo, is_running, rss_kib};
pub use shared::{TestEnv, shared, shared_with_node};

/// What can go wrong starting or using a control plane.
///
/// `Debug` shows the same text as `Display`: tests `unwrap()` these, and the message (what to
/// build, the server's last log lines) is what a reader of a failed test needs.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The binaries have not been built.
    #[error(
        "control-plane binaries not found: {reason}\n\
         Build them with `cargo xtask controlplane build`, or set {BIN_DIR_ENV} to a directory \
         holding {}.",
        EXECUTABLES.join(", ")
    )]
    BinariesMissing {
        /// What exactly is missing.
        reason: String,
    },
    /// A file or process operation failed.
    #[error("I/O error on {}", path.display())]
    Io {
        /// The file, directory or executable concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Generating a certificate or key failed.
    #[error("generating certificates failed")]
    Certificate(#[from] rcgen::Error),
    /// A server exited or did not become ready.
    #[error("{name} {detail}\n--- last lines of {} ---\n{tail}", log.display())]
    ServerFailed {
        /// Which server.
        name: &'static str,
        /// What happened.
        detail: String,
        /// Its log file.
        log: PathBuf,
        /// The end of that log.
        tail: String,
    },
    /// A request to the API server failed.
    #[error("Kubernetes API request failed")]
    Kube(#[source] Box<kube::Error>),
    /// A kubeconfig could not be read.
    #[error("reading a kubeconfig failed")]
    Kubeconfig(#[from] kube::config::KubeconfigError),
    /// A manifest is not valid YAML for its type.
    #[error("invalid YAML")]
    Yaml(#[from] serde_yaml_ng::Error),
    /// Something did not happen in time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// An input or a server answer made no sense.
    #[error("{0}")]
    Invalid(String),
    /// The shared control plane of this test binary failed to start (reported to every test).
    #[error("the shared control plane failed to start")]
    Shared(#[source] Arc<Error>),
}

impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self}")?;
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            write!(f, "\ncaused by: {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

impl From<kube::Error> for Error {
    fn from(e: kube::Error) -> Self {
        Self::Kube(Box::new(e))
    }
}

impl Error {
    pub(crate) fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }
}

/// Writes a file readable by its owner only (keys live among these files).
pub(crate) fn write_file(path: &Path, contents: &[u8]) -> Result<(), Error> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    f.write_all(contents).map_err(|e| Error::io(path, e))
}
