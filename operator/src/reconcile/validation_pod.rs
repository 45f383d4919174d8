//! The validation pod: clones the repository, runs the `nbv` runner on the notebook, and reports
//! the result as JSON in its termination message. Pure rendering; no cluster access.
//!
//! It meets the restricted Pod Security level. User strings (URLs, refs, paths, parameters)
//! reach containers only as environment variables and argv, never through a shell; clone
//! credentials are mounted as files from the job's secret.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, EnvFromSource, EnvVar, LocalObjectReference, PersistentVolumeClaimVolumeSource, Pod,
    PodSecurityContext, PodSpec, SeccompProfile, SecretEnvSource, Volume,
};
use kube::ResourceExt;
use kube::api::ObjectMeta;
use nbv_report::PodInputs;
use nbv_report::inputs::var;

use crate::config::PodSettings;
use crate::crd::{NotebookValidationJob, PodConfig};
use crate::labels;
use crate::steps::git_clone::{clone_container, empty_dir, env, mount};
use crate::steps::outcome::VALIDATE_CONTAINER;
use crate::steps::pod_lifecycle::restricted;

/// The longest value of one environment variable: Linux refuses to start a process with a
/// `NAME=value` string over 128 KiB (`MAX_ARG_STRLEN`), so the container would never run.
pub const MAX_ENV_VALUE_BYTES: usize = 128 * 1024 - var::PARAMETERS.len() - 2;

/// Where the runner binary is copied, from the operator image, for any notebook image to run.
const RUNNER_DIR: &str = "/opt/nbv/bin";
/// Where the runner sits in the operator image.
const RUNNER_IN_IMAGE: &str = "/usr/local/bin/nbv";
const NOTEBOOK_DIR: &str = "/workspace/notebook";
const GOLDEN_DIR: &str = "/workspace/golden";

/// What the pod runs.
#[derive(Debug, Clone, PartialEq)]
pub struct PodPlan<'a> {
    /// The notebook image.
    pub image: &'a str,
    /// The build's `pushSecret` when the image was built: the pod pulls with it too.
    pub build_push_secret: Option<&'a str>,
    /// A requirements file the runner installs first (the default-image option).
    pub requirements: Option<&'a str>,
    /// Without one: whether the runner generates them from the notebook's imports first.
    pub requirements_from_imports: bool,
    /// Requirements the build generated from the notebook's imports, a file in the image that
    /// the runner reports.
    pub generated_requirements: Option<&'a str>,
    /// Seconds one cell may run (`spec.execution.cellTimeout`); the runner's default otherwise.
    pub cell_timeout_secs: Option<u64>,
    /// Which attempt this is (0 for the first), for the name.
    pub attempt: i32,
    /// Seconds the pod may run.
    pub deadline_secs: i64,
    /// When the runner stops the notebook ([`stop_notebook_at`]), Unix seconds.
    pub stop_notebook_at: Option<i64>,
}

/// Where the artifacts volume is mounted in the validation pod.
const ARTIFACTS_DIR: &str = "/artifacts";

/// The directory of one validation pod's artifacts in the claim: `<job>/<pod>`.
pub fn artifacts_path(job: &NotebookValidationJob, attempt: i32) -> String {
    format!(
        "{}/{}",
        job.name_any(),
        labels::validation_pod_name(job, attempt)
    )
}

/// When the runner stops the notebook, in Unix seconds: a little before the pod's deadline
/// (`now + deadline_secs`), so that a notebook still running when the job's time runs out is
/// stopped by the runner, which reports the cells that finished, and not by the kubelet, which
/// reports nothing.
pub fn stop_notebook_at(now_unix: i64, deadline_secs: i64) -> i64 {
    // Room to kill the kernel, write the result and have the pod's end seen by the operator.
    let reserve = (deadline_secs / 5).clamp(5, 30);
    now_unix + (deadline_secs - reserve).max(1)
}

/// `envFrom`, then one `secretRef` per name of `credentials` (the peer operator's shortcut).
fn env_from(pod_config: &PodConfig) -> Option<Vec<EnvFromSource>> {
    let sources: Vec<EnvFromSource> = pod_config
        .env_from
        .iter()
        .cloned()
        .chain(pod_config.credentials.iter().map(|name| EnvFromSource {
            secret_ref: Some(SecretEnvSource {
                name: name.clone(),
                optional: None,
            }),
            ..EnvFromSource::default()
        }))
        .collect();
    (!sources.is_empty()).then_some(sources)
}

