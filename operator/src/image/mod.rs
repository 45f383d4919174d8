//! The notebook image controller: a `NotebookImage` is imported or built, looked into,
//! validated by running its notebooks, and published only when every one of them passed.
//!
//! One pass of that flow is a *round*; a new one starts with a new generation of the spec, a
//! new value of the [`REVALIDATE_ANNOTATION`], or a new digest of the source image found by the
//! periodic check. A round reads as named steps:
//! [`plan`] (read the spec) → source ([`inspect`] the image to import, or the base image: its
//! digest) → build (the shared build step, [`crate::steps::build`]: selection, reuse,
//! timeouts, cancellation and logs are the same) → [`inspect`] (what the built image holds) →
//! [`validation`] (one NotebookValidationJob per notebook, in the digest-pinned image) →
//! [`publish`] (status, and the ImageStream tag or the catalogue).
//!
//! Every step's product is in status (the source digest, the image, its software, the jobs'
//! verdicts) and every object has a name derived from the round, so a restarted operator
//! carries on where it was, with no second build, pod or job.

pub mod inspect;
pub mod plan;
pub mod publish;
pub mod validation;

mod round;

use std::ops::ControlFlow;
use std::time::Duration;

use buildstrategy_api::BuildPhase;
use buildstrategy_api::naming::dns_label;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;

use self::inspect::Look;
use self::plan::ImagePlan;
pub use self::round::REVALIDATE_ANNOTATION;
use self::round::{Update, next_round, round_trigger};
use self::validation::Standing;
use crate::crd::NotebookValidationJob;
use crate::crd::conditions::{IMAGE_READY, PUBLISHED, VALIDATED};
use crate::crd::image::{ImagePhase, NotebookImage, NotebookImageStatus};
use crate::reason::Reason;
use crate::steps::build::{self, BuildOwner};
use crate::steps::skeleton::Owner;
use crate::steps::status::write_status;
use crate::steps::{Context, Error, Progress};

/// The finalizer that lets the operator stop a build and take back a catalogue entry.
pub const FINALIZER: &str = "mlops.redhat.com/notebook-image-cleanup";

impl Owner for NotebookImage {
    const FINALIZER: &'static str = FINALIZER;

    async fn apply(&self, ctx: &Context) -> Result<Action, Error> {
        apply(self, ctx).await
    }

    async fn cleanup(&self, ctx: &Context) -> Result<Action, Error> {
        cleanup(self, ctx).await
    }
}

async fn apply(image: &NotebookImage, ctx: &Context) -> Result<Action, Error> {
    let uid = image.uid().unwrap_or_default();
    let remembered = ctx.images.get(&uid);
    let current = remembered.as_ref().or(image.status.as_ref());
    let mut update = start(image, ctx, current).await?;
    let action = match round(image, ctx, &mut update).await {
        Ok(action) => action,
        // A permission the role lacks will not come by retrying: say so in status.
        Err(e) => match e.forbidden() {
            Some(denied) => {
                let message = format!(
                    "the operator's role does not allow what this image needs; grant it, then start a new round (change the spec or the {REVALIDATE_ANNOTATION} annotation): {denied}"
                );
                ctx.fail(image, &mut update, None, Reason::Forbidden, message)
                    .await;
                Action::await_change()
            }
            None => return Err(e),
        },
    };
    if current != Some(&update.status) {
        write_status(
            &ctx.client,
            image,
            &update.status,
            "writing the notebook image status",
        )
        .await?;
        if update.status.is_terminal()
            && !current.is_some_and(|c| c.round == update.status.round && c.is_terminal())
        {
            ctx.metrics
                .image_round_ended(update.status.phase == Some(ImagePhase::Succeeded));
        }
    }
    ctx.images.remember(uid, update.status);
    Ok(action)
}

/// The status this reconcile starts from: the current one, or a new round's when one is due
/// (the previous round's build stopped and its pods gone).
async fn start(
    image: &NotebookImage,
    ctx: &Context,
    current: Option<&NotebookImageStatus>,
) -> Result<Update, Error> {
    let generation = image.metadata.generation;
    let requested = image.annotations().get(REVALIDATE_ANNOTATION).cloned();
    let Some(why) = round_trigger(current, generation, requested.as_deref()) else {
        return Ok(Update::new(current, generation));
    };
    if let Some(previous) = current {
        stop_build(ctx, image, previous).await?;
    }
    let next = next_round(current, requested, &why);
    let number = next.round.unwrap_or(1);
    inspect::discard_earlier_rounds(ctx, image, number).await;
    let message = format!("round {number}: {why}");
    ctx.event(image, EventType::Normal, Reason::RoundStarted, &message)
        .await;
    Ok(Update::new(Some(&next), generation))
}

