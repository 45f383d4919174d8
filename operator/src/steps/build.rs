//! The build step, shared by jobs and notebook images: drive the build until it yields an
//! image, fails or runs out of time.
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

use super::context::Context;
use super::error::Error;
use super::progress::Progress;
use super::reuse::{self, Reusable};
use super::select::{self, Choice};
use super::status::{Built, StatusUpdate};
use super::{pod_lifecycle, registry_login};
use crate::crd::conditions::BUILD_READY;
use crate::crd::image::NotebookImage;
use crate::crd::{BuildStatusReport, NotebookValidationJob, ReusePolicy};
use crate::identity::identity;
use crate::reason::Reason;

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

impl BuildOwner for NotebookImage {
    fn reuse_policy(&self) -> Option<ReusePolicy> {
        self.spec.build_config.as_ref().and_then(|b| b.reuse)
    }

    fn holder(&self) -> String {
        format!("NotebookImage {}", identity(self))
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
fn running_secs<S: Built>(start: Option<&Time>, update: &StatusUpdate<S>) -> i64 {
    start.map_or(update.elapsed_secs(), |t| {
        (update.now().0.as_second() - t.0.as_second()).max(0)
    })
}

/// Builds the image for `job` (or another owner), recording progress in `update`: observes
/// the build (starting it, or reusing an image, when there is none), [`decide`]s, then acts.
pub async fn run<K: BuildOwner, S: Built>(
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
    let chosen = Chosen {
        requested,
        warning,
        pinned: previous.strategy.as_deref(),
    };
    let seen = match observe(ctx, job, &chosen, request, timeout, update).await? {
        Seen::Build(seen) => seen,
        Seen::Settled(progress) => return Ok(progress),
    };
    let mut report = report(&seen, &previous, request);
    let running = running_secs(report.start_time.as_ref(), update);
    let decision = decide(seen.status.phase, running, timeout);
    if !matches!(decision, Decision::Wait { .. }) {
        release(ctx, job, &seen.reusable);
    }
    let act = Act {
        ctx,
        seen: &seen,
        request,
    };
    let progress = match decision {
        Decision::UseImage => act.use_image(job, &previous, &mut report, update).await?,
        Decision::Ended(reason) => act.ended(job, reason, &mut report, update).await,
        Decision::OutOfTime { limit_secs } => {
            act.out_of_time(job, limit_secs, &mut report, update).await
        }
        Decision::Wait { left } => act.wait(job, running, left, &mut report, update).await,
    };
    *update.build_status() = Some(report);
    Ok(progress)
}

/// What the build step saw: the strategy, why it was chosen, whether its image may be reused,
/// and the build's status.
struct Observed {
    strategy: std::sync::Arc<dyn BuildStrategy>,
    why: String,
    reusable: Reusable,
    status: BuildStatus,
}

/// A build to decide about, or a step already settled (no strategy, an image reused, another
/// owner's build to wait for, a build refused).
enum Seen {
    Build(Box<Observed>),
    Settled(Progress<String>),
}

/// What the owner asked for: the strategy (or `auto`), the strategy its build already runs
/// with, and a warning about its spec.
struct Chosen<'a> {
    requested: &'a str,
    pinned: Option<&'a str>,
    warning: Option<&'a str>,
}

/// Chooses the strategy and reads the build's status, starting the build when there is none.
async fn observe<K: BuildOwner, S: Built>(
    ctx: &Context,
    job: &K,
    chosen: &Chosen<'_>,
    request: &BuildRequest,
    timeout: Duration,
    update: &mut StatusUpdate<S>,
) -> Result<Seen, Error> {
    let Some(Choice { strategy, mut why }) =
        choose(ctx, job, chosen.requested, chosen.pinned, request, update).await?
    else {
        return Ok(Seen::Settled(Progress::Ended));
    };
    if let Some(warning) = chosen.warning {
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
            let start = Start {
                ctx,
                strategy: strategy.as_ref(),
                reusable: &reusable,
                request,
            };
            if let Some(settled) = start.run(job, &mut why, timeout, update).await? {
                return Ok(Seen::Settled(settled));
            }
            BuildStatus::new(
                BuildPhase::Pending,
                "Created",
                format!("build {} created", request.build_name),
            )
        }
        Err(e) => return Err(Error::Strategy(e)),
    };
    Ok(Seen::Build(Box::new(Observed {
        strategy,
        why,
        reusable,
        status,
    })))
}

