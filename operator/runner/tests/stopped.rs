//! Notebooks stopped before their end (a cell over its timeout, the whole run over its time, the
//! kernel dying) and notebooks run past their errors: the cells that finished keep their
//! results, and the message names the cell that stopped the run and why.

mod common;

use common::{code, notebook, path, validate, write};
use nbv_report::{CellStatus, Outcome, StopReason, Stopped};
use serde_json::json;

const HANG: &str = "import time\ntime.sleep(600)";

fn stopped(cell_index: usize, reason: StopReason) -> Option<Stopped> {
    Some(Stopped {
        cell_index: Some(cell_index),
        reason,
    })
}

/// `nbv validate ARGS`, which must fail the notebook.
fn failed(args: &[&str]) -> nbv_report::Report {
    let (code, report, _) = validate(args);
    assert_eq!(
        code,
        Outcome::NotebookFailed.exit_code(),
        "{}",
        report.message
    );
    report
}

/// Three cells, the second of which hangs.
fn hanging_in_the_middle(dir: &std::path::Path) -> std::path::PathBuf {
    write(
        dir,
        "hang.ipynb",
        &notebook(
            json!([code("print(1)"), code(HANG), code("print(3)")]),
            "python3",
        ),
    )
}

fn statuses(report: &nbv_report::Report) -> Vec<CellStatus> {
    report.cells.iter().map(|c| c.status).collect()
}

#[test]
fn the_overall_timeout_keeps_the_cells_that_finished() {
    let dir = tempfile::tempdir().unwrap();
    let nb = hanging_in_the_middle(dir.path());
    let started = std::time::Instant::now();
    let report = failed(&[path(&nb), "--timeout", "8"]);
    assert_eq!(
        report.message,
        "timed out: execution exceeded its time limit of 8 s (--timeout; in a cluster, what spec.timeout leaves of the job) while cell 1 was running; the cell before it has its result"
    );
    assert_eq!(
        statuses(&report),
        [CellStatus::Passed, CellStatus::TimedOut, CellStatus::NotRun]
    );
    assert_eq!(report.cells[0].output.as_deref(), Some("1"));
    assert_eq!(report.stopped, stopped(1, StopReason::TimeLimit));
    assert!(started.elapsed().as_secs() < 60);
}

#[test]
fn a_cell_over_the_cell_timeout_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let nb = write(
        dir.path(),
        "hang.ipynb",
        &notebook(json!([code("print(1)"), code(HANG)]), "python3"),
    );
    let report = failed(&[path(&nb), "--cell-timeout", "3"]);
    assert!(
        report
            .message
            .starts_with("timed out: cell 1 ran longer than the cell timeout of 3 s"),
        "{}",
        report.message
    );
    assert_eq!(
        statuses(&report),
        [CellStatus::Passed, CellStatus::TimedOut]
    );
    assert_eq!(report.stopped, stopped(1, StopReason::CellTimeout));
}

#[test]
fn a_cell_tagged_with_its_own_timeout_gets_that_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut slow = code(HANG);
    slow["metadata"]["tags"] = json!(["nbv-timeout=2"]);
    let mut patient = code("import time\ntime.sleep(3)\nprint('waited')");
    patient["metadata"]["tags"] = json!(["nbv-timeout=30"]);
    let nb = write(
        dir.path(),
        "tagged.ipynb",
        &notebook(json!([patient, slow]), "python3"),
    );
    // The first cell outlives the run's cell timeout but not its own.
    let report = failed(&[path(&nb), "--cell-timeout", "1"]);
    assert_eq!(
        statuses(&report),
        [CellStatus::Passed, CellStatus::TimedOut]
    );
    assert_eq!(report.cells[0].output.as_deref(), Some("waited"));
    assert_eq!(report.stopped, stopped(1, StopReason::CellTimeout));
    assert!(
        report.message.starts_with(
            "timed out: cell 1 ran longer than its own timeout (tag nbv-timeout) of 2 s"
        ),
        "{}",
        report.message
    );
}

