//! The notebook image controller: a `NotebookImage` is imported or built, looked into,
//! validated by running its notebooks, and published only when every one of them passed.
//!
//! One pass of that flow is a *round*; a new one starts with a new generation of the spec, a
//! new value of the [`REVALIDATE_ANNOTATION`], or a new digest of the source image found by the
//! periodic check. A round reads as named steps:
//! [`plan`] (read the spec) → source ([`inspect`] the image to import, or the base image: its
//! digest) → build (the job's own build step, [`crate::reconcile::build`]: selection, reuse,
//! timeouts, cancellation and logs are the same) → [`inspect`] (what the built image holds) →
//! [`validation`] (one NotebookValidationJob per notebook, in the digest-pinned image) →
//! [`publish`] (status, and the ImageStream tag or the catalogue).
//!
//! Every step's product is in status (the source digest, the image, its software, the jobs'
//! verdicts) and every object has a name derived from the round, so a restarted operator
//! carries on where it was, with no second build, pod or job.

pub mod crd;
pub mod inspect;
pub mod plan;
pub mod publish;
pub mod validation;

use std::sync::Arc;
use std::time::Duration;

use buildstrategy_api::BuildPhase;
use buildstrategy_api::naming::dns_label;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};

use self::crd::{ImagePhase, NotebookImage, NotebookImageStatus, Published};
use self::inspect::Look;
use self::plan::ImagePlan;
use self::validation::Standing;
use crate::crd::{NotebookValidationJob, ReusePolicy};
use crate::reconcile::build::{self, BuildOwner};
use crate::reconcile::status::{self, StatusUpdate};
use crate::reconcile::{Context, Error, Progress, Reason};

/// Any new value of this annotation starts a new round: the image is imported or built again
/// and validated again.
pub const REVALIDATE_ANNOTATION: &str = "mlops.redhat.com/revalidate";
/// The finalizer that lets the operator stop a build and take back a catalogue entry.
pub const FINALIZER: &str = "mlops.redhat.com/notebook-image-cleanup";
/// Condition: the round's image was imported or built, and looked into.
pub const IMAGE_READY: &str = "ImageReady";
/// Condition: the validation notebooks passed in the round's image.
pub const VALIDATED: &str = "Validated";
/// Condition: an image is published (this round's, or the last one that passed).
pub const PUBLISHED: &str = "Published";

type Update = StatusUpdate<NotebookImageStatus>;

impl BuildOwner for NotebookImage {
    fn reuse_policy(&self) -> Option<ReusePolicy> {
        self.spec.build_config.as_ref().and_then(|b| b.reuse)
    }

    fn holder(&self) -> String {
        format!("NotebookImage {}", crate::identity::identity(self))
    }
}

