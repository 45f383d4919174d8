//! Every community strategy through failure, timeout, deletion and an operator restart, on the
//! real control plane. The test plays each backend's controller through a small `Backend`
//! description, so every scenario runs the same way for every strategy.

#![cfg(feature = "community")]

mod support;

use std::time::Duration;

use kube::ResourceExt;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams};
use notebook_validator_operator::crd::Phase;
use serde_json::{Value, json};
use support::{Harness, condition, job_yaml};

/// How a test plays one backend.
#[derive(Clone, Copy)]
enum Backend {
    /// A build pod (Buildah, Kaniko, BuildKit) in a namespace at this Pod Security level.
    Pod(&'static str, &'static str),
    Tekton,
    Shipwright,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Self::Pod(name, _) => name,
            Self::Tekton => "tekton",
            Self::Shipwright => "shipwright",
        }
    }

    async fn harness(self, scenario: &str) -> Harness {
        let prefix = format!("{}-{scenario}", self.name());
        let mut h = match self {
            Self::Pod(_, level) => Harness::with_pod_security(&prefix, level).await,
            _ => Harness::new(&prefix).await,
        };
        h.start_operator(&[self.name()], None);
        h
    }

    fn primary(self, h: &Harness) -> Api<DynamicObject> {
        match self {
            Self::Pod(..) => h.dynamic("", "v1", "Pod"),
            Self::Tekton => h.dynamic("tekton.dev", "v1", "TaskRun"),
            Self::Shipwright => h.dynamic("shipwright.io", "v1beta1", "BuildRun"),
        }
    }

    /// Every object the build owns: (api, name).
    fn objects(self, h: &Harness, build: &str) -> Vec<(Api<DynamicObject>, String)> {
        match self {
            Self::Pod(..) => vec![
                (
                    h.dynamic("", "v1", "ConfigMap"),
                    format!("{build}-dockerfile"),
                ),
                (self.primary(h), build.to_owned()),
            ],
            Self::Tekton | Self::Shipwright => vec![(self.primary(h), build.to_owned())],
        }
    }

    /// Writes the backend's status for `state` (running, succeeded, failed).
    async fn play(self, h: &Harness, build: &str, state: &str, digest: &str) {
        let now = k8s_openapi::jiff::Timestamp::now().to_string();
        match self {
            Self::Pod(..) => {
                let pod = h.pods().get(build).await.expect("build pod");
                let spec = pod.spec.expect("spec");
                let (phase, exit, message) = match state {
                    "running" => ("Running", None, ""),
                    "succeeded" => ("Succeeded", Some(0), digest),
                    _ => (
                        "Failed",
                        Some(1),
                        "error: pip install -r requirements.txt exited with 1",
                    ),
                };
                let mains: Vec<Value> = spec.containers.iter().map(|c| {
                    let state = match exit {
                        None => json!({ "running": { "startedAt": now } }),
                        Some(code) => json!({ "terminated": { "exitCode": code, "reason": if code == 0 { "Completed" } else { "Error" }, "message": message, "finishedAt": now } }),
                    };
                    json!({ "name": c.name, "ready": exit.is_none(), "restartCount": 0, "image": c.image, "imageID": "", "state": state })
                }).collect();
                h.patch_pod_status(
                    build,
                    json!({ "phase": phase, "startTime": now, "containerStatuses": mains }),
                )
                .await;
            }
            Self::Tekton | Self::Shipwright => {
                let (status, reason, message) = match state {
                    "running" => (
                        "Unknown",
                        "Running",
                        "Not all Steps in the Task have finished executing",
                    ),
                    "succeeded" => ("True", "Succeeded", "All Steps have completed executing"),
                    _ => (
                        "False",
                        "Failed",
                        "\"step-build\" exited with code 1: pip install -r requirements.txt exited with 1",
                    ),
                };
                let mut body = json!({ "startTime": now, "conditions": [{ "type": "Succeeded", "status": status, "reason": reason, "message": message }] });
                if state == "succeeded" {
                    match self {
                        Self::Tekton => {
                            body["results"] = json!([{ "name": "IMAGE_DIGEST", "type": "string", "value": digest }, { "name": "IMAGE_URL", "type": "string", "value": format!("registry.example.com/nb:{build}") }])
                        }
                        _ => body["output"] = json!({ "digest": digest }),
                    }
                }
                h.patch_status(&self.primary(h), build, body).await;
            }
        }
    }

    /// Whether the backend was asked to stop the build.
    async fn cancelled(self, h: &Harness, build: &str) -> bool {
        let object = self.primary(h).get(build).await.expect("primary object");
        match self {
            Self::Pod(..) => {
                object
                    .annotations()
                    .get("build.nbv.mlops.redhat.com/cancelled")
                    .is_some_and(|v| v == "true")
                    && object.data["spec"]["activeDeadlineSeconds"] == json!(1)
            }
            Self::Tekton => object.data["spec"]["status"] == json!("TaskRunCancelled"),
            Self::Shipwright => object.data["spec"]["state"] == json!("BuildRunCanceled"),
        }
    }
}

