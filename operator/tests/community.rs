//! Each community strategy end to end on the real control plane: the test plays the backend's
//! controller (Tekton, Shipwright) or the kubelet running the build pod, and the job must reach
//! Succeeded with the built image's digest in the validation pod. Buildah's builds run for real
//! on the node instead (`node_builders/builds.rs`).

#![cfg(feature = "community")]

mod support;

use notebook_validator_operator::crd::Phase;
use serde_json::json;
use support::{Harness, condition, job_yaml};

const IMAGE: &str = "registry.example.com/team-a/nb";

fn build_job(name: &str, strategy: &str, extra: &str) -> String {
    job_yaml(
        name,
        &format!(
            "  podConfig:\n    buildConfig:\n      enabled: true\n      strategy: {strategy}\n      requirementsFile: requirements.txt\n      outputImage: {IMAGE}:{name}\n      pushSecret: registry-push\n{extra}"
        ),
    )
}

fn digest(byte: &str) -> String {
    format!("sha256:{}", byte.repeat(32))
}

/// Finishes the validation pod as the runner would and checks the job succeeded with `image`.
async fn validate_with(h: &Harness, job: &str, image: &str) {
    let pod = h.wait_object(&h.pods(), &format!("{job}-validation")).await;
    assert_eq!(
        pod.spec.as_ref().expect("spec").containers[0]
            .image
            .as_deref(),
        Some(image)
    );
    h.pass_pod(&format!("{job}-validation")).await;
    let done = h.wait_phase(job, Phase::Succeeded).await;
    let built = done
        .status
        .as_ref()
        .and_then(|s| s.build_status.as_ref())
        .and_then(|b| b.image_reference.clone());
    assert_eq!(built.as_deref(), Some(image));
}

async fn pod_builder_succeeds(strategy: &str, level: &str) {
    let mut h = Harness::with_pod_security(strategy, level).await;
    h.start_operator(&[strategy], None);
    let job = format!("{strategy}-ok");
    h.create_job(&build_job(&job, strategy, "")).await;
    let build_pod = format!("{job}-build");
    h.wait_object(&h.pods(), &build_pod).await;
    h.wait_phase(&job, Phase::Building).await;
    let pushed = digest("ab");
    h.wait_object(&h.pods(), &build_pod).await;
    // Plays the kubelet: the builder pushed and wrote its digest as its termination message.
    h.finish_pod(&build_pod, "Succeeded", 0, &pushed).await;
    validate_with(&h, &job, &format!("{IMAGE}@{pushed}")).await;
}

#[tokio::test]
async fn kaniko_builds_in_a_baseline_namespace_and_reports_its_digest() {
    pod_builder_succeeds("kaniko", "baseline").await;
}

#[tokio::test]
async fn buildkit_builds_in_a_privileged_namespace_and_reports_its_digest() {
    pod_builder_succeeds("buildkit", "privileged").await;
}

#[tokio::test]
async fn buildkit_is_refused_by_a_baseline_namespace_with_a_clear_reason() {
    let mut h = Harness::with_pod_security("buildkit-baseline", "baseline").await;
    h.start_operator(&["buildkit"], None);
    h.create_job(&build_job("refused", "buildkit", "")).await;
    let job = h.wait_phase("refused", Phase::Failed).await;
    let (_, reason, message) = condition(&job, "Ready").expect("Ready");
    assert!(
        message.contains("violates PodSecurity"),
        "{reason}: {message}"
    );
}

#[tokio::test]
async fn tekton_runs_its_task_and_takes_the_digest_from_the_results() {
    let mut h = Harness::new("tekton").await;
    h.start_operator(&["tekton"], None);
    h.create_job(&build_job("tkn", "tekton", "")).await;
    h.wait_object(&h.dynamic("tekton.dev", "v1", "Task"), "nbv-buildah")
        .await;
    let runs = h.dynamic("tekton.dev", "v1", "TaskRun");
    let run = h.wait_object(&runs, "tkn-build").await;
    assert_eq!(run.data["spec"]["taskRef"]["name"], "nbv-buildah");
    h.wait_phase("tkn", Phase::Building).await;
    let pushed = digest("cd");
    h.patch_status(&runs, "tkn-build", json!({
        "conditions": [{ "type": "Succeeded", "status": "True", "reason": "Succeeded", "message": "All Steps have completed executing" }],
        "results": [{ "name": "IMAGE_DIGEST", "type": "string", "value": pushed }, { "name": "IMAGE_URL", "type": "string", "value": format!("{IMAGE}:tkn") }]
    })).await;
    validate_with(&h, "tkn", &format!("{IMAGE}@{pushed}")).await;
}

