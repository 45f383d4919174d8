//! Step 4: run the notebook in the validation pod, read its result and record it.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;

use super::outcome::{self, PodOutcome};
use super::reason::Reason;
use super::status::{StatusUpdate, VALIDATION_COMPLETE};
use super::validation_pod::{self, PodPlan};
use super::{Context, Error, Progress, pod_lifecycle};
use crate::crd::{ArtifactsLocation, NotebookValidationJob, Phase};
use crate::labels::FIELD_MANAGER;

/// Infrastructure failures of the validation pod retried before the job fails.
pub const MAX_INFRA_RETRIES: i32 = 3;

/// The pod `name`, from the controller's cache of owned pods when it keeps one.
pub(crate) async fn find_pod(
    ctx: &Context,
    pods: &Api<Pod>,
    name: &str,
) -> Result<Option<Pod>, Error> {
    match &ctx.pods {
        Some(store) => {
            let namespace = pods.namespace().unwrap_or_default();
            Ok(store
                .get(&ObjectRef::new(name).within(namespace))
                .map(|p| Pod::clone(&p)))
        }
        None => pods
            .get_opt(name)
            .await
            .map_err(Error::kube("reading the validation pod")),
    }
}

/// Runs the notebook in the validation pod and reads its result.
pub(super) async fn run(
    job: &NotebookValidationJob,
    ctx: &Context,
    plan: &PodPlan<'_>,
    update: &mut StatusUpdate,
) -> Result<Progress<()>, Error> {
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &job.namespace().unwrap_or_default());
    let name = crate::labels::validation_pod_name(job, plan.attempt);
    update.status.validation_pod_name = Some(name.clone());
    update.status.artifacts = job.spec.artifacts.as_ref().map(|a| ArtifactsLocation {
        claim_name: a.claim_name.clone(),
        path: validation_pod::artifacts_path(job, plan.attempt),
    });
    let retry = if plan.attempt > 0 {
        format!(" (retry {} of {MAX_INFRA_RETRIES})", plan.attempt)
    } else {
        String::new()
    };
    // The same status from creating the pod until it runs, so that nothing is written in between.
    let starting = |update: &mut StatusUpdate| {
        update.condition_unknown(
            VALIDATION_COMPLETE,
            Reason::PodCreated,
            format!(
                "validation pod {name} created with image {}{retry}",
                plan.image
            ),
        );
        update.phase(
            Phase::ValidationRunning,
            format!("validating in pod {name}"),
        );
    };
    let Some(pod) = find_pod(ctx, &pods, &name).await? else {
        let pod = validation_pod::render(job, plan, &ctx.pod_settings);
        if let Err(message) = validation_pod::check_size(&pod) {
            ctx.fail_job(job, update, None, Reason::ObjectTooLarge, message)
                .await;
            return Ok(Progress::Ended);
        }
        match pods
            .create(
                &PostParams {
                    field_manager: Some(FIELD_MANAGER.into()),
                    ..PostParams::default()
                },
                &pod,
            )
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            // The pod the spec describes is invalid (a volume, an env var, resources): it would
            // be refused on every retry.
            Err(kube::Error::Api(s)) if s.code == 422 => {
                let message = format!(
                    "the API server refused the validation pod: {}; fix the podConfig fields it names",
                    s.message
                );
                ctx.fail_job(job, update, None, Reason::InvalidPod, message)
                    .await;
                return Ok(Progress::Ended);
            }
            Err(e) => return Err(Error::kube("creating the validation pod")(e)),
        }
        starting(update);
        return Ok(Progress::Waiting(None));
    };
    match outcome::read(&pod) {
        PodOutcome::Starting => {
            let waited = pod
                .metadata
                .creation_timestamp
                .as_ref()
                .map_or(0, |t| update.now().0.as_second() - t.0.as_second());
            if waited >= pod_lifecycle::EVENTS_AFTER.as_secs().cast_signed()
                && let Some(why) = pod_lifecycle::unstartable(&ctx.client, job, &pod).await
            {
                let stopped = pod_lifecycle::stop(&pods, &pod).await;
                let message = match stopped {
                    Some(stopped) => format!("{}; {stopped}", why.message),
                    None => why.message,
                };
                ctx.fail_job(job, update, Some(VALIDATION_COMPLETE), why.reason, message)
                    .await;
                return Ok(Progress::Ended);
            }
            starting(update);
            // Nothing in the pod changes while a volume cannot be mounted: look again.
            Ok(Progress::Waiting(Some(pod_lifecycle::RECHECK)))
        }
        PodOutcome::Running(message) => {
            let message = format!("{message}{retry}");
            update.condition_unknown(VALIDATION_COMPLETE, Reason::Running, message.clone());
            update.phase(Phase::ValidationRunning, message);
            Ok(Progress::Waiting(None))
        }
        PodOutcome::Finished(summary) => {
            record(update, &summary);
            Ok(Progress::Done(()))
        }
        PodOutcome::Failed { reason, message } => {
            // A failed pull says why when a pull secret is missing, not only that it failed.
            let (reason, message) = match reason {
                Reason::ImagePullFailed => {
                    match pod_lifecycle::missing_pull_secret(&ctx.client, &pod).await {
                        Some(missing) => (missing.reason, missing.message),
                        None => (reason, message),
                    }
                }
                _ => (reason, message),
            };
            let message = match pod_lifecycle::stop(&pods, &pod).await {
                Some(stopped) => format!("{message}; {stopped}"),
                None => message,
            };
            ctx.fail_job(job, update, Some(VALIDATION_COMPLETE), reason, message)
                .await;
            Ok(Progress::Ended)
        }
        PodOutcome::Retryable { reason, message } => {
            let attempt = update.status.retry_count.unwrap_or(0);
            if attempt >= MAX_INFRA_RETRIES {
                let message = format!("{message} (after {attempt} retries)");
                ctx.fail_job(job, update, Some(VALIDATION_COMPLETE), reason, message)
                    .await;
                return Ok(Progress::Ended);
            }
            // The old pod goes (its logs were an infrastructure failure); the next attempt gets a
            // new name, so no attempt is ever confused with another.
            if let Err(e) = pods.delete(&name, &DeleteParams::background()).await {
                tracing::warn!(pod = %name, error = %e, "could not delete the failed validation pod");
            }
            update.status.retry_count = Some(attempt + 1);
            let note = format!(
                "{message}; retrying ({} of {MAX_INFRA_RETRIES})",
                attempt + 1
            );
            update.condition_unknown(VALIDATION_COMPLETE, reason, note.clone());
            update.phase(Phase::ValidationRunning, note.clone());
            ctx.event(job, EventType::Warning, Reason::ValidationRetry, &note)
                .await;
            Ok(Progress::Waiting(Some(Duration::from_secs(1))))
        }
    }
}

