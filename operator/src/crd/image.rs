//! The `NotebookImage` custom resource (`mlops.redhat.com/v1alpha1`): a custom notebook image,
//! imported or built, offered to users only after notebooks ran in it and passed.
//!
//! The build settings are a job's `buildConfig` and the validation notebooks are described as a
//! job describes its notebook, so both resources read the same way and are checked by the same
//! rules.

// `KubeSchema` re-emits each struct inside a private module to build its schema; the lint takes
// those copies for unreachable public items.
#![allow(unreachable_pub)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::job::{BuildConfig, BuildStatusReport, ComparisonConfig, GitSpec, NotebookSource};

/// A CEL-safe Go duration such as `30m`, `1h30m` or `90s`.
const DURATION_RULE: &str = "self.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|ms|s|m|h))+$')";

/// At most this many validation notebooks per image.
pub const MAX_VALIDATION_NOTEBOOKS: usize = 20;

/// A custom notebook image: imported or built, validated by running notebooks in it, then
/// published for a notebook dashboard to offer.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "mlops.redhat.com",
    version = "v1alpha1",
    kind = "NotebookImage",
    plural = "notebookimages",
    shortname = "nbi",
    namespaced,
    status = "NotebookImageStatus",
    derive = "PartialEq",
    printcolumn = r#"{"name":"Display Name","type":"string","jsonPath":".spec.display.name"}"#,
    printcolumn = r#"{"name":"Type","type":"string","jsonPath":".spec.buildType"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Validated","type":"string","jsonPath":".status.validation.summary"}"#,
    printcolumn = r#"{"name":"Published","type":"string","jsonPath":".status.published.image","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(validation = Rule::new("self.buildType != 'ImageImport' || (has(self.fromImage) && !has(self.git) && !has(self.buildConfig))").message("buildType ImageImport takes fromImage (and imagePullSecret), not git or buildConfig"))]
#[x_kube(validation = Rule::new("self.buildType == 'ImageImport' || !has(self.fromImage)").message("fromImage is for buildType ImageImport; builds name their base in buildConfig.baseImage"))]
#[x_kube(validation = Rule::new("self.buildType != 'GitRepository' || has(self.git)").message("buildType GitRepository needs git (url, and ref)"))]
#[x_kube(validation = Rule::new("self.buildType != 'PackageList' || (has(self.buildConfig) && has(self.buildConfig.packages) && size(self.buildConfig.packages) > 0 && !has(self.git))").message("buildType PackageList needs buildConfig.packages (and buildConfig.baseImage), and no git"))]
#[serde(rename_all = "camelCase")]
pub struct NotebookImageSpec {
    /// How the image is made: `ImageImport` (an existing image), `PackageList` (a base image
    /// plus packages) or `GitRepository` (built from a repository's requirements).
    pub build_type: BuildType,
    /// The image to import (`ImageImport`), by tag or digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub from_image: Option<String>,
    /// Secret with the registry credentials to pull `fromImage`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')").message("imagePullSecret must be the name of a Secret"))]
    #[schemars(length(min = 1, max = 253))]
    pub image_pull_secret: Option<String>,
    /// The repository to build from (`GitRepository`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitSpec>,
    /// The directory of the repository the build starts in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("!self.startsWith('/') && !self.matches('(^|/)[.][.](/|$)')").message("contextDir must be relative to the repository root and must not contain '..'"))]
    #[schemars(length(min = 1, max = 1024))]
    pub context_dir: Option<String>,
    /// How the image is built (`PackageList`, `GitRepository`): the same settings as a job's
    /// `buildConfig` (strategy or `auto`, base image, requirements file or packages, timeout,
    /// output image, push secret, reuse, strategyConfig); `enabled` is not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_config: Option<BuildConfig>,
    /// What a notebook dashboard shows of the image; written as its annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<DisplayMetadata>,
    /// Notebooks that must pass in the image before it is published, each run as a
    /// NotebookValidationJob owned by this resource.
    #[schemars(length(min = 1, max = 20))]
    pub validation_notebooks: Vec<ValidationNotebook>,
    /// Where the validated image is offered besides status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish: Option<PublishConfig>,
    /// When to look again at the imported or base image: a new digest re-imports or rebuilds
    /// the image and validates it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revalidation: Option<RevalidationConfig>,
}

/// How the image is made.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum BuildType {
    /// An existing image, used as it is.
    ImageImport,
    /// A base image plus a list of packages.
    PackageList,
    /// Built from a git repository.
    GitRepository,
}

/// What a notebook dashboard shows of the image.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct DisplayMetadata {
    /// The name users pick the image by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub name: Option<String>,
    /// What the image is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub description: Option<String>,
    /// Who asked for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub creator: Option<String>,
    /// Its place in the dashboard's list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 10000))]
    pub order: Option<i32>,
    /// Whether the dashboard recommends it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recommended: Option<bool>,
}

