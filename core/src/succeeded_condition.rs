//! Reading the `Succeeded` condition that Tekton runs and Shipwright BuildRuns share (the
//! Knative convention): Unknown while running, True on success, False on failure.

use kube::api::DynamicObject;

use crate::resources::{condition, time_field};
use crate::{BuildPhase, BuildStatus};

/// How one backend words its `Succeeded` condition.
#[derive(Debug, Clone, Copy)]
pub struct Vocabulary {
    /// What the primary object is, for messages ("the TaskRun", "the BuildRun").
    pub object: &'static str,
    /// The controller that writes the condition, for the message before it does.
    pub controller: &'static str,
    /// Reasons of a `False` condition that mean the run was cancelled.
    pub cancelled: &'static [&'static str],
}

/// The status of `primary` without the image (each backend reports the digest its own way), with
/// the start and completion times of `/status/startTime` and `/status/completionTime`.
pub fn status(primary: &DynamicObject, words: &Vocabulary) -> BuildStatus {
    let start = time_field(primary, "/status/startTime");
    let completion = time_field(primary, "/status/completionTime");
    let Some(condition) = condition(primary, "Succeeded") else {
        return BuildStatus::new(
            BuildPhase::Pending,
            "Pending",
            format!(
                "waiting for the {} controller to start {}",
                words.controller, words.object
            ),
        );
    };
    let reason = condition["reason"].as_str().unwrap_or("Unknown").to_owned();
    let given = condition["message"].as_str().unwrap_or_default().to_owned();
    let message = |fallback: String| {
        if given.is_empty() {
            fallback
        } else {
            given.clone()
        }
    };
    let status = match condition["status"].as_str() {
        Some("True") => BuildStatus::new(
            BuildPhase::Succeeded,
            reason,
            message(format!("{} succeeded", words.object)),
        ),
        Some("False") if words.cancelled.contains(&reason.as_str()) => BuildStatus::new(
            BuildPhase::Cancelled,
            reason,
            message(format!("{} was cancelled", words.object)),
        ),
        Some("False") => BuildStatus::new(
            BuildPhase::Failed,
            reason,
            message(format!("{} failed", words.object)),
        ),
        // "Started" before a start time means the controller accepted the run but no pod runs yet.
        _ if reason == "Pending" || (reason == "Started" && start.is_none()) => BuildStatus::new(
            BuildPhase::Pending,
            reason,
            message(format!("{} is pending", words.object)),
        ),
        _ => BuildStatus::new(
            BuildPhase::Running,
            reason,
            message(format!("{} is running", words.object)),
        ),
    };
    status.with_times(start, completion)
}

#[cfg(test)]
mod tests {
    use kube::core::{ApiResource, GroupVersionKind};
    use serde_json::{Value, json};

    use super::*;

    const WORDS: Vocabulary = Vocabulary {
        object: "the Run",
        controller: "Example",
        cancelled: &["RunCancelled"],
    };

    fn run(status: Value) -> DynamicObject {
        let api = ApiResource::from_gvk(&GroupVersionKind::gvk("example.com", "v1", "Run"));
        DynamicObject::new("r", &api).data(json!({ "status": status }))
    }

    fn read(status: Value) -> (BuildPhase, String, String) {
        let s = super::status(&run(status), &WORDS);
        (s.phase, s.reason, s.message)
    }

    #[test]
    fn the_condition_decides_the_phase() {
        let succeeded = |status: &str, reason: &str| json!({ "conditions": [{ "type": "Succeeded", "status": status, "reason": reason }] });
        assert_eq!(read(json!({})).0, BuildPhase::Pending);
        assert!(
            read(json!({}))
                .2
                .contains("waiting for the Example controller")
        );
        assert_eq!(
            read(succeeded("True", "Succeeded")).0,
            BuildPhase::Succeeded
        );
        assert_eq!(read(succeeded("False", "Failed")).0, BuildPhase::Failed);
        assert_eq!(
            read(succeeded("False", "RunCancelled")).0,
            BuildPhase::Cancelled
        );
        assert_eq!(read(succeeded("Unknown", "Pending")).0, BuildPhase::Pending);
        // Accepted, but nothing runs before a start time.
        assert_eq!(read(succeeded("Unknown", "Started")).0, BuildPhase::Pending);
        let mut started = succeeded("Unknown", "Started");
        started["startTime"] = json!("2026-11-21T13:30:55Z");
        assert_eq!(read(started).0, BuildPhase::Running);
    }

    #[test]
    fn the_backends_message_wins_over_the_fallback() {
        let failed = json!({ "conditions": [{ "type": "Succeeded", "status": "False",
            "reason": "Failed", "message": "step build exited with 1" }] });
        assert_eq!(
            read(failed),
            (
                BuildPhase::Failed,
                "Failed".to_owned(),
                "step build exited with 1".to_owned()
            )
        );
        let bare = json!({ "conditions": [{ "type": "Succeeded", "status": "False", "reason": "Failed" }] });
        assert_eq!(read(bare).2, "the Run failed");
    }
}
