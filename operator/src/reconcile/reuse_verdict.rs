//! Step 3b: with `spec.reuseResults`, the verdict of an earlier job of the namespace takes the
//! place of a validation pod, when everything that decides the verdict is the same.
//!
//! What decides it is hashed into the job's validation key: the notebook and the golden (URL,
//! commit, path), the image by digest, the parameters and the comparison, execution and pod
//! settings (the names of the Secrets the pod reads, never their content), the runner and the
//! operator. An input that cannot be pinned (a branch, an image tag, requirements the runner
//! installs at start) makes the verdict not reusable, and the `ValidationReused` condition
//! says which. Only verdicts the notebook decided pass on: passed, failed, differing or
//! invalid; not a timeout or an infrastructure failure.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::ResourceExt;
use kube::runtime::events::EventType;
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::crd::conditions::{VALIDATION_COMPLETE, VALIDATION_REUSED};
use crate::crd::{NotebookSource, NotebookValidationJob, NotebookValidationJobSpec};
use crate::identity::identity;
use crate::reason::Reason;
use crate::steps::reuse::Reusable;
use crate::steps::status::StatusUpdate;
use crate::steps::{Context, Error, Progress};

/// The verdicts the notebook itself decided: the ones another job may take.
const VERDICTS: [Reason; 4] = [
    Reason::Passed,
    Reason::NotebookFailed,
    Reason::OutputMismatch,
    Reason::InvalidNotebook,
];

/// What decides a verdict, as hashed.
#[derive(Serialize)]
struct Inputs<'a> {
    /// The operator's version: its comparison rules and the pod it renders change with it.
    operator: &'static str,
    runner_image: &'a str,
    image: &'a str,
    /// The spec without what does not decide the verdict: the build (the image digest stands
    /// for it), the job's time bound (a verdict reached within it is the same), where artifacts
    /// go, and the reuse switch itself.
    spec: &'a NotebookValidationJobSpec,
}

/// The validation key of `job` run in `image` by `runner_image`, or why it has none.
/// `installs_at_start` says whether the runner installs requirements when the pod starts.
pub fn key(
    job: &NotebookValidationJob,
    image: &str,
    installs_at_start: bool,
    runner_image: &str,
) -> Reusable {
    let sources = std::iter::once(("notebook", &job.spec.notebook)).chain(
        job.spec
            .golden_notebook
            .iter()
            .map(|g| ("goldenNotebook", g)),
    );
    for (field, source) in sources {
        if let Some(why) = unpinned(field, source) {
            return Reusable::No(why);
        }
    }
    if !image.contains("@sha256:") {
        return Reusable::No(format!(
            "image '{image}' has no digest and its tag may move, so the verdict is not reused; pin podConfig.containerImage by digest (image@sha256:...) or build the image"
        ));
    }
    if installs_at_start {
        return Reusable::No(
            "the runner installs the requirements when the pod starts, and what an index serves may change, so the verdict is not reused; build the image (podConfig.buildConfig) to reuse verdicts".to_owned(),
        );
    }
    let mut spec = job.spec.clone();
    if let Some(pod) = spec.pod_config.as_mut() {
        pod.build_config = None;
    }
    spec.timeout = None;
    spec.artifacts = None;
    spec.reuse_results = None;
    let inputs = Inputs {
        operator: env!("CARGO_PKG_VERSION"),
        runner_image,
        image,
        spec: &spec,
    };
    let json = serde_json::to_vec(&inputs).unwrap_or_default();
    Reusable::Key(format!("sha256:{:x}", Sha256::digest(json)))
}

/// Why `source` is not pinned to a commit, if it is not.
fn unpinned(field: &str, source: &NotebookSource) -> Option<String> {
    crate::steps::reuse::unpinned(source.git.git_ref.as_deref()).map(|what| {
        format!(
            "{field}: {what} names no commit, so the verdict is not reused; set {field}.git.ref to a commit SHA to reuse verdicts"
        )
    })
}

