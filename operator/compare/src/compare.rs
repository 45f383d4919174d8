//! Notebook-level comparison: cells matched by index.

use nbv_report::{
    CellType, Comparison, ComparisonOutcome, DiffKind, Mismatch, Totals, truncate_chars,
};

use crate::config::{CompareConfig, ConfigError};
use crate::nbval::CellControl;
use crate::normalize::Normalizer;
use crate::notebook::{Cell, Notebook};
use crate::outputs::{CellSink, OutputComparer};
use crate::sanitize::Sanitizers;

/// Characters of a cell's source shown for a missing or extra cell.
const SOURCE_EXCERPT_CHARS: usize = 120;

/// A validated configuration, ready to compare notebooks.
#[derive(Debug)]
pub struct Comparator {
    config: CompareConfig,
    normalizer: Normalizer,
    sanitizers: Sanitizers,
}

impl Comparator {
    pub fn new(config: CompareConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let normalizer = Normalizer::new(&config)?;
        let sanitizers = Sanitizers::new(&config.sanitizers)?;
        Ok(Self {
            config,
            normalizer,
            sanitizers,
        })
    }

    pub fn config(&self) -> &CompareConfig {
        &self.config
    }

    /// Compares `actual` against `golden`, the reference.
    pub fn compare(&self, golden: &Notebook, actual: &Notebook) -> Comparison {
        let mut mismatches = Vec::new();
        let mut totals = Totals {
            golden_cells: golden.cells.len(),
            actual_cells: actual.cells.len(),
            ..Totals::default()
        };
        for index in 0..golden.cells.len().max(actual.cells.len()) {
            let before = mismatches.len();
            match (golden.cells.get(index), actual.cells.get(index)) {
                (Some(g), Some(a)) => {
                    // The notebook under test decides; the golden's markers fill what it leaves
                    // unset.
                    let control = CellControl::of(a).over(CellControl::of(g));
                    if control.skip {
                        totals.cells_skipped += 1;
                        continue;
                    }
                    self.compare_cell(index, g, a, control, &mut mismatches);
                }
                (Some(g), None) => mismatches.push(cell_level(
                    index,
                    g.cell_type,
                    DiffKind::MissingCell,
                    &source_excerpt(g),
                    "",
                )),
                (None, Some(a)) => mismatches.push(cell_level(
                    index,
                    a.cell_type,
                    DiffKind::ExtraCell,
                    "",
                    &source_excerpt(a),
                )),
                (None, None) => {}
            }
            totals.cells_compared += 1;
            if mismatches.len() == before {
                totals.cells_matched += 1;
            } else {
                totals.cells_differed += 1;
            }
        }
        totals.mismatches = mismatches.len();
        Comparison {
            strategy: self.config.strategy,
            result: if mismatches.is_empty() {
                ComparisonOutcome::Matched
            } else {
                ComparisonOutcome::Failed
            },
            totals,
            mismatches,
        }
    }

    fn compare_cell(
        &self,
        index: usize,
        golden: &Cell,
        actual: &Cell,
        control: CellControl,
        mismatches: &mut Vec<Mismatch>,
    ) {
        if golden.cell_type != actual.cell_type {
            let name = |t: CellType| format!("{t:?}").to_lowercase();
            mismatches.push(cell_level(
                index,
                golden.cell_type,
                DiffKind::CellTypeChanged,
                &name(golden.cell_type),
                &name(actual.cell_type),
            ));
            return;
        }
        if golden.cell_type != CellType::Code {
            return;
        }
        if !self.config.ignore_execution_count && golden.execution_count != actual.execution_count {
            let count = |c: Option<u64>| c.map_or_else(|| "none".to_owned(), |c| c.to_string());
            mismatches.push(cell_level(
                index,
                CellType::Code,
                DiffKind::ExecutionCountChanged,
                &count(golden.execution_count),
                &count(actual.execution_count),
            ));
        }
        // A golden cell never run (no count, no outputs) holds nothing to compare with, as
        // nbval reads it.
        let never_run = golden.execution_count.is_none() && golden.outputs.is_empty();
        if control.compares_outputs(!self.config.lax) && !never_run {
            let comparer = OutputComparer {
                config: &self.config,
                normalizer: &self.normalizer,
                sanitizers: &self.sanitizers,
            };
            let mut sink = CellSink {
                cell_index: index,
                cell_type: CellType::Code,
                mismatches,
            };
            comparer.compare(&golden.outputs, &actual.outputs, control, &mut sink);
        }
    }
}

fn source_excerpt(cell: &Cell) -> String {
    truncate_chars(&cell.source, SOURCE_EXCERPT_CHARS)
}

fn cell_level(
    index: usize,
    cell_type: CellType,
    kind: DiffKind,
    expected: &str,
    actual: &str,
) -> Mismatch {
    Mismatch {
        cell_index: index,
        output_index: None,
        cell_type,
        kind,
        mime_type: None,
        expected: expected.to_owned(),
        actual: actual.to_owned(),
        unified_diff: None,
    }
}
