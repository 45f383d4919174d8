//! A suite's matrix: its cells (notebook × image × parameter set × kernel) and the ordinary
//! `NotebookValidationJob` that runs each one. Pure.

use std::collections::BTreeMap;

use buildstrategy_api::naming::dns_label;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;
use sha2::{Digest, Sha256};

use super::selection::Selection;
use crate::crd::suite::{CellKey, MAX_CELLS, NotebookValidationSuite};
use crate::crd::{
    ExecutionConfig, GitSpec, NotebookSource, NotebookValidationJob, NotebookValidationJobSpec,
};
use crate::labels;

/// A matrix image, resolved to the reference its jobs run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedImage {
    /// The matrix's name for it.
    pub name: String,
    /// The image reference (a NotebookImage's published, digest-pinned image).
    pub reference: String,
    /// Secrets to pull it with, beyond the job template's.
    pub pull_secrets: Vec<String>,
}

/// One cell of the matrix, with what its job needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// The cell.
    pub key: CellKey,
    /// The notebook's golden.
    pub golden: Option<String>,
    /// The image, when the matrix names images.
    pub image: Option<ResolvedImage>,
    /// The parameters, when the matrix names parameter sets.
    pub parameters: Option<BTreeMap<String, serde_json::Value>>,
}

/// The cells of `suite`'s matrix over `selection`, notebook by notebook; an error when there
/// would be more than [`MAX_CELLS`].
pub fn cells(
    suite: &NotebookValidationSuite,
    selection: &Selection,
    images: &[ResolvedImage],
) -> Result<Vec<Cell>, String> {
    let matrix = suite.spec.matrix.clone().unwrap_or_default();
    let axis = |n: usize| n.max(1);
    let size = selection
        .notebooks
        .len()
        .saturating_mul(axis(images.len()))
        .saturating_mul(axis(matrix.parameter_sets.len()))
        .saturating_mul(axis(matrix.kernels.len()));
    if size > MAX_CELLS {
        return Err(format!(
            "the matrix has {size} cells ({} notebooks × {} images × {} parameter sets × {} kernels), more than the {MAX_CELLS} a suite may run; split the suite or narrow its notebooks",
            selection.notebooks.len(),
            axis(images.len()),
            axis(matrix.parameter_sets.len()),
            axis(matrix.kernels.len()),
        ));
    }
    let images: Vec<Option<&ResolvedImage>> = if images.is_empty() {
        vec![None]
    } else {
        images.iter().map(Some).collect()
    };
    let sets: Vec<Option<_>> = if matrix.parameter_sets.is_empty() {
        vec![None]
    } else {
        matrix.parameter_sets.iter().map(Some).collect()
    };
    let kernels: Vec<Option<&String>> = if matrix.kernels.is_empty() {
        vec![None]
    } else {
        matrix.kernels.iter().map(Some).collect()
    };
    let mut out = Vec::with_capacity(size);
    for notebook in &selection.notebooks {
        for image in &images {
            for set in &sets {
                for kernel in &kernels {
                    out.push(Cell {
                        key: CellKey {
                            notebook: notebook.path.clone(),
                            image: image.map(|i| i.name.clone()),
                            parameter_set: set.map(|s| s.name.clone()),
                            kernel: kernel.cloned(),
                        },
                        golden: notebook.golden.clone(),
                        image: image.cloned(),
                        parameters: set.map(|s| s.parameters.clone()),
                    });
                }
            }
        }
    }
    Ok(out)
}

