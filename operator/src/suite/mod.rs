//! The suite controller: a `NotebookValidationSuite` runs many notebooks of one repository over
//! a matrix of images, parameter sets and kernels, as one ordinary `NotebookValidationJob` per
//! cell of the matrix, owned by the suite.
//!
//! Each generation of the spec is one run, and a run reads as named steps:
//! list (a pod clones the repository at the ref: the commit and its notebooks,
//! [`crate::steps::listing`]) → [`selection`] (globs, paths, goldens) → images (a NotebookImage
//! by its published digest) → [`changes`] (with `changedFrom`, only what changed) →
//! [`matrix`] (the cells, each job pinned to the commit) → launch
//! (at most `maxParallel` running, longest first by the last run's durations) → [`summary`]
//! (counts, verdicts, the slowest, the cross-image diff) → [`report`] (one JUnit document, in a
//! ConfigMap and the artifacts claim).
//!
//! Job names derive from the generation and the cell, so a restarted operator creates no
//! second job for a cell. The jobs do everything a job does (builds, reuse, artifacts).

pub mod changes;
pub mod matrix;
pub mod report;
pub mod selection;
pub mod summary;

use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use kube::ResourceExt;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;

use self::matrix::{Cell, ResolvedImage};
use self::selection::Selection;
use crate::crd::NotebookValidationJob;
use crate::crd::conditions::READY;
use crate::crd::image::NotebookImage;
use crate::crd::suite::{
    CellKey, MatrixImage, NotebookValidationSuite, NotebookValidationSuiteStatus, SuitePhase,
};
use crate::labels::{self, SUITE_GENERATION_LABEL, SUITE_LABEL};
use crate::reason::Reason;
use crate::steps::listing::{self, Listing, ListingPod};
use crate::steps::skeleton::Owner;
use crate::steps::status::{StatusUpdate, write_status};
use crate::steps::{Context, Error, Progress};

/// The finalizer a suite would carry; none is set, as its jobs and pods go by garbage
/// collection, and each job cleans up its own build.
pub const FINALIZER: &str = "mlops.redhat.com/notebook-validation-suite-cleanup";
/// Jobs running at once without `maxParallel`.
pub const DEFAULT_MAX_PARALLEL: u32 = 4;
/// How often a suite waiting for a NotebookImage looks again.
const IMAGE_RECHECK: Duration = Duration::from_secs(10);
/// A running suite's safety net: its jobs' changes wake it before this.
const RUNNING_RECHECK: Duration = Duration::from_secs(60);

/// The status a reconcile of a suite computes.
type Update = StatusUpdate<NotebookValidationSuiteStatus>;
/// Where a step leaves the run: on to the next step, or this reconcile ends with an action.
type Step<T> = ControlFlow<Action, T>;

impl Owner for NotebookValidationSuite {
    const FINALIZER: &'static str = FINALIZER;

    fn needs_finalizer(&self) -> bool {
        false
    }

    async fn apply(&self, ctx: &Context) -> Result<Action, Error> {
        apply(self, ctx).await
    }

    async fn cleanup(&self, _ctx: &Context) -> Result<Action, Error> {
        Ok(Action::await_change())
    }
}

async fn apply(suite: &NotebookValidationSuite, ctx: &Context) -> Result<Action, Error> {
    let uid = suite.uid().unwrap_or_default();
    let generation = suite.metadata.generation.unwrap_or(1);
    let remembered = ctx.suites.get(&uid);
    // A new generation is a new run: nothing of the last run's status carries over.
    let current = remembered
        .as_ref()
        .or(suite.status.as_ref())
        .filter(|s| s.observed_generation == Some(generation));
    if current.is_some_and(NotebookValidationSuiteStatus::is_terminal) {
        return Ok(Action::await_change());
    }
    let mut update = Update::new(current, Some(generation));
    let action = run(suite, ctx, generation, &mut update).await?;
    if current != Some(&update.status) {
        write_status(
            &ctx.client,
            suite,
            &update.status,
            "writing the suite status",
        )
        .await?;
    }
    ctx.suites.remember(uid, update.status);
    Ok(action)
}