/// The build report as the build's status shows it now, keeping what the previous one knew.
fn report(
    seen: &Observed,
    previous: &BuildStatusReport,
    request: &BuildRequest,
) -> BuildStatusReport {
    let status = &seen.status;
    BuildStatusReport {
        strategy: Some(seen.strategy.info().name.to_owned()),
        phase: Some(status.phase),
        reason: Some(status.reason.clone()),
        message: Some(status.message.clone()),
        build_name: Some(request.build_name.clone()),
        image_reference: None,
        start_time: status.start_time.clone().or(previous.start_time.clone()),
        completion_time: status.completion_time.clone(),
        logs_tail: status.logs_tail.clone().or(previous.logs_tail.clone()),
        reuse_key: match &seen.reusable {
            Reusable::Key(key) => Some(key.clone()),
            Reusable::No(_) => None,
        },
        reused_from: None,
    }
}

/// Starting a build that does not exist yet.
struct Start<'a> {
    ctx: &'a Context,
    strategy: &'a dyn BuildStrategy,
    reusable: &'a Reusable,
    request: &'a BuildRequest,
}

impl Start<'_> {
    /// Reuses an image built from the same inputs or waits for another owner's build of them
    /// (the step is settled: `Some`), or creates the build (`None`).
    async fn run<K: BuildOwner, S: Built>(
        &self,
        job: &K,
        why: &mut String,
        timeout: Duration,
        update: &mut StatusUpdate<S>,
    ) -> Result<Option<Progress<String>>, Error> {
        let (ctx, request) = (self.ctx, self.request);
        if let Reusable::Key(key) = self.reusable {
            match lookup(ctx, job, key, timeout).await? {
                Lookup::Reuse(found) => {
                    let name = self.strategy.info().name;
                    return Ok(Some(reused(ctx, job, update, name, why, key, found).await));
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
                    return Ok(Some(Progress::Waiting(Some(WAIT_FOR_OTHER_BUILD))));
                }
                Lookup::Build => {
                    *why = format!("{why}; no image was built before from the same inputs");
                }
            }
        }
        if let Err((reason, message)) = create(ctx, self.strategy, request).await? {
            release(ctx, job, self.reusable);
            ctx.fail(job, update, Some(BUILD_READY), reason, message)
                .await;
            return Ok(Some(Progress::Ended));
        }
        let note = format!("{why}; created build {}", request.build_name);
        ctx.event(job, EventType::Normal, Reason::BuildStarted, &note)
            .await;
        Ok(None)
    }
}

/// Acting on a [`Decision`] about the build [`Observed`].
struct Act<'a> {
    ctx: &'a Context,
    seen: &'a Observed,
    request: &'a BuildRequest,
}

