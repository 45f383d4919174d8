//! Broken inputs and environments: each gives a clear message and its exit code, never a panic.
//! Also cells that would break the run if executed, but are marked not to be.

mod common;

use common::{code, command, ensure_python, example, notebook, path, validate, write};
use nbv_report::{CellStatus, DiffKind, Outcome, Summary};
use serde_json::json;

fn assert_no_panic(out: &std::process::Output) {
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
}

#[test]
fn file_that_is_not_json() {
    let dir = tempfile::tempdir().unwrap();
    let nb = write(dir.path(), "bad.ipynb", "this is not json");
    let (code, report, out) = validate(&[path(&nb)]);
    assert_eq!(code, Outcome::InvalidInput.exit_code());
    assert!(
        report.message.contains("invalid JSON at line 1"),
        "{}",
        report.message
    );
    assert_no_panic(&out);
}

#[test]
fn notebook_of_a_format_jupyter_does_not_read() {
    // nbformat 3 is read as version 4 (tests/nbval_compat.rs); a future version is not.
    let dir = tempfile::tempdir().unwrap();
    let nb = write(dir.path(), "v5.ipynb", r#"{"nbformat": 5, "cells": []}"#);
    let (code, report, _) = validate(&[path(&nb)]);
    assert_eq!(code, Outcome::InvalidInput.exit_code());
    assert!(
        report
            .message
            .contains("not an nbformat 4 notebook: nbformat is 5"),
        "{}",
        report.message
    );
}

#[test]
fn missing_notebook_file() {
    let (code, report, _) = validate(&["/nonexistent/notebook.ipynb"]);
    assert_eq!(code, Outcome::InvalidInput.exit_code());
    assert!(
        report
            .message
            .contains("cannot read /nonexistent/notebook.ipynb"),
        "{}",
        report.message
    );
}

#[test]
fn bad_parameter_is_invalid_input() {
    let (code, report, _) = validate(&[
        path(&example("passing.ipynb")),
        "--param",
        "not-an-identifier=1",
    ]);
    assert_eq!(code, Outcome::InvalidInput.exit_code());
    assert!(
        report.message.contains("not a Python identifier"),
        "{}",
        report.message
    );
}

#[test]
fn missing_kernel_is_an_infrastructure_error() {
    let dir = tempfile::tempdir().unwrap();
    let nb = write(
        dir.path(),
        "k.ipynb",
        &notebook(json!([code("print(1)")]), "no-such-kernel"),
    );
    let (code, report, _) = validate(&[path(&nb)]);
    assert_eq!(
        code,
        Outcome::InfrastructureError.exit_code(),
        "{}",
        report.message
    );
    assert!(
        report
            .message
            .contains("kernel \"no-such-kernel\" is not installed"),
        "{}",
        report.message
    );
}

#[test]
fn golden_with_a_different_number_of_cells() {
    let dir = tempfile::tempdir().unwrap();
    let golden: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(example("passing.golden.ipynb")).unwrap())
            .unwrap();
    let mut shorter = golden.clone();
    shorter["cells"].as_array_mut().unwrap().pop();
    let g = write(dir.path(), "short.golden.ipynb", &shorter.to_string());
    let (code, report, _) = validate(&[path(&example("passing.ipynb")), "--golden", path(&g)]);
    assert_eq!(code, Outcome::OutputsDiffer.exit_code());
    let m = &report.comparison.unwrap().mismatches[0];
    assert_eq!((m.cell_index, m.kind), (3, DiffKind::ExtraCell));
}

#[test]
fn huge_output_keeps_the_summary_bounded() {
    ensure_python();
    let dir = tempfile::tempdir().unwrap();
    let nb = write(
        dir.path(),
        "huge.ipynb",
        &notebook(
            json!([code("print('x' * 20_000_000)"), code("1/0")]),
            "python3",
        ),
    );
    let termination = dir.path().join("termination-log");
    let out = command()
        .arg("run")
        .arg("--notebook")
        .arg(&nb)
        .arg("--termination-message-path")
        .arg(&termination)
        .arg("--work-dir")
        .arg(dir.path().join("work"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(Outcome::NotebookFailed.exit_code()),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&termination).unwrap();
    assert!(text.len() <= 4096, "{} bytes", text.len());
    let summary = Summary::from_json(&text).unwrap();
    assert!(
        summary.message.contains("ZeroDivisionError"),
        "{}",
        summary.message
    );
}

#[test]
fn nbval_skip_cells_are_neither_executed_nor_compared() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    // Were it executed, the skipped cell would leave a file behind and fail the run.
    let skipped = format!(
        "# NBVAL_SKIP\nopen({:?}, 'w').write('x')\n1 / 0",
        marker.display().to_string()
    );
    let mut by_tag = code("raise SystemExit('not to be run')");
    by_tag["metadata"] = json!({"tags": ["nbval-skip"]});
    let cells = json!([
        code("print('before')"),
        code(&skipped),
        by_tag,
        code("print('after')")
    ]);
    let nb = write(dir.path(), "skip.ipynb", &notebook(cells, "python3"));
    // The golden's outputs for the skipped cells differ; they are not compared.
    let mut golden: serde_json::Value = serde_json::from_str(&notebook(
        json!([
            code("print('before')"),
            code(&skipped),
            code("x"),
            code("print('after')")
        ]),
        "python3",
    ))
    .unwrap();
    for (index, text) in [(0, "before\n"), (1, "golden only\n"), (3, "after\n")] {
        golden["cells"][index]["outputs"] =
            json!([{"output_type": "stream", "name": "stdout", "text": text}]);
    }
    let g = write(dir.path(), "skip.golden.ipynb", &golden.to_string());
    let (code, report, _) = validate(&[path(&nb), "--golden", path(&g)]);
    assert_eq!(code, 0, "{}", report.message);
    assert!(!marker.exists(), "the NBVAL_SKIP cell was executed");
    let statuses: Vec<CellStatus> = report.cells.iter().map(|c| c.status).collect();
    assert_eq!(
        statuses,
        [
            CellStatus::Passed,
            CellStatus::Skipped,
            CellStatus::Skipped,
            CellStatus::Passed
        ]
    );
    assert!(
        report
            .message
            .contains("2 cells executed, 2 not (NBVAL_SKIP)"),
        "{}",
        report.message
    );
    assert_eq!(report.comparison.unwrap().totals.cells_skipped, 2);
}
