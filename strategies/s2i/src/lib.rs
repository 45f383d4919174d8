//! OpenShift Source-to-Image build strategy (core tier).
//!
//! Creates an `ImageStream` and a `BuildConfig`, and starts the build as a `Build` with a
//! deterministic name, so that starting it again (after an operator restart, on every reconcile)
//! finds the same build instead of a second one. Two build types:
//! - **Source**, from an S2I builder image named in `strategyConfig.builderImage`: the builder
//!   installs `requirements.txt` from the root of the source it is given, so a requirements file
//!   in a sub-directory makes that directory the build's `contextDir`;
//! - **Docker**, otherwise: a Dockerfile (the job's own, or one generated from the base image and
//!   requirements) given inline, with the git repository as its context, or with no source at
//!   all for a package list (OpenShift's `Dockerfile` source type).
//!
//! The image goes to the ImageStream tag `<build>:latest` unless the job names `outputImage`;
//! the digest comes from the Build, or else from the ImageStream tag.
//!
//! `strategyConfig`: [`S2iConfig`].

use buildstrategy_api::git;
use buildstrategy_api::pod_build::check_image_reference;
use buildstrategy_api::prelude::*;
use buildstrategy_api::rbac::{MANAGE, rule};
use buildstrategy_api::resources::{self, RenderedObject, str_field, time_field};
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

const NAME: &str = "s2i";
const BUILD_GROUP: &str = "build.openshift.io";
const IMAGE_GROUP: &str = "image.openshift.io";
/// The tag builds are pushed to in the job's ImageStream.
pub const OUTPUT_TAG: &str = "latest";

fn api(group: &str, kind: &str) -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk(group, "v1", kind))
}

/// The S2I strategy's `strategyConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct S2iConfig {
    /// An S2I builder image (a Python one, say): the build then uses the Source strategy, and
    /// the builder installs the requirements file itself. Without it, a Docker build from the
    /// job's Dockerfile or one generated from the base image and requirements.
    pub builder_image: Option<String>,
    /// Reuses the previous build's artifacts (Source builds only); off by default.
    #[serde(default)]
    pub incremental: bool,
    /// Pulls the builder or base image even when the node has it; off by default.
    #[serde(default)]
    pub force_pull: bool,
    /// The base image of a Docker build, as ADR-025 writes it: the same as
    /// `buildConfig.baseImage`, which it replaces when that is not set.
    pub base_image: Option<String>,
}

/// The only requirements file an S2I Python builder installs: `requirements.txt` at the root of
/// the source it is given.
pub const S2I_REQUIREMENTS: &str = "requirements.txt";

/// The Source-to-Image strategy.
#[derive(Debug, Default, Clone, Copy)]
pub struct SourceToImage;

impl SourceToImage {
    fn build_spec(request: &BuildRequest) -> Result<Value, StrategyError> {
        let config: S2iConfig = request.config(NAME)?;
        let mut source = match request.context {
            BuildContext::Git => {
                let mut git_source = json!({ "uri": request.source.url });
                if let Some(git_ref) = &request.source.git_ref {
                    git_source["ref"] = json!(git_ref);
                }
                let mut source = json!({ "type": "Git", "git": git_source });
                if let Some(dir) = source_context_dir(request, &config)? {
                    source["contextDir"] = json!(dir);
                }
                if let Some(secret) = &request.source.credentials_secret {
                    source["sourceSecret"] = json!({ "name": secret });
                }
                source
            }
            // OpenShift builds a Dockerfile source with no repository at all.
            _ => json!({ "type": "Dockerfile" }),
        };
        let mut strategy = match &config.builder_image {
            Some(builder) => json!({ "type": "Source", "sourceStrategy": {
                "from": { "kind": "DockerImage", "name": builder },
                "incremental": config.incremental,
                "forcePull": config.force_pull,
            }}),
            None => {
                let base = base_image(request, &config)?;
                let mut with_base = request.clone();
                with_base.base_image = base.to_owned();
                source["dockerfile"] = json!(buildstrategy_api::dockerfile::for_request(
                    NAME, &with_base
                )?);
                json!({ "type": "Docker", "dockerStrategy": {
                    "from": { "kind": "DockerImage", "name": base },
                    "forcePull": config.force_pull,
                }})
            }
        };
        // The push secret's login serves the pull of a base or builder image on the same
        // registry. Elsewhere the builder's own account pulls: a pullSecret would replace it.
        let (key, pulled) = match &config.builder_image {
            Some(builder) => ("sourceStrategy", builder.as_str()),
            None => ("dockerStrategy", base_image(request, &config)?),
        };
        if let (Some(secret), Some(output)) = (&request.push_secret, &request.output_image)
            && ImageReference::parse(output).registry() == ImageReference::parse(pulled).registry()
        {
            strategy[key]["pullSecret"] = json!({ "name": secret });
        }
        let mut output = match &request.output_image {
            Some(image) => json!({ "to": { "kind": "DockerImage", "name": image } }),
            None => {
                json!({ "to": { "kind": "ImageStreamTag", "name": format!("{}:{OUTPUT_TAG}", request.build_name) } })
            }
        };
        if let Some(secret) = &request.push_secret {
            output["pushSecret"] = json!({ "name": secret });
        }
        let mut spec = json!({
            "serviceAccount": request.service_account.clone().unwrap_or_else(|| "builder".into()),
            "source": source,
            "strategy": strategy,
            "output": output,
        });
        if let Some(timeout) = request.timeout {
            spec["completionDeadlineSeconds"] = json!(timeout.as_secs().max(1));
        }
        Ok(spec)
    }
}

