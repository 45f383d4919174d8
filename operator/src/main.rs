//! `nbv-operator`: the command line of the notebook validator operator.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use notebook_validator_operator::catalog::{Catalog, StrategyRow};
use notebook_validator_operator::config::{ENV_ENABLED, EnabledStrategies};
use notebook_validator_operator::reconcile::Context;
use notebook_validator_operator::reconcile::validation_pod::PodSettings;
use notebook_validator_operator::{controller, crd};

#[derive(Debug, Parser)]
#[command(
    name = "nbv-operator",
    version,
    about = "Validates Jupyter notebooks on Kubernetes"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the strategy switches come from.
#[derive(Debug, clap::Args)]
struct StrategySwitches {
    /// Operator config file (the mounted ConfigMap), with `enabledBuildStrategies`.
    #[arg(long, env = "NBV_CONFIG")]
    config: Option<PathBuf>,
    /// Enables a compiled-in strategy (repeatable); replaces the config file and environment.
    #[arg(long = "enable-strategy", value_name = "NAME")]
    enable: Vec<String>,
}

impl StrategySwitches {
    fn catalog(&self) -> anyhow::Result<Catalog> {
        let env = std::env::var(ENV_ENABLED).ok();
        let enabled =
            EnabledStrategies::resolve(self.config.as_deref(), env.as_deref(), &self.enable)?;
        Ok(Catalog::linked(enabled)?)
    }
}

/// The operator image of this version, which holds the runner.
const DEFAULT_RUNNER_IMAGE: &str = concat!(
    "quay.io/nbv/notebook-validator-operator:v",
    env!("CARGO_PKG_VERSION")
);

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the controller.
    Run {
        #[command(flatten)]
        switches: StrategySwitches,
        /// Image holding the `nbv` runner (this operator's image); validation pods copy it from there.
        #[arg(long, env = "NBV_RUNNER_IMAGE", default_value = DEFAULT_RUNNER_IMAGE)]
        runner_image: String,
        /// Image that clones repositories in validation pods (non-root, with git and sh); the
        /// runner image by default.
        #[arg(long, env = "NBV_GIT_IMAGE")]
        git_image: Option<String>,
        /// Notebook image for jobs that neither name nor build one.
        #[arg(long, env = "NBV_DEFAULT_IMAGE", default_value = buildstrategy_api::BuildRequest::DEFAULT_BASE_IMAGE)]
        default_image: String,
        /// Watches only this namespace (default: all).
        #[arg(long, env = "NBV_WATCH_NAMESPACE")]
        namespace: Option<String>,
        /// Log format.
        #[arg(long, env = "NBV_LOG_FORMAT", value_enum, default_value = "text")]
        log_format: LogFormat,
        /// Log filter, e.g. `info` or `notebook_validator_operator=debug,info`.
        #[arg(long, env = "NBV_LOG", default_value = "info")]
        log_level: String,
    },
    /// Lists the build strategies: compiled in, enabled, and how to get the others.
    Strategies {
        #[command(flatten)]
        switches: StrategySwitches,
        /// Output format.
        #[arg(short, long, value_enum, default_value = "table")]
        output: Format,
        /// Also lists the strategies of this repository that are not compiled in.
        #[arg(long)]
        all: bool,
    },
    /// Prints the NotebookValidationJob CustomResourceDefinition.
    Crd,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Crd => out.write_all(crd::crd_yaml().as_bytes())?,
        Command::Strategies {
            switches,
            output,
            all,
        } => {
            let mut rows = switches.catalog()?.rows();
            rows.retain(|row| all || row.compiled);
            match output {
                Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?,
                Format::Table => write_table(&mut out, &rows)?,
            }
        }
        Command::Run {
            switches,
            runner_image,
            git_image,
            default_image,
            namespace,
            log_format,
            log_level,
        } => {
            init_logging(log_format, &log_level)?;
            let catalog = switches.catalog().context("loading the build strategies")?;
            let settings = PodSettings {
                git_image: git_image.unwrap_or_else(|| runner_image.clone()),
                runner_image,
            };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async move {
                let client = kube::Client::try_default().await.context(
                    "connecting to the Kubernetes API (in-cluster config or KUBECONFIG)",
                )?;
                let ctx = Context::new(client, catalog, settings, default_image);
                controller::run(ctx, namespace.as_deref()).await?;
                anyhow::Ok(())
            })?;
        }
    }
    Ok(())
}

fn init_logging(format: LogFormat, filter: &str) -> anyhow::Result<()> {
    let filter =
        tracing_subscriber::EnvFilter::try_new(filter).context("parsing the log filter")?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
    Ok(())
}

fn write_table(out: &mut impl Write, rows: &[StrategyRow]) -> std::io::Result<()> {
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            [
                r.name.clone(),
                r.tier.clone().unwrap_or_else(|| "-".into()),
                r.feature_flag.clone(),
                yes_no(r.compiled).into(),
                yes_no(r.enabled).into(),
                r.description.clone(),
            ]
        })
        .collect();
    let header = [
        "NAME",
        "TIER",
        "FEATURE FLAG",
        "COMPILED",
        "ENABLED",
        "DESCRIPTION",
    ]
    .map(String::from);
    let widths: Vec<usize> = (0..6)
        .map(|i| {
            cells
                .iter()
                .chain([&header])
                .map(|row| row[i].len())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in [&header].into_iter().chain(&cells) {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        writeln!(out, "{}", line.join("  ").trim_end())?;
    }
    Ok(())
}
