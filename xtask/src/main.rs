//! `cargo xtask`: the project's automation, in Rust so it runs wherever cargo does.

mod bench;
mod ci;
mod codegen;
mod controlplane;
mod dist;
mod gotools;
mod manifests;
mod node;
mod olm;
mod scaffold;
mod sh;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    about = "Project automation for the notebook validator operator"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Everything CI checks: formatting, lints, generated files, licenses, all tests.
    Ci,
    /// Regenerates every generated file: the CRD, the deployment manifests and chart, and the
    /// docs written from code and tests (parity matrix, auto order, hostile-input tables,
    /// result schema, the README's status example).
    Codegen {
        /// Fails instead of writing when a file is stale.
        #[arg(long)]
        check: bool,
    },
    /// Builds the operator and runner for a distribution with the chosen strategies.
    Dist {
        /// Operator features: strategy names and/or `community`, comma-separated.
        #[arg(long, default_value = "s2i")]
        features: String,
    },
    /// Scaffolds a community strategy crate and the operator feature for it.
    NewStrategy {
        /// The strategy's name (lowercase letters, digits and '-').
        name: String,
        /// Skips running the new crate's tests (which also write its first snapshots).
        #[arg(long)]
        no_test: bool,
    },
    /// Generates the deployment manifests (Kustomize bases, Helm chart, OLM bundle) from operator
    /// builds.
    Manifests {
        /// Only this Cargo feature set of the operator (e.g. `s2i,buildah`), written to
        /// deploy/kustomize/<set>; by default every checked-in set and the Helm chart.
        #[arg(long)]
        features: Option<String>,
        /// Fails instead of writing when a file is stale.
        #[arg(long)]
        check: bool,
    },
    /// Validates the OLM bundle in deploy/olm/bundle with OLM's own validators.
    OlmValidate,
    /// Build (or reuse from the cache) etcd, kube-apiserver and kube-controller-manager.
    #[command(subcommand)]
    Controlplane(controlplane::ControlplaneCommand),
    /// What the local node needs: its distribution packages and its images.
    #[command(subcommand)]
    Node(node::NodeCommand),
    /// Start, stop or inspect a local control plane for running the operator by hand.
    #[command(subcommand)]
    Cluster(controlplane::ClusterCommand),
    /// Scale benchmark of the operator on a real control plane (release build; not part of CI).
    Bench {
        /// Operator features: strategy names and/or `community`, comma-separated.
        #[arg(long, default_value = "s2i")]
        features: String,
        /// Job counts, comma-separated.
        #[arg(long, default_value = "100,1000")]
        jobs: String,
        /// Directory for scale.md and scale-<N>.json, relative to the workspace root.
        #[arg(long, default_value = "docs/benchmarks")]
        out: std::path::PathBuf,
        /// Further options of the benchmark, after `--` (e.g. `-- --create-rate 0`; see
        /// `cargo run -p nbv-bench -- run --help`).
        #[arg(last = true)]
        options: Vec<String>,
    },
    /// Benchmark on the real node: job created → verdict against bare papermill pods (release
    /// build; not part of CI). Writes docs/benchmarks/node.md.
    BenchNode {
        /// Jobs (and bare pods) at each concurrency.
        #[arg(long, default_value_t = 20)]
        runs: usize,
        /// Concurrency levels, comma-separated.
        #[arg(long, default_value = "1,4")]
        concurrency: String,
    },
    /// Benchmark on the real node: each pod builder's layer cache, off and on, over three builds
    /// (release build; not part of CI; downloads its wheels with pip). Writes
    /// docs/benchmarks/build-cache.md.
    BenchBuildCache {
        /// Builders to measure, comma-separated.
        #[arg(long, default_value = "buildah,kaniko,buildkit")]
        builders: String,
    },
}

fn main() -> anyhow::Result<()> {
    let root = sh::workspace_root();
    match Cli::parse().command {
        Command::Ci => ci::run(&root),
        Command::Codegen { check } => codegen::run(&root, check),
        Command::Manifests { features, check } => manifests::run(&root, features.as_deref(), check),
        Command::OlmValidate => olm::validate(&root),
        Command::Dist { features } => dist::run(&root, &features),
        Command::NewStrategy { name, no_test } => scaffold::run(&root, &name, !no_test),
        Command::Controlplane(cmd) => controlplane::run_controlplane(cmd),
        Command::Cluster(cmd) => controlplane::run_cluster(cmd),
        Command::Node(cmd) => node::run(&root, cmd),
        Command::Bench {
            features,
            jobs,
            out,
            options,
        } => bench::run(&root, &features, &jobs, &out, &options),
        Command::BenchNode { runs, concurrency } => bench::node(&root, runs, &concurrency),
        Command::BenchBuildCache { builders } => bench::build_cache(&root, &builders),
    }
}
