//! The S2I strategy's Builds executed for real on the node: the build executor (which stands
//! in for OpenShift's build controller, `nbv_testenv::openshift`) runs each Build the strategy
//! writes as a pod, with Buildah and, for Source builds, s2i from its module; the image goes to
//! the node's registry under the ImageStream's name, and the validation pod runs its digest.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::support::Harness;
use crate::support::node::{
    BUILD_VERDICT, BuildRepos, build_repos, failed_for_the_missing_package, images, job, logs,
    package_repo, validated_on_pushed_digest, wait_image,
};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, PostParams};
use nbv_testenv::node::{REGISTRY, Repo};
use nbv_testenv::openshift::{BuildExecutor, ExecutorConfig, ExecutorImages, pod_name};
use notebook_validator_operator::crd::image::{ImagePhase, NotebookImage};

struct Served {
    /// The server, with a notebook whose `requirements.txt` installs `nbvdemo` and one whose
    /// `requirements.txt` names a package no index has.
    repos: BuildRepos,
    /// The first with its requirements file in a sub-directory, `env/requirements.txt`.
    nested: Repo,
}

fn served() -> &'static Served {
    static SERVED: OnceLock<Served> = OnceLock::new();
    SERVED.get_or_init(|| {
        let repos = build_repos("node-s2i");
        let nested = package_repo(
            &repos.server,
            "nested",
            "env/requirements.txt",
            "nbvdemo==1.0",
        );
        Served { repos, nested }
    })
}

/// The login of the node's registry: the build pushes and pulls with it, and so does the
/// validation pod.
const PUSH_SECRET: &str = "registry-push";

/// A namespace where build pods may run (they need `SYS_ADMIN`, as OpenShift's do), the
/// OpenShift stand-in APIs, the operator under its generated role with S2I, and the build
/// executor for this namespace, which stops with the returned value.
async fn harness(prefix: &str) -> (Harness, BuildExecutor) {
    let mut h = Harness::on_node_with_pod_security(prefix, "privileged").await;
    h.env
        .install_crds(nbv_testenv::crds::OPENSHIFT)
        .await
        .expect("the OpenShift stand-ins install");
    let client = h.least_privilege_client().await;
    let ctx = h.node_context(&["s2i"], Some(client));
    h.start_operator_with(ctx);
    h.registry_secret(PUSH_SECRET).await;
    let images = h.node_images();
    let registry = h.env.control_plane().node_registry().expect("registry");
    let executor = BuildExecutor::start(
        h.env.client.clone(),
        ExecutorConfig {
            images: ExecutorImages {
                builder: images.openshift_builder.reference.clone(),
                git: images.operator.reference.clone(),
            },
            registry: REGISTRY.to_owned(),
            registry_login: Some(registry.credentials().docker_config_json()),
            namespace: Some(h.env.namespace.clone()),
        },
    );
    (h, executor)
}

/// The node's notebook image, pushed to the node's registry as a base builds can pull.
fn base_image(h: &Harness) -> String {
    let registry = h.env.control_plane().node_registry().expect("registry");
    registry
        .push(&h.node_images().notebook)
        .expect("base pushed")
}

/// A job building `repo`'s image with S2I; `build` is more of buildConfig (YAML at 4 spaces).
fn s2i_job(name: &str, repo: &Repo, build: &str) -> String {
    job(
        name,
        repo,
        "uses-package.ipynb",
        &format!(
            "  podConfig:\n    buildConfig:\n      enabled: true\n      strategy: s2i\n      pushSecret: {PUSH_SECRET}\n{build}"
        ),
    )
}

/// The job succeeded on the image its Build pushed to the ImageStream's repository, and the
/// notebook imported what only the build installed; returns the image.
async fn validated_on_the_built_image(h: &Harness, name: &str) -> String {
    let repository = format!("{REGISTRY}/{}/{name}-build", h.env.namespace);
    let (_, pulled) = validated_on_pushed_digest(h, name, &repository).await;
    // The executor recorded the push as OpenShift does: on the Build and the ImageStream tag.
    let build = h
        .dynamic("build.openshift.io", "v1", "Build")
        .get(&format!("{name}-build"))
        .await
        .expect("the Build");
    let digest = pulled.split_once('@').expect("pinned").1;
    assert_eq!(build.data["status"]["phase"], "Complete");
    assert_eq!(build.data["status"]["output"]["to"]["imageDigest"], digest);
    let stream = h
        .dynamic("image.openshift.io", "v1", "ImageStream")
        .get(&format!("{name}-build"))
        .await
        .expect("the ImageStream");
    let tags = stream.data["status"]["tags"].to_string();
    assert!(tags.contains(&format!("{repository}@{digest}")), "{tags}");
    pulled
}

#[tokio::test]
async fn a_docker_build_with_the_generated_dockerfile_is_run_and_validated() {
    let (h, _executor) = harness("s2i-docker").await;
    let base = base_image(&h);
    h.create_job(&s2i_job(
        "docker",
        &served().repos.installs,
        &format!("      baseImage: {base}\n      requirementsFile: requirements.txt\n"),
    ))
    .await;
    validated_on_the_built_image(&h, "docker").await;
    let build_log = logs(&h, &pod_name("docker-build"), "docker-build").await;
    assert!(build_log.contains("nbvdemo"), "{build_log}");
}

