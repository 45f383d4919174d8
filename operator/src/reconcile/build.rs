//! Step 3: drive the build until it yields an image, fails or runs out of time.
//!
//! [`decide`] reads what to do from the build's status and the time it has run, without I/O;
//! [`run`] does the API calls around it.

use std::time::Duration;

use buildstrategy_api::{
    BuildPhase, BuildRequest, BuildStatus, BuildStrategy, ImageReference, LogTail, StrategyError,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::runtime::events::EventType;

use super::reason::Reason;
use super::reuse::{self, Reusable};
use super::select::{self, Choice};
use super::status::{BUILD_READY, StatusUpdate, Tracked};
use super::{Context, Error, Progress};
use super::{pod_lifecycle, registry_login};
use crate::crd::{BuildStatusReport, NotebookValidationJob, ReusePolicy};
use crate::identity::identity;

/// What a build belongs to: a job, or a notebook image. Its events, reuse policy and the name
/// other owners waiting for its build see.
pub trait BuildOwner: kube::Resource<DynamicType = ()> + Sized + Sync {
    /// `buildConfig.reuse`, when set.
    fn reuse_policy(&self) -> Option<ReusePolicy>;

    /// How others name this owner when they wait for its build (`namespace/name` for a job).
    fn holder(&self) -> String {
        identity(self)
    }
}

impl BuildOwner for NotebookValidationJob {
    fn reuse_policy(&self) -> Option<ReusePolicy> {
        self.spec.build().and_then(|b| b.reuse)
    }
}

/// What the build step does after reading the build's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The build pushed its image: use it.
    UseImage,
    /// The build ended without an image: the job fails with this reason.
    Ended(Reason),
    /// The build ran past `buildConfig.timeout`: cancel it, the job fails.
    OutOfTime {
        /// The timeout, in seconds.
        limit_secs: i64,
    },
    /// The build goes on; look again at the latest when this much time is left.
    Wait {
        /// Time left before the timeout.
        left: Duration,
    },
}

/// Decides from the build's `phase`, when it started (`None`: not known, the job's elapsed time
/// counts) and the build timeout. Pure.
pub fn decide(phase: BuildPhase, running_secs: i64, timeout: Duration) -> Decision {
    let limit_secs = i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX);
    match phase {
        BuildPhase::Succeeded => Decision::UseImage,
        BuildPhase::Failed => Decision::Ended(Reason::BuildFailed),
        BuildPhase::Cancelled => Decision::Ended(Reason::BuildCancelled),
        _ if running_secs >= limit_secs => Decision::OutOfTime { limit_secs },
        _ => Decision::Wait {
            left: Duration::from_secs(u64::try_from(limit_secs - running_secs).unwrap_or(1)),
        },
    }
}

/// Seconds the build has run: since its own start time, or the job's when it reported none.
fn running_secs<S: Tracked>(start: Option<&Time>, update: &StatusUpdate<S>) -> i64 {
    start.map_or(update.elapsed_secs(), |t| {
        (update.now().0.as_second() - t.0.as_second()).max(0)
    })
}

