//! Installing CRDs, and stand-ins for the build back-ends' APIs.
//!
//! The stand-ins have the group, version, kind, scope and the fields the build strategies use of
//! the real APIs, with `x-kubernetes-preserve-unknown-fields` where the upstream schema is large.
//! They validate less than the real servers, and no controller acts on them: a test plays the
//! build system's part by watching for the objects a strategy creates and writing their status.
//!
//! OpenShift serves `build.openshift.io` and `image.openshift.io` from an aggregated API server,
//! not CRDs. A CRD cannot have the `buildconfigs/instantiate` subresource (nor `builds/log`), so
//! against these stand-ins a strategy cannot instantiate a BuildConfig; tests of the S2I strategy
//! drive it by creating `Build` objects directly (which OpenShift accepts too) or by playing the
//! build controller on the BuildConfigs and Builds they see.

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::wait::{await_condition, conditions};
use serde::Deserialize;

use crate::Error;

/// `builds.build.openshift.io` (`build.openshift.io/v1` Build).
pub const OPENSHIFT_BUILD: &str = include_str!("../crds/build.openshift.io_builds.yaml");
/// `buildconfigs.build.openshift.io` (`build.openshift.io/v1` BuildConfig).
pub const OPENSHIFT_BUILD_CONFIG: &str =
    include_str!("../crds/build.openshift.io_buildconfigs.yaml");
/// `imagestreams.image.openshift.io` (`image.openshift.io/v1` ImageStream).
pub const OPENSHIFT_IMAGE_STREAM: &str =
    include_str!("../crds/image.openshift.io_imagestreams.yaml");
/// `tasks.tekton.dev` (`tekton.dev/v1` Task).
pub const TEKTON_TASK: &str = include_str!("../crds/tekton.dev_tasks.yaml");
/// `taskruns.tekton.dev` (`tekton.dev/v1` TaskRun).
pub const TEKTON_TASK_RUN: &str = include_str!("../crds/tekton.dev_taskruns.yaml");
/// `pipelines.tekton.dev` (`tekton.dev/v1` Pipeline).
pub const TEKTON_PIPELINE: &str = include_str!("../crds/tekton.dev_pipelines.yaml");
/// `pipelineruns.tekton.dev` (`tekton.dev/v1` PipelineRun).
pub const TEKTON_PIPELINE_RUN: &str = include_str!("../crds/tekton.dev_pipelineruns.yaml");
/// `builds.shipwright.io` (`shipwright.io/v1beta1` Build).
pub const SHIPWRIGHT_BUILD: &str = include_str!("../crds/shipwright.io_builds.yaml");
/// `buildruns.shipwright.io` (`shipwright.io/v1beta1` BuildRun).
pub const SHIPWRIGHT_BUILD_RUN: &str = include_str!("../crds/shipwright.io_buildruns.yaml");
/// `clusterbuildstrategies.shipwright.io` (`shipwright.io/v1beta1` ClusterBuildStrategy).
pub const SHIPWRIGHT_CLUSTER_BUILD_STRATEGY: &str =
    include_str!("../crds/shipwright.io_clusterbuildstrategies.yaml");

/// The OpenShift Build and Image stand-ins.
pub const OPENSHIFT: &[&str] = &[
    OPENSHIFT_BUILD,
    OPENSHIFT_BUILD_CONFIG,
    OPENSHIFT_IMAGE_STREAM,
];
/// The Tekton Pipelines stand-ins.
pub const TEKTON: &[&str] = &[
    TEKTON_TASK,
    TEKTON_TASK_RUN,
    TEKTON_PIPELINE,
    TEKTON_PIPELINE_RUN,
];
/// The Shipwright stand-ins.
pub const SHIPWRIGHT: &[&str] = &[
    SHIPWRIGHT_BUILD,
    SHIPWRIGHT_BUILD_RUN,
    SHIPWRIGHT_CLUSTER_BUILD_STRATEGY,
];
/// Every stand-in.
pub const ALL: &[&str] = &[
    OPENSHIFT_BUILD,
    OPENSHIFT_BUILD_CONFIG,
    OPENSHIFT_IMAGE_STREAM,
    TEKTON_TASK,
    TEKTON_TASK_RUN,
    TEKTON_PIPELINE,
    TEKTON_PIPELINE_RUN,
    SHIPWRIGHT_BUILD,
    SHIPWRIGHT_BUILD_RUN,
    SHIPWRIGHT_CLUSTER_BUILD_STRATEGY,
];

const ESTABLISH_TIMEOUT: Duration = Duration::from_secs(30);

/// Parses CRD manifests (several YAML documents each allowed; empty documents skipped).
pub fn parse_crds(manifests: &[&str]) -> Result<Vec<CustomResourceDefinition>, Error> {
    let mut crds = Vec::new();
    for manifest in manifests {
        for doc in serde_yaml_ng::Deserializer::from_str(manifest) {
            let value = serde_yaml_ng::Value::deserialize(doc)?;
            if value.is_null() {
                continue;
            }
            crds.push(serde_yaml_ng::from_value(value)?);
        }
    }
    Ok(crds)
}

/// Applies CRDs (server-side apply, so installing the same ones again, even concurrently, is
/// harmless) and waits until each is Established. Returns their names.
pub async fn install_crds(client: &kube::Client, manifests: &[&str]) -> Result<Vec<String>, Error> {
    install(client, parse_crds(manifests)?).await
}

/// Applies `crds` and waits until each is Established (see [`install_crds`]).
pub async fn install(
    client: &kube::Client,
    crds: Vec<CustomResourceDefinition>,
) -> Result<Vec<String>, Error> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply("nbv-testenv").force();
    let mut names = Vec::new();
    for crd in crds {
        let name = crd
            .metadata
            .name
            .clone()
            .ok_or_else(|| Error::Invalid("a CRD manifest has no metadata.name".into()))?;
        api.patch(&name, &params, &Patch::Apply(&crd)).await?;
        names.push(name);
    }
    for name in &names {
        tokio::time::timeout(
            ESTABLISH_TIMEOUT,
            await_condition(api.clone(), name, conditions::is_crd_established()),
        )
        .await
        .map_err(|_| {
            Error::Timeout(format!(
                "CRD {name} not Established within {ESTABLISH_TIMEOUT:?}"
            ))
        })?
        .map_err(|e| Error::Invalid(format!("watching CRD {name}: {e}")))?;
    }
    Ok(names)
}
