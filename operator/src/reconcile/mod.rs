//! The reconcile pipeline, one module per step:
//! [`plan`] (read the spec) → [`select`] (choose a strategy) → [`build`] (drive the build) →
//! [`validation_pod`] and [`outcome`] (run the notebook, read its result) → [`status`] (write
//! phase and conditions with server-side apply).
//!
//! Every step is idempotent and derives what to do from what exists: the build and the pod have
//! deterministic names, so an operator restarted at any point finds them instead of creating
//! second ones.

pub mod build;
pub mod outcome;
pub mod plan;
pub mod pod_lifecycle;
pub mod select;
pub mod status;
pub mod validation_pod;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;

use self::outcome::PodOutcome;
use self::plan::ImageSource;
use self::status::{RECONCILED, StatusMemo, StatusUpdate, VALIDATION_COMPLETE};
use self::validation_pod::{PodPlan, PodSettings};
use crate::catalog::Catalog;
use crate::crd::{NotebookValidationJob, NotebookValidationJobStatus, Phase};
use crate::health::Health;
use crate::labels::{FIELD_MANAGER, FINALIZER};
use crate::metrics::Metrics;

/// Infrastructure failures of the validation pod retried before the job fails.
pub const MAX_INFRA_RETRIES: i32 = 3;

/// What a step reached.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress<T> {
    /// Done, with its product.
    Done(T),
    /// Waiting on the cluster; a watch event wakes the job, or the timer when given.
    Waiting(Option<Duration>),
    /// The job ended (status says how).
    Ended,
}

/// Errors that make a reconcile retry with backoff. Failures of the job itself are not errors:
/// they are written to its status.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Kubernetes call failed.
    #[error("{action}: {source}")]
    Kube {
        /// What the operator was doing.
        action: &'static str,
        /// The client error.
        #[source]
        source: kube::Error,
    },
    /// A strategy call failed.
    #[error(transparent)]
    Strategy(buildstrategy_api::StrategyError),
    /// Strategy detection failed.
    #[error(transparent)]
    Select(select::SelectError),
    /// The finalizer could not be added or removed.
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
}

impl Error {
    fn kube(action: &'static str) -> impl FnOnce(kube::Error) -> Self {
        move |source| Self::Kube { action, source }
    }

    /// A short machine-readable kind, for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Kube { .. } => "kube",
            Self::Strategy(_) => "strategy",
            Self::Select(_) => "select",
            Self::Finalizer(_) => "finalizer",
        }
    }

    /// The API server's message when it refused a call for lack of permission (403). It names
    /// the verb, resource and API group the operator's role is missing.
    pub fn forbidden(&self) -> Option<&str> {
        let source = match self {
            Self::Kube { source, .. }
            | Self::Strategy(buildstrategy_api::StrategyError::Kube { source, .. }) => source,
            _ => return None,
        };
        match source {
            // An exhausted quota is refused with 403 too, but it is no missing permission and
            // may clear: it is retried like any other error.
            kube::Error::Api(status)
                if status.code == 403
                    && !status.message.contains("exceeded quota")
                    && !status.message.contains("status unknown for quota") =>
            {
                Some(&status.message)
            }
            _ => None,
        }
    }
}

/// What every reconcile shares.
pub struct Context {
    /// The API client.
    pub client: Client,
    /// The strategies of this build and their switches.
    pub catalog: Catalog,
    /// Validation pod settings.
    pub pod_settings: PodSettings,
    /// The image used when a job neither names nor builds one.
    pub default_image: String,
    /// Publishes Kubernetes Events on jobs.
    pub recorder: Recorder,
    /// Cached strategy detection.
    pub detection: select::DetectionCache,
    /// The operator's Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Readiness, as `/readyz` reports it.
    pub health: Arc<Health>,
    backoff: Mutex<HashMap<String, u32>>,
    /// The status last written for each job in progress.
    pub written: StatusMemo,
    /// The cache of the pods jobs own, when the controller keeps one.
    pods: Option<Store<Pod>>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("catalog", &self.catalog)
            .field("pod_settings", &self.pod_settings)
            .field("default_image", &self.default_image)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// A context for `client`.
    pub fn new(
        client: Client,
        catalog: Catalog,
        pod_settings: PodSettings,
        default_image: String,
    ) -> Self {
        let recorder = Recorder::new(client.clone(), "nbv-operator".into());
        Self {
            client,
            catalog,
            pod_settings,
            default_image,
            recorder,
            detection: select::DetectionCache::default(),
            metrics: Arc::default(),
            health: Arc::default(),
            backoff: Mutex::default(),
            written: StatusMemo::default(),
            pods: None,
        }
    }