/// Builds the image for `job` (or another owner), recording progress in `update`.
pub async fn run<K: BuildOwner, S: Tracked>(
    ctx: &Context,
    job: &K,
    requested: &str,
    request: &BuildRequest,
    timeout: Duration,
    warning: Option<&str>,
    update: &mut StatusUpdate<S>,
) -> Result<Progress<String>, Error> {
    let previous = update.build_status().clone().unwrap_or_default();
    if previous.phase == Some(BuildPhase::Succeeded)
        && let Some(image) = &previous.image_reference
    {
        return Ok(Progress::Done(image.clone()));
    }
    let Some(Choice { strategy, mut why }) = choose(
        ctx,
        job,
        requested,
        previous.strategy.as_deref(),
        request,
        update,
    )
    .await?
    else {
        return Ok(Progress::Ended);
    };
    if let Some(warning) = warning {
        why = format!("{why} (warning: {warning})");
    }
    let name = strategy.info().name;
    let reusable = match job.reuse_policy() {
        Some(ReusePolicy::Never) => Reusable::No("buildConfig.reuse is Never".to_owned()),
        _ => reuse::key(request, name, &ctx.reuse),
    };
    if let Reusable::No(not) = &reusable {
        why = format!("{why}; {not}");
    }
    let status = match strategy.build_status(&ctx.client, request).await {
        Ok(status) => status,
        Err(StrategyError::NotFound { .. }) => {
            if let Reusable::Key(key) = &reusable {
                match lookup(ctx, job, key, timeout).await? {
                    Lookup::Reuse(found) => {
                        return Ok(reused(ctx, job, update, name, &why, key, found).await);
                    }
                    Lookup::Wait(holder) => {
                        let message = format!(
                            "{why}; job {holder} is building an image from the same inputs: waiting for it instead of building a second"
                        );
                        update.condition_unknown(BUILD_READY, Reason::WaitingForBuild, message);
                        update.phase(
                            S::BUILDING,
                            format!("waiting for the build of job {holder}"),
                        );
                        return Ok(Progress::Waiting(Some(WAIT_FOR_OTHER_BUILD)));
                    }
                    Lookup::Build => {
                        why = format!("{why}; no image was built before from the same inputs");
                    }
                }
            }
            match create(ctx, strategy.as_ref(), request).await? {
                Ok(()) => {}
                Err((reason, message)) => {
                    release(ctx, job, &reusable);
                    ctx.fail_job(job, update, Some(BUILD_READY), reason, message)
                        .await;
                    return Ok(Progress::Ended);
                }
            }
            ctx.event(
                job,
                EventType::Normal,
                Reason::BuildStarted,
                &format!("{why}; created build {}", request.build_name),
            )
            .await;
            BuildStatus::new(
                BuildPhase::Pending,
                "Created",
                format!("build {} created", request.build_name),
            )
        }
        Err(e) => return Err(Error::Strategy(e)),
    };
    let mut report = BuildStatusReport {
        strategy: Some(name.to_owned()),
        phase: Some(status.phase),
        reason: Some(status.reason.clone()),
        message: Some(status.message.clone()),
        build_name: Some(request.build_name.clone()),
        image_reference: None,
        start_time: status.start_time.clone().or(previous.start_time),
        completion_time: status.completion_time.clone(),
        logs_tail: status.logs_tail.clone().or(previous.logs_tail),
        reuse_key: match &reusable {
            Reusable::Key(key) => Some(key.clone()),
            _ => None,
        },
        reused_from: None,
    };
    let running = running_secs(report.start_time.as_ref(), update);
    let decision = decide(status.phase, running, timeout);
    if !matches!(decision, Decision::Wait { .. }) {
        release(ctx, job, &reusable);
    }
    let progress = match decision {
        Decision::UseImage => {
            // The status just read usually carries the pinned image; only without a digest is the
            // strategy asked again (S2I then reads its ImageStream).
            let image = match status.image.clone().filter(ImageReference::is_pinned) {
                Some(image) => image,
                None => strategy
                    .built_image(&ctx.client, request)
                    .await
                    .map_err(Error::Strategy)?,
            };
            let pull = image.pull_spec();
            report.image_reference = Some(pull.clone());
            let pinned = if image.is_pinned() {
                "digest-pinned"
            } else {
                "not digest-pinned: the backend reported no digest"
            };
            update.condition(
                BUILD_READY,
                true,
                Reason::BuildSucceeded,
                format!("{why}; built {pull} ({pinned})"),
            );
            update.phase(S::BUILT, format!("image built with {name}"));
            if previous.phase != Some(BuildPhase::Succeeded) {
                ctx.event(
                    job,
                    EventType::Normal,
                    Reason::BuildSucceeded,
                    &format!("built {pull}"),
                )
                .await;
            }
            Progress::Done(pull)
        }
        Decision::Ended(reason) => {
            // Read again: a tail kept while the build ran misses its last lines, which say why.
            report.logs_tail = last_logs(ctx, strategy.as_ref(), request)
                .await
                .or(report.logs_tail);
            let verb = if reason == Reason::BuildCancelled {
                "was cancelled"
            } else {
                "failed"
            };
            let last_lines = report
                .logs_tail
                .as_deref()
                .map(|t| LogTail::new(5, 1024).apply(t))
                .filter(|t| !t.is_empty());
            let mut message = format!(
                "build {} {verb} ({}): {}",
                request.build_name, status.reason, status.message
            );
            if let Some(lines) = &last_lines {
                message = format!("{message}; last log lines:\n{lines}");
            }
            // A refused login says so, with the builder's lines after it.
            let refused = report
                .logs_tail
                .as_deref()
                .filter(|_| reason == Reason::BuildFailed)
                .and_then(|tail| registry_login::refused(tail, request));
            let (reason, message) = match refused {
                Some((refused, why)) => (refused, format!("{why}; {message}")),
                None => (reason, message),
            };
            // The backend's own reason says most on the build's condition.
            update.backend_condition(BUILD_READY, false, &status.reason, message.clone());
            ctx.fail_job(job, update, None, reason, message).await;
            Progress::Ended
        }
        Decision::OutOfTime { limit_secs } => {
            cancel(ctx, strategy.as_ref(), request).await;
            report.logs_tail = last_logs(ctx, strategy.as_ref(), request)
                .await
                .or(report.logs_tail);
            let message = format!(
                "build {} ran longer than buildConfig.timeout ({limit_secs}s) and was cancelled",
                request.build_name
            );
            ctx.fail_job(
                job,
                update,
                Some(BUILD_READY),
                Reason::BuildTimeout,
                message,
            )
            .await;
            Progress::Ended
        }
        Decision::Wait { .. }
            if status.phase == BuildPhase::Pending
                && running >= pod_lifecycle::EVENTS_AFTER.as_secs().cast_signed()
                && let Some((reason, message)) =
                    registry_login::missing_secret(ctx, request).await =>
        {
            release(ctx, job, &reusable);
            // A pod that never started has no logs to keep, and the kubelet would keep it
            // waiting for its mount forever: it goes.
            cancel(ctx, strategy.as_ref(), request).await;
            if let Err(e) = strategy.delete_build(&ctx.client, request).await {
                tracing::warn!(build = %request.build_name, error = %e, "could not delete the build that cannot start");
            }
            ctx.fail_job(job, update, Some(BUILD_READY), reason, message)
                .await;
            Progress::Ended
        }
        Decision::Wait { left } => {
            if status.phase == BuildPhase::Running
                && let Some(tail) = last_logs(ctx, strategy.as_ref(), request).await
            {
                report.logs_tail = Some(tail);
            }
            update.condition_unknown(
                BUILD_READY,
                Reason::Building,
                format!(
                    "{why}; build {} is {}: {}",
                    request.build_name, status.phase, status.message
                ),
            );
            update.phase(S::BUILDING, format!("building the image with {name}"));
            // A pod that cannot start changes nothing that wakes the job: look again soon, so
            // that a missing secret is told (above) before the build's timeout.
            let again = if status.phase == BuildPhase::Pending {
                left.min(pod_lifecycle::RECHECK)
            } else {
                left
            };
            Progress::Waiting(Some(again))
        }
    };
    *update.build_status() = Some(report);
    Ok(progress)
}

