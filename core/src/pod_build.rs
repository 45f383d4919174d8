//! Builds that run as one pod: a clone init container, then a builder container (Kaniko,
//! Buildah, BuildKit, ...). Strategies describe their builder with [`PodBuilder`]; this module
//! renders the pod, reads its status and logs, and cancels it.
//!
//! The builder reports the pushed digest as its termination message.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, PodStatus};
use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

use crate::resources::{FIELD_MANAGER, RenderedBuild, RenderedObject, SetupStep};
use crate::{
    BuildContext, BuildPhase, BuildRequest, BuildStatus, BuildStrategy, Capabilities,
    ImageReference, LogTail, Operation, Requirements, StrategyError, StrategyInfo, dockerfile, git,
};

/// A strategy that builds in one pod. Describe the builder; the [`BuildStrategy`]
/// implementation (config checks, rendering, status, logs, cancel, RBAC) comes with it.
///
/// ```text
/// impl PodStrategy for Buildah {
///     fn info(&self) -> StrategyInfo { ... }
///     fn builder(&self, request: &BuildRequest) -> Result<PodBuilder, StrategyError> { ... }
/// }
/// buildstrategy_api::register_strategy!(|| Box::new(Buildah));
/// ```
pub trait PodStrategy: Send + Sync + std::fmt::Debug {
    /// Name, tier and description.
    fn info(&self) -> StrategyInfo;

    /// The builder container for `request`.
    fn builder(&self, request: &BuildRequest) -> Result<PodBuilder, StrategyError>;

    /// `strategyConfig` keys beyond [`COMMON_CONFIG_KEYS`] that are not in
    /// [`extra_config_schema`](Self::extra_config_schema): a typed struct there declares its keys
    /// itself, so new strategies leave this empty.
    fn extra_config_keys(&self) -> &'static [&'static str] {
        &[]
    }

    /// Checks the values of the extra keys (read them with [`extra_config`]).
    fn validate_extra(&self, request: &BuildRequest) -> Result<(), StrategyError> {
        let _ = request;
        Ok(())
    }

    /// The JSON Schema of the struct of the strategy's own keys (read with [`extra_config`]):
    /// its properties are the keys accepted besides the common ones, and the strategy's
    /// documentation is generated from it. None by default.
    fn extra_config_schema(&self) -> Option<Value> {
        None
    }

    /// What the strategy supports: [`crate::capabilities::POD_BUILD`] by default; set the
    /// privileges at least.
    fn capabilities(&self) -> Capabilities {
        crate::capabilities::POD_BUILD
    }

    /// Objects that must exist before the build pod runs (a ConfigMap of settings, a service
    /// account, ...), applied in order; none by default. (Named apart from
    /// [`BuildStrategy::setup_steps`] so that calls on a pod builder are never ambiguous.)
    fn extra_setup_steps(&self, request: &BuildRequest) -> Result<Vec<SetupStep>, StrategyError> {
        let _ = request;
        Ok(Vec::new())
    }

    /// API kinds the cluster must serve besides pods (a CRD the builder reads, say); none by
    /// default. `auto` skips the strategy where one is missing.
    fn extra_required_kinds(&self) -> Vec<GroupVersionKind> {
        Vec::new()
    }

    /// RBAC rules the operator needs beyond the pod builders' own (pods, their logs and
    /// ConfigMaps), for what the setup steps create; none by default. No wildcards.
    fn extra_rbac_rules(&self) -> Vec<k8s_openapi::api::rbac::v1::PolicyRule> {
        Vec::new()
    }
}

#[async_trait::async_trait]
impl<T: PodStrategy> BuildStrategy for T {
    fn info(&self) -> StrategyInfo {
        PodStrategy::info(self)
    }

    fn capabilities(&self) -> Capabilities {
        PodStrategy::capabilities(self)
    }

