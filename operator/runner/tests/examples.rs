//! The example notebooks, executed for real.

mod common;

use common::{command, ensure_python, example, path, validate};
use nbv_report::{CellStatus, ComparisonOutcome, DiffKind, Outcome, Summary};

#[test]
fn passing_notebook_matches_its_golden() {
    let (code, report, _) = validate(&[
        path(&example("passing.ipynb")),
        "--golden",
        path(&example("passing.golden.ipynb")),
    ]);
    assert_eq!(code, 0, "{}", report.message);
    assert_eq!(report.outcome, Outcome::Passed);
    assert_eq!(
        report.comparison.unwrap().result,
        ComparisonOutcome::Matched
    );
    assert!(
        report
            .cells
            .iter()
            .all(|c| c.status == CellStatus::Passed && c.execution_time.is_some())
    );
}

#[test]
fn raising_notebook_fails_naming_the_cell() {
    let (code, report, _) = validate(&[path(&example("raising.ipynb"))]);
    assert_eq!(
        code,
        Outcome::NotebookFailed.exit_code(),
        "{}",
        report.message
    );
    assert!(report.message.contains("cell 2"), "{}", report.message);
    let failed = report
        .cells
        .iter()
        .find(|c| c.status == CellStatus::Failed)
        .expect("a failed cell");
    assert_eq!(failed.cell_index, 2);
    let error = failed.error.as_ref().expect("error recorded");
    assert_eq!(error.ename, "ValueError");
    assert!(error.traceback.iter().all(|l| !l.contains('\u{1b}')));
    assert_eq!(report.cells.last().unwrap().status, CellStatus::NotRun);
}

#[test]
fn nondeterministic_notebook_passes_normalized() {
    let (code, report, _) = validate(&[
        path(&example("nondeterministic.ipynb")),
        "--golden",
        path(&example("nondeterministic.golden.ipynb")),
        "--mode",
        "normalized",
    ]);
    assert_eq!(code, 0, "{:#?}", report.comparison);
}

#[test]
fn nondeterministic_notebook_fails_exact_naming_the_cell() {
    let (code, report, _) = validate(&[
        path(&example("nondeterministic.ipynb")),
        "--golden",
        path(&example("nondeterministic.golden.ipynb")),
        "--mode",
        "exact",
    ]);
    assert_eq!(
        code,
        Outcome::OutputsDiffer.exit_code(),
        "{}",
        report.message
    );
    let comparison = report.comparison.unwrap();
    let cells: Vec<usize> = comparison.mismatches.iter().map(|m| m.cell_index).collect();
    // The timestamp cell comes first; uuid, address, float and epoch cells follow.
    assert_eq!(cells, [1, 2, 3, 4, 5]);
    assert!(
        report.message.contains("cell 1 output 0"),
        "{}",
        report.message
    );
}

#[test]
fn parameterised_notebook_respects_params() {
    let nb = example("parameterised.ipynb");
    let golden = example("parameterised.golden.ipynb");
    let (code, report, _) = validate(&[
        path(&nb),
        "--golden",
        path(&golden),
        "--param",
        "count=3",
        "--param",
        "name=nbv",
    ]);
    assert_eq!(code, 0, "{}", report.message);
    assert_eq!(report.parameters["count"], "3");

    // With the default count the loop prints fewer lines than the golden recorded.
    let (code, report, _) = validate(&[path(&nb), "--golden", path(&golden)]);
    assert_eq!(
        code,
        Outcome::OutputsDiffer.exit_code(),
        "{}",
        report.message
    );
    let first = &report.comparison.unwrap().mismatches[0];
    assert_eq!((first.cell_index, first.output_index), (2, Some(0)));
}