#[tokio::test]
async fn a_source_build_installs_a_requirements_file_from_a_sub_directory() {
    let (h, _executor) = harness("s2i-source").await;
    let registry = h.env.control_plane().node_registry().expect("registry");
    let builder = registry
        .push(&h.node_images().s2i_python)
        .expect("builder pushed");
    h.create_job(&s2i_job(
        "source",
        &served().nested,
        &format!(
            "      requirementsFile: env/requirements.txt\n      strategyConfig:\n        builderImage: {builder}\n"
        ),
    ))
    .await;
    validated_on_the_built_image(&h, "source").await;
    // The builder's own assemble script installed it, from the directory s2i was given.
    let build_log = logs(&h, &pod_name("source-build"), "sti-build").await;
    assert!(
        build_log.contains("---> Installing dependencies"),
        "{build_log}"
    );
}

#[tokio::test]
async fn a_failing_build_puts_its_log_lines_in_the_job_status() {
    let (h, _executor) = harness("s2i-failing").await;
    let base = base_image(&h);
    h.create_job(&s2i_job(
        "broken",
        &served().repos.missing,
        &format!("      baseImage: {base}\n      requirementsFile: requirements.txt\n"),
    ))
    .await;
    // pip's words reach the status through the Build's logSnippet.
    let message = failed_for_the_missing_package(&h, "broken").await;
    assert!(message.contains("DockerBuildFailed"), "{message}");
}

#[tokio::test]
async fn a_job_deleted_mid_build_takes_its_running_build_pod_with_it() {
    let (h, _executor) = harness("s2i-deleted").await;
    let base = base_image(&h);
    h.create_job(&s2i_job(
        "deleted",
        &served().repos.installs,
        &format!("      baseImage: {base}\n      requirementsFile: requirements.txt\n"),
    ))
    .await;
    let build_pod = pod_name("deleted-build");
    let deadline = Instant::now() + BUILD_VERDICT;
    loop {
        let phase = h
            .pods()
            .get_opt(&build_pod)
            .await
            .expect("read")
            .and_then(|p| p.status?.phase);
        match phase.as_deref() {
            Some("Running") => break,
            Some(ended @ ("Succeeded" | "Failed")) => {
                panic!("the build pod was {ended} before it could be seen running")
            }
            _ => {}
        }
        assert!(Instant::now() < deadline, "the build pod never ran");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    h.jobs()
        .delete("deleted", &DeleteParams::default())
        .await
        .expect("deleted");
    let pods: Api<Pod> = h.pods();
    let builds = h.dynamic("build.openshift.io", "v1", "Build");
    let deadline = Instant::now() + Duration::from_secs(90);
    while pods.get_opt(&build_pod).await.expect("read").is_some()
        || builds
            .get_opt("deleted-build")
            .await
            .expect("read")
            .is_some()
        || h.jobs().get_opt("deleted").await.expect("read").is_some()
    {
        assert!(
            Instant::now() < deadline,
            "the job, its Build or the build pod is still there"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn a_package_list_image_is_built_through_s2i_without_a_repository() {
    let (h, _executor) = harness("s2i-packages").await;
    let base = base_image(&h);
    let served = served();
    // A direct reference: the node's package index is not the build's default one.
    let package = format!(
        "nbvdemo @ {}wheels/nbvdemo-1.0-py3-none-any.whl",
        served.repos.server.files_url()
    );
    let repo = &served.repos.installs;
    let image: NotebookImage = serde_json::from_value(serde_json::json!({
        "apiVersion": "mlops.redhat.com/v1alpha1",
        "kind": "NotebookImage",
        "metadata": {"name": "packages"},
        "spec": {
            "buildType": "PackageList",
            "buildConfig": {
                "strategy": "s2i",
                "baseImage": base,
                "packages": [package],
                "pushSecret": PUSH_SECRET,
            },
            "validationNotebooks": [{
                "notebook": {"git": {"url": repo.url, "ref": repo.commit},
                             "path": "uses-package.ipynb"}
            }],
        },
    }))
    .expect("a NotebookImage");
    images(&h)
        .create(&PostParams::default(), &image)
        .await
        .expect("accepted");
    let image = wait_image(&h, "packages", "end", BUILD_VERDICT, |i| {
        i.status.as_ref().is_some_and(|s| s.is_terminal())
    })
    .await;
    let status = image.status.expect("status");
    assert_eq!(status.phase, Some(ImagePhase::Succeeded), "{status:#?}");
    let published = status.published.expect("published").image;
    assert!(
        published.starts_with(&format!("{REGISTRY}/{}/", h.env.namespace)),
        "pushed to the ImageStream's repository: {published}"
    );
    // OpenShift's Dockerfile source: no repository, so no clone.
    let build = h
        .dynamic("build.openshift.io", "v1", "Build")
        .list(&Default::default())
        .await
        .expect("Builds")
        .items
        .pop()
        .expect("a Build");
    assert_eq!(build.data["spec"]["source"]["type"], "Dockerfile");
    let pod = h
        .pods()
        .get(&pod_name(&kube::ResourceExt::name_any(&build)))
        .await
        .expect("the build pod");
    assert!(
        pod.spec
            .expect("spec")
            .init_containers
            .unwrap_or_default()
            .is_empty()
    );
}
