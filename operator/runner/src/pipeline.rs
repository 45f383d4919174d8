//! One validation run: read inputs, prepare Python, execute, collect, compare.
//! Every failure ends up in the returned report; nothing here panics or exits.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nbv_compare::{Comparator, CompareConfig, Notebook, notebook};
use nbv_report::{
    CellError, CellReport, CellStatus, Comparison, ComparisonOutcome, GeneratedRequirements,
    Outcome, Report, SCHEMA_VERSION, StopReason, Stopped, format_duration,
};

use crate::collect::cell_reports;
use crate::dirs::{create_dir, writable_home_env, write_file};
use crate::error::{RunError, invalid};
use crate::execute::{Execution, Finished, output_path};
use crate::params::Parameters;
use crate::prepare::{prepare, restore_skipped};
use crate::python;
use crate::requirements;

/// Everything a run needs, resolved from flags and environment.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) notebook: PathBuf,
    pub(crate) golden: Option<PathBuf>,
    pub(crate) parameters: Parameters,
    pub(crate) requirements: Option<PathBuf>,
    pub(crate) requirements_from_imports: bool,
    /// `MODULE=DISTRIBUTION` entries added to the table of import names.
    pub(crate) import_names: Vec<String>,
    /// Requirements a build generated, to report.
    pub(crate) generated_requirements: Option<PathBuf>,
    pub(crate) compare: CompareConfig,
    pub(crate) cell_timeout: u64,
    pub(crate) timeout: Duration,
    /// Execute every cell, past those that raise.
    pub(crate) continue_on_error: bool,
    /// Where to write the HTML report.
    pub(crate) html: Option<PathBuf>,
    /// Where to keep a copy of the executed notebook.
    pub(crate) executed_notebook: Option<PathBuf>,
    pub(crate) kernel: Option<String>,
    pub(crate) work_dir: PathBuf,
    pub(crate) cache_dir: PathBuf,
}

/// Where progress goes (standard error).
pub(crate) type Log = Arc<dyn Fn(&str) + Send + Sync>;

/// What execution and comparison found, before it becomes a report.
struct Verdict {
    outcome: Outcome,
    message: String,
    cells: Vec<CellReport>,
    comparison: Option<Comparison>,
    stopped: Option<Stopped>,
}

pub(crate) fn validate(settings: &Settings, log: &Log) -> Report {
    let started = Instant::now();
    // Read first, so that a run that fails still says what the image was given.
    let mut generated = settings.generated_requirements.as_deref().and_then(|path| {
        requirements::read_generated(path)
            .inspect_err(|e| log(&e.to_string()))
            .ok()
    });
    let verdict = execute_and_compare(settings, log, &mut generated).unwrap_or_else(|e| Verdict {
        outcome: e.outcome(),
        message: e.to_string(),
        cells: Vec::new(),
        comparison: None,
        stopped: None,
    });
    let report = Report {
        schema_version: SCHEMA_VERSION,
        notebook: settings.notebook.display().to_string(),
        golden: settings.golden.as_ref().map(|g| g.display().to_string()),
        kernel: settings.kernel.clone(),
        parameters: settings.parameters.for_report(),
        outcome: verdict.outcome,
        exit_code: verdict.outcome.exit_code(),
        message: verdict.message,
        duration: format_duration(started.elapsed().as_secs_f64()),
        cells: verdict.cells,
        comparison: verdict.comparison,
        generated_requirements: generated,
        stopped: verdict.stopped,
    };
    if let Some(path) = &settings.html {
        write_html(settings, &report, path, log.as_ref());
    }
    if let Some(path) = &settings.executed_notebook {
        let executed = output_path(&settings.work_dir);
        if let Err(e) = std::fs::read(&executed).and_then(|nb| write_file(path, nb)) {
            log(&format!(
                "cannot keep the executed notebook at {}: {e}",
                path.display()
            ));
        }
    }
    report
}

/// The executed notebook as the driver wrote it, with the injected parameters cell dropped and the
/// skipped cells restored, so that cells line up with the notebook's.
fn read_executed(path: &Path) -> Option<Notebook> {
    notebook::read(path)
        .ok()
        .map(Notebook::without_injected_cells)
        .map(restore_skipped)
}

/// Writes the HTML report, with the outputs of the executed and golden notebooks as far as they
/// could be read.
fn write_html(settings: &Settings, report: &Report, path: &Path, log: &dyn Fn(&str)) {
    let executed = read_executed(&output_path(&settings.work_dir));
    let golden = settings
        .golden
        .as_deref()
        .and_then(|g| notebook::read(g).ok())
        .map(Notebook::without_injected_cells);
    let page = crate::html::render(report, executed.as_ref(), golden.as_ref());
    if let Err(e) = write_file(path, page) {
        log(&format!(
            "cannot write the HTML report to {}: {e}",
            path.display()
        ));
    }
}

