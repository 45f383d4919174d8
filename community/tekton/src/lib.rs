//! Tekton Pipelines build strategy (community tier), on any Kubernetes with Tekton installed.
//!
//! Two modes:
//! - default: a TaskRun of the `nbv-buildah` Task, which the strategy installs in the job's
//!   namespace as a prerequisite (clone, write the Dockerfile, build and push with Buildah);
//! - `strategyConfig.pipelineRef`: a PipelineRun of the user's own Pipeline, given the params
//!   `git-url`, `git-revision`, `context-dir`, `image` and `dockerfile`, plus `strategyConfig.params`.
//!
//! A TaskRun's steps share one pod, so its source workspace is an `emptyDir`: no volume claim,
//! no storage class needed. A PipelineRun's tasks run in pods of their own, so each run gets its
//! own volume claim (`volumeClaimTemplate`); concurrent builds never share one. The job's `pushSecret` (a docker-config secret) and the source's
//! `credentialsSecret` reach the Task through optional workspaces bound to those secrets; the
//! run's service account needs no secret linked to it.
//!
//! `strategyConfig`: [`TektonConfig`].

use buildstrategy_api::naming::is_dns_label;
use buildstrategy_api::pod_build::{self, check_image_reference};
use buildstrategy_api::prelude::*;
use buildstrategy_api::rbac::{MANAGE, READ, rule};
use buildstrategy_api::resources::{RenderedObject, field};
use buildstrategy_api::succeeded_condition::{self, Vocabulary};
use buildstrategy_api::{git, pod_logs};
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

const NAME: &str = "tekton";
const GROUP: &str = "tekton.dev";
const VERSION: &str = "v1";
/// The Task the strategy installs and runs in TaskRun mode.
pub const TASK_NAME: &str = "nbv-buildah";
/// The Buildah image the Task's build step uses unless `strategyConfig.executor` names another.
pub const DEFAULT_EXECUTOR: &str = "quay.io/buildah/stable:v1.40.1";
/// The Tekton strategy's `strategyConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TektonConfig {
    /// Runs a PipelineRun of this Pipeline of yours (in the job's namespace) instead of a
    /// TaskRun of the `nbv-buildah` Task; it gets the params `git-url`, `git-revision`,
    /// `context-dir`, `image` and `dockerfile`.
    pub pipeline_ref: Option<String>,
    /// More params for your Pipeline, as strings (`{"verbose": "true"}`).
    #[serde(default)]
    pub params: std::collections::BTreeMap<String, String>,
    /// The Buildah image of the Task's build step, instead of `quay.io/buildah/stable`.
    pub executor: Option<String>,
    /// The image of the Task's clone step, instead of `alpine/git`.
    pub git_image: Option<String>,
    /// The size of each PipelineRun's workspace volume claim (a storage quantity); `1Gi` by
    /// default. A TaskRun's workspace is an `emptyDir`, which this bounds too.
    pub workspace_size: Option<String>,
}

/// Where the Task's optional `dockerconfig` workspace (the job's `pushSecret`) is mounted.
pub const DOCKER_CONFIG_MOUNT: &str = "/var/run/nbv/docker-config";

/// The script of the Task's build step. Constant: inputs arrive as environment variables.
pub const BUILD_SCRIPT: &str = r#"set -eu
if [ -f /var/run/nbv/docker-config/config.json ]; then
  export REGISTRY_AUTH_FILE=/var/run/nbv/docker-config/config.json
fi
printf '%s' "$NBV_DOCKERFILE_CONTENT" > /tmp/nbv.Dockerfile
buildah build --isolation=chroot --storage-driver=vfs --file /tmp/nbv.Dockerfile --tag "$NBV_IMAGE" -- "$NBV_CONTEXT"
buildah push --storage-driver=vfs --digestfile "$NBV_DIGEST_PATH" -- "$NBV_IMAGE" "docker://$NBV_IMAGE"
printf '%s' "$NBV_IMAGE" > "$NBV_URL_PATH"
"#;

/// Put before the clone script: a build without a git source (an empty `git-url`) gets an
/// empty context directory instead of a clone.
const SOURCELESS: &str = r#"if [ -z "$NBV_GIT_URL" ]; then
  mkdir -p -- "$NBV_SOURCE_DIR"
  exit 0
fi
"#;

fn api(kind: &str) -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk(GROUP, VERSION, kind))
}

/// The Tekton strategy.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tekton;

impl Tekton {
    fn config(request: &BuildRequest) -> Result<TektonConfig, StrategyError> {
        request.config(NAME)
    }

