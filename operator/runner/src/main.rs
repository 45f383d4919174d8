//! `nbv`: executes a Jupyter notebook in a Jupyter kernel and validates it.
//!
//! Exit codes: 0 passed, 1 a cell raised, 2 usage error, 3 outputs differ from
//! the golden notebook, 4 infrastructure error, 5 invalid input
//! (see [`nbv_report::Outcome::exit_code`]).

mod cli;
mod collect;
mod dirs;
mod error;
mod execute;
mod html;
mod junit;
mod params;
mod pipeline;
mod prepare;
mod python;
mod render;
mod requirements;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use clap::Parser;
use nbv_compare::CompareConfig;
use nbv_report::{Outcome, Report, SCHEMA_VERSION, Strategy, Summary, TERMINATION_MESSAGE_LIMIT};

use crate::cli::{
    Cli, Command, CommonArgs, Mode, OutputFormat, RequirementsArgs, RunArgs, ValidateArgs,
};
use crate::error::{RunError, invalid};
use crate::pipeline::{Log, Settings};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let log: Log = Arc::new(|line: &str| eprintln!("nbv: {line}"));
    let result = match cli.command {
        Command::Run(args) => run(args, &log),
        Command::Validate(args) => validate(args, &log),
        Command::Setup(_) => setup(&log),
        Command::Requirements(args) => requirements(&args),
    };
    match result {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(u8::MAX)),
        Err(e) => {
            eprintln!("nbv: error: {e:#}");
            ExitCode::from(
                u8::try_from(Outcome::InfrastructureError.exit_code()).unwrap_or(u8::MAX),
            )
        }
    }
}

/// Pod mode.
fn run(args: RunArgs, log: &Log) -> anyhow::Result<i32> {
    let cache_dir = dirs::cache_dir(&args.work_dir.join("cache"));
    let report = match settings(
        &args.notebook,
        &args.common,
        args.parameters.as_deref(),
        args.work_dir.clone(),
        cache_dir,
    ) {
        Ok(settings) => pipeline::validate(&settings, log),
        Err(e) => error_report(&args.notebook, &args.common, &e),
    };
    let summary = Summary::from_report(&report)
        .to_bounded_json(TERMINATION_MESSAGE_LIMIT)
        .context("serializing the summary")?;
    // A missing termination-message path must not hide the verdict: warn and go on.
    if let Err(e) = std::fs::write(&args.termination_message_path, summary) {
        log(&format!(
            "cannot write summary to {}: {e}",
            args.termination_message_path.display()
        ));
    }
    let report_path = args
        .common
        .report
        .clone()
        .unwrap_or_else(|| args.work_dir.join("report.json"));
    finish(&report, Some(&report_path), &args.common, log)
}

/// Workstation mode.
fn validate(args: ValidateArgs, log: &Log) -> anyhow::Result<i32> {
    let work_dir = scratch_dir();
    let cache_dir = dirs::cache_dir(&std::env::temp_dir().join("nbv-cache"));
    let report = match settings(
        &args.notebook,
        &args.common,
        None,
        work_dir.clone(),
        cache_dir,
    ) {
        Ok(settings) => pipeline::validate(&settings, log),
        Err(e) => error_report(&args.notebook, &args.common, &e),
    };
    let _ = std::fs::remove_dir_all(&work_dir);
    finish(&report, args.common.report.as_deref(), &args.common, log)
}

fn setup(log: &Log) -> anyhow::Result<i32> {
    let fallback = std::env::temp_dir().join("nbv-cache");
    let cache_dir = dirs::cache_dir(&fallback);
    let env = dirs::writable_home_env(&cache_dir)?;
    let python = python::resolve(&cache_dir, &env, log.as_ref())?;
    println!("{}", python.exe.display());
    Ok(0)
}

/// Prints the requirements generated from the notebook's imports, as a build does.
fn requirements(args: &RequirementsArgs) -> anyhow::Result<i32> {
    requirements::check_import_names(&args.import_names)?;
    let python = std::env::var_os("NBV_PYTHON").unwrap_or_else(|| "python3".into());
    let mut command =
        requirements::from_imports_command(&python, &args.notebook, &args.import_names);
    if let Some(dir) = &args.source_dir {
        command.arg(dir);
    }
    let status = command.status().map_err(|e| {
        invalid(format!(
            "cannot run {}: {e}; set NBV_PYTHON to a Python 3 interpreter",
            python.to_string_lossy()
        ))
    })?;
    Ok(status
        .code()
        .unwrap_or(Outcome::InfrastructureError.exit_code()))
}

