//! Labels, names and owner references of what the operator creates for a job.

use std::collections::BTreeMap;

use buildstrategy_api::naming::dns_label;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::{Resource, ResourceExt};

use crate::crd::NotebookValidationJob;

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

/// An owner reference making `job` the controller of an object, so garbage collection removes
/// the object with the job.
pub fn owner(job: &NotebookValidationJob) -> OwnerReference {
    job.controller_owner_ref(&())
        .unwrap_or_else(|| OwnerReference {
            api_version: "mlops.redhat.com/v1alpha1".into(),
            kind: "NotebookValidationJob".into(),
            name: job.name_any(),
            uid: job.uid().unwrap_or_default(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        })
}

/// The validation pod's name for attempt `attempt` (0 for the first).
pub fn validation_pod_name(job: &NotebookValidationJob, attempt: i32) -> String {
    if attempt == 0 {
        dns_label(&[&job.name_any(), "validation"])
    } else {
        dns_label(&[&job.name_any(), "validation", &attempt.to_string()])
    }
}