fn read_notebook(path: &Path, what: &str) -> Result<Notebook, RunError> {
    notebook::read(path).map_err(|e| invalid(format!("{what} {}: {e}", path.display())))
}

/// Runs the notebook; requirements generated on the way are left in `generated`.
fn execute_and_compare(
    settings: &Settings,
    log: &Log,
    generated: &mut Option<GeneratedRequirements>,
) -> Result<Verdict, RunError> {
    requirements::check_import_names(&settings.import_names)?;
    let source = read_notebook(&settings.notebook, "notebook")?;
    let golden = settings
        .golden
        .as_deref()
        .map(|g| read_notebook(g, "golden notebook"))
        .transpose()?
        .map(Notebook::without_injected_cells);
    let comparator =
        Comparator::new(settings.compare.clone()).map_err(|e| invalid(e.to_string()))?;

    create_dir(&settings.work_dir)?;
    let mut env = writable_home_env(&settings.work_dir)?;
    let python = python::resolve(&settings.cache_dir, &env, log.as_ref())?;
    let generated_file = settings.work_dir.join("requirements-from-imports.txt");
    let requirements = match &settings.requirements {
        Some(file) => Some(file.as_path()),
        None if settings.requirements_from_imports => {
            let listed = generated.insert(requirements::generate(
                &python,
                &settings.notebook,
                &settings.import_names,
                &generated_file,
                &env,
                log.as_ref(),
            )?);
            // Options alone (an index) install nothing, and pip refuses them.
            let names_one = listed
                .requirements
                .iter()
                .any(|line| !line.starts_with('-'));
            names_one.then_some(generated_file.as_path())
        }
        None => None,
    };
    if let Some(requirements) = requirements {
        let site = requirements::install(
            &python,
            requirements,
            &settings.cache_dir,
            &env,
            log.as_ref(),
        )?;
        env.push(("PYTHONPATH".into(), python_path(&site)));
    }

    let input = prepare(&settings.notebook, &source, &settings.work_dir)?;
    let output = output_path(&settings.work_dir);
    let _ = std::fs::remove_file(&output);
    let cwd = settings
        .notebook
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let execution = Execution {
        python: &python,
        input: &input,
        output: &output,
        cwd,
        parameters: &settings.parameters,
        kernel: kernel(settings, &source, log.as_ref()),
        cell_timeout: settings.cell_timeout,
        timeout: settings.timeout,
        continue_on_error: settings.continue_on_error,
        env,
    };
    // The driver counts the parameters cell it injects.
    let total = source.cells.len() + usize::from(!settings.parameters.is_empty());
    let progress_log = Arc::clone(log);
    let finished = execution.run(Arc::new(move |n| {
        progress_log(&format!("executing cell {n}/{total}"))
    }))?;

    let executed = read_executed(&output);
    let mut cells = executed.as_ref().map(cell_reports).unwrap_or_default();
    if finished.kernel_died() {
        mark_kernel_death(&mut cells);
    }
    let timeouts = executed
        .as_ref()
        .map(|nb| nb.cells.iter().map(own_timeout).collect::<Vec<_>>())
        .unwrap_or_default();
    let problem = execution_problem(settings, &finished, &cells, &timeouts, executed.is_some());
    let stopped = stop_of(settings, &finished, &cells);
    // A run stopped early is not compared; one that went on past errors still is.
    let compare_anyway = settings.continue_on_error && !finished.kernel_died();
    let comparable = problem
        .as_ref()
        .is_none_or(|(outcome, _)| compare_anyway && *outcome == Outcome::NotebookFailed);
    let comparison = match (executed, golden) {
        (Some(executed), Some(golden)) if comparable => {
            Some(comparator.compare(&golden, &executed))
        }
        _ => None,
    };
    if let Some(comparison) = &comparison {
        mark_differing(&mut cells, comparison);
    }
    let differ = comparison.as_ref().and_then(differences);
    let (outcome, message) = match (problem, differ) {
        (Some((outcome, problem)), Some(differ)) => (outcome, format!("{problem}; {differ}")),
        (Some(problem), None) => problem,
        (None, Some(differ)) => (Outcome::OutputsDiffer, differ),
        (None, None) => (
            Outcome::Passed,
            match &comparison {
                Some(c) => format!(
                    "{}; outputs match the golden notebook ({})",
                    executed_cells(&cells),
                    c.strategy.as_str()
                ),
                None => format!("{} without error", executed_cells(&cells)),
            },
        ),
    };
    Ok(Verdict {
        outcome,
        message,
        cells,
        comparison,
        stopped,
    })
}