/// The source directory a Source build hands its builder: the job's context directory, or
/// the directory of its requirements file, which the builder installs only from its root.
fn source_context_dir(
    request: &BuildRequest,
    config: &S2iConfig,
) -> Result<Option<String>, StrategyError> {
    let context = request
        .source
        .context_dir
        .as_deref()
        .map(|d| d.trim_matches('/'))
        .filter(|d| !d.is_empty());
    let (Some(_), Requirements::File(path)) = (&config.builder_image, &request.requirements) else {
        return Ok(context.map(str::to_owned));
    };
    let (dir, file) = path.rsplit_once('/').unwrap_or(("", path.as_str()));
    if file != S2I_REQUIREMENTS {
        return Err(StrategyError::invalid_config(
            NAME,
            "buildConfig.requirementsFile",
            format!(
                "an S2I builder installs only a file named {S2I_REQUIREMENTS} at the root of its source, not '{file}': rename the file, or remove strategyConfig.builderImage for a Docker build that installs any file"
            ),
        ));
    }
    let joined: Vec<&str> = context
        .into_iter()
        .chain(Some(dir).filter(|d| !d.is_empty()))
        .collect();
    Ok((!joined.is_empty()).then(|| joined.join("/")))
}

/// The Docker build's base: `strategyConfig.baseImage` or `buildConfig.baseImage`, which must
/// agree when both are set (the latter may be the same image pinned to its digest, which is
/// then used).
fn base_image<'a>(
    request: &'a BuildRequest,
    config: &'a S2iConfig,
) -> Result<&'a str, StrategyError> {
    let unpinned = request
        .base_image
        .split_once('@')
        .map_or(request.base_image.as_str(), |(image, _)| image);
    match config.base_image.as_deref() {
        None => Ok(&request.base_image),
        Some(own) if unpinned == own => Ok(&request.base_image),
        Some(own) if request.base_image == BuildRequest::DEFAULT_BASE_IMAGE => Ok(own),
        Some(own) => Err(StrategyError::invalid_config(
            NAME,
            "strategyConfig.baseImage",
            format!(
                "'{own}' differs from buildConfig.baseImage '{}': set one of them",
                request.base_image
            ),
        )),
    }
}

#[async_trait]
impl BuildStrategy for SourceToImage {
    fn info(&self) -> StrategyInfo {
        StrategyInfo::new(
            NAME,
            Tier::Core,
            "Builds with OpenShift Source-to-Image (BuildConfig and ImageStream).",
        )
        .with_auto_rank(100)
    }

    fn validate_config(&self, request: &BuildRequest) -> Result<(), StrategyError> {
        let config: S2iConfig = request.config(NAME)?;
        if request.context == BuildContext::Git {
            git::validate_source(NAME, &request.source)?;
        } else if config.builder_image.is_some() {
            return Err(StrategyError::invalid_config(
                NAME,
                "strategyConfig.builderImage",
                "a Source build needs a git source; a package list is built by a Docker build: remove builderImage",
            ));
        }
        // The Source path turns it into the build's contextDir: a path that leaves the
        // repository must stop here, as the Docker path's COPY does.
        if let Requirements::File(path) = &request.requirements {
            git::validate_relative_path(path).map_err(|r| {
                StrategyError::invalid_config(NAME, "buildConfig.requirementsFile", r)
            })?;
        }
        if config.builder_image.is_some() {
            match request.requirements {
                Requirements::FromImports(_) => {
                    return Err(StrategyError::invalid_config(
                        NAME,
                        "buildConfig.fallbackStrategy",
                        "requirements generated from the notebook's imports need a Docker build; remove strategyConfig.builderImage, or name a requirementsFile",
                    ));
                }
                Requirements::Packages(_) => {
                    return Err(StrategyError::invalid_config(
                        NAME,
                        "buildConfig.packages",
                        "an S2I builder installs requirements.txt from the repository, not a package list: remove strategyConfig.builderImage for a Docker build that installs the packages",
                    ));
                }
                _ => {}
            }
        }
        if let Some(builder) = &config.builder_image {
            check_image_reference(builder).map_err(|r| {
                StrategyError::invalid_config(NAME, "strategyConfig.builderImage", r)
            })?;
            if config.base_image.is_some() {
                return Err(StrategyError::invalid_config(
                    NAME,
                    "strategyConfig.baseImage",
                    "a Source build starts from builderImage: set baseImage or builderImage, not both",
                ));
            }
        }
        if let Some(base) = &config.base_image {
            check_image_reference(base)
                .map_err(|r| StrategyError::invalid_config(NAME, "strategyConfig.baseImage", r))?;
        }
        source_context_dir(request, &config)?;
        base_image(request, &config)?;
        if let Some(image) = &request.output_image {
            check_image_reference(image)
                .map_err(|r| StrategyError::invalid_config(NAME, "buildConfig.outputImage", r))?;
        }
        Ok(())
    }

