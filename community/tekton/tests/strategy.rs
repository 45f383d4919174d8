//! Conformance, snapshots and registration of the Tekton strategy.

use buildstrategy_api::testkit::{self, ConformanceCase, StatusFixture};
use buildstrategy_api::{BuildPhase, BuildStrategy};
use buildstrategy_tekton::{BUILD_SCRIPT, DOCKER_CONFIG_MOUNT, Tekton};
use serde_json::{Value, json};

fn run(kind: &str, status: Value) -> Value {
    json!({ "apiVersion": "tekton.dev/v1", "kind": kind, "metadata": { "name": "churn-model-build", "namespace": "team-a" }, "status": status })
}

fn succeeded(status: &str, reason: &str, message: &str) -> Value {
    json!({ "startTime": "2026-01-01T10:00:00Z", "conditions": [{ "type": "Succeeded", "status": status, "reason": reason, "message": message }] })
}

fn fixtures() -> Vec<StatusFixture> {
    let digest = format!("sha256:{}", "cd".repeat(32));
    let mut done = succeeded("True", "Succeeded", "All Steps have completed executing");
    done["completionTime"] = json!("2026-01-01T10:04:00Z");
    done["results"] = json!([{ "name": "IMAGE_DIGEST", "type": "string", "value": digest }, { "name": "IMAGE_URL", "type": "string", "value": "registry.example.com/team-a/churn-model:latest" }]);
    let fixture = |state, status, expected| StatusFixture {
        state,
        object: run("TaskRun", status),
        expected,
    };
    vec![
        fixture("no status", json!({}), BuildPhase::Pending),
        fixture(
            "Pending",
            succeeded("Unknown", "Pending", "pod status \"Initialized\":\"False\""),
            BuildPhase::Pending,
        ),
        fixture(
            "Running",
            succeeded(
                "Unknown",
                "Running",
                "Not all Steps in the Task have finished executing",
            ),
            BuildPhase::Running,
        ),
        fixture("Succeeded", done, BuildPhase::Succeeded),
        fixture(
            "Failed",
            succeeded("False", "Failed", "\"step-build\" exited with code 1"),
            BuildPhase::Failed,
        ),
        fixture(
            "TaskRunTimeout",
            succeeded(
                "False",
                "TaskRunTimeout",
                "TaskRun \"churn-model-build\" failed to finish within \"15m0s\"",
            ),
            BuildPhase::Failed,
        ),
        fixture(
            "TaskRunImagePullFailed",
            succeeded(
                "False",
                "TaskRunImagePullFailed",
                "the step \"build\" in TaskRun failed to pull the image",
            ),
            BuildPhase::Failed,
        ),
        fixture(
            "TaskRunCancelled",
            succeeded(
                "False",
                "TaskRunCancelled",
                "TaskRun \"churn-model-build\" was cancelled",
            ),
            BuildPhase::Cancelled,
        ),
        StatusFixture {
            state: "PipelineRun Cancelled",
            object: run(
                "PipelineRun",
                succeeded("False", "Cancelled", "PipelineRun was cancelled"),
            ),
            expected: BuildPhase::Cancelled,
        },
    ]
}

fn case() -> ConformanceCase {
    ConformanceCase {
        request: testkit::sample_request(),
        invalid_configs: vec![
            (
                json!({ "pipelineRef": "Not A Name" }),
                "strategyConfig.pipelineRef",
            ),
            (json!({ "params": ["a"] }), "strategyConfig.params"),
            (
                json!({ "params": { "verbose": true } }),
                "strategyConfig.params.verbose",
            ),
            (
                json!({ "workspaceSize": "lots" }),
                "strategyConfig.workspaceSize",
            ),
        ],
        status_fixtures: fixtures(),
    }
}

#[test]
fn passes_the_conformance_kit() {
    testkit::check_offline(&Tekton, &case());
}

#[test]
fn is_registered() {
    testkit::check_registered("tekton");
}

