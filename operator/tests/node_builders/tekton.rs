//! The Tekton strategy for real: Tekton Pipelines' own controller (built from its module,
//! `nbv_testenv::tekton`) runs the TaskRuns the strategy creates on the node. The build clones
//! from the node's git server, builds with Buildah, and pushes to the node's registry, which asks
//! for the login the job's `pushSecret` holds; the validation pod runs the digest the TaskRun
//! reports, also after an operator restarted mid-build. A failing step's own lines reach the
//! job's status, a job deleted mid-build takes its TaskRun and build pod with it, and Tekton's
//! own timeout ends the job saying so. A NotebookImage of `buildType: PackageList` builds with
//! the same Task, without a source.

#![cfg(feature = "tekton")]

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::support::node::{
    BUILD_VERDICT, BuildRepos, build_repos, failed_for_the_missing_package, job, phase,
    validated_on_pushed_digest, verdict_within,
};
use crate::support::{Harness, condition};
use kube::api::{Api, DeleteParams, DynamicObject};
use kube::core::{ApiResource, GroupVersionKind};
use nbv_testenv::node::{REGISTRY, Repo};
use nbv_testenv::{HostController, Lifetime};
use notebook_validator_operator::crd::Phase;
use tokio::sync::OnceCell;

pub(crate) fn served() -> &'static BuildRepos {
    static SERVED: OnceLock<BuildRepos> = OnceLock::new();
    SERVED.get_or_init(|| build_repos("node-tekton"))
}

/// The controller in `cell`, started at the first call by `start` (given the control plane's
/// client, its admin kubeconfig, the node's images and the run directory `dir` in the control
/// plane's directory, where `name`'s log goes), and checked to still run at every call.
pub(crate) async fn host_controller<F, Fut>(
    cell: &'static OnceCell<HostController>,
    h: &Harness,
    name: &str,
    dir: &str,
    start: F,
) -> &'static HostController
where
    F: FnOnce(kube::Client, PathBuf, nbv_testenv::NodeImages, PathBuf) -> Fut,
    Fut: std::future::Future<Output = Result<HostController, nbv_testenv::Error>>,
{
    let controller = cell
        .get_or_init(|| async {
            let control_plane = h.env.control_plane();
            start(
                h.env.client.clone(),
                control_plane.kubeconfig_path().to_path_buf(),
                h.node_images(),
                control_plane.root_dir().join(dir),
            )
            .await
            .unwrap_or_else(|e| panic!("{name} starts: {e}"))
        })
        .await;
    let pid = controller.info().server_pid.expect("the controller's pid");
    assert!(
        nbv_testenv::is_running(pid),
        "{name}'s controller stopped; its log is in the control plane's {dir}/ directory"
    );
    controller
}

/// One Tekton controller for the test binary's control plane, running as long as it does.
pub(crate) async fn tekton(h: &Harness) -> &'static HostController {
    static TEKTON: OnceCell<HostController> = OnceCell::const_new();
    host_controller(
        &TEKTON,
        h,
        "Tekton",
        "tekton",
        |client, kubeconfig, images, dir| async move {
            nbv_testenv::tekton::start(&client, &kubeconfig, &images, &dir, Lifetime::Owned).await
        },
    )
    .await
}

/// The local-path provisioner, which gives a PipelineRun's workspace claim a volume, for the
/// test binary's control plane.
async fn storage(h: &Harness) -> &'static HostController {
    static STORAGE: OnceCell<HostController> = OnceCell::const_new();
    host_controller(
        &STORAGE,
        h,
        "The storage provisioner",
        "local-path",
        |client, config, images, dir| async move {
            nbv_testenv::local_path::start(&client, &config, &images, &dir, Lifetime::Owned).await
        },
    )
    .await
}

/// The login of the node's registry, which refuses anonymous pushes and pulls.
pub(crate) const PUSH_SECRET: &str = "registry-push";

/// A namespace where the build step may run as Buildah needs, Tekton's controller, and the
/// operator under its generated role with the Tekton strategy.
async fn harness(prefix: &str) -> Harness {
    let mut h = Harness::on_node_with_pod_security(prefix, "privileged").await;
    tekton(&h).await;
    let client = h.least_privilege_client().await;
    let ctx = h.node_context(&["tekton"], Some(client));
    h.start_operator_with(ctx);
    h.registry_secret(PUSH_SECRET).await;
    h
}