/// The newest job among `jobs` in `namespace`, other than `me`, whose verdict was decided by
/// the notebook with validation key `key`.
pub fn find<'a>(
    jobs: impl IntoIterator<Item = &'a NotebookValidationJob>,
    key: &str,
    namespace: &str,
    me: &str,
) -> Option<&'a NotebookValidationJob> {
    jobs.into_iter()
        .filter(|job| job.namespace().as_deref() == Some(namespace) && identity(*job) != me)
        .filter_map(|job| {
            let status = job.status.as_ref()?;
            let decided = verdict(&status.conditions).is_some();
            (status.validation_key.as_deref() == Some(key) && status.is_terminal() && decided)
                .then(|| (status.completion_time.as_ref().map(|t| t.0), job))
        })
        .max_by_key(|(completed, _)| *completed)
        .map(|(_, job)| job)
}

/// The verdict in `conditions`: `ValidationComplete` True with a reason the notebook decided.
fn verdict(conditions: &[Condition]) -> Option<(Reason, &str)> {
    let complete = conditions
        .iter()
        .find(|c| c.type_ == VALIDATION_COMPLETE && c.status == "True")?;
    let reason: Reason = complete.reason.parse().ok()?;
    VERDICTS
        .contains(&reason)
        .then_some((reason, complete.message.as_str()))
}

/// The step: with `spec.reuseResults`, before the first validation pod, looks for an earlier
/// verdict with the same key. Ends the job with that verdict when there is one; otherwise
/// records the key (so that later jobs can reuse this one's verdict) and goes on.
pub(super) async fn run(
    job: &NotebookValidationJob,
    ctx: &Context,
    image: &str,
    installs_at_start: bool,
    update: &mut StatusUpdate,
) -> Result<Progress<()>, Error> {
    if !job.spec.reuse_results.unwrap_or(false) || update.status.validation_pod_name.is_some() {
        return Ok(Progress::Done(()));
    }
    let key = match key(
        job,
        image,
        installs_at_start,
        &ctx.pod_settings.runner_image,
    ) {
        Reusable::Key(key) => key,
        Reusable::No(why) => {
            update.condition(VALIDATION_REUSED, false, Reason::ValidationNotReused, why);
            return Ok(Progress::Done(()));
        }
    };
    let namespace = job.namespace().unwrap_or_default();
    // Only the jobs with this key are copied out of the cache: a suite of thousands of jobs
    // looks up once per job.
    let with_key = |job: &NotebookValidationJob| {
        job.status
            .as_ref()
            .and_then(|s| s.validation_key.as_deref())
            == Some(key.as_str())
    };
    let jobs = ctx.jobs_in(Some(&namespace), with_key).await?;
    let Some(source) = find(&jobs, &key, &namespace, &identity(job)) else {
        update.condition(
            VALIDATION_REUSED,
            false,
            Reason::ValidationNotReused,
            format!("no earlier job of the namespace reached a verdict with the same inputs (validation key {key}); the notebook runs"),
        );
        update.status.validation_key = Some(key);
        return Ok(Progress::Done(()));
    };
    take(job, ctx, source, image, key, update).await;
    Ok(Progress::Ended)
}

/// Ends the job with `source`'s verdict: its results, comparison and conditions' reason.
async fn take(
    job: &NotebookValidationJob,
    ctx: &Context,
    source: &NotebookValidationJob,
    image: &str,
    key: String,
    update: &mut StatusUpdate,
) {
    let Some(status) = source.status.as_ref() else {
        return;
    };
    let Some((reason, said)) = verdict(&status.conditions) else {
        return;
    };
    // A verdict reused twice names the job that ran it.
    let from = status
        .validation_reused_from
        .clone()
        .unwrap_or_else(|| identity(source));
    update.status.results.clone_from(&status.results);
    update
        .status
        .comparison_result
        .clone_from(&status.comparison_result);
    update.status.stopped.clone_from(&status.stopped);
    update.status.artifacts.clone_from(&status.artifacts);
    update.status.validation_key = Some(key);
    update.status.validation_reused_from = Some(from.clone());
    let reused = format!(
        "took the verdict of job {from}, which validated the same notebook and golden at the same commits in image {image} with the same settings; no pod ran"
    );
    update.condition(
        VALIDATION_REUSED,
        true,
        Reason::ValidationReused,
        reused.clone(),
    );
    let message = format!("{said} (verdict of job {from})");
    update.condition(VALIDATION_COMPLETE, true, reason, message.clone());
    if reason == Reason::Passed {
        update.succeed(message);
    } else {
        update.fail(reason, message);
    }
    ctx.event(job, EventType::Normal, Reason::ValidationReused, &reused)
        .await;
}