/// One reconcile of the run.
async fn run(
    suite: &NotebookValidationSuite,
    ctx: &Context,
    generation: i64,
    update: &mut Update,
) -> Result<Action, Error> {
    let listing = match list(suite, ctx, generation, update).await? {
        Step::Continue(listing) => listing,
        Step::Break(action) => return Ok(action),
    };
    let selection =
        match selection::select(&listing, &suite.spec.notebooks, suite.spec.golden.as_ref()) {
            Ok(selection) => selection,
            Err(e) => {
                return fail(suite, ctx, update, Reason::InvalidSelection, e.to_string()).await;
            }
        };
    update.status.skipped = selection.skipped.iter().take(100).cloned().collect();
    let images = match resolve_images(suite, ctx, update).await? {
        Step::Continue(images) => images,
        Step::Break(action) => return Ok(action),
    };
    let jobs = ctx.jobs_of(suite, SUITE_LABEL).await?;
    let (current, earlier): (Vec<_>, Vec<_>) = jobs
        .into_iter()
        .partition(|j| generation_of(j) == Some(generation));
    let selection =
        match only_changed(suite, ctx, update, &listing, selection, &images, &earlier).await? {
            Step::Continue(selection) => selection,
            Step::Break(action) => return Ok(action),
        };
    let cells = match matrix::cells(suite, &selection, &images) {
        Ok(cells) => cells,
        Err(message) => return fail(suite, ctx, update, Reason::MatrixTooLarge, message).await,
    };
    let run = Run {
        generation,
        listing: &listing,
        selection: &selection,
        cells: &cells,
        current: &current,
        earlier: &earlier,
    };
    launch(suite, ctx, &run, update).await
}

/// The changes step: with `changedFrom`, only the notebooks that changed, unless a dependency
/// file changed or an image moved.
async fn only_changed(
    suite: &NotebookValidationSuite,
    ctx: &Context,
    update: &mut Update,
    listing: &Listing,
    selection: Selection,
    images: &[ResolvedImage],
    earlier: &[NotebookValidationJob],
) -> Result<Step<Selection>, Error> {
    let Some(changed) = &listing.changes else {
        return Ok(Step::Continue(selection));
    };
    let moved = moved_image(earlier, images);
    match changes::narrow(
        selection,
        changed,
        &suite.spec.dependency_globs,
        moved.as_deref(),
    ) {
        Ok((narrowed, why)) => {
            update.status.changes = Some(why);
            Ok(Step::Continue(narrowed))
        }
        Err(e) => fail(suite, ctx, update, Reason::InvalidSelection, e.to_string())
            .await
            .map(Step::Break),
    }
}

/// What a run's launch step works from.
struct Run<'a> {
    generation: i64,
    listing: &'a Listing,
    selection: &'a Selection,
    cells: &'a [Cell],
    /// This run's jobs.
    current: &'a [NotebookValidationJob],
    /// The jobs of earlier runs, kept until this one ends.
    earlier: &'a [NotebookValidationJob],
}

/// The first matrix image whose reference differs from the one the last run's jobs ran.
fn moved_image(earlier: &[NotebookValidationJob], images: &[ResolvedImage]) -> Option<String> {
    let last = earlier.iter().filter_map(generation_of).max()?;
    images.iter().find_map(|image| {
        let ran = earlier
            .iter()
            .filter(|j| generation_of(j) == Some(last))
            .find(|j| matrix::cell_of(j).and_then(|c| c.image).as_deref() == Some(&image.name))?
            .spec
            .pod_config
            .as_ref()?
            .container_image
            .clone()?;
        (ran != image.reference).then(|| image.name.clone())
    })
}

fn listing_pod(suite: &NotebookValidationSuite, generation: i64) -> ListingPod<'_> {
    ListingPod {
        name: buildstrategy_api::naming::dns_label(&[
            &suite.name_any(),
            &format!("g{generation}"),
            "list",
        ]),
        namespace: suite.namespace().unwrap_or_default(),
        labels: labels::for_suite(suite, generation),
        owner: labels::owner(suite),
        git: &suite.spec.repository,
        changed_from: suite.spec.changed_from.as_deref(),
    }
}

/// The list step: the commit the ref names and the repository's notebooks.
async fn list(
    suite: &NotebookValidationSuite,
    ctx: &Context,
    generation: i64,
    update: &mut Update,
) -> Result<Step<Arc<Listing>>, Error> {
    if let Err(e) = selection::check_globs(&suite.spec.notebooks) {
        return fail(suite, ctx, update, Reason::InvalidSelection, e.to_string())
            .await
            .map(Step::Break);
    }
    let repository = &suite.spec.repository;
    match listing::run(ctx, &listing_pod(suite, generation)).await? {
        Progress::Done(Ok(listing)) => {
            update.status.commit = Some(listing.commit.clone());
            Ok(Step::Continue(listing))
        }
        Progress::Done(Err(failed)) => fail(suite, ctx, update, failed.reason, failed.message)
            .await
            .map(Step::Break),
        Progress::Waiting(after) => {
            let message = format!(
                "cloning {} at {} to list its notebooks",
                repository.url,
                repository
                    .git_ref
                    .as_deref()
                    .unwrap_or("its default branch")
            );
            update.condition_unknown(READY, Reason::ListingNotebooks, message.clone());
            update.phase(SuitePhase::Pending, message);
            Ok(Step::Break(Action::requeue(
                after.unwrap_or(Duration::from_secs(3)),
            )))
        }
        Progress::Ended => Ok(Step::Break(Action::await_change())),
    }
}