/// A job building `repo`'s image with a TaskRun, on the node's notebook image, pushed to the
/// node's registry with the login in `pushSecret`.
fn build_job(h: &Harness, name: &str, repo: &Repo) -> String {
    let images = h.node_images();
    let config = format!(
        "        executor: {}\n        gitImage: {}\n",
        images.buildah.reference, images.operator.reference
    );
    job_with_config(h, name, repo, &config)
}

/// The same, with `config` (YAML lines) as its `strategyConfig`.
fn job_with_config(h: &Harness, name: &str, repo: &Repo, config: &str) -> String {
    let registry = h.env.control_plane().node_registry().expect("registry");
    let base = registry
        .push(&h.node_images().notebook)
        .expect("base image pushed");
    job(
        name,
        repo,
        "uses-package.ipynb",
        &format!(
            "  podConfig:\n    buildConfig:\n      enabled: true\n      strategy: tekton\n      baseImage: {base}\n      requirementsFile: requirements.txt\n      outputImage: {REGISTRY}/builds/{name}:latest\n      pushSecret: {PUSH_SECRET}\n      strategyConfig:\n{config}"
        ),
    )
}

fn task_runs(h: &Harness) -> Api<DynamicObject> {
    tekton_objects(h, "TaskRun")
}

fn tekton_objects(h: &Harness, kind: &str) -> Api<DynamicObject> {
    let kind = ApiResource::from_gvk(&GroupVersionKind::gvk("tekton.dev", "v1", kind));
    Api::namespaced_with(h.env.client.clone(), &h.env.namespace, &kind)
}

/// The pods matching `selector` that are not being deleted.
async fn pods_labelled(h: &Harness, selector: &str) -> Vec<String> {
    let list = h
        .pods()
        .list(&kube::api::ListParams::default().labels(selector))
        .await
        .expect("pods");
    list.items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter_map(|p| p.metadata.name)
        .collect()
}