/// Stops the build `request` describes, if `strategy` (by name) still exists, and deletes it.
/// A build that cannot be deleted for good is left to garbage collection through its owner.
pub(crate) async fn stop(
    ctx: &Context,
    strategy: &str,
    request: &BuildRequest,
) -> Result<(), Error> {
    let Some(strategy) = ctx.catalog.registry().get(strategy) else {
        return Ok(());
    };
    cancel(ctx, strategy.as_ref(), request).await;
    match strategy.delete_build(&ctx.client, request).await {
        Ok(()) => Ok(()),
        Err(e) if e.is_transient() => Err(Error::Strategy(e)),
        Err(e) => {
            tracing::warn!(build = %request.build_name, error = %e, "could not delete the build; garbage collection removes what its owner owns");
            Ok(())
        }
    }
}

/// How often a job waiting for another job's build looks again: that build's progress does
/// not wake it.
const WAIT_FOR_OTHER_BUILD: Duration = Duration::from_secs(5);

/// What a job with a reuse key does instead of, or before, building.
enum Lookup {
    /// Use this image.
    Reuse(reuse::Found),
    /// Wait for this job's build of the same inputs.
    Wait(String),
    /// Build (the key is now claimed for this job).
    Build,
}

/// Looks for a build with the same reuse key: done (reuse it), running for another job (wait),
/// or none (claim the key and build). Jobs come from the controller's cache, or from the API
/// server when there is none, in the scope the operator's settings allow.
async fn lookup<K: BuildOwner>(
    ctx: &Context,
    job: &K,
    key: &str,
    build_timeout: Duration,
) -> Result<Lookup, Error> {
    let namespace = job.namespace().unwrap_or_default();
    let me = job.holder();
    let jobs: Vec<NotebookValidationJob> = match ctx.cached_jobs(|_| true) {
        Some(jobs) => jobs,
        None => {
            let api: kube::Api<NotebookValidationJob> = if ctx.reuse.across_namespaces {
                kube::Api::all(ctx.client.clone())
            } else {
                kube::Api::namespaced(ctx.client.clone(), &namespace)
            };
            api.list(&kube::api::ListParams::default())
                .await
                .map_err(Error::kube("listing jobs for a build to reuse"))?
                .items
        }
    };
    let now = k8s_openapi::jiff::Timestamp::now();
    if let Some(found) = reuse::find(&jobs, key, &namespace, &ctx.reuse, now) {
        return Ok(Lookup::Reuse(found));
    }
    if let Some(holder) = reuse::running(&jobs, key, &me, &namespace, &ctx.reuse) {
        return Ok(Lookup::Wait(holder));
    }
    Ok(match ctx.claims.claim(key, &me, build_timeout) {
        Some(holder) => Lookup::Wait(holder),
        None => Lookup::Build,
    })
}