#[test]
fn renders_a_taskrun_and_its_task() {
    let request = testkit::sample_request();
    insta::assert_yaml_snapshot!("taskrun", Tekton.render(&request).expect("renders"));
    let task: Vec<_> = Tekton
        .setup_steps(&request)
        .expect("steps")
        .into_iter()
        .map(|s| s.object)
        .collect();
    insta::assert_yaml_snapshot!("task", task);
}

#[test]
fn renders_a_pipelinerun_of_the_users_pipeline() {
    let request = testkit::sample_request().with_strategy_config(
        json!({ "pipelineRef": "notebook-build", "params": { "verbose": "true" } }),
    );
    insta::assert_yaml_snapshot!(Tekton.render(&request).expect("renders"));
    assert!(
        Tekton.setup_steps(&request).expect("steps").is_empty(),
        "a user pipeline needs no Task of ours"
    );
}

#[test]
fn maps_every_run_state() {
    insta::assert_snapshot!(testkit::status_table(&Tekton, &fixtures()));
}

#[test]
fn the_jobs_secrets_reach_the_run_as_workspaces_the_task_reads() {
    let mut request = testkit::sample_request();
    request.source.credentials_secret = Some("git-token".into());
    let run = Tekton.render(&request).expect("renders");
    let bound: Vec<(String, String)> = run.primary().object.data["spec"]["workspaces"]
        .as_array()
        .expect("workspaces")
        .iter()
        .filter_map(|w| {
            Some((
                w["name"].as_str()?.to_owned(),
                w["secret"]["secretName"].as_str()?.to_owned(),
            ))
        })
        .collect();
    assert_eq!(
        bound,
        [
            ("dockerconfig".to_owned(), "registry-push".to_owned()),
            ("git-credentials".to_owned(), "git-token".to_owned())
        ]
    );
    // The Task mounts them where its steps look: the build step's script and the clone script.
    let steps = Tekton.setup_steps(&request).expect("steps");
    let task = &steps[0].object.object.data["spec"];
    let mounted = |name: &str| {
        task["workspaces"]
            .as_array()
            .expect("workspaces")
            .iter()
            .find(|w| w["name"] == name)
            .and_then(|w| w["mountPath"].as_str())
            .map(str::to_owned)
            .expect("declared")
    };
    assert!(BUILD_SCRIPT.contains(&format!("{}/config.json", mounted("dockerconfig"))));
    assert_eq!(mounted("dockerconfig"), DOCKER_CONFIG_MOUNT);
    assert_eq!(
        mounted("git-credentials"),
        buildstrategy_api::git::CREDENTIALS_MOUNT
    );
}

#[test]
fn a_build_without_a_git_source_runs_the_task_with_an_empty_url_and_no_clone() {
    let request = testkit::package_list_request();
    Tekton.validate_config(&request).expect("valid");
    insta::assert_yaml_snapshot!(Tekton.render(&request).expect("renders"));
    // The clone step makes an empty context when the URL is empty, before anything else.
    let steps = Tekton.setup_steps(&request).expect("steps");
    let script = steps[0].object.object.data["spec"]["steps"][0]["script"]
        .as_str()
        .expect("the clone step's script")
        .to_owned();
    let empty = script
        .find("if [ -z \"$NBV_GIT_URL\" ]")
        .expect("the check");
    assert!(
        empty < script.find("git init").expect("the clone"),
        "{script}"
    );
}

#[test]
fn a_build_without_a_git_source_takes_no_file_from_one_nor_a_pipeline() {
    let file = testkit::package_list_request().with_requirements(
        buildstrategy_api::Requirements::File("requirements.txt".into()),
    );
    let message = Tekton
        .validate_config(&file)
        .expect_err("refused")
        .to_string();
    assert!(message.contains("package list"), "{message}");
    let pipeline = testkit::package_list_request()
        .with_strategy_config(json!({ "pipelineRef": "notebook-build" }));
    let message = Tekton
        .validate_config(&pipeline)
        .expect_err("refused")
        .to_string();
    assert!(
        message.contains("strategyConfig.pipelineRef") && message.contains("nbv-buildah"),
        "{message}"
    );
}
