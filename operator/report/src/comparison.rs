//! Outcome of comparing an executed notebook against its golden notebook.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How outputs are compared; mirrors `comparisonConfig.strategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Strategy {
    /// Byte-for-byte, images included.
    Exact,
    /// Volatile values masked, whitespace collapsed, numbers within tolerance.
    #[default]
    Normalized,
}

impl Strategy {
    /// The name used in JSON and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Exact => "exact",
            Self::Normalized => "normalized",
        }
    }
}

/// Overall verdict of a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ComparisonOutcome {
    Matched,
    Failed,
}

/// Type of a notebook cell as nbformat names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum CellType {
    Code,
    Markdown,
    Raw,
}

/// What kind of difference a [`Mismatch`] describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum DiffKind {
    /// The golden notebook has a cell the executed one lacks.
    MissingCell,
    /// The executed notebook has a cell the golden one lacks.
    ExtraCell,
    /// Same index, different cell type.
    CellTypeChanged,
    /// The cell produced a different number of outputs.
    OutputCountChanged,
    /// Same output index, different `output_type` (or stream name).
    OutputTypeChanged,
    /// A rich output offers a different set of MIME types.
    MimeTypesChanged,
    /// Output content differs.
    OutputMismatch,
    /// An error output has a different exception name or message.
    ErrorMismatch,
    /// Execution counts differ (only when they are not ignored).
    ExecutionCountChanged,
    /// A DataFrame's columns were added, removed or reordered.
    TableColumnsChanged,
    /// A DataFrame's index labels or number of rows changed.
    TableIndexChanged,
    /// A DataFrame column's values are of another kind (integers, floats, booleans, text).
    TableDtypeChanged,
    /// Cells of a DataFrame differ beyond the tolerance.
    TableValuesDiffer,
}

impl DiffKind {
    /// The name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MissingCell => "missingCell",
            Self::ExtraCell => "extraCell",
            Self::CellTypeChanged => "cellTypeChanged",
            Self::OutputCountChanged => "outputCountChanged",
            Self::OutputTypeChanged => "outputTypeChanged",
            Self::MimeTypesChanged => "mimeTypesChanged",
            Self::OutputMismatch => "outputMismatch",
            Self::ErrorMismatch => "errorMismatch",
            Self::ExecutionCountChanged => "executionCountChanged",
            Self::TableColumnsChanged => "tableColumnsChanged",
            Self::TableIndexChanged => "tableIndexChanged",
            Self::TableDtypeChanged => "tableDtypeChanged",
            Self::TableValuesDiffer => "tableValuesDiffer",
        }
    }
}

/// Counters over the whole comparison.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    pub golden_cells: usize,
    pub actual_cells: usize,
    pub cells_compared: usize,
    pub cells_matched: usize,
    pub cells_differed: usize,
    /// Cells excluded by `NBVAL_SKIP`.
    pub cells_skipped: usize,
    pub mismatches: usize,
}

/// One difference between golden and executed notebook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Mismatch {
    pub cell_index: usize,
    /// Index into the cell's outputs; absent for cell-level differences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_index: Option<usize>,
    pub cell_type: CellType,
    pub kind: DiffKind,
    /// MIME type of the differing representation, for rich outputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// Excerpt of the golden value around the first difference.
    pub expected: String,
    /// Excerpt of the executed value around the first difference.
    pub actual: String,
    /// Unified diff of the two values, when they are text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unified_diff: Option<String>,
}

/// Full comparison result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Comparison {
    pub strategy: Strategy,
    pub result: ComparisonOutcome,
    pub totals: Totals,
    pub mismatches: Vec<Mismatch>,
}
