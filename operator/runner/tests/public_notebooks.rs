//! Public notebooks, as their packages publish them with their stored outputs, validated against
//! themselves by `nbv validate NB --golden NB` and by `pytest --nbval NB` in one Python
//! environment: both verdicts are checked, so the table in docs/comparison.md ("Public
//! notebooks") stays true. The notebooks come from the source distributions of nbval and
//! nbclient (`common::tools`).

mod common;

use std::path::Path;
use std::process::Command;

use common::tools::setup;
use common::{command, path};
use nbv_report::{Outcome, Report};

/// nbv's verdict on the notebook against its own stored outputs.
fn nbv(notebook: &Path) -> Report {
    let out = command()
        .env("NBV_PYTHON", &setup().python)
        .arg("validate")
        .arg(notebook)
        .arg("--golden")
        .arg(notebook)
        .args(["--output", "json"])
        .output()
        .expect("nbv runs");
    Report::from_json(&String::from_utf8_lossy(&out.stdout))
        .unwrap_or_else(|e| panic!("no report ({e}):\n{}", String::from_utf8_lossy(&out.stderr)))
}

/// Whether `pytest --nbval` passes the notebook, run from its directory as its authors do.
fn nbval_passes(notebook: &Path) -> bool {
    Command::new(&setup().python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval"])
        .arg(notebook.file_name().expect("file name"))
        .current_dir(notebook.parent().expect("directory"))
        .output()
        .expect("pytest runs")
        .status
        .success()
}

/// Checks both verdicts on `package`'s notebook `file`.
fn check(package: &str, file: &str, nbv_outcome: Outcome, nbval_pass: bool) {
    let notebook = setup().sources.join(package).join(file);
    assert!(
        notebook.is_file(),
        "{} is not in {package}",
        path(&notebook)
    );
    let report = nbv(&notebook);
    assert_eq!(
        report.outcome, nbv_outcome,
        "nbv on {file}: {}",
        report.message
    );
    assert_eq!(
        nbval_passes(&notebook),
        nbval_pass,
        "pytest --nbval on {file}"
    );
}

// Both pass.

#[test]
fn nbval_exceptions_markers() {
    check(
        "nbval-0.11.0",
        "tests/exceptions.ipynb",
        Outcome::Passed,
        true,
    );
}

#[test]
fn nbval_minimal_example() {
    check(
        "nbval-0.11.0",
        "tests/minimal_example.ipynb",
        Outcome::Passed,
        true,
    );
}

#[test]
fn nbval_unexecuted_cells() {
    check(
        "nbval-0.11.0",
        "tests/ipynb-test-samples/test-stream-pass-missing-unexecuted-output.ipynb",
        Outcome::Passed,
        true,
    );
}

#[test]
fn nbclient_inline_image() {
    check(
        "nbclient-0.11.0",
        "tests/files/Inline Image.ipynb",
        Outcome::Passed,
        true,
    );
}

#[test]
fn nbclient_unicode() {
    check(
        "nbclient-0.11.0",
        "tests/files/UnicodePy3.ipynb",
        Outcome::Passed,
        true,
    );
}

#[test]
fn nbclient_raises_exception_tags() {
    check(
        "nbclient-0.11.0",
        "tests/files/Skip Exceptions with Cell Tags.ipynb",
        Outcome::Passed,
        true,
    );
}

#[test]
fn nbclient_factorials() {
    check(
        "nbclient-0.11.0",
        "tests/files/Factorials.ipynb",
        Outcome::Passed,
        true,
    );
}

// Both fail: nbval's own samples of notebooks that must not pass.

#[test]
fn nbval_stored_exception_mismatch() {
    check(
        "nbval-0.11.0",
        "tests/ipynb-test-samples/test-exceptions-fail-storedmismatch.ipynb",
        Outcome::OutputsDiffer,
        false,
    );
}

#[test]
fn nbval_missing_output() {
    check(
        "nbval-0.11.0",
        "tests/ipynb-test-samples/test-stream-fail-missingoutput.ipynb",
        Outcome::OutputsDiffer,
        false,
    );
}

// They disagree, for the reasons docs/comparison.md gives.

#[test]
fn nbclient_clear_output() {
    // nbval does not apply clear_output to what it collects; Jupyter (and nbclient) does.
    check(
        "nbclient-0.11.0",
        "tests/files/Clear Output.ipynb",
        Outcome::Passed,
        false,
    );
}

#[test]
fn nbclient_update_display() {
    // nbval does not apply update_display_data to earlier outputs; Jupyter (and nbclient) does.
    check(
        "nbclient-0.11.0",
        "tests/files/update-display-id.ipynb",
        Outcome::Passed,
        false,
    );
}
