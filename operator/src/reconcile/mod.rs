//! The job controller: reconciles `NotebookValidationJob`s through the shared
//! [skeleton](crate::steps::skeleton) as named steps, each in its own module:
//! [`plan`] (read the spec) → image (given, default, or the shared
//! [build step](crate::steps::build)) → [`reuse_verdict`] (an earlier job's verdict, when
//! asked for and the inputs are the same) → [`validate`] (run the notebook in the pod
//! [`validation_pod`] renders, read its result with [`outcome`](crate::steps::outcome)) → status
//! (written with server-side apply). A step that ends the job does it through
//! [`Context::fail`], the one place that writes the reason on the conditions and publishes the
//! event; `failure` handles what stops a reconcile itself, and `cleanup` a deleted job's build.
//!
//! Every step is idempotent and derives what to do from what exists: the build and the pod have
//! deterministic names, so an operator restarted at any point finds them instead of creating
//! second ones.

mod cleanup;
mod failure;
mod persist;
pub mod plan;
pub mod reuse_verdict;
pub mod validate;
pub mod validation_pod;

pub use self::validate::MAX_INFRA_RETRIES;

use std::time::Duration;

use buildstrategy_api::{Requirements, dockerfile};
use kube::ResourceExt;
use kube::runtime::controller::Action;

use self::plan::{ImageSource, Plan};
use self::validation_pod::PodPlan;
use crate::crd::conditions::{BUILD_READY, RECONCILED};
use crate::crd::{DEFAULT_JOB_TIMEOUT, NotebookValidationJob, NotebookValidationJobStatus};
use crate::labels::FINALIZER;
use crate::reason::Reason;
use crate::steps::skeleton::Owner;
use crate::steps::status::StatusUpdate;
use crate::steps::{Context, Error, Progress, build};

impl Owner for NotebookValidationJob {
    const FINALIZER: &'static str = FINALIZER;

    /// Only jobs that build need a finalizer: everything else goes by garbage collection.
    fn needs_finalizer(&self) -> bool {
        self.spec.build().is_some()
    }

    async fn apply(&self, ctx: &Context) -> Result<Action, Error> {
        apply(self, ctx).await
    }

    async fn cleanup(&self, ctx: &Context) -> Result<Action, Error> {
        cleanup::run(self, ctx).await
    }

    /// The time left until the job's `spec.timeout`, from the start time in its status: the
    /// retry after it ends the job.
    fn retry_within(&self) -> Option<Duration> {
        self.status.as_ref()?.start_time.as_ref()?;
        let elapsed =
            StatusUpdate::new(self.status.as_ref(), self.metadata.generation).elapsed_secs();
        let limit = self.timeout().unwrap_or(DEFAULT_JOB_TIMEOUT);
        Some(limit.saturating_sub(Duration::from_secs(
            u64::try_from(elapsed).unwrap_or_default(),
        )))
    }
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
    persist::persist(job, ctx, current, update.status).await?;
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
            ctx.fail(job, update, None, Reason::InvalidSpec, e.to_string())
                .await;
            return Ok(Action::await_change());
        }
    };
    let limit = i64::try_from(plan.job_timeout.as_secs()).unwrap_or(i64::MAX);
    let remaining = limit - update.elapsed_secs();
    if remaining <= 0 {
        return failure::timed_out(job, ctx, &plan, update).await;
    }
    let image = match image_step(job, ctx, &plan, update).await? {
        Progress::Done(image) => image,
        Progress::Waiting(after) => return Ok(requeue(after, remaining)),
        Progress::Ended => return Ok(Action::await_change()),
    };
    let installs_at_start = image.requirements.is_some() || image.requirements_from_imports;
    match reuse_verdict::run(job, ctx, &image.image, installs_at_start, update).await? {
        Progress::Done(()) => {}
        Progress::Waiting(after) => return Ok(requeue(after, remaining)),
        Progress::Ended => return Ok(Action::await_change()),
    }
    // A registry that took the build's push with a secret is pulled from with it too.
    let build_push_secret = match &plan.image {
        ImageSource::Build { request, .. } => request.push_secret.as_deref(),
        _ => None,
    };
    let pod_plan = PodPlan {
        image: &image.image,
        build_push_secret,
        requirements: image.requirements,
        requirements_from_imports: image.requirements_from_imports,
        generated_requirements: image.generated_requirements,
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

/// The image the notebook runs in, and what the runner installs or reports about it.
struct ValidationImage<'a> {
    image: String,
    requirements: Option<&'a str>,
    requirements_from_imports: bool,
    generated_requirements: Option<&'a str>,
}

/// The image step: the image given, the default one, or the one the shared build step builds.
async fn image_step<'a>(
    job: &NotebookValidationJob,
    ctx: &Context,
    plan: &'a Plan,
    update: &mut StatusUpdate,
) -> Result<Progress<ValidationImage<'a>>, Error> {
    let image = match &plan.image {
        ImageSource::Given(image) => {
            update.condition(
                BUILD_READY,
                true,
                Reason::ImageProvided,
                format!("using podConfig.containerImage {image}"),
            );
            ValidationImage {
                image: image.clone(),
                requirements: None,
                requirements_from_imports: false,
                generated_requirements: None,
            }
        }
        ImageSource::Default {
            image,
            requirements,
            from_imports,
        } => {
            update.condition(BUILD_READY, true, Reason::DefaultImage, format!("no image given or built: using {image}, the runner installs the requirements at start"));
            ValidationImage {
                image: image.clone(),
                requirements: requirements.as_deref(),
                requirements_from_imports: *from_imports,
                generated_requirements: None,
            }
        }
        ImageSource::Build { strategy, request } => {
            let image = match build::run(
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
                Progress::Done(image) => image,
                Progress::Waiting(after) => return Ok(Progress::Waiting(after)),
                Progress::Ended => return Ok(Progress::Ended),
            };
            let generated = matches!(request.requirements, Requirements::FromImports(_))
                && request.dockerfile.is_none();
            ValidationImage {
                image,
                requirements: None,
                requirements_from_imports: false,
                generated_requirements: generated.then_some(dockerfile::REQUIREMENTS_IN_IMAGE),
            }
        }
    };
    Ok(Progress::Done(image))
}

/// Wakes the job at its deadline at the latest; otherwise watches wake it.
fn requeue(after: Option<Duration>, remaining_secs: i64) -> Action {
    let deadline = Duration::from_secs(u64::try_from(remaining_secs).unwrap_or(1).max(1));
    Action::requeue(after.map_or(deadline, |a| a.min(deadline)))
}
