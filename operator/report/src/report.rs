//! The full report: every cell of the executed notebook and every mismatch.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::comparison::{CellType, Comparison};

/// Verdict of a validation run. Each outcome has its own process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    /// Every cell ran and outputs matched the golden notebook (if any).
    Passed,
    /// A cell raised an exception.
    NotebookFailed,
    /// The notebook ran but its outputs differ from the golden notebook.
    OutputsDiffer,
    /// The runner could not do its job: Python environment, kernel,
    /// requirements installation, timeout, I/O.
    InfrastructureError,
    /// The notebook, golden notebook, parameters or configuration are unusable.
    InvalidInput,
}

impl Outcome {
    /// Process exit code of the runner for this outcome.
    /// Code 2 is left to command-line usage errors.
    pub fn exit_code(self) -> i32 {
        match self {
            Self::Passed => 0,
            Self::NotebookFailed => 1,
            Self::OutputsDiffer => 3,
            Self::InfrastructureError => 4,
            Self::InvalidInput => 5,
        }
    }

    /// Inverse of [`Outcome::exit_code`], for readers that only see the exit code.
    pub fn from_exit_code(code: i32) -> Option<Self> {
        [
            Self::Passed,
            Self::NotebookFailed,
            Self::OutputsDiffer,
            Self::InfrastructureError,
            Self::InvalidInput,
        ]
        .into_iter()
        .find(|outcome| outcome.exit_code() == code)
    }
}

/// Execution status of one cell, from papermill's per-cell metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum CellStatus {
    Passed,
    Failed,
    /// Still running when the cell or overall timeout hit.
    TimedOut,
    /// Not executed because an earlier cell failed or timed out.
    NotRun,
    /// Not executed: marked `NBVAL_SKIP`.
    Skipped,
    /// Ran without error, but its outputs differ from the golden notebook's: the comparison
    /// names this cell.
    Differs,
}

impl CellStatus {
    /// Whether this status needs the user's attention.
    pub fn is_failure(self) -> bool {
        matches!(self, Self::Failed | Self::TimedOut | Self::Differs)
    }
}

/// Exception raised by a cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CellError {
    pub ename: String,
    pub evalue: String,
    /// Traceback lines with terminal colour codes removed.
    pub traceback: Vec<String>,
}

/// One cell of the executed notebook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CellReport {
    /// Index in the user's notebook (cells papermill injects are not counted).
    pub cell_index: usize,
    pub cell_type: CellType,
    pub status: CellStatus,
    /// Wall time such as `0.125s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_time: Option<String>,
    /// Excerpt of the cell's text output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<CellError>,
}

/// Everything a run found out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub schema_version: u32,
    pub notebook: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub golden: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
    /// Parameters injected into the `parameters` cell.
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
    pub outcome: Outcome,
    pub exit_code: i32,
    /// One-line explanation of the outcome.
    pub message: String,
    /// Wall time of the whole run, such as `12.500s`.
    pub duration: String,
    pub cells: Vec<CellReport>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparison: Option<Comparison>,
    /// The requirements generated from the notebook's imports, when they were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated_requirements: Option<GeneratedRequirements>,
    /// Where and why execution stopped before the notebook's end, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<Stopped>,
}

/// Why execution ended before the notebook's last cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum StopReason {
    /// A cell raised an exception.
    CellFailed,
    /// A cell ran longer than its timeout.
    CellTimeout,
    /// The whole run exceeded its time limit (in a cluster: the job's `spec.timeout`).
    TimeLimit,
    /// The kernel died: a crash, a signal, or out of memory.
    KernelDied,
}

/// Where and why execution stopped; the cells before it have their results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Stopped {
    /// The cell that was running, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cell_index: Option<usize>,
    pub reason: StopReason,
}

/// Requirements generated from a notebook's imports and `%pip install` lines (by the build or
/// by the runner at start).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GeneratedRequirements {
    /// What was installed: one requirement or pip option per entry, in order.
    pub requirements: Vec<String>,
    /// Imports not in the table of import names, installed by their own name: check that this
    /// is the right distribution, or name it in `buildConfig.importNames`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub by_import_name: Vec<String>,
    /// Entries left out of both lists to keep the status small.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub omitted: usize,
}

/// The start of the comment line in which the generating program lists the imports installed by
/// their own name (`core/src/imports.py`).
const BY_IMPORT_NAME_NOTE: &str = "# nbv: installed by their import name";

impl GeneratedRequirements {
    /// Reads the requirements file the generating program writes.
    pub fn parse(file: &str) -> Self {
        let mut generated = Self::default();
        for line in file.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if let Some(note) = line.strip_prefix(BY_IMPORT_NAME_NOTE) {
                let names = note.split_once(':').map_or("", |(_, names)| names);
                generated.by_import_name.extend(
                    names
                        .split(',')
                        .map(str::trim)
                        .filter(|n| !n.is_empty())
                        .map(str::to_owned),
                );
            } else if !line.starts_with('#') {
                generated.requirements.push(line.to_owned());
            }
        }
        generated
    }

    /// At most `entries` entries of at most `chars` characters, the rest counted in `omitted`.
    pub fn bounded(&self, entries: usize, chars: usize) -> Self {
        let cut = |list: &[String], room: usize| -> Vec<String> {
            list.iter()
                .take(room)
                .map(|e| crate::truncate_chars(e, chars))
                .collect()
        };
        let requirements = cut(&self.requirements, entries);
        let by_import_name = cut(
            &self.by_import_name,
            entries.saturating_sub(requirements.len()),
        );
        let kept = requirements.len() + by_import_name.len();
        Self {
            omitted: self.omitted + self.requirements.len() + self.by_import_name.len() - kept,
            requirements,
            by_import_name,
        }
    }
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_zero(n: &usize) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_requirements_are_read_and_bounded() {
        let file = "--find-links /wheels\nnumpy\nacme-sdk==1.0\n# nbv: installed by their import name (not in the table of other names): numpy, pandas\n";
        let generated = GeneratedRequirements::parse(file);
        assert_eq!(
            generated.requirements,
            ["--find-links /wheels", "numpy", "acme-sdk==1.0"]
        );
        assert_eq!(generated.by_import_name, ["numpy", "pandas"]);
        let bounded = generated.bounded(4, 5);
        assert_eq!(bounded.requirements.len(), 3);
        assert_eq!(bounded.by_import_name.len(), 1);
        assert_eq!(bounded.omitted, 1);
        assert!(bounded.requirements.iter().all(|r| r.chars().count() <= 5));
    }

    #[test]
    fn exit_codes_are_distinct_and_round_trip() {
        for outcome in [
            Outcome::Passed,
            Outcome::NotebookFailed,
            Outcome::OutputsDiffer,
            Outcome::InfrastructureError,
            Outcome::InvalidInput,
        ] {
            assert_eq!(Outcome::from_exit_code(outcome.exit_code()), Some(outcome));
        }
        assert_eq!(Outcome::from_exit_code(2), None);
    }
}
