//! The reconciler end to end on a real control plane. The tests play the kubelet and the
//! OpenShift build controller by writing the status they would write.

mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::ResourceQuota;
use kube::ResourceExt;
use kube::api::{DeleteParams, ListParams, PostParams};
use nbv_report::Outcome;
use notebook_validator_operator::crd::Phase;
use serde_json::json;
use support::{Harness, condition, job_yaml, summary};

const S2I_BUILD: &str = "  podConfig:\n    buildConfig:\n      enabled: true\n      strategy: s2i\n      requirementsFile: requirements.txt\n";

#[tokio::test]
async fn an_s2i_build_feeds_its_digest_pinned_image_to_the_validation_pod() {
    let mut h = Harness::new("s2i").await;
    h.start_operator(&[], None);
    h.create_job(&job_yaml("churn", S2I_BUILD)).await;
    let builds = h.dynamic("build.openshift.io", "v1", "Build");
    let build = h.wait_object(&builds, "churn-build").await;
    assert_eq!(build.owner_references()[0].name, "churn");
    h.wait_object(
        &h.dynamic("build.openshift.io", "v1", "BuildConfig"),
        "churn-build",
    )
    .await;
    h.wait_object(
        &h.dynamic("image.openshift.io", "v1", "ImageStream"),
        "churn-build",
    )
    .await;
    let job = h.wait_phase("churn", Phase::Building).await;
    assert!(
        condition(&job, "BuildReady")
            .is_some_and(|c| c.0 == "Unknown" && c.2.contains("'s2i' was requested")),
        "{:?}",
        condition(&job, "BuildReady")
    );
    assert!(job.finalizers().iter().any(|f| f.contains("cleanup")));

    let digest = format!("sha256:{}", "ab".repeat(32));
    h.patch_build(
        "churn-build",
        json!({ "phase": "Running", "startTimestamp": jiff_now() }),
    )
    .await;
    h.patch_build("churn-build", json!({
        "phase": "Complete", "completionTimestamp": jiff_now(),
        "outputDockerImageReference": "image-registry.openshift-image-registry.svc:5000/ns/churn-build:latest",
        "output": { "to": { "imageDigest": digest } }
    })).await;
    let pod = h.wait_object(&h.pods(), "churn-validation").await;
    let image = pod.spec.as_ref().expect("spec").containers[0]
        .image
        .clone()
        .expect("image");
    assert_eq!(
        image,
        format!("image-registry.openshift-image-registry.svc:5000/ns/churn-build@{digest}")
    );
    let job = h.wait_phase("churn", Phase::ValidationRunning).await;
    assert_eq!(
        job.status
            .as_ref()
            .and_then(|s| s.build_status.as_ref())
            .and_then(|b| b.image_reference.clone()),
        Some(image)
    );
    h.pass_pod("churn-validation").await;
    let job = h.wait_phase("churn", Phase::Succeeded).await;
    // The README's status example is this status, its times fixed so that it stays fresh.
    let yaml = serde_yaml_ng::to_string(&job.status).expect("yaml");
    let times = regex::Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").expect("regex");
    let yaml = times.replace_all(&yaml, "2026-11-21T13:30:55Z");
    support::docs::check_generated_section(
        "README.md",
        "status-example",
        "operator/tests/reconcile.rs",
        &format!("```yaml\n{yaml}```\n"),
    );
}