    fn config_schema(&self) -> Option<Value> {
        let mut schema = schemars::schema_for!(PodBuilderConfig).to_value();
        if let Some(Value::Object(extra)) = self
            .extra_config_schema()
            .and_then(|extra| extra.get("properties").cloned())
            && let Some(Value::Object(properties)) = schema.get_mut("properties")
        {
            properties.extend(extra);
        }
        Some(schema)
    }

    fn validate_config(&self, request: &BuildRequest) -> Result<(), StrategyError> {
        // The extra keys: those listed, and those of the extra config's struct.
        let mut extra: Vec<String> = self
            .extra_config_keys()
            .iter()
            .map(|key| (*key).to_owned())
            .collect();
        if let Some(Value::Object(properties)) = self
            .extra_config_schema()
            .and_then(|schema| schema.get("properties").cloned())
        {
            extra.extend(properties.keys().cloned());
        }
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        validate_request(PodStrategy::info(self).name, request, &extra)?;
        self.validate_extra(request)
    }

    fn rbac_rules(&self) -> Vec<k8s_openapi::api::rbac::v1::PolicyRule> {
        let mut rules = rbac_rules();
        rules.extend(self.extra_rbac_rules());
        rules
    }

    fn required_kinds(&self) -> Vec<GroupVersionKind> {
        self.extra_required_kinds()
    }

    fn setup_steps(&self, request: &BuildRequest) -> Result<Vec<SetupStep>, StrategyError> {
        self.extra_setup_steps(request)
    }

    fn render(&self, request: &BuildRequest) -> Result<RenderedBuild, StrategyError> {
        render(&self.builder(request)?, request)
    }

    fn map_status(&self, primary: &DynamicObject) -> Result<BuildStatus, StrategyError> {
        map_status(PodStrategy::info(self).name, primary)
    }

    async fn logs(
        &self,
        client: &Client,
        request: &BuildRequest,
        tail: LogTail,
    ) -> Result<String, StrategyError> {
        logs(client, PodStrategy::info(self).name, request, tail).await
    }

    async fn cancel_build(
        &self,
        client: &Client,
        request: &BuildRequest,
    ) -> Result<(), StrategyError> {
        cancel(client, PodStrategy::info(self).name, request).await
    }
}

/// The default image of the clone init container.
pub const DEFAULT_GIT_IMAGE: &str = "docker.io/alpine/git:v2.49.1";
/// Name of the clone init container.
pub const CLONE_CONTAINER: &str = "clone";
/// Name of the builder container.
pub const BUILD_CONTAINER: &str = "build";
/// Where the source is cloned.
pub const SOURCE_DIR: &str = "/workspace/source";
/// Where the Dockerfile is mounted.
pub const DOCKERFILE_DIR: &str = "/workspace/dockerfile";
/// Where the push secret's docker config is mounted (as `config.json`).
pub const DOCKER_CONFIG_DIR: &str = "/workspace/docker-config";
/// Annotation carrying the image a build pod pushes, so its status can name it.
pub const OUTPUT_IMAGE_ANNOTATION: &str = "build.nbv.mlops.redhat.com/output-image";
/// Annotation set on a pod the operator cancelled.
pub const CANCELLED_ANNOTATION: &str = "build.nbv.mlops.redhat.com/cancelled";

/// How a strategy runs its builder container.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PodBuilder {
    /// The strategy's name.
    pub strategy: &'static str,
    /// The builder image.
    pub image: String,
    /// The builder's argv (no shell is involved unless the strategy's own constant script is).
    pub command: Vec<String>,
    /// Extra environment for the builder.
    pub env: BTreeMap<String, String>,
    /// The builder container's securityContext.
    pub security_context: Value,
    /// Pod annotations (AppArmor profiles, ...).
    pub annotations: BTreeMap<String, String>,
    /// Scratch directories the builder writes to, each an emptyDir: (volume name, mount path).
    pub scratch: Vec<(String, String)>,
}