/// A cell that ran cleanly but that the comparison names reads `differs`, not `passed`, in
/// every report and in the job's status.
fn mark_differing(cells: &mut [CellReport], comparison: &Comparison) {
    for cell in cells {
        let named = comparison
            .mismatches
            .iter()
            .any(|m| m.cell_index == cell.cell_index);
        if cell.status == CellStatus::Passed && named {
            cell.status = CellStatus::Differs;
        }
    }
}

/// What differs from the golden notebook, in one line; `None` when nothing does.
fn differences(comparison: &Comparison) -> Option<String> {
    let first = comparison.mismatches.first()?;
    (comparison.result == ComparisonOutcome::Failed).then(|| {
        format!(
            "outputs differ from the golden notebook: {} mismatch(es), first in cell {}{}: {}",
            comparison.mismatches.len(),
            first.cell_index,
            first
                .output_index
                .map(|o| format!(" output {o}"))
                .unwrap_or_default(),
            first.kind.as_str()
        )
    })
}

/// Where and why execution ended before the notebook's last cell, if it did.
fn stop_of(settings: &Settings, finished: &Finished, cells: &[CellReport]) -> Option<Stopped> {
    let first = |status: CellStatus| {
        cells
            .iter()
            .find(|c| c.status == status)
            .map(|c| c.cell_index)
    };
    let (reason, cell_index) = if finished.status.is_none() {
        (StopReason::TimeLimit, first(CellStatus::TimedOut))
    } else if finished.kernel_died() {
        let died = cells.iter().find(|c| {
            c.error
                .as_ref()
                .is_some_and(|e| e.ename == DEAD_KERNEL_ERROR)
        });
        (StopReason::KernelDied, died.map(|c| c.cell_index))
    } else if let Some(index) = first(CellStatus::TimedOut).filter(|_| !settings.continue_on_error)
    {
        (StopReason::CellTimeout, Some(index))
    } else if let Some(index) = first(CellStatus::Failed).filter(|_| !settings.continue_on_error) {
        (StopReason::CellFailed, Some(index))
    } else {
        return None;
    };
    Some(Stopped { cell_index, reason })
}

/// The tag that gives a cell its own timeout, `nbv-timeout=SECONDS`.
const TIMEOUT_TAG: &str = "nbv-timeout=";

/// A cell's own timeout in seconds, from its tag.
fn own_timeout(cell: &nbv_compare::notebook::Cell) -> Option<u64> {
    cell.metadata
        .tags
        .iter()
        .find_map(|t| t.strip_prefix(TIMEOUT_TAG)?.parse().ok())
}

/// The error given to the cell that was running when the kernel died.
const DEAD_KERNEL_ERROR: &str = "DeadKernelError";

/// The kernel died: the cell that was running is still recorded as running. It is the last
/// one that started; it gets the failure, the cells after it stay not run.
fn mark_kernel_death(cells: &mut [CellReport]) {
    if let Some(stopped) = cells
        .iter_mut()
        .rev()
        .find(|c| !matches!(c.status, CellStatus::NotRun | CellStatus::Skipped))
    {
        stopped.status = CellStatus::Failed;
        stopped.error = Some(CellError {
            ename: DEAD_KERNEL_ERROR.into(),
            evalue: "the kernel died while this cell ran (a crash, a signal, or out of memory)"
                .into(),
            traceback: Vec::new(),
        });
    }
}

/// "N cells executed", with how many `NBVAL_SKIP` kept from running.
fn executed_cells(cells: &[CellReport]) -> String {
    let skipped = cells
        .iter()
        .filter(|c| c.status == CellStatus::Skipped)
        .count();
    let executed = cells.len() - skipped;
    if skipped == 0 {
        format!("{executed} cells executed")
    } else {
        format!("{executed} cells executed, {skipped} not (NBVAL_SKIP)")
    }
}

