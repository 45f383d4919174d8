//! Step 1: read the job's spec into a plan — which image, which build, which bounds. Pure.

use std::time::Duration;

use buildstrategy_api::naming::build_name;
use buildstrategy_api::{BuildRequest, git};
use kube::ResourceExt;

use super::validation_pod::MAX_ENV_VALUE_BYTES;
use crate::crd::{
    BuildConfig, FallbackStrategy, MAX_PARAMETERS, NotebookValidationJob, NotebookValidationJobSpec,
};
use crate::duration::{self, DurationError};
use crate::labels;
use crate::steps::build_request::{
    AUTO, BuildTarget, DEFAULT_BUILD_TIMEOUT, generates_requirements, request_for,
};

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
        /// Without one: whether the runner generates them from the notebook's imports
        /// (`autoGenerateRequirements` or `fallbackStrategy: auto`).
        from_imports: bool,
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
    /// Bound on one cell (`spec.execution.cellTimeout`), when given.
    pub cell_timeout: Option<Duration>,
    /// Something the user should know that does not stop the job.
    pub warning: Option<String>,
}

/// Why a job's spec cannot be acted on (the API server's validation missed it, e.g. because the
/// CRD in the cluster is older than the operator).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// A duration field does not parse.
    #[error(transparent)]
    Duration(#[from] DurationError),
    /// The build has no requirements and `fallbackStrategy: fail` says that is an error.
    #[error(
        "buildConfig names no requirementsFile, packages or dockerfile, and fallbackStrategy is 'fail'; name one, or set fallbackStrategy to 'warn' to build from the base image alone"
    )]
    NoRequirements,
    /// A field the operator passes on (to a clone, a build, the runner) that it must refuse.
    #[error("{field}: {reason}")]
    Refused {
        /// The field, as a path in the spec.
        field: &'static str,
        /// Why, and what to write instead.
        reason: String,
    },
}

/// Checks the fields that reach clones, builds and the runner, whatever the CRD in the cluster
/// let through: git URLs (no credentials, no option-like host), the requirements file (a
/// path inside the repository) and the parameters (identifiers, and small enough to pass on).
fn check_passed_on(job: &NotebookValidationJob) -> Result<(), PlanError> {
    let spec = &job.spec;
    let refused = |field, reason| PlanError::Refused { field, reason };
    git::validate_url(&spec.notebook.git.url).map_err(|r| refused("spec.notebook.git.url", r))?;
    if let Some(golden) = &spec.golden_notebook {
        git::validate_url(&golden.git.url)
            .map_err(|r| refused("spec.goldenNotebook.git.url", r))?;
    }
    let build = spec
        .pod_config
        .as_ref()
        .and_then(|p| p.build_config.as_ref());
    if let Some(path) = build.and_then(|b| b.requirements_file.as_deref()) {
        git::validate_relative_path(path)
            .map_err(|r| refused("spec.podConfig.buildConfig.requirementsFile", r))?;
    }
    if let Some(dockerfile) = build.and_then(|b| b.dockerfile.as_deref()) {
        check_dockerfile(dockerfile)
            .map_err(|r| refused("spec.podConfig.buildConfig.dockerfile", r))?;
    }
    check_parameters(&job.spec).map_err(|r| refused("spec.parameters", r))?;
    check_init_containers(&job.spec).map_err(|r| refused("spec.podConfig.initContainers", r))
}

/// `buildConfig.dockerfile` holds a Dockerfile's content. One word is no Dockerfile (`FROM`
/// alone takes an image): it is a path, as the Go notebook validator operator reads the field.
fn check_dockerfile(dockerfile: &str) -> Result<(), String> {
    let text = dockerfile.trim();
    if text.split_whitespace().nth(1).is_some() {
        return Ok(());
    }
    Err(format!(
        "this field holds the Dockerfile's content, and '{}' reads as a path in the repository; paste the file's content instead (dockerfile: |)",
        text.escape_debug()
    ))
}

/// The validation pod's own container names.
const OWN_CONTAINERS: [&str; 4] = ["install-runner", "clone", "clone-golden", "validate"];

