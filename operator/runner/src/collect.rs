//! Per-cell results from the executed notebook, from the per-cell record papermill defined
//! (`metadata.papermill`), which the driver writes.

use nbv_compare::notebook::{Cell, MimeData, Output};
use nbv_compare::{CellControl, Notebook};
use nbv_report::{CellError, CellReport, CellStatus, CellType, format_duration, truncate_chars};

use crate::prepare::NOT_EXECUTED;

/// Characters of a cell's output kept in the report.
const OUTPUT_CHARS: usize = 1000;

/// Results for the code cells of `executed` (the injected parameters cell already removed).
pub(crate) fn cell_reports(executed: &Notebook) -> Vec<CellReport> {
    executed
        .cells
        .iter()
        .enumerate()
        .filter(|(_, c)| c.cell_type == CellType::Code)
        .map(|(index, cell)| cell_report(index, cell))
        .collect()
}

fn cell_report(index: usize, cell: &Cell) -> CellReport {
    let papermill = cell.metadata.papermill.clone().unwrap_or_default();
    let error = cell.outputs.iter().find_map(|o| match o {
        Output::Error {
            ename,
            evalue,
            traceback,
        } => Some(CellError {
            ename: ename.clone(),
            evalue: evalue.clone(),
            traceback: traceback.iter().map(|l| strip_ansi(l)).collect(),
        }),
        _ => None,
    });
    let expected_error = CellControl::of(cell).raises_exception;
    let status = match (&error, papermill.status.as_deref()) {
        _ if cell.has_tag(NOT_EXECUTED) => CellStatus::Skipped,
        // The driver interrupts a cell that exceeds its timeout.
        (Some(e), _) if e.ename == "KeyboardInterrupt" => CellStatus::TimedOut,
        (Some(_), _) if !expected_error => CellStatus::Failed,
        (_, Some("failed")) if !expected_error => CellStatus::Failed,
        (_, Some("running")) => CellStatus::TimedOut,
        // A cell recorded as finished without a duration never started (papermill wrote such).
        (_, Some("completed" | "failed")) if papermill.duration.is_some() => CellStatus::Passed,
        _ => CellStatus::NotRun,
    };
    CellReport {
        cell_index: index,
        cell_type: CellType::Code,
        status,
        execution_time: papermill.duration.map(format_duration),
        output: text_output(&cell.outputs),
        error,
    }
}

/// Stream text and plain-text results of a cell, bounded.
fn text_output(outputs: &[Output]) -> Option<String> {
    let mut text = String::new();
    for output in outputs {
        match output {
            Output::Stream { text: t, .. } => text.push_str(t),
            Output::ExecuteResult { data, .. } | Output::DisplayData { data } => {
                if let Some(MimeData::Text(t)) = data.get("text/plain") {
                    text.push_str(t);
                    text.push('\n');
                }
            }
            Output::Error { .. } => {}
        }
        if text.len() > OUTPUT_CHARS * 4 {
            break;
        }
    }
    let text = text.trim_end();
    (!text.is_empty()).then(|| truncate_chars(text, OUTPUT_CHARS))
}

/// Removes terminal colour sequences (`ESC [ … letter`) from tracebacks.
pub(crate) fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // Skip the CSI parameters up to the final letter.
            for next in chars.by_ref() {
                if next.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn executed(cells: serde_json::Value) -> Notebook {
        let doc = serde_json::json!({"nbformat": 4, "cells": cells});
        nbv_compare::notebook::parse(doc.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn strips_colour_codes() {
        assert_eq!(
            strip_ansi("\u{1b}[0;31mValueError\u{1b}[0m: x"),
            "ValueError: x"
        );
    }

    #[test]
    fn statuses_follow_papermill_metadata_and_errors() {
        let pm =
            |status: &str| serde_json::json!({"papermill": {"status": status, "duration": 0.25}});
        let err = |ename: &str| serde_json::json!([{"output_type": "error", "ename": ename, "evalue": "v", "traceback": []}]);
        let nb = executed(serde_json::json!([
            {"cell_type": "code", "source": "a", "metadata": pm("completed"), "outputs": [{"output_type": "stream", "name": "stdout", "text": "hi\n"}]},
            {"cell_type": "markdown", "source": "m", "metadata": {}},
            {"cell_type": "code", "source": "b", "metadata": pm("failed"), "outputs": err("ValueError")},
            {"cell_type": "code", "source": "# NBVAL_RAISES_EXCEPTION\nc", "metadata": pm("completed"), "outputs": err("KeyError")},
            {"cell_type": "code", "source": "d", "metadata": pm("completed"), "outputs": err("KeyboardInterrupt")},
            {"cell_type": "code", "source": "e", "metadata": pm("running"), "outputs": []},
            {"cell_type": "code", "source": "f", "metadata": pm("pending"), "outputs": []},
            {"cell_type": "code", "source": "g", "metadata": {"papermill": {"status": "completed", "duration": null}}, "outputs": []},
        ]));
        let reports = cell_reports(&nb);
        let statuses: Vec<_> = reports.iter().map(|r| (r.cell_index, r.status)).collect();
        assert_eq!(
            statuses,
            [
                (0, CellStatus::Passed),
                (2, CellStatus::Failed),
                (3, CellStatus::Passed),
                (4, CellStatus::TimedOut),
                (5, CellStatus::TimedOut),
                (6, CellStatus::NotRun),
                (7, CellStatus::NotRun),
            ]
        );
        assert_eq!(reports[0].output.as_deref(), Some("hi"));
        assert_eq!(reports[0].execution_time.as_deref(), Some("0.250s"));
        assert_eq!(reports[1].error.as_ref().unwrap().ename, "ValueError");
    }
}
