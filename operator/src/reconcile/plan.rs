//! Step 1: read the job's spec into a plan — which image, which build, which bounds. Pure.

use std::time::Duration;

use buildstrategy_api::naming::build_name;
use buildstrategy_api::{BuildRequest, GitSource, Requirements};
use kube::ResourceExt;

use crate::crd::{BuildConfig, NotebookValidationJob};
use crate::duration::{self, DurationError};
use crate::labels;

/// The whole job's bound when `spec.timeout` is not set.
pub const DEFAULT_JOB_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// The build's bound when `buildConfig.timeout` is not set.
pub const DEFAULT_BUILD_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// The name users write to let the operator choose a strategy.
pub const AUTO: &str = "auto";

/// Where the validation image comes from (the three options of the S2I design record).
#[derive(Debug, Clone, PartialEq)]
pub enum ImageSource {
    /// `podConfig.containerImage`, used as given.
    Given(String),
    /// Built by a strategy (`buildConfig.enabled`); `strategy` may be [`AUTO`].
    Build {
        /// The requested strategy name.
        strategy: String,
        /// The request handed to it.
        request: Box<BuildRequest>,
    },
    /// The default image; the runner installs `requirements` at start, into writable
    /// directories so it works under any UID.
    Default {
        /// The image.
        image: String,
        /// The requirements file in the repository, if the job names one.
        requirements: Option<String>,
    },
}

/// What a job asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The image source.
    pub image: ImageSource,
    /// Bound on the whole job.
    pub job_timeout: Duration,
    /// Bound on the build.
    pub build_timeout: Duration,
}

/// Why a job's spec cannot be acted on (the API server's validation missed it, e.g. because the
/// CRD in the cluster is older than the operator).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// A duration field does not parse.
    #[error(transparent)]
    Duration(#[from] DurationError),
}

/// Reads the plan of `job`.
pub fn plan(job: &NotebookValidationJob, default_image: &str) -> Result<Plan, PlanError> {
    let spec = &job.spec;
    let job_timeout = match &spec.timeout {
        Some(t) => duration::parse("spec.timeout", t)?,
        None => DEFAULT_JOB_TIMEOUT,
    };
    let pod = spec.pod_config.clone().unwrap_or_default();
    let build = pod.build_config.as_ref().filter(|b| b.enabled);
    let build_timeout = match build.and_then(|b| b.timeout.as_deref()) {
        Some(t) => duration::parse("spec.podConfig.buildConfig.timeout", t)?,
        None => DEFAULT_BUILD_TIMEOUT,
    };
    let image = match (&pod.container_image, build) {
        (Some(image), _) => ImageSource::Given(image.clone()),
        (None, Some(build)) => ImageSource::Build {
            strategy: build.strategy.clone().unwrap_or_else(|| AUTO.to_owned()),
            request: Box::new(build_request(job, build, build_timeout)),
        },
        (None, None) => ImageSource::Default {
            image: default_image.to_owned(),
            requirements: pod.build_config.and_then(|b| b.requirements_file),
        },
    };
    Ok(Plan {
        image,
        job_timeout,
        build_timeout,
    })
}

fn build_request(
    job: &NotebookValidationJob,
    build: &BuildConfig,
    timeout: Duration,
) -> BuildRequest {
    let git = &job.spec.notebook.git;
    let mut source = GitSource::new(git.url.clone());
    source.git_ref = git.git_ref.clone();
    source.credentials_secret = git.credentials_secret.clone();
    let requirements = match (&build.requirements_file, build.packages.is_empty()) {
        (Some(file), _) => Requirements::File(file.clone()),
        (None, false) => Requirements::Packages(build.packages.clone()),
        (None, true) => Requirements::None,
    };
    let mut request = BuildRequest::new(
        job.namespace().unwrap_or_default(),
        build_name(&job.name_any()),
        source,
    )
    .with_owner(labels::owner(job))
    .with_requirements(requirements)
    .with_timeout(timeout);
    request.labels = labels::for_job(job);
    if let Some(base) = &build.base_image {
        request = request.with_base_image(base.clone());
    }
    if let Some(dockerfile) = &build.dockerfile {
        request = request.with_dockerfile(dockerfile.clone());
    }
    if let Some(image) = &build.output_image {
        request = request.with_output_image(image.clone());
    }
    if let Some(secret) = &build.push_secret {
        request = request.with_push_secret(secret.clone());
    }
    if let Some(config) = &build.strategy_config {
        request = request.with_strategy_config(config.clone());
    }
    request
}
