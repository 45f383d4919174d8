//! Validating an image: one `NotebookValidationJob` per validation notebook, run in the
//! digest-pinned image and owned by the notebook image, and their verdicts gathered.
//!
//! The jobs are the operator's own jobs, reconciled by the job controller like any other: the
//! image controller only creates them and reads their status.

use buildstrategy_api::naming::dns_label;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, PostParams};

use crate::crd::image::{NotebookImage, NotebookVerdict, ValidationNotebook, ValidationReport};
use crate::crd::{NotebookValidationJob, NotebookValidationJobSpec, Phase, PodConfig};
use crate::labels::{self, IMAGE_LABEL, ROUND_LABEL};
use crate::steps::{Context, Error};

/// The job running validation notebook `index` in round `round`.
pub fn job_name(image: &NotebookImage, round: i64, index: usize) -> String {
    dns_label(&[
        &image.name_any(),
        &format!("r{round}"),
        &format!("nb{index}"),
    ])
}

/// Renders the job running `notebook` in the image `pinned`.
pub fn render(
    image: &NotebookImage,
    round: i64,
    index: usize,
    notebook: &ValidationNotebook,
    pinned: &str,
) -> NotebookValidationJob {
    let mut job = NotebookValidationJob::new(
        &job_name(image, round, index),
        NotebookValidationJobSpec {
            notebook: notebook.notebook.clone(),
            golden_notebook: notebook.golden_notebook.clone(),
            pod_config: Some(PodConfig {
                container_image: Some(pinned.to_owned()),
                image_pull_secrets: image.pull_secrets(),
                ..PodConfig::default()
            }),
            comparison_config: notebook.comparison_config.clone(),
            parameters: None,
            timeout: notebook.timeout.clone(),
            execution: None,
            artifacts: None,
            reuse_results: None,
        },
    );
    job.metadata = ObjectMeta {
        name: job.metadata.name,
        namespace: image.namespace(),
        labels: Some(labels::for_image(image, round)),
        owner_references: Some(vec![labels::owner(image)]),
        ..ObjectMeta::default()
    };
    job
}

/// The jobs of `image`, of every round.
pub async fn jobs(
    ctx: &Context,
    image: &NotebookImage,
) -> Result<Vec<NotebookValidationJob>, Error> {
    ctx.jobs_of(image, IMAGE_LABEL).await
}

/// Creates the jobs of round `round` that do not exist yet, and reads the verdicts of all.
pub async fn run(
    ctx: &Context,
    api: &Api<NotebookValidationJob>,
    image: &NotebookImage,
    round: i64,
    pinned: &str,
) -> Result<ValidationReport, Error> {
    let existing = jobs(ctx, image).await?;
    let mut verdicts = Vec::new();
    for (index, notebook) in image.spec.validation_notebooks.iter().enumerate() {
        let name = job_name(image, round, index);
        let job = match existing.iter().find(|j| j.name_any() == name) {
            Some(job) => Some(job.clone()),
            None => {
                let job = render(image, round, index, notebook, pinned);
                match api.create(&PostParams::default(), &job).await {
                    Ok(_) => None,
                    Err(kube::Error::Api(s)) if s.code == 409 => None,
                    Err(source) => {
                        return Err(Error::Kube {
                            action: "creating a validation job",
                            source,
                        });
                    }
                }
            }
        };
        verdicts.push(verdict(&notebook.notebook.path, &name, job.as_ref()));
    }
    Ok(report(verdicts))
}

/// Deletes the jobs of rounds other than those in `keep`.
pub async fn prune(
    ctx: &Context,
    api: &Api<NotebookValidationJob>,
    image: &NotebookImage,
    keep: &[i64],
) -> Result<(), Error> {
    for job in jobs(ctx, image).await? {
        let round = job
            .labels()
            .get(ROUND_LABEL)
            .and_then(|r| r.parse::<i64>().ok());
        if round.is_some_and(|r| !keep.contains(&r)) {
            match api
                .delete(&job.name_any(), &DeleteParams::background())
                .await
            {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(source) => {
                    return Err(Error::Kube {
                        action: "deleting an earlier round's validation job",
                        source,
                    });
                }
            }
        }
    }
    Ok(())
}

/// What `job` (not created yet when `None`) says of its notebook.
pub fn verdict(path: &str, name: &str, job: Option<&NotebookValidationJob>) -> NotebookVerdict {
    let status = job.and_then(|j| j.status.as_ref());
    let phase = status.and_then(|s| s.phase);
    NotebookVerdict {
        path: path.to_owned(),
        job: name.to_owned(),
        phase,
        failed_cells: status.map(|s| s.failed_cells()).unwrap_or_default(),
        message: status
            .filter(|_| phase == Some(Phase::Failed))
            .and_then(|s| s.message.clone()),
    }
}