    fn pipeline_ref(request: &BuildRequest) -> Result<Option<String>, StrategyError> {
        Ok(Self::config(request)?.pipeline_ref)
    }

    fn standard_params(request: &BuildRequest) -> Result<Vec<Value>, StrategyError> {
        let image = pod_build::output_image(NAME, request)?;
        let dockerfile = buildstrategy_api::dockerfile::for_request(NAME, request)?;
        // Without a git source, an empty URL tells the Task's clone step to make an empty
        // context instead.
        let (url, revision, context) = match request.context {
            BuildContext::Git => (
                request.source.url.clone(),
                request.source.git_ref.clone().unwrap_or_default(),
                request
                    .source
                    .context_dir
                    .clone()
                    .unwrap_or_else(|| ".".into()),
            ),
            _ => (String::new(), String::new(), ".".into()),
        };
        Ok(vec![
            json!({ "name": "git-url", "value": url }),
            json!({ "name": "git-revision", "value": revision }),
            json!({ "name": "context-dir", "value": context }),
            json!({ "name": "image", "value": image }),
            json!({ "name": "dockerfile", "value": dockerfile }),
        ])
    }

    /// The run's workspaces: its own source volume (an `emptyDir` for a TaskRun's one pod, a
    /// volume claim shared by a PipelineRun's pods), and the job's secrets when it names them.
    fn workspaces(request: &BuildRequest, pipeline: bool) -> Result<Vec<Value>, StrategyError> {
        let size = Self::config(request)?
            .workspace_size
            .unwrap_or_else(|| "1Gi".into());
        let source = if pipeline {
            json!({
                "name": "source",
                "volumeClaimTemplate": { "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": { "requests": { "storage": size } }
                }}
            })
        } else {
            json!({ "name": "source", "emptyDir": { "sizeLimit": size } })
        };
        let mut workspaces = vec![source];
        if let Some(secret) = &request.push_secret {
            workspaces.push(json!({ "name": "dockerconfig", "secret": {
                "secretName": secret,
                "items": [{ "key": ".dockerconfigjson", "path": "config.json" }]
            }}));
        }
        if let Some(secret) = &request.source.credentials_secret {
            workspaces.push(json!({ "name": "git-credentials", "secret": {
                "secretName": secret,
                "defaultMode": git::CREDENTIALS_MODE
            }}));
        }
        Ok(workspaces)
    }
}

#[async_trait]
impl BuildStrategy for Tekton {
    fn info(&self) -> StrategyInfo {
        StrategyInfo::new(
            NAME,
            Tier::Community,
            "Builds with a Tekton TaskRun (Buildah) or a PipelineRun of your own Pipeline.",
        )
        .with_auto_rank(200)
    }

    fn validate_config(&self, request: &BuildRequest) -> Result<(), StrategyError> {
        let config = Self::config(request)?;
        pod_build::validate_context(NAME, request)?;
        pod_build::output_image(NAME, request)?;
        if let Some(pipeline) = &config.pipeline_ref {
            if !is_dns_label(pipeline) {
                return Err(StrategyError::invalid_config(
                    NAME,
                    "strategyConfig.pipelineRef",
                    format!(
                        "'{pipeline}' is not a Pipeline name (lowercase letters, digits and '-')"
                    ),
                ));
            }
            if request.context != BuildContext::Git {
                return Err(StrategyError::invalid_config(
                    NAME,
                    "strategyConfig.pipelineRef",
                    "a Pipeline is given a git source to build, and this build has none: leave pipelineRef out to build with the nbv-buildah Task, which builds a package list without a source",
                ));
            }
        }
        for (image, key) in [
            (&config.executor, "executor"),
            (&config.git_image, "gitImage"),
        ] {
            if let Some(image) = image {
                check_image_reference(image).map_err(|r| {
                    StrategyError::invalid_config(NAME, format!("strategyConfig.{key}"), r)
                })?;
            }
        }
        if let Some(size) = &config.workspace_size {
            let digits = size.trim_end_matches(char::is_alphabetic);
            if digits.is_empty()
                || !digits.chars().all(|c| c.is_ascii_digit())
                || !["", "Mi", "Gi", "Ti", "M", "G", "T"].contains(&&size[digits.len()..])
            {
                return Err(StrategyError::invalid_config(
                    NAME,
                    "strategyConfig.workspaceSize",
                    format!("'{size}' is not a storage quantity such as 1Gi"),
                ));
            }
        }
        Ok(())
    }

