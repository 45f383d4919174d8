//! What a suite's status says of its jobs: counts, each cell's verdict (bounded), the slowest,
//! and the cross-image diff. Pure.

use std::collections::BTreeMap;

use nbv_report::CellResult;

use crate::crd::suite::{
    CellDifference, CellKey, ImageDiff, MAX_IMAGE_DIFFS, MAX_STATUS_CELLS, SLOWEST_SHOWN,
    SuiteCell, SuiteCounts,
};
use crate::crd::{NotebookValidationJob, NotebookValidationJobStatus, Phase};

/// Characters kept of an output or an error in the diff.
const EXCERPT_CHARS: usize = 160;

/// One cell of the matrix and its job, if created.
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    /// The cell.
    pub key: &'a CellKey,
    /// Its job's name.
    pub job_name: &'a str,
    /// Its job, once created and seen.
    pub job: Option<&'a NotebookValidationJob>,
}

/// The status parts computed from the jobs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Summary {
    /// Verdicts counted.
    pub counts: SuiteCounts,
    /// Each cell, failures first, bounded.
    pub cells: Vec<SuiteCell>,
    /// Cells left out of `cells`.
    pub cells_omitted: u32,
    /// The slowest cells that ended.
    pub slowest: Vec<SuiteCell>,
    /// Notebooks passing in one image and failing in another.
    pub image_diffs: Vec<ImageDiff>,
}

fn status_of<'a>(o: &Observed<'a>) -> Option<&'a NotebookValidationJobStatus> {
    o.job.and_then(|j| j.status.as_ref())
}

fn phase_of(o: &Observed<'_>) -> Option<Phase> {
    status_of(o).and_then(|s| s.phase)
}

fn suite_cell(o: &Observed<'_>) -> SuiteCell {
    let status = status_of(o);
    SuiteCell {
        key: o.key.clone(),
        job: o.job_name.to_owned(),
        phase: status
            .and_then(|s| s.phase)
            .or(o.job.map(|_| Phase::Pending)),
        duration_seconds: status.and_then(NotebookValidationJobStatus::duration_secs),
        failed_cells: status.map(|s| s.failed_cells()).unwrap_or_default(),
    }
}

/// Sums up `observed`.
pub fn summarize(observed: &[Observed<'_>]) -> Summary {
    let mut counts = SuiteCounts {
        total: u32::try_from(observed.len()).unwrap_or(u32::MAX),
        ..SuiteCounts::default()
    };
    for o in observed {
        match (o.job, phase_of(o)) {
            (None, _) => counts.pending += 1,
            (Some(_), Some(Phase::Succeeded)) => counts.passed += 1,
            (Some(_), Some(Phase::Failed)) => counts.failed += 1,
            (Some(_), _) => counts.running += 1,
        }
    }
    let mut cells: Vec<SuiteCell> = observed.iter().map(suite_cell).collect();
    // Failures first, then running, then the rest, each in matrix order.
    cells.sort_by_key(|c| match c.phase {
        Some(Phase::Failed) => 0,
        Some(Phase::Succeeded) => 2,
        None => 3,
        Some(_) => 1,
    });
    let mut slowest: Vec<SuiteCell> = cells
        .iter()
        .filter(|c| c.duration_seconds.is_some())
        .cloned()
        .collect();
    slowest.sort_by_key(|c| std::cmp::Reverse(c.duration_seconds));
    slowest.truncate(SLOWEST_SHOWN);
    let cells_omitted = cells.len().saturating_sub(MAX_STATUS_CELLS);
    cells.truncate(MAX_STATUS_CELLS);
    Summary {
        counts,
        cells,
        cells_omitted: u32::try_from(cells_omitted).unwrap_or(u32::MAX),
        slowest,
        image_diffs: image_diffs(observed),
    }
}

/// A notebook with a parameter set and a kernel: the cells that differ only by image.
type Axes<'a> = (&'a str, Option<&'a str>, Option<&'a str>);