impl Act<'_> {
    /// The build pushed its image: the step is done with its reference, digest-pinned when the
    /// backend reported a digest.
    async fn use_image<K: BuildOwner, S: Built>(
        &self,
        job: &K,
        previous: &BuildStatusReport,
        report: &mut BuildStatusReport,
        update: &mut StatusUpdate<S>,
    ) -> Result<Progress<String>, Error> {
        let (ctx, seen) = (self.ctx, self.seen);
        // The status just read usually carries the pinned image; only without a digest is the
        // strategy asked again (S2I then reads its ImageStream).
        let image = match seen.status.image.clone().filter(ImageReference::is_pinned) {
            Some(image) => image,
            None => seen
                .strategy
                .built_image(&ctx.client, self.request)
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
        let why = &seen.why;
        let message = format!("{why}; built {pull} ({pinned})");
        update.condition(BUILD_READY, true, Reason::BuildSucceeded, message);
        let name = seen.strategy.info().name;
        update.phase(S::BUILT, format!("image built with {name}"));
        if previous.phase != Some(BuildPhase::Succeeded) {
            let note = format!("built {pull}");
            ctx.event(job, EventType::Normal, Reason::BuildSucceeded, &note)
                .await;
        }
        Ok(Progress::Done(pull))
    }

    /// The build ended without an image: the owner fails, with the build's last log lines.
    async fn ended<K: BuildOwner, S: Built>(
        &self,
        job: &K,
        reason: Reason,
        report: &mut BuildStatusReport,
        update: &mut StatusUpdate<S>,
    ) -> Progress<String> {
        // Read again: a tail kept while the build ran misses its last lines, which say why.
        let tail = last_logs(self.ctx, self.seen.strategy.as_ref(), self.request).await;
        report.logs_tail = tail.or(report.logs_tail.take());
        let status = &self.seen.status;
        let (reason, message) =
            ended_message(self.request, status, reason, report.logs_tail.as_deref());
        // The backend's own reason says most on the build's condition.
        update.backend_condition(BUILD_READY, false, &status.reason, message.clone());
        self.ctx.fail(job, update, None, reason, message).await;
        Progress::Ended
    }

    /// The build ran past its timeout: it is cancelled and the owner fails.
    async fn out_of_time<K: BuildOwner, S: Built>(
        &self,
        job: &K,
        limit_secs: i64,
        report: &mut BuildStatusReport,
        update: &mut StatusUpdate<S>,
    ) -> Progress<String> {
        let (ctx, strategy, request) = (self.ctx, self.seen.strategy.as_ref(), self.request);
        cancel(ctx, strategy, request).await;
        report.logs_tail = last_logs(ctx, strategy, request)
            .await
            .or(report.logs_tail.take());
        let message = format!(
            "build {} ran longer than buildConfig.timeout ({limit_secs}s) and was cancelled",
            request.build_name
        );
        ctx.fail(
            job,
            update,
            Some(BUILD_READY),
            Reason::BuildTimeout,
            message,
        )
        .await;
        Progress::Ended
    }

    /// The build goes on: its progress and last log lines are recorded, and a build pod that
    /// cannot start for a missing secret ends the owner before the timeout does.
    async fn wait<K: BuildOwner, S: Built>(
        &self,
        job: &K,
        running: i64,
        left: Duration,
        report: &mut BuildStatusReport,
        update: &mut StatusUpdate<S>,
    ) -> Progress<String> {
        let (ctx, seen, request) = (self.ctx, self.seen, self.request);
        let strategy = seen.strategy.as_ref();
        let phase = seen.status.phase;
        if phase == BuildPhase::Pending
            && running >= pod_lifecycle::EVENTS_AFTER.as_secs().cast_signed()
            && let Some((reason, message)) = registry_login::missing_secret(ctx, request).await
        {
            release(ctx, job, &seen.reusable);
            // A pod that never started has no logs to keep, and the kubelet would keep it
            // waiting for its mount forever: it goes.
            cancel(ctx, strategy, request).await;
            if let Err(e) = strategy.delete_build(&ctx.client, request).await {
                tracing::warn!(build = %request.build_name, error = %e, "could not delete the build that cannot start");
            }
            ctx.fail(job, update, Some(BUILD_READY), reason, message)
                .await;
            return Progress::Ended;
        }
        if phase == BuildPhase::Running
            && let Some(tail) = last_logs(ctx, strategy, request).await
        {
            report.logs_tail = Some(tail);
        }
        let message = format!(
            "{}; build {} is {phase}: {}",
            seen.why, request.build_name, seen.status.message
        );
        update.condition_unknown(BUILD_READY, Reason::Building, message);
        let name = strategy.info().name;
        update.phase(S::BUILDING, format!("building the image with {name}"));
        // A pod that cannot start changes nothing that wakes the owner: look again soon, so
        // that a missing secret is told (above) before the build's timeout.
        let again = if phase == BuildPhase::Pending {
            left.min(pod_lifecycle::RECHECK)
        } else {
            left
        };
        Progress::Waiting(Some(again))
    }
}

