//! The runner's inputs in a validation pod: environment variables that the operator renders
//! from [`PodInputs`] and the runner (`nbv run`) reads. Their names are spelled here only; the
//! runner's flags name them through [`var`].

/// The variables' names.
pub mod var {
    /// The notebook to execute.
    pub const NOTEBOOK: &str = "NBV_NOTEBOOK";
    /// The golden notebook to compare with.
    pub const GOLDEN: &str = "NBV_GOLDEN";
    /// papermill parameters as a JSON object.
    pub const PARAMETERS: &str = "NBV_PARAMETERS";
    /// A requirements file installed before execution.
    pub const REQUIREMENTS: &str = "NBV_REQUIREMENTS";
    /// `true`: requirements generated from the notebook's imports are installed first.
    pub const REQUIREMENTS_FROM_IMPORTS: &str = "NBV_REQUIREMENTS_FROM_IMPORTS";
    /// `module=distribution` pairs, comma-separated.
    pub const IMPORT_NAMES: &str = "NBV_IMPORT_NAMES";
    /// The requirements a build generated, reported with the results.
    pub const GENERATED_REQUIREMENTS: &str = "NBV_GENERATED_REQUIREMENTS";
    /// `normalized` or `exact`, over the comparison config's strategy.
    pub const MODE: &str = "NBV_MODE";
    /// `comparisonConfig` as JSON.
    pub const COMPARISON_CONFIG: &str = "NBV_COMPARISON_CONFIG";
    /// Seconds one cell may run.
    pub const CELL_TIMEOUT: &str = "NBV_CELL_TIMEOUT";
    /// Seconds the whole execution may take.
    pub const TIMEOUT: &str = "NBV_TIMEOUT";
    /// `true`: every cell runs, past those that raise.
    pub const CONTINUE_ON_ERROR: &str = "NBV_CONTINUE_ON_ERROR";
    /// Unix seconds at which the notebook is stopped at the latest.
    pub const DEADLINE: &str = "NBV_DEADLINE";
    /// The kernel instead of the notebook's kernelspec.
    pub const KERNEL: &str = "NBV_KERNEL";
    /// Where the full JSON report goes.
    pub const REPORT_PATH: &str = "NBV_REPORT_PATH";
    /// Where the JUnit XML goes.
    pub const JUNIT_PATH: &str = "NBV_JUNIT_PATH";
    /// Where the HTML report goes.
    pub const HTML_PATH: &str = "NBV_HTML_PATH";
    /// Where a copy of the executed notebook goes.
    pub const EXECUTED_NOTEBOOK_PATH: &str = "NBV_EXECUTED_NOTEBOOK_PATH";
    /// Where the bounded summary goes (the container's termination message).
    pub const TERMINATION_MESSAGE_PATH: &str = "NBV_TERMINATION_MESSAGE_PATH";
    /// A writable scratch directory.
    pub const WORK_DIR: &str = "NBV_WORK_DIR";
}

/// Everything a validation pod tells the runner; `None` and `false` are left out of the
/// environment, so the runner's defaults hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodInputs {
    pub notebook: String,
    pub golden: Option<String>,
    pub parameters: Option<String>,
    pub requirements: Option<String>,
    pub requirements_from_imports: bool,
    pub import_names: Vec<String>,
    pub generated_requirements: Option<String>,
    pub mode: Option<String>,
    pub comparison_config: Option<String>,
    pub cell_timeout_secs: Option<u64>,
    pub timeout_secs: Option<u64>,
    pub continue_on_error: bool,
    pub deadline: Option<u64>,
    pub kernel: Option<String>,
    pub report_path: Option<String>,
    pub junit_path: Option<String>,
    pub html_path: Option<String>,
    pub executed_notebook_path: Option<String>,
    pub termination_message_path: Option<String>,
    pub work_dir: Option<String>,
}

impl PodInputs {
    /// The environment variables, in a fixed order: the report path goes with the other
    /// artifact paths, at the end, when any of them is set.
    pub fn to_env(&self) -> Vec<(&'static str, String)> {
        let flag = |on: bool| on.then(|| "true".to_owned());
        let number = |n: Option<u64>| n.map(|n| n.to_string());
        let names = (!self.import_names.is_empty()).then(|| self.import_names.join(","));
        let artifacts = self.html_path.is_some()
            || self.junit_path.is_some()
            || self.executed_notebook_path.is_some();
        let report = |at_end: bool| self.report_path.clone().filter(|_| artifacts == at_end);
        [
            (var::NOTEBOOK, Some(self.notebook.clone())),
            (var::WORK_DIR, self.work_dir.clone()),
            (var::TIMEOUT, number(self.timeout_secs)),
            (
                var::TERMINATION_MESSAGE_PATH,
                self.termination_message_path.clone(),
            ),
            (var::REPORT_PATH, report(false)),
            (var::GOLDEN, self.golden.clone()),
            (var::PARAMETERS, self.parameters.clone()),
            (var::DEADLINE, number(self.deadline)),
            (var::CELL_TIMEOUT, number(self.cell_timeout_secs)),
            (var::KERNEL, self.kernel.clone()),
            (var::CONTINUE_ON_ERROR, flag(self.continue_on_error)),
            (var::MODE, self.mode.clone()),
            (var::COMPARISON_CONFIG, self.comparison_config.clone()),
            (var::REQUIREMENTS, self.requirements.clone()),
            (
                var::REQUIREMENTS_FROM_IMPORTS,
                flag(self.requirements_from_imports),
            ),
            (var::IMPORT_NAMES, names),
            (
                var::GENERATED_REQUIREMENTS,
                self.generated_requirements.clone(),
            ),
            (var::REPORT_PATH, report(true)),
            (var::HTML_PATH, self.html_path.clone()),
            (var::JUNIT_PATH, self.junit_path.clone()),
            (
                var::EXECUTED_NOTEBOOK_PATH,
                self.executed_notebook_path.clone(),
            ),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name, value?)))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_out_what_is_not_set() {
        let inputs = PodInputs {
            notebook: "/nb.ipynb".into(),
            continue_on_error: false,
            ..PodInputs::default()
        };
        assert_eq!(inputs.to_env(), [(var::NOTEBOOK, "/nb.ipynb".to_owned())]);
    }

    #[test]
    fn the_report_path_goes_with_the_other_artifacts() {
        let mut inputs = PodInputs {
            report_path: Some("r".into()),
            work_dir: Some("w".into()),
            ..PodInputs::default()
        };
        let names = |inputs: &PodInputs| -> Vec<&str> {
            inputs.to_env().into_iter().map(|(name, _)| name).collect()
        };
        assert_eq!(
            names(&inputs),
            [var::NOTEBOOK, var::WORK_DIR, var::REPORT_PATH]
        );
        inputs.html_path = Some("h".into());
        inputs.deadline = Some(9);
        assert_eq!(
            names(&inputs),
            [
                var::NOTEBOOK,
                var::WORK_DIR,
                var::DEADLINE,
                var::REPORT_PATH,
                var::HTML_PATH
            ]
        );
    }
}
