//! Pod builds for real, for every pod builder the node has (Buildah from Debian's package, the
//! Kaniko executor and BuildKit built from their modules): the strategy builds the notebook's
//! image on the node from the git repository and its requirements, pushes it to the node's
//! registry, and the validation pod runs the digest-pinned result; a second build finds its
//! layers in the builder's cache repository; a requirement that does not exist fails the build
//! with pip's own words in the job's status.

#![cfg(any(feature = "buildah", feature = "kaniko", feature = "buildkit"))]

use std::sync::OnceLock;

use crate::support::node::{
    BUILD_VERDICT, BuildRepos, build_repos, failed_for_the_missing_package, job, logs, notebook,
    phase, validated_on_pushed_digest, verdict_within,
};
use crate::support::{Harness, condition};
use nbv_testenv::NodeImages;
use nbv_testenv::node::{REGISTRY, Repo};
use notebook_validator_operator::crd::Phase;

struct Served {
    /// The server, with a notebook whose requirements file installs `nbvdemo` and one whose
    /// requirements file names a package no index has.
    repos: BuildRepos,
    /// A notebook without a requirements file: its `%pip` line and import are the requirements.
    imports: Repo,
}

fn served() -> &'static Served {
    static SERVED: OnceLock<Served> = OnceLock::new();
    SERVED.get_or_init(|| {
        let repos = build_repos("node-builds");
        let pip_line = format!(
            "%pip install --no-index --find-links {}wheels/ nbvdemo==1.0\nimport nbvdemo\nprint(nbvdemo.VALUE)",
            repos.server.files_url()
        );
        let imports = repos
            .server
            .repo(
                "imports",
                &[("uses-package.ipynb", notebook(&[pip_line.as_str()]).as_slice())],
            )
            .expect("repository");
        Served { repos, imports }
    })
}

/// A pod builder on the node: its strategy, its image there, and the Pod Security level its
/// build pod needs.
struct Builder {
    strategy: &'static str,
    executor: fn(&NodeImages) -> String,
    pod_security: &'static str,
    /// The `strategyConfig` lines that cache layers in the repository `{repo}`.
    cache: &'static str,
    /// What the builder's log says of a step it found in the cache.
    cache_hit: &'static str,
}

#[cfg(feature = "buildah")]
const BUILDAH: Builder = Builder {
    strategy: "buildah",
    executor: |images| images.buildah.reference.clone(),
    pod_security: "privileged",
    cache: "cacheRepo: {repo}",
    cache_hit: "Using cache",
};

#[cfg(feature = "kaniko")]
const KANIKO: Builder = Builder {
    strategy: "kaniko",
    executor: |images| images.kaniko.reference.clone(),
    pod_security: "baseline",
    cache: "cache: true\n        cacheRepo: {repo}",
    cache_hit: "Using caching version of cmd",
};

#[cfg(feature = "buildkit")]
const BUILDKIT: Builder = Builder {
    strategy: "buildkit",
    executor: |images| images.buildkit.reference.clone(),
    pod_security: "privileged",
    cache: "cacheRepo: {repo}",
    cache_hit: "CACHED",
};

/// A harness in a namespace of the Pod Security level the builder needs, the operator under its
/// generated role with the builder's strategy switched on.
async fn harness(builder: &Builder, prefix: &str) -> Harness {
    let mut h = Harness::on_node_with_pod_security(prefix, builder.pod_security).await;
    let client = h.least_privilege_client().await;
    let ctx = h.node_context(&[builder.strategy], Some(client));
    h.start_operator_with(ctx);
    h.registry_secret(PUSH_SECRET).await;
    h
}

/// The Secret with the login of the node's registry, which refuses anonymous pushes and pulls:
/// the build pushes with it and the validation pod pulls with it.
const PUSH_SECRET: &str = "registry-push";

/// A job building `repo`'s image with `builder` on the node's notebook image, pushed to the
/// node's registry.
fn build_job(h: &Harness, builder: &Builder, name: &str, repo: &Repo) -> String {
    build_job_with(h, builder, name, repo, "requirementsFile: requirements.txt")
}

/// A job building `repo`'s image with `builder`, its requirements given by `requirements` (a
/// line of buildConfig).
fn build_job_with(
    h: &Harness,
    builder: &Builder,
    name: &str,
    repo: &Repo,
    requirements: &str,
) -> String {
    let images = h.node_images();
    let registry = h
        .env
        .control_plane()
        .node_registry()
        .expect("the node has a registry");
    let base = registry.push(&images.notebook).expect("base image pushed");
    job(
        name,
        repo,
        "uses-package.ipynb",
        &format!(
            "  podConfig:\n    buildConfig:\n      enabled: true\n      strategy: {strategy}\n      baseImage: {base}\n      {requirements}\n      outputImage: {REGISTRY}/builds/{name}:latest\n      pushSecret: {PUSH_SECRET}\n      strategyConfig:\n        executor: {executor}\n        gitImage: {git}\n",
            strategy = builder.strategy,
            executor = (builder.executor)(&images),
            git = images.operator.reference,
        ),
    )
}