/// The job of cell `key` in generation `generation`: the suite's name, the generation and a
/// digest of the cell, so that a cell has one job whoever creates it.
pub fn job_name(suite: &NotebookValidationSuite, generation: i64, key: &CellKey) -> String {
    let json = serde_json::to_vec(key).unwrap_or_default();
    let digest = hex(&Sha256::digest(&json)[..5]);
    dns_label(&[&suite.name_any(), &format!("g{generation}"), &digest])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Renders the job of `cell`, reading the notebook and golden at `commit`.
pub fn render(
    suite: &NotebookValidationSuite,
    generation: i64,
    commit: &str,
    cell: &Cell,
) -> NotebookValidationJob {
    let template = suite.spec.job_template.clone().unwrap_or_default();
    let git = GitSpec {
        git_ref: Some(commit.to_owned()),
        ..suite.spec.repository.clone()
    };
    let source = |path: &str| NotebookSource {
        git: git.clone(),
        path: path.to_owned(),
    };
    let mut pod_config = template.pod_config.unwrap_or_default();
    if let Some(image) = &cell.image {
        pod_config.container_image = Some(image.reference.clone());
        pod_config.build_config = None;
        for secret in &image.pull_secrets {
            if !pod_config.image_pull_secrets.contains(secret) {
                pod_config.image_pull_secrets.push(secret.clone());
            }
        }
    }
    let mut execution = template.execution;
    if let Some(kernel) = &cell.key.kernel {
        execution = Some(ExecutionConfig {
            kernel: Some(kernel.clone()),
            ..execution.unwrap_or_default()
        });
    }
    let name = job_name(suite, generation, &cell.key);
    let mut job = NotebookValidationJob::new(
        &name,
        NotebookValidationJobSpec {
            notebook: source(&cell.key.notebook),
            golden_notebook: cell.golden.as_deref().map(source),
            pod_config: Some(pod_config),
            comparison_config: template.comparison_config,
            parameters: cell.parameters.clone(),
            timeout: template.timeout,
            execution,
            artifacts: template.artifacts,
            reuse_results: Some(template.reuse_results.unwrap_or(true)),
        },
    );
    job.metadata = ObjectMeta {
        name: Some(name),
        namespace: suite.namespace(),
        labels: Some(labels::for_suite(suite, generation)),
        annotations: Some(BTreeMap::from([(
            labels::SUITE_CELL_ANNOTATION.to_owned(),
            serde_json::to_string(&cell.key).unwrap_or_default(),
        )])),
        owner_references: Some(vec![labels::owner(suite)]),
        ..ObjectMeta::default()
    };
    job
}

/// The cell a suite's job runs, from its annotation.
pub fn cell_of(job: &NotebookValidationJob) -> Option<CellKey> {
    serde_json::from_str(job.annotations().get(labels::SUITE_CELL_ANNOTATION)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::selection::Selected;

    fn suite(matrix: serde_json::Value) -> NotebookValidationSuite {
        let mut suite: NotebookValidationSuite = serde_json::from_value(serde_json::json!({
            "apiVersion": "mlops.redhat.com/v1alpha1",
            "kind": "NotebookValidationSuite",
            "metadata": {"name": "nightly", "namespace": "team", "uid": "u-1"},
            "spec": {
                "repository": {"url": "https://git.example/nb.git", "ref": "main",
                               "credentialsSecret": "git-login"},
                "notebooks": {"include": ["**/*.ipynb"]},
                "matrix": matrix,
                "jobTemplate": {
                    "timeout": "20m",
                    "execution": {"cellTimeout": "2m"},
                    "podConfig": {"imagePullSecrets": ["pull"],
                                  "buildConfig": {"enabled": true, "strategy": "auto"}},
                },
            },
        }))
        .expect("a suite");
        suite.metadata.generation = Some(3);
        suite
    }

    fn selection(paths: &[&str]) -> Selection {
        Selection {
            notebooks: paths
                .iter()
                .map(|p| Selected {
                    path: (*p).to_owned(),
                    golden: Some(format!("{}.golden.ipynb", p.trim_end_matches(".ipynb"))),
                })
                .collect(),
            skipped: Vec::new(),
        }
    }

    fn image(name: &str) -> ResolvedImage {
        ResolvedImage {
            name: name.into(),
            reference: format!("registry.example/{name}@sha256:{}", "1".repeat(64)),
            pull_secrets: vec!["published-with".into()],
        }
    }

    #[test]
    fn every_notebook_runs_in_every_image_parameter_set_and_kernel() {
        let suite = suite(serde_json::json!({
            "parameterSets": [{"name": "small", "parameters": {"n": 1}},
                              {"name": "large", "parameters": {"n": 100}}],
            "kernels": ["python3"],
        }));
        let cells = cells(
            &suite,
            &selection(&["a.ipynb", "b.ipynb"]),
            &[image("slim"), image("full")],
        )
        .expect("cells");
        assert_eq!(cells.len(), 8);
        let names: std::collections::BTreeSet<String> =
            cells.iter().map(|c| job_name(&suite, 3, &c.key)).collect();
        assert_eq!(names.len(), 8, "one job name per cell");
    }

    #[test]
    fn a_matrix_over_the_limit_is_refused_before_expanding() {
        let suite = suite(serde_json::json!({
            "parameterSets": (0..64).map(|i| serde_json::json!({"name": format!("p{i}"), "parameters": {}})).collect::<Vec<_>>(),
            "kernels": ["a", "b", "c", "d", "e", "f", "g", "h"],
        }));
        let images: Vec<ResolvedImage> = (0..32).map(|i| image(&format!("i{i}"))).collect();
        let err = cells(&suite, &selection(&["a.ipynb"]), &images).expect_err("too large");
        assert!(err.contains("16384 cells"), "{err}");
    }

    #[test]
    fn a_cells_job_pins_the_commit_and_the_image_and_keeps_the_template() {
        let suite = suite(serde_json::json!({
            "parameterSets": [{"name": "small", "parameters": {"n": 1}}],
            "kernels": ["python3"],
        }));
        let cell = cells(&suite, &selection(&["nb/a.ipynb"]), &[image("slim")])
            .expect("cells")
            .remove(0);
        let job = render(&suite, 3, &"c".repeat(40), &cell);
        assert_eq!(cell_of(&job), Some(cell.key.clone()));
        insta::assert_yaml_snapshot!(job);
    }
}