    fn config_schema(&self) -> Option<Value> {
        Some(schemars::schema_for!(TektonConfig).to_value())
    }

    fn capabilities(&self) -> Capabilities {
        let mut declared = Capabilities::undeclared();
        declared.public_git = Support::Yes;
        declared.private_git = Support::Yes;
        declared.context_dir = Support::Yes;
        declared.requirements_file = Support::Yes;
        declared.package_list = Support::Yes;
        declared.empty_context = Support::Yes;
        declared.requirements_from_imports = Support::Yes;
        declared.own_dockerfile = Support::Yes;
        declared.digest = Support::Yes;
        declared.logs = Support::Yes;
        declared.cancel = Support::Yes;
        declared.timeout = Support::Yes;
        declared.layer_cache = Support::No;
        declared.privileges = "the Buildah step runs as root with SYS_ADMIN and SETFCAP added, as the Buildah strategy; your own Pipeline decides in PipelineRun mode";
        declared.cluster_prerequisites =
            "Tekton Pipelines; the nbv-buildah Task is installed per namespace";
        declared
    }

    fn rbac_rules(&self) -> Vec<PolicyRule> {
        vec![
            rule(GROUP, &["tasks", "taskruns", "pipelineruns"], MANAGE),
            rule(GROUP, &["pipelines"], READ),
            rule("", &["pods"], READ),
            rule("", &["pods/log"], &["get"]),
        ]
    }

    fn watched_kinds(&self) -> Vec<GroupVersionKind> {
        ["TaskRun", "PipelineRun"]
            .map(|k| GroupVersionKind::gvk(GROUP, VERSION, k))
            .into()
    }

    fn required_kinds(&self) -> Vec<GroupVersionKind> {
        ["Task", "TaskRun", "PipelineRun"]
            .map(|k| GroupVersionKind::gvk(GROUP, VERSION, k))
            .into()
    }

    fn setup_steps(&self, request: &BuildRequest) -> Result<Vec<SetupStep>, StrategyError> {
        if Self::pipeline_ref(request)?.is_some() {
            return Ok(Vec::new());
        }
        let executor = pod_build::executor_image(NAME, request, DEFAULT_EXECUTOR)?;
        let git_image = Self::config(request)?
            .git_image
            .unwrap_or_else(|| pod_build::DEFAULT_GIT_IMAGE.into());
        // The Task is shared by the namespace's builds: no owner, the operator's labels only.
        let mut shared = request.clone();
        shared.owner = None;
        let param = |name: &str| format!("$(params.{name})");
        let params: Vec<Value> = [
            "git-url",
            "git-revision",
            "context-dir",
            "image",
            "dockerfile",
        ]
        .map(|p| json!({ "name": p, "type": "string" }))
        .into();
        let task = RenderedObject::for_request(
            api("Task"),
            TASK_NAME,
            &shared,
            json!({ "spec": {
                "params": params,
                "results": [{ "name": "IMAGE_DIGEST" }, { "name": "IMAGE_URL" }],
                "workspaces": [
                    { "name": "source" },
                    { "name": "dockerconfig", "optional": true, "readOnly": true, "mountPath": DOCKER_CONFIG_MOUNT },
                    { "name": "git-credentials", "optional": true, "readOnly": true, "mountPath": git::CREDENTIALS_MOUNT }
                ],
                "steps": [
                    {
                        "name": "clone",
                        "image": git_image,
                        "script": format!("{SOURCELESS}{}", git::CLONE_SCRIPT),
                        "env": [
                            { "name": "NBV_GIT_URL", "value": param("git-url") },
                            { "name": "NBV_GIT_REF", "value": param("git-revision") },
                            { "name": "NBV_SOURCE_DIR", "value": "$(workspaces.source.path)/src" }
                        ]
                    },
                    {
                        "name": "build",
                        "image": executor,
                        "script": BUILD_SCRIPT,
                        "env": [
                            { "name": "NBV_DOCKERFILE_CONTENT", "value": param("dockerfile") },
                            { "name": "NBV_IMAGE", "value": param("image") },
                            { "name": "NBV_CONTEXT", "value": format!("$(workspaces.source.path)/src/{}", param("context-dir")) },
                            { "name": "NBV_DIGEST_PATH", "value": "$(results.IMAGE_DIGEST.path)" },
                            { "name": "NBV_URL_PATH", "value": "$(results.IMAGE_URL.path)" }
                        ],
                        // As the Buildah strategy's pod, which builds on containerd with these:
                        // SETFCAP alone is refused there (docs/community/build-strategies/buildah.md).
                        "securityContext": {
                            "runAsUser": 0,
                            "capabilities": { "add": ["SYS_ADMIN", "SETFCAP"] }
                        }
                    }
                ]
            }}),
        );
        Ok(vec![SetupStep::new(
            format!("Tekton Task {TASK_NAME}"),
            task,
        )])
    }