/// Classifies a run that did not simply succeed; `None` when execution went fine. Stops that
/// come from the notebook (a cell raising, running over its timeout, killing the kernel, the
/// whole run exceeding its time) fail the notebook: the cells that finished keep their results.
fn execution_problem(
    settings: &Settings,
    finished: &Finished,
    cells: &[CellReport],
    timeouts: &[Option<u64>],
    have_output: bool,
) -> Option<(Outcome, String)> {
    let kept = |stopped: usize| {
        let done = cells
            .iter()
            .filter(|c| c.cell_index < stopped && c.status != CellStatus::NotRun)
            .count();
        match done {
            0 => String::new(),
            1 => "; the cell before it has its result".to_owned(),
            n => format!("; the {n} cells before it have their results"),
        }
    };
    let timed_out_cell = cells
        .iter()
        .find(|c| c.status == CellStatus::TimedOut)
        .map(|c| c.cell_index);
    let Some(status) = finished.status else {
        let at = timed_out_cell
            .map(|i| format!(" while cell {i} was running{}", kept(i)))
            .unwrap_or_default();
        return Some((
            Outcome::NotebookFailed,
            format!(
                "timed out: execution exceeded its time limit of {} s (--timeout; in a cluster, what spec.timeout leaves of the job){at}",
                settings.timeout.as_secs()
            ),
        ));
    };
    if finished.kernel_died() {
        let stopped = cells.iter().find(|c| {
            c.error
                .as_ref()
                .is_some_and(|e| e.ename == DEAD_KERNEL_ERROR)
        });
        let at = stopped
            .map(|c| format!(" while cell {} was running", c.cell_index))
            .unwrap_or_default();
        let kept = stopped.map(|c| kept(c.cell_index)).unwrap_or_default();
        return Some((
            Outcome::NotebookFailed,
            format!(
                "the kernel died{at} (it crashed, was killed, or ran out of memory; in a pod, raise podConfig.resources.limits.memory){kept}"
            ),
        ));
    }
    if finished.driver_failed() {
        return Some((
            Outcome::InfrastructureError,
            driver_failure(settings, status, &finished.log_tail),
        ));
    }
    let failures: Vec<&CellReport> = cells.iter().filter(|c| c.status.is_failure()).collect();
    if let Some(first) = failures.first() {
        let index = first.cell_index;
        let why = match (&first.error, first.status) {
            (_, CellStatus::TimedOut) => {
                let (limit, whose) = match timeouts.get(index).copied().flatten() {
                    Some(own) => (own, "its own timeout (tag nbv-timeout)"),
                    None => (settings.cell_timeout, "the cell timeout"),
                };
                format!("timed out: cell {index} ran longer than {whose} of {limit} s")
            }
            (Some(e), _) => format!(
                "cell {index} raised an exception: {}: {}",
                e.ename, e.evalue
            ),
            (None, _) => format!("cell {index} failed"),
        };
        let message = if failures.len() > 1 {
            format!("{} cells failed; the first: {why}", failures.len())
        } else if first.status == CellStatus::TimedOut {
            format!("{why}{}", kept(index))
        } else {
            why
        };
        return Some((Outcome::NotebookFailed, message));
    }
    let all_ran = have_output
        && cells
            .iter()
            .all(|c| matches!(c.status, CellStatus::Passed | CellStatus::Skipped));
    // Every cell has its result even if the driver failed on its way out.
    if status.success() || all_ran {
        return None;
    }
    Some((
        Outcome::InfrastructureError,
        driver_failure(settings, status, &finished.log_tail),
    ))
}

/// The kernel to run with: the one asked for, else the notebook's. A notebook that names none
/// runs in the runner's own Python kernel (`python3`), as nbval falls back to its environment's.
fn kernel<'a>(settings: &'a Settings, source: &'a Notebook, log: &dyn Fn(&str)) -> Option<&'a str> {
    if let Some(kernel) = settings.kernel.as_deref() {
        return Some(kernel);
    }
    if source.kernel_name().is_none() {
        log("the notebook names no kernel: running it with python3, the runner's own");
        return Some(FALLBACK_KERNEL);
    }
    None
}

/// The kernel ipykernel installs in the runner's Python environment.
const FALLBACK_KERNEL: &str = "python3";

/// Explains a failure of the driver that left no usable notebook.
fn driver_failure(settings: &Settings, status: std::process::ExitStatus, log: &str) -> String {
    const NO_KERNEL: &str = "No such kernel named ";
    if let Some(line) = log.lines().find(|l| l.contains(NO_KERNEL)) {
        let name = line.rsplit(NO_KERNEL).next().unwrap_or(line).trim();
        return format!(
            "kernel {name:?} is not installed for {} (see `jupyter kernelspec list`, or pass --kernel)",
            settings.notebook.display()
        );
    }
    let tail: Vec<&str> = log
        .lines()
        .rev()
        .filter(|l| !l.trim().is_empty())
        .take(8)
        .collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    format!(
        "executing the notebook failed ({status}):\n{}",
        tail.join("\n")
    )
}

/// PYTHONPATH with `site` first, keeping any existing entries.
fn python_path(site: &Path) -> OsString {
    let mut paths = vec![site.to_path_buf()];
    if let Some(existing) = std::env::var_os("PYTHONPATH") {
        paths.extend(std::env::split_paths(&existing));
    }
    std::env::join_paths(paths).unwrap_or_else(|_| site.as_os_str().to_owned())
}
