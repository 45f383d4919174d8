//! The `NotebookValidationJob` custom resource (`mlops.redhat.com/v1alpha1`).
//!
//! Field names follow the design this project started from, so existing manifests port by
//! changing `apiVersion`. The API server rejects bad input itself: OpenAPI types, formats and
//! lengths, plus CEL rules for what crosses fields or needs a pattern, each with a message that
//! says how to fix it.

// `KubeSchema` re-emits each struct inside a private module to build its schema; the lint takes
// those copies for unreachable public items.
#![allow(unreachable_pub)]

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, Container, EnvFromSource, EnvVar, ResourceRequirements, Toleration, Volume,
    VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A CEL-safe Go duration such as `30m`, `1h30m` or `90s`.
const DURATION_RULE: &str = "self.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|ms|s|m|h))+$')";
const DURATION_MESSAGE: &str = "must be a duration such as 30m, 1h30m or 90s";

/// Validates a Jupyter notebook from a git repository, optionally building its image first.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "mlops.redhat.com",
    version = "v1alpha1",
    kind = "NotebookValidationJob",
    plural = "notebookvalidationjobs",
    shortname = "nvj",
    shortname = "nvjob",
    namespaced,
    status = "NotebookValidationJobStatus",
    derive = "PartialEq",
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Strategy","type":"string","jsonPath":".status.buildStatus.strategy"}"#,
    printcolumn = r#"{"name":"Notebook","type":"string","jsonPath":".spec.notebook.path"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct NotebookValidationJobSpec {
    /// The notebook to validate.
    pub notebook: NotebookSource,
    /// A notebook holding the expected outputs; without it only execution is checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub golden_notebook: Option<NotebookSource>,
    /// How the validation pod runs, and whether its image is built first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_config: Option<PodConfig>,
    /// How outputs are compared with the golden notebook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparison_config: Option<ComparisonConfig>,
    /// Papermill parameters, injected into the cell tagged `parameters`. Names are Python
    /// identifiers; values any JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "parameters_object")]
    pub parameters: Option<BTreeMap<String, serde_json::Value>>,
    /// Upper bound on the whole job (build and validation), e.g. `30m` (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new(DURATION_RULE).message(Message::Message(format!("spec.timeout {DURATION_MESSAGE}"))))]
    #[schemars(length(max = 32))]
    pub timeout: Option<String>,
    /// How the notebook is executed: cell timeout, kernel, going on past errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<ExecutionConfig>,
    /// Where the executed notebook and the full reports are kept, beyond the bounded summary
    /// in status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifacts: Option<ArtifactsConfig>,
    /// Takes the verdict of an earlier job of the namespace that validated the same notebook
    /// and golden (at the same commits) in the same image (by digest) with the same settings,
    /// instead of running a pod. Off by default for jobs, on for a suite's jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reuse_results: Option<bool>,
}

/// Where a job's executed notebook and full reports are kept.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactsConfig {
    /// A PersistentVolumeClaim in the job's namespace, writable by the validation pod's user.
    /// Each validation pod writes `<job>/<pod>/` in it: `executed.ipynb`, `report.json`,
    /// `report.html` and `junit.xml`; `status.artifacts` names the directory.
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')").message("artifacts.claimName must be the name of a PersistentVolumeClaim (lowercase letters, digits, '-' and '.')"))]
    #[schemars(length(min = 1, max = 253))]
    pub claim_name: String,
}

/// Where a job's artifacts are.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactsLocation {
    /// The PersistentVolumeClaim.
    pub claim_name: String,
    /// The directory in it, `<job>/<pod>`.
    pub path: String,
}

