//! Step 1: read a notebook image's spec into what a round does. Pure.

use std::time::Duration;

use buildstrategy_api::naming::{build_name, dns_label};
use buildstrategy_api::{BuildRequest, git};
use kube::ResourceExt;

use crate::crd::image::{BuildType, NotebookImage, NotebookImageSpec};
use crate::crd::{BuildConfig, GitSpec};
use crate::duration::{self, DurationError};
use crate::labels;
use crate::steps::build_request::{AUTO, BuildTarget, DEFAULT_BUILD_TIMEOUT, request_for};

/// What a round of a notebook image does.
#[derive(Debug, Clone, PartialEq)]
pub struct ImagePlan {
    /// The image whose digest decides when the next round starts: the image to import, or the
    /// build's base image when it names one.
    pub source: Option<String>,
    /// The build, for the build types that build.
    pub build: Option<PlannedBuild>,
    /// How often the source is looked at again.
    pub revalidate_every: Option<Duration>,
}

/// A build of the round's image.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedBuild {
    /// The requested strategy; may be `auto`.
    pub strategy: String,
    /// Bound on the build.
    pub timeout: Duration,
    /// Something the user should know that does not stop the build.
    pub warning: Option<String>,
    /// None for a package list.
    git: Option<GitSpec>,
    context_dir: Option<String>,
    config: BuildConfig,
}

/// Why a notebook image's spec cannot be acted on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImagePlanError {
    /// A duration field does not parse.
    #[error(transparent)]
    Duration(#[from] DurationError),
    /// A field the operator passes on and must refuse, or one a build type needs.
    #[error("{field}: {reason}")]
    Refused {
        /// The field, as a path in the spec.
        field: &'static str,
        /// Why, and what to write instead.
        reason: String,
    },
}

/// Reads the plan of `image`.
pub fn plan(image: &NotebookImage) -> Result<ImagePlan, ImagePlanError> {
    let spec = &image.spec;
    check_notebooks(spec)?;
    let revalidate_every = spec
        .revalidation
        .as_ref()
        .and_then(|r| r.interval.as_deref())
        .map(|t| duration::parse("spec.revalidation.interval", t))
        .transpose()?;
    let (source, build) = match spec.build_type {
        BuildType::ImageImport => {
            let from = spec.from_image.clone().ok_or_else(|| {
                refused(
                    "spec.fromImage",
                    "buildType ImageImport needs it".to_owned(),
                )
            })?;
            (Some(from), None)
        }
        BuildType::PackageList | BuildType::GitRepository => {
            let build = planned_build(spec)?;
            (build.config.base_image.clone(), Some(build))
        }
    };
    Ok(ImagePlan {
        source,
        build,
        revalidate_every,
    })
}

fn refused(field: &'static str, reason: String) -> ImagePlanError {
    ImagePlanError::Refused { field, reason }
}

/// Checks what the validation notebooks name: repository URLs and timeouts.
fn check_notebooks(spec: &NotebookImageSpec) -> Result<(), ImagePlanError> {
    for notebook in &spec.validation_notebooks {
        git::validate_url(&notebook.notebook.git.url)
            .map_err(|r| refused("spec.validationNotebooks[].notebook.git.url", r))?;
        if let Some(golden) = &notebook.golden_notebook {
            git::validate_url(&golden.git.url)
                .map_err(|r| refused("spec.validationNotebooks[].goldenNotebook.git.url", r))?;
        }
        if let Some(timeout) = &notebook.timeout {
            duration::parse("spec.validationNotebooks[].timeout", timeout)?;
        }
    }
    Ok(())
}

/// The build of a `PackageList` or `GitRepository` image.
fn planned_build(spec: &NotebookImageSpec) -> Result<PlannedBuild, ImagePlanError> {
    let git = match spec.build_type {
        BuildType::GitRepository => {
            let git = spec.git.clone().ok_or_else(|| {
                refused("spec.git", "buildType GitRepository needs it".to_owned())
            })?;
            git::validate_url(&git.url).map_err(|r| refused("spec.git.url", r))?;
            Some(git)
        }
        _ => None,
    };
    if let Some(dir) = &spec.context_dir {
        git::validate_relative_path(dir).map_err(|r| refused("spec.contextDir", r))?;
    }
    let config = spec.build_config.clone().unwrap_or_default();
    if git.is_none() {
        // Without a repository there is nothing to read a file from.
        let from_repository = [
            ("spec.contextDir", spec.context_dir.is_some()),
            (
                "spec.buildConfig.requirementsFile",
                config.requirements_file.is_some(),
            ),
            ("spec.buildConfig.dockerfile", config.dockerfile.is_some()),
        ];
        if let Some((field, _)) = from_repository.iter().find(|(_, set)| *set) {
            return Err(refused(
                field,
                "buildType PackageList installs buildConfig.packages on buildConfig.baseImage; files need buildType GitRepository".to_owned(),
            ));
        }
    }
    if let Some(path) = &config.requirements_file {
        git::validate_relative_path(path)
            .map_err(|r| refused("spec.buildConfig.requirementsFile", r))?;
    }
    let timeout = match config.timeout.as_deref() {
        Some(t) => duration::parse("spec.buildConfig.timeout", t)?,
        None => DEFAULT_BUILD_TIMEOUT,
    };
    let bare = config.requirements_file.is_none()
        && config.packages.is_empty()
        && config.dockerfile.is_none();
    let build = PlannedBuild {
        strategy: config.strategy.clone().unwrap_or_else(|| AUTO.to_owned()),
        timeout,
        warning: bare.then(|| {
            "no requirementsFile, packages or dockerfile: the image is the base image plus the runner's packages".to_owned()
        }),
        git,
        context_dir: spec.context_dir.clone(),
        config,
    };
    Ok(build)
}