    /// Reads validation pods from `pods`, the controller's cache of the pods jobs own, instead of
    /// asking the API server.
    pub fn use_pod_cache(&mut self, pods: Store<Pod>) {
        self.pods = Some(pods);
    }

    /// Publishes an Event on `job`; failing to publish is logged, never fatal.
    pub async fn event(
        &self,
        job: &NotebookValidationJob,
        type_: EventType,
        reason: &str,
        note: &str,
    ) {
        let event = Event {
            type_,
            reason: reason.to_owned(),
            note: Some(buildstrategy_api::LogTail::new(40, 1024).apply(note)),
            action: "Reconcile".into(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&event, &job.object_ref(&())).await {
            tracing::warn!(job = %job.name_any(), error = %e, "could not publish an event");
        }
    }

    /// Ends the job as failed with `reason` and `message`: on `condition` first when given, then
    /// on every open condition and `Ready` (see [`StatusUpdate::fail`]), and in a Warning event
    /// saying the same.
    pub async fn fail_job(
        &self,
        job: &NotebookValidationJob,
        update: &mut StatusUpdate,
        condition: Option<&str>,
        reason: &str,
        message: String,
    ) {
        if let Some(condition) = condition {
            update.condition(condition, false, reason, message.clone());
        }
        update.fail(reason, message.clone());
        self.event(job, EventType::Warning, reason, &message).await;
    }
}

/// Reconciles one job.
pub async fn reconcile(
    job: Arc<NotebookValidationJob>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let namespace = job.namespace().unwrap_or_default();
    let key = namespace_name(&namespace, &job.name_any());
    let api: Api<NotebookValidationJob> = Api::namespaced(ctx.client.clone(), &namespace);
    let builds = job.spec.pod_config.as_ref().is_some_and(|p| {
        p.container_image.is_none() && p.build_config.as_ref().is_some_and(|b| b.enabled)
    });
    let has_finalizer = job.finalizers().iter().any(|f| f == FINALIZER);
    let result = if builds || has_finalizer {
        // Only jobs that build need a finalizer: everything else is removed by garbage collection.
        finalizer(&api, FINALIZER, job, |event| async {
            match event {
                FinalizerEvent::Apply(job) => apply(&job, &ctx).await,
                FinalizerEvent::Cleanup(job) => cleanup(&job, &ctx).await,
            }
        })
        .await
        .map_err(|e| Error::Finalizer(Box::new(e)))
    } else if job.meta().deletion_timestamp.is_some() {
        Ok(Action::await_change())
    } else {
        apply(&job, &ctx).await
    };
    if result.is_ok()
        && let Ok(mut backoff) = ctx.backoff.lock()
    {
        backoff.remove(&key);
    }
    result
}

fn namespace_name(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

/// Retries failed reconciles with exponential backoff: 2 s, 4 s, ... up to 5 minutes.
pub fn error_policy(job: Arc<NotebookValidationJob>, error: &Error, ctx: Arc<Context>) -> Action {
    let key = namespace_name(&job.namespace().unwrap_or_default(), &job.name_any());
    let attempts = ctx.backoff.lock().map_or(1, |mut map| {
        let n = map.entry(key).or_insert(0);
        *n = n.saturating_add(1);
        *n
    });
    let delay = Duration::from_secs(2_u64.saturating_pow(attempts.min(9)).min(300));
    // Never sleep past the job's deadline: the retry after it ends the job.
    let delay =
        remaining_time(&job).map_or(delay, |left| delay.min(left.max(Duration::from_secs(1))));
    tracing::warn!(job = %job.name_any(), error = %error, attempts, ?delay, "reconcile failed; retrying");
    Action::requeue(delay)
}

/// The time left until the job's `spec.timeout`, from the start time in its status.
fn remaining_time(job: &NotebookValidationJob) -> Option<Duration> {
    job.status.as_ref()?.start_time.as_ref()?;
    let elapsed = StatusUpdate::new(job.status.as_ref(), job.metadata.generation).elapsed_secs();
    let limit = plan::job_timeout(job).unwrap_or(plan::DEFAULT_JOB_TIMEOUT);
    Some(limit.saturating_sub(Duration::from_secs(
        u64::try_from(elapsed).unwrap_or_default(),
    )))
}

async fn apply(job: &NotebookValidationJob, ctx: &Context) -> Result<Action, Error> {
    let uid = job.uid().unwrap_or_default();
    let remembered = ctx.written.get(&uid);
    let current = remembered.as_ref().or(job.status.as_ref());
    let generation = job.metadata.generation;
    let done = current.is_some_and(NotebookValidationJobStatus::is_terminal);
    if done && current.and_then(|s| s.observed_generation) == generation {
        return Ok(Action::await_change());
    }
    let mut update = StatusUpdate::new(current, generation);
    let action = match run_steps(job, ctx, &mut update).await {
        Ok(action) => action,
        Err(e) => match e.forbidden() {
            Some(denied) => {
                forbidden(job, ctx, &mut update, denied).await;
                Action::await_change()
            }
            None => return failed_reconcile(job, ctx, current, e).await,
        },
    };
    if update
        .status
        .conditions
        .iter()
        .any(|c| c.type_ == RECONCILED && c.status == "False")
    {
        update.condition(
            RECONCILED,
            true,
            "Recovered",
            "reconciled again after failed attempts",
        );
    }
    persist(job, ctx, current, update.status).await?;
    Ok(action)
}

/// Writes `status` when it differs from `current`, and remembers it as the job's status.
async fn persist(
    job: &NotebookValidationJob,
    ctx: &Context,
    current: Option<&NotebookValidationJobStatus>,
    status: NotebookValidationJobStatus,
) -> Result<(), Error> {
    if current != Some(&status) {
        write_status(job, ctx, &status).await?;
        ctx.metrics.status_written(current, &status);
    }
    ctx.written.remember(job.uid().unwrap_or_default(), status);
    Ok(())
}

/// A reconcile that failed: its error goes to the job's status (condition `Reconciled`, with the
/// attempt count) and is retried with backoff; once the job is past `spec.timeout` the job fails
/// with that error instead. Starting from the status as it was, not from the half-done update:
/// the steps after the failure never ran.
async fn failed_reconcile(
    job: &NotebookValidationJob,
    ctx: &Context,
    current: Option<&NotebookValidationJobStatus>,
    error: Error,
) -> Result<Action, Error> {
    let key = namespace_name(&job.namespace().unwrap_or_default(), &job.name_any());
    let attempts = ctx.backoff.lock().map_or(1, |map| {
        map.get(&key).copied().unwrap_or(0).saturating_add(1)
    });
    let mut update = StatusUpdate::new(current, job.metadata.generation);
    let limit = plan::job_timeout(job).unwrap_or(plan::DEFAULT_JOB_TIMEOUT);
    let limit_secs = i64::try_from(limit.as_secs()).unwrap_or(i64::MAX);
    let ended = update.elapsed_secs() >= limit_secs;
    if ended {
        let message = format!(
            "the job could not be reconciled within spec.timeout ({limit_secs}s); attempt {attempts} failed: {error}"
        );
        ctx.fail_job(job, &mut update, None, "ReconcileFailed", message)
            .await;
    } else {
        update.condition(
            RECONCILED,
            false,
            "ReconcileError",
            format!("attempt {attempts} failed: {error}"),
        );
        if attempts == 1 {
            ctx.event(
                job,
                EventType::Warning,
                "ReconcileError",
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
async fn forbidden(
    job: &NotebookValidationJob,
    ctx: &Context,
    update: &mut StatusUpdate,
    denied: &str,
) {
    let message = format!(
        "the operator's service account lacks a permission: {denied}; add it to the operator's ClusterRole (`cargo xtask manifests` generates the role for the strategies compiled in)"
    );
    ctx.fail_job(job, update, None, "Forbidden", message).await;
}

async fn run_steps(
    job: &NotebookValidationJob,
    ctx: &Context,
    update: &mut StatusUpdate,
) -> Result<Action, Error> {
    let plan = match plan::plan(job, &ctx.default_image) {
        Ok(plan) => plan,
        Err(e) => {
            ctx.fail_job(job, update, None, "InvalidSpec", e.to_string())
                .await;
            return Ok(Action::await_change());
        }
    };
    let limit = i64::try_from(plan.job_timeout.as_secs()).unwrap_or(i64::MAX);
    let remaining = limit - update.elapsed_secs();
    if remaining <= 0 {
        return timed_out(job, ctx, &plan, update).await;
    }
    let (image, requirements) = match &plan.image {
        ImageSource::Given(image) => {
            update.condition(
                status::BUILD_READY,
                true,
                "ImageProvided",
                format!("using podConfig.containerImage {image}"),
            );
            (image.clone(), None)
        }
        ImageSource::Default {
            image,
            requirements,
        } => {
            update.condition(status::BUILD_READY, true, "DefaultImage", format!("no image given or built: using {image}, the runner installs the requirements at start"));
            (image.clone(), requirements.as_deref())
        }
        ImageSource::Build { strategy, request } => {
            match build::run(ctx, job, strategy, request, &plan, update).await? {
                Progress::Done(image) => (image, None),
                Progress::Waiting(after) => return Ok(requeue(after, remaining)),
                Progress::Ended => return Ok(Action::await_change()),
            }
        }
    };
    let pod_plan = PodPlan {
        image: &image,
        requirements,
        attempt: update.status.retry_count.unwrap_or(0),
        deadline_secs: remaining,
    };
    match validate(job, ctx, &pod_plan, update).await? {
        Progress::Waiting(after) => Ok(requeue(after, remaining)),
        Progress::Done(()) | Progress::Ended => Ok(Action::await_change()),
    }
}

/// Wakes the job at its deadline at the latest; otherwise watches wake it.
fn requeue(after: Option<Duration>, remaining_secs: i64) -> Action {
    let deadline = Duration::from_secs(u64::try_from(remaining_secs).unwrap_or(1).max(1));
    Action::requeue(after.map_or(deadline, |a| a.min(deadline)))
}

async fn timed_out(
    job: &NotebookValidationJob,
    ctx: &Context,
    plan: &plan::Plan,
    update: &mut StatusUpdate,
) -> Result<Action, Error> {
    // A build still running when the job's time is up is stopped too.
    if let ImageSource::Build { request, .. } = &plan.image
        && let Some(report) = &update.status.build_status
        && matches!(report.phase.as_deref(), Some("Pending" | "Running"))
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
        let (never_started, stopped) = match find_pod(ctx, &pods, &name).await {
            Ok(Some(pod)) => (
                !outcome::started(&pod),
                pod_lifecycle::stop(&pods, &pod).await,
            ),
            // Gone already (a reconcile that stopped it and then failed to write the status):
            // the status last written says whether it had started.
            _ => (
                update.status.conditions.iter().any(|c| {
                    c.type_ == VALIDATION_COMPLETE
                        && c.status == "Unknown"
                        && c.reason == "PodCreated"
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
            "ReconcileFailed"
        }
        None => "JobTimeout",
    };
    ctx.fail_job(job, update, None, reason, message).await;
    Ok(Action::await_change())
}

/// The pod `name`, from the controller's cache of owned pods when it keeps one.
async fn find_pod(ctx: &Context, pods: &Api<Pod>, name: &str) -> Result<Option<Pod>, Error> {
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

/// Step 4: run the notebook in the validation pod and read its result.
async fn validate(
    job: &NotebookValidationJob,
    ctx: &Context,
    plan: &PodPlan<'_>,
    update: &mut StatusUpdate,
) -> Result<Progress<()>, Error> {
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &job.namespace().unwrap_or_default());
    let name = crate::labels::validation_pod_name(job, plan.attempt);
    update.status.validation_pod_name = Some(name.clone());
    let retry = if plan.attempt > 0 {
        format!(" (retry {} of {MAX_INFRA_RETRIES})", plan.attempt)
    } else {
        String::new()
    };
    // The same status from creating the pod until it runs, so that nothing is written in between.
    let starting = |update: &mut StatusUpdate| {
        update.condition_unknown(
            VALIDATION_COMPLETE,
            "PodCreated",
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
            ctx.fail_job(job, update, None, "ObjectTooLarge", message)
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
                ctx.fail_job(job, update, None, "InvalidPod", message).await;
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
            update.condition_unknown(VALIDATION_COMPLETE, "Running", message.clone());
            update.phase(Phase::ValidationRunning, message);
            Ok(Progress::Waiting(None))
        }
        PodOutcome::Finished(summary) => {
            record(update, &summary);
            Ok(Progress::Done(()))
        }
        PodOutcome::Failed { reason, message } => {
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
            ctx.event(job, EventType::Warning, "ValidationRetry", &note)
                .await;
            Ok(Progress::Waiting(Some(Duration::from_secs(1))))
        }
    }
}

/// Copies the runner's summary into the status and ends the job.
fn record(update: &mut StatusUpdate, summary: &nbv_report::Summary) {
    use nbv_report::Outcome;
    update.status.results = summary.results.clone();
    update.status.comparison_result = summary.comparison_result.clone();
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
            update.condition(VALIDATION_COMPLETE, true, "Passed", message.clone());
            update.succeed(message);
        }
        other => {
            let reason = match other {
                Outcome::NotebookFailed => "NotebookFailed",
                Outcome::OutputsDiffer => "OutputMismatch",
                Outcome::InvalidInput => "InvalidNotebook",
                _ => "ValidationFailed",
            };
            update.condition(VALIDATION_COMPLETE, true, reason, message.clone());
            update.fail(reason, message);
        }
    }
}

/// Step 5: writes the status with server-side apply, only when it changed.
async fn write_status(
    job: &NotebookValidationJob,
    ctx: &Context,
    status: &NotebookValidationJobStatus,
) -> Result<(), Error> {
    let api: Api<NotebookValidationJob> =
        Api::namespaced(ctx.client.clone(), &job.namespace().unwrap_or_default());
    let patch = json!({
        "apiVersion": "mlops.redhat.com/v1alpha1",
        "kind": "NotebookValidationJob",
        "status": status,
    });
    api.patch_status(
        &job.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
    .map(|_| ())
    .map_err(Error::kube("writing the job status"))
}

/// Cleanup before a job goes: stops and deletes its build. Everything else the job owns is
/// removed by garbage collection.
async fn cleanup(job: &NotebookValidationJob, ctx: &Context) -> Result<Action, Error> {
    ctx.written.forget(&job.uid().unwrap_or_default());
    let Ok(plan) = plan::plan(job, &ctx.default_image) else {
        return Ok(Action::await_change());
    };
    let ImageSource::Build {
        strategy: requested,
        request,
    } = &plan.image
    else {
        return Ok(Action::await_change());
    };
    let chosen = job
        .status
        .as_ref()
        .and_then(|s| s.build_status.as_ref())
        .and_then(|b| b.strategy.clone())
        .unwrap_or_else(|| requested.clone());
    if let Some(strategy) = ctx.catalog.registry().get(&chosen) {
        build::cancel(ctx, strategy.as_ref(), request).await;
        match strategy.delete_build(&ctx.client, request).await {
            Ok(()) => {}
            Err(e) if e.is_transient() => return Err(Error::Strategy(e)),
            Err(e) => {
                tracing::warn!(job = %job.name_any(), error = %e, "could not delete the build; garbage collection removes what the job owns")
            }
        }
    }
    Ok(Action::await_change())
}