/// How the notebook is executed.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionConfig {
    /// How long one cell may run, e.g. `10m` (the default); a cell tagged
    /// `nbv-timeout=SECONDS` has its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new(DURATION_RULE).message(Message::Message(format!("execution.cellTimeout {DURATION_MESSAGE}"))))]
    #[schemars(length(max = 32))]
    pub cell_timeout: Option<String>,
    /// The kernel to run the notebook with instead of the one its metadata names, e.g.
    /// `python3`; it must be installed in the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z0-9][A-Za-z0-9._-]*$')").message("execution.kernel must be a kernel name such as python3 (letters, digits, '.', '_', '-')"))]
    #[schemars(length(min = 1, max = 64))]
    pub kernel: Option<String>,
    /// Execute every cell, past cells that raise, so that every cell has a result and the
    /// golden comparison still runs; the job fails all the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continue_on_error: Option<bool>,
}

/// A notebook file in a git repository.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotebookSource {
    /// The repository.
    pub git: GitSpec,
    /// Path of the notebook inside the repository.
    #[x_kube(validation = Rule::new("self.endsWith('.ipynb')").message("notebook path must end in .ipynb, e.g. notebooks/analysis.ipynb"))]
    #[x_kube(validation = Rule::new("!self.startsWith('/') && !self.contains('..')").message("notebook path must be relative to the repository root and must not contain '..'"))]
    #[schemars(length(min = 7, max = 1024))]
    pub path: String,
}

/// A git repository and the revision to check out.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitSpec {
    /// Clone URL: `https://`, `ssh://`, `git://` or `git@host:path`.
    #[x_kube(validation = Rule::new("self.matches('^(https://|ssh://|git://|git@)[^\\\\s]+$')").message("git url must start with https://, ssh://, git:// or git@ and contain no spaces"))]
    #[x_kube(validation = Rule::new("!self.matches('^(https|git)://[^/]*@') && !self.matches('^ssh://[^/@]*:[^/]*@') && !self.matches('^[^/@:]*:[^/@]*@')").message("git url must not carry credentials: remove user:password@ (or a token before '@') and put them in credentialsSecret"))]
    #[x_kube(validation = Rule::new("!self.matches('^[a-z]+://([^/@]*@)?-') && !self.matches('^[^/:]*@-')").message("git url's host must not start with '-'"))]
    #[schemars(length(min = 1, max = 2048))]
    pub url: String,
    /// Branch, tag or commit SHA; the remote's default branch when empty.
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z0-9._/@+-]+$') && !self.startsWith('-') && !self.contains('..')").message("git ref must be a branch, tag or commit SHA (letters, digits and . _ / @ + -), must not start with '-' and must not contain '..'"))]
    #[schemars(length(max = 255))]
    pub git_ref: Option<String>,
    /// Secret with clone credentials: `username` and `password` (a token), or `ssh-privatekey`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub credentials_secret: Option<String>,
}

/// The validation pod's settings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodConfig {
    /// Image with the notebook's dependencies; when set, no build runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub container_image: Option<String>,
    /// Resources of the validation container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Service account of the validation pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub service_account_name: Option<String>,
    /// Extra environment variables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    /// Extra environment from ConfigMaps and Secrets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_from: Vec<EnvFromSource>,
    /// Secrets whose keys become the notebook's environment variables: a shortcut for
    /// `envFrom` entries with a `secretRef` each, added after `envFrom`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(min = 1, max = 253)))]
    pub credentials: Vec<String>,
    /// Secrets (type `kubernetes.io/dockerconfigjson`) the kubelet pulls the notebook image
    /// with, for a private registry. A built image is also pulled with the build's `pushSecret`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16), inner(length(min = 1, max = 253)))]
    #[x_kube(validation = Rule::new("self.all(s, s.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$'))").message("imagePullSecrets must be names of Secrets (lowercase letters, digits, '-' and '.')"))]
    pub image_pull_secrets: Vec<String>,
    /// Extra volumes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    /// Where the extra volumes are mounted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_mounts: Vec<VolumeMount>,
    /// Tolerations of the validation pod.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    /// Node selector of the validation pod.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Affinity of the validation pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    /// Builds the image before validating.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_config: Option<BuildConfig>,
    /// Containers run after the clone and before the notebook: to wait for a database or a
    /// model endpoint, or to fetch data. Each runs with the validation container's restricted
    /// security context and may mount the pod's volumes (`workspace` at `/workspace` holds the
    /// clone); one asking for privileges is refused. A failing one fails the job as
    /// `InitContainerFailed`, with its last log lines.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8))]
    #[x_kube(validation = Rule::new("self.all(c, !(c.name in ['install-runner', 'clone', 'clone-golden', 'validate']))").message("initContainers[].name must not be install-runner, clone, clone-golden or validate: the validation pod's own containers have those names"))]
    pub init_containers: Vec<Container>,
}

