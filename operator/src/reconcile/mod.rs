//! The reconcile pipeline, one module per step, each named for what it does:
//! [`plan`] (read the spec) → [`select`] (choose a strategy) → [`build`] (drive the build) →
//! [`validate`] (run the notebook in the pod [`validation_pod`] renders, read its result with
//! [`outcome`]) → [`status`] (write phase and conditions with server-side apply).
//! A step that ends the job does it through [`Context::fail_job`], the one place that writes
//! the reason on the conditions and publishes the event; `failure` handles what stops a
//! reconcile itself, and `cleanup` a deleted job's build. Every reason is a [`Reason`].
//!
//! Every step is idempotent and derives what to do from what exists: the build and the pod have
//! deterministic names, so an operator restarted at any point finds them instead of creating
//! second ones.

pub mod build;
mod cleanup;
mod failure;
pub mod outcome;
pub mod plan;
pub mod pod_lifecycle;
pub mod reason;
pub mod registry_login;
pub mod reuse;
pub mod select;
pub mod status;
pub mod validate;
pub mod validation_pod;

pub use self::reason::Reason;
pub use self::validate::MAX_INFRA_RETRIES;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use buildstrategy_api::{Requirements, dockerfile};
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::runtime::reflector::Store;
use kube::{Client, Resource, ResourceExt};

use self::plan::ImageSource;
use self::status::{RECONCILED, StatusMemo, StatusUpdate};
use self::validation_pod::{PodPlan, PodSettings};
use crate::catalog::Catalog;
use crate::crd::{NotebookValidationJob, NotebookValidationJobStatus};
use crate::health::Health;
use crate::identity::identity;
use crate::labels::FINALIZER;
use crate::metrics::Metrics;

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
    pub(crate) fn kube(action: &'static str) -> impl FnOnce(kube::Error) -> Self {
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
    /// The status last written for each notebook image.
    pub images: StatusMemo<crate::image::crd::NotebookImageStatus>,
    /// Whether and how builds are reused.
    pub reuse: reuse::ReuseSettings,
    /// The builds running now, by reuse key.
    pub claims: reuse::Claims,
    /// The cache of the pods jobs own, when the controller keeps one.
    pods: Option<Store<Pod>>,
    /// The cache of the jobs, when the controller keeps one.
    jobs: Option<Store<NotebookValidationJob>>,
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
            images: StatusMemo::default(),
            reuse: reuse::ReuseSettings::default(),
            claims: reuse::Claims::default(),
            pods: None,
            jobs: None,
        }
    }

    /// Reads validation pods from `pods`, the controller's cache of the pods jobs own, instead of
    /// asking the API server.
    pub fn use_pod_cache(&mut self, pods: Store<Pod>) {
        self.pods = Some(pods);
    }

    /// Reads other jobs (for builds to reuse) from `jobs`, the controller's cache, instead of
    /// asking the API server.
    pub fn use_job_cache(&mut self, jobs: Store<NotebookValidationJob>) {
        self.jobs = Some(jobs);
    }

    /// The jobs in the controller's cache that `keep` selects; `None` without a cache.
    pub(crate) fn cached_jobs(
        &self,
        keep: impl Fn(&NotebookValidationJob) -> bool,
    ) -> Option<Vec<NotebookValidationJob>> {
        let store = self.jobs.as_ref()?;
        Some(
            store
                .state()
                .iter()
                .filter(|job| keep(job))
                .map(|job| NotebookValidationJob::clone(job))
                .collect(),
        )
    }

    /// The delay before retrying the resource `key` after one more failed reconcile, and the
    /// failed attempts so far: 2 s, 4 s, ... up to 5 minutes.
    pub(crate) fn retry_backoff(&self, key: String) -> (Duration, u32) {
        let attempts = self.backoff.lock().map_or(1, |mut map| {
            let n = map.entry(key).or_insert(0);
            *n = n.saturating_add(1);
            *n
        });
        (
            Duration::from_secs(2_u64.saturating_pow(attempts.min(9)).min(300)),
            attempts,
        )
    }

    /// The delay before retrying the resource `key` (see [`Context::retry_backoff`]).
    pub(crate) fn retry_delay(&self, key: String) -> Duration {
        self.retry_backoff(key).0
    }

    /// Forgets the failed attempts of `key` once a reconcile went through.
    pub(crate) fn retry_succeeded(&self, key: &str) {
        if let Ok(mut backoff) = self.backoff.lock() {
            backoff.remove(key);
        }
    }

    /// Publishes an Event on `job` (or another resource); failing to publish is logged, never
    /// fatal.
    pub async fn event<K: Resource<DynamicType = ()>>(
        &self,
        job: &K,
        type_: EventType,
        reason: Reason,
        note: &str,
    ) {
        let event = Event {
            type_,
            reason: reason.as_str().to_owned(),
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
    pub async fn fail_job<K: Resource<DynamicType = ()>, S: status::Tracked>(
        &self,
        job: &K,
        update: &mut StatusUpdate<S>,
        condition: Option<&str>,
        reason: Reason,
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
    let key = identity(job.as_ref());
    let api: Api<NotebookValidationJob> = Api::namespaced(ctx.client.clone(), &namespace);
    let builds = job.spec.build().is_some();
    let has_finalizer = job.finalizers().iter().any(|f| f == FINALIZER);
    let result = if builds || has_finalizer {
        // Only jobs that build need a finalizer: everything else is removed by garbage collection.
        finalizer(&api, FINALIZER, job, |event| async {
            match event {
                FinalizerEvent::Apply(job) => apply(&job, &ctx).await,
                FinalizerEvent::Cleanup(job) => cleanup::run(&job, &ctx).await,
            }
        })
        .await
        .map_err(|e| Error::Finalizer(Box::new(e)))
    } else if job.meta().deletion_timestamp.is_some() {
        Ok(Action::await_change())
    } else {
        apply(&job, &ctx).await
    };
    if result.is_ok() {
        ctx.retry_succeeded(&key);
    }
    result
}

/// Retries failed reconciles with exponential backoff: 2 s, 4 s, ... up to 5 minutes.
pub fn error_policy(job: Arc<NotebookValidationJob>, error: &Error, ctx: Arc<Context>) -> Action {
    let key = identity(job.as_ref());
    let (delay, attempts) = ctx.retry_backoff(key);
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
                failure::forbidden(job, ctx, &mut update, denied).await;
                Action::await_change()
            }
            None => return failure::failed_reconcile(job, ctx, current, e).await,
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
            Reason::Recovered,
            "reconciled again after failed attempts",
        );
    }
    status::persist(job, ctx, current, update.status).await?;
    Ok(action)
}

