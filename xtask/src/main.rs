//! `cargo xtask`: the project's automation, in Rust so it runs wherever cargo does.

mod controlplane;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "Project automation for the notebook validator operator")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build (or reuse from the cache) etcd, kube-apiserver and kube-controller-manager.
    #[command(subcommand)]
    Controlplane(controlplane::ControlplaneCommand),
    /// Start, stop or inspect a local control plane for running the operator by hand.
    #[command(subcommand)]
    Cluster(controlplane::ClusterCommand),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Controlplane(cmd) => controlplane::run_controlplane(cmd),
        Command::Cluster(cmd) => controlplane::run_cluster(cmd),
    }
}