/// What to do when no requirements file is found.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FallbackStrategy {
    /// Build from the base image alone and warn in status.
    Warn,
    /// Fail the job.
    Fail,
    /// Generate requirements from the notebook's imports.
    Auto,
}

/// Whether a build may be replaced by an image built before from the same inputs.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum ReusePolicy {
    /// Use an image built and pushed before from the same inputs (the default).
    #[default]
    IfSameInputs,
    /// Always build.
    Never,
}

/// How the image is built.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!self.enabled || has(self.strategy)").message("buildConfig.strategy is required when buildConfig.enabled is true: name a build strategy of the operator (nbv-operator strategies lists them) or 'auto'"))]
pub struct BuildConfig {
    /// Whether to build.
    #[serde(default)]
    pub enabled: bool,
    /// The build strategy: the name of one compiled into the operator (`nbv-operator strategies`
    /// lists them), or `auto` to let the operator choose by the ranks the strategies declare.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')").message("buildConfig.strategy must be a strategy name (lowercase letters, digits and '-') or auto"))]
    #[schemars(length(max = 63))]
    pub strategy: Option<String>,
    /// The image the dependencies are installed on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub base_image: Option<String>,
    /// Generate requirements from the notebook's imports when no file is found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_generate_requirements: Option<bool>,
    /// The requirements file, relative to the repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("!self.startsWith('/') && !self.matches('(^|/)[.][.](/|$)')").message("requirementsFile must be relative to the repository root and must not contain '..'"))]
    #[schemars(length(min = 1, max = 1024))]
    pub requirements_file: Option<String>,
    /// Packages to install when no requirements file is used.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 500), inner(length(min = 1, max = 256)))]
    pub packages: Vec<String>,
    /// A Dockerfile to use instead of the generated one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 65536))]
    pub dockerfile: Option<String>,
    /// With requirements generated from imports: modules whose distribution is named otherwise,
    /// added to (or overriding) the built-in table (`yaml` is `PyYAML`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub import_names: Vec<ImportName>,
    /// What to do without a requirements file: `warn` (default), `fail` or `auto`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_strategy: Option<FallbackStrategy>,
    /// Upper bound on the build, e.g. `15m` (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new(DURATION_RULE).message(Message::Message(format!("buildConfig.timeout {DURATION_MESSAGE}"))))]
    #[schemars(length(max = 32))]
    pub timeout: Option<String>,
    /// Where to push the image (strategies with a cluster registry may choose when empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub output_image: Option<String>,
    /// Secret with registry credentials for the push.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub push_secret: Option<String>,
    /// `IfSameInputs` (the default): an image built before from the same inputs (strategy and
    /// its config, base image by digest, git URL and commit, context, requirements, Dockerfile,
    /// operator version) is used instead of building; `Never`: always build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reuse: Option<ReusePolicy>,
    /// Settings of the chosen strategy; see its documentation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_object")]
    pub strategy_config: Option<serde_json::Value>,
}

