//! The report as JUnit XML, for CI systems: one test suite per notebook, one test case per code
//! cell. A cell that raised or killed the kernel is a failure, one over its timeout an error,
//! one not executed (skipped, or after the cell that stopped the run) skipped; a cell whose
//! outputs differ from the golden notebook is a failure listing the differences.

use std::time::Duration;

use nbv_report::{CellReport, CellStatus, Mismatch, Report};
use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};

/// The JUnit XML document of `report`.
pub(crate) fn render(report: &Report) -> Result<String, quick_junit::SerializeError> {
    let mut suite = TestSuite::new(report.notebook.clone());
    let classname = std::path::Path::new(&report.notebook)
        .file_stem()
        .map_or_else(
            || report.notebook.clone(),
            |s| s.to_string_lossy().into_owned(),
        );
    let mismatches = report
        .comparison
        .as_ref()
        .map_or(&[][..], |c| c.mismatches.as_slice());
    for cell in &report.cells {
        let of_cell: Vec<&Mismatch> = mismatches
            .iter()
            .filter(|m| m.cell_index == cell.cell_index)
            .collect();
        let mut case = TestCase::new(format!("cell {}", cell.cell_index), status(cell, &of_cell));
        case.set_classname(classname.clone());
        if let Some(time) = cell.execution_time.as_deref().and_then(seconds) {
            case.set_time(time);
        }
        if let Some(output) = &cell.output {
            case.set_system_out(output.clone());
        }
        suite.add_test_case(case);
    }
    if let Some(time) = seconds(&report.duration) {
        suite.set_time(time);
    }
    let mut junit = quick_junit::Report::new("nbv");
    junit.add_test_suite(suite);
    junit.to_string()
}

fn status(cell: &CellReport, mismatches: &[&Mismatch]) -> TestCaseStatus {
    match cell.status {
        CellStatus::Failed => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            if let Some(error) = &cell.error {
                status
                    .set_message(format!("{}: {}", error.ename, error.evalue))
                    .set_type(error.ename.clone())
                    .set_description(error.traceback.join("\n"));
            }
            status
        }
        CellStatus::TimedOut => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status
                .set_message(
                    "the cell was still running when its timeout or the run's time limit passed",
                )
                .set_type("timeout");
            status
        }
        CellStatus::NotRun | CellStatus::Skipped => {
            let mut status = TestCaseStatus::skipped();
            status.set_message(match cell.status {
                CellStatus::Skipped => "marked not to run (NBVAL_SKIP)",
                _ => "not executed: an earlier cell stopped the run",
            });
            status
        }
        CellStatus::Passed if !mismatches.is_empty() => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            let described: Vec<String> = mismatches
                .iter()
                .map(|m| {
                    let output = m
                        .output_index
                        .map(|o| format!(" output {o}"))
                        .unwrap_or_default();
                    let diff = m.unified_diff.clone().unwrap_or_else(|| {
                        format!("expected: {}\nactual:   {}", m.expected, m.actual)
                    });
                    format!("{}{output}:\n{diff}", m.kind.as_str())
                })
                .collect();
            status
                .set_message(format!(
                    "outputs differ from the golden notebook ({} difference(s))",
                    mismatches.len()
                ))
                .set_type("outputsDiffer")
                .set_description(described.join("\n\n"));
            status
        }
        CellStatus::Passed => TestCaseStatus::success(),
    }
}

/// `12.500s` (the report's durations) as a duration.
fn seconds(text: &str) -> Option<Duration> {
    text.strip_suffix('s')?
        .parse::<f64>()
        .ok()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
}