#[cfg(feature = "buildah")]
#[tokio::test]
async fn buildah_builds_pushes_and_the_validation_pod_runs_the_digest_pinned_image() {
    builds_pushes_and_the_validation_pod_runs_the_digest_pinned_image(&BUILDAH, "buildah-real")
        .await;
}

#[cfg(feature = "kaniko")]
#[tokio::test]
async fn kaniko_builds_pushes_and_the_validation_pod_runs_the_digest_pinned_image() {
    builds_pushes_and_the_validation_pod_runs_the_digest_pinned_image(&KANIKO, "kaniko-real").await;
}

#[cfg(feature = "buildkit")]
#[tokio::test]
async fn buildkit_builds_pushes_and_the_validation_pod_runs_the_digest_pinned_image() {
    builds_pushes_and_the_validation_pod_runs_the_digest_pinned_image(&BUILDKIT, "buildkit-real")
        .await;
}

async fn builds_pushes_and_the_validation_pod_runs_the_digest_pinned_image(
    builder: &Builder,
    prefix: &str,
) {
    let h = harness(builder, prefix).await;
    h.create_job(&cached_build_job(&h, builder, "built")).await;
    let (job, _) =
        validated_on_pushed_digest(&h, "built", &format!("{REGISTRY}/builds/built")).await;
    let status = job.status.clone().expect("status");
    let pod = status.validation_pod_name.clone().expect("pod");
    let build_log = logs(&h, "built-build", "build").await;
    assert!(build_log.contains("nbvdemo"), "{build_log}");
    // The cache repository starts empty: nothing of this build comes from it.
    assert!(!build_log.contains(builder.cache_hit), "{build_log}");
    // The registry asked for the login at every push and pull; it went as files, never as
    // arguments, environment, log lines, events or status.
    let password = h
        .env
        .control_plane()
        .node_registry()
        .expect("registry")
        .credentials()
        .password
        .clone();
    let mut seen = vec![
        ("the build log", build_log),
        ("the validation log", logs(&h, &pod, "validate").await),
        (
            "the job's status",
            serde_json::to_string(&status).expect("json"),
        ),
        ("the events", format!("{:?}", h.events().await)),
    ];
    for name in ["built-build", pod.as_str()] {
        let spec = h.pods().get(name).await.expect("pod").spec.expect("spec");
        seen.push(("a pod's spec", serde_json::to_string(&spec).expect("json")));
    }
    for (place, text) in seen {
        assert!(
            !text.contains(&password),
            "the registry password is in {place}"
        );
    }
    // The first build filled the cache repository; a second build of the same inputs finds
    // its steps there.
    h.create_job(&cached_build_job(&h, builder, "rebuilt"))
        .await;
    let job = verdict_within(&h, "rebuilt", BUILD_VERDICT).await;
    assert_eq!(phase(&job), Some(Phase::Succeeded), "{:#?}", job.status);
    let rebuild_log = logs(&h, "rebuilt-build", "build").await;
    assert!(rebuild_log.contains(builder.cache_hit), "{rebuild_log}");
}

/// A job building the repository that installs `nbvdemo` with `builder`, its layers cached in
/// the builder's cache repository, and never reusing an earlier build's image, so that each
/// such job builds.
fn cached_build_job(h: &Harness, builder: &Builder, name: &str) -> String {
    build_job(h, builder, name, &served().repos.installs).replace(
        &format!("pushSecret: {PUSH_SECRET}\n"),
        &format!("pushSecret: {PUSH_SECRET}\n      reuse: Never\n"),
    ) + &format!("        {}\n", builder.cache)
        // A repository of this test's own, so that the first build finds it empty.
        .replace("{repo}", &format!("{REGISTRY}/cache/{}", h.env.namespace))
}

#[cfg(feature = "buildah")]
#[tokio::test]
async fn buildah_with_a_login_the_registry_refuses_fails_saying_so() {
    a_login_the_registry_refuses_fails_the_job_saying_so(&BUILDAH, "buildah-login").await;
}

#[cfg(feature = "kaniko")]
#[tokio::test]
async fn kaniko_with_a_login_the_registry_refuses_fails_saying_so() {
    a_login_the_registry_refuses_fails_the_job_saying_so(&KANIKO, "kaniko-login").await;
}

#[cfg(feature = "buildkit")]
#[tokio::test]
async fn buildkit_with_a_login_the_registry_refuses_fails_saying_so() {
    a_login_the_registry_refuses_fails_the_job_saying_so(&BUILDKIT, "buildkit-login").await;
}

