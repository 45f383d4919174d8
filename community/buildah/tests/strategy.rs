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