/// The images step: each matrix image as its jobs name it; a NotebookImage by the image it
/// published, digest-pinned.
async fn resolve_images(
    suite: &NotebookValidationSuite,
    ctx: &Context,
    update: &mut Update,
) -> Result<Step<Vec<ResolvedImage>>, Error> {
    let wanted: &[MatrixImage] = suite
        .spec
        .matrix
        .as_ref()
        .map_or(&[], |m| m.images.as_slice());
    let namespace = suite.namespace().unwrap_or_default();
    let api: Api<NotebookImage> = Api::namespaced(ctx.client.clone(), &namespace);
    let mut resolved = Vec::with_capacity(wanted.len());
    for image in wanted {
        if let Some(reference) = &image.container_image {
            resolved.push(ResolvedImage {
                name: image.name.clone(),
                reference: reference.clone(),
                pull_secrets: Vec::new(),
            });
            continue;
        }
        let name = image.notebook_image.as_deref().unwrap_or_default();
        let found = api
            .get_opt(name)
            .await
            .map_err(Error::kube("reading a matrix's NotebookImage"))?;
        let published = found
            .as_ref()
            .and_then(|i| Some((i, i.status.as_ref()?.published.as_ref()?)));
        let Some((notebook_image, published)) = published else {
            let why = if found.is_some() {
                "has published no image yet"
            } else {
                "does not exist"
            };
            let message = format!(
                "matrix image {}: NotebookImage {name} in {namespace} {why}; the suite starts once it has published one",
                image.name
            );
            update.condition_unknown(READY, Reason::WaitingForImage, message.clone());
            update.phase(SuitePhase::Pending, message);
            return Ok(Step::Break(Action::requeue(IMAGE_RECHECK)));
        };
        resolved.push(ResolvedImage {
            name: image.name.clone(),
            reference: published.image.clone(),
            pull_secrets: notebook_image.pull_secrets(),
        });
    }
    Ok(Step::Continue(resolved))
}

fn generation_of(job: &NotebookValidationJob) -> Option<i64> {
    job.labels().get(SUITE_GENERATION_LABEL)?.parse().ok()
}

fn is_done(job: &NotebookValidationJob) -> bool {
    job.status.as_ref().is_some_and(|s| s.is_terminal())
}

/// The launch step: stops the last runs' unfinished jobs, creates this run's next jobs
/// (longest first, up to `maxParallel` running), and sums up.
async fn launch(
    suite: &NotebookValidationSuite,
    ctx: &Context,
    run: &Run<'_>,
    update: &mut Update,
) -> Result<Action, Error> {
    let namespace = suite.namespace().unwrap_or_default();
    let api: Api<NotebookValidationJob> = Api::namespaced(ctx.client.clone(), &namespace);
    for job in run.earlier.iter().filter(|j| !is_done(j)) {
        delete(&api, job).await?;
    }
    let by_name: HashMap<String, &NotebookValidationJob> =
        run.current.iter().map(|j| (j.name_any(), j)).collect();
    let names: Vec<String> = run
        .cells
        .iter()
        .map(|c| matrix::job_name(suite, run.generation, &c.key))
        .collect();
    let uid = suite.uid().unwrap_or_default();
    let unseen = ctx.expected.unseen(&uid, |name| by_name.contains_key(name));
    let running = run.current.iter().filter(|j| !is_done(j)).count() + unseen.len();
    let limit = suite.spec.max_parallel.unwrap_or(DEFAULT_MAX_PARALLEL) as usize;
    let history = durations(run.earlier);
    let mut waiting: Vec<(&Cell, &String)> = run
        .cells
        .iter()
        .zip(&names)
        .filter(|(_, name)| !by_name.contains_key(*name) && !unseen.contains(name))
        .collect();
    waiting.sort_by_key(|(cell, _)| longest_first(history.get(&cell.key).copied()));
    let mut created = Vec::new();
    for (cell, name) in waiting.into_iter().take(limit.saturating_sub(running)) {
        let job = matrix::render(suite, run.generation, &run.listing.commit, cell);
        match api.create(&PostParams::default(), &job).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(source) => {
                return Err(Error::Kube {
                    action: "creating a suite's job",
                    source,
                });
            }
        }
        ctx.expected.created(&uid, name.clone());
        created.push(name.clone());
    }
    let observed: Vec<summary::Observed<'_>> = run
        .cells
        .iter()
        .zip(&names)
        .map(|(cell, name)| summary::Observed {
            key: &cell.key,
            job_name: name,
            job: by_name.get(name).copied(),
        })
        .collect();
    let mut summed = summary::summarize(&observed);
    // A job created a moment ago is running, though no cache has seen it yet.
    let just_created = u32::try_from(created.len() + unseen.len()).unwrap_or(u32::MAX);
    summed.counts.pending = summed.counts.pending.saturating_sub(just_created);
    summed.counts.running += just_created;
    settle(suite, ctx, run, &observed, summed, update).await
}

