//! The pod builders' shared half: how a build pod's states read as build statuses, and the
//! hooks a `PodStrategy` adds to what it inherits.

use buildstrategy_api::pod_build::{self, PodBuilder, PodStrategy};
use buildstrategy_api::resources::{RenderedObject, SetupStep};
use buildstrategy_api::{BuildRequest, BuildStrategy, StrategyError, StrategyInfo, Tier, testkit};
use k8s_openapi::api::rbac::v1::PolicyRule;
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::json;

/// A pod builder that declares nothing beyond its builder.
#[derive(Debug)]
struct Plain;

impl PodStrategy for Plain {
    fn info(&self) -> StrategyInfo {
        StrategyInfo::new("plain", Tier::Community, "a pod builder with the defaults")
    }

    fn builder(&self, request: &BuildRequest) -> Result<PodBuilder, StrategyError> {
        Ok(PodBuilder::new(
            "plain",
            "registry.example.com/builder:1",
            vec!["build".into()],
        )
        .security_context(json!({ "runAsNonRoot": true }))
        .env("CONTEXT", pod_build::context_dir(request)))
    }
}

/// A pod builder with a setup step, a required kind and an extra rule.
#[derive(Debug)]
struct WithHooks;

fn settings_kind() -> GroupVersionKind {
    GroupVersionKind::gvk("builders.example.com", "v1", "BuilderSettings")
}

impl PodStrategy for WithHooks {
    fn info(&self) -> StrategyInfo {
        StrategyInfo::new("hooks", Tier::Community, "a pod builder with hooks")
    }

    fn builder(&self, request: &BuildRequest) -> Result<PodBuilder, StrategyError> {
        Plain.builder(request)
    }

    fn extra_setup_steps(&self, request: &BuildRequest) -> Result<Vec<SetupStep>, StrategyError> {
        let api = ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&());
        let object = RenderedObject::for_request(api, "hooks-settings", request, json!({}));
        Ok(vec![SetupStep::new("ConfigMap hooks-settings", object)])
    }

    fn extra_required_kinds(&self) -> Vec<GroupVersionKind> {
        vec![settings_kind()]
    }

    fn extra_rbac_rules(&self) -> Vec<PolicyRule> {
        vec![PolicyRule {
            api_groups: Some(vec!["builders.example.com".into()]),
            resources: Some(vec!["buildersettings".into()]),
            verbs: vec!["get".into()],
            ..PolicyRule::default()
        }]
    }
}

#[test]
fn every_pod_state_reads_as_a_build_status() {
    insta::assert_snapshot!(testkit::status_table(
        &Plain,
        &testkit::pod_status_fixtures("churn-model-build")
    ));
}

#[test]
fn a_pod_builder_without_hooks_needs_only_pods() {
    let request = testkit::sample_request();
    assert!(
        BuildStrategy::setup_steps(&Plain, &request)
            .expect("steps")
            .is_empty()
    );
    assert!(BuildStrategy::required_kinds(&Plain).is_empty());
    assert_eq!(BuildStrategy::rbac_rules(&Plain), pod_build::rbac_rules());
    testkit::check_rbac(&Plain);
}

#[test]
fn hooks_add_to_what_a_pod_builder_inherits() {
    let request = testkit::sample_request();
    let steps = BuildStrategy::setup_steps(&WithHooks, &request).expect("steps");
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0].object.name(), "hooks-settings");
    assert_eq!(
        BuildStrategy::required_kinds(&WithHooks),
        vec![settings_kind()]
    );
    let rules = BuildStrategy::rbac_rules(&WithHooks);
    assert_eq!(rules.len(), pod_build::rbac_rules().len() + 1);
    assert!(rules.starts_with(&pod_build::rbac_rules()));
    testkit::check_rbac(&WithHooks);
}

#[test]
fn a_cache_repository_is_a_repository_without_tag_or_digest() {
    for good in [
        "registry.example.com/team/cache",
        "10.0.0.1:5000/builds/cache",
    ] {
        assert_eq!(pod_build::check_cache_repository(good), Ok(()), "{good}");
    }
    for bad in [
        "registry.example.com/team/cache:latest",
        "registry.example.com/team/cache@sha256:00",
        "cache",
        "registry.example.com/team/cache,mode=max",
        "-registry/cache",
    ] {
        assert!(pod_build::check_cache_repository(bad).is_err(), "{bad}");
    }
}