/// Ends this job's claim on its reuse key: its build ended.
fn release<K: BuildOwner>(ctx: &Context, job: &K, reusable: &Reusable) {
    if let Reusable::Key(key) = reusable {
        ctx.claims.release(key, &job.holder());
    }
}

/// Records `found` as the job's image: nothing is built.
async fn reused<K: BuildOwner, S: Tracked>(
    ctx: &Context,
    job: &K,
    update: &mut StatusUpdate<S>,
    strategy: &str,
    why: &str,
    key: &str,
    found: reuse::Found,
) -> Progress<String> {
    let message = format!(
        "reused {} built by job {} (build {}) from the same inputs; nothing was built",
        found.image, found.job, found.build
    );
    let now = update.now().clone();
    *update.build_status() = Some(BuildStatusReport {
        strategy: Some(strategy.to_owned()),
        phase: Some(BuildPhase::Succeeded),
        reason: Some(Reason::ImageReused.as_str().to_owned()),
        message: Some(message.clone()),
        build_name: Some(found.build.clone()),
        image_reference: Some(found.image.clone()),
        start_time: Some(now.clone()),
        completion_time: Some(now),
        logs_tail: None,
        reuse_key: Some(key.to_owned()),
        reused_from: Some(found.job.clone()),
    });
    update.condition(
        BUILD_READY,
        true,
        Reason::ImageReused,
        format!("{why}; {message}"),
    );
    update.phase(S::BUILT, format!("image reused from job {}", found.job));
    ctx.event(job, EventType::Normal, Reason::ImageReused, &message)
        .await;
    Progress::Done(found.image)
}

