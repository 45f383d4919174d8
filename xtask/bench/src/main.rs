//! `nbv-bench`: the operator's scale benchmark on a real control plane. Run it through
//! `cargo xtask bench`, which builds it in release mode with the chosen operator features.
//!
//! For each job count it starts a fresh control plane, runs the operator in a child process
//! (this binary's hidden `operator` command) on one namespace, creates the jobs, plays the
//! kubelet and the build controller, checks every job's end, then measures the bare-client
//! floor on another fresh control plane. It writes `scale-<N>.json` and `scale.md`.

mod actors;
mod build_cache;
mod counting;
mod node;
mod operator;
mod procfs;
mod report;
mod run;
mod stats;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use notebook_validator_operator::catalog::Catalog;
use notebook_validator_operator::config::EnabledStrategies;
use notebook_validator_operator::config::PodSettings;

use crate::report::Scale;

/// The runner image the validation pods name (never pulled: no kubelet runs).
pub(crate) const RUNNER_IMAGE: &str = "quay.io/nbv/notebook-validator-operator:bench";
/// The image of jobs that neither name nor build one (none of the benchmark's).
const DEFAULT_IMAGE: &str = "quay.io/jupyter/minimal-notebook:latest";

#[derive(Debug, Parser)]
#[command(
    name = "nbv-bench",
    about = "The operator's scale benchmark on a real control plane"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the benchmark for each job count and writes the reports.
    Run {
        /// Job counts, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "100,1000")]
        jobs: Vec<usize>,
        /// Directory for scale.md and scale-<N>.json.
        #[arg(long, default_value = "docs/benchmarks")]
        out: PathBuf,
        /// The operator features this binary was built with, for the report.
        #[arg(long, default_value = "s2i")]
        features: String,
        /// The command line to show in the report.
        #[arg(long)]
        command: Option<String>,
        /// Share of jobs that build with S2I, in percent (when S2I is compiled in).
        #[arg(long, default_value_t = 20)]
        build_percent: u32,
        /// Jobs created at a time.
        #[arg(long, default_value_t = 16)]
        creators: usize,
        /// Jobs created per second, at a steady pace; 0 creates them as fast as the API server
        /// takes them, which saturates it, so that latencies then measure its queues.
        #[arg(long, default_value_t = 25.0)]
        create_rate: f64,
        /// How long a validation pod runs before the played kubelet finishes it (ms).
        #[arg(long, default_value_t = 1000)]
        pod_run_ms: u64,
        /// Workers of the played kubelet.
        #[arg(long, default_value_t = 16)]
        kubelet_workers: usize,
        /// How long a build takes before the played build controller completes it (ms).
        #[arg(long, default_value_t = 2000)]
        build_ms: u64,
        /// Workers of the played build controller.
        #[arg(long, default_value_t = 8)]
        builder_workers: usize,
        /// Concurrent workers of the bare client of the floor.
        #[arg(long, default_value_t = 64)]
        floor_workers: usize,
        /// A run ends after this many seconds plus `--deadline-ms-per-job` per job; jobs not
        /// terminal by then count as stuck.
        #[arg(long, default_value_t = 120)]
        deadline_seconds: u64,
        /// See `--deadline-seconds`.
        #[arg(long, default_value_t = 150)]
        deadline_ms_per_job: u64,
    },
    /// Each pod builder's layer cache, off and on, over three builds on the real node; writes
    /// build-cache.md.
    BuildCache {
        /// Builders to measure, comma-separated (default: buildah, kaniko and buildkit).
        #[arg(long, value_delimiter = ',')]
        builders: Vec<String>,
        /// Directory for build-cache.md and build-cache.json.
        #[arg(long, default_value = "docs/benchmarks")]
        out: PathBuf,
        /// The command line to show in the report.
        #[arg(long, default_value = "cargo xtask bench-build-cache")]
        command: String,
    },
    /// Job created → verdict on the real node, against bare papermill pods; writes node.md.
    Node {
        /// Jobs (and bare pods) at each concurrency.
        #[arg(long, default_value_t = 20)]
        runs: usize,
        /// Concurrency levels, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "1,4")]
        concurrency: Vec<usize>,
        /// Directory for node.md and node.json.
        #[arg(long, default_value = "docs/benchmarks")]
        out: PathBuf,
        /// The command line to show in the report.
        #[arg(long, default_value = "cargo xtask bench-node")]
        command: String,
    },
    /// The operator under test (started by `run`).
    #[command(hide = true)]
    Operator {
        #[arg(long)]
        kubeconfig: PathBuf,
        #[arg(long)]
        namespace: String,
    },
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match Cli::parse().command {
        Command::Node {
            runs,
            concurrency,
            out,
            command,
        } => runtime.block_on(node::run(runs, &concurrency, &out, &command)),
        Command::BuildCache {
            builders,
            out,
            command,
        } => runtime.block_on(build_cache::run(&builders, &out, &command)),
        Command::Operator {
            kubeconfig,
            namespace,
        } => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_env("NBV_LOG")
                        .unwrap_or_else(|_| "warn".into()),
                )
                .with_writer(std::io::stderr)
                .init();
            let classes = actors::Class::ALL
                .iter()
                .map(|c| c.prefix().to_owned())
                .collect();
            let settings = PodSettings {
                runner_image: RUNNER_IMAGE.into(),
                git_image: RUNNER_IMAGE.into(),
            };
            runtime.block_on(operator::run(
                &kubeconfig,
                &namespace,
                classes,
                settings,
                DEFAULT_IMAGE.into(),
            ))
        }
        Command::Run {
            jobs,
            out,
            features,
            command,
            build_percent,
            creators,
            create_rate,
            pod_run_ms,
            kubelet_workers,
            build_ms,
            builder_workers,
            floor_workers,
            deadline_seconds,
            deadline_ms_per_job,
        } => {
            let options = run::Options {
                command: command.unwrap_or_else(|| {
                    let counts: Vec<String> = jobs.iter().map(ToString::to_string).collect();
                    format!(
                        "cargo xtask bench --features {features} --jobs {}",
                        counts.join(",")
                    )
                }),
                features,
                build_percent: build_percent.min(100),
                creators,
                create_rate: (create_rate > 0.0).then_some(create_rate),
                pace: actors::Pace {
                    pod_run: Duration::from_millis(pod_run_ms),
                    kubelet_workers,
                    build_time: Duration::from_millis(build_ms),
                    builder_workers,
                },
                floor_workers,
                deadline_base: Duration::from_secs(deadline_seconds),
                deadline_per_job: Duration::from_millis(deadline_ms_per_job),
            };
            runtime.block_on(run_all(&jobs, &out, &options))
        }
    }
}