#[test]
fn a_kernel_that_dies_fails_the_cell_that_was_running() {
    let dir = tempfile::tempdir().unwrap();
    let nb = write(
        dir.path(),
        "dies.ipynb",
        &notebook(
            json!([
                code("print(1)"),
                code("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"),
                code("print(3)")
            ]),
            "python3",
        ),
    );
    let report = failed(&[path(&nb)]);
    assert!(
        report
            .message
            .starts_with("the kernel died while cell 1 was running"),
        "{}",
        report.message
    );
    assert_eq!(
        statuses(&report),
        [CellStatus::Passed, CellStatus::Failed, CellStatus::NotRun]
    );
    let error = report.cells[1]
        .error
        .as_ref()
        .expect("the stopped cell's error");
    assert_eq!(error.ename, "DeadKernelError");
    assert_eq!(report.stopped, stopped(1, StopReason::KernelDied));
}

#[test]
fn continue_on_error_goes_past_a_cell_over_its_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let nb = hanging_in_the_middle(dir.path());
    let report = failed(&[path(&nb), "--cell-timeout", "2", "--continue-on-error"]);
    assert_eq!(
        statuses(&report),
        [CellStatus::Passed, CellStatus::TimedOut, CellStatus::Passed]
    );
    assert_eq!(report.cells[2].output.as_deref(), Some("3"));
    assert_eq!(report.stopped, None, "it went on");
    assert!(
        report
            .message
            .starts_with("timed out: cell 1 ran longer than the cell timeout of 2 s"),
        "{}",
        report.message
    );
}

#[test]
fn continue_on_error_reports_every_cell_and_still_compares() {
    let dir = tempfile::tempdir().unwrap();
    let cells = json!([
        code("print(1)"),
        code("1/0"),
        code("print(3)"),
        code("undefined_name"),
        code("print(5)")
    ]);
    let nb = write(dir.path(), "errors.ipynb", &notebook(cells, "python3"));
    // The golden notebook: the same cells, one output changed.
    let mut golden: serde_json::Value =
        serde_json::from_str(&notebook(json!([]), "python3")).unwrap();
    golden["cells"] = json!(
        [
            ("print(1)", "1\n"),
            ("1/0", ""),
            ("print(3)", "three\n"),
            ("undefined_name", ""),
            ("print(5)", "5\n")
        ]
        .iter()
        .map(|(source, out)| {
            let mut cell = code(source);
            if !out.is_empty() {
                cell["outputs"] = json!([{"output_type": "stream", "name": "stdout", "text": out}]);
            }
            cell
        })
        .collect::<Vec<_>>()
    );
    let golden = write(dir.path(), "golden.ipynb", &golden.to_string());

    let (code, stopped, _) = validate(&[path(&nb)]);
    assert_eq!(stopped.stopped, self::stopped(1, StopReason::CellFailed));
    assert_eq!(code, Outcome::NotebookFailed.exit_code());
    assert_eq!(
        stopped
            .cells
            .iter()
            .filter(|c| c.status == CellStatus::NotRun)
            .count(),
        3
    );

    let (code, report, _) =
        validate(&[path(&nb), "--continue-on-error", "--golden", path(&golden)]);
    assert_eq!(
        code,
        Outcome::NotebookFailed.exit_code(),
        "{}",
        report.message
    );
    // Cell 2 ran cleanly, but its output is not the golden's.
    assert_eq!(
        statuses(&report),
        [
            CellStatus::Passed,
            CellStatus::Failed,
            CellStatus::Differs,
            CellStatus::Failed,
            CellStatus::Passed
        ]
    );
    assert!(
        report.message.starts_with(
            "2 cells failed; the first: cell 1 raised an exception: ZeroDivisionError"
        ),
        "{}",
        report.message
    );
    let comparison = report.comparison.expect("compared past the errors");
    assert_eq!(report.stopped, None, "it went on");
    assert!(
        comparison.mismatches.iter().any(|m| m.cell_index == 2),
        "{:?}",
        comparison.mismatches
    );
    assert!(
        report.message.contains("outputs differ"),
        "{}",
        report.message
    );
}

#[test]
fn a_deadline_sooner_than_the_timeout_stops_the_run_then() {
    let dir = tempfile::tempdir().unwrap();
    let nb = write(
        dir.path(),
        "hang.ipynb",
        &notebook(json!([code("print(1)"), code(HANG)]), "python3"),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let deadline = (now + 8).to_string();
    let report = failed(&[path(&nb), "--timeout", "3600", "--deadline", &deadline]);
    assert_eq!(report.stopped, stopped(1, StopReason::TimeLimit));
    assert!(
        report.message.contains("time limit of 8 s")
            || report.message.contains("time limit of 7 s"),
        "{}",
        report.message
    );
}
