//! The local control plane: building its binaries and running it for people.

pub(crate) mod build;
mod cluster;
mod gomod;

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub(crate) enum ControlplaneCommand {
    /// Build the binaries, or reuse them from the cache; prints their directory.
    Build {
        /// Rebuild even if the cache holds a complete build of the same inputs.
        #[arg(long)]
        force: bool,
    },
    /// Print the directory of built binaries; fails if there is no complete build.
    Path,
    /// Regenerate the Go wrapper modules for the versions pinned in nbv-testenv.
    Gomod,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ClusterCommand {
    /// Start the control plane in the background.
    Up {
        /// Also install the stand-in CRDs for OpenShift builds, Tekton and Shipwright.
        #[arg(long)]
        stand_ins: bool,
        /// Also run a node (containerd, kubelet, kube-scheduler) so pods really run, and a git
        /// server on it holding examples/notebooks. Installs the node's packages and builds its
        /// images first when missing (needs root).
        #[arg(long)]
        node: bool,
        /// Also run these build engines for real on the node (needs `--node`): `tekton` runs
        /// Tekton Pipelines' controller, built from its module, instead of its stand-in CRDs;
        /// `shipwright` runs Shipwright Build's controller the same way, with Tekton.
        #[arg(long = "with", value_enum, requires = "node")]
        engines: Vec<crate::node::Engine>,
    },
    /// Run the OpenShift build executor against the cluster (started by `up --node
    /// --stand-ins`, which `down` stops).
    #[command(hide = true)]
    BuildExecutor {
        #[arg(long)]
        kubeconfig: PathBuf,
        /// A file holding the node registry's login as a docker config JSON.
        #[arg(long)]
        registry_login: PathBuf,
    },
    /// Stop it and remove its files.
    Down,
    /// Say whether it runs, and where its kubeconfig is.
    Status,
}

pub(crate) fn run_controlplane(cmd: ControlplaneCommand) -> anyhow::Result<()> {
    match cmd {
        ControlplaneCommand::Build { force } => {
            let dir = build::build(force)?;
            println!("{}", dir.display());
            Ok(())
        }
        ControlplaneCommand::Path => {
            let binaries = nbv_testenv::Binaries::locate()?;
            println!("{}", binaries.dir.display());
            Ok(())
        }
        ControlplaneCommand::Gomod => gomod::regenerate(),
    }
}

/// The directory of the control plane's binaries, built when the cache lacks them.
pub(crate) fn binaries_dir() -> anyhow::Result<PathBuf> {
    build::build(false)
}

pub(crate) fn run_cluster(cmd: ClusterCommand) -> anyhow::Result<()> {
    match cmd {
        ClusterCommand::Up {
            stand_ins,
            node,
            engines,
        } => cluster::up(stand_ins, node, &engines),
        ClusterCommand::BuildExecutor {
            kubeconfig,
            registry_login,
        } => cluster::build_executor(&kubeconfig, &registry_login),
        ClusterCommand::Down => cluster::down(),
        ClusterCommand::Status => cluster::status(),
    }
}

/// The repository root (the xtask crate's parent), with symlinks resolved.
fn repo_root() -> anyhow::Result<PathBuf> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = manifest
        .canonicalize()
        .with_context(|| format!("resolving {}", manifest.display()))?;
    manifest
        .parent()
        .map(Path::to_path_buf)
        .context("the xtask crate has no parent directory")
}

/// `xtask/controlplane`: the Go wrapper modules.
fn wrappers_dir() -> anyhow::Result<PathBuf> {
    Ok(repo_root()?.join("xtask").join("controlplane"))
}
