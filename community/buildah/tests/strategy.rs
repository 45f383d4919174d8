//! Conformance, snapshots and registration of the buildah strategy.

use buildstrategy_api::BuildStrategy;
use buildstrategy_api::testkit::{self, ConformanceCase};
use buildstrategy_buildah::Buildah;
use serde_json::json;

fn case() -> ConformanceCase {
    ConformanceCase {
        request: testkit::sample_request(),
        invalid_configs: vec![
            (
                json!({ "cacheRepo": "registry.example.com/cache,mode=min" }),
                "strategyConfig.cacheRepo",
            ),
            (
                json!({ "cacheRepo": "registry.example.com/cache:latest" }),
                "strategyConfig.cacheRepo",
            ),
            (
                json!({ "executor": "image with spaces" }),
                "strategyConfig.executor",
            ),
            (json!({ "gitImage": 7 }), "strategyConfig.gitImage"),
        ],
        status_fixtures: testkit::pod_status_fixtures("churn-model-build"),
    }
}

#[test]
fn passes_the_conformance_kit() {
    testkit::check_offline(&Buildah, &case());
}

#[test]
fn is_registered() {
    testkit::check_registered("buildah");
}

#[test]
fn renders_the_dockerfile_and_the_build_pod() {
    insta::assert_yaml_snapshot!(Buildah.render(&testkit::sample_request()).expect("renders"));
}

#[test]
fn requires_an_output_image() {
    let mut request = testkit::sample_request();
    request.output_image = None;
    let message = Buildah
        .validate_config(&request)
        .expect_err("refused")
        .to_string();
    assert!(message.contains("buildConfig.outputImage"), "{message}");
}

#[test]
fn renders_a_build_without_a_git_source_with_no_clone() {
    let request = testkit::package_list_request();
    Buildah.validate_config(&request).expect("valid");
    insta::assert_yaml_snapshot!(Buildah.render(&request).expect("renders"));
}

#[test]
fn a_build_without_a_git_source_takes_no_file_from_one() {
    let request = testkit::package_list_request().with_requirements(
        buildstrategy_api::Requirements::File("requirements.txt".into()),
    );
    let message = Buildah
        .validate_config(&request)
        .expect_err("refused")
        .to_string();
    assert!(message.contains("package list"), "{message}");
}

#[test]
fn caches_layers_in_the_cache_repository_when_named() {
    let request = testkit::sample_request()
        .with_strategy_config(json!({ "cacheRepo": "registry.example.com/team-a/cache" }));
    Buildah.validate_config(&request).expect("valid");
    insta::assert_yaml_snapshot!(Buildah.render(&request).expect("renders"));
}
