//! Volumes for claims on the node, for real: Rancher's local-path provisioner, built from its
//! module with Tekton (`cargo xtask node images --with tekton`), runs as a host program
//! against the control plane. A claim of its StorageClass (the default one) gets a directory
//! under `<run dir>/volumes` once a pod using it is scheduled; its helper pods make the directory
//! and remove it when the claim goes. A Tekton PipelineRun's workspace claim is such a claim.
//!
//! What differs from an installation from the release's manifests:
//! - the provisioner runs with the control plane's admin login, not the release's roles;
//! - its helper pods run the node's operator image (it has `sh`), not busybox, as root, so that
//!   they can make and remove directories in a directory root owns;
//! - the volumes live in the run directory, which goes with the cluster.

use std::ffi::OsString;
use std::path::Path;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, ServiceAccount};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::controller::HostController;
use crate::process::{Lifetime, Spawn};
use crate::{Error, NodeImages};

/// The provisioner's namespace, where its helper pods run.
pub const NAMESPACE: &str = "local-path-storage";
/// The StorageClass of its volumes, the cluster's default.
pub const STORAGE_CLASS: &str = "local-path";
/// The name claims of [`STORAGE_CLASS`] are provisioned by.
const PROVISIONER: &str = "rancher.io/local-path";
const CONFIG_MAP: &str = "local-path-config";
const SERVICE_ACCOUNT: &str = "local-path-provisioner-service-account";
const FIELD_MANAGER: &str = "nbv-testenv";

/// Installs the provisioner's namespace, configuration and StorageClass through `client`, then
/// starts it with the login in `kubeconfig`, its log and the volumes in `run_dir`, for
/// `lifetime` (detached for `cargo xtask cluster up`, whose `down` stops it).
pub async fn start(
    client: &kube::Client,
    kubeconfig: &Path,
    images: &NodeImages,
    run_dir: &Path,
    lifetime: Lifetime,
) -> Result<HostController, Error> {
    let release = images.tekton.as_ref().ok_or_else(|| {
        Error::Invalid(
            "the node's images were built without Tekton, which brings the storage provisioner; build them with `cargo xtask node images --with tekton`"
                .into(),
        )
    })?;
    let volumes = run_dir.join("volumes");
    std::fs::create_dir_all(&volumes).map_err(|e| Error::io(&volumes, e))?;
    install(client, &images.operator.reference, &volumes).await?;
    let binaries = crate::Binaries::locate()?;
    let args: Vec<OsString> = vec![
        "--debug".into(),
        "start".into(),
        "--kubeconfig".into(),
        kubeconfig.into(),
        "--namespace".into(),
        NAMESPACE.into(),
        "--configmap-name".into(),
        CONFIG_MAP.into(),
        "--service-account-name".into(),
        SERVICE_ACCOUNT.into(),
        "--helper-image".into(),
        images.operator.reference.clone().into(),
        "--provisioner-name".into(),
        PROVISIONER.into(),
    ];
    let process = Spawn {
        name: "local-path-provisioner",
        env: Vec::new(),
        supervisor: &binaries.supervisor,
        program: &release.storage_provisioner,
        args,
        run_dir,
        cleanup: None,
        after: Vec::new(),
        lifetime,
    }
    .start()?;
    HostController::started(process)
}

async fn install(client: &kube::Client, helper_image: &str, volumes: &Path) -> Result<(), Error> {
    let params = PatchParams::apply(FIELD_MANAGER).force();
    // Helper pods mount the volumes' directory from the host.
    let namespace = json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": { "name": NAMESPACE, "labels": {
            "pod-security.kubernetes.io/enforce": "privileged"
        }}
    });
    Api::<Namespace>::all(client.clone())
        .patch(NAMESPACE, &params, &Patch::Apply(&namespace))
        .await?;
    let account = json!({
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": { "name": SERVICE_ACCOUNT, "namespace": NAMESPACE }
    });
    Api::<ServiceAccount>::namespaced(client.clone(), NAMESPACE)
        .patch(SERVICE_ACCOUNT, &params, &Patch::Apply(&account))
        .await?;
    Api::<ConfigMap>::namespaced(client.clone(), NAMESPACE)
        .patch(
            CONFIG_MAP,
            &params,
            &Patch::Apply(&config_map(helper_image, volumes)?),
        )
        .await?;
    let class = json!({
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": { "name": STORAGE_CLASS, "annotations": {
            "storageclass.kubernetes.io/is-default-class": "true"
        }},
        "provisioner": PROVISIONER,
        "volumeBindingMode": "WaitForFirstConsumer",
        "reclaimPolicy": "Delete"
    });
    Api::<StorageClass>::all(client.clone())
        .patch(STORAGE_CLASS, &params, &Patch::Apply(&class))
        .await?;
    Ok(())
}

/// The provisioner's configuration: every node's volumes in `volumes`, made writable by any
/// user (as upstream's `setup` script does) and removed when their claim goes.
fn config_map(helper_image: &str, volumes: &Path) -> Result<serde_json::Value, Error> {
    let volumes = volumes
        .to_str()
        .ok_or_else(|| Error::Invalid(format!("{} is not UTF-8", volumes.display())))?;
    let config = json!({ "nodePathMap": [
        { "node": "DEFAULT_PATH_FOR_NON_LISTED_NODES", "paths": [volumes] }
    ]});
    let helper_pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": "helper-pod" },
        "spec": { "containers": [{
            "name": "helper-pod",
            "image": helper_image,
            "imagePullPolicy": "IfNotPresent",
            "securityContext": { "runAsUser": 0, "runAsGroup": 0 }
        }]}
    });
    Ok(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": { "name": CONFIG_MAP, "namespace": NAMESPACE },
        "data": {
            "config.json": config.to_string(),
            "setup": "#!/bin/sh\nset -eu\nmkdir -m 0777 -p \"$VOL_DIR\"\n",
            "teardown": "#!/bin/sh\nset -eu\nrm -rf \"$VOL_DIR\"\n",
            "helperPod.yaml": serde_yaml_ng::to_string(&helper_pod)?,
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_go_to_the_run_directory_through_a_helper_pod_of_the_given_image() {
        let map = config_map("nbv.local/operator:k", Path::new("/run/x/volumes")).unwrap();
        let config: serde_json::Value =
            serde_json::from_str(map["data"]["config.json"].as_str().unwrap()).unwrap();
        assert_eq!(config["nodePathMap"][0]["paths"], json!(["/run/x/volumes"]));
        let pod: serde_json::Value =
            serde_yaml_ng::from_str(map["data"]["helperPod.yaml"].as_str().unwrap()).unwrap();
        assert_eq!(
            pod["spec"]["containers"][0]["image"],
            "nbv.local/operator:k"
        );
        assert!(
            map["data"]["setup"]
                .as_str()
                .unwrap()
                .contains("mkdir -m 0777")
        );
    }
}
