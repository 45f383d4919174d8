//! Builds that are not repeated: on the real control plane, the second of two jobs with the same
//! inputs uses the first one's digest-pinned image and creates no build, even after an operator
//! restart; a changed input or one that is not pinned builds again, and status says why
//! (docs/adrs/0008-build-reuse.md). Verdicts are not repeated either: a job with
//! `reuseResults` takes the verdict of an earlier job with the same pinned inputs, and runs the
//! notebook when an input differs or is not pinned. The OpenShift build controller and the
//! kubelet are played.

mod support;

use kube::ResourceExt;
use notebook_validator_operator::crd::{NotebookValidationJob, Phase};
use serde_json::json;
use support::{Harness, condition};

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
const BASE: &str = "quay.io/jupyter/minimal-notebook@sha256:1111111111111111111111111111111111111111111111111111111111111111";

/// A job building with S2I from `git_ref` on `base`, installing `package`.
fn job(name: &str, git_ref: &str, base: &str, package: &str) -> String {
    format!(
        "apiVersion: mlops.redhat.com/v1alpha1\nkind: NotebookValidationJob\nmetadata:\n  name: {name}\nspec:\n  notebook:\n    git:\n      url: https://github.com/example/notebooks.git\n      ref: \"{git_ref}\"\n    path: analysis.ipynb\n  timeout: 10m\n  podConfig:\n    buildConfig:\n      enabled: true\n      strategy: s2i\n      baseImage: \"{base}\"\n      packages: [\"{package}\"]\n"
    )
}

/// Plays OpenShift's build controller to a pushed image, then the kubelet to a passing run.
async fn build_and_pass(h: &Harness, name: &str) -> NotebookValidationJob {
    let builds = h.dynamic("build.openshift.io", "v1", "Build");
    h.wait_object(&builds, &format!("{name}-build")).await;
    let digest = format!("sha256:{}", "cd".repeat(32));
    h.patch_build(&format!("{name}-build"), json!({
        "phase": "Complete", "startTimestamp": "2026-12-01T10:00:00Z", "completionTimestamp": "2026-12-01T10:01:00Z",
        "outputDockerImageReference": format!("image-registry.openshift-image-registry.svc:5000/ns/{name}-build:latest"),
        "output": { "to": { "imageDigest": digest } }
    }))
    .await;
    h.wait_object(&h.pods(), &format!("{name}-validation"))
        .await;
    h.pass_pod(&format!("{name}-validation")).await;
    h.wait_phase(name, Phase::Succeeded).await
}

fn build_report(
    job: &NotebookValidationJob,
) -> notebook_validator_operator::crd::BuildStatusReport {
    job.status
        .as_ref()
        .and_then(|s| s.build_status.clone())
        .expect("build status")
}

#[tokio::test]
async fn the_second_job_with_the_same_inputs_reuses_the_image_even_after_a_restart() {
    let mut h = Harness::new("reuse").await;
    h.start_operator(&[], None);
    h.create_job(&job("first", COMMIT, BASE, "pandas==2.2.3"))
        .await;
    let first = build_and_pass(&h, "first").await;
    let built = build_report(&first).image_reference.expect("image");
    assert!(build_report(&first).reuse_key.is_some());

    // A new operator process: what it reuses comes from the jobs' status, not from its memory.
    h.stop_operator();
    h.start_operator(&[], None);
    h.create_job(&job("second", COMMIT, BASE, "pandas==2.2.3"))
        .await;
    let second = h.wait_phase("second", Phase::ValidationRunning).await;
    let report = build_report(&second);
    assert_eq!(report.image_reference.as_deref(), Some(built.as_str()));
    assert_eq!(
        report.reused_from.as_deref(),
        Some(format!("{}/first", h.env.namespace).as_str())
    );
    let (status, reason, message) = condition(&second, "BuildReady").expect("BuildReady");
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("True", "ImageReused"),
        "{message}"
    );
    assert!(message.contains("nothing was built"), "{message}");
    let pod = h.pods().get("second-validation").await.expect("pod");
    assert_eq!(
        pod.spec.expect("spec").containers[0].image.as_deref(),
        Some(built.as_str())
    );
    let builds = h.dynamic("build.openshift.io", "v1", "Build");
    assert!(
        builds.get_opt("second-build").await.expect("get").is_none(),
        "a second build was created"
    );
}

