//! The `nbv-operator` command line, in the library so that a distribution's own binary (with
//! strategies from other crates linked in) is `fn main() { notebook_validator_operator::cli::main() }`.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use tokio_util::sync::CancellationToken;

use crate::catalog::{Catalog, StrategyRow};
use crate::config::PodSettings;
use crate::config::{ConfigError, ENV_ENABLED, EnabledStrategies};
use crate::leader::{self, Ended, LeaseConfig};
use crate::steps::Context;
use crate::steps::reuse::ReuseSettings;
use crate::{controller, crd, health, rbac};

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The operator config is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The linked strategies do not form a registry.
    #[error(transparent)]
    Registry(#[from] buildstrategy_api::RegistryError),
    /// No Kubernetes API could be reached.
    #[error("cannot connect to the Kubernetes API (in-cluster config or KUBECONFIG)")]
    Connect(#[source] kube::Error),
    /// The controller could not start.
    #[error(transparent)]
    Start(#[from] controller::StartError),
    /// The metrics and health endpoints could not be served.
    #[error(transparent)]
    Serve(#[from] health::ServeError),
    /// Another replica took the leader-election Lease.
    #[error("lost the leader-election lease; exiting so that only the new leader reconciles")]
    LeaseLost,
    /// `--log-level` is not a valid filter.
    #[error(
        "'{filter}' is not a log filter; use e.g. info or notebook_validator_operator=debug,info"
    )]
    LogFilter {
        /// The filter given.
        filter: String,
        /// Why it does not parse.
        #[source]
        source: tracing_subscriber::filter::ParseError,
    },
    /// The endpoints' task panicked.
    #[error("the metrics server task failed")]
    Join(#[from] tokio::task::JoinError),
    /// Writing the output failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Serialising the output failed.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A duration flag does not parse.
    #[error(transparent)]
    Duration(#[from] crate::duration::DurationError),
}

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
    fn catalog(&self) -> Result<Catalog, CliError> {
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

/// Whether jobs reuse images built before from the same inputs (docs/adrs/0008-build-reuse.md).
#[derive(Debug, clap::Args)]
struct Reuse {
    /// Lets a job use an image built for a job of another namespace (its pull may need that
    /// namespace's pull secret).
    #[arg(long, env = "NBV_REUSE_ACROSS_NAMESPACES")]
    reuse_across_namespaces: bool,
    /// Images built longer ago than this are built again, e.g. `168h`.
    #[arg(long, env = "NBV_REUSE_MAX_AGE", default_value = "168h")]
    reuse_max_age: String,
    /// Lets a base image given by tag alone (no digest) be part of a reuse key: a moved tag is
    /// then not noticed.
    #[arg(long, env = "NBV_REUSE_BASE_TAGS")]
    reuse_base_tags: bool,
}

impl Reuse {
    fn settings(&self) -> Result<ReuseSettings, crate::duration::DurationError> {
        Ok(ReuseSettings {
            across_namespaces: self.reuse_across_namespaces,
            max_age: crate::duration::parse("--reuse-max-age", &self.reuse_max_age)?,
            allow_base_tags: self.reuse_base_tags,
        })
    }
}

/// Leader election, so that of several replicas one reconciles at a time.
#[derive(Debug, clap::Args)]
struct Election {
    /// Reconciles only while holding the leader-election Lease.
    #[arg(long, env = "NBV_LEADER_ELECT")]
    leader_elect: bool,
    /// The Lease's name.
    #[arg(long, env = "NBV_LEASE_NAME", default_value = "nbv-operator")]
    lease_name: String,
    /// The Lease's namespace (default: the operator's own, from the service account or kubeconfig).
    #[arg(long, env = "NBV_POD_NAMESPACE")]
    lease_namespace: Option<String>,
    /// This replica's identity in the Lease (default: the host name, which is the pod name).
    #[arg(long, env = "NBV_POD_NAME")]
    lease_identity: Option<String>,
    /// Seconds a Lease that is not renewed stays with its holder.
    #[arg(long, env = "NBV_LEASE_DURATION_SECONDS", default_value_t = 15)]
    lease_duration_seconds: u64,
}

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

// Parsed once at start: the size of the largest variant costs nothing worth boxing for.
#[allow(clippy::large_enum_variant)]
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
        /// Address serving /metrics, /healthz and /readyz.
        #[arg(long, env = "NBV_METRICS_ADDR", default_value = "0.0.0.0:8080")]
        metrics_addr: SocketAddr,
        #[command(flatten)]
        election: Election,
        #[command(flatten)]
        reuse: Reuse,
    },
    /// Prints, as JSON, what the generated deployment manifests need from this build: the CRD,
    /// the ClusterRole of the compiled strategies, and the strategies (used by `cargo xtask
    /// manifests`).
    #[command(hide = true)]
    Manifests {
        /// The ClusterRole's name.
        #[arg(long, default_value = "nbv-operator")]
        role_name: String,
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

/// Runs the command line: parses the arguments, runs the command, and turns an error into a
/// message on standard error and a failing exit code. A distribution's binary calls only this.
pub fn main() -> ExitCode {
    match execute(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let mut message = format!("Error: {error}");
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                message.push_str(&format!("\n  caused by: {cause}"));
                source = cause.source();
            }
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

fn execute(cli: Cli) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Crd => out.write_all(crd::crd_yaml().as_bytes())?,
        Command::Manifests { role_name } => {
            let catalog = Catalog::linked(EnabledStrategies::resolve(None, None, &[])?)?;
            let strategies: Vec<_> = catalog.rows().into_iter().filter(|r| r.compiled).collect();
            let build = serde_json::json!({
                "version": env!("CARGO_PKG_VERSION"),
                "crd": crd::crd_yaml(),
                "clusterRole": rbac::cluster_role(&role_name, &catalog),
                "strategies": strategies,
                "alertRules": crate::monitoring::alert_rules(),
                "dashboard": crate::monitoring::dashboard(),
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&build)?)?;
        }
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
            metrics_addr,
            election,
            reuse,
        } => {
            init_logging(log_format, &log_level)?;
            let catalog = switches.catalog()?;
            let reuse_settings = reuse.settings()?;
            let settings = PodSettings {
                git_image: git_image.unwrap_or_else(|| runner_image.clone()),
                runner_image,
            };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async move {
                let client = kube::Client::try_default()
                    .await
                    .map_err(CliError::Connect)?;
                let lease = election
                    .leader_elect
                    .then(|| lease_config(&election, &client));
                let mut ctx = Context::new(client.clone(), catalog, settings, default_image);
                ctx.reuse = reuse_settings;
                run(ctx, namespace, metrics_addr, lease).await
            })?;
        }
    }
    Ok(())
}

fn lease_config(election: &Election, client: &kube::Client) -> LeaseConfig {
    let identity = election.lease_identity.clone().unwrap_or_else(|| {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "nbv-operator".into());
        format!("{host}-{}", std::process::id())
    });
    let namespace = election
        .lease_namespace
        .clone()
        .unwrap_or_else(|| client.default_namespace().to_owned());
    LeaseConfig::new(
        &election.lease_name,
        namespace,
        identity,
        Duration::from_secs(election.lease_duration_seconds),
    )
}