/// A notebook run in the image, as a job runs it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ValidationNotebook {
    /// The notebook.
    pub notebook: NotebookSource,
    /// The notebook holding the expected outputs; without it only execution is checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub golden_notebook: Option<NotebookSource>,
    /// How outputs are compared with the golden notebook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparison_config: Option<ComparisonConfig>,
    /// Upper bound on this notebook's job, e.g. `30m` (a job's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new(DURATION_RULE).message("validationNotebooks[].timeout must be a duration such as 30m, 1h30m or 90s"))]
    #[schemars(length(max = 32))]
    pub timeout: Option<String>,
}

/// Where the validated image is offered.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublishConfig {
    /// On OpenShift, the ImageStream tagged with the validated image (this resource's name when
    /// empty). The previous validated tag stays beside the new one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')").message("publish.imageStream must be an ImageStream name (lowercase letters, digits, '-' and '.')"))]
    #[schemars(length(min = 1, max = 253))]
    pub image_stream: Option<String>,
    /// A ConfigMap in this namespace listing the validated images, one key per NotebookImage,
    /// for dashboards on plain Kubernetes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')").message("publish.configMap must be a ConfigMap name (lowercase letters, digits, '-' and '.')"))]
    #[schemars(length(min = 1, max = 253))]
    pub config_map: Option<String>,
}

/// When to look again at the imported or base image.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevalidationConfig {
    /// How often, e.g. `24h`; never when empty. The annotation
    /// `mlops.redhat.com/revalidate` (any new value) asks for a look at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new(DURATION_RULE).message("revalidation.interval must be a duration such as 24h"))]
    #[schemars(length(max = 32))]
    pub interval: Option<String>,
}

/// Where the image is, following the flow of the design it comes from.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ImagePhase {
    /// Accepted; the spec is being read.
    Preparing,
    /// The build's inputs are being resolved (strategy, base image).
    Resolving,
    /// The image is being built.
    Building,
    /// The image is being pulled and looked into.
    Importing,
    /// The validation notebooks run in the image.
    Validating,
    /// Validated and published.
    Succeeded,
    /// Not published; conditions and message say why.
    Failed,
}

/// What the operator observed of a notebook image.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotebookImageStatus {
    /// Where the image is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<ImagePhase>,
    /// A one-line summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// ImageReady, Validated, Published and Ready.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The validation round: one per generation, plus one per change of the source image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round: Option<i64>,
    /// When this round started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// When this round ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Time>,
    /// The build of this round.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_status: Option<BuildStatusReport>,
    /// The image of this round, digest-pinned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The digest of the imported or base image this round started from; a new one starts the
    /// next round.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_digest: Option<String>,
    /// When the source image was last looked at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_checked: Option<Time>,
    /// The last `mlops.redhat.com/revalidate` annotation acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revalidate_request: Option<String>,
    /// What the image holds: its Python and its packages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software: Option<ImageSoftware>,
    /// The validation notebooks' verdicts in this round.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<ValidationReport>,
    /// The image last validated and published; it stays while a newer round runs or fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<Published>,
}

/// What an image holds.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageSoftware {
    /// The Python version.
    pub python: String,
    /// The installed distributions, by name (at most 200 kept).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<Package>,
    /// How many distributions the image has in all.
    pub package_count: u32,
}

/// An installed distribution.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema)]
pub struct Package {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
}

/// The validation notebooks' verdicts.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ValidationReport {
    /// `passed/total`, e.g. `2/3`.
    pub summary: String,
    /// One entry per validation notebook.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notebooks: Vec<NotebookVerdict>,
}

/// One validation notebook's verdict.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotebookVerdict {
    /// The notebook's path.
    pub path: String,
    /// The NotebookValidationJob that runs it.
    pub job: String,
    /// The job's phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<super::job::Phase>,
    /// The cells that failed or did not match (their indices).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_cells: Vec<usize>,
    /// The job's message when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A published image.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Published {
    /// The image, digest-pinned.
    pub image: String,
    /// The round it was validated in.
    pub round: i64,
    /// The generation of the spec it was made from.
    pub generation: i64,
    /// The digest of the imported or base image it was validated against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_digest: Option<String>,
    /// The ImageStream tag it was published as (`stream:tag`), on OpenShift.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_stream_tag: Option<String>,
    /// The ConfigMap listing it, when `publish.configMap` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<String>,
    /// When it was published.
    pub time: Time,
}

impl NotebookImageStatus {
    /// Whether this round has ended: Succeeded or Failed.
    pub fn is_terminal(&self) -> bool {
        matches!(self.phase, Some(ImagePhase::Succeeded | ImagePhase::Failed))
    }
}

impl NotebookImage {
    /// The secrets its image is pulled with: the import's `imagePullSecret`, or the secret its
    /// build pushed with.
    pub fn pull_secrets(&self) -> Vec<String> {
        let pushed_with = self
            .spec
            .build_config
            .as_ref()
            .and_then(|b| b.push_secret.clone());
        self.spec
            .image_pull_secret
            .clone()
            .into_iter()
            .chain(pushed_with)
            .collect()
    }
}