impl PodBuilder {
    /// A builder running `command` in `image` with an empty security context.
    pub fn new(strategy: &'static str, image: impl Into<String>, command: Vec<String>) -> Self {
        Self {
            strategy,
            image: image.into(),
            command,
            env: BTreeMap::new(),
            security_context: json!({}),
            annotations: BTreeMap::new(),
            scratch: Vec::new(),
        }
    }

    /// Adds an environment variable.
    #[must_use]
    pub fn env(mut self, name: &str, value: impl Into<String>) -> Self {
        self.env.insert(name.to_owned(), value.into());
        self
    }

    /// Sets the builder container's securityContext.
    #[must_use]
    pub fn security_context(mut self, context: Value) -> Self {
        self.security_context = context;
        self
    }

    /// Adds a pod annotation.
    #[must_use]
    pub fn annotation(mut self, key: &str, value: impl Into<String>) -> Self {
        self.annotations.insert(key.to_owned(), value.into());
        self
    }

    /// Adds an emptyDir mounted at `path`.
    #[must_use]
    pub fn scratch(mut self, name: &str, path: &str) -> Self {
        self.scratch.push((name.to_owned(), path.to_owned()));
        self
    }
}

/// The ConfigMap kind.
pub fn config_map_api() -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk("", "v1", "ConfigMap"))
}

/// The Pod kind.
pub fn pod_api() -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk("", "v1", "Pod"))
}

/// `strategyConfig` keys every pod-based strategy accepts.
pub const COMMON_CONFIG_KEYS: [&str; 2] = ["executor", "gitImage"];

/// The `strategyConfig` keys every pod builder takes.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[non_exhaustive]
pub struct PodBuilderConfig {
    /// The builder image, instead of the strategy's default (an image reference: registry,
    /// name, tag and/or digest, nothing else).
    pub executor: Option<String>,
    /// The image of the clone init container, instead of `alpine/git` (it must run as non-root
    /// and hold git and sh).
    pub git_image: Option<String>,
}

/// Splits `strategyConfig` into the keys every pod builder takes and the rest.
fn split_config(strategy: &str, request: &BuildRequest) -> Result<(Value, Value), StrategyError> {
    let mut rest = match &request.strategy_config {
        Value::Null => serde_json::Map::new(),
        Value::Object(map) => map.clone(),
        other => {
            return Err(StrategyError::invalid_config(
                strategy,
                "strategyConfig",
                format!("expected an object, found {other}"),
            ));
        }
    };
    let common: serde_json::Map<String, Value> = COMMON_CONFIG_KEYS
        .iter()
        .filter_map(|key| rest.remove(*key).map(|value| ((*key).to_owned(), value)))
        .collect();
    Ok((Value::Object(common), Value::Object(rest)))
}

/// Reads the keys every pod builder takes.
pub fn common_config(
    strategy: &str,
    request: &BuildRequest,
) -> Result<PodBuilderConfig, StrategyError> {
    let (common, _) = split_config(strategy, request)?;
    crate::request::parse_config(strategy, common)
}

/// Reads a pod builder's own `strategyConfig` keys (all but [`COMMON_CONFIG_KEYS`]) into `E`, a
/// struct with `#[serde(deny_unknown_fields, rename_all = "camelCase")]`, naming the field of
/// any error.
pub fn extra_config<E: serde::de::DeserializeOwned>(
    strategy: &str,
    request: &BuildRequest,
) -> Result<E, StrategyError> {
    let (_, rest) = split_config(strategy, request)?;
    crate::request::parse_config(strategy, rest)
}

/// The output image a pod build pushes to; pod builders have no registry of their own.
pub fn output_image<'a>(
    strategy: &str,
    request: &'a BuildRequest,
) -> Result<&'a str, StrategyError> {
    let field = "buildConfig.outputImage";
    let image = request.output_image.as_deref().filter(|s| !s.trim().is_empty()).ok_or_else(|| {
        StrategyError::invalid_config(
            strategy,
            field,
            "this strategy pushes to a registry and needs outputImage (e.g. registry.example.com/team/notebook:latest), with pushSecret for its credentials",
        )
    })?;
    check_image_reference(image)
        .map_err(|reason| StrategyError::invalid_config(strategy, field, reason))?;
    Ok(image)
}