    fn config_schema(&self) -> Option<Value> {
        Some(schemars::schema_for!(S2iConfig).to_value())
    }

    fn capabilities(&self) -> Capabilities {
        let mut declared = Capabilities::undeclared();
        declared.public_git = Support::Yes;
        declared.private_git = Support::Yes;
        declared.context_dir = Support::Yes;
        declared.requirements_file = Support::Yes;
        declared.package_list = Support::Yes;
        declared.empty_context = Support::Partly("Docker builds, not with builderImage");
        declared.requirements_from_imports =
            Support::Partly("Docker builds, not with builderImage");
        declared.own_dockerfile = Support::Yes;
        declared.digest = Support::Yes;
        declared.logs = Support::Yes;
        declared.cancel = Support::Yes;
        declared.timeout = Support::Yes;
        declared.layer_cache = Support::Partly("strategyConfig.incremental with a Source build");
        declared.privileges = "none for the user: OpenShift's build controller runs the build";
        declared.cluster_prerequisites =
            "OpenShift (build.openshift.io and image.openshift.io APIs)";
        declared
    }

    fn rbac_rules(&self) -> Vec<PolicyRule> {
        vec![
            rule(BUILD_GROUP, &["buildconfigs", "builds"], MANAGE),
            rule(BUILD_GROUP, &["builds/log"], &["get"]),
            rule(IMAGE_GROUP, &["imagestreams"], MANAGE),
        ]
    }

    fn watched_kinds(&self) -> Vec<GroupVersionKind> {
        vec![GroupVersionKind::gvk(BUILD_GROUP, "v1", "Build")]
    }

    fn required_kinds(&self) -> Vec<GroupVersionKind> {
        vec![
            GroupVersionKind::gvk(BUILD_GROUP, "v1", "BuildConfig"),
            GroupVersionKind::gvk(BUILD_GROUP, "v1", "Build"),
            GroupVersionKind::gvk(IMAGE_GROUP, "v1", "ImageStream"),
        ]
    }

    fn render(&self, request: &BuildRequest) -> Result<RenderedBuild, StrategyError> {
        self.validate_config(request)?;
        let name = &request.build_name;
        let spec = Self::build_spec(request)?;
        let image_stream = RenderedObject::for_request(
            api(IMAGE_GROUP, "ImageStream"),
            name.clone(),
            request,
            json!({ "spec": { "lookupPolicy": { "local": true } } }),
        );
        let mut config_spec = spec.clone();
        config_spec["runPolicy"] = json!("Serial");
        config_spec["successfulBuildsHistoryLimit"] = json!(2);
        config_spec["failedBuildsHistoryLimit"] = json!(2);
        config_spec["triggers"] = json!([]);
        let build_config = RenderedObject::for_request(
            api(BUILD_GROUP, "BuildConfig"),
            name.clone(),
            request,
            json!({ "spec": config_spec }),
        );
        let mut build_spec = spec;
        build_spec["triggeredBy"] =
            json!([{ "message": "Started by the notebook validator operator" }]);
        let mut build = RenderedObject::for_request(
            api(BUILD_GROUP, "Build"),
            name.clone(),
            request,
            json!({ "spec": build_spec }),
        );
        // The annotation and label OpenShift puts on builds of a BuildConfig, so `oc` shows the
        // build under it.
        build.object.metadata.annotations =
            Some([("openshift.io/build-config.name".to_owned(), name.clone())].into());
        build
            .object
            .metadata
            .labels
            .get_or_insert_with(Default::default)
            .insert("openshift.io/build-config.name".into(), name.clone());
        Ok(RenderedBuild::new(vec![image_stream, build_config], build))
    }