/// Init containers run with the validation container's restricted security context: one that
/// asks for more is refused, naming what it asked for.
fn check_init_containers(spec: &NotebookValidationJobSpec) -> Result<(), String> {
    let containers = spec.pod_config.iter().flat_map(|p| &p.init_containers);
    for container in containers {
        let name = &container.name;
        if OWN_CONTAINERS.contains(&name.as_str()) {
            return Err(format!(
                "init container name {name:?} is the validation pod's own; choose another"
            ));
        }
        let Some(security) = &container.security_context else {
            continue;
        };
        let asked = [
            (security.privileged == Some(true), "privileged: true"),
            (
                security.allow_privilege_escalation == Some(true),
                "allowPrivilegeEscalation: true",
            ),
            (security.run_as_user == Some(0), "runAsUser: 0"),
            (
                security.run_as_non_root == Some(false),
                "runAsNonRoot: false",
            ),
            (
                security
                    .capabilities
                    .as_ref()
                    .is_some_and(|c| c.add.as_ref().is_some_and(|a| !a.is_empty())),
                "capabilities.add",
            ),
        ];
        if let Some((_, what)) = asked.iter().find(|(yes, _)| *yes) {
            return Err(format!(
                "init container {name:?} asks for {what}; init containers run with the validation container's restricted security context (non-root, no privilege escalation, no added capabilities): remove it from securityContext"
            ));
        }
    }
    Ok(())
}

/// Parameter names become Python assignments, and all parameters travel in one environment
/// variable of the validation pod.
fn check_parameters(spec: &NotebookValidationJobSpec) -> Result<(), String> {
    let Some(parameters) = &spec.parameters else {
        return Ok(());
    };
    if parameters.len() > MAX_PARAMETERS {
        return Err(format!(
            "{} parameters, more than the {MAX_PARAMETERS} accepted",
            parameters.len()
        ));
    }
    if let Some(name) = parameters.keys().find(|name| !is_parameter_name(name)) {
        return Err(format!(
            "parameter name {:?} is not a Python identifier of at most 128 characters (letters, digits and _, not starting with a digit)",
            name.chars().take(64).collect::<String>()
        ));
    }
    let bytes = spec.parameters_json().map_or(0, |json| json.len());
    if bytes > MAX_ENV_VALUE_BYTES {
        return Err(format!(
            "the parameters take {bytes} bytes as JSON; at most {MAX_ENV_VALUE_BYTES} fit in the validation pod's environment. Keep large inputs in the repository and pass their path"
        ));
    }
    Ok(())
}

fn is_parameter_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 128
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Reads the plan of `job`.
pub fn plan(job: &NotebookValidationJob, default_image: &str) -> Result<Plan, PlanError> {
    check_passed_on(job)?;
    let spec = &job.spec;
    let job_timeout = job.timeout()?;
    let cell_timeout = spec
        .execution
        .as_ref()
        .and_then(|e| e.cell_timeout.as_deref())
        .map(|t| duration::parse("spec.execution.cellTimeout", t))
        .transpose()?;
    let pod = spec.pod_config.clone().unwrap_or_default();
    let build = spec.build();
    let build_timeout = match build.and_then(|b| b.timeout.as_deref()) {
        Some(t) => duration::parse("spec.podConfig.buildConfig.timeout", t)?,
        None => DEFAULT_BUILD_TIMEOUT,
    };
    let mut warning = None;
    let image = match (&pod.container_image, build) {
        (Some(image), _) => ImageSource::Given(image.clone()),
        (None, Some(build)) => ImageSource::Build {
            strategy: {
                let bare = build.requirements_file.is_none()
                    && build.packages.is_empty()
                    && build.dockerfile.is_none();
                if bare && !generates_requirements(build) {
                    match build.fallback_strategy {
                        Some(FallbackStrategy::Fail) => return Err(PlanError::NoRequirements),
                        _ => warning = Some("no requirementsFile, packages or dockerfile: the image is the base image plus the runner's packages".to_owned()),
                    }
                }
                build.strategy.clone().unwrap_or_else(|| AUTO.to_owned())
            },
            request: Box::new(build_request(job, build, build_timeout)),
        },
        (None, None) => ImageSource::Default {
            image: default_image.to_owned(),
            from_imports: pod
                .build_config
                .as_ref()
                .is_some_and(generates_requirements),
            requirements: pod.build_config.and_then(|b| b.requirements_file),
        },
    };
    Ok(Plan {
        image,
        job_timeout,
        cell_timeout,
        build_timeout,
        warning,
    })
}

