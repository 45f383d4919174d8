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
