//! One validation run: read inputs, prepare Python, execute, collect, compare.
//! Every failure ends up in the returned report; nothing here panics or exits.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nbv_compare::{Comparator, CompareConfig, Notebook, notebook};
use nbv_report::{
    CellReport, CellStatus, Comparison, ComparisonOutcome, GeneratedRequirements, Outcome, Report,
    SCHEMA_VERSION, format_duration,
};

use crate::collect::cell_reports;
use crate::dirs::{create_dir, writable_home_env};
use crate::error::{RunError, invalid};
use crate::papermill::{Execution, Finished, output_path};
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
    });
    Report {
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
        env,
    };
    // papermill counts its own injected parameters cell.
    let total = source.cells.len() + usize::from(!settings.parameters.is_empty());
    let progress_log = Arc::clone(log);
    let finished = execution.run(Arc::new(move |n| {
        progress_log(&format!("executing cell {n}/{total}"))
    }))?;

    let executed = notebook::read(&output)
        .ok()
        .map(Notebook::without_injected_cells)
        .map(restore_skipped);
    let cells = executed.as_ref().map(cell_reports).unwrap_or_default();
    if let Some(verdict) = execution_problem(settings, &finished, &cells, executed.is_some()) {
        return Ok(verdict);
    }
    let (Some(executed), Some(golden)) = (executed, golden) else {
        return Ok(Verdict {
            outcome: Outcome::Passed,
            message: format!("{} without error", executed_cells(&cells)),
            cells,
            comparison: None,
        });
    };
    let comparison = comparator.compare(&golden, &executed);
    let (outcome, message) = match (comparison.result, comparison.mismatches.first()) {
        (ComparisonOutcome::Failed, Some(first)) => (
            Outcome::OutputsDiffer,
            format!(
                "outputs differ from the golden notebook: {} mismatch(es), first in cell {}{}: {}",
                comparison.mismatches.len(),
                first.cell_index,
                first
                    .output_index
                    .map(|o| format!(" output {o}"))
                    .unwrap_or_default(),
                first.kind.as_str()
            ),
        ),
        _ => (
            Outcome::Passed,
            format!(
                "{}; outputs match the golden notebook ({})",
                executed_cells(&cells),
                comparison.strategy.as_str()
            ),
        ),
    };
    Ok(Verdict {
        outcome,
        message,
        cells,
        comparison: Some(comparison),
    })
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

/// Classifies a run that did not simply succeed; `None` when execution went fine.
fn execution_problem(
    settings: &Settings,
    finished: &Finished,
    cells: &[CellReport],
    have_output: bool,
) -> Option<Verdict> {
    let verdict = |outcome, message: String| Verdict {
        outcome,
        message,
        cells: cells.to_vec(),
        comparison: None,
    };
    let timed_out_cell = cells
        .iter()
        .find(|c| c.status == CellStatus::TimedOut)
        .map(|c| c.cell_index);
    let Some(status) = finished.status else {
        let at = timed_out_cell
            .map(|i| format!(" while cell {i} was running"))
            .unwrap_or_default();
        return Some(verdict(
            Outcome::InfrastructureError,
            format!(
                "timed out: execution exceeded {} s{at}; the process group was killed",
                settings.timeout.as_secs()
            ),
        ));
    };
    if let Some(index) = timed_out_cell {
        return Some(verdict(
            Outcome::InfrastructureError,
            format!(
                "timed out: cell {index} ran longer than the cell timeout of {} s",
                settings.cell_timeout
            ),
        ));
    }
    if let Some(failed) = cells.iter().find(|c| c.status == CellStatus::Failed) {
        let error = failed
            .error
            .as_ref()
            .map(|e| format!(": {}: {}", e.ename, e.evalue))
            .unwrap_or_default();
        return Some(verdict(
            Outcome::NotebookFailed,
            format!("cell {} raised an exception{error}", failed.cell_index),
        ));
    }
    let all_ran = have_output
        && cells
            .iter()
            .all(|c| matches!(c.status, CellStatus::Passed | CellStatus::Skipped));
    // papermill also exits non-zero for exceptions the notebook declared as expected.
    if status.success() || all_ran {
        return None;
    }
    Some(verdict(
        Outcome::InfrastructureError,
        papermill_failure(settings, status, &finished.log_tail),
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

/// Explains a papermill failure that left no usable notebook.
fn papermill_failure(settings: &Settings, status: std::process::ExitStatus, log: &str) -> String {
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
    format!("papermill failed ({status}):\n{}", tail.join("\n"))
}

/// PYTHONPATH with `site` first, keeping any existing entries.
fn python_path(site: &Path) -> OsString {
    let mut paths = vec![site.to_path_buf()];
    if let Some(existing) = std::env::var_os("PYTHONPATH") {
        paths.extend(std::env::split_paths(&existing));
    }
    std::env::join_paths(paths).unwrap_or_else(|_| site.as_os_str().to_owned())
}
