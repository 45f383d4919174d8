//! Reading a validation pod: still running, finished with a result, or failed around the
//! notebook. Results come only from the runner's termination message, never from logs; a
//! missing or unreadable result is a failure with its own reason.

use k8s_openapi::api::core::v1::{ContainerStateTerminated, ContainerStatus, Pod, PodStatus};
use nbv_report::Summary;

use crate::reason::Reason;

/// Name of the container that runs the notebook; its termination message is the result.
pub const VALIDATE_CONTAINER: &str = "validate";

/// What a validation pod says.
#[derive(Debug, Clone, PartialEq)]
pub enum PodOutcome {
    /// Created, not running yet.
    Starting,
    /// Not finished; the text says where it is.
    Running(String),
    /// The runner finished and reported.
    Finished(Box<Summary>),
    /// The pod failed for a reason worth one more attempt (eviction, infrastructure error).
    Retryable {
        /// Condition reason.
        reason: Reason,
        /// What happened.
        message: String,
    },
    /// The pod failed for good.
    Failed {
        /// Condition reason.
        reason: Reason,
        /// What happened.
        message: String,
    },
}

/// Image-pull and configuration errors the kubelet reports while a container waits.
const STUCK_REASONS: [(&str, Reason); 4] = [
    ("ErrImagePull", Reason::ImagePullFailed),
    ("ImagePullBackOff", Reason::ImagePullFailed),
    ("InvalidImageName", Reason::ImagePullFailed),
    ("CreateContainerConfigError", Reason::PodConfigError),
];

fn terminated(
    statuses: Option<&Vec<ContainerStatus>>,
    name: &str,
) -> Option<ContainerStateTerminated> {
    statuses?
        .iter()
        .find(|c| c.name == name)?
        .state
        .as_ref()?
        .terminated
        .clone()
}

/// What to change, for the kubelet messages whose fix is not obvious from them.
fn hint(detail: &str) -> &'static str {
    if detail.contains("non-numeric user") {
        // The pod runs as non-root without naming a UID, so the image must name one.
        "; the validation pod runs as non-root and takes the user from the image, which must give it as a number: rebuild the image with a numeric USER (for example `USER 1000`, as Jupyter's images do)"
    } else {
        ""
    }
}

/// Whether any container of `pod` has started (is running, or ran and ended).
pub fn started(pod: &Pod) -> bool {
    let Some(status) = &pod.status else {
        return false;
    };
    status
        .init_container_statuses
        .iter()
        .chain(status.container_statuses.iter())
        .flatten()
        .filter_map(|c| c.state.as_ref())
        .any(|s| {
            s.running.is_some()
                || s.terminated
                    .as_ref()
                    .is_some_and(|t| t.started_at.is_some())
        })
}

/// What to tell about validation pod `pod` that never started: where to look, and the usual
/// causes, none of which the pod's status names.
pub fn never_started(pod: &str) -> String {
    format!(
        "its validation pod {pod} never started; `kubectl describe pod {pod}` shows why in its events (usually a credentialsSecret that does not exist, or no node that can take the pod; image pull errors fail the job earlier with ImagePullFailed)"
    )
}

/// Reads `pod`.
pub fn read(pod: &Pod) -> PodOutcome {
    let Some(status) = &pod.status else {
        return PodOutcome::Starting;
    };
    if let Some((reason, message)) = stuck(pod) {
        return PodOutcome::Failed { reason, message };
    }
    let phase = status.phase.as_deref().unwrap_or("Pending");
    match phase {
        "Pending" => PodOutcome::Starting,
        "Running" => PodOutcome::Running("the notebook is running".into()),
        "Succeeded" | "Failed" => finished(pod, phase),
        other => PodOutcome::Running(format!("the validation pod is {other}")),
    }
}

/// Why a container of `pod` waits for something that will not come (an image that does not
/// pull, a configuration the kubelet refuses), as a reason and a message.
pub fn stuck(pod: &Pod) -> Option<(Reason, String)> {
    let status = pod.status.as_ref()?;
    status
        .init_container_statuses
        .iter()
        .chain(status.container_statuses.iter())
        .flatten()
        .find_map(|container| {
            let waiting = container.state.as_ref()?.waiting.as_ref()?;
            let reason = waiting.reason.as_deref().unwrap_or_default();
            let (_, ours) = STUCK_REASONS.iter().find(|(k, _)| *k == reason)?;
            let detail = waiting
                .message
                .as_deref()
                .unwrap_or("no detail from the kubelet");
            Some((
                *ours,
                format!(
                    "container '{}' cannot start ({reason}): {detail}{}",
                    container.name,
                    hint(detail)
                ),
            ))
        })
}

fn finished(pod: &Pod, phase: &str) -> PodOutcome {
    let status = pod.status.clone().unwrap_or_default();
    if let Some(outcome) = stopped_by_kubelet(pod, &status) {
        return outcome;
    }
    if let Some(outcome) = failed_init(&status) {
        return outcome;
    }
    match terminated(status.container_statuses.as_ref(), VALIDATE_CONTAINER) {
        Some(main) => result(&main),
        None => PodOutcome::Failed {
            reason: Reason::ResultMissing,
            message: format!(
                "the validation pod is {phase} but its container reported no termination state"
            ),
        },
    }
}