/// A module whose distribution is named otherwise (`import yaml` needs `PyYAML`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
pub struct ImportName {
    /// The module as imported, e.g. `yaml` or `google.protobuf`.
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z_][A-Za-z0-9_]*([.][A-Za-z_][A-Za-z0-9_]*)*$')").message("importNames[].module must be a Python module name such as yaml or google.protobuf"))]
    #[schemars(length(min = 1, max = 100))]
    pub module: String,
    /// The distribution that provides it, e.g. `PyYAML`.
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$')").message("importNames[].distribution must be a distribution name such as PyYAML (letters, digits, '.', '_', '-')"))]
    #[schemars(length(min = 1, max = 100))]
    pub distribution: String,
}

/// How outputs are compared.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ComparisonStrategy {
    /// Outputs must be identical.
    Exact,
    /// Timestamps, addresses, ids and whitespace are masked; numbers compared with a tolerance.
    Normalized,
}

/// Comparison with the golden notebook.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComparisonConfig {
    /// `exact` or `normalized` (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<ComparisonStrategy>,
    /// Tolerance for numbers in outputs, as a decimal string (e.g. "0.0001").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^[0-9]+(\\\\.[0-9]+)?([eE][-+]?[0-9]+)?$')").message("floatingPointTolerance must be a number >= 0 written as a string, e.g. \"0.0001\""))]
    #[schemars(length(max = 32))]
    pub floating_point_tolerance: Option<String>,
    /// Mask timestamps before comparing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_timestamps: Option<bool>,
    /// Ignore execution counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_execution_count: Option<bool>,
    /// Extra regular expressions masked as timestamps.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(min = 1, max = 512)))]
    pub custom_timestamp_patterns: Vec<String>,
    /// Output types (`stream`, `display_data`, MIME types) left out of the comparison.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(min = 1, max = 255)))]
    pub ignore_output_types: Vec<String>,
    /// nbval's lax mode: only cells marked `NBVAL_CHECK_OUTPUT` (or tagged
    /// `nbval-check-output`) have their outputs compared; every cell still runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lax: Option<bool>,
    /// Regular expressions replaced in the text outputs of both notebooks before comparing, in
    /// order (nbval's sanitize file as a list), in both modes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub sanitizers: Vec<SanitizerSpec>,
}

/// One sanitizer: each match of `regex` becomes `replace`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct SanitizerSpec {
    /// The pattern (Rust regex syntax; Python's common patterns read the same).
    #[schemars(length(min = 1, max = 1024))]
    pub regex: String,
    /// What each match becomes; `\1` or `${1}` for a group.
    #[serde(default)]
    #[schemars(length(max = 1024))]
    pub replace: String,
}

/// Where the job is.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum Phase {
    /// Accepted, nothing started.
    Pending,
    /// The image is being built.
    Building,
    /// The image is built; validation is next.
    BuildComplete,
    /// The notebook runs.
    ValidationRunning,
    /// The notebook ran and matched.
    Succeeded,
    /// Something failed; conditions and message say what.
    Failed,
}

/// The build, as the job's status shows it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BuildStatusReport {
    /// The strategy that builds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
    /// Pending, Running, Succeeded, Failed or Cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "build_phase")]
    pub phase: Option<buildstrategy_api::BuildPhase>,
    /// Machine-readable reason (the backend's own where it has one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Name of the build's resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_name: Option<String>,
    /// The built image, digest-pinned where the backend reports the digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_reference: Option<String>,
    /// When the build started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Time>,
    /// The last lines of the build log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs_tail: Option<String>,
    /// The digest of the build's inputs: another job whose inputs have the same may reuse its
    /// image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reuse_key: Option<String>,
    /// The job (`namespace/name`) whose build's image this job reused, when it built nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reused_from: Option<String>,
}

