//! What the build engines that run on the node for real share (Tekton, Shipwright): each
//! release's controller runs as a host program against the control plane, with the release's
//! CRDs installed without the conversion webhooks nothing serves here.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceConversion;

use crate::Error;
use crate::process::{ProcessInfo, Supervised};

/// An engine's controller running as a host program; one started with `Lifetime::Owned` stops
/// when dropped (or when its owner ends).
#[derive(Debug)]
pub struct HostController {
    process: Supervised,
}

impl HostController {
    /// The controller once its program runs (within 10 s), or why not.
    pub(crate) fn started(process: Supervised) -> Result<Self, Error> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while process.info().server_pid.is_none() {
            if Instant::now() > deadline {
                return Err(Error::ServerFailed {
                    name: process.name,
                    detail: "did not start".into(),
                    tail: process.log_tail(20),
                    log: process.log.clone(),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Self { process })
    }

    /// The controller's process (its log is in the run directory given at start).
    pub fn info(&self) -> ProcessInfo {
        self.process.info()
    }
}

/// Installs the CRDs of the manifests in `dir` without their conversion webhook, which nothing
/// serves here: only their storage version is ever written.
pub(crate) async fn install_crds_without_conversion(
    client: &kube::Client,
    dir: &Path,
) -> Result<(), Error> {
    let mut crds = Vec::new();
    for text in yaml_files(dir)? {
        crds.extend(crate::crds::parse_crds(&[&text])?);
    }
    for crd in &mut crds {
        crd.spec.conversion = Some(CustomResourceConversion {
            strategy: "None".into(),
            webhook: None,
        });
    }
    crate::crds::install(client, crds).await.map(drop)
}

/// The YAML files of `dir`, in name order.
pub(crate) fn yaml_files(dir: &Path) -> Result<Vec<String>, Error> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| std::fs::read_to_string(p).map_err(|e| Error::io(p, e)))
        .collect()
}