/// A pod the kubelet stopped: past its deadline (the job's timeout), or evicted (retried).
fn stopped_by_kubelet(pod: &Pod, status: &PodStatus) -> Option<PodOutcome> {
    match status.reason.as_deref() {
        Some("DeadlineExceeded") => {
            let message = if started(pod) {
                "the validation pod ran past the job's timeout and was stopped".to_owned()
            } else {
                format!(
                    "the job's timeout passed before its pod ran: {}",
                    never_started(&pod.metadata.name.clone().unwrap_or_default())
                )
            };
            Some(PodOutcome::Failed {
                reason: Reason::JobTimeout,
                message,
            })
        }
        Some("Evicted") => Some(PodOutcome::Retryable {
            reason: Reason::PodEvicted,
            message: format!(
                "the validation pod was evicted: {}",
                status.message.clone().unwrap_or_default()
            ),
        }),
        _ => None,
    }
}

/// An init container that failed: the clone, the runner's installation, or one of the job's
/// own (`podConfig.initContainers`), which is an infrastructure failure, not the notebook's.
fn failed_init(status: &PodStatus) -> Option<PodOutcome> {
    status
        .init_container_statuses
        .iter()
        .flatten()
        .find_map(|init| {
            let t = init
                .state
                .as_ref()
                .and_then(|s| s.terminated.as_ref())
                .filter(|t| t.exit_code != 0)?;
            let reason = match init.name.as_str() {
                "clone" | "clone-golden" => Reason::FetchSourceFailed,
                "install-runner" => Reason::RunnerInstallFailed,
                _ => Reason::InitContainerFailed,
            };
            Some(PodOutcome::Failed {
                reason,
                message: format!(
                    "init container '{}' failed with exit code {}: {}",
                    init.name,
                    t.exit_code,
                    t.message.as_deref().unwrap_or_default().trim()
                ),
            })
        })
}

/// What the runner's container left: its result in the termination message, or why there is
/// none.
fn result(main: &ContainerStateTerminated) -> PodOutcome {
    let message = main.message.clone().unwrap_or_default();
    if message.trim().is_empty() {
        let how = main
            .reason
            .clone()
            .unwrap_or_else(|| "no reason given".into());
        let (reason, text) = if how == "OOMKilled" {
            (
                Reason::OutOfMemory,
                format!(
                    "the notebook ran out of memory (exit code {}); raise podConfig.resources.limits.memory",
                    main.exit_code
                ),
            )
        } else {
            (
                Reason::ResultMissing,
                format!(
                    "the runner exited with code {} ({how}) without writing a result",
                    main.exit_code
                ),
            )
        };
        return PodOutcome::Failed {
            reason,
            message: text,
        };
    }
    match Summary::from_json(&message) {
        Ok(summary) if summary.outcome == nbv_report::Outcome::InfrastructureError => {
            PodOutcome::Retryable {
                reason: Reason::InfrastructureError,
                message: summary.message.clone(),
            }
        }
        Ok(summary) => PodOutcome::Finished(Box::new(summary)),
        Err(e) => PodOutcome::Failed {
            reason: Reason::ResultUnreadable,
            message: format!("the runner's result could not be read: {e}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(status: serde_json::Value) -> Pod {
        serde_json::from_value(
            json!({ "metadata": { "name": "job-validation" }, "status": status }),
        )
        .expect("pod")
    }

    #[test]
    fn a_pod_stopped_by_its_deadline_says_whether_it_ever_ran() {
        let waiting = json!([{ "name": VALIDATE_CONTAINER, "image": "i", "imageID": "", "ready": false,
            "restartCount": 0, "state": { "waiting": { "reason": "ContainerCreating" } } }]);
        let never_ran = pod(json!({ "phase": "Failed", "reason": "DeadlineExceeded",
            "containerStatuses": waiting }));
        assert!(!started(&never_ran));
        let PodOutcome::Failed { reason, message } = read(&never_ran) else {
            panic!("{:?}", read(&never_ran));
        };
        assert_eq!(reason, Reason::JobTimeout);
        assert!(
            message.contains("job-validation never started")
                && message.contains("kubectl describe pod job-validation"),
            "{message}"
        );

        let ran = json!([{ "name": VALIDATE_CONTAINER, "image": "i", "imageID": "", "ready": false,
            "restartCount": 0, "state": { "terminated": { "exitCode": 137,
                "startedAt": "2026-01-01T10:00:00Z", "finishedAt": "2026-01-01T10:01:00Z" } } }]);
        let stopped = pod(json!({ "phase": "Failed", "reason": "DeadlineExceeded",
            "containerStatuses": ran }));
        assert!(started(&stopped));
        assert_eq!(
            read(&stopped),
            PodOutcome::Failed {
                reason: Reason::JobTimeout,
                message: "the validation pod ran past the job's timeout and was stopped".into(),
            }
        );
        assert!(!started(&pod(json!({ "phase": "Pending" }))));
    }

    #[test]
    fn a_failed_init_container_of_the_job_is_named_with_its_last_lines() {
        let init = |name: &str| {
            json!({ "name": name, "image": "i", "imageID": "", "ready": false, "restartCount": 0,
                "state": { "terminated": { "exitCode": 3, "message": "database not ready\n" } } })
        };
        let failed =
            |name: &str| pod(json!({ "phase": "Failed", "initContainerStatuses": [init(name)] }));
        let PodOutcome::Failed { reason, message } = read(&failed("wait-for-db")) else {
            panic!("{:?}", read(&failed("wait-for-db")));
        };
        assert_eq!(reason, Reason::InitContainerFailed);
        assert_eq!(
            message,
            "init container 'wait-for-db' failed with exit code 3: database not ready"
        );
        let PodOutcome::Failed { reason, .. } = read(&failed("clone-golden")) else {
            panic!("a failed clone");
        };
        assert_eq!(reason, Reason::FetchSourceFailed);
    }
}
