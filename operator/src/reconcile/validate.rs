//! Step 4: run the notebook in the validation pod, read its result and record it.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::events::EventType;

use super::validation_pod::{self, PodPlan};
use crate::crd::conditions::VALIDATION_COMPLETE;
use crate::crd::{ArtifactsLocation, NotebookValidationJob, Phase};
use crate::labels::FIELD_MANAGER;
use crate::reason::Reason;
use crate::steps::outcome::{self, PodOutcome};
use crate::steps::status::StatusUpdate;
use crate::steps::{Context, Error, Progress, pod_lifecycle};

/// Infrastructure failures of the validation pod retried before the job fails.
pub const MAX_INFRA_RETRIES: i32 = 3;

/// Runs the notebook in the validation pod and reads its result: observes the pod (creating it
/// when there is none), reads its outcome ([`outcome::read`], pure), then acts on it.
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
    let pod_step = PodStep {
        job,
        ctx,
        plan,
        pods: &pods,
        name: &name,
    };
    let Some(pod) = ctx.find_pod(&pods, &name).await? else {
        return pod_step.create(update).await;
    };
    match outcome::read(&pod) {
        PodOutcome::Starting => pod_step.starting(&pod, update).await,
        PodOutcome::Running(message) => {
            let message = format!("{message}{}", pod_step.retry_note());
            update.condition_unknown(VALIDATION_COMPLETE, Reason::Running, message.clone());
            update.phase(Phase::ValidationRunning, message);
            Ok(Progress::Waiting(None))
        }
        PodOutcome::Finished(summary) => {
            record(update, &summary);
            Ok(Progress::Done(()))
        }
        PodOutcome::Failed { reason, message } => {
            pod_step.failed(&pod, reason, message, update).await;
            Ok(Progress::Ended)
        }
        PodOutcome::Retryable { reason, message } => {
            Ok(pod_step.retry(reason, message, update).await)
        }
    }
}

/// The validation pod of one attempt, and what acting on it needs.
struct PodStep<'a> {
    job: &'a NotebookValidationJob,
    ctx: &'a Context,
    plan: &'a PodPlan<'a>,
    pods: &'a Api<Pod>,
    name: &'a str,
}

impl PodStep<'_> {
    /// Says which retry this attempt is, when it is one.
    fn retry_note(&self) -> String {
        if self.plan.attempt > 0 {
            format!(" (retry {} of {MAX_INFRA_RETRIES})", self.plan.attempt)
        } else {
            String::new()
        }
    }

    /// The same status from creating the pod until it runs, so that nothing is written in
    /// between.
    fn mark_starting(&self, update: &mut StatusUpdate) {
        let (name, image) = (self.name, self.plan.image);
        update.condition_unknown(
            VALIDATION_COMPLETE,
            Reason::PodCreated,
            format!(
                "validation pod {name} created with image {image}{}",
                self.retry_note()
            ),
        );
        update.phase(
            Phase::ValidationRunning,
            format!("validating in pod {name}"),
        );
    }

    /// Creates the pod; a pod too large to store or one the API server refuses ends the job,
    /// since every retry would meet the same refusal.
    async fn create(&self, update: &mut StatusUpdate) -> Result<Progress<()>, Error> {
        let (job, ctx) = (self.job, self.ctx);
        let pod = validation_pod::render(job, self.plan, &ctx.pod_settings);
        if let Err(message) = validation_pod::check_size(&pod) {
            ctx.fail(job, update, None, Reason::ObjectTooLarge, message)
                .await;
            return Ok(Progress::Ended);
        }
        let params = PostParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..PostParams::default()
        };
        match self.pods.create(&params, &pod).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            // The pod the spec describes is invalid (a volume, an env var, resources): it would
            // be refused on every retry.
            Err(kube::Error::Api(s)) if s.code == 422 => {
                let message = format!(
                    "the API server refused the validation pod: {}; fix the podConfig fields it names",
                    s.message
                );
                ctx.fail(job, update, None, Reason::InvalidPod, message)
                    .await;
                return Ok(Progress::Ended);
            }
            Err(e) => return Err(Error::kube("creating the validation pod")(e)),
        }
        self.mark_starting(update);
        Ok(Progress::Waiting(None))
    }

    /// A pod not started yet: one that cannot start (a missing secret or volume) ends the job
    /// with the reason; otherwise it is looked at again soon.
    async fn starting(&self, pod: &Pod, update: &mut StatusUpdate) -> Result<Progress<()>, Error> {
        let (job, ctx) = (self.job, self.ctx);
        let waited = pod
            .metadata
            .creation_timestamp
            .as_ref()
            .map_or(0, |t| update.now().0.as_second() - t.0.as_second());
        if waited >= pod_lifecycle::EVENTS_AFTER.as_secs().cast_signed()
            && let Some(why) = pod_lifecycle::unstartable(&ctx.client, job, pod).await
        {
            let message = match pod_lifecycle::stop(self.pods, pod).await {
                Some(stopped) => format!("{}; {stopped}", why.message),
                None => why.message,
            };
            ctx.fail(job, update, Some(VALIDATION_COMPLETE), why.reason, message)
                .await;
            return Ok(Progress::Ended);
        }
        self.mark_starting(update);
        // Nothing in the pod changes while a volume cannot be mounted: look again.
        Ok(Progress::Waiting(Some(pod_lifecycle::RECHECK)))
    }

    /// The pod failed for good: the job fails, and a failed pull names a missing pull secret.
    async fn failed(&self, pod: &Pod, reason: Reason, message: String, update: &mut StatusUpdate) {
        let (job, ctx) = (self.job, self.ctx);
        let (reason, message) = match reason {
            Reason::ImagePullFailed => {
                match pod_lifecycle::missing_pull_secret(&ctx.client, pod).await {
                    Some(missing) => (missing.reason, missing.message),
                    None => (reason, message),
                }
            }
            _ => (reason, message),
        };
        let message = match pod_lifecycle::stop(self.pods, pod).await {
            Some(stopped) => format!("{message}; {stopped}"),
            None => message,
        };
        ctx.fail(job, update, Some(VALIDATION_COMPLETE), reason, message)
            .await;
    }

    /// An infrastructure failure: retried in a new pod, up to [`MAX_INFRA_RETRIES`] times.
    async fn retry(
        &self,
        reason: Reason,
        message: String,
        update: &mut StatusUpdate,
    ) -> Progress<()> {
        let (job, ctx) = (self.job, self.ctx);
        let attempt = update.status.retry_count.unwrap_or(0);
        if attempt >= MAX_INFRA_RETRIES {
            let message = format!("{message} (after {attempt} retries)");
            ctx.fail(job, update, Some(VALIDATION_COMPLETE), reason, message)
                .await;
            return Progress::Ended;
        }
        // The old pod goes (its logs were an infrastructure failure); the next attempt gets a
        // new name, so no attempt is ever confused with another.
        if let Err(e) = self
            .pods
            .delete(self.name, &DeleteParams::background())
            .await
        {
            tracing::warn!(pod = %self.name, error = %e, "could not delete the failed validation pod");
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
        Progress::Waiting(Some(Duration::from_secs(1)))
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
