//! The summary written to the termination message; maps onto the resource status.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::SCHEMA_VERSION;
use crate::comparison::{CellType, Comparison, ComparisonOutcome, DiffKind, Strategy, Totals};
use crate::report::{CellStatus, GeneratedRequirements, Outcome, Report, Stopped};
use crate::text::truncate_chars;

/// Characters kept from each text field when a summary is built from a report.
const TEXT_CHARS: usize = 512;

/// One entry of the status `results[]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CellResult {
    pub cell_index: usize,
    pub status: CellStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// `ExceptionName: message` of a failed cell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

/// One entry of the status `comparisonResult.diffs[]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Diff {
    pub cell_index: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_index: Option<usize>,
    pub cell_type: CellType,
    pub diff_type: DiffKind,
    pub expected: String,
    pub actual: String,
}

/// Generated requirements kept in a summary (the full list is in the report and the build log).
pub const GENERATED_REQUIREMENTS_SHOWN: usize = 16;
/// Characters kept of one generated requirement in a summary.
const REQUIREMENT_CHARS: usize = 64;

/// The status `comparisonResult`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComparisonSummary {
    pub strategy: Strategy,
    pub result: ComparisonOutcome,
    pub totals: Totals,
    pub diffs: Vec<Diff>,
}

/// What [`Summary::to_bounded_json`] had to leave out to fit the limit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Truncation {
    /// Entries cut from `results` (passing cells go first).
    pub results_omitted: usize,
    /// Entries cut from the end of `comparisonResult.diffs`.
    pub diffs_omitted: usize,
    /// Whether text fields were shortened.
    pub text_shortened: bool,
}

/// Compact result of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub schema_version: u32,
    pub outcome: Outcome,
    pub exit_code: i32,
    pub message: String,
    pub notebook: String,
    /// Per-cell results in cell order.
    pub results: Vec<CellResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparison_result: Option<ComparisonSummary>,
    /// The requirements generated from the notebook's imports, at most
    /// [`GENERATED_REQUIREMENTS_SHOWN`] entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated_requirements: Option<GeneratedRequirements>,
    /// Where and why execution stopped before the notebook's end, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<Stopped>,
    /// Present only when the summary was cut to fit a size limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated: Option<Truncation>,
}

impl Summary {
    /// Condenses a full report; text fields are cut to a few hundred characters.
    pub fn from_report(report: &Report) -> Self {
        let results = report
            .cells
            .iter()
            .map(|cell| CellResult {
                cell_index: cell.cell_index,
                status: cell.status,
                execution_time: cell.execution_time.clone(),
                output: cell
                    .output
                    .as_deref()
                    .map(|o| truncate_chars(o, TEXT_CHARS)),
                error_message: cell
                    .error
                    .as_ref()
                    .map(|e| truncate_chars(&format!("{}: {}", e.ename, e.evalue), TEXT_CHARS)),
            })
            .collect();
        Self {
            schema_version: SCHEMA_VERSION,
            outcome: report.outcome,
            exit_code: report.exit_code,
            message: report.message.clone(),
            notebook: report.notebook.clone(),
            results,
            comparison_result: report.comparison.as_ref().map(summarize_comparison),
            generated_requirements: report
                .generated_requirements
                .as_ref()
                .map(|g| g.bounded(GENERATED_REQUIREMENTS_SHOWN, REQUIREMENT_CHARS)),
            stopped: report.stopped.clone(),
            truncated: None,
        }
    }
}

fn summarize_comparison(comparison: &Comparison) -> ComparisonSummary {
    ComparisonSummary {
        strategy: comparison.strategy,
        result: comparison.result,
        totals: comparison.totals.clone(),
        diffs: comparison
            .mismatches
            .iter()
            .map(|m| Diff {
                cell_index: m.cell_index,
                output_index: m.output_index,
                cell_type: m.cell_type,
                diff_type: m.kind,
                expected: truncate_chars(&m.expected, TEXT_CHARS),
                actual: truncate_chars(&m.actual, TEXT_CHARS),
            })
            .collect(),
    }
}