const BACKENDS: [Backend; 5] = [
    Backend::Pod("buildah", "privileged"),
    Backend::Pod("kaniko", "baseline"),
    Backend::Pod("buildkit", "privileged"),
    Backend::Tekton,
    Backend::Shipwright,
];

fn job(name: &str, strategy: &str, build_timeout: &str) -> String {
    job_yaml(
        name,
        &format!(
            "  podConfig:\n    buildConfig:\n      enabled: true\n      strategy: {strategy}\n      outputImage: registry.example.com/nb:{name}-build\n      timeout: {build_timeout}\n"
        ),
    )
}

async fn for_each_backend<F, Fut>(scenario: &'static str, run: F)
where
    F: Fn(Backend, Harness) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for backend in BACKENDS {
        let h = backend.harness(scenario).await;
        run(backend, h).await;
    }
}

#[tokio::test]
async fn a_failed_build_fails_the_job_with_the_backend_reason() {
    for_each_backend("fail", |backend, h| async move {
        h.create_job(&job("broken", backend.name(), "10m")).await;
        h.wait_object(&backend.primary(&h), "broken-build").await;
        backend.play(&h, "broken-build", "failed", "").await;
        let job = h.wait_phase("broken", Phase::Failed).await;
        let (_, reason, message) = condition(&job, "Ready").expect("Ready");
        assert_eq!(reason, "BuildFailed", "{}: {message}", backend.name());
        assert!(
            message.contains("exited with"),
            "{}: {message}",
            backend.name()
        );
    })
    .await;
}

#[tokio::test]
async fn a_build_past_its_timeout_is_cancelled() {
    for_each_backend("timeout", |backend, h| async move {
        h.create_job(&job("slow", backend.name(), "2s")).await;
        h.wait_object(&backend.primary(&h), "slow-build").await;
        backend.play(&h, "slow-build", "running", "").await;
        let job = h.wait_phase("slow", Phase::Failed).await;
        assert_eq!(
            condition(&job, "Ready").map(|c| c.1),
            Some("BuildTimeout".into()),
            "{}",
            backend.name()
        );
        assert!(
            backend.cancelled(&h, "slow-build").await,
            "{}: the build was not cancelled",
            backend.name()
        );
    })
    .await;
}

#[tokio::test]
async fn deleting_a_job_mid_build_removes_what_the_build_created() {
    for_each_backend("delete", |backend, h| async move {
        h.create_job(&job("gone", backend.name(), "10m")).await;
        h.wait_object(&backend.primary(&h), "gone-build").await;
        h.wait_phase("gone", Phase::Building).await;
        h.jobs()
            .delete("gone", &DeleteParams::default())
            .await
            .expect("delete");
        'wait: {
            for _ in 0..300 {
                let mut left = Vec::new();
                for (api, name) in backend.objects(&h, "gone-build") {
                    if api
                        .get_opt(&name)
                        .await
                        .expect("read")
                        .is_some_and(|o| o.metadata.deletion_timestamp.is_none())
                    {
                        left.push(name);
                    }
                }
                if left.is_empty() && h.jobs().get_opt("gone").await.expect("read").is_none() {
                    break 'wait;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!(
                "{}: the job or its build objects are still there",
                backend.name()
            );
        }
    })
    .await;
}