fn build_request(
    job: &NotebookValidationJob,
    build: &BuildConfig,
    timeout: Duration,
) -> BuildRequest {
    let target = BuildTarget {
        namespace: job.namespace().unwrap_or_default(),
        build_name: build_name(&job.name_any()),
        owner: labels::owner(job),
        labels: labels::for_job(job),
    };
    request_for(
        target,
        Some(&job.spec.notebook.git),
        Some(&job.spec.notebook.path),
        build,
        timeout,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::DEFAULT_JOB_TIMEOUT;
    use buildstrategy_api::Requirements;

    fn job(build: &str) -> NotebookValidationJob {
        let yaml = format!(
            "apiVersion: mlops.redhat.com/v1alpha1\nkind: NotebookValidationJob\nmetadata: {{ name: j, namespace: ns }}\nspec:\n  notebook: {{ git: {{ url: 'https://h/r.git' }}, path: a.ipynb }}\n  podConfig:\n    buildConfig: {build}\n"
        );
        serde_yaml_ng::from_str(&yaml).expect("job")
    }

    #[test]
    fn the_fallback_strategy_decides_what_a_build_without_requirements_does() {
        let warn = plan(&job("{ enabled: true, strategy: s2i }"), "img").expect("warn by default");
        assert!(warn.warning.is_some_and(|w| w.contains("base image")));
        assert_eq!(
            plan(
                &job("{ enabled: true, strategy: s2i, fallbackStrategy: fail }"),
                "img"
            ),
            Err(PlanError::NoRequirements)
        );
        for generated in [
            "{ enabled: true, strategy: s2i, fallbackStrategy: auto }",
            "{ enabled: true, strategy: s2i, autoGenerateRequirements: true }",
        ] {
            let planned = plan(&job(generated), "img").expect("planned");
            assert_eq!(planned.warning, None, "{generated}");
            let ImageSource::Build { request, .. } = planned.image else {
                panic!("{generated}: a build");
            };
            assert!(
                matches!(&request.requirements, Requirements::FromImports(path) if path.ends_with(".ipynb")),
                "{generated}: {:?}",
                request.requirements
            );
        }
        let named = plan(
            &job(
                "{ enabled: true, strategy: s2i, fallbackStrategy: fail, requirementsFile: r.txt }",
            ),
            "img",
        )
        .expect("named");
        assert_eq!(named.warning, None);
    }

    #[test]
    fn durations_and_images_follow_the_spec() {
        let mut prebuilt = job("{ enabled: false }");
        prebuilt
            .spec
            .pod_config
            .get_or_insert_with(Default::default)
            .container_image = Some("quay.io/x:1".into());
        let given = plan(&prebuilt, "img").expect("plan");
        assert_eq!(given.image, ImageSource::Given("quay.io/x:1".into()));
        let default =
            plan(&job("{ enabled: false, requirementsFile: r.txt }"), "img").expect("plan");
        assert_eq!(
            default.image,
            ImageSource::Default {
                image: "img".into(),
                requirements: Some("r.txt".into()),
                from_imports: false,
            }
        );
        let generated = plan(
            &job("{ enabled: false, autoGenerateRequirements: true }"),
            "img",
        )
        .expect("plan");
        assert_eq!(
            generated.image,
            ImageSource::Default {
                image: "img".into(),
                requirements: None,
                from_imports: true,
            }
        );
        let timed = plan(
            &job("{ enabled: true, strategy: s2i, timeout: 90s, packages: [pandas] }"),
            "img",
        )
        .expect("plan");
        assert_eq!(timed.build_timeout, Duration::from_secs(90));
        assert_eq!(timed.job_timeout, DEFAULT_JOB_TIMEOUT);
    }

    #[test]
    fn credentials_in_urls_option_like_hosts_and_traversing_requirements_are_refused() {
        let refused = |job: &NotebookValidationJob| match plan(job, "img") {
            Err(PlanError::Refused { field, reason }) => format!("{field}: {reason}"),
            other => panic!("expected a refusal, got {other:?}"),
        };
        let mut with_password = job("{ enabled: false }");
        with_password.spec.notebook.git.url = "https://user:s3cret@h/r.git".into();
        let message = refused(&with_password);
        assert!(message.starts_with("spec.notebook.git.url"), "{message}");
        assert!(!message.contains("s3cret"), "{message}");

        let mut option_host = job("{ enabled: false }");
        option_host.spec.notebook.git.url = "ssh://-oProxyCommand=x/r.git".into();
        assert!(refused(&option_host).contains("starts with '-'"));

        let path = job("{ enabled: true, strategy: s2i, dockerfile: docker/Dockerfile }");
        let message = refused(&path);
        assert!(
            message.starts_with("spec.podConfig.buildConfig.dockerfile")
                && message.contains("'docker/Dockerfile' reads as a path"),
            "{message}"
        );
        let content = job("{ enabled: true, strategy: s2i, dockerfile: 'FROM python:3.12' }");
        plan(&content, "img").expect("a Dockerfile's content");

        for source in ["s2i", "buildah"] {
            let traversing = job(&format!(
                "{{ enabled: true, strategy: {source}, requirementsFile: ../../etc/passwd }}"
            ));
            let message = refused(&traversing);
            assert!(
                message.starts_with("spec.podConfig.buildConfig.requirementsFile"),
                "{message}"
            );
        }
    }
}
