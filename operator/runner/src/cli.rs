//! Command-line interface. Pod mode reads the same settings from environment variables.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use nbv_report::inputs::var;

#[derive(Debug, Parser)]
#[command(
    name = "nbv",
    version,
    about = "Execute a Jupyter notebook and validate it against a golden notebook"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Pod mode: settings from flags or NBV_* variables; writes the summary to the
    /// termination-message path and the full report to a file.
    Run(RunArgs),
    /// Workstation mode: validates one notebook and prints a readable report.
    Validate(ValidateArgs),
    /// Prepares the Python environment (virtualenv with nbclient and ipykernel)
    /// and prints the interpreter path; CI runs it once before the tests.
    Setup(SetupArgs),
    /// Prints the requirements a build generates from the notebook's imports and `%pip install`
    /// lines (`fallbackStrategy: auto`), one per line, as python3 (or NBV_PYTHON) sees them.
    Requirements(RequirementsArgs),
}

#[derive(Debug, Args)]
pub(crate) struct RequirementsArgs {
    /// The notebook.
    pub(crate) notebook: PathBuf,
    /// The repository's root (its own modules are left out), besides the notebook's directory.
    #[arg(long)]
    pub(crate) source_dir: Option<PathBuf>,
    /// A module whose distribution is named otherwise, added to the built-in table
    /// (repeatable), e.g. `--import-name acme=acme-sdk`.
    #[arg(long = "import-name", value_name = "MODULE=DISTRIBUTION")]
    pub(crate) import_names: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Mode {
    Normalized,
    Exact,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    /// Readable report (coloured on a terminal).
    Human,
    /// The full report as JSON on standard output.
    Json,
}

/// Settings shared by `run` and `validate`.
#[derive(Debug, Args)]
pub(crate) struct CommonArgs {
    /// Golden notebook to compare the executed notebook with.
    #[arg(long, env = var::GOLDEN)]
    pub(crate) golden: Option<PathBuf>,
    /// Parameter injected into the cell tagged `parameters` (repeatable); the value
    /// is typed like papermill's -p (int, float, bool, None, else string).
    #[arg(long = "param", short = 'p', value_name = "KEY=VALUE")]
    pub(crate) params: Vec<String>,
    /// requirements.txt installed before execution.
    #[arg(long, env = var::REQUIREMENTS)]
    pub(crate) requirements: Option<PathBuf>,
    /// Without --requirements: generate them from the notebook's imports and %pip lines (as a
    /// build with fallbackStrategy: auto does) and install them before execution.
    #[arg(long, env = var::REQUIREMENTS_FROM_IMPORTS)]
    pub(crate) requirements_from_imports: bool,
    /// With --requirements-from-imports: a module whose distribution is named otherwise
    /// (repeatable; comma-separated in the environment), e.g. `--import-name acme=acme-sdk`.
    #[arg(
        long = "import-name",
        env = var::IMPORT_NAMES,
        value_name = "MODULE=DISTRIBUTION",
        value_delimiter = ','
    )]
    pub(crate) import_names: Vec<String>,
    /// The requirements a build generated from the notebook's imports, reported with the
    /// results (the operator sets it for images it built that way).
    #[arg(long, env = var::GENERATED_REQUIREMENTS, value_name = "FILE")]
    pub(crate) generated_requirements: Option<PathBuf>,
    /// Comparison strategy; overrides the strategy of --comparison-config.
    #[arg(long, value_enum, env = var::MODE)]
    pub(crate) mode: Option<Mode>,
    /// comparisonConfig as JSON (strategy, floatingPointTolerance, ignoreTimestamps,
    /// ignoreExecutionCount, customTimestampPatterns, ignoreOutputTypes, lax, sanitizers).
    #[arg(long, env = var::COMPARISON_CONFIG, value_name = "JSON")]
    pub(crate) comparison_config: Option<String>,
    /// nbval sanitize file: `regex: ` / `replace: ` line pairs applied to the outputs of both
    /// notebooks before comparing, after those of --comparison-config.
    #[arg(long, value_name = "FILE")]
    pub(crate) sanitize_with: Option<PathBuf>,
    /// nbval's lax mode: compare only the outputs of cells marked NBVAL_CHECK_OUTPUT.
    #[arg(long)]
    pub(crate) lax: bool,
    /// Seconds one cell may run; a cell tagged `nbv-timeout=SECONDS` has its own.
    #[arg(long, env = var::CELL_TIMEOUT, default_value_t = 600)]
    pub(crate) cell_timeout: u64,
    /// Seconds the whole execution may take; the process group is killed after.
    #[arg(long, env = var::TIMEOUT, default_value_t = 3600)]
    pub(crate) timeout: u64,
    /// Execute every cell, past those that raise, so that every cell is reported (the notebook
    /// still fails); a golden notebook is still compared.
    #[arg(long, env = var::CONTINUE_ON_ERROR)]
    pub(crate) continue_on_error: bool,
    /// Stop the notebook at this time (Unix seconds) at the latest, whatever --timeout leaves;
    /// the operator sets it a little before the job's deadline.
    #[arg(long, env = var::DEADLINE, value_name = "UNIX_SECONDS")]
    pub(crate) deadline: Option<u64>,
    /// Kernel to use instead of the notebook's kernelspec.
    #[arg(long, env = var::KERNEL)]
    pub(crate) kernel: Option<String>,
    /// Where to write the full JSON report.
    #[arg(long, env = var::REPORT_PATH)]
    pub(crate) report: Option<PathBuf>,
    /// Where to write the result as JUnit XML (a test case per cell), for CI systems.
    #[arg(long, env = var::JUNIT_PATH, value_name = "FILE")]
    pub(crate) junit: Option<PathBuf>,
    /// Where to write the result as one HTML page: each cell with its golden and executed
    /// outputs side by side, images shown, differences highlighted.
    #[arg(long, env = var::HTML_PATH, value_name = "FILE")]
    pub(crate) html: Option<PathBuf>,
    /// Where to keep a copy of the executed notebook.
    #[arg(long, env = var::EXECUTED_NOTEBOOK_PATH, value_name = "FILE")]
    pub(crate) executed_notebook: Option<PathBuf>,
    /// Format of standard output.
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub(crate) output: OutputFormat,
}

