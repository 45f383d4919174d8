//! The Shipwright strategy for real: Shipwright Build's own controller (built from its module,
//! `nbv_testenv::shipwright`) runs the Build and BuildRun the strategy creates, as Tekton
//! TaskRuns under this binary's Tekton. Its `buildah-shipwright-managed-push` strategy builds the
//! repository's Dockerfile from the node's git server; Shipwright's own step pushes to the
//! node's registry with the BuildRun's `output.pushSecret`, which the registry asks for (pulls of
//! the base image too), and the validation pod runs the digest the BuildRun reports. A failing
//! build's own lines reach the job's status, and a job deleted mid-build takes its BuildRun and
//! build pod with it.

use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, GroupVersionKind};
use nbv_testenv::node::{REGISTRY, Repo};
use nbv_testenv::{HostController, Lifetime};
use std::sync::OnceLock;
use tokio::sync::OnceCell;

use crate::support::Harness;
use crate::support::node::{
    failed_for_the_missing_package, job, requirements_from, uses_package,
    validated_on_pushed_digest,
};
use crate::tekton::{
    PUSH_SECRET, delete_mid_build, ended_past_its_timeout, host_controller, ran_once,
    restart_operator_mid_build, served, tekton,
};

/// One Shipwright controller for the test binary's control plane, running as long as it does.
async fn shipwright(h: &Harness) -> &'static HostController {
    static SHIPWRIGHT: OnceCell<HostController> = OnceCell::const_new();
    host_controller(
        &SHIPWRIGHT,
        h,
        "Shipwright",
        "shipwright",
        |client, config, images, dir| async move {
            nbv_testenv::shipwright::start(&client, &config, &images, &dir, Lifetime::Owned).await
        },
    )
    .await
}

/// A namespace where the build step may run privileged, as Shipwright's Buildah sample asks;
/// Tekton's and Shipwright's controllers; the operator under its generated role with the
/// Shipwright strategy.
async fn harness(prefix: &str) -> Harness {
    let mut h = Harness::on_node_with_pod_security(prefix, "privileged").await;
    tekton(&h).await;
    shipwright(&h).await;
    let client = h.least_privilege_client().await;
    let ctx = h.node_context(&["shipwright"], Some(client));
    h.start_operator_with(ctx);
    h.registry_secret(PUSH_SECRET).await;
    h
}

/// Repositories with a Dockerfile, which Shipwright's Buildah strategy builds as the repository
/// has it: over the node's notebook image (pushed to the node's registry, so the build pulls it
/// with the push secret), installing the requirements file. `installs` names the package the
/// notebook imports; `missing` one no index has.
struct DockerfileRepos {
    installs: Repo,
    missing: Repo,
}

fn dockerfile_repos(h: &Harness) -> &'static DockerfileRepos {
    static REPOS: OnceLock<DockerfileRepos> = OnceLock::new();
    REPOS.get_or_init(|| {
        let registry = h.env.control_plane().node_registry().expect("registry");
        let base = registry
            .push(&h.node_images().notebook)
            .expect("base image pushed");
        let dockerfile = format!(
            "FROM {base}\nCOPY requirements.txt /tmp/requirements.txt\nRUN python3 -m pip install --no-cache-dir -r /tmp/requirements.txt\n"
        );
        let server = &served().server;
        let notebook = uses_package();
        let repo = |name: &str, requirement: &str| {
            let requirements = requirements_from(server, requirement);
            server
                .repo(
                    name,
                    &[
                        ("Dockerfile", dockerfile.as_bytes()),
                        ("requirements.txt", requirements.as_bytes()),
                        ("uses-package.ipynb", notebook.as_slice()),
                    ],
                )
                .expect("repository")
        };
        DockerfileRepos {
            installs: repo("shipwright-installs", "nbvdemo==1.0"),
            missing: repo("shipwright-missing", "nbv-no-such-package==1.0"),
        }
    })
}

/// A job building `repo` with Shipwright's default strategy, pushed to the node's registry with
/// the login in `pushSecret`.
fn build_job(name: &str, repo: &Repo) -> String {
    job(
        name,
        repo,
        "uses-package.ipynb",
        &format!(
            "  podConfig:\n    buildConfig:\n      enabled: true\n      strategy: shipwright\n      requirementsFile: requirements.txt\n      outputImage: {REGISTRY}/builds/{name}:latest\n      pushSecret: {PUSH_SECRET}\n"
        ),
    )
}

fn build_runs(h: &Harness) -> Api<DynamicObject> {
    let kind = ApiResource::from_gvk(&GroupVersionKind::gvk(
        "shipwright.io",
        "v1beta1",
        "BuildRun",
    ));
    Api::namespaced_with(h.env.client.clone(), &h.env.namespace, &kind)
}

/// Also restarts the operator while the build runs: the new one finds the BuildRun instead of
/// starting a second.
#[tokio::test]
async fn a_buildrun_builds_pushes_with_the_push_secret_and_the_validation_pod_runs_its_digest() {
    let mut h = harness("shipwright-real").await;
    h.create_job(&build_job("built", &dockerfile_repos(&h).installs))
        .await;
    let selector = "buildrun.shipwright.io/name=built-build";
    let runs = build_runs(&h);
    let first = restart_operator_mid_build(&mut h, "built", &runs, selector, "shipwright").await;
    let (_, pulled) =
        validated_on_pushed_digest(&h, "built", &format!("{REGISTRY}/builds/built")).await;
    // Shipwright ran it, once, in its own words, with a service account of its own making.
    let run = ran_once(&runs, &first).await;
    assert_eq!(
        run.data["status"]["output"]["digest"].as_str(),
        pulled.rsplit('@').next()
    );
    assert_eq!(run.data["spec"]["serviceAccount"], ".generate");
}

#[tokio::test]
async fn a_failing_shipwright_build_puts_its_own_lines_in_the_jobs_status() {
    let h = harness("shipwright-fail").await;
    h.create_job(&build_job("broken", &dockerfile_repos(&h).missing))
        .await;
    failed_for_the_missing_package(&h, "broken").await;
}

#[tokio::test]
async fn a_job_deleted_mid_build_takes_its_buildrun_and_build_pod_with_it() {
    let h = harness("shipwright-delete").await;
    h.create_job(&build_job("gone", &dockerfile_repos(&h).installs))
        .await;
    let selector = "buildrun.shipwright.io/name=gone-build";
    delete_mid_build(&h, "gone", &build_runs(&h), selector).await;
}

#[tokio::test]
async fn a_shipwright_build_past_its_timeout_ends_saying_so_and_its_pod_stops() {
    let h = harness("shipwright-timeout").await;
    // Pulling the base image and installing take longer than this.
    let yaml = build_job("slow", &dockerfile_repos(&h).installs).replace(
        "      enabled: true\n",
        "      enabled: true\n      timeout: 15s\n",
    );
    h.create_job(&yaml).await;
    // The BuildRun carries the timeout, so Shipwright enforces it and says so in its own words.
    let selector = "buildrun.shipwright.io/name=slow-build";
    ended_past_its_timeout(&h, "slow", "BuildRunTimeout", selector).await;
}
