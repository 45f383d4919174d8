//! `cargo xtask node deps|images`: what the local node needs on this machine.

pub(crate) mod builders;
mod deps;
mod images;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub(crate) enum NodeCommand {
    /// Installs containerd, runc, the CNI plugins, iptables, umoci and debootstrap from the
    /// distribution's packages when any is missing.
    Deps,
    /// Builds the node's images (pause, notebook, operator) or reuses them from the cache;
    /// prints where their list is.
    Images {
        /// Rebuild the Debian base layer even if the cache holds one for the same inputs.
        #[arg(long)]
        force: bool,
        /// Also build these build engines from their modules (`tekton`: Tekton Pipelines'
        /// controller and its pods' programs; `shipwright`: Shipwright Build's, with Tekton),
        /// for `cluster up --with` and their node tests.
        #[arg(long = "with", value_enum)]
        engines: Vec<Engine>,
    },
}

/// A build engine the node can run for real, built from its module when asked for: it takes
/// minutes to build, and only its own tests and `cluster up --with` need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Engine {
    /// Tekton Pipelines' controller (`nbv_testenv::tekton`).
    Tekton,
    /// Shipwright Build's controller (`nbv_testenv::shipwright`), which runs its builds as
    /// Tekton TaskRuns: it brings Tekton with it.
    Shipwright,
}

impl Engine {
    /// `engines` with the engines they run on: Shipwright brings Tekton.
    pub(crate) fn with_prerequisites(engines: &[Self]) -> Vec<Self> {
        let mut all = engines.to_vec();
        if all.contains(&Self::Shipwright) && !all.contains(&Self::Tekton) {
            all.push(Self::Tekton);
        }
        all
    }
}

pub(crate) fn run(root: &std::path::Path, cmd: NodeCommand) -> anyhow::Result<()> {
    match cmd {
        NodeCommand::Deps => deps::install(),
        NodeCommand::Images { force, engines } => {
            let path = images::build(root, force, &engines)?;
            println!("{}", path.display());
            Ok(())
        }
    }
}

pub(crate) use deps::install as install_deps;
pub(crate) use images::build as build_images;