    fn map_status(&self, primary: &DynamicObject) -> Result<BuildStatus, StrategyError> {
        let phase = str_field(primary, "/status/phase").unwrap_or("New");
        let reason = str_field(primary, "/status/reason")
            .unwrap_or(phase)
            .to_owned();
        let message = str_field(primary, "/status/message")
            .unwrap_or_default()
            .to_owned();
        let or = |message: String, fallback: &str| {
            if message.is_empty() {
                fallback.to_owned()
            } else {
                message
            }
        };
        let status = match phase {
            "New" | "Pending" => BuildStatus::new(
                BuildPhase::Pending,
                reason,
                or(message, "the build is waiting to start"),
            ),
            "Running" => BuildStatus::new(
                BuildPhase::Running,
                reason,
                or(message, "the build is running"),
            ),
            "Complete" => {
                let image =
                    str_field(primary, "/status/outputDockerImageReference").map(|reference| {
                        let image = ImageReference::parse(reference);
                        match str_field(primary, "/status/output/to/imageDigest")
                            .filter(|d| !d.is_empty())
                        {
                            Some(digest) => image.with_digest(digest),
                            None => image,
                        }
                    });
                BuildStatus::new(
                    BuildPhase::Succeeded,
                    "Complete",
                    or(message, "the build completed and pushed its image"),
                )
                .with_image(image)
            }
            "Cancelled" => BuildStatus::new(
                BuildPhase::Cancelled,
                reason,
                or(message, "the build was cancelled"),
            ),
            "Failed" | "Error" => {
                BuildStatus::new(BuildPhase::Failed, reason, or(message, "the build failed"))
                    .with_logs_tail(str_field(primary, "/status/logSnippet").map(str::to_owned))
            }
            other => {
                return Err(StrategyError::backend(
                    NAME,
                    format!("unknown Build phase '{other}'"),
                ));
            }
        };
        Ok(status.with_times(
            time_field(primary, "/status/startTimestamp"),
            time_field(primary, "/status/completionTimestamp"),
        ))
    }

    async fn built_image(
        &self,
        client: &kube::Client,
        request: &BuildRequest,
    ) -> Result<ImageReference, StrategyError> {
        let status = self.build_status(client, request).await?;
        if status.phase != BuildPhase::Succeeded {
            return Err(StrategyError::backend(
                NAME,
                format!(
                    "the build is {}, not Succeeded; there is no image yet",
                    status.phase
                ),
            ));
        }
        if let Some(image) = status.image.filter(ImageReference::is_pinned) {
            return Ok(image);
        }
        // The Build may omit the digest; the ImageStream tag records what was pushed.
        let streams: Api<DynamicObject> = Api::namespaced_with(
            client.clone(),
            &request.namespace,
            &api(IMAGE_GROUP, "ImageStream"),
        );
        let stream = streams
            .get(&request.build_name)
            .await
            .map_err(|e| StrategyError::kube(NAME, Operation::Image, e))?;
        let pushed = resources::field(&stream, "/status/tags")
            .and_then(Value::as_array)
            .and_then(|tags| tags.iter().find(|t| t["tag"] == OUTPUT_TAG))
            .and_then(|tag| tag["items"][0]["dockerImageReference"].as_str());
        match pushed {
            Some(reference) => Ok(ImageReference::parse(reference)),
            None => Err(StrategyError::backend(
                NAME,
                format!(
                    "ImageStream '{}' has no '{OUTPUT_TAG}' tag with a pushed image",
                    request.build_name
                ),
            )),
        }
    }

    async fn logs(
        &self,
        client: &kube::Client,
        request: &BuildRequest,
        tail: LogTail,
    ) -> Result<String, StrategyError> {
        let path = format!(
            "/apis/{BUILD_GROUP}/v1/namespaces/{}/builds/{}/log?tailLines={}&limitBytes={}",
            request.namespace, request.build_name, tail.lines, tail.bytes
        );
        let http = http::Request::get(path)
            .body(Vec::new())
            .map_err(|e| StrategyError::backend(NAME, e.to_string()))?;
        let log = client
            .request_text(http)
            .await
            .map_err(|e| StrategyError::kube(NAME, Operation::Logs, e))?;
        Ok(tail.apply(&log))
    }

    async fn cancel_build(
        &self,
        client: &kube::Client,
        request: &BuildRequest,
    ) -> Result<(), StrategyError> {
        // OpenShift cancels a build when a client sets status.cancelled on the Build itself.
        let builds: Api<DynamicObject> = Api::namespaced_with(
            client.clone(),
            &request.namespace,
            &api(BUILD_GROUP, "Build"),
        );
        builds
            .patch(
                &request.build_name,
                &PatchParams::default(),
                &Patch::Merge(json!({ "status": { "cancelled": true } })),
            )
            .await
            .map(|_| ())
            .map_err(|e| StrategyError::kube(NAME, Operation::Cancel, e))
    }
}

buildstrategy_api::register_strategy!(|| Box::new(SourceToImage));
