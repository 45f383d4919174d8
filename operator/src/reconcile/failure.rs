//! What a reconcile does when a job cannot go on: a reconcile error that keeps repeating, a
//! permission the operator lacks, a job past its `spec.timeout`.

use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;

use super::persist::persist;
use super::plan::{self, ImageSource};
use super::validate;
use crate::crd::conditions::{RECONCILED, VALIDATION_COMPLETE};
use crate::crd::{DEFAULT_JOB_TIMEOUT, NotebookValidationJob, NotebookValidationJobStatus};
use crate::identity::identity;
use crate::reason::Reason;
use crate::steps::skeleton::retry_key;
use crate::steps::status::StatusUpdate;
use crate::steps::{Context, Error, build, outcome, pod_lifecycle};

/// A reconcile that failed: its error goes to the job's status (condition `Reconciled`, with the
/// attempt count) and is retried with backoff; once the job is past `spec.timeout` the job fails
/// with that error instead. Starting from the status as it was, not from the half-done update:
/// the steps after the failure never ran.
pub(super) async fn failed_reconcile(
    job: &NotebookValidationJob,
    ctx: &Context,
    current: Option<&NotebookValidationJobStatus>,
    error: Error,
) -> Result<Action, Error> {
    let attempts = ctx.failed_attempts(&retry_key(job));
    let mut update = StatusUpdate::new(current, job.metadata.generation);
    let limit = job.timeout().unwrap_or(DEFAULT_JOB_TIMEOUT);
    let limit_secs = i64::try_from(limit.as_secs()).unwrap_or(i64::MAX);
    let ended = update.elapsed_secs() >= limit_secs;
    if ended {
        let message = format!(
            "the job could not be reconciled within spec.timeout ({limit_secs}s); attempt {attempts} failed: {error}"
        );
        ctx.fail(job, &mut update, None, Reason::ReconcileFailed, message)
            .await;
    } else {
        update.condition(
            RECONCILED,
            false,
            Reason::ReconcileError,
            format!("attempt {attempts} failed: {error}"),
        );
        if attempts == 1 {
            ctx.event(
                job,
                EventType::Warning,
                Reason::ReconcileError,
                &error.to_string(),
            )
            .await;
        }
    }
    // The status cannot be written either: the original error says more.
    if let Err(write) = persist(job, ctx, current, update.status).await {
        tracing::warn!(job = %job.name_any(), error = %write, "could not record a failed reconcile in status");
        return Err(error);
    }
    if ended {
        Ok(Action::await_change())
    } else {
        Err(error)
    }
}

/// A permission the operator lacks fails the job with the API server's message: retrying
/// cannot help until an administrator grants it, and the message says what to grant.
pub(super) async fn forbidden(
    job: &NotebookValidationJob,
    ctx: &Context,
    update: &mut StatusUpdate,
    denied: &str,
) {
    let message = format!(
        "the operator's service account lacks a permission: {denied}; add it to the operator's ClusterRole (`cargo xtask manifests` generates the role for the strategies compiled in)"
    );
    ctx.fail(job, update, None, Reason::Forbidden, message)
        .await;
}

pub(super) async fn timed_out(
    job: &NotebookValidationJob,
    ctx: &Context,
    plan: &plan::Plan,
    update: &mut StatusUpdate,
) -> Result<Action, Error> {
    ctx.claims.release_job(&identity(job));
    // A build still running when the job's time is up is stopped too.
    if let ImageSource::Build { request, .. } = &plan.image
        && let Some(report) = &update.status.build_status
        && report.phase.is_some_and(|phase| !phase.is_terminal())
        && let Some(strategy) = report
            .strategy
            .as_deref()
            .and_then(|s| ctx.catalog.registry().get(s))
    {
        build::cancel(ctx, strategy.as_ref(), request).await;
    }
    let mut message = format!(
        "the job ran longer than spec.timeout ({}s) and was stopped",
        plan.job_timeout.as_secs()
    );
    // A pod that never started is the usual cause; say so, and where to look. The notebook
    // must not run on after the verdict.
    if let Some(name) = update.status.validation_pod_name.clone() {
        let pods: Api<Pod> =
            Api::namespaced(ctx.client.clone(), &job.namespace().unwrap_or_default());
        let (never_started, stopped) = match ctx.find_pod(&pods, &name).await {
            Ok(Some(pod)) => {
                // The runner stops the notebook a little before the deadline: what it found
                // may be there, not yet recorded.
                if let outcome::PodOutcome::Finished(summary) = outcome::read(&pod) {
                    validate::copy_results(update, &summary);
                    message = format!("{message}; {}", summary.message);
                }
                (
                    !outcome::started(&pod),
                    pod_lifecycle::stop(&pods, &pod).await,
                )
            }
            // Gone already (a reconcile that stopped it and then failed to write the status):
            // the status last written says whether it had started.
            _ => (
                update.status.conditions.iter().any(|c| {
                    c.type_ == VALIDATION_COMPLETE
                        && c.status == "Unknown"
                        && c.reason.parse() == Ok(Reason::PodCreated)
                }),
                None,
            ),
        };
        if never_started {
            message = format!("{message}: {}", outcome::never_started(&name));
        }
        if let Some(stopped) = stopped {
            message = format!("{message}; {stopped}");
        }
    }
    // Time ran out while a reconcile kept failing: that error is what broke.
    let failing = update
        .status
        .conditions
        .iter()
        .find(|c| c.type_ == RECONCILED && c.status == "False")
        .map(|c| c.message.clone());
    let reason = match failing {
        Some(error) => {
            message = format!("{message}; the last reconcile {error}");
            Reason::ReconcileFailed
        }
        None => Reason::JobTimeout,
    };
    ctx.fail(job, update, None, reason, message).await;
    Ok(Action::await_change())
}