/// The strategies linked into this binary.
pub(crate) fn compiled_strategies() -> anyhow::Result<Vec<String>> {
    let catalog = Catalog::linked(EnabledStrategies::resolve(None, None, &[])?)?;
    Ok(catalog
        .registry()
        .names()
        .into_iter()
        .map(str::to_owned)
        .collect())
}

async fn run_all(jobs: &[usize], out: &Path, options: &run::Options) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| out.display().to_string())?;
    let log_dir = std::env::temp_dir();
    for &n in jobs {
        let started = std::time::Instant::now();
        let scale = run::measure(n, options, &log_dir).await?;
        let path = out.join(format!("scale-{n}.json"));
        std::fs::write(&path, serde_json::to_string_pretty(&scale)? + "\n")
            .with_context(|| path.display().to_string())?;
        println!(
            "N = {n} done in {:.0?}; wrote {}",
            started.elapsed(),
            path.display()
        );
        for target in &scale.targets {
            let verdict = if target.passed { "pass" } else { "FAIL" };
            println!("  {verdict}: {} ({})", target.name, target.detail);
        }
        write_markdown(out)?;
    }
    Ok(())
}

/// Rewrites `scale.md` from every `scale-<N>.json` in `out`, keeping its hand-written part.
fn write_markdown(out: &Path) -> anyhow::Result<()> {
    let mut runs: Vec<Scale> = Vec::new();
    for entry in std::fs::read_dir(out)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.starts_with("scale-") && name.ends_with(".json") {
            let text = std::fs::read_to_string(&path)?;
            runs.push(
                serde_json::from_str(&text)
                    .with_context(|| format!("{} is not a benchmark report", path.display()))?,
            );
        }
    }
    runs.sort_by_key(|r| r.jobs);
    let path = out.join("scale.md");
    let analysis = report::kept_analysis(&path);
    std::fs::write(&path, report::markdown(&runs, &analysis))
        .with_context(|| path.display().to_string())?;
    println!("wrote {}", path.display());
    if let Some(t) = report::memory_target(&runs) {
        let verdict = if t.passed { "pass" } else { "FAIL" };
        println!("  {verdict}: {} ({})", t.name, t.detail);
    }
    Ok(())
}