/// Why a build that ended without an image failed its owner: the backend's reason and message,
/// the last log lines, and a refused registry login named as such. Pure.
fn ended_message(
    request: &BuildRequest,
    status: &BuildStatus,
    reason: Reason,
    logs_tail: Option<&str>,
) -> (Reason, String) {
    let verb = if reason == Reason::BuildCancelled {
        "was cancelled"
    } else {
        "failed"
    };
    let mut message = format!(
        "build {} {verb} ({}): {}",
        request.build_name, status.reason, status.message
    );
    if let Some(lines) = logs_tail
        .map(|t| LogTail::new(5, 1024).apply(t))
        .filter(|t| !t.is_empty())
    {
        message = format!("{message}; last log lines:\n{lines}");
    }
    // A refused login says so, with the builder's lines after it.
    let refused = logs_tail
        .filter(|_| reason == Reason::BuildFailed)
        .and_then(|tail| registry_login::refused(tail, request));
    match refused {
        Some((refused, why)) => (refused, format!("{why}; {message}")),
        None => (reason, message),
    }
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
    let jobs = ctx
        .jobs_in(
            (!ctx.reuse.across_namespaces).then_some(namespace.as_str()),
            |_| true,
        )
        .await?;
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
async fn reused<K: BuildOwner, S: Built>(
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
async fn choose<K: BuildOwner, S: Built>(
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
    ctx.fail(job, update, Some(BUILD_READY), error.reason(), message)
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

    fn request() -> BuildRequest {
        BuildRequest::new(
            "ns",
            "j-build",
            buildstrategy_api::GitSource::new("https://example.com/r.git"),
        )
        .with_output_image("registry.example.com/ns/nb:1")
    }

    #[test]
    fn an_ended_build_says_how_with_the_backends_words_and_its_last_lines() {
        let status = BuildStatus::new(BuildPhase::Failed, "BuildPodFailed", "exit code 1");
        let tail = (1..=8)
            .map(|n| format!("line {n}"))
            .collect::<Vec<_>>()
            .join("\n");
        let (reason, message) =
            ended_message(&request(), &status, Reason::BuildFailed, Some(&tail));
        assert_eq!(reason, Reason::BuildFailed);
        assert!(
            message.starts_with(
                "build j-build failed (BuildPodFailed): exit code 1; last log lines:\n"
            )
        );
        assert!(
            message.ends_with("line 4\nline 5\nline 6\nline 7\nline 8"),
            "{message}"
        );
        assert!(!message.contains("line 3"), "{message}");
        let cancelled = BuildStatus::new(BuildPhase::Cancelled, "Cancelled", "by user");
        let (reason, message) = ended_message(&request(), &cancelled, Reason::BuildCancelled, None);
        assert_eq!(reason, Reason::BuildCancelled);
        assert_eq!(message, "build j-build was cancelled (Cancelled): by user");
    }

    #[test]
    fn a_refused_login_in_a_failed_builds_log_is_named_as_such() {
        let status = BuildStatus::new(BuildPhase::Failed, "BuildPodFailed", "exit code 1");
        let tail = "pushing\nerror: registry.example.com: unauthorized: authentication required";
        let (reason, message) = ended_message(&request(), &status, Reason::BuildFailed, Some(tail));
        assert_eq!(reason, Reason::RegistryLoginRefused);
        assert!(message.contains("buildConfig.pushSecret"), "{message}");
        assert!(message.contains("last log lines"), "{message}");
    }

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