/// For each notebook (with a parameter set and a kernel) that passed in one image and failed in
/// another: the cells whose results differ, and how.
pub fn image_diffs(observed: &[Observed<'_>]) -> Vec<ImageDiff> {
    let mut groups: BTreeMap<Axes<'_>, Vec<&Observed<'_>>> = BTreeMap::new();
    for o in observed.iter().filter(|o| o.key.image.is_some()) {
        groups
            .entry((
                o.key.notebook.as_str(),
                o.key.parameter_set.as_deref(),
                o.key.kernel.as_deref(),
            ))
            .or_default()
            .push(o);
    }
    let mut diffs = Vec::new();
    for ((notebook, parameter_set, kernel), runs) in groups {
        let Some(passed) = runs.iter().find(|o| phase_of(o) == Some(Phase::Succeeded)) else {
            continue;
        };
        for failed in runs.iter().filter(|o| phase_of(o) == Some(Phase::Failed)) {
            let (Some(good), Some(bad)) = (status_of(passed), status_of(failed)) else {
                continue;
            };
            diffs.push(ImageDiff {
                notebook: notebook.to_owned(),
                parameter_set: parameter_set.map(str::to_owned),
                kernel: kernel.map(str::to_owned),
                passed_in: passed.key.image.clone().unwrap_or_default(),
                failed_in: failed.key.image.clone().unwrap_or_default(),
                cells: cell_differences(good, bad),
                message: bad.message.as_deref().map(excerpt),
            });
            if diffs.len() == MAX_IMAGE_DIFFS {
                return diffs;
            }
        }
    }
    diffs
}

fn excerpt(text: &str) -> String {
    nbv_report::truncate_chars(text.trim(), EXCERPT_CHARS)
}

fn describe(result: Option<&CellResult>) -> String {
    let Some(result) = result else {
        return "no result".to_owned();
    };
    let status = format!("{:?}", result.status).to_lowercase();
    match (&result.error_message, &result.output) {
        (Some(error), _) => format!("{status}: {}", excerpt(error)),
        (None, Some(output)) if !output.trim().is_empty() => {
            format!("{status}: {}", excerpt(output))
        }
        _ => status,
    }
}

/// The cells of `bad` that failed or differ from the golden, each with its result in `good`.
fn cell_differences(
    good: &NotebookValidationJobStatus,
    bad: &NotebookValidationJobStatus,
) -> Vec<CellDifference> {
    let in_good: BTreeMap<usize, &CellResult> =
        good.results.iter().map(|r| (r.cell_index, r)).collect();
    let in_bad: BTreeMap<usize, &CellResult> =
        bad.results.iter().map(|r| (r.cell_index, r)).collect();
    let golden_diffs = bad
        .comparison_result
        .iter()
        .flat_map(|c| c.diffs.iter())
        .map(|d| (d.cell_index, d))
        .collect::<BTreeMap<_, _>>();
    bad.failed_cells()
        .into_iter()
        .map(|index| {
            let failed = match (in_bad.get(&index), golden_diffs.get(&index)) {
                (Some(r), _) if r.status.is_failure() && r.error_message.is_some() => {
                    describe(Some(r))
                }
                (_, Some(d)) => format!(
                    "{}: expected {}, got {}",
                    d.diff_type.as_str(),
                    excerpt(&d.expected),
                    excerpt(&d.actual)
                ),
                (r, None) => describe(r.copied()),
            };
            CellDifference {
                cell_index: index,
                passed: describe(in_good.get(&index).copied()),
                failed,
            }
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use nbv_report::CellStatus;

    /// A cell of `notebook` in `image`.
    pub(crate) fn key(notebook: &str, image: &str) -> CellKey {
        CellKey {
            notebook: notebook.into(),
            image: Some(image.into()),
            parameter_set: None,
            kernel: None,
        }
    }

    /// A job that ended in `phase` after `secs`, with `results`.
    pub(crate) fn job(phase: Phase, secs: i64, results: Vec<CellResult>) -> NotebookValidationJob {
        let mut job = NotebookValidationJob::new(
            "j",
            serde_json::from_value(serde_json::json!({
                "notebook": {"git": {"url": "https://git.example/r.git"}, "path": "a.ipynb"}
            }))
            .expect("spec"),
        );
        let at = |s: i64| {
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::from_second(1_700_000_000 + s).expect("time"),
            )
        };
        job.status = Some(NotebookValidationJobStatus {
            phase: Some(phase),
            start_time: Some(at(0)),
            completion_time: Some(at(secs)),
            results,
            message: (phase == Phase::Failed).then(|| "cell 1 raised".to_owned()),
            ..NotebookValidationJobStatus::default()
        });
        job
    }

    fn result(index: usize, status: CellStatus, error: Option<&str>) -> CellResult {
        CellResult {
            cell_index: index,
            status,
            execution_time: None,
            output: Some("42\n".into()),
            error_message: error.map(str::to_owned),
        }
    }

    #[test]
    fn counts_order_and_slowest_come_from_the_jobs() {
        let keys = [
            key("a.ipynb", "x"),
            key("b.ipynb", "x"),
            key("c.ipynb", "x"),
        ];
        let passed = job(Phase::Succeeded, 30, vec![]);
        let failed = job(Phase::Failed, 5, vec![]);
        let observed = [
            Observed {
                key: &keys[0],
                job_name: "j0",
                job: Some(&passed),
            },
            Observed {
                key: &keys[1],
                job_name: "j1",
                job: Some(&failed),
            },
            Observed {
                key: &keys[2],
                job_name: "j2",
                job: None,
            },
        ];
        let summary = summarize(&observed);
        assert_eq!(
            summary.counts,
            SuiteCounts {
                total: 3,
                passed: 1,
                failed: 1,
                running: 0,
                pending: 1
            }
        );
        assert_eq!(summary.cells[0].job, "j1", "failures first");
        assert_eq!(summary.slowest[0].job, "j0");
        assert_eq!(summary.slowest[0].duration_seconds, Some(30));
    }

    #[test]
    fn the_cross_image_diff_names_the_notebook_the_images_and_the_cell() {
        let keys = [key("uses.ipynb", "full"), key("uses.ipynb", "slim")];
        let good = job(
            Phase::Succeeded,
            10,
            vec![
                result(0, CellStatus::Passed, None),
                result(1, CellStatus::Passed, None),
            ],
        );
        let bad = job(
            Phase::Failed,
            3,
            vec![
                result(0, CellStatus::Passed, None),
                result(
                    1,
                    CellStatus::Failed,
                    Some("ModuleNotFoundError: No module named 'nbvdemo'"),
                ),
            ],
        );
        let observed = [
            Observed {
                key: &keys[0],
                job_name: "a",
                job: Some(&good),
            },
            Observed {
                key: &keys[1],
                job_name: "b",
                job: Some(&bad),
            },
        ];
        let diffs = image_diffs(&observed);
        assert_eq!(diffs.len(), 1);
        let diff = &diffs[0];
        assert_eq!(
            (diff.passed_in.as_str(), diff.failed_in.as_str()),
            ("full", "slim")
        );
        assert_eq!(diff.cells.len(), 1);
        assert_eq!(diff.cells[0].cell_index, 1);
        assert_eq!(diff.cells[0].passed, "passed: 42");
        assert!(
            diff.cells[0].failed.contains("No module named 'nbvdemo'"),
            "{diff:?}"
        );
    }

    #[test]
    fn a_status_of_ten_thousand_cells_stays_far_below_the_api_servers_limit() {
        let keys: Vec<CellKey> = (0..10_000)
            .map(|i| {
                key(
                    &format!("notebooks/some/deep/directory/notebook-{i:05}.ipynb"),
                    "image-name",
                )
            })
            .collect();
        let failed = job(
            Phase::Failed,
            5,
            vec![result(3, CellStatus::Failed, Some("boom"))],
        );
        let names: Vec<String> = (0..10_000).map(|i| format!("suite-g1-{i:010x}")).collect();
        let observed: Vec<Observed<'_>> = keys
            .iter()
            .zip(&names)
            .map(|(key, name)| Observed {
                key,
                job_name: name,
                job: Some(&failed),
            })
            .collect();
        let summary = summarize(&observed);
        assert_eq!(summary.cells.len(), MAX_STATUS_CELLS);
        assert_eq!(summary.cells_omitted, 9_500);
        let bytes = serde_json::to_vec(&summary.cells).expect("json").len()
            + serde_json::to_vec(&summary.slowest).expect("json").len();
        // The API server takes objects up to 1.5 MiB.
        assert!(bytes < 256 * 1024, "{bytes} bytes");
    }
}