/// Accepts `registry/name[:tag][@digest]` made of the characters image references use, so a
/// reference can never smuggle builder options (`,push=false`) or shell syntax.
pub fn check_image_reference(image: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "._-/:@".contains(c);
    match image.chars().find(|c| !allowed(*c)) {
        Some(c) => Err(format!(
            "'{}' is not an image reference: '{}' is not allowed",
            image.escape_debug(),
            c.escape_debug()
        )),
        None if image.starts_with('-') => Err(format!("'{image}' is not an image reference")),
        None => Ok(()),
    }
}

/// Accepts a repository of cached layers (`strategyConfig.cacheRepo`): an image reference
/// without tag or digest, since builders add their own tags to it.
pub fn check_cache_repository(repository: &str) -> Result<(), String> {
    check_image_reference(repository)?;
    let name = repository.rsplit('/').next().unwrap_or(repository);
    if repository.contains('@') || name.contains(':') || !repository.contains('/') {
        return Err(format!(
            "'{repository}' is not a repository: give registry/name, without tag or digest (e.g. registry.example.com/team/notebook-cache)"
        ));
    }
    Ok(())
}

/// A strategy's `strategyConfig.cacheRepo`, when given, checked with
/// [`check_cache_repository`].
pub fn cache_repository(
    strategy: &str,
    repository: Option<String>,
) -> Result<Option<String>, StrategyError> {
    if let Some(repo) = &repository {
        check_cache_repository(repo).map_err(|reason| {
            StrategyError::invalid_config(strategy, "strategyConfig.cacheRepo", reason)
        })?;
    }
    Ok(repository)
}

/// The image a strategy runs its builder with: `strategyConfig.executor`, else `default`.
pub fn executor_image(
    strategy: &str,
    request: &BuildRequest,
    default: &str,
) -> Result<String, StrategyError> {
    match common_config(strategy, request)?.executor {
        Some(image) => {
            check_image_reference(&image).map_err(|r| {
                StrategyError::invalid_config(strategy, "strategyConfig.executor", r)
            })?;
            Ok(image)
        }
        None => Ok(default.to_owned()),
    }
}

/// Validates what every pod-based strategy needs: known `strategyConfig` keys (the common ones
/// plus `extra_keys`), the git source, the output image, the executor and clone images.
pub fn validate_request(
    strategy: &str,
    request: &BuildRequest,
    extra_keys: &[&str],
) -> Result<(), StrategyError> {
    let known: Vec<&str> = COMMON_CONFIG_KEYS
        .iter()
        .chain(extra_keys)
        .copied()
        .collect();
    request.reject_unknown_config_keys(strategy, &known)?;
    let common = common_config(strategy, request)?;
    validate_context(strategy, request)?;
    output_image(strategy, request)?;
    for (image, key) in [
        (&common.executor, "executor"),
        (&common.git_image, "gitImage"),
    ] {
        if let Some(image) = image {
            check_image_reference(image).map_err(|r| {
                StrategyError::invalid_config(strategy, format!("strategyConfig.{key}"), r)
            })?;
        }
    }
    Ok(())
}

/// Checks the request's source: the git source when there is one
/// ([`BuildContext::Git`]); without, only what needs no files from a context (a package list).
///
/// # Errors
/// [`StrategyError::InvalidConfig`] naming what is wrong.
pub fn validate_context(strategy: &str, request: &BuildRequest) -> Result<(), StrategyError> {
    match request.context {
        BuildContext::Git => git::validate_source(strategy, &request.source),
        _ => match &request.requirements {
            Requirements::None | Requirements::Packages(_) => Ok(()),
            _ => Err(StrategyError::invalid_config(
                strategy,
                "buildConfig",
                "a build without a git source installs a package list (buildConfig.packages); a requirements file or requirements from imports need a repository",
            )),
        },
    }
}