/// What the operator observed of a job.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotebookValidationJobStatus {
    /// Where the job is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// BuildReady, ValidationComplete and Ready.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// When the operator started the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// When the job ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Time>,
    /// The image build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_status: Option<BuildStatusReport>,
    /// Per-cell results, as the runner reported them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub results: Vec<nbv_report::CellResult>,
    /// The golden comparison, as the runner reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparison_result: Option<nbv_report::ComparisonSummary>,
    /// The requirements generated from the notebook's imports (by the build, or by the runner
    /// at start), at most 16 entries; `byImportName` lists the imports installed by their own
    /// name, to check or to name in `buildConfig.importNames`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated_requirements: Option<nbv_report::GeneratedRequirements>,
    /// Where and why execution stopped before the notebook's end (`cellFailed`, `cellTimeout`,
    /// `timeLimit`, `kernelDied`); the cells before it have their results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<nbv_report::Stopped>,
    /// Where the executed notebook and the full reports of the latest validation pod are
    /// (`spec.artifacts`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifacts: Option<ArtifactsLocation>,
    /// The validation pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_pod_name: Option<String>,
    /// A one-line summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Infrastructure retries so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_count: Option<i32>,
    /// With `spec.reuseResults`: the hash of everything that decides this job's verdict (the
    /// notebook's and golden's commits and paths, the image digest, the settings, the
    /// runner), which a later job with the same inputs reuses the verdict by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_key: Option<String>,
    /// The job (`namespace/name`) whose verdict this job took, without a pod of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_reused_from: Option<String>,
}

impl NotebookValidationJobStatus {
    /// Whether the job has ended: Succeeded or Failed.
    pub fn is_terminal(&self) -> bool {
        matches!(self.phase, Some(Phase::Succeeded | Phase::Failed))
    }

    /// The notebook cells that failed or differ from the golden, by index, in order.
    pub fn failed_cells(&self) -> Vec<usize> {
        let failed = self
            .results
            .iter()
            .filter(|r| r.status.is_failure())
            .map(|r| r.cell_index);
        let differ = self
            .comparison_result
            .iter()
            .flat_map(|c| c.diffs.iter().map(|d| d.cell_index));
        failed
            .chain(differ)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect()
    }

    /// Seconds from the job's start to its verdict, once it has one.
    pub fn duration_secs(&self) -> Option<i64> {
        let start = self.start_time.as_ref()?;
        let end = self.completion_time.as_ref()?;
        Some((end.0.as_second() - start.0.as_second()).max(0))
    }
}

/// A build phase, as a string: the set may grow with the strategy API, and a status written by a
/// newer operator must still be stored.
fn build_phase(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "type": "string", "nullable": true })
}

fn free_form_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true
    })
}

/// At most this many parameters.
pub const MAX_PARAMETERS: usize = 256;

pub(super) fn parameters_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    // Names are checked by the operator: CEL cannot range over an object whose fields it does
    // not know, and a map of free values gives it no type either.
    schemars::json_schema!({
        "type": "object",
        "maxProperties": MAX_PARAMETERS,
        "x-kubernetes-preserve-unknown-fields": true
    })
}

impl NotebookValidationJobSpec {
    /// The build settings when the job builds its image: `buildConfig.enabled` and no
    /// `containerImage` (which wins when both are given).
    pub fn build(&self) -> Option<&BuildConfig> {
        let pod = self.pod_config.as_ref()?;
        pod.build_config
            .as_ref()
            .filter(|build| build.enabled && pod.container_image.is_none())
    }

    /// The parameters as the runner reads them (one JSON object), `None` without parameters.
    pub fn parameters_json(&self) -> Option<String> {
        self.parameters.as_ref().map(|parameters| {
            serde_json::Value::from(serde_json::Map::from_iter(parameters.clone())).to_string()
        })
    }
}

/// The whole job's bound when `spec.timeout` is not set.
pub const DEFAULT_JOB_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30 * 60);

impl NotebookValidationJob {
    /// The bound on the whole job: `spec.timeout`, or the default.
    pub fn timeout(&self) -> Result<std::time::Duration, crate::duration::DurationError> {
        match &self.spec.timeout {
            Some(t) => crate::duration::parse("spec.timeout", t),
            None => Ok(DEFAULT_JOB_TIMEOUT),
        }
    }
}