async fn run_steps(
    job: &NotebookValidationJob,
    ctx: &Context,
    update: &mut StatusUpdate,
) -> Result<Action, Error> {
    let plan = match plan::plan(job, &ctx.default_image) {
        Ok(plan) => plan,
        Err(e) => {
            ctx.fail_job(job, update, None, Reason::InvalidSpec, e.to_string())
                .await;
            return Ok(Action::await_change());
        }
    };
    let limit = i64::try_from(plan.job_timeout.as_secs()).unwrap_or(i64::MAX);
    let remaining = limit - update.elapsed_secs();
    if remaining <= 0 {
        return failure::timed_out(job, ctx, &plan, update).await;
    }
    let (image, requirements, requirements_from_imports, generated_requirements) = match &plan.image
    {
        ImageSource::Given(image) => {
            update.condition(
                status::BUILD_READY,
                true,
                Reason::ImageProvided,
                format!("using podConfig.containerImage {image}"),
            );
            (image.clone(), None, false, None)
        }
        ImageSource::Default {
            image,
            requirements,
            from_imports,
        } => {
            update.condition(status::BUILD_READY, true, Reason::DefaultImage, format!("no image given or built: using {image}, the runner installs the requirements at start"));
            (image.clone(), requirements.as_deref(), *from_imports, None)
        }
        ImageSource::Build { strategy, request } => {
            match build::run(
                ctx,
                job,
                strategy,
                request,
                plan.build_timeout,
                plan.warning.as_deref(),
                update,
            )
            .await?
            {
                Progress::Done(image) => {
                    let generated = matches!(request.requirements, Requirements::FromImports(_))
                        && request.dockerfile.is_none();
                    let in_image = generated.then_some(dockerfile::REQUIREMENTS_IN_IMAGE);
                    (image, None, false, in_image)
                }
                Progress::Waiting(after) => return Ok(requeue(after, remaining)),
                Progress::Ended => return Ok(Action::await_change()),
            }
        }
    };
    // A registry that took the build's push with a secret is pulled from with it too.
    let build_push_secret = match &plan.image {
        ImageSource::Build { request, .. } => request.push_secret.as_deref(),
        _ => None,
    };
    let pod_plan = PodPlan {
        image: &image,
        build_push_secret,
        requirements,
        requirements_from_imports,
        generated_requirements,
        cell_timeout_secs: plan.cell_timeout.map(|t| t.as_secs()),
        attempt: update.status.retry_count.unwrap_or(0),
        deadline_secs: remaining,
        stop_notebook_at: Some(validation_pod::stop_notebook_at(
            update.now().0.as_second(),
            remaining,
        )),
    };
    match validate::run(job, ctx, &pod_plan, update).await? {
        Progress::Waiting(after) => Ok(requeue(after, remaining)),
        Progress::Done(()) | Progress::Ended => Ok(Action::await_change()),
    }
}

/// Wakes the job at its deadline at the latest; otherwise watches wake it.
fn requeue(after: Option<Duration>, remaining_secs: i64) -> Action {
    let deadline = Duration::from_secs(u64::try_from(remaining_secs).unwrap_or(1).max(1));
    Action::requeue(after.map_or(deadline, |a| a.min(deadline)))
}