/// Deletes job `job` once a pod matching `selector` runs its build, then waits until the
/// build's run (`<job>-build` in `runs`) and those pods are gone.
pub(crate) async fn delete_mid_build(
    h: &Harness,
    job: &str,
    runs: &Api<DynamicObject>,
    selector: &str,
) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while pods_labelled(h, selector).await.is_empty() {
        assert!(Instant::now() < deadline, "no build pod within 2 minutes");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    h.jobs()
        .delete(job, &DeleteParams::default())
        .await
        .expect("deleted");
    let run = format!("{job}-build");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let run_left = runs.get_opt(&run).await.expect("read").is_some();
        let pods = pods_labelled(h, selector).await;
        if !run_left && pods.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the run ({run_left}) or its pods ({pods:?}) outlived the job"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Restarts the operator once a pod matching `selector` runs the build of job `job` (its run is
/// `<job>-build` in `runs`); returns the run as it was before the restart.
pub(crate) async fn restart_operator_mid_build(
    h: &mut Harness,
    job: &str,
    runs: &Api<DynamicObject>,
    selector: &str,
    strategy: &str,
) -> DynamicObject {
    let deadline = Instant::now() + Duration::from_secs(120);
    while pods_labelled(h, selector).await.is_empty() {
        assert!(Instant::now() < deadline, "no build pod within 2 minutes");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let first = runs.get(&format!("{job}-build")).await.expect("the run");
    h.stop_operator();
    // The same service account and role as before the restart.
    let client = h
        .env
        .service_account_client("nbv-operator")
        .await
        .expect("the operator's client");
    let ctx = h.node_context(&[strategy], Some(client));
    h.start_operator_with(ctx);
    first
}

/// Asserts that `runs` holds one run, `first`, which its controller says succeeded.
pub(crate) async fn ran_once(runs: &Api<DynamicObject>, first: &DynamicObject) -> DynamicObject {
    let list = runs.list(&Default::default()).await.expect("runs");
    assert_eq!(list.items.len(), 1, "one run, restart or not");
    let run = list.items.into_iter().next().expect("the run");
    assert_eq!(run.metadata.uid, first.metadata.uid);
    let succeeded = run.data["status"]["conditions"][0].clone();
    assert_eq!(succeeded["status"], "True", "{succeeded}");
    run
}

/// Waits for job `job`, given a 15 s build timeout, to fail with `reason` (its build
/// controller's own), saying so, and for the build pods matching `selector` to stop.
pub(crate) async fn ended_past_its_timeout(h: &Harness, job: &str, reason: &str, selector: &str) {
    let done = verdict_within(h, job, BUILD_VERDICT).await;
    assert_eq!(phase(&done), Some(Phase::Failed), "{:#?}", done.status);
    let (_, found, message) = condition(&done, "BuildReady").expect("BuildReady");
    assert_eq!(found, reason, "{message}");
    assert!(message.contains("15s"), "{message}");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let running: Vec<String> = h
            .pods()
            .list(&kube::api::ListParams::default().labels(selector))
            .await
            .expect("pods")
            .items
            .into_iter()
            .filter(|p| {
                p.status
                    .as_ref()
                    .and_then(|s| s.phase.as_deref())
                    .is_some_and(|phase| phase == "Running" || phase == "Pending")
            })
            .filter_map(|p| p.metadata.name)
            .collect();
        if running.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the timed-out build's pods ({running:?}) still run"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Also restarts the operator while the build runs: the new one finds the TaskRun instead of
/// starting a second (one build serves both checks: builds take minutes).
#[tokio::test]
async fn a_taskrun_builds_pushes_with_the_push_secret_and_the_validation_pod_runs_its_digest() {
    let mut h = harness("tekton-real").await;
    h.create_job(&build_job(&h, "built", &served().installs))
        .await;
    let selector = "tekton.dev/taskRun=built-build";
    let runs = task_runs(&h);
    let first = restart_operator_mid_build(&mut h, "built", &runs, selector, "tekton").await;
    let (_, pulled) =
        validated_on_pushed_digest(&h, "built", &format!("{REGISTRY}/builds/built")).await;
    // Tekton ran it, once, restart or not: the TaskRun says so, in its own words.
    let run = ran_once(&runs, &first).await;
    assert_eq!(
        run.data["status"]["results"]
            .as_array()
            .and_then(|r| r.iter().find(|r| r["name"] == "IMAGE_DIGEST"))
            .and_then(|r| r["value"].as_str()),
        pulled.rsplit('@').next(),
        "the digest is the TaskRun's own result"
    );
}

#[tokio::test]
async fn a_failing_step_puts_its_own_lines_in_the_jobs_status() {
    let h = harness("tekton-fail").await;
    h.create_job(&build_job(&h, "broken", &served().missing))
        .await;
    failed_for_the_missing_package(&h, "broken").await;
}

#[tokio::test]
async fn a_job_deleted_mid_build_takes_its_taskrun_and_build_pod_with_it() {
    let h = harness("tekton-delete").await;
    h.create_job(&build_job(&h, "gone", &served().installs))
        .await;
    delete_mid_build(&h, "gone", &task_runs(&h), "tekton.dev/taskRun=gone-build").await;
}

#[tokio::test]
async fn a_build_past_its_timeout_ends_saying_so_and_its_pod_stops() {
    let h = harness("tekton-timeout").await;
    // Pulling the base image and installing take longer than this.
    let yaml = build_job(&h, "slow", &served().installs).replace(
        "      enabled: true\n",
        "      enabled: true\n      timeout: 15s\n",
    );
    h.create_job(&yaml).await;
    // The TaskRun carries the timeout, so Tekton enforces it and says so in its own words.
    ended_past_its_timeout(
        &h,
        "slow",
        "TaskRunTimeout",
        "tekton.dev/taskRun=slow-build",
    )
    .await;
}

/// The Task runs without a git source too: its clone step makes an empty context.
#[tokio::test]
async fn a_taskrun_builds_a_package_list_image_without_a_repository() {
    let h = harness("tekton-packages").await;
    let images = h.node_images();
    let config = serde_json::json!({
        "executor": images.buildah.reference,
        "gitImage": images.operator.reference,
    });
    let name = crate::image_builds::builds_a_package_list_image(&h, "tekton", config).await;
    let run = task_runs(&h)
        .get(&format!("{name}-r1-build"))
        .await
        .expect("the TaskRun");
    let url = run.data["spec"]["params"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == "git-url"))
        .map(|p| p["value"].clone());
    assert_eq!(url, Some(serde_json::json!("")), "no source to clone");
}

/// The seed's flow with a Pipeline of the user's: the sample in `examples/tekton/` (with the
/// node's images for its clone and build steps) runs as a PipelineRun whose tasks share a volume
/// claim the local-path provisioner makes, and pushes with the push secret.
#[tokio::test]
async fn a_pipelinerun_of_the_sample_pipeline_builds_pushes_and_the_validation_pod_runs_its_digest()
{
    let h = harness("tekton-pipeline").await;
    storage(&h).await;
    let images = h.node_images();
    let sample = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/tekton/notebook-build-pipeline.yaml"
    ))
    .expect("the sample Pipeline");
    let on_node = sample
        .replace("docker.io/alpine/git:v2.49.1", &images.operator.reference)
        .replace("quay.io/buildah/stable:v1.40.1", &images.buildah.reference);
    assert_ne!(on_node, sample, "the sample names the images replaced here");
    let pipeline: DynamicObject = serde_yaml_ng::from_str(&on_node).expect("a Pipeline");
    tekton_objects(&h, "Pipeline")
        .create(&Default::default(), &pipeline)
        .await
        .expect("the Pipeline is accepted");
    let config = "        pipelineRef: notebook-build\n        workspaceSize: 256Mi\n";
    h.create_job(&job_with_config(&h, "piped", &served().installs, config))
        .await;
    let (_, pulled) =
        validated_on_pushed_digest(&h, "piped", &format!("{REGISTRY}/builds/piped")).await;
    let run = tekton_objects(&h, "PipelineRun")
        .get("piped-build")
        .await
        .expect("the PipelineRun");
    let succeeded = run.data["status"]["conditions"][0].clone();
    assert_eq!(succeeded["status"], "True", "{succeeded}");
    assert_eq!(
        run.data["status"]["results"]
            .as_array()
            .and_then(|r| r.iter().find(|r| r["name"] == "IMAGE_DIGEST"))
            .and_then(|r| r["value"].as_str()),
        pulled.rsplit('@').next(),
        "the digest is the PipelineRun's own result"
    );
    // Both tasks ran, in pods of their own, on one claim the provisioner gave a volume.
    let pods = pods_labelled(&h, "tekton.dev/pipelineRun=piped-build").await;
    assert_eq!(pods.len(), 2, "{pods:?}");
    let claims: Api<k8s_openapi::api::core::v1::PersistentVolumeClaim> =
        Api::namespaced(h.env.client.clone(), &h.env.namespace);
    let claims = claims.list(&Default::default()).await.expect("claims");
    let bound: Vec<_> = claims
        .items
        .iter()
        .filter(|c| {
            c.spec
                .as_ref()
                .and_then(|s| s.storage_class_name.as_deref())
                == Some("local-path")
        })
        .filter(|c| c.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound"))
        .collect();
    assert_eq!(bound.len(), 1, "{:?}", claims.items);
}

/// `examples/tekton-build.yaml` as written, but for the addresses of its repository and its
/// registry: the default executor and clone images are the node's, under their public names.
#[tokio::test]
async fn the_tekton_example_runs_as_written() {
    let h = harness("tekton-example").await;
    let images = h.node_images();
    assert!(
        images
            .public_names()
            .iter()
            .any(|(_, name)| *name == buildstrategy_tekton::DEFAULT_EXECUTOR)
            && images
                .public_names()
                .iter()
                .any(|(_, name)| *name == buildstrategy_api::pod_build::DEFAULT_GIT_IMAGE),
        "the node gives its images the names the strategy runs by default"
    );
    let server = &served().server;
    let requirements = crate::support::node::requirements_from(server, "nbvdemo==1.0");
    let notebook = crate::support::node::uses_package();
    let repo = server
        .repo(
            "churn",
            &[
                ("churn/model.ipynb", notebook.as_slice()),
                ("churn/requirements.txt", requirements.as_bytes()),
            ],
        )
        .expect("repository");
    let registry = h.env.control_plane().node_registry().expect("registry");
    registry
        .push_tagged(&images.notebook, "notebook-base:3.11")
        .expect("base image pushed");
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/tekton-build.yaml"
    ))
    .expect("the example");
    let on_node = example
        .replace("https://github.com/example/notebooks.git", &repo.url)
        .replace("3f2a9c1d0b7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a", &repo.commit)
        .replace("registry.example.com/team-a/", &format!("{REGISTRY}/nbv/"));
    assert_eq!(
        on_node.lines().count(),
        example.lines().count(),
        "only addresses change"
    );
    h.create_job(&on_node).await;
    let (_, pulled) = validated_on_pushed_digest(
        &h,
        "churn-model-tekton",
        &format!("{REGISTRY}/nbv/churn-model"),
    )
    .await;
    let run = task_runs(&h)
        .get("churn-model-tekton-build")
        .await
        .expect("the TaskRun");
    assert_eq!(
        run.data["status"]["results"]
            .as_array()
            .and_then(|r| r.iter().find(|r| r["name"] == "IMAGE_DIGEST"))
            .and_then(|r| r["value"].as_str()),
        pulled.rsplit('@').next()
    );
}
