//! The out-of-tree strategy passes the same conformance kit as the in-tree ones.

use buildstrategy_api::testkit::{self, ConformanceCase};
use buildstrategy_podman::Podman;
use serde_json::json;

#[test]
fn passes_the_conformance_kit() {
    let case = ConformanceCase {
        request: testkit::sample_request(),
        invalid_configs: vec![(json!({ "executor": "not an image!" }), "strategyConfig.executor")],
        status_fixtures: testkit::pod_status_fixtures("churn-model-build"),
    };
    testkit::check_offline(&Podman, &case);
    testkit::check_registered("podman");
}
