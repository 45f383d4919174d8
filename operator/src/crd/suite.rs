//! The `NotebookValidationSuite` custom resource (`mlops.redhat.com/v1alpha1`): many notebooks
//! of one repository, run over a matrix of images, parameter sets and kernels, one ordinary
//! `NotebookValidationJob` per cell of the matrix, with their verdicts gathered.

// `KubeSchema` re-emits each struct inside a private module to build its schema; the lint takes
// those copies for unreachable public items.
#![allow(unreachable_pub)]

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::job::{
    ArtifactsConfig, ArtifactsLocation, ComparisonConfig, ExecutionConfig, GitSpec, Phase,
    PodConfig,
};

/// At most this many cells of the matrix (notebooks × images × parameter sets × kernels).
pub const MAX_CELLS: usize = 10_000;
/// At most this many notebooks selected.
pub const MAX_NOTEBOOKS: usize = 5_000;
/// At most this many cells listed one by one in status; counts cover all of them.
pub const MAX_STATUS_CELLS: usize = 500;
/// At most this many notebooks in the cross-image diff.
pub const MAX_IMAGE_DIFFS: usize = 100;
/// The slowest cells listed in status.
pub const SLOWEST_SHOWN: usize = 5;

/// Runs the notebooks of a repository over a matrix of images, parameter sets and kernels.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "mlops.redhat.com",
    version = "v1alpha1",
    kind = "NotebookValidationSuite",
    plural = "notebookvalidationsuites",
    shortname = "nvs",
    shortname = "nvsuite",
    namespaced,
    status = "NotebookValidationSuiteStatus",
    derive = "PartialEq",
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Passed","type":"integer","jsonPath":".status.counts.passed"}"#,
    printcolumn = r#"{"name":"Failed","type":"integer","jsonPath":".status.counts.failed"}"#,
    printcolumn = r#"{"name":"Running","type":"integer","jsonPath":".status.counts.running"}"#,
    printcolumn = r#"{"name":"Total","type":"integer","jsonPath":".status.counts.total"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct NotebookValidationSuiteSpec {
    /// The repository and the ref every notebook (and golden) is read at.
    pub repository: GitSpec,
    /// Which notebooks of the repository run.
    pub notebooks: NotebookSelection,
    /// Where each notebook's golden is; without it only execution is checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub golden: Option<GoldenConvention>,
    /// The images, parameter sets and kernels each notebook runs with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matrix: Option<Matrix>,
    /// What every job of the suite shares.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_template: Option<SuiteJobTemplate>,
    /// Run only the notebooks changed (with their goldens) between this ref (a branch, tag or
    /// commit) and `repository.ref`; all of them when a dependency file changed or a matrix
    /// image's reference moved since the last run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z0-9._/@+-]+$') && !self.startsWith('-') && !self.contains('..')").message("changedFrom must be a branch, tag or commit SHA (letters, digits and . _ / @ + -), must not start with '-' and must not contain '..'"))]
    #[schemars(length(min = 1, max = 255))]
    pub changed_from: Option<String>,
    /// With `changedFrom`: globs of files whose change runs every notebook. A glob without
    /// `/` matches a file name in any directory. Default: `requirements*.txt`,
    /// `pyproject.toml`, `environment.yml`, `*.lock`, `Dockerfile`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(min = 1, max = 256)))]
    pub dependency_globs: Vec<String>,
    /// At most this many jobs run at once (default 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub max_parallel: Option<u32>,
}

/// Notebooks chosen by path.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("size(self.include) > 0 || size(self.paths) > 0").message("notebooks needs include globs (e.g. '**/*.ipynb') or paths"))]
pub struct NotebookSelection {
    /// Globs of notebook paths, relative to the repository root (`**` spans directories,
    /// `*` does not), e.g. `notebooks/**/*.ipynb`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(min = 1, max = 256)))]
    pub include: Vec<String>,
    /// Globs of paths left out, even when `include` or `paths` names them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(min = 1, max = 256)))]
    pub exclude: Vec<String>,
    /// Notebooks named one by one; each must exist at the ref.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1000), inner(length(min = 7, max = 1024)))]
    #[x_kube(validation = Rule::new("self.all(p, p.endsWith('.ipynb') && !p.startsWith('/') && !p.contains('..'))").message("notebooks.paths must be relative .ipynb paths without '..'"))]
    pub paths: Vec<String>,
}