#[tokio::test]
async fn a_changed_input_builds_again() {
    let mut h = Harness::new("reuse-changed").await;
    h.start_operator(&[], None);
    h.create_job(&job("first", COMMIT, BASE, "pandas==2.2.3"))
        .await;
    build_and_pass(&h, "first").await;
    h.create_job(&job("second", COMMIT, BASE, "pandas==2.2.2"))
        .await;
    let second = build_and_pass(&h, "second").await;
    let report = build_report(&second);
    assert_eq!(report.reused_from, None);
    assert_ne!(
        report.reuse_key,
        build_report(&h.jobs().get("first").await.expect("first")).reuse_key
    );
}

#[tokio::test]
async fn inputs_that_are_not_pinned_build_and_say_why() {
    let mut h = Harness::new("reuse-unpinned").await;
    h.start_operator(&[], None);
    h.create_job(&job("branch", "main", BASE, "pandas")).await;
    h.create_job(&job(
        "tag",
        COMMIT,
        "quay.io/jupyter/minimal-notebook:latest",
        "pandas",
    ))
    .await;
    let builds = h.dynamic("build.openshift.io", "v1", "Build");
    for (name, why) in [
        ("branch", "git ref 'main' names no commit"),
        ("tag", "has no digest and its tag may move"),
    ] {
        h.wait_object(&builds, &format!("{name}-build")).await;
        let job = h.wait_phase(name, Phase::Building).await;
        let (_, _, message) = condition(&job, "BuildReady").expect("BuildReady");
        assert!(message.contains(why), "{name}: {message}");
        assert!(build_report(&job).reuse_key.is_none(), "{}", job.name_any());
    }
}

