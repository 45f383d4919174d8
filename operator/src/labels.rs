//! Labels, names and owner references of what the operator creates for a job or a notebook
//! image.

use std::collections::BTreeMap;

use buildstrategy_api::naming::dns_label;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::{Resource, ResourceExt};

use crate::crd::NotebookValidationJob;
use crate::crd::image::NotebookImage;
use crate::crd::suite::NotebookValidationSuite;

/// The field manager of everything the operator writes (server-side apply).
pub const FIELD_MANAGER: &str = buildstrategy_api::resources::FIELD_MANAGER;
/// The finalizer that lets the operator clean up builds before a job goes.
pub const FINALIZER: &str = "mlops.redhat.com/notebook-validation-cleanup";
/// Label naming the job an object belongs to.
pub const JOB_LABEL: &str = "mlops.redhat.com/notebook-validation-job";
/// Label telling what an object is for (`build`, `validation`).
pub const COMPONENT_LABEL: &str = "app.kubernetes.io/component";

/// Labels put on every object created for `job`.
pub fn for_job(job: &NotebookValidationJob) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "app.kubernetes.io/managed-by".to_owned(),
            "nbv-operator".to_owned(),
        ),
        (JOB_LABEL.to_owned(), job.name_any()),
    ])
}

/// An owner reference making `job` (or a notebook image) the controller of an object, so
/// garbage collection removes the object with it.
pub fn owner<K: Resource<DynamicType = ()>>(job: &K) -> OwnerReference {
    job.controller_owner_ref(&())
        .unwrap_or_else(|| OwnerReference {
            api_version: K::api_version(&()).into_owned(),
            kind: K::kind(&()).into_owned(),
            name: job.name_any(),
            uid: job.uid().unwrap_or_default(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        })
}

/// Label naming the notebook image an object belongs to.
pub const IMAGE_LABEL: &str = "mlops.redhat.com/notebook-image";
/// Label naming the round of a notebook image an object belongs to.
pub const ROUND_LABEL: &str = "mlops.redhat.com/notebook-image-round";

/// Labels put on every object created for round `round` of `image`.
pub fn for_image(image: &NotebookImage, round: i64) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "app.kubernetes.io/managed-by".to_owned(),
            "nbv-operator".to_owned(),
        ),
        (IMAGE_LABEL.to_owned(), image.name_any()),
        (ROUND_LABEL.to_owned(), round.to_string()),
    ])
}

/// The validation pod's name for attempt `attempt` (0 for the first).
pub fn validation_pod_name(job: &NotebookValidationJob, attempt: i32) -> String {
    if attempt == 0 {
        dns_label(&[&job.name_any(), "validation"])
    } else {
        dns_label(&[&job.name_any(), "validation", &attempt.to_string()])
    }
}

/// Label naming the suite an object belongs to.
pub const SUITE_LABEL: &str = "mlops.redhat.com/notebook-validation-suite";
/// Label naming the generation (the run) of a suite an object belongs to.
pub const SUITE_GENERATION_LABEL: &str = "mlops.redhat.com/suite-generation";
/// Annotation of a suite's job: its cell of the matrix, as JSON.
pub const SUITE_CELL_ANNOTATION: &str = "mlops.redhat.com/suite-cell";

/// Labels put on every object created for generation `generation` of `suite`.
pub fn for_suite(suite: &NotebookValidationSuite, generation: i64) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "app.kubernetes.io/managed-by".to_owned(),
            "nbv-operator".to_owned(),
        ),
        (SUITE_LABEL.to_owned(), suite.name_any()),
        (SUITE_GENERATION_LABEL.to_owned(), generation.to_string()),
    ])
}
