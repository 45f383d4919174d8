//! Tekton Pipelines on the node, for real: the controller of its release, built from its module
//! by `cargo xtask node images`, runs as a host program against the control plane, with the
//! release's CRDs and ConfigMaps. Its TaskRun pods run on the node with the programs of the
//! `tekton` node image.
//!
//! What differs from an installation from the release's manifests:
//! - no admission webhook runs. The controller applies defaults and validates when it
//!   reconciles, so invalid runs fail there instead of being refused at creation; the CRDs'
//!   conversion webhook is replaced by no conversion, so only `tekton.dev/v1` objects (the
//!   storage version) are written;
//! - the controller runs with the control plane's admin login, not the release's roles;
//! - `feature-flags` sets `running-in-environment-with-injected-sidecars: "false"` (no sidecars
//!   are injected here, so pods need not wait for any) and `coschedule: "disabled"` (the node runs
//!   no StatefulSet controller for the affinity assistant).

use std::ffi::OsString;
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, Patch, PatchParams};
use serde::{Deserialize, Serialize};

use crate::controller::HostController;
use crate::process::{Lifetime, Spawn};
use crate::{Error, NodeImage, NodeImages};

/// The namespace of the controller's ConfigMaps.
pub const NAMESPACE: &str = "tekton-pipelines";
/// The controller's process name in logs and status.
const NAME: &str = "tekton-controller";
const FIELD_MANAGER: &str = "nbv-testenv";

/// A Tekton Pipelines release as `cargo xtask node images --with tekton` built it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TektonRelease {
    /// The module's version, `v1.6.0`.
    pub version: String,
    /// The programs its TaskRun pods run (`entrypoint`, `nop`, `workingdirinit`,
    /// `sidecarlogresults`) in `/ko-app`, where its controller expects them; `nop` runs when
    /// nothing else is named.
    pub pods: NodeImage,
    /// The controller program.
    pub controller: PathBuf,
    /// The release's CRD manifests (`config/300-crds`).
    pub crds: PathBuf,
    /// The release's ConfigMaps (`config/config-*.yaml`).
    pub config: PathBuf,
    /// Rancher's local-path provisioner, which gives a PipelineRun's workspace claims volumes
    /// ([`crate::local_path`]).
    pub storage_provisioner: PathBuf,
}

/// Installs the release's CRDs and ConfigMaps through `client`, then starts the controller
/// with the login in `kubeconfig`, its logs and pid files in `run_dir`, for `lifetime` (detached
/// for `cargo xtask cluster up`, whose `down` stops it). Returns once the controller runs.
pub async fn start(
    client: &kube::Client,
    kubeconfig: &Path,
    images: &NodeImages,
    run_dir: &Path,
    lifetime: Lifetime,
) -> Result<HostController, Error> {
    install(client, release(images)?).await?;
    spawn(kubeconfig, images, run_dir, lifetime)
}

/// The Tekton release among the node's images, or how to build it.
fn release(images: &NodeImages) -> Result<&TektonRelease, Error> {
    images.tekton.as_ref().ok_or_else(|| {
        Error::Invalid(
            "the node's images were built without Tekton; build them with `cargo xtask node images --with tekton`"
                .into(),
        )
    })
}

/// Applies the release's CRDs, without their conversion webhook, and its ConfigMaps.
pub async fn install(client: &kube::Client, release: &TektonRelease) -> Result<(), Error> {
    crate::controller::install_crds_without_conversion(client, &release.crds).await?;
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let namespace = serde_json::json!({
        "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": NAMESPACE }
    });
    namespaces
        .patch(NAMESPACE, &params, &Patch::Apply(&namespace))
        .await?;
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), NAMESPACE);
    for text in crate::controller::yaml_files(&release.config)? {
        let mut map: ConfigMap = serde_yaml_ng::from_str(&text)?;
        let name = map.metadata.name.clone().unwrap_or_default();
        if name == "feature-flags" {
            let data = map.data.get_or_insert_with(Default::default);
            data.insert(
                "running-in-environment-with-injected-sidecars".into(),
                "false".into(),
            );
            data.insert("coschedule".into(), "disabled".into());
        }
        map.metadata.namespace = Some(NAMESPACE.into());
        map.metadata.managed_fields = None;
        maps.patch(&name, &params, &Patch::Apply(&map)).await?;
    }
    Ok(())
}

/// A port nothing listens on now, below `below` and not in `taken`.
fn free_port(below: u16, taken: &[u16]) -> Result<u16, Error> {
    let start = u16::try_from(std::process::id() % 5000).unwrap_or(0);
    (20_000 + start..below)
        .chain(20_000..below)
        .filter(|port| !taken.contains(port))
        .find(|port| TcpListener::bind(("0.0.0.0", *port)).is_ok())
        .ok_or_else(|| Error::Invalid(format!("no free port below {below}")))
}

fn spawn(
    kubeconfig: &Path,
    images: &NodeImages,
    run_dir: &Path,
    lifetime: Lifetime,
) -> Result<HostController, Error> {
    let binaries = crate::Binaries::locate()?;
    let release = release(images)?;
    let pods = &release.pods.reference;
    let flag = |name: &str, value: &str| [OsString::from(format!("-{name}")), value.into()];
    let mut args: Vec<OsString> = vec![
        "-kubeconfig".into(),
        kubeconfig.into(),
        "-disable-ha".into(),
    ];
    for (name, value) in [
        ("entrypoint-image", pods.as_str()),
        ("nop-image", pods),
        ("sidecarlogresults-image", pods),
        ("workingdirinit-image", pods),
        // `place-scripts` needs sh, touch, chmod and cat: the notebook image is Debian.
        ("shell-image", images.notebook.reference.as_str()),
        ("shell-image-win", "unused-on-linux"),
    ] {
        args.extend(flag(name, value));
    }
    // Its ports would clash with other host programs; the metrics port must fit an int16.
    let probes = free_port(u16::MAX, &[])?;
    let profiling = free_port(u16::MAX, &[probes])?;
    let metrics = free_port(32_767, &[probes, profiling])?;
    let env = vec![
        ("SYSTEM_NAMESPACE", NAMESPACE.into()),
        ("METRICS_DOMAIN", "tekton.dev/pipeline".into()),
        ("PROBES_PORT", probes.to_string().into()),
        ("PROFILING_PORT", profiling.to_string().into()),
        ("METRICS_PROMETHEUS_PORT", metrics.to_string().into()),
    ];
    std::fs::create_dir_all(run_dir).map_err(|e| Error::io(run_dir, e))?;
    let process = Spawn {
        name: NAME,
        env,
        supervisor: &binaries.supervisor,
        program: &release.controller,
        args,
        run_dir,
        cleanup: None,
        after: Vec::new(),
        lifetime,
    }
    .start()?;
    HostController::started(process)
}
