//! The build request both controllers make: a job's build and a notebook image's build read
//! the same `buildConfig` into the same [`BuildRequest`].

use std::collections::BTreeMap;
use std::time::Duration;

use buildstrategy_api::{BuildRequest, GitSource, Requirements};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use crate::crd::{BuildConfig, FallbackStrategy, GitSpec};

/// The build's bound when `buildConfig.timeout` is not set.
pub const DEFAULT_BUILD_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// The name users write to let the operator choose a strategy.
pub const AUTO: &str = "auto";

/// Whether the build generates its requirements from the notebook's imports: asked for with
/// `fallbackStrategy: auto` or `autoGenerateRequirements`, when nothing else names them.
pub fn generates_requirements(build: &BuildConfig) -> bool {
    let bare = build.requirements_file.is_none()
        && build.packages.is_empty()
        && build.dockerfile.is_none();
    bare && (build.fallback_strategy == Some(FallbackStrategy::Auto)
        || build.auto_generate_requirements == Some(true))
}

/// Who a build is for: where it goes, its name, its owner and its labels.
#[derive(Debug, Clone)]
pub struct BuildTarget {
    /// The namespace.
    pub namespace: String,
    /// The build's name.
    pub build_name: String,
    /// The owner garbage collection removes the build with.
    pub owner: OwnerReference,
    /// Labels put on the build's objects.
    pub labels: BTreeMap<String, String>,
}

/// The request for a build of `git` (none: a base image plus a package list) with `build`'s
/// settings; `notebook` is where imports are read from when the requirements are generated.
pub fn request_for(
    target: BuildTarget,
    git: Option<&GitSpec>,
    notebook: Option<&str>,
    build: &BuildConfig,
    timeout: Duration,
) -> BuildRequest {
    let mut source = GitSource::new(git.map(|g| g.url.clone()).unwrap_or_default());
    source.git_ref = git.and_then(|g| g.git_ref.clone());
    source.credentials_secret = git.and_then(|g| g.credentials_secret.clone());
    let requirements = match (
        &build.requirements_file,
        build.packages.is_empty(),
        notebook,
    ) {
        (Some(file), _, _) => Requirements::File(file.clone()),
        (None, false, _) => Requirements::Packages(build.packages.clone()),
        (None, true, Some(path)) if generates_requirements(build) => {
            Requirements::FromImports(path.to_owned())
        }
        (None, true, _) => Requirements::None,
    };
    let mut request = BuildRequest::new(target.namespace, target.build_name, source)
        .with_owner(target.owner)
        .with_requirements(requirements)
        .with_import_names(
            build
                .import_names
                .iter()
                .map(|n| (n.module.clone(), n.distribution.clone()))
                .collect(),
        )
        .with_timeout(timeout);
    if git.is_none() {
        request = request.without_source();
    }
    request.labels = target.labels;
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
