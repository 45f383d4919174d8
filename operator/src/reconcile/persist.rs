//! The job's status, written once per reconcile and remembered.

use kube::ResourceExt;

use crate::crd::{NotebookValidationJob, NotebookValidationJobStatus};
use crate::steps::status::write_status;
use crate::steps::{Context, Error};

/// Writes `status` when it differs from `current`, and remembers it as the job's status.
pub(super) async fn persist(
    job: &NotebookValidationJob,
    ctx: &Context,
    current: Option<&NotebookValidationJobStatus>,
    status: NotebookValidationJobStatus,
) -> Result<(), Error> {
    if current != Some(&status) {
        write_status(&ctx.client, job, &status, "writing the job status").await?;
        ctx.metrics.status_written(current, &status);
    }
    ctx.written.remember(job.uid().unwrap_or_default(), status);
    Ok(())
}
