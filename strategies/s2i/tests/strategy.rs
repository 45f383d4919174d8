//! Conformance, snapshots and registration of the Source-to-Image strategy.

use buildstrategy_api::testkit::{self, ConformanceCase, StatusFixture};
use buildstrategy_api::{BuildPhase, BuildStrategy, Requirements};
use buildstrategy_s2i::SourceToImage;
use serde_json::{Value, json};

fn build(status: Value) -> Value {
    json!({
        "apiVersion": "build.openshift.io/v1", "kind": "Build",
        "metadata": { "name": "churn-model-build", "namespace": "team-a" },
        "status": status
    })
}

fn fixtures() -> Vec<StatusFixture> {
    let digest = format!("sha256:{}", "12".repeat(32));
    let fixture = |state, status, expected| StatusFixture {
        state,
        object: build(status),
        expected,
    };
    vec![
        fixture("New", json!({ "phase": "New" }), BuildPhase::Pending),
        fixture(
            "Pending",
            json!({ "phase": "Pending", "reason": "PullBuilderImageFailed", "message": "Failed pulling builder image." }),
            BuildPhase::Pending,
        ),
        fixture(
            "Running",
            json!({ "phase": "Running", "startTimestamp": "2026-01-01T10:00:00Z" }),
            BuildPhase::Running,
        ),
        fixture(
            "Complete",
            json!({
                "phase": "Complete", "startTimestamp": "2026-01-01T10:00:00Z", "completionTimestamp": "2026-01-01T10:06:00Z",
                "outputDockerImageReference": "image-registry.openshift-image-registry.svc:5000/team-a/churn-model-build:latest",
                "output": { "to": { "imageDigest": digest } }
            }),
            BuildPhase::Succeeded,
        ),
        fixture(
            "Complete without digest",
            json!({
                "phase": "Complete", "outputDockerImageReference": "image-registry.openshift-image-registry.svc:5000/team-a/churn-model-build:latest"
            }),
            BuildPhase::Succeeded,
        ),
        fixture(
            "Failed/FetchSourceFailed",
            json!({ "phase": "Failed", "reason": "FetchSourceFailed", "message": "Failed to fetch the input source.", "logSnippet": "error: couldn't find remote ref refs/heads/nope" }),
            BuildPhase::Failed,
        ),
        fixture(
            "Failed/PushImageToRegistryFailed",
            json!({ "phase": "Failed", "reason": "PushImageToRegistryFailed", "message": "Failed to push the image to the registry." }),
            BuildPhase::Failed,
        ),
        fixture(
            "Failed/OutOfMemoryKilled",
            json!({ "phase": "Failed", "reason": "OutOfMemoryKilled", "message": "The build pod was killed due to an out of memory condition." }),
            BuildPhase::Failed,
        ),
        fixture(
            "Error/BuildPodEvicted",
            json!({ "phase": "Error", "reason": "BuildPodEvicted", "message": "The build pod was evicted." }),
            BuildPhase::Failed,
        ),
        fixture(
            "Cancelled",
            json!({ "phase": "Cancelled", "reason": "CancelledBuild", "message": "The build was cancelled by the user." }),
            BuildPhase::Cancelled,
        ),
    ]
}

fn case() -> ConformanceCase {
    ConformanceCase {
        request: testkit::sample_request(),
        invalid_configs: vec![
            (
                json!({ "builderImage": "has space" }),
                "strategyConfig.builderImage",
            ),
            (
                json!({ "incremental": "yes" }),
                "strategyConfig.incremental",
            ),
        ],
        status_fixtures: fixtures(),
    }
}

#[test]
fn passes_the_conformance_kit() {
    testkit::check_offline(&SourceToImage, &case());
}

#[test]
fn is_registered_as_core() {
    testkit::check_registered("s2i");
    assert_eq!(SourceToImage.info().tier, buildstrategy_api::Tier::Core);
}

#[test]
fn renders_a_docker_build_to_the_image_stream() {
    let mut request = testkit::sample_request();
    request.output_image = None;
    request.push_secret = None;
    insta::assert_yaml_snapshot!(SourceToImage.render(&request).expect("renders"));
}

#[test]
fn a_source_build_refuses_a_requirements_file_outside_the_repository() {
    let request = testkit::sample_request()
        .with_requirements(Requirements::File("../../etc/passwd".into()))
        .with_strategy_config(
            json!({ "builderImage": "registry.access.redhat.com/ubi9/python-311:latest" }),
        );
    let message = SourceToImage
        .validate_config(&request)
        .expect_err("refused")
        .to_string();
    assert!(
        message.contains("buildConfig.requirementsFile"),
        "{message}"
    );
}