/// Chooses the strategy, or ends the job when none can build it (`None`). A strategy switched
/// off while its build ran has that build cancelled.
async fn choose<K: BuildOwner, S: Tracked>(
    ctx: &Context,
    job: &K,
    requested: &str,
    pinned: Option<&str>,
    request: &BuildRequest,
    update: &mut StatusUpdate<S>,
) -> Result<Option<Choice>, Error> {
    let error = match select::choose(
        &ctx.catalog,
        &ctx.detection,
        &ctx.client,
        requested,
        pinned,
        request,
    )
    .await
    {
        Ok(choice) => return Ok(Some(choice)),
        Err(e) if e.is_transient() => return Err(Error::Select(e)),
        Err(e) => e,
    };
    let mut message = error.to_string();
    if let Some(name) = pinned
        && let Some(started) = ctx.catalog.registry().get(name)
    {
        cancel(ctx, started.as_ref(), request).await;
        message = format!(
            "build strategy '{name}' was switched off while its build {} ran; the build was cancelled. {message}",
            request.build_name
        );
    }
    ctx.fail_job(job, update, Some(BUILD_READY), error.reason(), message)
        .await;
    Ok(None)
}

/// Creates the build. A refusal that every retry would meet alike (an object too large to
/// store, a configuration the strategy refuses) comes back as the reason and message that end
/// the job; other failures are retried.
async fn create(
    ctx: &Context,
    strategy: &dyn BuildStrategy,
    request: &BuildRequest,
) -> Result<Result<(), (Reason, String)>, Error> {
    strategy
        .ensure_prerequisites(&ctx.client, request)
        .await
        .map_err(Error::Strategy)?;
    match strategy.create_build(&ctx.client, request).await {
        Ok(()) => Ok(Ok(())),
        Err(e @ StrategyError::TooLarge { .. }) => Ok(Err((Reason::ObjectTooLarge, e.to_string()))),
        Err(e @ StrategyError::InvalidConfig { .. }) => {
            Ok(Err((Reason::InvalidStrategyConfig, e.to_string())))
        }
        Err(e) => Err(Error::Strategy(e)),
    }
}

/// The last lines of the build log, when the strategy can read them.
async fn last_logs(
    ctx: &Context,
    strategy: &dyn BuildStrategy,
    request: &BuildRequest,
) -> Option<String> {
    strategy
        .logs(&ctx.client, request, LogTail::DEFAULT)
        .await
        .ok()
}

/// Stops a build; strategies that cannot cancel have their build deleted instead.
pub async fn cancel(ctx: &Context, strategy: &dyn BuildStrategy, request: &BuildRequest) {
    let result = match strategy.cancel_build(&ctx.client, request).await {
        Err(StrategyError::NotSupportedYet { .. }) => {
            strategy.delete_build(&ctx.client, request).await
        }
        other => other,
    };
    if let Err(e) = result {
        tracing::warn!(build = %request.build_name, error = %e, "could not stop the build");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(600);

    #[test]
    fn an_ended_build_decides_by_its_phase_whatever_the_time() {
        for running in [0, 599, 600, 10_000] {
            assert_eq!(
                decide(BuildPhase::Succeeded, running, TIMEOUT),
                Decision::UseImage
            );
            assert_eq!(
                decide(BuildPhase::Failed, running, TIMEOUT),
                Decision::Ended(Reason::BuildFailed)
            );
            assert_eq!(
                decide(BuildPhase::Cancelled, running, TIMEOUT),
                Decision::Ended(Reason::BuildCancelled)
            );
        }
    }

    #[test]
    fn a_build_in_progress_waits_until_its_timeout_then_is_out_of_time() {
        assert_eq!(
            decide(BuildPhase::Pending, 0, TIMEOUT),
            Decision::Wait {
                left: Duration::from_secs(600)
            }
        );
        assert_eq!(
            decide(BuildPhase::Running, 590, TIMEOUT),
            Decision::Wait {
                left: Duration::from_secs(10)
            }
        );
        for phase in [BuildPhase::Pending, BuildPhase::Running] {
            assert_eq!(
                decide(phase, 600, TIMEOUT),
                Decision::OutOfTime { limit_secs: 600 }
            );
        }
    }
}
