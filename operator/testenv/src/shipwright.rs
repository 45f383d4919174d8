//! Shipwright Build on the node, for real: the controller of its release, built from its module
//! by `cargo xtask node images --with shipwright`, runs as a host program against the control
//! plane with the release's CRDs. It runs each BuildRun as a Tekton TaskRun, so Tekton
//! ([`crate::tekton`]) must run too. Its build pods' own programs (`git`, `image-processing`,
//! `bundle`, `waiter`) come from the `shipwright` node image.
//!
//! What differs from an installation from the release's manifests:
//! - no webhook runs: v0.17.0's only webhook converts between `v1alpha1` and `v1beta1`, and only
//!   `v1beta1`, the storage version, is written here;
//! - the controller runs with the control plane's admin login, not the release's roles;
//! - the sample `buildah-shipwright-managed-push` ClusterBuildStrategy is installed with the
//!   node's Buildah image in place of `quay.io/containers/buildah` (which the node cannot pull),
//!   pulled if not present rather than always, and `BUILDAH_ISOLATION=chroot`: `RUN` steps then
//!   use the pod's network, as the Buildah strategy's do, instead of a network of their own that
//!   needs CNI plugins inside the build pod.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::controller::{HostController, install_crds_without_conversion};
use crate::process::{Lifetime, Spawn};
use crate::{Error, NodeImage, NodeImages};

/// The namespace of the controller's leader-election lease.
pub const NAMESPACE: &str = "shipwright-build";
/// The sample ClusterBuildStrategy installed with the release: Buildah builds into an OCI
/// layout, and Shipwright's own step pushes it with the BuildRun's `output.pushSecret`.
pub const BUILDAH_STRATEGY: &str = "buildah-shipwright-managed-push";
/// The controller's process name in logs and status.
const NAME: &str = "shipwright-build-controller";
const FIELD_MANAGER: &str = "nbv-testenv";

/// A Shipwright Build release as `cargo xtask node images --with shipwright` built it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipwrightRelease {
    /// The module's version, `v0.17.0`.
    pub version: String,
    /// The programs its build pods run (`git`, `image-processing`, `bundle`, `waiter`) in
    /// `/ko-app`, where its controller's step templates expect them.
    pub pods: NodeImage,
    /// The controller program.
    pub controller: PathBuf,
    /// The release's CRD manifests (`deploy/crds`).
    pub crds: PathBuf,
    /// The sample ClusterBuildStrategy manifest of [`BUILDAH_STRATEGY`].
    pub buildah_strategy: PathBuf,
}

/// Installs the release's CRDs and the Buildah ClusterBuildStrategy through `client`, then
/// starts the controller with the login in `kubeconfig`, its logs in `run_dir`, for `lifetime`
/// (detached for `cargo xtask cluster up`, whose `down` stops it). Tekton must run already: the
/// controller checks for TaskRuns when it starts.
pub async fn start(
    client: &kube::Client,
    kubeconfig: &Path,
    images: &NodeImages,
    run_dir: &Path,
    lifetime: Lifetime,
) -> Result<HostController, Error> {
    install(client, images).await?;
    spawn(kubeconfig, images, run_dir, lifetime)
}

/// The Shipwright release among the node's images, or how to build it.
fn release(images: &NodeImages) -> Result<&ShipwrightRelease, Error> {
    images.shipwright.as_ref().ok_or_else(|| {
        Error::Invalid(
            "the node's images were built without Shipwright; build them with `cargo xtask node images --with shipwright`"
                .into(),
        )
    })
}

async fn install(client: &kube::Client, images: &NodeImages) -> Result<(), Error> {
    let release = release(images)?;
    install_crds_without_conversion(client, &release.crds).await?;
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let namespace = json!({
        "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": NAMESPACE }
    });
    Api::<Namespace>::all(client.clone())
        .patch(NAMESPACE, &params, &Patch::Apply(&namespace))
        .await?;
    let text = std::fs::read_to_string(&release.buildah_strategy)
        .map_err(|e| Error::io(&release.buildah_strategy, e))?;
    let strategy = on_node(serde_yaml_ng::from_str(&text)?, &images.buildah.reference)?;
    let kind = ApiResource::from_gvk(&GroupVersionKind::gvk(
        "shipwright.io",
        "v1beta1",
        "ClusterBuildStrategy",
    ));
    Api::<DynamicObject>::all_with(client.clone(), &kind)
        .patch(BUILDAH_STRATEGY, &params, &Patch::Apply(&strategy))
        .await?;
    Ok(())
}

/// The sample strategy with the node's Buildah image (see the module's notes).
fn on_node(mut strategy: Value, buildah: &str) -> Result<Value, Error> {
    let steps = strategy["spec"]["steps"]
        .as_array_mut()
        .ok_or_else(|| Error::Invalid(format!("{BUILDAH_STRATEGY} has no steps")))?;
    for step in steps {
        step["image"] = json!(buildah);
        step["imagePullPolicy"] = json!("IfNotPresent");
        let env = step["env"].as_array().cloned().unwrap_or_default();
        let mut env: Vec<Value> = env
            .into_iter()
            .filter(|v| v["name"] != "BUILDAH_ISOLATION")
            .collect();
        env.push(json!({ "name": "BUILDAH_ISOLATION", "value": "chroot" }));
        step["env"] = json!(env);
    }
    Ok(strategy)
}

fn spawn(
    kubeconfig: &Path,
    images: &NodeImages,
    run_dir: &Path,
    lifetime: Lifetime,
) -> Result<HostController, Error> {
    let binaries = crate::Binaries::locate()?;
    let release = release(images)?;
    let pods: OsString = release.pods.reference.clone().into();
    std::fs::create_dir_all(run_dir).map_err(|e| Error::io(run_dir, e))?;
    let env = vec![
        ("KUBECONFIG", kubeconfig.into()),
        (
            "BUILD_CONTROLLER_LEADER_ELECTION_NAMESPACE",
            NAMESPACE.into(),
        ),
        ("GIT_CONTAINER_IMAGE", pods.clone()),
        ("IMAGE_PROCESSING_CONTAINER_IMAGE", pods.clone()),
        ("BUNDLE_CONTAINER_IMAGE", pods.clone()),
        ("WAITER_CONTAINER_IMAGE", pods),
        // Written only when it stops for want of Tekton: with its log, not in /dev.
        (
            "TERMINATION_LOG_PATH",
            run_dir.join("termination-log").into_os_string(),
        ),
    ];
    let process = Spawn {
        name: NAME,
        env,
        supervisor: &binaries.supervisor,
        program: &release.controller,
        args: vec![format!("--version={}", release.version).into()],
        run_dir,
        cleanup: None,
        after: Vec::new(),
        lifetime,
    }
    .start()?;
    HostController::started(process)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_strategy_runs_the_nodes_buildah_with_chroot_isolation() {
        let sample = json!({ "spec": { "steps": [
            { "name": "build", "image": "quay.io/containers/buildah:v1.40.1",
              "imagePullPolicy": "Always",
              "env": [{ "name": "BUILDAH_ISOLATION", "value": "oci" }, { "name": "A", "value": "b" }] }
        ]}});
        let step = &on_node(sample, "nbv.local/buildah:k").unwrap()["spec"]["steps"][0];
        assert_eq!(step["image"], "nbv.local/buildah:k");
        assert_eq!(step["imagePullPolicy"], "IfNotPresent");
        assert_eq!(
            step["env"],
            json!([{ "name": "A", "value": "b" }, { "name": "BUILDAH_ISOLATION", "value": "chroot" }])
        );
    }
}