#[test]
fn renders_a_source_build_from_a_builder_image() {
    let request = testkit::sample_request()
        .with_requirements(Requirements::File("requirements.txt".into()))
        .with_strategy_config(
            json!({ "builderImage": "registry.access.redhat.com/ubi9/python-311:latest" }),
        );
    insta::assert_yaml_snapshot!(SourceToImage.render(&request).expect("renders"));
}

#[test]
fn maps_every_build_phase() {
    insta::assert_snapshot!(testkit::status_table(&SourceToImage, &fixtures()));
}

#[test]
fn requirements_from_imports_need_a_docker_build() {
    let imports = testkit::sample_request()
        .with_requirements(Requirements::FromImports("analysis.ipynb".into()));
    SourceToImage
        .validate_config(&imports)
        .expect("a Docker build generates them");
    let source = imports.with_strategy_config(
        json!({ "builderImage": "registry.access.redhat.com/ubi9/python-311:latest" }),
    );
    let message = SourceToImage
        .validate_config(&source)
        .expect_err("refused")
        .to_string();
    assert!(message.contains("builderImage"), "{message}");
}

#[test]
fn a_source_build_takes_a_requirements_file_from_its_directory() {
    let builder = json!({ "builderImage": "registry.access.redhat.com/ubi9/python-311:latest" });
    let nested = testkit::sample_request()
        .with_requirements(Requirements::File("env/ci/requirements.txt".into()))
        .with_strategy_config(builder.clone());
    let rendered = SourceToImage.render(&nested).expect("renders");
    let spec = &rendered.primary().object.data["spec"];
    // The builder installs requirements.txt from the root of what it is given: the file's
    // directory, below the job's context directory.
    assert_eq!(spec["source"]["contextDir"], "churn/env/ci");
    assert!(
        !spec.to_string().contains("PIP_REQUIREMENTS_FILE"),
        "{spec}"
    );

    let renamed = testkit::sample_request()
        .with_requirements(Requirements::File("env/dev-requirements.txt".into()))
        .with_strategy_config(builder);
    let message = SourceToImage
        .validate_config(&renamed)
        .expect_err("refused")
        .to_string();
    assert!(
        message.contains("buildConfig.requirementsFile")
            && message.contains("dev-requirements.txt"),
        "{message}"
    );
}

#[test]
fn takes_the_base_image_from_strategy_config_as_adr_025_writes_it() {
    let own = "registry.example/team/base:1";
    let mut request = testkit::sample_request().with_strategy_config(json!({ "baseImage": own }));
    request.base_image = buildstrategy_api::BuildRequest::DEFAULT_BASE_IMAGE.into();
    let rendered = SourceToImage.render(&request).expect("renders");
    let spec = &rendered.primary().object.data["spec"];
    assert_eq!(spec["strategy"]["dockerStrategy"]["from"]["name"], own);
    let dockerfile = spec["source"]["dockerfile"].as_str().expect("inline");
    assert!(dockerfile.contains(&format!("FROM {own}")), "{dockerfile}");

    request.base_image = "registry.example/other:2".into();
    let message = SourceToImage
        .validate_config(&request)
        .expect_err("two bases")
        .to_string();
    assert!(message.contains("strategyConfig.baseImage"), "{message}");
}

#[test]
fn builds_a_package_list_from_an_inline_dockerfile_without_a_repository() {
    let request = testkit::sample_request()
        .without_source()
        .with_requirements(Requirements::Packages(vec!["pandas==2.2.3".into()]));
    let rendered = SourceToImage.render(&request).expect("renders");
    let source = &rendered.primary().object.data["spec"]["source"];
    assert_eq!(source["type"], "Dockerfile");
    assert!(source.get("git").is_none(), "{source}");
    assert!(
        source["dockerfile"]
            .as_str()
            .unwrap()
            .contains("pandas==2.2.3")
    );

    let source_build = request.with_strategy_config(
        json!({ "builderImage": "registry.access.redhat.com/ubi9/python-311:latest" }),
    );
    let message = SourceToImage
        .validate_config(&source_build)
        .expect_err("a Source build needs git")
        .to_string();
    assert!(message.contains("strategyConfig.builderImage"), "{message}");
}

#[test]
fn the_push_secret_pulls_only_from_its_own_registry() {
    let pull_secret = |base: &str| {
        let request = testkit::sample_request().with_base_image(base);
        let rendered = SourceToImage.render(&request).expect("renders");
        rendered.primary().object.data["spec"]["strategy"]["dockerStrategy"]["pullSecret"].clone()
    };
    // The output goes to registry.example.com with registry-push.
    assert_eq!(
        pull_secret("registry.example.com/team-a/base:1"),
        json!({ "name": "registry-push" })
    );
    // Elsewhere the builder's own account pulls, as OpenShift does without a pullSecret.
    assert_eq!(
        pull_secret("quay.io/jupyter/minimal-notebook:latest"),
        Value::Null
    );
}
