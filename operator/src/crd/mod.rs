//! The operator's API: the custom resources it serves, the names of their conditions, and
//! their CustomResourceDefinitions. Nothing here knows of a controller.

pub mod conditions;
pub mod image;
mod job;
pub mod suite;

pub use self::job::*;

use kube::CustomResourceExt;

/// The operator's CustomResourceDefinitions (NotebookValidationJob, NotebookImage,
/// NotebookValidationSuite), as YAML
/// documents, exactly as checked in under `deploy/crds/`.
pub fn crd_yaml() -> String {
    let to_yaml = |crd| {
        serde_yaml_ng::to_string(&crd)
            .unwrap_or_else(|e| unreachable!("a CRD always serialises: {e}"))
    };
    format!(
        "# Generated from the Rust types by `cargo xtask codegen`; do not edit.\n{}---\n{}---\n{}",
        to_yaml(NotebookValidationJob::crd()),
        to_yaml(image::NotebookImage::crd()),
        to_yaml(suite::NotebookValidationSuite::crd())
    )
}
