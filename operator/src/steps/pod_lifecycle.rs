//! The validation pod around its run: noticing early that it can never start, and stopping it
//! once the job has its verdict.
//!
//! A pod whose volume cannot be mounted (a `credentialsSecret` that does not exist) stays Pending
//! with nothing in its status, and the kubelet does not enforce `activeDeadlineSeconds` while it
//! waits for the mount; only the kubelet's events say why. So after [`EVENTS_AFTER`] of waiting,
//! the operator reads the pod's `FailedMount` events (a `list` on events, in its role).

use std::time::Duration;

use k8s_openapi::api::core::v1::{
    Capabilities, Container, Event, Pod, PodSecurityContext, PodSpec, SeccompProfile,
    SecurityContext,
};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};

use super::outcome;
use crate::crd::NotebookValidationJob;
use crate::labels::FIELD_MANAGER;
use crate::reason::Reason;

/// How long a pod may wait to start before its events are read.
pub const EVENTS_AFTER: Duration = Duration::from_secs(3);
/// How often a pod that has not started is looked at again.
pub const RECHECK: Duration = Duration::from_secs(3);

/// Why a pod can never start, as a condition reason and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unstartable {
    /// `CredentialsSecretNotFound`, `VolumeNotFound` or `PullSecretNotFound`.
    pub reason: Reason,
    /// What is missing and what to do.
    pub message: String,
}

/// Reads the kubelet's `FailedMount` events of `pod`: a Secret or ConfigMap that does not exist
/// never mounts. `None` when nothing says so, or when the operator may not read events (the
/// job's timeout still ends it then).
pub async fn unstartable(
    client: &kube::Client,
    job: &NotebookValidationJob,
    pod: &Pod,
) -> Option<Unstartable> {
    let namespace = pod.namespace().unwrap_or_default();
    event_messages(client, pod, "FailedMount")
        .await?
        .iter()
        .find_map(|message| missing_object(job, &namespace, message))
}

/// A pull that failed because a pull secret the pod names does not exist: the kubelet says so
/// in a `FailedToRetrieveImagePullSecret` event, then pulls without it. `None` when the pod
/// names no pull secret or nothing says one is missing.
pub async fn missing_pull_secret(client: &kube::Client, pod: &Pod) -> Option<Unstartable> {
    let names: Vec<String> = pod
        .spec
        .as_ref()?
        .image_pull_secrets
        .as_ref()?
        .iter()
        .map(|r| format!("\"{}\"", r.name))
        .collect();
    let messages = event_messages(client, pod, "FailedToRetrieveImagePullSecret").await?;
    let kubelet = messages.first()?;
    Some(Unstartable {
        reason: Reason::PullSecretNotFound,
        message: format!(
            "the image could not be pulled, and a pull secret of the pod ({}) does not exist in namespace {}: create it (type kubernetes.io/dockerconfigjson) or correct podConfig.imagePullSecrets or buildConfig.pushSecret (kubelet: {kubelet})",
            names.join(", "),
            pod.namespace().unwrap_or_default()
        ),
    })
}

/// The messages of the events with `reason` about `pod`; `None` when the operator may not read
/// events (it says so in its log).
pub async fn event_messages(client: &kube::Client, pod: &Pod, reason: &str) -> Option<Vec<String>> {
    let uid = pod.uid()?;
    let events: Api<Event> = Api::namespaced(client.clone(), &pod.namespace().unwrap_or_default());
    let params = ListParams::default().fields(&format!("involvedObject.uid={uid},reason={reason}"));
    match events.list(&params).await {
        Ok(list) => Some(list.items.into_iter().filter_map(|e| e.message).collect()),
        Err(e) => {
            tracing::warn!(pod = %pod.name_any(), error = %e, "cannot read the pod's events; a pod that cannot start ends at its timeout");
            None
        }
    }
}