/// A push secret with another password: the builder's own refusal ends the job with a reason
/// that names the secret, not a `BuildFailed` to decipher.
async fn a_login_the_registry_refuses_fails_the_job_saying_so(builder: &Builder, prefix: &str) {
    let h = harness(builder, prefix).await;
    let mut wrong = h
        .env
        .control_plane()
        .node_registry()
        .expect("registry")
        .credentials()
        .clone();
    wrong.password = "not-the-password".into();
    let secret: k8s_openapi::api::core::v1::Secret = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "stale-login"},
        "type": "kubernetes.io/dockerconfigjson",
        "stringData": {".dockerconfigjson": wrong.docker_config_json()},
    }))
    .expect("secret");
    kube::Api::<k8s_openapi::api::core::v1::Secret>::namespaced(
        h.env.client.clone(),
        &h.env.namespace,
    )
    .create(&kube::api::PostParams::default(), &secret)
    .await
    .expect("created");
    let yaml = build_job(&h, builder, "refused", &served().repos.installs).replace(
        &format!("pushSecret: {PUSH_SECRET}"),
        "pushSecret: stale-login",
    );
    h.create_job(&yaml).await;
    let job = verdict_within(&h, "refused", BUILD_VERDICT).await;
    assert_eq!(phase(&job), Some(Phase::Failed), "{:#?}", job.status);
    let (_, reason, message) = condition(&job, "Ready").expect("Ready");
    assert_eq!(reason, "RegistryLoginRefused", "{message}");
    assert!(message.contains("\"stale-login\""), "{message}");
}

#[cfg(feature = "kaniko")]
#[tokio::test]
async fn a_push_secret_that_does_not_exist_fails_the_build_saying_so() {
    let h = harness(&KANIKO, "kaniko-nosecret").await;
    let yaml = build_job(&h, &KANIKO, "nosecret", &served().repos.installs).replace(
        &format!("pushSecret: {PUSH_SECRET}"),
        "pushSecret: no-such-login",
    );
    h.create_job(&yaml).await;
    let job = verdict_within(&h, "nosecret", std::time::Duration::from_secs(120)).await;
    assert_eq!(phase(&job), Some(Phase::Failed), "{:#?}", job.status);
    let (_, reason, message) = condition(&job, "Ready").expect("Ready");
    assert_eq!(reason, "PushSecretNotFound", "{message}");
    assert!(
        message.contains("\"no-such-login\" does not exist"),
        "{message}"
    );
    // The build pod that could never start is gone.
    let left = h.pods().get_opt("nosecret-build").await.expect("read");
    assert!(
        left.is_none_or(|p| p.metadata.deletion_timestamp.is_some()),
        "the build pod is stopped"
    );
}

#[cfg(feature = "buildah")]
#[tokio::test]
async fn buildah_fails_on_a_requirement_no_index_has_with_its_log_in_status() {
    a_requirement_no_index_has_fails_the_build_with_the_builders_log_in_status(
        &BUILDAH,
        "buildah-fail",
    )
    .await;
}

#[cfg(feature = "kaniko")]
#[tokio::test]
async fn kaniko_fails_on_a_requirement_no_index_has_with_its_log_in_status() {
    a_requirement_no_index_has_fails_the_build_with_the_builders_log_in_status(
        &KANIKO,
        "kaniko-fail",
    )
    .await;
}

#[cfg(feature = "buildkit")]
#[tokio::test]
async fn buildkit_fails_on_a_requirement_no_index_has_with_its_log_in_status() {
    a_requirement_no_index_has_fails_the_build_with_the_builders_log_in_status(
        &BUILDKIT,
        "buildkit-fail",
    )
    .await;
}

async fn a_requirement_no_index_has_fails_the_build_with_the_builders_log_in_status(
    builder: &Builder,
    prefix: &str,
) {
    let h = harness(builder, prefix).await;
    h.create_job(&build_job(&h, builder, "broken", &served().repos.missing))
        .await;
    let message = failed_for_the_missing_package(&h, "broken").await;
    assert!(message.contains("last log lines"), "{message}");
}

#[cfg(feature = "buildah")]
#[tokio::test]
async fn a_notebook_without_a_requirements_file_builds_from_its_imports() {
    let h = harness(&BUILDAH, "buildah-imports").await;
    h.create_job(&build_job_with(
        &h,
        &BUILDAH,
        "imports",
        &served().imports,
        "fallbackStrategy: auto",
    ))
    .await;
    let job = verdict_within(&h, "imports", BUILD_VERDICT).await;
    let status = job.status.clone().expect("status");
    assert_eq!(phase(&job), Some(Phase::Succeeded), "{status:#?}");
    assert_eq!(
        status.results[0].status,
        nbv_report::CellStatus::Passed,
        "{status:#?}"
    );
    // The generated list is in the build's log.
    let build_log = logs(&h, "imports-build", "build").await;
    assert!(build_log.contains("nbvdemo==1.0"), "{build_log}");
    // And in status, read by the runner from the built image; the %pip line settled nbvdemo.
    let generated = status
        .generated_requirements
        .expect("generated requirements in status");
    assert_eq!(
        generated.requirements,
        [
            "--no-index".to_owned(),
            format!("--find-links {}wheels/", served().repos.server.files_url()),
            "nbvdemo==1.0".to_owned()
        ],
        "{build_log}"
    );
    assert!(generated.by_import_name.is_empty(), "{generated:?}");
}