/// Renders the validation pod of `job`.
pub fn render(job: &NotebookValidationJob, plan: &PodPlan<'_>, settings: &PodSettings) -> Pod {
    let spec = &job.spec;
    let pod_config = spec.pod_config.clone().unwrap_or_default();
    let mut volumes = vec![
        empty_dir("workspace"),
        empty_dir("runner"),
        empty_dir("home"),
    ];
    let mut init = vec![Container {
        name: "install-runner".into(),
        image: Some(settings.runner_image.clone()),
        command: Some(vec![
            "cp".into(),
            RUNNER_IN_IMAGE.into(),
            format!("{RUNNER_DIR}/nbv"),
        ]),
        volume_mounts: Some(vec![mount("runner", RUNNER_DIR, false)]),
        security_context: Some(restricted()),
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        ..Container::default()
    }];
    let (clone, credentials) = clone_container("clone", &spec.notebook.git, NOTEBOOK_DIR, settings);
    init.push(clone);
    volumes.extend(credentials);

    let mut inputs = PodInputs {
        notebook: format!("{NOTEBOOK_DIR}/{}", spec.notebook.path),
        work_dir: Some("/home/nbv/work".into()),
        timeout_secs: Some(plan.deadline_secs.max(1).unsigned_abs()),
        termination_message_path: Some("/dev/termination-log".into()),
        report_path: Some("/home/nbv/report.json".into()),
        parameters: spec.parameters_json(),
        deadline: plan.stop_notebook_at.and_then(|at| u64::try_from(at).ok()),
        comparison_config: spec
            .comparison_config
            .as_ref()
            .map(|c| serde_json::to_string(c).unwrap_or_default()),
        generated_requirements: plan.generated_requirements.map(str::to_owned),
        ..PodInputs::default()
    };
    if let Some(golden) = &spec.golden_notebook {
        let (clone, credentials) =
            clone_container("clone-golden", &golden.git, GOLDEN_DIR, settings);
        init.push(clone);
        volumes.extend(credentials);
        inputs.golden = Some(format!("{GOLDEN_DIR}/{}", golden.path));
    }
    // The user's init containers, after the clones (the notebook is there) and before the
    // notebook; their security context is the validation container's, whatever they asked.
    init.extend(pod_config.init_containers.iter().map(|c| {
        Container {
            security_context: Some(restricted()),
            // Their last log lines reach the job's status when they fail.
            termination_message_policy: Some(
                c.termination_message_policy
                    .clone()
                    .unwrap_or_else(|| "FallbackToLogsOnError".into()),
            ),
            ..c.clone()
        }
    }));
    if let Some(execution) = &spec.execution {
        inputs.cell_timeout_secs = plan.cell_timeout_secs.map(|secs| secs.max(1));
        inputs.kernel.clone_from(&execution.kernel);
        inputs.continue_on_error = execution.continue_on_error == Some(true);
    }
    if let Some(requirements) = plan.requirements {
        inputs.requirements = Some(format!("{NOTEBOOK_DIR}/{requirements}"));
    } else if plan.requirements_from_imports {
        inputs.requirements_from_imports = true;
        inputs.import_names = pod_config
            .build_config
            .iter()
            .flat_map(|b| &b.import_names)
            .map(|n| format!("{}={}", n.module, n.distribution))
            .collect();
    }
    let artifacts = spec.artifacts.as_ref().map(|a| {
        let dir = format!("{ARTIFACTS_DIR}/{}", artifacts_path(job, plan.attempt));
        inputs.report_path = Some(format!("{dir}/report.json"));
        inputs.html_path = Some(format!("{dir}/report.html"));
        inputs.junit_path = Some(format!("{dir}/junit.xml"));
        inputs.executed_notebook_path = Some(format!("{dir}/executed.ipynb"));
        volumes.push(Volume {
            name: "artifacts".into(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: a.claim_name.clone(),
                read_only: Some(false),
            }),
            ..Volume::default()
        });
        mount("artifacts", ARTIFACTS_DIR, false)
    });
    let mut vars: Vec<EnvVar> = inputs
        .to_env()
        .into_iter()
        .map(|(name, value)| env(name, value))
        .collect();
    // The runner's HOME is the pod's writable home volume.
    vars.insert(2, env("HOME", "/home/nbv"));
    vars.extend(pod_config.env.iter().cloned());
    let mut mounts = vec![
        mount("workspace", "/workspace", false),
        mount("runner", RUNNER_DIR, true),
        mount("home", "/home/nbv", false),
    ];
    mounts.extend(artifacts);
    mounts.extend(pod_config.volume_mounts.iter().cloned());
    volumes.extend(pod_config.volumes.iter().cloned());

    let main = Container {
        name: VALIDATE_CONTAINER.into(),
        image: Some(plan.image.to_owned()),
        command: Some(vec![format!("{RUNNER_DIR}/nbv"), "run".into()]),
        env: Some(vars),
        env_from: env_from(&pod_config),
        resources: pod_config.resources.clone(),
        volume_mounts: Some(mounts),
        security_context: Some(restricted()),
        termination_message_policy: Some("File".into()),
        working_dir: Some(NOTEBOOK_DIR.into()),
        ..Container::default()
    };
    let mut pod_labels: BTreeMap<String, String> = labels::for_job(job);
    pod_labels.insert(labels::COMPONENT_LABEL.into(), "validation".into());
    Pod {
        metadata: ObjectMeta {
            name: Some(labels::validation_pod_name(job, plan.attempt)),
            namespace: job.namespace(),
            labels: Some(pod_labels),
            owner_references: Some(vec![labels::owner(job)]),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            restart_policy: Some("Never".into()),
            active_deadline_seconds: Some(plan.deadline_secs.max(1)),
            automount_service_account_token: Some(false),
            service_account_name: pod_config.service_account_name.clone(),
            security_context: Some(PodSecurityContext {
                run_as_non_root: Some(true),
                seccomp_profile: Some(SeccompProfile {
                    type_: "RuntimeDefault".into(),
                    localhost_profile: None,
                }),
                ..PodSecurityContext::default()
            }),
            init_containers: Some(init),
            containers: vec![main],
            volumes: Some(volumes),
            tolerations: (!pod_config.tolerations.is_empty())
                .then(|| pod_config.tolerations.clone()),
            node_selector: (!pod_config.node_selector.is_empty())
                .then(|| pod_config.node_selector.clone()),
            affinity: pod_config.affinity.clone(),
            image_pull_secrets: pull_secrets(&pod_config, plan.build_push_secret),
            ..PodSpec::default()
        }),
        status: None,
    }
}