/// Reconciles one notebook image.
pub async fn reconcile(image: Arc<NotebookImage>, ctx: Arc<Context>) -> Result<Action, Error> {
    let api: Api<NotebookImage> =
        Api::namespaced(ctx.client.clone(), &image.namespace().unwrap_or_default());
    let key = retry_key(&image);
    let result = finalizer(&api, FINALIZER, image, |event| async {
        match event {
            FinalizerEvent::Apply(image) => apply(&image, &ctx).await,
            FinalizerEvent::Cleanup(image) => cleanup(&image, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)));
    if result.is_ok() {
        ctx.retry_succeeded(&key);
    }
    result
}

fn retry_key(image: &NotebookImage) -> String {
    image.holder()
}

/// Retries failed reconciles with the job controller's backoff.
pub fn error_policy(image: Arc<NotebookImage>, error: &Error, ctx: Arc<Context>) -> Action {
    let delay = ctx.retry_delay(retry_key(&image));
    tracing::warn!(image = %image.name_any(), error = %error, ?delay, "notebook image reconcile failed; retrying");
    Action::requeue(delay)
}

/// Why a new round starts, if one does.
fn round_trigger(
    current: Option<&NotebookImageStatus>,
    generation: Option<i64>,
    requested: Option<&str>,
) -> Option<String> {
    let Some(status) = current.filter(|s| s.round.is_some()) else {
        return Some("first round".to_owned());
    };
    if status.observed_generation != generation {
        return Some(format!(
            "generation {} of the spec",
            generation.unwrap_or_default()
        ));
    }
    if requested.is_some() && requested != status.revalidate_request.as_deref() {
        return Some(format!(
            "re-validation asked for through the {REVALIDATE_ANNOTATION} annotation"
        ));
    }
    None
}

/// The status a new round starts from: the published image and its condition stay.
fn next_round(
    current: Option<&NotebookImageStatus>,
    requested: Option<String>,
    why: &str,
) -> NotebookImageStatus {
    let previous = current.cloned().unwrap_or_default();
    let round = previous.round.unwrap_or(0) + 1;
    NotebookImageStatus {
        phase: Some(ImagePhase::Preparing),
        message: Some(format!("round {round}: {why}")),
        conditions: previous
            .conditions
            .into_iter()
            .filter(|c| c.type_ == PUBLISHED)
            .collect(),
        round: Some(round),
        revalidate_request: requested.or(previous.revalidate_request),
        published: previous.published,
        source_checked: previous.source_checked,
        ..NotebookImageStatus::default()
    }
}

async fn apply(image: &NotebookImage, ctx: &Context) -> Result<Action, Error> {
    let uid = image.uid().unwrap_or_default();
    let remembered = ctx.images.get(&uid);
    let current = remembered.as_ref().or(image.status.as_ref());
    let generation = image.metadata.generation;
    let requested = image.annotations().get(REVALIDATE_ANNOTATION).cloned();
    let mut update = match round_trigger(current, generation, requested.as_deref()) {
        Some(why) => {
            if let Some(previous) = current {
                stop_build(ctx, image, previous).await?;
            }
            let next = next_round(current, requested, &why);
            inspect::discard_earlier_rounds(ctx, image, next.round.unwrap_or(1)).await;
            ctx.event(
                image,
                EventType::Normal,
                Reason::RoundStarted,
                &format!("round {}: {why}", next.round.unwrap_or(1)),
            )
            .await;
            Update::new(Some(&next), generation)
        }
        None => Update::new(current, generation),
    };
    let action = match steps(image, ctx, &mut update).await {
        Ok(action) => action,
        // A permission the role lacks will not come by retrying: say so in status.
        Err(e) => match e.forbidden() {
            Some(denied) => {
                let message = format!(
                    "the operator's role does not allow what this image needs; grant it, then start a new round (change the spec or the {REVALIDATE_ANNOTATION} annotation): {denied}"
                );
                ctx.fail_job(image, &mut update, None, Reason::Forbidden, message)
                    .await;
                Action::await_change()
            }
            None => return Err(e),
        },
    };
    if current != Some(&update.status) {
        status::write_status(
            ctx,
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

async fn steps(image: &NotebookImage, ctx: &Context, update: &mut Update) -> Result<Action, Error> {
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
    let round = update.status.round.unwrap_or(1);
    let stem = plan::round_name(image, round);
    if let Some(source) = &plan.source
        && update.status.source_digest.is_none()
    {
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
        let pod = dns_label(&[&stem, "source"]);
        let look = Look {
            pod: &pod,
            image: source,
            round,
            pull_secret: plan.source_pull_secret(image),
            software: importing,
        };
        let found = match look_into(ctx, image, update, &look).await? {
            Ok(found) => found,
            Err(action) => return Ok(action),
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
    }
    if let Some(build) = &plan.build
        && update.status.image.is_none()
    {
        let pinned_base = plan
            .source
            .as_deref()
            .zip(update.status.source_digest.as_deref())
            .map(|(source, digest)| inspect::pin(source, digest));
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
            Progress::Waiting(after) => return Ok(requeue(after)),
            Progress::Ended => {
                settle_failed(ctx, image, update).await?;
                return Ok(Action::await_change());
            }
        }
    }
    let Some(made) = update.status.image.clone() else {
        end_failed(
            ctx,
            image,
            update,
            Reason::InvalidSpec,
            "the spec names no image to import and no build".to_owned(),
        )
        .await?;
        return Ok(Action::await_change());
    };
    if update.status.software.is_none() {
        update.phase(ImagePhase::Validating, format!("reading what {made} holds"));
        update.condition_unknown(
            IMAGE_READY,
            Reason::Inspecting,
            format!("pulling {made} to read its digest and what it holds"),
        );
        let pod = dns_label(&[&stem, "inspect"]);
        let look = Look {
            pod: &pod,
            image: &made,
            round,
            pull_secret: plan::built_pull_secret(image),
            software: true,
        };
        let found = match look_into(ctx, image, update, &look).await? {
            Ok(found) => found,
            Err(action) => return Ok(action),
        };
        update.condition(
            IMAGE_READY,
            true,
            Reason::ImageInspected,
            format!("built {}", found.pinned),
        );
        update.status.image = Some(found.pinned);
        update.status.software = found.software;
    }
    let pinned = update.status.image.clone().unwrap_or(made);
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
            end_failed(
                ctx,
                image,
                update,
                Reason::ValidationFailed,
                format!("validation failed in {pinned}: {which}"),
            )
            .await?;
            Ok(Action::await_change())
        }
        Standing::Passed => {
            update.condition(
                VALIDATED,
                true,
                Reason::ValidationPassed,
                format!("{total} of {total} validation notebooks passed in {pinned}"),
            );
            publish(ctx, image, update, &pinned).await?;
            validation::prune(ctx, &jobs, image, &[round]).await?;
            Ok(next_check(&plan, update))
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

/// Publishes the validated `pinned` image and ends the round as succeeded.
async fn publish(
    ctx: &Context,
    image: &NotebookImage,
    update: &mut Update,
    pinned: &str,
) -> Result<(), Error> {
    let round = update.status.round.unwrap_or(1);
    let previous = update.status.published.clone();
    let mut published = Published {
        image: pinned.to_owned(),
        round,
        generation: image.metadata.generation.unwrap_or_default(),
        source_digest: update.status.source_digest.clone(),
        image_stream_tag: None,
        config_map: None,
        time: update.now().clone(),
    };
    let settings = image.spec.publish.clone().unwrap_or_default();
    let mut places = vec![format!("{pinned} in status")];
    match image_streams(ctx).await {
        Some(api_resource) => {
            let stream = settings.image_stream.unwrap_or_else(|| image.name_any());
            let (software, dependencies) = publish::software_lists(update.status.software.as_ref());
            let kept = match &previous {
                Some(p) => Some((
                    p,
                    publish::tag_annotations(
                        &ctx.client,
                        &api_resource,
                        image,
                        &stream,
                        &publish::tag_name(p.round),
                    )
                    .await?,
                )),
                None => None,
            };
            let document =
                publish::image_stream(image, &stream, &published, kept, &software, &dependencies);
            publish::apply_image_stream(&ctx.client, &api_resource, image, &document).await?;
            let tag = format!("{stream}:{}", publish::tag_name(round));
            places.push(format!("ImageStream tag {tag}"));
            published.image_stream_tag = Some(tag);
        }
        None if settings.image_stream.is_some() => places.push(
            "not as an ImageStream tag: ImageStreams are not served on this cluster".to_owned(),
        ),
        None => {}
    }
    if let Some(name) = &settings.config_map {
        let entry = publish::catalogue_entry(image, &published);
        publish::apply_catalogue(&ctx.client, image, name, Some(entry)).await?;
        places.push(format!("ConfigMap {name}"));
        published.config_map = Some(name.clone());
    }
    let message = format!("validated and published: {}", places.join(", "));
    update.status.published = Some(published);
    update.condition(PUBLISHED, true, Reason::Published, message.clone());
    update.succeed(message.clone());
    ctx.event(image, EventType::Normal, Reason::Published, &message)
        .await;
    Ok(())
}

/// The ImageStream API, when this cluster serves it (OpenShift).
async fn image_streams(ctx: &Context) -> Option<kube::core::ApiResource> {
    kube::discovery::oneshot::pinned_kind(&ctx.client, &publish::image_stream_kind())
        .await
        .ok()
        .map(|(api_resource, _)| api_resource)
}

/// Ends the round as failed with `reason`: nothing new is published.
async fn end_failed(
    ctx: &Context,
    image: &NotebookImage,
    update: &mut Update,
    reason: Reason,
    message: String,
) -> Result<(), Error> {
    ctx.fail_job(image, update, None, reason, message).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_start_with_a_generation_or_a_request_and_keep_what_is_published() {
        assert_eq!(
            round_trigger(None, Some(1), None).as_deref(),
            Some("first round")
        );
        let first = next_round(None, Some("a".into()), "first round");
        assert_eq!(first.round, Some(1));
        let mut done = first.clone();
        done.observed_generation = Some(1);
        done.phase = Some(ImagePhase::Succeeded);
        done.published = Some(Published {
            image: "reg/nb@sha256:1".into(),
            round: 1,
            generation: 1,
            source_digest: None,
            image_stream_tag: None,
            config_map: None,
            time: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
            ),
        });
        assert_eq!(round_trigger(Some(&done), Some(1), Some("a")), None);
        assert!(
            round_trigger(Some(&done), Some(2), Some("a"))
                .is_some_and(|w| w.contains("generation 2"))
        );
        assert!(
            round_trigger(Some(&done), Some(1), Some("b"))
                .is_some_and(|w| w.contains("annotation"))
        );
        let second = next_round(Some(&done), None, "generation 2 of the spec");
        assert_eq!(second.round, Some(2));
        assert_eq!(second.published, done.published);
        assert_eq!(second.revalidate_request.as_deref(), Some("a"));
        assert_eq!(second.phase, Some(ImagePhase::Preparing));
    }
}