/// Where a stage leaves the round: on to the next stage, or this reconcile ends with an action.
type Stage = ControlFlow<Action>;

/// One reconcile of the round: source → build → inspect → validate → publish, each stage
/// skipped once its product is in status.
async fn round(image: &NotebookImage, ctx: &Context, update: &mut Update) -> Result<Action, Error> {
    let plan = plan::plan(image);
    if update.status.is_terminal() {
        return match plan {
            Ok(plan) => recheck(image, ctx, update, &plan).await,
            Err(_) => Ok(Action::await_change()),
        };
    }
    let plan = match plan {
        Ok(plan) => plan,
        Err(e) => {
            end_failed(ctx, image, update, Reason::InvalidSpec, e.to_string()).await?;
            return Ok(Action::await_change());
        }
    };
    for stage in [Step::Source, Step::Build, Step::Inspect] {
        let flow = match stage {
            Step::Source => source(image, ctx, update, &plan).await?,
            Step::Build => build(image, ctx, update, &plan).await?,
            Step::Inspect => inspect_made(image, ctx, update).await?,
        };
        if let ControlFlow::Break(action) = flow {
            return Ok(action);
        }
    }
    validate(image, ctx, update, &plan).await
}

/// The stages before validation, in order.
#[derive(Clone, Copy)]
enum Step {
    Source,
    Build,
    Inspect,
}

/// The source stage: the digest of the image to import or of the build's base image; an
/// imported image is this round's image.
async fn source(
    image: &NotebookImage,
    ctx: &Context,
    update: &mut Update,
    plan: &ImagePlan,
) -> Result<Stage, Error> {
    let Some(source) = plan.source.as_deref() else {
        return Ok(Stage::Continue(()));
    };
    if update.status.source_digest.is_some() {
        return Ok(Stage::Continue(()));
    }
    let importing = plan.build.is_none();
    if importing {
        update.phase(ImagePhase::Importing, format!("importing {source}"));
    } else {
        update.phase(
            ImagePhase::Resolving,
            format!("resolving the base image {source}"),
        );
    }
    update.condition_unknown(
        IMAGE_READY,
        Reason::Inspecting,
        format!("pulling {source} to read its digest"),
    );
    let round = update.status.round.unwrap_or(1);
    let pod = dns_label(&[&plan::round_name(image, round), "source"]);
    let look = Look {
        pod: &pod,
        image: source,
        round,
        pull_secret: plan.source_pull_secret(image),
        software: importing,
    };
    let found = match look_into(ctx, image, update, &look).await? {
        Ok(found) => found,
        Err(action) => return Ok(Stage::Break(action)),
    };
    update.status.source_digest = Some(found.digest.clone());
    update.status.source_checked = Some(update.now().clone());
    if importing {
        let message = format!("imported {source} as {}", found.pinned);
        update.condition(IMAGE_READY, true, Reason::ImageInspected, message.clone());
        ctx.event(image, EventType::Normal, Reason::ImageInspected, &message)
            .await;
        update.status.image = Some(found.pinned);
        update.status.software = found.software;
    }
    Ok(Stage::Continue(()))
}

/// The build stage: the shared build step, on the base image pinned to the digest found.
async fn build(
    image: &NotebookImage,
    ctx: &Context,
    update: &mut Update,
    plan: &ImagePlan,
) -> Result<Stage, Error> {
    let Some(build) = &plan.build else {
        return Ok(Stage::Continue(()));
    };
    if update.status.image.is_some() {
        return Ok(Stage::Continue(()));
    }
    let pinned_base = plan
        .source
        .as_deref()
        .zip(update.status.source_digest.as_deref())
        .map(|(source, digest)| inspect::pin(source, digest));
    let round = update.status.round.unwrap_or(1);
    let request = build.request(image, round, pinned_base.as_deref());
    match build::run(
        ctx,
        image,
        &build.strategy,
        &request,
        build.timeout,
        build.warning.as_deref(),
        update,
    )
    .await?
    {
        Progress::Done(built) => update.status.image = Some(built),
        Progress::Waiting(after) => return Ok(Stage::Break(requeue(after))),
        Progress::Ended => {
            settle_failed(ctx, image, update).await?;
            return Ok(Stage::Break(Action::await_change()));
        }
    }
    Ok(Stage::Continue(()))
}