#[tokio::test]
async fn a_restarted_operator_finishes_the_build_it_started_without_a_second_one() {
    for_each_backend("restart", |backend, mut h| async move {
        h.create_job(&job("resume", backend.name(), "10m")).await;
        let first = h.wait_object(&backend.primary(&h), "resume-build").await;
        h.wait_phase("resume", Phase::Building).await;
        h.stop_operator();
        let digest = format!("sha256:{}", "9f".repeat(32));
        backend.play(&h, "resume-build", "succeeded", &digest).await;
        h.start_operator(&[backend.name()], None);
        let pod = h.wait_object(&h.pods(), "resume-validation").await;
        let image = pod.spec.as_ref().expect("spec").containers[0]
            .image
            .clone()
            .unwrap_or_default();
        assert!(
            image.ends_with(&format!("@{digest}")),
            "{}: {image}",
            backend.name()
        );
        h.pass_pod("resume-validation").await;
        h.wait_phase("resume", Phase::Succeeded).await;
        let again = backend
            .primary(&h)
            .get("resume-build")
            .await
            .expect("primary");
        assert_eq!(
            again.uid(),
            first.uid(),
            "{}: the build was replaced",
            backend.name()
        );
        let validation_pods = h
            .pods()
            .list(&ListParams::default().labels("app.kubernetes.io/component=validation"))
            .await
            .expect("pods");
        assert_eq!(validation_pods.items.len(), 1, "{}", backend.name());
    })
    .await;
}

#[tokio::test]
async fn a_strategy_switched_off_mid_build_cancels_its_build_with_a_clear_reason() {
    for_each_backend("switched-off", |backend, mut h| async move {
        h.create_job(&job("off", backend.name(), "10m")).await;
        h.wait_object(&backend.primary(&h), "off-build").await;
        h.wait_phase("off", Phase::Building).await;
        h.stop_operator();
        // The same operator, restarted with a config that no longer switches the strategy on.
        h.start_operator(&[], None);
        let failed = h.wait_phase("off", Phase::Failed).await;
        let (_, reason, message) = condition(&failed, "Ready").expect("Ready");
        assert_eq!(reason, "StrategyDisabled", "{}: {message}", backend.name());
        assert!(
            message.contains("switched off while its build off-build ran"),
            "{}: {message}",
            backend.name()
        );
        assert!(
            backend.cancelled(&h, "off-build").await,
            "{}: the build runs on",
            backend.name()
        );
    })
    .await;
}

#[tokio::test]
async fn the_strategy_a_build_started_with_stays_for_the_jobs_life() {
    let mut h = Harness::with_pod_security("pinned", "privileged").await;
    h.start_operator(&["kaniko", "buildah"], None);
    h.create_job(&job("pinned", "kaniko", "10m")).await;
    h.wait_object(&h.pods(), "pinned-build").await;
    h.wait_phase("pinned", Phase::Building).await;
    // Another strategy asked for mid-build: the running build is kept, not replaced.
    h.jobs()
        .patch(
            "pinned",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({
                "spec": { "podConfig": { "buildConfig": { "strategy": "buildah" } } }
            })),
        )
        .await
        .expect("spec edited");
    let digest = format!("sha256:{}", "7e".repeat(32));
    Backend::Pod("kaniko", "baseline")
        .play(&h, "pinned-build", "succeeded", &digest)
        .await;
    h.wait_object(&h.pods(), "pinned-validation").await;
    h.pass_pod("pinned-validation").await;
    let done = h.wait_phase("pinned", Phase::Succeeded).await;
    let strategy = done
        .status
        .as_ref()
        .and_then(|s| s.build_status.as_ref())
        .and_then(|b| b.strategy.clone());
    assert_eq!(strategy.as_deref(), Some("kaniko"));
}