/// Copies what the runner found into the status: per-cell results (of the cells that finished,
/// when execution stopped early), the comparison, the generated requirements, where it stopped.
pub(super) fn copy_results(update: &mut StatusUpdate, summary: &nbv_report::Summary) {
    update.status.results = summary.results.clone();
    update.status.comparison_result = summary.comparison_result.clone();
    update.status.generated_requirements = summary.generated_requirements.clone();
    update.status.stopped = summary.stopped.clone();
}

/// Copies the runner's summary into the status and ends the job.
fn record(update: &mut StatusUpdate, summary: &nbv_report::Summary) {
    use nbv_report::Outcome;
    copy_results(update, summary);
    let cut = summary
        .truncated
        .as_ref()
        .map(|t| {
            format!(
                " ({} results and {} diffs were cut to fit the termination message)",
                t.results_omitted, t.diffs_omitted
            )
        })
        .unwrap_or_default();
    let message = format!("{}{cut}", summary.message);
    match summary.outcome {
        Outcome::Passed => {
            update.condition(VALIDATION_COMPLETE, true, Reason::Passed, message.clone());
            update.succeed(message);
        }
        other => {
            let ran_out = summary
                .stopped
                .as_ref()
                .is_some_and(|s| s.reason == nbv_report::StopReason::TimeLimit);
            let reason = match other {
                // The runner's time limit is what the job's spec.timeout left.
                Outcome::NotebookFailed if ran_out => Reason::JobTimeout,
                Outcome::NotebookFailed => Reason::NotebookFailed,
                Outcome::OutputsDiffer => Reason::OutputMismatch,
                Outcome::InvalidInput => Reason::InvalidNotebook,
                _ => Reason::ValidationFailed,
            };
            update.condition(VALIDATION_COMPLETE, true, reason, message.clone());
            update.fail(reason, message);
        }
    }
}