/// The inspect stage: the built image's digest and what it holds.
async fn inspect_made(
    image: &NotebookImage,
    ctx: &Context,
    update: &mut Update,
) -> Result<Stage, Error> {
    let Some(made) = update.status.image.clone() else {
        let message = "the spec names no image to import and no build".to_owned();
        end_failed(ctx, image, update, Reason::InvalidSpec, message).await?;
        return Ok(Stage::Break(Action::await_change()));
    };
    if update.status.software.is_some() {
        return Ok(Stage::Continue(()));
    }
    update.phase(ImagePhase::Validating, format!("reading what {made} holds"));
    update.condition_unknown(
        IMAGE_READY,
        Reason::Inspecting,
        format!("pulling {made} to read its digest and what it holds"),
    );
    let round = update.status.round.unwrap_or(1);
    let pod = dns_label(&[&plan::round_name(image, round), "inspect"]);
    let look = Look {
        pod: &pod,
        image: &made,
        round,
        pull_secret: plan::built_pull_secret(image),
        software: true,
    };
    let found = match look_into(ctx, image, update, &look).await? {
        Ok(found) => found,
        Err(action) => return Ok(Stage::Break(action)),
    };
    update.condition(
        IMAGE_READY,
        true,
        Reason::ImageInspected,
        format!("built {}", found.pinned),
    );
    update.status.image = Some(found.pinned);
    update.status.software = found.software;
    Ok(Stage::Continue(()))
}

/// The validation stage: one job per notebook in the pinned image; publishing when all passed.
async fn validate(
    image: &NotebookImage,
    ctx: &Context,
    update: &mut Update,
    plan: &ImagePlan,
) -> Result<Action, Error> {
    let round = update.status.round.unwrap_or(1);
    let pinned = update.status.image.clone().unwrap_or_default();
    let jobs: Api<NotebookValidationJob> =
        Api::namespaced(ctx.client.clone(), &image.namespace().unwrap_or_default());
    let report = validation::run(ctx, &jobs, image, round, &pinned).await?;
    let standing = validation::standing(&report);
    let total = report.notebooks.len();
    update.status.validation = Some(report);
    match standing {
        Standing::Running { ended } => {
            let message = format!("{ended} of {total} validation notebooks finished in {pinned}");
            update.phase(ImagePhase::Validating, message.clone());
            update.condition_unknown(VALIDATED, Reason::ValidationRunning, message);
            // The jobs' progress wakes the image: it owns them.
            Ok(Action::await_change())
        }
        Standing::Failed(which) => {
            update.condition(VALIDATED, false, Reason::ValidationFailed, which.clone());
            let message = format!("validation failed in {pinned}: {which}");
            end_failed(ctx, image, update, Reason::ValidationFailed, message).await?;
            Ok(Action::await_change())
        }
        Standing::Passed => {
            update.condition(
                VALIDATED,
                true,
                Reason::ValidationPassed,
                format!("{total} of {total} validation notebooks passed in {pinned}"),
            );
            publish::run(ctx, image, update, &pinned).await?;
            validation::prune(ctx, &jobs, image, &[round]).await?;
            Ok(next_check(plan, update))
        }
    }
}

/// Looks into an image for the round: what was found, or the action to return when the pod has
/// not finished or the round ended (failed with the pod's reason).
async fn look_into(
    ctx: &Context,
    image: &NotebookImage,
    update: &mut Update,
    look: &Look<'_>,
) -> Result<Result<inspect::Inspected, Action>, Error> {
    Ok(match inspect::run(ctx, image, look).await? {
        Progress::Done(Ok(found)) => Ok(found),
        Progress::Done(Err(refusal)) => {
            end_failed(ctx, image, update, refusal.reason, refusal.message).await?;
            Err(Action::await_change())
        }
        Progress::Waiting(after) => Err(requeue(after)),
        Progress::Ended => Err(Action::await_change()),
    })
}

/// Ends the round as failed with `reason`: nothing new is published.
async fn end_failed(
    ctx: &Context,
    image: &NotebookImage,
    update: &mut Update,
    reason: Reason,
    message: String,
) -> Result<(), Error> {
    ctx.fail(image, update, None, reason, message).await;
    settle_failed(ctx, image, update).await
}

/// After a failed round: what stays published, and the round's leftovers.
async fn settle_failed(
    ctx: &Context,
    image: &NotebookImage,
    update: &mut Update,
) -> Result<(), Error> {
    let round = update.status.round.unwrap_or(1);
    let mut keep = vec![round];
    match update.status.published.clone() {
        Some(published) => {
            keep.push(published.round);
            update.condition(
                PUBLISHED,
                true,
                Reason::Published,
                format!(
                    "round {round} did not pass; round {}'s {} stays published",
                    published.round, published.image
                ),
            );
        }
        None => update.condition(
            PUBLISHED,
            false,
            Reason::NotPublished,
            format!("nothing is published: round {round} did not pass"),
        ),
    }
    let jobs: Api<NotebookValidationJob> =
        Api::namespaced(ctx.client.clone(), &image.namespace().unwrap_or_default());
    validation::prune(ctx, &jobs, image, &keep).await
}