#[tokio::test]
async fn jobs_created_together_wait_for_one_build_instead_of_starting_their_own() {
    let mut h = Harness::new("reuse-together").await;
    h.start_operator(&[], None);
    for name in ["one", "two", "three"] {
        h.create_job(&job(name, COMMIT, BASE, "pandas==2.2.3"))
            .await;
    }
    let builds = h.dynamic("build.openshift.io", "v1", "Build");
    // One of them builds; the others wait for it.
    let builder = loop {
        let listed = builds.list(&Default::default()).await.expect("builds");
        if let Some(build) = listed.items.first() {
            break build.name_any().trim_end_matches("-build").to_owned();
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let waiting: Vec<&str> = ["one", "two", "three"]
        .into_iter()
        .filter(|n| *n != builder)
        .collect();
    for name in &waiting {
        let job = h.wait_phase(name, Phase::Building).await;
        let (_, reason, message) = condition(&job, "BuildReady").expect("BuildReady");
        assert_eq!(reason, "WaitingForBuild", "{message}");
    }
    build_and_pass(&h, &builder).await;
    for name in &waiting {
        let job = h.wait_phase(name, Phase::ValidationRunning).await;
        let report = build_report(&job);
        assert_eq!(
            report.reused_from.as_deref(),
            Some(format!("{}/{builder}", h.env.namespace).as_str())
        );
    }
    let listed = builds.list(&Default::default()).await.expect("builds");
    assert_eq!(listed.items.len(), 1, "one build for three jobs");
}

/// The notebook image by digest, so that verdicts in it may be reused.
const PINNED_IMAGE: &str = "quay.io/jupyter/minimal-notebook@sha256:2222222222222222222222222222222222222222222222222222222222222222";

/// A job that reuses verdicts, validating at `git_ref` in `image`, with `extra` spec lines.
fn verdict_job(name: &str, git_ref: &str, image: &str, extra: &str) -> String {
    format!(
        "apiVersion: mlops.redhat.com/v1alpha1\nkind: NotebookValidationJob\nmetadata:\n  name: {name}\nspec:\n  notebook:\n    git:\n      url: https://github.com/example/notebooks.git\n      ref: \"{git_ref}\"\n    path: analysis.ipynb\n  reuseResults: true\n  timeout: 10m\n  podConfig:\n    containerImage: \"{image}\"\n{extra}"
    )
}

#[tokio::test]
async fn a_job_with_the_same_inputs_takes_the_earlier_verdict_without_a_pod() {
    let mut h = Harness::new("verdict-reuse").await;
    h.start_operator(&[], None);
    h.create_job(&verdict_job("first", COMMIT, PINNED_IMAGE, ""))
        .await;
    h.wait_object(&h.pods(), "first-validation").await;
    h.pass_pod("first-validation").await;
    let first = h.wait_phase("first", Phase::Succeeded).await;
    let first_status = first.status.clone().expect("status");
    assert!(first_status.validation_key.is_some(), "{first_status:#?}");
    let (status, reason, _) = condition(&first, "ValidationReused").expect("ValidationReused");
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "ValidationNotReused")
    );

    // A new operator process: the verdict comes from the first job's status.
    h.stop_operator();
    h.start_operator(&[], None);
    h.create_job(&verdict_job("second", COMMIT, PINNED_IMAGE, ""))
        .await;
    let second = h.wait_phase("second", Phase::Succeeded).await;
    let status = second.status.clone().expect("status");
    let from = format!("{}/first", h.env.namespace);
    assert_eq!(
        status.validation_reused_from.as_deref(),
        Some(from.as_str())
    );
    assert_eq!(status.validation_key, first_status.validation_key);
    assert_eq!(status.results, first_status.results);
    assert_eq!(status.validation_pod_name, None);
    let (reused, reason, message) = condition(&second, "ValidationReused").expect("condition");
    assert_eq!(
        (reused.as_str(), reason.as_str()),
        ("True", "ValidationReused")
    );
    assert!(
        message.contains(&from) && message.contains("no pod ran"),
        "{message}"
    );
    let (_, reason, _) = condition(&second, "ValidationComplete").expect("ValidationComplete");
    assert_eq!(reason, "Passed");
    assert!(
        h.pods()
            .get_opt("second-validation")
            .await
            .expect("get")
            .is_none(),
        "the second job ran a pod"
    );

    // Another parameter value is another input: the notebook runs.
    h.create_job(&verdict_job(
        "third",
        COMMIT,
        PINNED_IMAGE,
        "  parameters:\n    epochs: 2\n",
    ))
    .await;
    h.wait_object(&h.pods(), "third-validation").await;
}

#[tokio::test]
async fn a_verdict_at_a_branch_or_in_an_image_tag_is_not_reused_and_status_says_why() {
    let mut h = Harness::new("verdict-unpinned").await;
    h.start_operator(&[], None);
    for (name, git_ref, image, why) in [
        (
            "branch",
            "main",
            PINNED_IMAGE,
            "git ref 'main' names no commit",
        ),
        (
            "tag",
            COMMIT,
            "quay.io/jupyter/minimal-notebook:latest",
            "has no digest and its tag may move",
        ),
    ] {
        h.create_job(&verdict_job(name, git_ref, image, "")).await;
        h.wait_object(&h.pods(), &format!("{name}-validation"))
            .await;
        let job = h
            .wait_job(name, "the ValidationReused condition", |j| {
                condition(j, "ValidationReused").is_some()
            })
            .await;
        let (status, reason, message) = condition(&job, "ValidationReused").expect("condition");
        assert_eq!(
            (status.as_str(), reason.as_str()),
            ("False", "ValidationNotReused")
        );
        assert!(message.contains(why), "{message}");
        assert_eq!(job.status.expect("status").validation_key, None);
    }
}
