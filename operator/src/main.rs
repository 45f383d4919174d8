//! `nbv-operator`: the command line of the notebook validator operator.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use notebook_validator_operator::catalog::{Catalog, StrategyRow};
use notebook_validator_operator::config::{ENV_ENABLED, EnabledStrategies};
use notebook_validator_operator::crd;

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
        Command::Run { switches } => {
            let catalog = switches.catalog().context("loading the build strategies")?;
            anyhow::bail!(
                "the controller is not implemented in this version (strategies ready: {}); use `nbv-operator strategies` and `nbv-operator crd`",
                catalog.registry().names().join(", ")
            );
        }
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