/// The kubelet's `... secret "name" not found` (or configmap), explained.
fn missing_object(
    job: &NotebookValidationJob,
    namespace: &str,
    message: &str,
) -> Option<Unstartable> {
    let (kind, rest) = ["secret", "configmap"].iter().find_map(|kind| {
        message
            .split_once(&format!("{kind} \""))
            .map(|(_, rest)| (*kind, rest))
    })?;
    let (name, tail) = rest.split_once('"')?;
    if !tail.trim_start().starts_with("not found") {
        return None;
    }
    let credentials = [Some(&job.spec.notebook), job.spec.golden_notebook.as_ref()]
        .into_iter()
        .flatten()
        .find(|source| source.git.credentials_secret.as_deref() == Some(name));
    Some(match credentials {
        Some(_) => Unstartable {
            reason: Reason::CredentialsSecretNotFound,
            message: format!(
                "the credentialsSecret \"{name}\" does not exist in namespace {namespace}: create it (keys username and password, or ssh-privatekey) or correct the job's credentialsSecret, then re-create the job"
            ),
        },
        None => Unstartable {
            reason: Reason::VolumeNotFound,
            message: format!(
                "the validation pod cannot mount {kind} \"{name}\", which does not exist in namespace {namespace}: create it or correct podConfig.volumes (kubelet: {message})"
            ),
        },
    })
}

/// Stops the validation pod once the job has its verdict, keeping what a user needs: a pod whose
/// containers ran is ended through its deadline, so its logs stay readable; a pod that never
/// started has no logs and is deleted (its events outlive it). Returns what happened, for the
/// status message; nothing for a pod that already finished.
pub async fn stop(pods: &Api<Pod>, pod: &Pod) -> Option<String> {
    let name = pod.name_any();
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    if matches!(phase, Some("Succeeded" | "Failed")) {
        return None;
    }
    if outcome::started(pod) {
        // The kubelet kills a pod past its deadline at once; lowering it is allowed.
        let patch = serde_json::json!({"spec": {"activeDeadlineSeconds": 1}});
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..PatchParams::default()
        };
        match pods.patch(&name, &params, &Patch::Merge(&patch)).await {
            Ok(_) => Some(format!(
                "validation pod {name} was stopped; `kubectl logs {name} --all-containers` shows what it did"
            )),
            Err(e) => {
                tracing::warn!(pod = %name, error = %e, "could not stop the validation pod");
                None
            }
        }
    } else {
        match pods.delete(&name, &DeleteParams::background()).await {
            Ok(_) => Some(format!(
                "validation pod {name}, which never started, was deleted; its events stay for about an hour: `kubectl get events --field-selector involvedObject.name={name}`"
            )),
            Err(e) => {
                tracing::warn!(pod = %name, error = %e, "could not delete the validation pod");
                None
            }
        }
    }
}

/// The security context of every container the operator runs itself: Pod Security's
/// `restricted` level.
pub(crate) fn restricted() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        run_as_non_root: Some(true),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            add: None,
        }),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".into(),
            localhost_profile: None,
        }),
        ..SecurityContext::default()
    }
}

/// The spec of a pod the operator runs once for a fact (an image's digest, a repository's
/// notebooks): never restarted, bounded by `deadline_secs`, non-root, without the service
/// account's token or the namespace's service links.
pub fn one_shot(deadline_secs: i64, containers: Vec<Container>) -> PodSpec {
    PodSpec {
        restart_policy: Some("Never".into()),
        active_deadline_seconds: Some(deadline_secs),
        automount_service_account_token: Some(false),
        enable_service_links: Some(false),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            ..PodSecurityContext::default()
        }),
        containers,
        ..PodSpec::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> NotebookValidationJob {
        serde_yaml_ng::from_str(
            "apiVersion: mlops.redhat.com/v1alpha1\nkind: NotebookValidationJob\nmetadata:\n  name: j\nspec:\n  notebook:\n    git:\n      url: https://example.com/r.git\n      credentialsSecret: git-creds\n    path: a.ipynb\n",
        )
        .expect("job")
    }

    #[test]
    fn a_missing_credentials_secret_is_named_with_what_to_do() {
        let found = missing_object(
            &job(),
            "team",
            "MountVolume.SetUp failed for volume \"clone-credentials\" : secret \"git-creds\" not found",
        )
        .expect("recognised");
        assert_eq!(found.reason, Reason::CredentialsSecretNotFound);
        assert!(
            found
                .message
                .contains("\"git-creds\" does not exist in namespace team"),
            "{}",
            found.message
        );
    }

    #[test]
    fn other_missing_objects_and_other_failures() {
        let found = missing_object(
            &job(),
            "team",
            "MountVolume.SetUp failed for volume \"data\" : configmap \"inputs\" not found",
        )
        .expect("recognised");
        assert_eq!(found.reason, Reason::VolumeNotFound);
        assert!(missing_object(&job(), "team", "MountVolume.SetUp failed: timed out").is_none());
        assert!(missing_object(&job(), "team", "secret \"x\" is being deleted").is_none());
    }
}