impl ImagePlan {
    /// The Secret the source is pulled with: the `imagePullSecret`, or for a build without
    /// one, the build's `pushSecret` (its base usually lives in the registry it pushes to).
    pub fn source_pull_secret<'a>(&self, image: &'a NotebookImage) -> Option<&'a str> {
        image
            .spec
            .image_pull_secret
            .as_deref()
            .or_else(|| self.build.as_ref().and(built_pull_secret(image)))
    }
}

/// The Secret a built image is pulled with: the one its build pushed with.
pub fn built_pull_secret(image: &NotebookImage) -> Option<&str> {
    image
        .spec
        .build_config
        .as_ref()
        .and_then(|b| b.push_secret.as_deref())
}

impl PlannedBuild {
    /// The request for round `round`'s build. With the source's digest known, the base image
    /// is pinned to it: the build uses exactly the base that was looked at, and a new digest
    /// makes new reuse inputs.
    pub fn request(
        &self,
        image: &NotebookImage,
        round: i64,
        pinned_source: Option<&str>,
    ) -> BuildRequest {
        let mut config = self.config.clone();
        if let Some(pinned) = pinned_source {
            config.base_image = Some(pinned.to_owned());
        }
        let target = BuildTarget {
            namespace: image.namespace().unwrap_or_default(),
            build_name: build_name(&round_name(image, round)),
            owner: labels::owner(image),
            labels: labels::for_image(image, round),
        };
        let mut request = request_for(target, self.git.as_ref(), None, &config, self.timeout);
        request.source.context_dir = self.context_dir.clone();
        request
    }
}

/// `<image>-r<round>`: the stem of everything made for round `round`.
pub fn round_name(image: &NotebookImage, round: i64) -> String {
    dns_label(&[&image.name_any(), &format!("r{round}")])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(body: &str) -> NotebookImage {
        let yaml = format!(
            "apiVersion: mlops.redhat.com/v1alpha1\nkind: NotebookImage\nmetadata: {{ name: img, namespace: ns, uid: u1 }}\nspec:\n  validationNotebooks: [{{ notebook: {{ git: {{ url: 'https://h/r.git' }}, path: a.ipynb }} }}]\n{body}"
        );
        serde_yaml_ng::from_str(&yaml).expect("image")
    }

    #[test]
    fn an_import_has_its_image_as_source_and_no_build() {
        let planned = plan(&image(
            "  buildType: ImageImport\n  fromImage: quay.io/x/y:1\n  revalidation: { interval: 24h }\n",
        ))
        .expect("plan");
        assert_eq!(planned.source.as_deref(), Some("quay.io/x/y:1"));
        assert_eq!(planned.build, None);
        assert_eq!(planned.revalidate_every, Some(Duration::from_secs(86400)));
    }

    #[test]
    fn a_git_build_pins_its_base_and_names_its_round() {
        let img = image(
            "  buildType: GitRepository\n  git: { url: 'https://h/b.git', ref: main }\n  contextDir: env\n  buildConfig: { strategy: buildah, baseImage: 'reg/py:3.11', requirementsFile: requirements.txt, timeout: 5m }\n",
        );
        let planned = plan(&img).expect("plan");
        assert_eq!(planned.source.as_deref(), Some("reg/py:3.11"));
        let build = planned.build.expect("a build");
        assert_eq!(build.strategy, "buildah");
        assert_eq!(build.timeout, Duration::from_secs(300));
        let request = build.request(&img, 3, Some("reg/py@sha256:abc"));
        assert_eq!(request.build_name, build_name("img-r3"));
        assert_eq!(request.base_image, "reg/py@sha256:abc");
        assert_eq!(request.source.context_dir.as_deref(), Some("env"));
        assert_eq!(request.source.git_ref.as_deref(), Some("main"));
        assert_eq!(
            request.owner.as_ref().map(|o| o.kind.as_str()),
            Some("NotebookImage")
        );
    }

    #[test]
    fn a_package_list_is_built_without_a_source_and_bad_fields_are_named() {
        let planned = plan(&image(
            "  buildType: PackageList\n  buildConfig: { baseImage: 'reg/py:3.11', packages: [pandas] }\n",
        ))
        .expect("planned");
        assert_eq!(planned.source.as_deref(), Some("reg/py:3.11"));
        let request = planned.build.expect("a build").request(
            &image("  buildType: PackageList\n"),
            2,
            Some("reg/py@sha256:ab"),
        );
        assert_eq!(request.context, buildstrategy_api::BuildContext::Empty);
        assert_eq!(request.base_image, "reg/py@sha256:ab");
        assert_eq!(
            request.requirements,
            buildstrategy_api::Requirements::Packages(vec!["pandas".into()])
        );
        let with_file = image(
            "  buildType: PackageList\n  buildConfig: { packages: [pandas], requirementsFile: r.txt }\n",
        );
        assert!(matches!(
            plan(&with_file),
            Err(ImagePlanError::Refused {
                field: "spec.buildConfig.requirementsFile",
                ..
            })
        ));
        let traversing = image(
            "  buildType: GitRepository\n  git: { url: 'https://h/b.git' }\n  buildConfig: { requirementsFile: ../../etc/passwd }\n",
        );
        assert!(matches!(
            plan(&traversing),
            Err(ImagePlanError::Refused {
                field: "spec.buildConfig.requirementsFile",
                ..
            })
        ));
        let credentials =
            image("  buildType: GitRepository\n  git: { url: 'https://u:secret@h/b.git' }\n");
        let message = plan(&credentials).expect_err("refused").to_string();
        assert!(message.starts_with("spec.git.url"), "{message}");
        assert!(!message.contains("secret@"), "{message}");
    }
}
