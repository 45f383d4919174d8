//! Step 3: drive the build until it yields an image, fails or runs out of time.

use std::time::Duration;

use buildstrategy_api::{
    BuildPhase, BuildRequest, BuildStatus, ImageReference, LogTail, StrategyError,
};
use kube::runtime::events::EventType;

use super::plan::Plan;
use super::select::{self, Choice};
use super::status::{BUILD_READY, StatusUpdate};
use super::{Context, Error, Progress};
use crate::crd::{BuildStatusReport, NotebookValidationJob, Phase};

/// Builds the image for `job`, recording progress in `update`.
pub async fn run(
    ctx: &Context,
    job: &NotebookValidationJob,
    requested: &str,
    request: &BuildRequest,
    plan: &Plan,
    update: &mut StatusUpdate,
) -> Result<Progress<String>, Error> {
    let timeout = plan.build_timeout;
    let previous = update.status.build_status.clone().unwrap_or_default();
    if previous.phase.as_deref() == Some("Succeeded")
        && let Some(image) = &previous.image_reference
    {
        return Ok(Progress::Done(image.clone()));
    }
    let pinned = previous.strategy.as_deref();
    let Choice { strategy, mut why } = match select::choose(
        &ctx.catalog,
        &ctx.detection,
        &ctx.client,
        requested,
        pinned,
        request,
    )
    .await
    {
        Ok(choice) => choice,
        Err(e) if e.is_transient() => return Err(Error::Select(e)),
        Err(e) => {
            let mut message = e.to_string();
            // Switched off (or gone) while its build ran: that build stops too.
            if let Some(name) = pinned
                && let Some(started) = ctx.catalog.registry().get(name)
            {
                cancel(ctx, started.as_ref(), request).await;
                message = format!(
                    "build strategy '{name}' was switched off while its build {} ran; the build was cancelled. {message}",
                    request.build_name
                );
            }
            ctx.fail_job(job, update, Some(BUILD_READY), e.reason(), message)
                .await;
            return Ok(Progress::Ended);
        }
    };
    if let Some(warning) = &plan.warning {
        why = format!("{why} (warning: {warning})");
    }
    let name = strategy.info().name;
    let status = match strategy.build_status(&ctx.client, request).await {
        Ok(status) => status,
        Err(StrategyError::NotFound { .. }) => {
            strategy
                .ensure_prerequisites(&ctx.client, request)
                .await
                .map_err(Error::Strategy)?;
            match strategy.create_build(&ctx.client, request).await {
                Ok(()) => {}
                // Refused on every retry alike: the job ends saying why.
                Err(e @ (StrategyError::TooLarge { .. } | StrategyError::InvalidConfig { .. })) => {
                    let reason = if matches!(e, StrategyError::TooLarge { .. }) {
                        "ObjectTooLarge"
                    } else {
                        "InvalidStrategyConfig"
                    };
                    ctx.fail_job(job, update, Some(BUILD_READY), reason, e.to_string())
                        .await;
                    return Ok(Progress::Ended);
                }
                Err(e) => return Err(Error::Strategy(e)),
            }
            ctx.event(
                job,
                EventType::Normal,
                "BuildStarted",
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
        phase: Some(status.phase.to_string()),
        reason: Some(status.reason.clone()),
        message: Some(status.message.clone()),
        build_name: Some(request.build_name.clone()),
        image_reference: None,
        start_time: status.start_time.clone().or(previous.start_time),
        completion_time: status.completion_time.clone(),
        logs_tail: status.logs_tail.clone().or(previous.logs_tail),
    };
    let progress = match status.phase {
        BuildPhase::Succeeded => {
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
                "BuildSucceeded",
                format!("{why}; built {pull} ({pinned})"),
            );
            update.phase(Phase::BuildComplete, format!("image built with {name}"));
            if previous.phase.as_deref() != Some("Succeeded") {
                ctx.event(
                    job,
                    EventType::Normal,
                    "BuildSucceeded",
                    &format!("built {pull}"),
                )
                .await;
            }
            Progress::Done(pull)
        }
        BuildPhase::Failed | BuildPhase::Cancelled => {
            // Read again: a tail kept while the build ran misses its last lines, which say why.
            report.logs_tail = strategy
                .logs(&ctx.client, request, LogTail::DEFAULT)
                .await
                .ok()
                .or(report.logs_tail);
            let (reason, verb) = if status.phase == BuildPhase::Failed {
                ("BuildFailed", "failed")
            } else {
                ("BuildCancelled", "was cancelled")
            };
            let last_lines = report
                .logs_tail
                .as_deref()
                .map(|t| LogTail::new(5, 1024).apply(t))
                .filter(|t| !t.is_empty());
            let message = match &last_lines {
                Some(lines) => format!(
                    "build {} {verb} ({}): {}; last log lines:\n{lines}",
                    request.build_name, status.reason, status.message
                ),
                None => format!(
                    "build {} {verb} ({}): {}",
                    request.build_name, status.reason, status.message
                ),
            };
            update.condition(BUILD_READY, false, &status.reason, message.clone());
            ctx.fail_job(job, update, None, reason, message).await;
            Progress::Ended
        }
        _ => {
            let started = report
                .start_time
                .as_ref()
                .map_or(update.elapsed_secs(), |t| {
                    (update.now().0.as_second() - t.0.as_second()).max(0)
                });
            let limit = i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX);
            if started >= limit {
                cancel(ctx, strategy.as_ref(), request).await;
                report.logs_tail = strategy
                    .logs(&ctx.client, request, LogTail::DEFAULT)
                    .await
                    .ok()
                    .or(report.logs_tail);
                let message = format!(
                    "build {} ran longer than buildConfig.timeout ({}s) and was cancelled",
                    request.build_name, limit
                );
                ctx.fail_job(job, update, Some(BUILD_READY), "BuildTimeout", message)
                    .await;
                Progress::Ended
            } else {
                if status.phase == BuildPhase::Running
                    && let Ok(tail) = strategy.logs(&ctx.client, request, LogTail::DEFAULT).await
                {
                    report.logs_tail = Some(tail);
                }
                update.condition_unknown(
                    BUILD_READY,
                    "Building",
                    format!(
                        "{why}; build {} is {}: {}",
                        request.build_name, status.phase, status.message
                    ),
                );
                update.phase(Phase::Building, format!("building the image with {name}"));
                Progress::Waiting(Some(Duration::from_secs(
                    u64::try_from(limit - started).unwrap_or(1),
                )))
            }
        }
    };
    update.status.build_status = Some(report);
    Ok(progress)
}

/// Stops a build; strategies that cannot cancel have their build deleted instead.
pub async fn cancel(
    ctx: &Context,
    strategy: &dyn buildstrategy_api::BuildStrategy,
    request: &BuildRequest,
) {
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