/// `podConfig.imagePullSecrets`, then the build's push secret when it is not among them.
fn pull_secrets(
    pod_config: &PodConfig,
    build_push_secret: Option<&str>,
) -> Option<Vec<LocalObjectReference>> {
    let mut names: Vec<&str> = pod_config
        .image_pull_secrets
        .iter()
        .map(String::as_str)
        .collect();
    if let Some(secret) = build_push_secret
        && !names.contains(&secret)
    {
        names.push(secret);
    }
    (!names.is_empty()).then(|| {
        names
            .into_iter()
            .map(|name| LocalObjectReference {
                name: name.to_owned(),
            })
            .collect()
    })
}

/// Refuses a pod too large for the API server to store, saying how large it is and what makes
/// it large.
pub fn check_size(pod: &Pod) -> Result<(), String> {
    match buildstrategy_api::resources::oversized(pod) {
        None => Ok(()),
        Some(bytes) => Err(format!(
            "the validation pod would be {bytes} bytes as JSON, more than the {} bytes the API server stores; shorten podConfig (env, volumes, affinity) or parameters",
            buildstrategy_api::resources::MAX_OBJECT_BYTES
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The environment of the pod's main container, by name.
    fn main_env(spec: &PodSpec) -> BTreeMap<String, String> {
        spec.containers[0]
            .env
            .iter()
            .flatten()
            .map(|e| (e.name.clone(), e.value.clone().unwrap_or_default()))
            .collect()
    }

    /// A job of the notebook `a.ipynb` with this `podConfig`.
    fn job_with(pod_config: serde_json::Value) -> NotebookValidationJob {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "mlops.redhat.com/v1alpha1",
            "kind": "NotebookValidationJob",
            "metadata": { "name": "j", "namespace": "ns", "uid": "u" },
            "spec": {
                "notebook": { "git": { "url": "https://git.example/nb.git" }, "path": "a.ipynb" },
                "podConfig": pod_config
            }
        }))
        .expect("a job")
    }

    /// A first attempt in a given image, pulled with the build's `build_push_secret`.
    fn plan_pulling_with(build_push_secret: Option<&str>) -> PodPlan<'_> {
        PodPlan {
            image: "img",
            build_push_secret,
            requirements: None,
            requirements_from_imports: false,
            generated_requirements: None,
            cell_timeout_secs: None,
            attempt: 0,
            deadline_secs: 60,
            stop_notebook_at: None,
        }
    }

    #[test]
    fn a_pod_too_large_to_store_is_refused() {
        let job = job_with(serde_json::json!({ "env": (0..1700)
            .map(|i| serde_json::json!({ "name": format!("V{i}"), "value": "x".repeat(1000) }))
            .collect::<Vec<_>>() }));
        let plan = plan_pulling_with(None);
        let settings = PodSettings {
            runner_image: "runner".into(),
            git_image: "git".into(),
        };
        let pod = render(&job, &plan, &settings);
        let message = check_size(&pod).expect_err("too large");
        assert!(message.contains("more than the 1572864 bytes"), "{message}");

        let mut small = job;
        small.spec.pod_config = None;
        assert_eq!(check_size(&render(&small, &plan, &settings)), Ok(()));
    }

    #[test]
    fn init_containers_run_after_the_clone_with_the_restricted_context() {
        let job = job_with(serde_json::json!({ "initContainers": [{
            "name": "wait-for-db", "image": "busybox",
            "command": ["sh", "-c", "until nc -z db 5432; do sleep 1; done"],
            "securityContext": { "runAsUser": 1000 },
            "volumeMounts": [{ "name": "workspace", "mountPath": "/workspace" }],
        }] }));
        let settings = PodSettings {
            runner_image: "runner".into(),
            git_image: "git".into(),
        };
        let pod = render(&job, &plan_pulling_with(None), &settings);
        let init = pod
            .spec
            .expect("spec")
            .init_containers
            .expect("init containers");
        let names: Vec<&str> = init.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, vec!["install-runner", "clone", "wait-for-db"]);
        let waits = &init[2];
        assert_eq!(waits.security_context, Some(restricted()));
        assert_eq!(
            waits.termination_message_policy.as_deref(),
            Some("FallbackToLogsOnError")
        );
        assert_eq!(waits.volume_mounts.as_ref().map(Vec::len), Some(1));
    }

    #[test]
    fn the_pod_pulls_with_its_pull_secrets_and_the_build_push_secret() {
        let job = job_with(serde_json::json!({ "imagePullSecrets": ["mirror", "push"] }));
        let plan = plan_pulling_with;
        let settings = PodSettings {
            runner_image: "runner".into(),
            git_image: "git".into(),
        };
        let names = |pod: Pod| -> Vec<String> {
            pod.spec
                .and_then(|s| s.image_pull_secrets)
                .unwrap_or_default()
                .into_iter()
                .map(|r| r.name)
                .collect()
        };
        assert_eq!(
            names(render(&job, &plan(None), &settings)),
            ["mirror", "push"]
        );
        // Named once, even when the build's secret is also listed.
        assert_eq!(
            names(render(&job, &plan(Some("push")), &settings)),
            ["mirror", "push"]
        );
        let plain = job_with(serde_json::json!({}));
        assert!(names(render(&plain, &plan(None), &settings)).is_empty());
        assert_eq!(
            names(render(&plain, &plan(Some("robot")), &settings)),
            ["robot"]
        );
    }

    #[test]
    fn requirements_from_imports_reach_the_runner() {
        let job = job_with(serde_json::json!({ "buildConfig": {
            "fallbackStrategy": "auto",
            "importNames": [
                { "module": "acme", "distribution": "acme-sdk" },
                { "module": "yaml", "distribution": "PyYAML" }
            ]
        } }));
        let settings = PodSettings {
            runner_image: "runner".into(),
            git_image: "git".into(),
        };
        let env_of =
            |plan: &PodPlan<'_>| main_env(&render(&job, plan, &settings).spec.expect("spec"));
        let at_start = env_of(&PodPlan {
            image: "img",
            build_push_secret: None,
            requirements: None,
            requirements_from_imports: true,
            generated_requirements: None,
            cell_timeout_secs: None,
            attempt: 0,
            deadline_secs: 60,
            stop_notebook_at: None,
        });
        assert_eq!(at_start["NBV_REQUIREMENTS_FROM_IMPORTS"], "true");
        assert_eq!(at_start["NBV_IMPORT_NAMES"], "acme=acme-sdk,yaml=PyYAML");
        assert!(!at_start.contains_key("NBV_GENERATED_REQUIREMENTS"));
        let built = env_of(&PodPlan {
            image: "img",
            build_push_secret: None,
            requirements: None,
            requirements_from_imports: false,
            generated_requirements: Some("/tmp/nbv-requirements.txt"),
            cell_timeout_secs: None,
            attempt: 0,
            deadline_secs: 60,
            stop_notebook_at: None,
        });
        assert_eq!(
            built["NBV_GENERATED_REQUIREMENTS"],
            "/tmp/nbv-requirements.txt"
        );
        assert!(!built.contains_key("NBV_IMPORT_NAMES"));
    }

    #[test]
    fn execution_settings_reach_the_runner_which_stops_before_the_pod() {
        let mut job = job_with(serde_json::json!({}));
        job.spec.execution = Some(crate::crd::ExecutionConfig {
            cell_timeout: Some("2m".into()),
            kernel: Some("python3".into()),
            continue_on_error: Some(true),
        });
        let plan = PodPlan {
            image: "img",
            build_push_secret: None,
            requirements: None,
            requirements_from_imports: false,
            generated_requirements: None,
            cell_timeout_secs: Some(120),
            attempt: 0,
            deadline_secs: 600,
            stop_notebook_at: Some(stop_notebook_at(1_000_000, 600)),
        };
        let settings = PodSettings {
            runner_image: "runner".into(),
            git_image: "git".into(),
        };
        let spec = render(&job, &plan, &settings).spec.expect("spec");
        let vars = main_env(&spec);
        assert_eq!(vars["NBV_CELL_TIMEOUT"], "120");
        assert_eq!(vars["NBV_KERNEL"], "python3");
        assert_eq!(vars["NBV_CONTINUE_ON_ERROR"], "true");
        assert_eq!(spec.active_deadline_seconds, Some(600));
        assert_eq!(vars["NBV_TIMEOUT"], "600");
        assert_eq!(vars["NBV_DEADLINE"], "1000570");
        assert_eq!(stop_notebook_at(0, 30), 24);
        assert_eq!(stop_notebook_at(0, 5), 1);
        assert_eq!(stop_notebook_at(0, 1), 1);
    }

    #[test]
    fn artifacts_go_to_a_directory_of_the_claim_per_pod() {
        let mut job = job_with(serde_json::json!({}));
        job.spec.artifacts = Some(crate::crd::ArtifactsConfig {
            claim_name: "nbv-artifacts".into(),
        });
        let plan = PodPlan {
            image: "img",
            build_push_secret: None,
            requirements: None,
            requirements_from_imports: false,
            generated_requirements: None,
            cell_timeout_secs: None,
            attempt: 1,
            deadline_secs: 60,
            stop_notebook_at: None,
        };
        let settings = PodSettings {
            runner_image: "runner".into(),
            git_image: "git".into(),
        };
        let spec = render(&job, &plan, &settings).spec.expect("spec");
        let main = &spec.containers[0];
        let vars = main_env(&spec);
        let dir = format!("/artifacts/{}", artifacts_path(&job, 1));
        assert_eq!(dir, "/artifacts/j/j-validation-1");
        assert_eq!(vars["NBV_REPORT_PATH"], format!("{dir}/report.json"));
        assert_eq!(vars["NBV_HTML_PATH"], format!("{dir}/report.html"));
        assert_eq!(vars["NBV_JUNIT_PATH"], format!("{dir}/junit.xml"));
        assert_eq!(
            vars["NBV_EXECUTED_NOTEBOOK_PATH"],
            format!("{dir}/executed.ipynb")
        );
        let claim = spec
            .volumes
            .iter()
            .flatten()
            .find_map(|v| v.persistent_volume_claim.as_ref())
            .expect("the claim is a volume");
        assert_eq!(claim.claim_name, "nbv-artifacts");
        assert!(
            main.volume_mounts
                .iter()
                .flatten()
                .any(|m| m.name == "artifacts" && m.mount_path == "/artifacts")
        );
    }
}