/// Where a notebook's golden is found.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.convention != 'Directory' || has(self.directory)").message("golden.convention Directory needs golden.directory, e.g. golden/"))]
pub struct GoldenConvention {
    /// `Sibling`: `a/b.ipynb` is compared with `a/b.golden.ipynb`; `Directory`: with
    /// `<directory>/a/b.ipynb`; `Self`: with its own committed outputs.
    pub convention: GoldenKind,
    /// The golden directory (`Directory`), relative to the repository root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("!self.startsWith('/') && !self.contains('..')").message("golden.directory must be relative to the repository root and must not contain '..'"))]
    #[schemars(length(min = 1, max = 512))]
    pub directory: Option<String>,
    /// What a notebook without a golden does: `Run` it without comparison (the default) or
    /// `Skip` it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when_missing: Option<MissingGolden>,
}

/// The golden conventions.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum GoldenKind {
    /// A `*.golden.ipynb` beside the notebook.
    Sibling,
    /// The same path under a golden directory.
    Directory,
    /// The notebook's own committed outputs.
    #[serde(rename = "Self")]
    Itself,
}

/// What a notebook without its golden does.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum MissingGolden {
    /// Run it; only execution is checked.
    #[default]
    Run,
    /// Leave it out; status lists it as skipped.
    Skip,
}

/// The matrix each notebook runs over; an empty axis is one cell with the job template's value.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Matrix {
    /// The images.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    #[x_kube(validation = Rule::new("self.all(i, self.exists_one(j, j.name == i.name))").message("matrix.images[].name must be unique"))]
    pub images: Vec<MatrixImage>,
    /// Papermill parameter sets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    #[x_kube(validation = Rule::new("self.all(i, self.exists_one(j, j.name == i.name))").message("matrix.parameterSets[].name must be unique"))]
    pub parameter_sets: Vec<ParameterSet>,
    /// Kernel names, each installed in every image.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8), inner(length(min = 1, max = 64)))]
    #[x_kube(validation = Rule::new("self.all(k, k.matches('^[A-Za-z0-9][A-Za-z0-9._-]*$'))").message("matrix.kernels must be kernel names such as python3"))]
    pub kernels: Vec<String>,
}

/// One image of the matrix: an image reference, or a NotebookImage's published image.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.containerImage) != has(self.notebookImage)").message("each matrix image takes exactly one of containerImage and notebookImage"))]
pub struct MatrixImage {
    /// How status and the diff name the image.
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')").message("matrix.images[].name must be lowercase letters, digits and '-'"))]
    #[schemars(length(min = 1, max = 40))]
    pub name: String,
    /// An image reference, by tag or digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub container_image: Option<String>,
    /// A NotebookImage of the namespace: its published, digest-pinned image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub notebook_image: Option<String>,
}

/// One set of papermill parameters.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
pub struct ParameterSet {
    /// How status names the set.
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')").message("matrix.parameterSets[].name must be lowercase letters, digits and '-'"))]
    #[schemars(length(min = 1, max = 40))]
    pub name: String,
    /// The parameters, as a job's `parameters`.
    #[schemars(schema_with = "super::job::parameters_object")]
    pub parameters: BTreeMap<String, serde_json::Value>,
}

/// What every job of a suite shares: a job's settings other than its notebook.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SuiteJobTemplate {
    /// The validation pod's settings; a matrix image replaces `containerImage` and any build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_config: Option<PodConfig>,
    /// How outputs are compared with the goldens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparison_config: Option<ComparisonConfig>,
    /// Each job's bound, e.g. `30m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|ms|s|m|h))+$')").message("jobTemplate.timeout must be a duration such as 30m, 1h30m or 90s"))]
    #[schemars(length(max = 32))]
    pub timeout: Option<String>,
    /// How each notebook is executed; a matrix kernel replaces `kernel`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<ExecutionConfig>,
    /// Where each job keeps its executed notebook and reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifacts: Option<ArtifactsConfig>,
    /// Whether a job takes the verdict of an earlier job with the same inputs instead of
    /// running a pod (`spec.reuseResults` of a job); on unless set to false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reuse_results: Option<bool>,
}

/// Where a suite is.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum SuitePhase {
    /// The notebooks are being listed, or the matrix's images resolved.
    Pending,
    /// Jobs run.
    Running,
    /// Every job passed.
    Succeeded,
    /// Every job ended and at least one failed, or the suite could not run.
    Failed,
}

