//! Conformance, snapshots and registration of the Shipwright strategy.

use buildstrategy_api::BuildPhase;
use buildstrategy_api::BuildStrategy;
use buildstrategy_api::testkit::{self, ConformanceCase, StatusFixture};
use buildstrategy_shipwright::Shipwright;
use serde_json::{Value, json};

fn buildrun(status: Value) -> Value {
    json!({
        "apiVersion": "shipwright.io/v1beta1", "kind": "BuildRun",
        "metadata": { "name": "churn-model-build", "namespace": "team-a" },
        "spec": { "build": { "name": "churn-model-build" } },
        "status": status
    })
}

fn succeeded(status: &str, reason: &str, message: &str) -> Value {
    json!({ "startTime": "2026-01-01T10:00:00Z", "conditions": [{ "type": "Succeeded", "status": status, "reason": reason, "message": message }] })
}

fn fixtures() -> Vec<StatusFixture> {
    let mut done = succeeded("True", "Succeeded", "All Steps have completed executing");
    done["output"] = json!({ "digest": format!("sha256:{}", "ef".repeat(32)), "size": 1024 });
    let mut failed = succeeded(
        "False",
        "Failed",
        "buildrun step step-build-and-push failed",
    );
    failed["failureDetails"] = json!({ "reason": "Failed", "message": "pip install exited with 1", "location": { "pod": "churn-model-build-pod", "container": "step-build-and-push" } });
    let mut done_object = buildrun(done);
    done_object["spec"]["output"] =
        json!({ "image": "registry.example.com/team-a/churn-model:latest" });
    let fixture = |state, object, expected| StatusFixture {
        state,
        object,
        expected,
    };
    vec![
        fixture("no status", buildrun(json!({})), BuildPhase::Pending),
        fixture(
            "Pending",
            buildrun(succeeded("Unknown", "Pending", "Pending")),
            BuildPhase::Pending,
        ),
        fixture(
            "Running",
            buildrun(succeeded(
                "Unknown",
                "Running",
                "Not all Steps in the Task have finished executing",
            )),
            BuildPhase::Running,
        ),
        fixture("Succeeded", done_object, BuildPhase::Succeeded),
        fixture("Failed", buildrun(failed), BuildPhase::Failed),
        fixture(
            "BuildRunTimeout",
            buildrun(succeeded(
                "False",
                "BuildRunTimeout",
                "BuildRun failed to finish within 15m0s",
            )),
            BuildPhase::Failed,
        ),
        fixture(
            "BuildNotFound",
            buildrun(succeeded(
                "False",
                "BuildNotFound",
                "build.shipwright.io \"x\" not found",
            )),
            BuildPhase::Failed,
        ),
        fixture(
            "StepOutOfMemory",
            buildrun(succeeded(
                "False",
                "StepOutOfMemory",
                "step ran out of memory",
            )),
            BuildPhase::Failed,
        ),
        fixture(
            "BuildRunCanceled",
            buildrun(succeeded(
                "False",
                "BuildRunCanceled",
                "The user requested the BuildRun to be canceled",
            )),
            BuildPhase::Cancelled,
        ),
    ]
}

fn case() -> ConformanceCase {
    ConformanceCase {
        request: testkit::sample_request(),
        invalid_configs: vec![
            (
                json!({ "buildStrategyRef": "Buildah!" }),
                "strategyConfig.buildStrategyRef",
            ),
            (
                json!({ "buildStrategyKind": "Strategy" }),
                "strategyConfig.buildStrategyKind",
            ),
            (
                json!({ "paramValues": { "dockerfile": 1 } }),
                "strategyConfig.paramValues.dockerfile",
            ),
        ],
        status_fixtures: fixtures(),
    }
}

#[test]
fn passes_the_conformance_kit() {
    testkit::check_offline(&Shipwright, &case());
}

#[test]
fn is_registered() {
    testkit::check_registered("shipwright");
}

#[test]
fn renders_a_buildrun_with_its_build_embedded() {
    let request = testkit::sample_request().with_strategy_config(json!({ "buildStrategyRef": "buildpacks-v3", "paramValues": { "platform-api-version": "0.12" } }));
    insta::assert_yaml_snapshot!(Shipwright.render(&request).expect("renders"));
}

#[test]
fn maps_every_buildrun_state() {
    insta::assert_snapshot!(testkit::status_table(&Shipwright, &fixtures()));
}

#[test]
fn requirements_from_imports_are_refused_saying_why() {
    let request = testkit::sample_request().with_requirements(
        buildstrategy_api::Requirements::FromImports("analysis.ipynb".into()),
    );
    let message = Shipwright
        .validate_config(&request)
        .expect_err("refused")
        .to_string();
    assert!(message.contains("not supported"), "{message}");
}

/// Without a service account of the job's, a push secret goes to one Shipwright generates for
/// the run, not to the namespace's own; the default strategy is upstream's Buildah sample.
#[test]
fn renders_a_generated_service_account_and_the_default_strategy() {
    let mut request = testkit::sample_request();
    request.service_account = None;
    let rendered = Shipwright.render(&request).expect("renders");
    insta::assert_yaml_snapshot!(rendered);
    let mut without_secret = request;
    without_secret.push_secret = None;
    let rendered = Shipwright.render(&without_secret).expect("renders");
    assert!(
        rendered.primary().object.data["spec"]
            .get("serviceAccount")
            .is_none(),
        "no secret to link, no account to generate"
    );
}
