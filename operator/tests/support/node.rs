//! Helpers of the tests on the real node: notebooks, a wheel to install, jobs and their verdicts.

use std::time::{Duration, Instant};

use kube::api::LogParams;
use nbv_testenv::node::Repo;
use notebook_validator_operator::crd::image::NotebookImage;
use notebook_validator_operator::crd::{NotebookValidationJob, Phase};

use super::Harness;

/// A notebook of code cells, never executed.
pub fn notebook(cells: &[&str]) -> Vec<u8> {
    let cells: Vec<serde_json::Value> = cells
        .iter()
        .map(|source| {
            serde_json::json!({"cell_type": "code", "execution_count": null, "metadata": {}, "outputs": [], "source": source})
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "cells": cells,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5
    }))
    .expect("json")
}

/// A pure-Python wheel `nbvdemo` 1.0 (module `nbvdemo`, `VALUE = 42`) in `dir`, for pip's
/// --find-links: the package index the requirements test installs from.
pub fn write_wheel(dir: &std::path::Path) {
    std::fs::create_dir_all(dir).expect("wheel dir");
    let script = r#"
import base64, hashlib, sys, zipfile
files = {
    "nbvdemo/__init__.py": "VALUE = 42\n",
    "nbvdemo-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: nbvdemo\nVersion: 1.0\n",
    "nbvdemo-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: nbv-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
record = []
with zipfile.ZipFile(sys.argv[1] + "/nbvdemo-1.0-py3-none-any.whl", "w") as z:
    for name, text in files.items():
        data = text.encode()
        z.writestr(name, data)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append("nbvdemo-1.0.dist-info/RECORD,,")
    z.writestr("nbvdemo-1.0.dist-info/RECORD", "\n".join(record) + "\n")
"#;
    let status = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(dir)
        .status()
        .expect("python3 runs");
    assert!(status.success(), "writing the wheel failed");
}

/// A requirements file installing `requirement` from the [`write_wheel`] wheel on `server`:
/// pip reads its index options from the file, so a build has no other input.
pub fn requirements_from(server: &nbv_testenv::NodeServer, requirement: &str) -> String {
    format!(
        "--no-index\n--find-links {}wheels/\n{requirement}\n",
        server.files_url()
    )
}

/// A notebook importing `nbvdemo` and printing its `VALUE` (42).
pub fn uses_package() -> Vec<u8> {
    notebook(&["import nbvdemo\nprint(nbvdemo.VALUE)"])
}

/// A git and file server on the node for this test binary, in a fresh directory named after
/// `name`; its supervisor removes it when the binary ends.
pub fn node_server(name: &str) -> nbv_testenv::NodeServer {
    let dir = std::env::temp_dir().join(format!("nbv-{name}-{}", std::process::id()));
    nbv_testenv::NodeServer::start(&dir, nbv_testenv::Lifetime::Owned).expect("node server")
}

/// A repository on `server` (which serves the [`write_wheel`] wheel under `wheels/`) with
/// `uses-package.ipynb`, a notebook importing `nbvdemo`, and at `path` a requirements file
/// naming `requirement` from that wheel: pip reads its index options from the file, so a build
/// has no other input.
pub fn package_repo(
    server: &nbv_testenv::NodeServer,
    name: &str,
    path: &str,
    requirement: &str,
) -> Repo {
    let requirements = requirements_from(server, requirement);
    let uses = uses_package();
    server
        .repo(
            name,
            &[
                ("uses-package.ipynb", uses.as_slice()),
                (path, requirements.as_bytes()),
            ],
        )
        .expect("repository")
}

/// The node server of a test binary that builds images: it serves the [`write_wheel`] wheel,
/// and two [`package_repo`]s: `installs`, whose requirements file names `nbvdemo`, and
/// `missing`, whose requirements file names a package no index has.
pub struct BuildRepos {
    pub server: nbv_testenv::NodeServer,
    pub installs: Repo,
    pub missing: Repo,
}

/// [`BuildRepos`] on a [`node_server`] named `name`.
pub fn build_repos(name: &str) -> BuildRepos {
    let server = node_server(name);
    write_wheel(&server.files_dir().join("wheels"));
    let repo = |name: &str, requirement: &str| {
        package_repo(&server, name, "requirements.txt", requirement)
    };
    BuildRepos {
        installs: repo("installs", "nbvdemo==1.0"),
        missing: repo("missing", "nbv-no-such-package==1.0"),
        server,
    }
}

/// A job validating `path` from `repo`, with more of the spec (YAML indented 2) after it.
pub fn job(name: &str, repo: &Repo, path: &str, more: &str) -> String {
    format!(
        "apiVersion: mlops.redhat.com/v1alpha1\nkind: NotebookValidationJob\nmetadata:\n  name: {name}\nspec:\n  notebook:\n    git:\n      url: {url}\n      ref: {commit}\n    path: {path}\n{more}",
        url = repo.url,
        commit = repo.commit,
    )
}

/// Waits (longer than the played tests: notebooks really run) for the job to end.
pub async fn verdict(h: &Harness, name: &str) -> NotebookValidationJob {
    verdict_within(h, name, Duration::from_secs(180)).await
}

/// Waits up to `limit` for the job to end.
pub async fn verdict_within(h: &Harness, name: &str, limit: Duration) -> NotebookValidationJob {
    let deadline = Instant::now() + limit;
    loop {
        let job = h.jobs().get(name).await.expect("job");
        if job
            .status
            .as_ref()
            .and_then(|s| s.phase)
            .is_some_and(|p| matches!(p, Phase::Succeeded | Phase::Failed))
        {
            return job;
        }
        if Instant::now() >= deadline {
            panic!(
                "job {name} has no verdict after {limit:?}: {:#?}\n{}",
                job.status,
                h.what_happened().await
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub fn phase(job: &NotebookValidationJob) -> Option<Phase> {
    job.status.as_ref().and_then(|s| s.phase)
}

/// Builds pull, install and push for real: minutes, not seconds.
pub const BUILD_VERDICT: Duration = Duration::from_secs(600);

/// Waits for job `name` to succeed on a digest of `repository` that its build pushed and its
/// validation pod ran, the notebook passing with what only the build installed; returns the job
/// and that image.
pub async fn validated_on_pushed_digest(
    h: &Harness,
    name: &str,
    repository: &str,
) -> (NotebookValidationJob, String) {
    let job = verdict_within(h, name, BUILD_VERDICT).await;
    let status = job.status.clone().expect("status");
    assert_eq!(phase(&job), Some(Phase::Succeeded), "{status:#?}");
    let pulled = status
        .build_status
        .as_ref()
        .and_then(|b| b.image_reference.clone())
        .expect("the built image");
    assert!(
        pulled.starts_with(&format!("{repository}@sha256:")),
        "the build's own record names the pushed digest: {pulled}"
    );
    let pod = status.validation_pod_name.clone().expect("pod");
    let spec = h.pods().get(&pod).await.expect("pod").spec.expect("spec");
    assert_eq!(spec.containers[0].image.as_deref(), Some(pulled.as_str()));
    assert_eq!(status.results.len(), 1, "{status:#?}");
    assert_eq!(
        status.results[0].status,
        nbv_report::CellStatus::Passed,
        "{status:#?}"
    );
    (job, pulled)
}

/// Waits for job `name` to fail in its build, pip's own words about the requirement no index
/// has (`nbv-no-such-package`) in `status.buildStatus.logsTail`, and nothing validated; returns
/// the message of its `Ready` condition.
pub async fn failed_for_the_missing_package(h: &Harness, name: &str) -> String {
    let job = verdict_within(h, name, BUILD_VERDICT).await;
    let status = job.status.clone().expect("status");
    assert_eq!(phase(&job), Some(Phase::Failed), "{status:#?}");
    let (_, reason, message) = super::condition(&job, "Ready").expect("Ready");
    assert_eq!(reason, "BuildFailed", "{message}");
    let tail = status
        .build_status
        .as_ref()
        .and_then(|b| b.logs_tail.clone())
        .unwrap_or_default();
    assert!(
        tail.contains("nbv-no-such-package"),
        "pip's words reach the status: {tail}"
    );
    assert!(
        status.validation_pod_name.is_none(),
        "nothing is validated after a failed build"
    );
    message
}

pub async fn logs(h: &Harness, pod: &str, container: &str) -> String {
    h.pods()
        .logs(
            pod,
            &LogParams {
                container: Some(container.into()),
                ..LogParams::default()
            },
        )
        .await
        .expect("logs through the kubelet")
}

/// The example notebooks of `examples/notebooks`, as (file name, content).
pub fn example_notebooks() -> Vec<(String, Vec<u8>)> {
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/notebooks");
    std::fs::read_dir(&examples)
        .expect("examples")
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).expect("read"),
            )
        })
        .collect()
}

/// The NotebookImages of the harness's namespace.
pub fn images(h: &Harness) -> kube::Api<NotebookImage> {
    kube::Api::namespaced(h.env.client.clone(), &h.env.namespace)
}

/// Waits up to `limit` for `check` to hold on the NotebookImage `name`, failing with its last
/// status.
pub async fn wait_image(
    h: &Harness,
    name: &str,
    what: &str,
    limit: Duration,
    check: impl Fn(&NotebookImage) -> bool,
) -> NotebookImage {
    let deadline = Instant::now() + limit;
    let mut last = None;
    while Instant::now() < deadline {
        if let Some(image) = images(h).get_opt(name).await.expect("read") {
            if check(&image) {
                return image;
            }
            last = image.status;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // What happened first: the image's list of packages would push it out of a truncated log.
    if let Some(status) = last.as_mut() {
        status.software = None;
    }
    panic!(
        "{name}: no {what} within {limit:?}\n{}last status: {last:#?}",
        h.what_happened().await
    );
}

/// A claim `name` in the harness's namespace bound to a volume on this machine's disk (by the
/// real binder controller), writable by any user; returns the directory and the volume's name.
/// The volume outlives the namespace (Retain): remove it with [`remove_volume`].
pub async fn host_path_claim(h: &Harness, name: &str) -> (tempfile::TempDir, String) {
    use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
    use kube::api::PostParams;
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::Builder::new()
        .prefix("nbv-artifacts-")
        .tempdir()
        .expect("volume directory");
    // Validation pods do not run as root.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let volume = format!("{}-{name}", h.env.namespace);
    let volumes: kube::Api<PersistentVolume> = kube::Api::all(h.env.client.clone());
    let pv: PersistentVolume = serde_json::from_value(serde_json::json!({
        "metadata": {"name": volume},
        "spec": {
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": "",
            "hostPath": {"path": dir.path().to_str().expect("UTF-8"), "type": "Directory"},
        }
    }))
    .expect("volume");
    volumes
        .create(&PostParams::default(), &pv)
        .await
        .expect("volume created");
    let claims: kube::Api<PersistentVolumeClaim> =
        kube::Api::namespaced(h.env.client.clone(), &h.env.namespace);
    let pvc: PersistentVolumeClaim = serde_json::from_value(serde_json::json!({
        "metadata": {"name": name},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": "",
            "volumeName": volume,
            "resources": {"requests": {"storage": "1Gi"}},
        }
    }))
    .expect("claim");
    claims
        .create(&PostParams::default(), &pvc)
        .await
        .expect("claim created");
    (dir, volume)
}

/// Deletes a volume [`host_path_claim`] made, once its namespace is gone.
pub async fn remove_volume(client: &kube::Client, volume: &str) {
    let volumes: kube::Api<k8s_openapi::api::core::v1::PersistentVolume> =
        kube::Api::all(client.clone());
    let _ = volumes.delete(volume, &Default::default()).await;
}