/// One cell of the matrix: a notebook with an image, a parameter set and a kernel.
#[derive(
    Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct CellKey {
    /// The notebook's path.
    pub notebook: String,
    /// The matrix image's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The parameter set's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter_set: Option<String>,
    /// The kernel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
}

/// Verdicts counted over every cell.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SuiteCounts {
    /// Cells in the matrix.
    pub total: u32,
    /// Jobs that passed.
    pub passed: u32,
    /// Jobs that failed.
    pub failed: u32,
    /// Jobs created and not ended.
    pub running: u32,
    /// Cells whose job is not created yet.
    pub pending: u32,
}

/// One cell's job and verdict.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SuiteCell {
    /// The cell.
    #[serde(flatten)]
    pub key: CellKey,
    /// Its job.
    pub job: String,
    /// The job's phase; none before it is created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// How long the job took, start to verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<i64>,
    /// The notebook cells that failed or differ from the golden.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_cells: Vec<usize>,
}

/// A notebook that passes in one image and fails in another.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageDiff {
    /// The notebook.
    pub notebook: String,
    /// The parameter set both ran with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter_set: Option<String>,
    /// The kernel both ran with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
    /// The image it passed in.
    pub passed_in: String,
    /// The image it failed in.
    pub failed_in: String,
    /// The notebook cells whose results differ between the two, and how.
    pub cells: Vec<CellDifference>,
    /// The failing job's message: why it failed when no cell says (the image did not pull).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// How one notebook cell differs between two images.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CellDifference {
    /// The cell's index.
    pub cell_index: usize,
    /// Its result in the image it passed in.
    pub passed: String,
    /// Its result in the image it failed in: the error, or the output that differs.
    pub failed: String,
}

/// A notebook the selection found but did not run.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct SkippedNotebook {
    /// Its path.
    pub path: String,
    /// Why.
    pub reason: String,
}

/// Which rule of `changedFrom` chose the notebooks that run.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ChangeRule {
    /// Only the notebooks changed (or whose golden changed) since the base.
    ChangedNotebooks,
    /// Every notebook: a dependency file changed.
    DependencyChanged,
    /// Every notebook: a matrix image's reference moved since the last run.
    ImageChanged,
}

/// How `changedFrom` narrowed the run.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangeSelection {
    /// The commit `changedFrom` resolved to.
    pub base: String,
    /// The rule that chose.
    pub rule: ChangeRule,
    /// What triggered it: the dependency file or the image, or how many notebooks changed.
    pub reason: String,
    /// Selected notebooks that did not run because they did not change.
    pub unchanged: u32,
}

/// Where a run's JUnit report is.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SuiteReport {
    /// The ConfigMap holding it (the suite's, overwritten by each run).
    pub config_map: String,
    /// Its key: `junit.xml`, or `junit.xml.gz` (in `binaryData`) when the plain document
    /// would not fit.
    pub key: String,
    /// Where the copy in the job template's artifacts claim is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifacts: Option<ArtifactsLocation>,
    /// Why the copy into the claim failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// What the operator observed of a suite.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotebookValidationSuiteStatus {
    /// Where the suite is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<SuitePhase>,
    /// A one-line summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Ready.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The generation this status describes; each generation is one run of the suite.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The commit the ref resolved to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// When this run started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// When its last job ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Time>,
    /// Verdicts counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counts: Option<SuiteCounts>,
    /// Each cell's job and verdict: failures first, at most 500 (`cellsOmitted` says how many
    /// more there are).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cells: Vec<SuiteCell>,
    /// Cells left out of `cells`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cells_omitted: u32,
    /// The slowest cells that ended.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slowest: Vec<SuiteCell>,
    /// Notebooks that pass in one image and fail in another, and the cells that differ.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_diffs: Vec<ImageDiff>,
    /// Notebooks selected but not run, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkippedNotebook>,
    /// How `changedFrom` chose what runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes: Option<ChangeSelection>,
    /// The run's JUnit report, once it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<SuiteReport>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl NotebookValidationSuiteStatus {
    /// Whether the run has ended.
    pub fn is_terminal(&self) -> bool {
        matches!(self.phase, Some(SuitePhase::Succeeded | SuitePhase::Failed))
    }
}