/// The build context directory inside the builder container.
pub fn context_dir(request: &BuildRequest) -> String {
    if request.context != BuildContext::Git {
        return SOURCE_DIR.to_owned();
    }
    match request
        .source
        .context_dir
        .as_deref()
        .map(|d| d.trim_matches('/'))
    {
        Some(dir) if !dir.is_empty() => format!("{SOURCE_DIR}/{dir}"),
        _ => SOURCE_DIR.to_owned(),
    }
}

/// Renders the ConfigMap holding the Dockerfile and the build pod.
pub fn render(
    builder: &PodBuilder,
    request: &BuildRequest,
) -> Result<RenderedBuild, StrategyError> {
    validate_context(builder.strategy, request)?;
    output_image(builder.strategy, request)?;
    let dockerfile = dockerfile::for_request(builder.strategy, request)?;
    let name = &request.build_name;
    let config_map = RenderedObject::for_request(
        config_map_api(),
        format!("{name}-dockerfile"),
        request,
        json!({ "data": { "Dockerfile": dockerfile } }),
    );

    let env_list = |vars: &mut dyn Iterator<Item = (String, String)>| -> Value {
        Value::Array(
            vars.map(|(name, value)| json!({ "name": name, "value": value }))
                .collect(),
        )
    };
    let restricted = json!({
        "allowPrivilegeEscalation": false,
        "runAsNonRoot": true,
        "capabilities": { "drop": ["ALL"] },
        "seccompProfile": { "type": "RuntimeDefault" }
    });
    let mut clone_mounts = vec![json!({ "name": "source", "mountPath": SOURCE_DIR })];
    let mut build_mounts = vec![
        json!({ "name": "source", "mountPath": SOURCE_DIR }),
        json!({ "name": "dockerfile", "mountPath": DOCKERFILE_DIR, "readOnly": true }),
    ];
    let mut volumes = vec![
        json!({ "name": "source", "emptyDir": {} }),
        json!({ "name": "dockerfile", "configMap": { "name": format!("{name}-dockerfile") } }),
    ];
    let cloned = request.context == BuildContext::Git;
    if let Some(secret) = request
        .source
        .credentials_secret
        .as_ref()
        .filter(|_| cloned)
    {
        clone_mounts.push(json!({ "name": "git-credentials", "mountPath": git::CREDENTIALS_MOUNT, "readOnly": true }));
        volumes.push(json!({ "name": "git-credentials", "secret": { "secretName": secret, "defaultMode": git::CREDENTIALS_MODE } }));
    }
    let mut build_env: BTreeMap<String, String> = builder.env.clone();
    if let Some(secret) = &request.push_secret {
        build_mounts.push(
            json!({ "name": "docker-config", "mountPath": DOCKER_CONFIG_DIR, "readOnly": true }),
        );
        volumes.push(json!({ "name": "docker-config", "secret": {
            "secretName": secret,
            "items": [{ "key": ".dockerconfigjson", "path": "config.json" }]
        }}));
        build_env.insert("DOCKER_CONFIG".into(), DOCKER_CONFIG_DIR.into());
        build_env.insert(
            "REGISTRY_AUTH_FILE".into(),
            format!("{DOCKER_CONFIG_DIR}/config.json"),
        );
    }
    for (volume, path) in &builder.scratch {
        build_mounts.push(json!({ "name": volume, "mountPath": path }));
        volumes.push(json!({ "name": volume, "emptyDir": {} }));
    }

    let mut clone_env = git::clone_env(&request.source, SOURCE_DIR)
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v));
    // Without a git source the context is the empty `source` directory.
    let init_containers = if cloned {
        json!([{
            "name": CLONE_CONTAINER,
            "image": common_config(builder.strategy, request)?.git_image.as_deref().unwrap_or(DEFAULT_GIT_IMAGE),
            "command": ["/bin/sh", "-c", git::CLONE_SCRIPT],
            "env": env_list(&mut clone_env),
            "securityContext": restricted,
            "volumeMounts": clone_mounts,
        }])
    } else {
        json!([])
    };
    let mut spec = json!({
        "restartPolicy": "Never",
        "automountServiceAccountToken": false,
        "initContainers": init_containers,
        "containers": [{
            "name": BUILD_CONTAINER,
            "image": builder.image,
            "command": builder.command,
            "env": env_list(&mut build_env.into_iter()),
            "securityContext": builder.security_context,
            "terminationMessagePolicy": "File",
            "volumeMounts": build_mounts,
        }],
        "volumes": volumes,
    });
    if let Some(sa) = &request.service_account {
        spec["serviceAccountName"] = json!(sa);
    }
    if let Some(timeout) = request.timeout {
        spec["activeDeadlineSeconds"] = json!(timeout.as_secs().max(1));
    }
    let mut pod =
        RenderedObject::for_request(pod_api(), name.clone(), request, json!({ "spec": spec }));
    let mut annotations = builder.annotations.clone();
    annotations.insert(
        OUTPUT_IMAGE_ANNOTATION.to_owned(),
        output_image(builder.strategy, request)?.to_owned(),
    );
    pod.object.metadata.annotations = Some(annotations);
    Ok(RenderedBuild::new(vec![config_map], pod))
}