#[tokio::test]
async fn tekton_failures_carry_the_condition_reason() {
    let mut h = Harness::new("tekton-fail").await;
    h.start_operator(&["tekton"], None);
    h.create_job(&build_job("tkn-bad", "tekton", "")).await;
    let runs = h.dynamic("tekton.dev", "v1", "TaskRun");
    h.wait_object(&runs, "tkn-bad-build").await;
    h.patch_status(&runs, "tkn-bad-build", json!({
        "conditions": [{ "type": "Succeeded", "status": "False", "reason": "TaskRunImagePullFailed", "message": "the step \"build\" failed to pull the image" }]
    })).await;
    let job = h.wait_phase("tkn-bad", Phase::Failed).await;
    assert_eq!(
        condition(&job, "BuildReady").map(|c| c.1),
        Some("TaskRunImagePullFailed".into())
    );
}

#[tokio::test]
async fn shipwright_runs_a_buildrun_and_takes_the_digest_from_its_output() {
    let mut h = Harness::new("shipwright").await;
    h.start_operator(&["shipwright"], None);
    h.create_job(&build_job(
        "shp",
        "shipwright",
        "      strategyConfig:\n        buildStrategyRef: buildah\n",
    ))
    .await;
    let runs = h.dynamic("shipwright.io", "v1beta1", "BuildRun");
    h.wait_object(&runs, "shp-build").await;
    h.wait_phase("shp", Phase::Building).await;
    let pushed = digest("ef");
    h.patch_status(&runs, "shp-build", json!({
        "conditions": [{ "type": "Succeeded", "status": "True", "reason": "Succeeded", "message": "All Steps have completed executing" }],
        "output": { "digest": pushed, "size": 1024 }
    })).await;
    validate_with(&h, "shp", &format!("{IMAGE}@{pushed}")).await;
}

#[tokio::test]
async fn every_strategy_implements_every_operation_on_a_real_api_server() {
    use buildstrategy_api::{Registry, StrategyError, testkit};
    let h = Harness::with_pod_security("operations", "privileged").await;
    let registry = Registry::from_linked().expect("registry");
    assert_eq!(
        registry.len(),
        6,
        "the community build links all six strategies"
    );
    let not_yet = |e: &StrategyError| matches!(e, StrategyError::NotSupportedYet { .. });
    for strategy in registry.iter() {
        let name = strategy.info().name;
        let mut request = testkit::sample_request();
        request.namespace = h.env.namespace.clone();
        request.owner = None;
        request.service_account = None;
        request.build_name = format!("{name}-ops");
        strategy
            .ensure_prerequisites(&h.env.client, &request)
            .await
            .unwrap_or_else(|e| panic!("{name}: setup: {e}"));
        strategy
            .create_build(&h.env.client, &request)
            .await
            .unwrap_or_else(|e| panic!("{name}: create: {e}"));
        let status = strategy
            .build_status(&h.env.client, &request)
            .await
            .unwrap_or_else(|e| panic!("{name}: status: {e}"));
        assert!(
            !status.phase.is_terminal(),
            "{name}: a build nobody ran cannot have ended"
        );
        let image = strategy.built_image(&h.env.client, &request).await;
        assert!(
            image.as_ref().is_err_and(|e| !not_yet(e)),
            "{name}: image before the build ended: {image:?}"
        );
        if let Err(e) = strategy
            .logs(&h.env.client, &request, buildstrategy_api::LogTail::DEFAULT)
            .await
        {
            // Without a kubelet there may be no logs to read; the operation itself must exist.
            assert!(!not_yet(&e), "{name}: logs: {e}");
        }
        strategy
            .cancel_build(&h.env.client, &request)
            .await
            .unwrap_or_else(|e| panic!("{name}: cancel: {e}"));
        strategy
            .delete_build(&h.env.client, &request)
            .await
            .unwrap_or_else(|e| panic!("{name}: delete: {e}"));
        for object in strategy.render(&request).expect("renders").objects() {
            let live = buildstrategy_api::resources::get(&h.env.client, object)
                .await
                .expect("readable");
            assert!(
                live.is_none_or(|o| o.metadata.deletion_timestamp.is_some()),
                "{name}: {} {} left behind",
                object.api.kind,
                object.name()
            );
        }
    }
}