/// Writes the report file, prints the report, returns the exit code.
fn finish(
    report: &Report,
    report_path: Option<&Path>,
    common: &CommonArgs,
    log: &Log,
) -> anyhow::Result<i32> {
    let json = serde_json::to_string_pretty(report).context("serializing the report")?;
    let write = |path: &Path, what: &str, text: &str| {
        if let Err(e) = dirs::write_file(path, text) {
            log(&format!("cannot write {what} to {}: {e}", path.display()));
        }
    };
    if let Some(path) = report_path {
        write(path, "report", &json);
    }
    if let Some(path) = &common.junit {
        write(
            path,
            "JUnit XML",
            &junit::render(report).context("serializing JUnit XML")?,
        );
    }
    match common.output {
        OutputFormat::Json => println!("{json}"),
        OutputFormat::Human => print!("{}", render::render(report, render::use_colour())),
    }
    Ok(report.exit_code)
}

fn settings(
    notebook: &Path,
    common: &CommonArgs,
    parameters_json: Option<&str>,
    work_dir: PathBuf,
    cache_dir: PathBuf,
) -> Result<Settings, RunError> {
    let mut compare: CompareConfig = match common
        .comparison_config
        .as_deref()
        .filter(|c| !c.trim().is_empty())
    {
        Some(json) => serde_json::from_str(json)
            .map_err(|e| invalid(format!("comparison config is not valid: {e}")))?,
        None => CompareConfig::default(),
    };
    if let Some(path) = &common.sanitize_with {
        let text = std::fs::read_to_string(path)
            .map_err(|e| invalid(format!("cannot read sanitize file {}: {e}", path.display())))?;
        let pairs = nbv_compare::parse_sanitize_file(&text);
        if pairs.is_empty() {
            return Err(invalid(format!(
                "sanitize file {} holds no `regex: ` line followed by a `replace: ` line",
                path.display()
            )));
        }
        compare.sanitizers.extend(pairs);
    }
    compare.lax |= common.lax;
    if let Some(mode) = common.mode {
        compare.strategy = match mode {
            Mode::Normalized => Strategy::Normalized,
            Mode::Exact => Strategy::Exact,
        };
    }
    Ok(Settings {
        notebook: notebook.to_path_buf(),
        golden: common.golden.clone(),
        parameters: params::Parameters::parse(&common.params, parameters_json)?,
        requirements: common.requirements.clone(),
        requirements_from_imports: common.requirements_from_imports,
        import_names: common.import_names.clone(),
        generated_requirements: common.generated_requirements.clone(),
        compare,
        cell_timeout: common.cell_timeout,
        timeout: time_limit(common.timeout, common.deadline),
        continue_on_error: common.continue_on_error,
        html: common.html.clone(),
        executed_notebook: common.executed_notebook.clone(),
        kernel: common.kernel.clone(),
        work_dir,
        cache_dir,
    })
}

/// The run's time limit: `--timeout`, or less when `--deadline` comes sooner.
fn time_limit(timeout_secs: u64, deadline: Option<u64>) -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let left = deadline.map_or(u64::MAX, |at| at.saturating_sub(now).max(1));
    Duration::from_secs(timeout_secs.min(left))
}

/// Report for settings that could not even be read.
fn error_report(notebook: &Path, common: &CommonArgs, error: &RunError) -> Report {
    Report {
        schema_version: SCHEMA_VERSION,
        notebook: notebook.display().to_string(),
        golden: common.golden.as_ref().map(|g| g.display().to_string()),
        kernel: common.kernel.clone(),
        parameters: Default::default(),
        outcome: error.outcome(),
        exit_code: error.outcome().exit_code(),
        message: error.to_string(),
        duration: nbv_report::format_duration(0.0),
        cells: Vec::new(),
        comparison: None,
        generated_requirements: None,
        stopped: None,
    }
}

/// A fresh per-run directory for the executed notebook.
fn scratch_dir() -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    std::env::temp_dir().join(format!("nbv-run-{}-{nanos}", std::process::id()))
}