#[tokio::test]
async fn a_failed_build_carries_the_backend_reason_and_its_log_lines() {
    let mut h = Harness::new("build-fails").await;
    h.start_operator(&[], None);
    h.create_job(&job_yaml("broken", S2I_BUILD)).await;
    let builds = h.dynamic("build.openshift.io", "v1", "Build");
    h.wait_object(&builds, "broken-build").await;
    h.patch_build("broken-build", json!({
        "phase": "Failed", "reason": "FetchSourceFailed", "message": "Failed to fetch the input source.",
        "logSnippet": "Cloning \"https://github.com/example/notebooks.git\" ...\nerror: couldn't find remote ref refs/heads/nope"
    })).await;
    let job = h.wait_phase("broken", Phase::Failed).await;
    let (_, reason, message) = condition(&job, "Ready").expect("Ready");
    assert_eq!(reason, "BuildFailed");
    assert!(
        message.contains("FetchSourceFailed") && message.contains("couldn't find remote ref"),
        "{message}"
    );
    assert_eq!(
        condition(&job, "BuildReady").map(|c| c.1),
        Some("FetchSourceFailed".into())
    );
    let tail = job
        .status
        .as_ref()
        .and_then(|s| s.build_status.as_ref())
        .and_then(|b| b.logs_tail.clone())
        .expect("logs tail");
    assert!(tail.contains("couldn't find remote ref"));
    assert!(
        h.pods()
            .list(&ListParams::default())
            .await
            .expect("pods")
            .items
            .is_empty(),
        "no validation after a failed build"
    );
    let events = h.events().await;
    assert!(
        events
            .iter()
            .any(|(reason, note)| reason == "BuildFailed"
                && note.contains("couldn't find remote ref")),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_build_past_its_timeout_is_cancelled_and_fails_the_job() {
    let mut h = Harness::new("build-timeout").await;
    h.start_operator(&[], None);
    h.create_job(&job_yaml(
        "slow",
        &format!("{S2I_BUILD}      timeout: 3s\n"),
    ))
    .await;
    let builds = h.dynamic("build.openshift.io", "v1", "Build");
    h.wait_object(&builds, "slow-build").await;
    h.patch_build(
        "slow-build",
        json!({ "phase": "Running", "startTimestamp": jiff_now() }),
    )
    .await;
    let job = h.wait_phase("slow", Phase::Failed).await;
    let (_, reason, message) = condition(&job, "Ready").expect("Ready");
    assert_eq!(reason, "BuildTimeout", "{message}");
    assert!(message.contains("buildConfig.timeout (3s)"), "{message}");
    let build = builds
        .get("slow-build")
        .await
        .expect("build kept for inspection");
    assert_eq!(
        build.data["status"]["cancelled"],
        json!(true),
        "the build must be cancelled"
    );
}

#[tokio::test]
async fn a_job_past_its_timeout_fails_and_its_pod_is_bounded() {
    let mut h = Harness::new("job-timeout").await;
    h.start_operator(&[], None);
    h.create_job(
        &job_yaml(
            "hangs",
            "  podConfig:\n    containerImage: quay.io/jupyter/minimal-notebook:latest\n",
        )
        .replace("timeout: 10m", "timeout: 3s"),
    )
    .await;
    let pod = h.wait_object(&h.pods(), "hangs-validation").await;
    let deadline = pod
        .spec
        .as_ref()
        .and_then(|s| s.active_deadline_seconds)
        .expect("activeDeadlineSeconds");
    assert!((1..=3).contains(&deadline), "{deadline}");
    let job = h.wait_phase("hangs", Phase::Failed).await;
    let (_, reason, message) = condition(&job, "Ready").expect("Ready");
    assert_eq!(reason, "JobTimeout");
    // No kubelet ran the pod: the message says so, and where to look.
    assert!(
        message.contains("hangs-validation never started")
            && message.contains("kubectl describe pod hangs-validation"),
        "{message}"
    );
}

#[tokio::test]
async fn a_job_deleted_mid_run_leaves_nothing_in_the_operator_memory() {
    let mut h = Harness::new("forget").await;
    let ctx = h.context(&[], None);
    let memo = ctx.written.clone();
    h.start_operator_with(ctx);
    h.create_job(&job_yaml(
        "forgotten",
        "  podConfig:\n    containerImage: quay.io/jupyter/scipy-notebook:2025-06-30\n",
    ))
    .await;
    h.wait_phase("forgotten", Phase::ValidationRunning).await;
    // The status is remembered once its write returns, just after the phase shows.
    for _ in 0..50 {
        if memo.len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(memo.len(), 1, "the job in progress is remembered");
    // No finalizer: the job is gone at once, and no reconcile runs for it.
    h.jobs()
        .delete("forgotten", &DeleteParams::default())
        .await
        .expect("delete");
    for _ in 0..100 {
        if memo.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the deleted job's status is still remembered");
}

#[tokio::test]
async fn deleting_a_job_mid_build_leaves_nothing_behind() {
    let mut h = Harness::new("delete-mid-build").await;
    h.start_operator(&[], None);
    h.create_job(&job_yaml("gone", S2I_BUILD)).await;
    let builds = h.dynamic("build.openshift.io", "v1", "Build");
    h.wait_object(&builds, "gone-build").await;
    h.wait_phase("gone", Phase::Building).await;
    h.jobs()
        .delete("gone", &DeleteParams::default())
        .await
        .expect("delete");
    for _ in 0..300 {
        let job_gone = h.jobs().get_opt("gone").await.expect("read").is_none();
        let build_gone = builds.get_opt("gone-build").await.expect("read").is_none();
        let config_gone = h
            .dynamic("build.openshift.io", "v1", "BuildConfig")
            .get_opt("gone-build")
            .await
            .expect("read")
            .is_none();
        let stream_gone = h
            .dynamic("image.openshift.io", "v1", "ImageStream")
            .get_opt("gone-build")
            .await
            .expect("read")
            .is_none();
        if job_gone && build_gone && config_gone && stream_gone {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the job or its build objects are still there");
}

#[tokio::test]
async fn an_operator_restarted_mid_build_carries_on_without_a_second_build_or_pod() {
    let mut h = Harness::new("restart").await;
    h.start_operator(&[], None);
    h.create_job(&job_yaml("resume", S2I_BUILD)).await;
    let builds = h.dynamic("build.openshift.io", "v1", "Build");
    let first = h.wait_object(&builds, "resume-build").await;
    h.wait_phase("resume", Phase::Building).await;
    h.stop_operator();
    h.patch_build("resume-build", json!({
        "phase": "Complete", "outputDockerImageReference": "registry.local/ns/resume-build:latest",
        "output": { "to": { "imageDigest": format!("sha256:{}", "cd".repeat(32)) } }
    })).await;
    h.start_operator(&[], None);
    h.wait_object(&h.pods(), "resume-validation").await;
    h.stop_operator();
    h.start_operator(&[], None);
    h.pass_pod("resume-validation").await;
    h.wait_phase("resume", Phase::Succeeded).await;
    let all_builds = builds
        .list(&ListParams::default())
        .await
        .expect("builds")
        .items;
    assert_eq!(all_builds.len(), 1, "exactly one build");
    assert_eq!(all_builds[0].uid(), first.uid(), "the same build");
    assert_eq!(
        h.pods()
            .list(&ListParams::default())
            .await
            .expect("pods")
            .items
            .len(),
        1,
        "exactly one pod"
    );
}

#[tokio::test]
async fn every_strategy_selection_error_has_its_own_reason() {
    let mut h = Harness::new("selection").await;
    h.start_operator(&[], None);
    let build = |strategy: &str, extra: &str| {
        format!(
            "  podConfig:\n    buildConfig:\n      enabled: true\n      strategy: {strategy}\n      outputImage: registry.local/x:latest\n{extra}"
        )
    };
    let not_compiled = if cfg!(feature = "kaniko") {
        "no-such-strategy"
    } else {
        "kaniko"
    };
    h.create_job(&job_yaml("not-compiled", &build(not_compiled, "")))
        .await;
    h.create_job(&job_yaml(
        "bad-config",
        &build(
            "s2i",
            "      strategyConfig:\n        builderImage: \"has spaces\"\n",
        ),
    ))
    .await;
    let job = h.wait_phase("not-compiled", Phase::Failed).await;
    let (_, reason, message) = condition(&job, "Ready").expect("Ready");
    assert_eq!(reason, "StrategyNotCompiled", "{message}");
    assert!(message.contains("compiled: s2i"), "{message}");
    let job = h.wait_phase("bad-config", Phase::Failed).await;
    let (_, reason, message) = condition(&job, "Ready").expect("Ready");
    assert_eq!(reason, "InvalidStrategyConfig");
    assert!(message.contains("strategyConfig.builderImage"), "{message}");
    if cfg!(feature = "kaniko") {
        h.create_job(&job_yaml("disabled", &build("kaniko", "")))
            .await;
        let job = h.wait_phase("disabled", Phase::Failed).await;
        let (_, reason, message) = condition(&job, "Ready").expect("Ready");
        assert_eq!(reason, "StrategyDisabled");
        assert!(
            message.contains("add 'kaniko' to enabledBuildStrategies"),
            "{message}"
        );
    }
}

#[tokio::test]
async fn hostile_git_refs_are_refused_by_the_api_server() {
    let h = Harness::new("hostile").await;
    for hostile in [
        "--upload-pack=touch /tmp/pwned",
        "main; rm -rf /",
        "$(id)",
        "`id`",
        "a..b",
    ] {
        let yaml = job_yaml("hostile", "").replace(
            "ref: main",
            &format!("ref: {}", serde_json::to_string(hostile).expect("json")),
        );
        let job = serde_yaml_ng::from_str(&yaml).expect("yaml");
        let err = h
            .jobs()
            .create(&PostParams::default(), &job)
            .await
            .expect_err(hostile);
        let message = err.to_string();
        assert!(
            message.contains("git ref must be a branch, tag or commit SHA"),
            "{hostile}: {message}"
        );
    }
}

#[tokio::test]
async fn the_operator_works_under_only_its_generated_cluster_role() {
    let mut h = Harness::new("rbac").await;
    let operator_client = h.least_privilege_client().await;
    h.start_operator(&[], Some(operator_client));
    h.create_job(&job_yaml("least", S2I_BUILD)).await;
    let builds = h.dynamic("build.openshift.io", "v1", "Build");
    h.wait_object(&builds, "least-build").await;
    h.patch_build("least-build", json!({
        "phase": "Complete", "outputDockerImageReference": "registry.local/ns/least-build:latest",
        "output": { "to": { "imageDigest": format!("sha256:{}", "ef".repeat(32)) } }
    })).await;
    h.wait_object(&h.pods(), "least-validation").await;
    h.pass_pod("least-validation").await;
    h.wait_phase("least", Phase::Succeeded).await;
    h.jobs()
        .delete("least", &DeleteParams::default())
        .await
        .expect("delete");
    for _ in 0..300 {
        if h.jobs().get_opt("least").await.expect("read").is_none() {
            h.remove_least_privilege_role().await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the operator could not remove its finalizer under its own role");
}

fn jiff_now() -> String {
    k8s_openapi::jiff::Timestamp::now().to_string()
}

#[tokio::test]
async fn credentials_reach_the_clone_as_files_and_results_only_come_from_the_termination_message() {
    let mut h = Harness::new("results").await;
    h.start_operator(&[], None);
    let yaml = job_yaml(
        "secret",
        "  podConfig:\n    containerImage: quay.io/jupyter/minimal-notebook:latest\n",
    )
    .replace(
        "      ref: main\n",
        "      ref: main\n      credentialsSecret: git-token\n",
    );
    h.create_job(&yaml).await;
    let pod = h.wait_object(&h.pods(), "secret-validation").await;
    let spec = pod.spec.as_ref().expect("spec");
    let clone = spec
        .init_containers
        .iter()
        .flatten()
        .find(|c| c.name == "clone")
        .expect("clone container");
    assert!(
        clone
            .volume_mounts
            .iter()
            .flatten()
            .any(|m| m.mount_path == "/var/run/nbv/git-credentials" && m.read_only == Some(true))
    );
    let secret_volume = spec
        .volumes
        .iter()
        .flatten()
        .find(|v| v.secret.is_some())
        .expect("secret volume");
    assert_eq!(
        secret_volume
            .secret
            .as_ref()
            .and_then(|s| s.secret_name.as_deref()),
        Some("git-token")
    );
    for container in spec
        .init_containers
        .iter()
        .flatten()
        .chain(&spec.containers)
    {
        assert!(
            container
                .env
                .iter()
                .flatten()
                .all(|e| e.value_from.is_none()),
            "no secret in env of {}",
            container.name
        );
        assert!(
            !container
                .command
                .iter()
                .flatten()
                .chain(container.args.iter().flatten())
                .any(|a| a.contains("git-token"))
        );
    }
    // The runner died without writing its result: that is a failure, never a success.
    h.finish_pod("secret-validation", "Succeeded", 0, "").await;
    let job = h.wait_phase("secret", Phase::Failed).await;
    assert_eq!(
        condition(&job, "Ready").map(|c| c.1),
        Some("ResultMissing".into())
    );

    h.create_job(&yaml.replace("name: secret", "name: garbled"))
        .await;
    h.wait_object(&h.pods(), "garbled-validation").await;
    h.finish_pod(
        "garbled-validation",
        "Succeeded",
        0,
        "Results Summary: all good",
    )
    .await;
    let job = h.wait_phase("garbled", Phase::Failed).await;
    assert_eq!(
        condition(&job, "Ready").map(|c| c.1),
        Some("ResultUnreadable".into())
    );
}

#[tokio::test]
async fn infrastructure_failures_retry_visibly_and_failed_notebooks_never_rerun() {
    let mut h = Harness::new("retries").await;
    h.start_operator(&[], None);
    h.create_job(&job_yaml(
        "flaky",
        "  podConfig:\n    containerImage: quay.io/jupyter/minimal-notebook:latest\n",
    ))
    .await;
    h.wait_object(&h.pods(), "flaky-validation").await;
    h.patch_pod_status("flaky-validation", json!({ "phase": "Failed", "reason": "Evicted", "message": "The node was low on resource: memory." })).await;
    let job = h
        .wait_job("flaky", "a retry", |j| {
            j.status.as_ref().and_then(|s| s.retry_count) == Some(1)
        })
        .await;
    assert!(
        condition(&job, "ValidationComplete").is_some_and(|c| c.2.contains("1 of 3")),
        "{:?}",
        condition(&job, "ValidationComplete")
    );
    h.wait_object(&h.pods(), "flaky-validation-1").await;
    h.finish_pod(
        "flaky-validation-1",
        "Failed",
        1,
        &summary(Outcome::NotebookFailed, Some(2)),
    )
    .await;
    h.wait_phase("flaky", Phase::Failed).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pods = h
        .pods()
        .list(&ListParams::default())
        .await
        .expect("pods")
        .items;
    let names: Vec<String> = pods.iter().map(|p| p.name_any()).collect();
    assert!(
        !names.iter().any(|n| n == "flaky-validation-2"),
        "a failed notebook must not run again: {names:?}"
    );
    let events = h.events().await;
    assert!(
        events
            .iter()
            .any(|(reason, note)| reason == "ValidationRetry" && note.contains("evicted")),
        "{events:?}"
    );
}

#[cfg(feature = "s2i")]
mod detection {
    //! Strategy availability, asked of the real API server's discovery.

    use buildstrategy_api::prelude::*;
    use buildstrategy_api::{Registry, testkit};
    use notebook_validator_operator::catalog::Catalog;
    use notebook_validator_operator::config::EnabledStrategies;
    use notebook_validator_operator::steps::select::{self, DetectionCache};

    /// A strategy whose backend no cluster serves.
    #[derive(Debug)]
    struct Missing;

    #[async_trait]
    impl BuildStrategy for Missing {
        fn info(&self) -> StrategyInfo {
            StrategyInfo::new("missing", Tier::Community, "Needs an API nobody serves.")
        }
        fn required_kinds(&self) -> Vec<GroupVersionKind> {
            vec![GroupVersionKind::gvk(
                "builds.example.invalid",
                "v1",
                "Thing",
            )]
        }
        fn render(&self, _: &BuildRequest) -> Result<RenderedBuild, StrategyError> {
            Err(StrategyError::not_supported_yet(
                "missing",
                Operation::Render,
            ))
        }
        fn map_status(&self, _: &DynamicObject) -> Result<BuildStatus, StrategyError> {
            Err(StrategyError::not_supported_yet(
                "missing",
                Operation::Status,
            ))
        }
    }

    #[tokio::test]
    async fn a_strategy_whose_api_is_not_served_is_unavailable_and_auto_picks_the_first_served() {
        let h = super::Harness::new("detection").await;
        let strategies: Vec<(Box<dyn BuildStrategy>, String)> = vec![
            (Box::new(Missing), "test".into()),
            (Box::new(buildstrategy_s2i::SourceToImage), "s2i".into()),
        ];
        let catalog = Catalog::new(
            Registry::from_factories(strategies).expect("registry"),
            EnabledStrategies::resolve(None, None, &["missing".into()]).expect("config"),
        );
        let cache = DetectionCache::default();
        let request = testkit::sample_request();
        let err = select::choose(&catalog, &cache, &h.env.client, "missing", None, &request)
            .await
            .expect_err("unavailable");
        assert_eq!(
            err.reason(),
            notebook_validator_operator::reason::Reason::StrategyUnavailable
        );
        assert!(
            err.to_string()
                .contains("builds.example.invalid/v1 Thing is not served"),
            "{err}"
        );
        let choice = select::choose(&catalog, &cache, &h.env.client, "auto", None, &request)
            .await
            .expect("auto");
        assert_eq!(choice.strategy.info().name, "s2i");
        assert!(choice.why.contains("'auto' chose 's2i'"), "{}", choice.why);
    }
}

#[tokio::test]
async fn an_error_that_keeps_repeating_reaches_status_and_ends_the_job_at_its_timeout() {
    let mut h = Harness::new("quota").await;
    // A quota that admits no pod: every attempt to create the validation pod fails (403, but no
    // missing permission: quotas may clear, so the operator retries).
    let quotas: kube::Api<ResourceQuota> =
        kube::Api::namespaced(h.env.client.clone(), &h.env.namespace);
    let quota: ResourceQuota = serde_json::from_value(json!({
        "metadata": { "name": "no-pods" },
        "spec": { "hard": { "pods": "0" } }
    }))
    .expect("quota");
    quotas
        .create(&PostParams::default(), &quota)
        .await
        .expect("quota created");
    // The quota controller computes its usage; admission refuses with "status unknown" before.
    for _ in 0..100 {
        let counted = quotas
            .get("no-pods")
            .await
            .expect("quota")
            .status
            .and_then(|s| s.hard)
            .is_some();
        if counted {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    h.start_operator(&[], None);
    let yaml = job_yaml(
        "stuck",
        "  podConfig:\n    containerImage: quay.io/x/nb:1\n",
    )
    .replace("timeout: 10m", "timeout: 12s");
    h.create_job(&yaml).await;
    let retrying = h
        .wait_job("stuck", "the error in status", |job| {
            condition(job, "Reconciled")
                .is_some_and(|(status, reason, _)| status == "False" && reason == "ReconcileError")
        })
        .await;
    let (_, _, message) = condition(&retrying, "Reconciled").expect("Reconciled");
    assert!(
        message.starts_with("attempt ") && message.contains("exceeded quota"),
        "{message}"
    );
    assert_ne!(
        retrying.status.as_ref().and_then(|s| s.phase),
        Some(Phase::Failed),
        "a quota may clear: the job waits"
    );
    let failed = h.wait_phase("stuck", Phase::Failed).await;
    let (_, reason, message) = condition(&failed, "Ready").expect("Ready");
    assert_eq!(reason, "ReconcileFailed", "{message}");
    assert!(
        message.contains("spec.timeout (12s)") && message.contains("exceeded quota"),
        "{message}"
    );
}

#[tokio::test]
async fn a_validation_pod_the_api_server_refuses_fails_the_job_at_once() {
    let mut h = Harness::new("invalid-pod").await;
    h.start_operator(&[], None);
    h.create_job(&job_yaml(
        "bad-volume",
        "  podConfig:\n    containerImage: quay.io/x/nb:1\n    volumes:\n    - name: Not_A_Label\n      emptyDir: {}\n",
    ))
    .await;
    let failed = h.wait_phase("bad-volume", Phase::Failed).await;
    let (_, reason, message) = condition(&failed, "Ready").expect("Ready");
    assert_eq!(reason, "InvalidPod", "{message}");
    assert!(message.contains("Not_A_Label"), "{message}");
}

#[tokio::test]
async fn a_spec_the_operator_cannot_act_on_fails_with_invalid_spec_and_an_event() {
    let mut h = Harness::new("invalid-spec").await;
    h.start_operator(&[], None);
    // Valid for the API server; fallbackStrategy fail makes a build without requirements an error.
    h.create_job(&job_yaml(
        "bare",
        "  podConfig:\n    buildConfig:\n      enabled: true\n      strategy: s2i\n      fallbackStrategy: fail\n",
    ))
    .await;
    let failed = h.wait_phase("bare", Phase::Failed).await;
    let (_, reason, message) = condition(&failed, "Ready").expect("Ready");
    assert_eq!(reason, "InvalidSpec", "{message}");
    let mut events = Vec::new();
    for _ in 0..50 {
        events = h.events().await;
        if events.iter().any(|(reason, _)| reason == "InvalidSpec") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no InvalidSpec event: {events:?}");
}

#[tokio::test]
async fn a_new_round_removes_the_inspect_pod_of_the_round_it_abandons() {
    use notebook_validator_operator::crd::image::NotebookImage;
    use notebook_validator_operator::labels::{IMAGE_LABEL, ROUND_LABEL};

    let mut h = Harness::new("abandon").await;
    h.start_operator(&[], None);
    let images: kube::Api<NotebookImage> =
        kube::Api::namespaced(h.env.client.clone(), &h.env.namespace);
    let image: NotebookImage = serde_json::from_value(json!({
        "apiVersion": "mlops.redhat.com/v1alpha1",
        "kind": "NotebookImage",
        "metadata": {"name": "abandoned"},
        "spec": {
            "buildType": "ImageImport",
            "fromImage": "quay.io/example/notebook:1",
            "validationNotebooks": [{"notebook": {"git": {"url": "https://example.com/r.git"}, "path": "a.ipynb"}}],
        },
    }))
    .expect("a NotebookImage");
    images
        .create(&PostParams::default(), &image)
        .await
        .expect("accepted");
    // No kubelet here: round 1's inspect pod stays pending, as one pulling a large image does.
    let round_pods = |round: i64| {
        let pods = h.pods();
        async move {
            pods.list(
                &ListParams::default()
                    .labels(&format!("{IMAGE_LABEL}=abandoned,{ROUND_LABEL}={round}")),
            )
            .await
            .expect("list")
            .items
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .count()
        }
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while round_pods(1).await == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no inspect pod for round 1"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A new generation starts round 2 while round 1 still pulls.
    images
        .patch(
            "abandoned",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"spec": {"fromImage": "quay.io/example/notebook:2"}})),
        )
        .await
        .expect("patched");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while round_pods(1).await > 0 || round_pods(2).await == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "round 1's inspect pod is still there ({}) or round 2 has none ({})",
            round_pods(1).await,
            round_pods(2).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
