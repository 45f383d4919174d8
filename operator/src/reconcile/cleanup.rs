//! Cleanup before a job goes: its build is stopped and deleted. Everything else the job owns is
//! removed by garbage collection.

use kube::ResourceExt;
use kube::runtime::controller::Action;

use super::plan::{self, ImageSource};
use crate::crd::NotebookValidationJob;
use crate::identity::identity;
use crate::steps::{Context, Error, build};

/// Stops and deletes the job's build.
pub(super) async fn run(job: &NotebookValidationJob, ctx: &Context) -> Result<Action, Error> {
    ctx.written.forget(&job.uid().unwrap_or_default());
    ctx.claims.release_job(&identity(job));
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
    build::stop(ctx, &chosen, request).await?;
    Ok(Action::await_change())
}