/// Reads a build pod's status. The pushed digest is the builder's termination message.
pub fn map_status(strategy: &str, pod: &DynamicObject) -> Result<BuildStatus, StrategyError> {
    let status: PodStatus = match pod.data.get("status") {
        Some(value) => serde_json::from_value(value.clone())
            .map_err(|e| StrategyError::backend(strategy, format!("unreadable pod status: {e}")))?,
        None => PodStatus::default(),
    };
    let annotation = |key: &str| {
        pod.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(key))
            .map(String::as_str)
    };
    let cancelled = annotation(CANCELLED_ANNOTATION) == Some("true");
    let output_image = annotation(OUTPUT_IMAGE_ANNOTATION);
    let terminated = |containers: &Option<Vec<k8s_openapi::api::core::v1::ContainerStatus>>,
                      name: &str| {
        containers
            .as_ref()
            .and_then(|list| list.iter().find(|c| c.name == name))
            .and_then(|c| c.state.as_ref())
            .and_then(|s| s.terminated.clone())
    };
    let waiting_reason = status
        .init_container_statuses
        .iter()
        .chain(status.container_statuses.iter())
        .flatten()
        .find_map(|c| {
            c.state
                .as_ref()
                .and_then(|s| s.waiting.as_ref())
                .and_then(|w| w.reason.clone())
        });
    let start = status.start_time.clone();
    let phase = status.phase.as_deref().unwrap_or("Pending");
    let result = match phase {
        "Pending" => {
            let reason = waiting_reason.unwrap_or_else(|| "Pending".into());
            let message = match terminated(&status.init_container_statuses, CLONE_CONTAINER) {
                Some(t) if t.exit_code == 0 => {
                    "source cloned; waiting for the builder to start".to_owned()
                }
                _ => format!("build pod is pending ({reason})"),
            };
            BuildStatus::new(BuildPhase::Pending, reason, message)
        }
        "Running" => BuildStatus::new(BuildPhase::Running, "Running", "the builder is running"),
        "Succeeded" => {
            let build = terminated(&status.container_statuses, BUILD_CONTAINER);
            let digest = build
                .as_ref()
                .and_then(|t| t.message.as_deref())
                .and_then(extract_digest);
            let image = output_image.map(|out| {
                let image = ImageReference::parse(out);
                match digest {
                    Some(d) => image.with_digest(d),
                    None => image,
                }
            });
            let completion = build.and_then(|t| t.finished_at);
            return Ok(BuildStatus::new(
                BuildPhase::Succeeded,
                "Succeeded",
                "image built and pushed",
            )
            .with_times(start, completion)
            .with_image(image));
        }
        "Failed" if cancelled => BuildStatus::new(
            BuildPhase::Cancelled,
            "Cancelled",
            "the build was cancelled",
        ),
        "Failed" => {
            if status.reason.as_deref() == Some("DeadlineExceeded") {
                BuildStatus::new(
                    BuildPhase::Failed,
                    "BuildTimeout",
                    "the build ran past its timeout and was stopped",
                )
            } else if let Some(clone) = terminated(&status.init_container_statuses, CLONE_CONTAINER)
                .filter(|t| t.exit_code != 0)
            {
                BuildStatus::new(
                    BuildPhase::Failed,
                    "FetchSourceFailed",
                    format!(
                        "cloning the source failed (exit code {}): {}",
                        clone.exit_code,
                        clone.message.unwrap_or_default().trim()
                    ),
                )
            } else {
                let build = terminated(&status.container_statuses, BUILD_CONTAINER);
                let reason = match build.as_ref().and_then(|t| t.reason.as_deref()) {
                    Some("OOMKilled") => "OutOfMemoryKilled",
                    _ => "BuildFailed",
                };
                let detail = build
                    .as_ref()
                    .map(|t| {
                        format!(
                            "exit code {}: {}",
                            t.exit_code,
                            t.message.clone().unwrap_or_default().trim()
                        )
                    })
                    .or_else(|| status.message.clone())
                    .unwrap_or_else(|| "no detail reported".into());
                BuildStatus::new(
                    BuildPhase::Failed,
                    reason,
                    format!("the builder failed ({detail})"),
                )
            }
        }
        other => BuildStatus::new(
            BuildPhase::Pending,
            other,
            format!("build pod phase is {other}"),
        ),
    };
    let completion =
        terminated(&status.container_statuses, BUILD_CONTAINER).and_then(|t| t.finished_at);
    Ok(result.with_times(start, completion))
}