/// Serves the endpoints and runs the controller (while leading, with a lease) until SIGTERM,
/// then stops the controller, releases the lease and stops the server, in that order.
async fn run(
    ctx: Context,
    namespace: Option<String>,
    metrics_addr: SocketAddr,
    lease: Option<LeaseConfig>,
) -> Result<(), CliError> {
    let stop = CancellationToken::new();
    tokio::spawn(cancel_on_signal(stop.clone()));
    let listener = health::bind(metrics_addr).await?;
    let server_stop = CancellationToken::new();
    let server = tokio::spawn(health::serve(
        listener,
        ctx.metrics.clone(),
        ctx.health.clone(),
        server_stop.clone(),
    ));
    tracing::info!(addr = %metrics_addr, "serving /metrics, /healthz and /readyz");
    let result = match lease {
        None => controller::run_until(ctx, namespace.as_deref(), stop)
            .await
            .map_err(CliError::from),
        Some(lease) => {
            let client = ctx.client.clone();
            let health = Arc::clone(&ctx.health);
            let failed = Arc::new(std::sync::Mutex::new(None));
            let failure = Arc::clone(&failed);
            let ended = leader::lead(client, lease, &health, stop, |until| async move {
                if let Err(e) = controller::run_until(ctx, namespace.as_deref(), until).await
                    && let Ok(mut slot) = failure.lock()
                {
                    *slot = Some(e);
                }
            })
            .await;
            match (ended, failed.lock().ok().and_then(|mut f| f.take())) {
                (_, Some(e)) => Err(e.into()),
                // Exiting lets Kubernetes restart the pod as a standby; reconciling on would risk
                // two replicas acting on the same job.
                (Ended::Lost, None) => Err(CliError::LeaseLost),
                (Ended::Stopped, None) => Ok(()),
            }
        }
    };
    server_stop.cancel();
    server.await??;
    result
}

/// Cancels `stop` on SIGTERM (how Kubernetes stops a pod) or Ctrl-C.
async fn cancel_on_signal(stop: CancellationToken) {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = terminate => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("shutting down");
    stop.cancel();
}

fn init_logging(format: LogFormat, filter: &str) -> Result<(), CliError> {
    let filter =
        tracing_subscriber::EnvFilter::try_new(filter).map_err(|source| CliError::LogFilter {
            filter: filter.to_owned(),
            source,
        })?;
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
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            [
                r.name.clone(),
                r.tier.clone().unwrap_or_else(|| "-".into()),
                r.feature_flag.clone(),
                yes_no(r.compiled).into(),
                yes_no(r.enabled).into(),
                r.auto_rank
                    .map_or_else(|| "never".into(), |rank| rank.to_string()),
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
        "AUTO RANK",
        "DESCRIPTION",
    ]
    .map(String::from);
    let widths: Vec<usize> = (0..7)
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
