//! An object too large for the API server is refused before anything is sent.

use buildstrategy_api::resources::{MAX_OBJECT_BYTES, RenderedBuild, RenderedObject};
use buildstrategy_api::{
    BuildPhase, BuildRequest, BuildStatus, BuildStrategy, GitSource, StrategyError, StrategyInfo,
    Tier,
};
use kube::api::DynamicObject;
use kube::core::ApiResource;
use serde_json::json;

/// Renders a ConfigMap holding `bytes` bytes, then the build's primary ConfigMap.
#[derive(Debug)]
struct Sized {
    bytes: usize,
}

impl BuildStrategy for Sized {
    fn info(&self) -> StrategyInfo {
        StrategyInfo::new("sized", Tier::Community, "renders objects of a chosen size")
    }

    fn render(&self, request: &BuildRequest) -> Result<RenderedBuild, StrategyError> {
        let api = ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&());
        let data = json!({ "data": { "payload": "x".repeat(self.bytes) } });
        let supporting = RenderedObject::for_request(api.clone(), "payload", request, data);
        let primary = RenderedObject::for_request(api, "primary", request, json!({}));
        Ok(RenderedBuild::new(vec![supporting], primary))
    }

    fn map_status(&self, _: &DynamicObject) -> Result<BuildStatus, StrategyError> {
        Ok(BuildStatus::new(BuildPhase::Pending, "Created", "created"))
    }
}

/// A client whose every call fails: nothing listens on port 1.
fn unreachable_client() -> kube::Client {
    let config = kube::Config::new("http://127.0.0.1:1".parse().expect("a URL"));
    kube::Client::try_from(config).expect("a client")
}

#[tokio::test]
async fn an_oversized_object_is_refused_before_anything_is_sent() {
    let request = BuildRequest::new("ns", "b", GitSource::new("https://git.example/nb.git"));
    let error = Sized {
        bytes: MAX_OBJECT_BYTES,
    }
    .create_build(&unreachable_client(), &request)
    .await
    .expect_err("too large");
    let StrategyError::TooLarge {
        kind, name, bytes, ..
    } = &error
    else {
        panic!("expected TooLarge, got {error:?}");
    };
    assert_eq!((kind.as_str(), name.as_str()), ("ConfigMap", "payload"));
    assert!(*bytes > MAX_OBJECT_BYTES);
    assert!(
        error.to_string().contains("more than the 1572864 bytes"),
        "{error}"
    );
}

#[tokio::test]
async fn objects_that_fit_are_sent() {
    let request = BuildRequest::new("ns", "b", GitSource::new("https://git.example/nb.git"));
    let error = Sized { bytes: 1024 }
        .create_build(&unreachable_client(), &request)
        .await
        .expect_err("nothing listens");
    assert!(
        matches!(error, StrategyError::Kube { .. }),
        "expected the call to be attempted, got {error:?}"
    );
}