#[derive(Debug, Args)]
pub(crate) struct ValidateArgs {
    /// Notebook to execute.
    pub(crate) notebook: PathBuf,
    #[command(flatten)]
    pub(crate) common: CommonArgs,
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// Notebook to execute.
    #[arg(long, env = var::NOTEBOOK)]
    pub(crate) notebook: PathBuf,
    /// Parameters as a JSON object, merged after --param values.
    #[arg(long, env = var::PARAMETERS, value_name = "JSON")]
    pub(crate) parameters: Option<String>,
    /// Where the bounded JSON summary goes.
    #[arg(
        long,
        env = var::TERMINATION_MESSAGE_PATH,
        default_value = "/dev/termination-log"
    )]
    pub(crate) termination_message_path: PathBuf,
    /// Writable scratch directory (HOME, pip target and caches when the image's are read-only).
    #[arg(long, env = var::WORK_DIR, default_value = "/tmp/nbv")]
    pub(crate) work_dir: PathBuf,
    #[command(flatten)]
    pub(crate) common: CommonArgs,
}

#[derive(Debug, Args)]
pub(crate) struct SetupArgs {}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;

    use clap::CommandFactory as _;
    use nbv_report::PodInputs;

    use super::*;

    /// Every variable a validation pod sets is one `nbv run` reads, into the field meant.
    #[test]
    fn reads_every_input_a_validation_pod_sets() {
        let some = |s: &str| Some(s.to_owned());
        let inputs = PodInputs {
            notebook: "/nb/a.ipynb".into(),
            golden: some("/golden/a.ipynb"),
            parameters: some(r#"{"n": 1}"#),
            requirements: some("/nb/requirements.txt"),
            requirements_from_imports: true,
            import_names: vec!["acme=acme-sdk".into(), "yaml=PyYAML".into()],
            generated_requirements: some("pandas==2.2.3"),
            mode: some("exact"),
            comparison_config: some(r#"{"strategy":"exact"}"#),
            cell_timeout_secs: Some(30),
            timeout_secs: Some(600),
            continue_on_error: true,
            deadline: Some(1_000_570),
            kernel: some("python3"),
            report_path: some("/a/report.json"),
            junit_path: some("/a/junit.xml"),
            html_path: some("/a/report.html"),
            executed_notebook_path: some("/a/executed.ipynb"),
            termination_message_path: some("/dev/termination-log"),
            work_dir: some("/home/nbv/work"),
        };
        let env = inputs.to_env();
        assert_eq!(env.len(), 20, "every field is rendered: {env:?}");
        // Each variable as the flag that reads it: clap reads flags and variables alike.
        let command = Cli::command();
        let run = command.find_subcommand("run").expect("run");
        let mut argv = vec!["nbv".to_owned(), "run".to_owned()];
        for (name, value) in &env {
            let arg = run
                .get_arguments()
                .find(|a| a.get_env() == Some(OsStr::new(name)))
                .unwrap_or_else(|| panic!("nbv run reads no {name}"));
            let long = arg.get_long().expect("a long flag");
            if arg.get_action().takes_values() {
                argv.push(format!("--{long}={value}"));
            } else {
                assert_eq!(value, "true", "{name}");
                argv.push(format!("--{long}"));
            }
        }
        let Command::Run(args) = Cli::try_parse_from(&argv).expect("parses").command else {
            panic!("not run");
        };
        let path = |s: &Option<String>| s.as_ref().map(PathBuf::from);
        let common = &args.common;
        assert_eq!(args.notebook, PathBuf::from(&inputs.notebook));
        assert_eq!(args.parameters, inputs.parameters);
        assert_eq!(
            Some(args.termination_message_path.clone()),
            path(&inputs.termination_message_path)
        );
        assert_eq!(Some(args.work_dir.clone()), path(&inputs.work_dir));
        assert_eq!(common.golden, path(&inputs.golden));
        assert_eq!(common.requirements, path(&inputs.requirements));
        assert!(common.requirements_from_imports);
        assert_eq!(common.import_names, inputs.import_names);
        assert_eq!(
            common.generated_requirements,
            path(&inputs.generated_requirements)
        );
        assert_eq!(common.mode, Some(Mode::Exact));
        assert_eq!(common.comparison_config, inputs.comparison_config);
        assert_eq!(Some(common.cell_timeout), inputs.cell_timeout_secs);
        assert_eq!(Some(common.timeout), inputs.timeout_secs);
        assert!(common.continue_on_error);
        assert_eq!(common.deadline, inputs.deadline);
        assert_eq!(common.kernel, inputs.kernel);
        assert_eq!(common.report, path(&inputs.report_path));
        assert_eq!(common.junit, path(&inputs.junit_path));
        assert_eq!(common.html, path(&inputs.html_path));
        assert_eq!(
            common.executed_notebook,
            path(&inputs.executed_notebook_path)
        );
    }
}