#[test]
fn golden_mismatch_names_cell_and_output() {
    let (code, report, _) = validate(&[
        path(&example("golden-mismatch.ipynb")),
        "--golden",
        path(&example("golden-mismatch.golden.ipynb")),
    ]);
    assert_eq!(code, Outcome::OutputsDiffer.exit_code());
    // The cell the comparison names reads `differs`; the others still read `passed`.
    let statuses: Vec<(usize, CellStatus)> = report
        .cells
        .iter()
        .map(|c| (c.cell_index, c.status))
        .collect();
    assert!(statuses.contains(&(2, CellStatus::Differs)), "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|&(i, s)| i == 2 || s == CellStatus::Passed),
        "{statuses:?}"
    );
    let mismatches = report.comparison.unwrap().mismatches;
    assert_eq!(mismatches.len(), 1, "{mismatches:#?}");
    let m = &mismatches[0];
    assert_eq!(
        (m.cell_index, m.output_index, m.kind),
        (2, Some(1), DiffKind::OutputMismatch)
    );
    assert_eq!((m.expected.as_str(), m.actual.as_str()), ("7", "6"));
    assert!(m.unified_diff.as_deref().unwrap().contains("-7\n+6"));
}

#[test]
fn human_report_names_cell_and_output() {
    ensure_python();
    let out = command()
        .arg("validate")
        .arg(example("golden-mismatch.ipynb"))
        .arg("--golden")
        .arg(example("golden-mismatch.golden.ipynb"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(
        stdout.contains("cell 2 output 1: outputMismatch [text/plain]"),
        "{stdout}"
    );
    assert!(stdout.contains("OUTPUTS DIFFER"), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("executing cell 3/4"), "{stderr}");
}

#[test]
fn pod_mode_writes_bounded_summary_and_report() {
    ensure_python();
    let dir = tempfile::tempdir().unwrap();
    let termination = dir.path().join("termination-log");
    let report = dir.path().join("report.json");
    let out = command()
        .arg("run")
        .env("NBV_NOTEBOOK", example("parameterised.ipynb"))
        .env("NBV_GOLDEN", example("parameterised.golden.ipynb"))
        .env("NBV_PARAMETERS", r#"{"count": 3, "name": "nbv"}"#)
        .env("NBV_TERMINATION_MESSAGE_PATH", &termination)
        .env("NBV_REPORT_PATH", &report)
        .env("NBV_WORK_DIR", dir.path().join("work"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary_text = std::fs::read_to_string(&termination).unwrap();
    assert!(summary_text.len() <= 4096);
    let summary = Summary::from_json(&summary_text).unwrap();
    assert_eq!(summary.outcome, Outcome::Passed);
    assert_eq!(
        summary.comparison_result.unwrap().result,
        ComparisonOutcome::Matched
    );
    let full = nbv_report::Report::from_json(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(full.parameters["name"], "nbv");
}

#[test]
fn requirements_installed_with_read_only_home() {
    ensure_python();
    let dir = tempfile::tempdir().unwrap();
    let nb = one_cell_notebook(
        dir.path(),
        "uses-requirement.ipynb",
        "import tomli_w\nprint(tomli_w.dumps({'a': 1}))",
    );
    let requirements = dir.path().join("requirements.txt");
    std::fs::write(&requirements, "tomli-w==1.0.0\n").unwrap();
    let termination = dir.path().join("termination-log");
    // /proc cannot be written, like the HOME of an arbitrary UID on OpenShift.
    let out = command()
        .arg("run")
        .env("HOME", "/proc")
        .env("NBV_NOTEBOOK", &nb)
        .env("NBV_REQUIREMENTS", &requirements)
        .env("NBV_TERMINATION_MESSAGE_PATH", &termination)
        .env("NBV_WORK_DIR", dir.path().join("work"))
        .output()
        .unwrap();
    let summary = Summary::from_json(&std::fs::read_to_string(&termination).unwrap()).unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        summary.message,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(summary.results[0].output.as_deref(), Some("a = 1"));
    assert!(dir.path().join("work/home").is_dir());
}

#[test]
fn requirements_generated_from_imports_are_installed_at_start() {
    ensure_python();
    let dir = tempfile::tempdir().unwrap();
    let nb = one_cell_notebook(
        dir.path(),
        "imports.ipynb",
        "import json\nimport tomli_w\nprint(tomli_w.dumps({'b': 2}))",
    );
    let termination = dir.path().join("termination-log");
    let out = command()
        .arg("run")
        .env("HOME", "/proc")
        .env("NBV_NOTEBOOK", &nb)
        .env("NBV_REQUIREMENTS_FROM_IMPORTS", "true")
        .env("NBV_TERMINATION_MESSAGE_PATH", &termination)
        .env("NBV_WORK_DIR", dir.path().join("work"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let summary = Summary::from_json(&std::fs::read_to_string(&termination).unwrap()).unwrap();
    assert_eq!(out.status.code(), Some(0), "{}\n{stderr}", summary.message);
    assert_eq!(summary.results[0].output.as_deref(), Some("b = 2"));
    assert!(
        stderr.contains("requirements from the notebook's imports: tomli_w"),
        "{stderr}"
    );
    // Not in the table of import names: installed by its own name, and flagged.
    let generated = summary.generated_requirements.expect("reported");
    assert_eq!(generated.requirements, ["tomli_w"]);
    assert_eq!(generated.by_import_name, ["tomli_w"]);

    // Named in the job's table: installed as that distribution, nothing flagged.
    let out = command()
        .arg("run")
        .env("HOME", "/proc")
        .env("NBV_NOTEBOOK", &nb)
        .env("NBV_REQUIREMENTS_FROM_IMPORTS", "true")
        .env("NBV_IMPORT_NAMES", "tomli_w=tomli-w,acme=acme-sdk")
        .env("NBV_TERMINATION_MESSAGE_PATH", &termination)
        .env("NBV_WORK_DIR", dir.path().join("work"))
        .output()
        .unwrap();
    let summary = Summary::from_json(&std::fs::read_to_string(&termination).unwrap()).unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", summary.message);
    let generated = summary.generated_requirements.expect("reported");
    assert_eq!(generated.requirements, ["tomli-w"]);
    assert!(generated.by_import_name.is_empty(), "{generated:?}");
}

#[test]
fn requirements_a_build_generated_are_reported_from_the_image() {
    ensure_python();
    let dir = tempfile::tempdir().unwrap();
    let nb = one_cell_notebook(dir.path(), "plain.ipynb", "print(1)");
    // As the generated Dockerfile leaves it in the image.
    let in_image = dir.path().join("nbv-requirements.txt");
    std::fs::write(
        &in_image,
        "pandas\nacme\n# nbv: installed by their import name (not in the table of other names): acme\n",
    )
    .unwrap();
    let termination = dir.path().join("termination-log");
    let out = command()
        .arg("run")
        .env("NBV_NOTEBOOK", &nb)
        .env("NBV_GENERATED_REQUIREMENTS", &in_image)
        .env("NBV_TERMINATION_MESSAGE_PATH", &termination)
        .env("NBV_WORK_DIR", dir.path().join("work"))
        .output()
        .unwrap();
    let summary = Summary::from_json(&std::fs::read_to_string(&termination).unwrap()).unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", summary.message);
    let generated = summary.generated_requirements.expect("reported");
    assert_eq!(generated.requirements, ["pandas", "acme"]);
    assert_eq!(generated.by_import_name, ["acme"]);
}

/// Writes a Python notebook of one code cell holding `source` to `dir/name`.
fn one_cell_notebook(dir: &std::path::Path, name: &str, source: &str) -> std::path::PathBuf {
    let nb = dir.join(name);
    let notebook = serde_json::json!({
        "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        "cells": [{"cell_type": "code", "execution_count": null, "metadata": {}, "outputs": [],
                   "source": source}]
    });
    std::fs::write(&nb, notebook.to_string()).expect("write the notebook");
    nb
}
