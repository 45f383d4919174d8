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
    },
}

pub(crate) fn run(root: &std::path::Path, cmd: NodeCommand) -> anyhow::Result<()> {
    match cmd {
        NodeCommand::Deps => deps::install(),
        NodeCommand::Images { force } => {
            let path = images::build(root, force)?;
            println!("{}", path.display());
            Ok(())
        }
    }
}

pub(crate) use deps::install as install_deps;
pub(crate) use images::build as build_images;