/// The order of a waiting cell: the longest last duration first, cells never run before all.
fn longest_first(last_seconds: Option<i64>) -> std::cmp::Reverse<i64> {
    std::cmp::Reverse(last_seconds.unwrap_or(i64::MAX))
}

/// The last duration of each cell, from the earlier runs' finished jobs.
fn durations(earlier: &[NotebookValidationJob]) -> BTreeMap<CellKey, i64> {
    let mut last: BTreeMap<CellKey, (i64, i64)> = BTreeMap::new();
    for job in earlier {
        let (Some(key), Some(generation), Some(secs)) = (
            matrix::cell_of(job),
            generation_of(job),
            job.status.as_ref().and_then(|s| s.duration_secs()),
        ) else {
            continue;
        };
        let entry = last.entry(key).or_insert((generation, secs));
        if generation >= entry.0 {
            *entry = (generation, secs);
        }
    }
    last.into_iter().map(|(k, (_, secs))| (k, secs)).collect()
}

async fn delete(
    api: &Api<NotebookValidationJob>,
    job: &NotebookValidationJob,
) -> Result<(), Error> {
    match api
        .delete(&job.name_any(), &DeleteParams::background())
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(source) => Err(Error::Kube {
            action: "deleting a suite's job of an earlier run",
            source,
        }),
    }
}

/// Writes the summary into status, and ends the run once every job has and its report is
/// written.
async fn settle(
    suite: &NotebookValidationSuite,
    ctx: &Context,
    run: &Run<'_>,
    observed: &[summary::Observed<'_>],
    summed: summary::Summary,
    update: &mut Update,
) -> Result<Action, Error> {
    let counts = summed.counts.clone();
    update.status.counts = Some(summed.counts);
    update.status.cells = summed.cells;
    update.status.cells_omitted = summed.cells_omitted;
    update.status.slowest = summed.slowest;
    update.status.image_diffs = summed.image_diffs;
    let progress = format!(
        "{} notebooks, {} jobs: {} passed, {} failed, {} running, {} waiting",
        run.selection.notebooks.len(),
        counts.total,
        counts.passed,
        counts.failed,
        counts.running,
        counts.pending
    );
    if counts.running > 0 || counts.pending > 0 {
        update.condition_unknown(READY, Reason::SuiteRunning, progress.clone());
        update.phase(SuitePhase::Running, progress);
        return Ok(Action::requeue(RUNNING_RECHECK));
    }
    match report::publish(ctx, suite, run.generation, observed).await? {
        Progress::Done(written) => update.status.report = Some(written),
        Progress::Waiting(after) => {
            update.phase(
                SuitePhase::Running,
                format!("{progress}; copying the report into the artifacts claim"),
            );
            return Ok(Action::requeue(after.unwrap_or(RUNNING_RECHECK)));
        }
        Progress::Ended => {}
    }
    if counts.failed == 0 {
        update.condition(READY, true, Reason::SuitePassed, progress.clone());
        update.succeed(progress.clone());
        ctx.event(suite, EventType::Normal, Reason::SuitePassed, &progress)
            .await;
    } else {
        ctx.fail(suite, update, None, Reason::SuiteFailed, progress)
            .await;
    }
    finish(suite, ctx, run.generation).await?;
    Ok(Action::await_change())
}

/// Ends `suite`'s run with `reason`.
async fn fail(
    suite: &NotebookValidationSuite,
    ctx: &Context,
    update: &mut Update,
    reason: Reason,
    message: String,
) -> Result<Action, Error> {
    ctx.fail(suite, update, None, reason, message).await;
    finish(suite, ctx, suite.metadata.generation.unwrap_or(1)).await?;
    Ok(Action::await_change())
}

/// What goes once a run ended: its listing pod, and the jobs of earlier runs (kept until now
/// for their durations).
async fn finish(
    suite: &NotebookValidationSuite,
    ctx: &Context,
    generation: i64,
) -> Result<(), Error> {
    listing::discard(ctx, &listing_pod(suite, generation)).await;
    ctx.expected.forget(&suite.uid().unwrap_or_default());
    let api: Api<NotebookValidationJob> =
        Api::namespaced(ctx.client.clone(), &suite.namespace().unwrap_or_default());
    for job in ctx.jobs_of(suite, SUITE_LABEL).await? {
        if generation_of(&job) != Some(generation) {
            delete(&api, &job).await?;
        }
    }
    Ok(())
}