/// Finds a `sha256:<64 hex>` digest in a termination message.
pub fn extract_digest(message: &str) -> Option<String> {
    let start = message.find("sha256:")?;
    let hex: String = message[start + 7..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    (hex.len() == 64).then(|| format!("sha256:{hex}"))
}

/// The builder's log (and the clone container's when it failed), bounded to `tail`.
pub async fn logs(
    client: &Client,
    strategy: &str,
    request: &BuildRequest,
    tail: LogTail,
) -> Result<String, StrategyError> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), &request.namespace);
    let params = |container: &str| crate::pod_logs::tail_params(container, tail);
    let build = pods
        .logs(&request.build_name, &params(BUILD_CONTAINER))
        .await;
    match build {
        Ok(log) if !log.is_empty() => Ok(tail.apply(&log)),
        // The builder never started: the clone's log says why.
        _ => pods
            .logs(&request.build_name, &params(CLONE_CONTAINER))
            .await
            .map(|log| tail.apply(&log))
            .map_err(|e| StrategyError::kube(strategy, Operation::Logs, e)),
    }
}

/// Stops the build pod: marks it cancelled and makes its deadline pass at once, so the kubelet
/// kills it and the pod stays for its logs.
pub async fn cancel(
    client: &Client,
    strategy: &str,
    request: &BuildRequest,
) -> Result<(), StrategyError> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), &request.namespace);
    let patch = json!({
        "metadata": { "annotations": { CANCELLED_ANNOTATION: "true" } },
        "spec": { "activeDeadlineSeconds": 1 }
    });
    pods.patch(
        &request.build_name,
        &PatchParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PatchParams::default()
        },
        &Patch::Merge(&patch),
    )
    .await
    .map(|_| ())
    .map_err(|e| StrategyError::kube(strategy, Operation::Cancel, e))
}

/// RBAC rules every pod-based strategy needs.
pub fn rbac_rules() -> Vec<k8s_openapi::api::rbac::v1::PolicyRule> {
    use crate::rbac::{MANAGE, rule};
    vec![
        rule("", &["pods", "configmaps"], MANAGE),
        rule("", &["pods/log"], &["get"]),
    ]
}
