//! Snapshots of every Kubernetes object the operator renders itself (strategies snapshot their
//! own): the validation pod and the operator's ClusterRole.

use notebook_validator_operator::catalog::Catalog;
use notebook_validator_operator::config::EnabledStrategies;
use notebook_validator_operator::config::PodSettings;
use notebook_validator_operator::crd::NotebookValidationJob;
use notebook_validator_operator::reconcile::validation_pod::{self, PodPlan};

fn example(name: &str) -> NotebookValidationJob {
    let path = format!("{}/../examples/{name}", env!("CARGO_MANIFEST_DIR"));
    let mut job: NotebookValidationJob =
        serde_yaml_ng::from_str(&std::fs::read_to_string(path).expect("example")).expect("job");
    job.metadata.namespace = Some("team-a".into());
    job.metadata.uid = Some("6f1c2d3e-4b5a-4978-8e6d-5c4b3a291807".into());
    job
}

/// The validation pod of `job`'s first attempt in a prebuilt image, with the release's own
/// image as runner and clone image.
fn first_attempt_in_prebuilt_image(
    job: &NotebookValidationJob,
    deadline_secs: i64,
) -> k8s_openapi::api::core::v1::Pod {
    let settings = PodSettings {
        runner_image: "quay.io/nbv/notebook-validator-operator:v0.1.0".into(),
        git_image: "quay.io/nbv/notebook-validator-operator:v0.1.0".into(),
    };
    let plan = PodPlan {
        image: "quay.io/jupyter/scipy-notebook:2025-06-30",
        build_push_secret: None,
        requirements: None,
        requirements_from_imports: false,
        generated_requirements: None,
        cell_timeout_secs: None,
        attempt: 0,
        deadline_secs,
        stop_notebook_at: None,
    };
    validation_pod::render(job, &plan, &settings)
}

#[test]
fn the_validation_pod_of_a_prebuilt_image_job() {
    let job = example("prebuilt-image.yaml");
    insta::assert_yaml_snapshot!(first_attempt_in_prebuilt_image(&job, 1800));
}

#[test]
fn the_validation_pod_of_a_retried_job_with_private_git() {
    let job = example("s2i-build.yaml");
    let settings = PodSettings {
        runner_image: "quay.io/nbv/notebook-validator-operator:v0.1.0".into(),
        git_image: "registry.example.com/tools/git:2".into(),
    };
    let plan = PodPlan {
        image: "image-registry.openshift-image-registry.svc:5000/team-a/churn-model-s2i-build@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        // The image was built: the pod pulls it with the build's push secret, if any.
        build_push_secret: job
            .spec
            .pod_config
            .as_ref()
            .and_then(|p| p.build_config.as_ref())
            .and_then(|b| b.push_secret.as_deref()),
        requirements: None,
        requirements_from_imports: false,
        generated_requirements: None,
        cell_timeout_secs: None,
        attempt: 2,
        deadline_secs: 600,
        stop_notebook_at: None,
    };
    insta::assert_yaml_snapshot!(validation_pod::render(&job, &plan, &settings));
}

#[test]
fn the_validation_pod_of_a_job_with_secrets_as_environment() {
    let job = example("secrets-as-environment.yaml");
    let pod = first_attempt_in_prebuilt_image(&job, 900);
    let from: Vec<String> = pod.spec.as_ref().expect("spec").containers[0]
        .env_from
        .iter()
        .flatten()
        .filter_map(|s| s.secret_ref.as_ref().map(|r| r.name.clone()))
        .collect();
    assert_eq!(from, ["aws-credentials", "database-config"]);
    insta::assert_yaml_snapshot!(pod);
}

#[test]
fn the_cluster_role_of_this_build() {
    let catalog = Catalog::linked(EnabledStrategies::resolve(None, None, &[]).expect("config"))
        .expect("registry");
    let role = notebook_validator_operator::rbac::cluster_role("nbv-operator", &catalog);
    for rule in role.rules.iter().flatten() {
        buildstrategy_api::rbac::check_rule(rule).unwrap_or_else(|why| panic!("{why}"));
    }
    let name = if cfg!(feature = "community") {
        "cluster_role_community"
    } else {
        "cluster_role_default"
    };
    insta::assert_yaml_snapshot!(name, role);
}

/// The comparison settings a job carries reach the runner as the runner reads them.
#[test]
fn the_comparison_config_in_the_pod_reads_as_the_runners() {
    let job = example("nbval-sanitizers.yaml");
    let pod = first_attempt_in_prebuilt_image(&job, 1200);
    let env = pod.spec.expect("spec").containers[0]
        .env
        .clone()
        .unwrap_or_default();
    let json = env
        .iter()
        .find(|v| v.name == "NBV_COMPARISON_CONFIG")
        .and_then(|v| v.value.clone())
        .expect("comparison config");
    let config: nbv_compare::CompareConfig =
        serde_json::from_str(&json).expect("the runner reads it");
    assert_eq!(config.sanitizers.len(), 2);
    assert_eq!(config.sanitizers[1].replace, r"\1 rows in Ts");
    assert!(!config.lax);
    nbv_compare::Comparator::new(config).expect("the runner accepts it");
}