    fn render(&self, request: &BuildRequest) -> Result<RenderedBuild, StrategyError> {
        self.validate_config(request)?;
        let mut params = Self::standard_params(request)?;
        let timeout = request.timeout.map(|t| format!("{}s", t.as_secs()));
        let run = match Self::pipeline_ref(request)? {
            Some(pipeline) => {
                let extra = Self::config(request)?.params;
                params.extend(extra.iter().map(|(k, v)| json!({ "name": k, "value": v })));
                let mut spec = json!({
                    "pipelineRef": { "name": pipeline },
                    "params": params,
                    "workspaces": Self::workspaces(request, true)?,
                });
                if let Some(sa) = &request.service_account {
                    spec["taskRunTemplate"] = json!({ "serviceAccountName": sa });
                }
                if let Some(t) = timeout {
                    spec["timeouts"] = json!({ "pipeline": t });
                }
                RenderedObject::for_request(
                    api("PipelineRun"),
                    request.build_name.clone(),
                    request,
                    json!({ "spec": spec }),
                )
            }
            None => {
                let mut spec = json!({
                    "taskRef": { "name": TASK_NAME },
                    "params": params,
                    "workspaces": Self::workspaces(request, false)?,
                });
                if let Some(sa) = &request.service_account {
                    spec["serviceAccountName"] = json!(sa);
                }
                if let Some(t) = timeout {
                    spec["timeout"] = json!(t);
                }
                RenderedObject::for_request(
                    api("TaskRun"),
                    request.build_name.clone(),
                    request,
                    json!({ "spec": spec }),
                )
            }
        };
        Ok(RenderedBuild::new(Vec::new(), run))
    }

    fn map_status(&self, primary: &DynamicObject) -> Result<BuildStatus, StrategyError> {
        const WORDS: Vocabulary = Vocabulary {
            object: "the run",
            controller: "Tekton",
            cancelled: &[
                "TaskRunCancelled",
                "Cancelled",
                "PipelineRunCancelled",
                "StoppedRunFinally",
                "CancelledRunFinally",
            ],
        };
        let status = succeeded_condition::status(primary, &WORDS);
        if status.phase != BuildPhase::Succeeded {
            return Ok(status);
        }
        // The Task (or the user's Pipeline) reports what it pushed as results.
        let result = |name: &str| {
            field(primary, "/status/results")
                .and_then(Value::as_array)
                .and_then(|results| results.iter().find(|r| r["name"] == name))
                .and_then(|r| r["value"].as_str())
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
        };
        let image = result("IMAGE_URL").map(|url| {
            let image = ImageReference::parse(&url);
            match result("IMAGE_DIGEST") {
                Some(digest) => image.with_digest(digest),
                None => image,
            }
        });
        Ok(status.with_image(image))
    }

    async fn logs(
        &self,
        client: &kube::Client,
        request: &BuildRequest,
        tail: LogTail,
    ) -> Result<String, StrategyError> {
        // Tekton labels every pod of a run with the run's name.
        let label = match Self::pipeline_ref(request)? {
            Some(_) => "tekton.dev/pipelineRun",
            None => "tekton.dev/taskRun",
        };
        let selector = format!("{label}={}", request.build_name);
        pod_logs::of_labelled_pods(client, &request.namespace, &selector, "step-", tail)
            .await
            .map_err(|e| StrategyError::kube(NAME, Operation::Logs, e))
    }

    async fn cancel_build(
        &self,
        client: &kube::Client,
        request: &BuildRequest,
    ) -> Result<(), StrategyError> {
        let (kind, value) = match Self::pipeline_ref(request)? {
            Some(_) => ("PipelineRun", "Cancelled"),
            None => ("TaskRun", "TaskRunCancelled"),
        };
        let runs: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), &request.namespace, &api(kind));
        runs.patch(
            &request.build_name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "status": value } })),
        )
        .await
        .map(|_| ())
        .map_err(|e| StrategyError::kube(NAME, Operation::Cancel, e))
    }
}

buildstrategy_api::register_strategy!(|| Box::new(Tekton));