fn report(notebooks: Vec<NotebookVerdict>) -> ValidationReport {
    let passed = notebooks
        .iter()
        .filter(|n| n.phase == Some(Phase::Succeeded))
        .count();
    ValidationReport {
        summary: format!("{passed}/{}", notebooks.len()),
        notebooks,
    }
}

/// Where a round's validation stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// Some jobs have not ended.
    Running {
        /// How many ended.
        ended: usize,
    },
    /// Every notebook passed.
    Passed,
    /// Every job ended and some failed: a line naming each, with its failed cells.
    Failed(String),
}

/// Reads where `report` stands.
pub fn standing(report: &ValidationReport) -> Standing {
    let ended = report
        .notebooks
        .iter()
        .filter(|n| matches!(n.phase, Some(Phase::Succeeded | Phase::Failed)))
        .count();
    if ended < report.notebooks.len() {
        return Standing::Running { ended };
    }
    let failed: Vec<String> = report
        .notebooks
        .iter()
        .filter(|n| n.phase == Some(Phase::Failed))
        .map(|n| {
            let cells = if n.failed_cells.is_empty() {
                String::new()
            } else {
                let list: Vec<String> = n.failed_cells.iter().map(ToString::to_string).collect();
                format!(" (cells {})", list.join(", "))
            };
            let why = n.message.as_deref().unwrap_or("failed");
            format!("{}{cells}: {why} [job {}]", n.path, n.job)
        })
        .collect();
    if failed.is_empty() {
        Standing::Passed
    } else {
        Standing::Failed(failed.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> NotebookImage {
        serde_yaml_ng::from_str(
            "apiVersion: mlops.redhat.com/v1alpha1\nkind: NotebookImage\nmetadata: { name: img, namespace: ns, uid: u1 }\nspec:\n  buildType: ImageImport\n  fromImage: reg.local/nb:1\n  validationNotebooks:\n  - notebook: { git: { url: 'https://h/r.git', ref: main }, path: checks/a.ipynb }\n    goldenNotebook: { git: { url: 'https://h/r.git', ref: main }, path: checks/a.golden.ipynb }\n    timeout: 10m\n",
        )
        .expect("image")
    }

    #[test]
    fn the_validation_job_renders() {
        let image = image();
        let job = render(
            &image,
            2,
            0,
            &image.spec.validation_notebooks[0],
            "reg.local/nb@sha256:0123",
        );
        insta::assert_yaml_snapshot!(job);
    }

    #[test]
    fn the_validation_job_pulls_with_the_image_pull_or_push_secret() {
        let pulled = |image: &NotebookImage| {
            let job = render(
                image,
                1,
                0,
                &image.spec.validation_notebooks[0],
                "r/n@sha256:1",
            );
            job.spec.pod_config.expect("podConfig").image_pull_secrets
        };
        let mut image = image();
        assert!(pulled(&image).is_empty());
        image.spec.image_pull_secret = Some("quay-pull".into());
        assert_eq!(pulled(&image), ["quay-pull"]);
        image.spec.image_pull_secret = None;
        image.spec.build_config = serde_json::from_value(
            serde_json::json!({ "enabled": true, "pushSecret": "quay-robot" }),
        )
        .expect("buildConfig");
        assert_eq!(pulled(&image), ["quay-robot"]);
    }

    fn job(phase: Phase, failed_cell: Option<usize>, message: &str) -> NotebookValidationJob {
        let results = failed_cell.map_or(
            serde_json::json!([]),
            |cell| serde_json::json!([{"cellIndex": cell, "status": "failed"}]),
        );
        serde_json::from_value(serde_json::json!({
            "apiVersion": "mlops.redhat.com/v1alpha1",
            "kind": "NotebookValidationJob",
            "metadata": {"name": "j"},
            "spec": {"notebook": {"git": {"url": "https://h/r.git"}, "path": "a.ipynb"}},
            "status": {"phase": phase, "results": results, "message": message}
        }))
        .expect("job")
    }

    #[test]
    fn verdicts_name_the_failed_notebooks_and_cells() {
        let passed = verdict(
            "a.ipynb",
            "img-r1-nb0",
            Some(&job(Phase::Succeeded, None, "ok")),
        );
        let failed = verdict(
            "b.ipynb",
            "img-r1-nb1",
            Some(&job(Phase::Failed, Some(3), "cell 3 raised KeyError")),
        );
        assert_eq!(failed.failed_cells, vec![3]);
        let pending = verdict("c.ipynb", "img-r1-nb2", None);
        let running = report(vec![passed.clone(), failed.clone(), pending]);
        assert_eq!(running.summary, "1/3");
        assert_eq!(standing(&running), Standing::Running { ended: 2 });
        let ended = report(vec![passed.clone(), failed]);
        assert_eq!(
            standing(&ended),
            Standing::Failed(
                "b.ipynb (cells 3): cell 3 raised KeyError [job img-r1-nb1]".to_owned()
            )
        );
        assert_eq!(standing(&report(vec![passed])), Standing::Passed);
    }
}