/// After a round: when to look at the source again.
fn next_check(plan: &ImagePlan, update: &Update) -> Action {
    match (plan.revalidate_every, &plan.source) {
        (Some(every), Some(_)) => {
            let last = update
                .status
                .source_checked
                .as_ref()
                .map_or(0, |t| t.0.as_second());
            let due = last.saturating_add(i64::try_from(every.as_secs()).unwrap_or(i64::MAX));
            let left = due - update.now().0.as_second();
            Action::requeue(Duration::from_secs(u64::try_from(left).unwrap_or(0).max(1)))
        }
        _ => Action::await_change(),
    }
}

/// At the end of a round: looks at the source again when due, and starts the next round when
/// its digest moved.
async fn recheck(
    image: &NotebookImage,
    ctx: &Context,
    update: &mut Update,
    plan: &ImagePlan,
) -> Result<Action, Error> {
    let (Some(every), Some(source)) = (plan.revalidate_every, plan.source.as_deref()) else {
        return Ok(Action::await_change());
    };
    let last = update
        .status
        .source_checked
        .as_ref()
        .map_or(0, |t| t.0.as_second());
    if last.saturating_add(i64::try_from(every.as_secs()).unwrap_or(i64::MAX))
        > update.now().0.as_second()
    {
        return Ok(next_check(plan, update));
    }
    let round = update.status.round.unwrap_or(1);
    let pod = dns_label(&[&image.name_any(), "check", &last.to_string()]);
    let look = Look {
        pod: &pod,
        image: source,
        round,
        pull_secret: plan.source_pull_secret(image),
        software: false,
    };
    match inspect::run(ctx, image, &look).await? {
        Progress::Done(Ok(found)) => {
            if update.status.source_digest.as_deref() != Some(found.digest.as_str()) {
                let why = format!(
                    "{source} moved from {} to {}",
                    update
                        .status
                        .source_digest
                        .as_deref()
                        .unwrap_or("an unknown digest"),
                    found.digest
                );
                ctx.event(image, EventType::Normal, Reason::SourceImageChanged, &why)
                    .await;
                let requested = update.status.revalidate_request.clone();
                let next = next_round(Some(&update.status), requested, &why);
                *update = Update::new(Some(&next), image.metadata.generation);
                return Ok(Action::requeue(Duration::from_secs(1)));
            }
            update.status.source_checked = Some(update.now().clone());
        }
        Progress::Done(Err(refusal)) => {
            // The published image stays; the next check may find the source again.
            ctx.event(image, EventType::Warning, refusal.reason, &refusal.message)
                .await;
            update.status.source_checked = Some(update.now().clone());
        }
        Progress::Waiting(after) => return Ok(requeue(after)),
        Progress::Ended => return Ok(Action::await_change()),
    }
    Ok(next_check(plan, update))
}

fn requeue(after: Option<Duration>) -> Action {
    after.map_or_else(Action::await_change, Action::requeue)
}

/// Stops the build of the round `status` describes, when it still runs.
async fn stop_build(
    ctx: &Context,
    image: &NotebookImage,
    status: &NotebookImageStatus,
) -> Result<(), Error> {
    let Some(report) = &status.build_status else {
        return Ok(());
    };
    let running = !matches!(
        report.phase,
        Some(BuildPhase::Succeeded | BuildPhase::Failed | BuildPhase::Cancelled)
    );
    let (Some(strategy), true) = (&report.strategy, running) else {
        return Ok(());
    };
    let Ok(ImagePlan {
        build: Some(build), ..
    }) = plan::plan(image)
    else {
        return Ok(());
    };
    let request = build.request(image, status.round.unwrap_or(1), None);
    build::stop(ctx, strategy, &request).await
}

/// Before a notebook image goes: its running build stops and its catalogue entry goes; all
/// else it made (jobs, pods, builds, ImageStream tags) goes with it by garbage collection.
async fn cleanup(image: &NotebookImage, ctx: &Context) -> Result<Action, Error> {
    let uid = image.uid().unwrap_or_default();
    let current = ctx.images.get(&uid).or_else(|| image.status.clone());
    ctx.claims.release_job(&image.holder());
    if let Some(status) = &current {
        stop_build(ctx, image, status).await?;
    }
    if let Some(name) = image
        .spec
        .publish
        .as_ref()
        .and_then(|p| p.config_map.as_ref())
    {
        publish::apply_catalogue(&ctx.client, image, name, None).await?;
    }
    ctx.images.forget(&uid);
    Ok(Action::await_change())
}
