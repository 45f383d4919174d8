//! The conformance kit: checks every strategy crate runs from its own tests.
//!
//! ```text
//! #[test]
//! fn conformance() {
//!     buildstrategy_api::testkit::check_offline(&MyStrategy::default(), &my_case());
//! }
//! ```
//!
//! Each check panics with a message naming the rule broken, like an assertion.

use kube::Client;
use kube::api::DynamicObject;
use serde_json::Value;

use crate::naming::is_dns_label;
use crate::rbac::check_rule;
use crate::{BuildPhase, BuildRequest, BuildStrategy, Requirements, StrategyError};

/// A backend state and the phase a strategy must map it to.
#[derive(Debug, Clone)]
pub struct StatusFixture {
    /// The backend's own name for the state ("Complete", "TaskRunTimeout", ...).
    pub state: &'static str,
    /// The primary object in that state, as the backend's controller writes it.
    pub object: Value,
    /// The phase expected.
    pub expected: BuildPhase,
}

/// What a strategy crate hands the kit.
#[derive(Debug, Clone)]
pub struct ConformanceCase {
    /// A request the strategy accepts.
    pub request: BuildRequest,
    /// `strategyConfig` values it must refuse, each with the field the message must name.
    pub invalid_configs: Vec<(Value, &'static str)>,
    /// One fixture per backend state.
    pub status_fixtures: Vec<StatusFixture>,
}

/// Strings an attacker could put in a job, which must never reach a shell unquoted.
pub const HOSTILE_VALUES: [&str; 6] = [
    "; rm -rf /",
    "$(id)",
    "`id`",
    "x\nid",
    "--upload-pack=touch /tmp/pwned",
    "' || id #",
];

/// Runs every check that needs no cluster.
pub fn check_offline(strategy: &dyn BuildStrategy, case: &ConformanceCase) {
    check_identity(strategy);
    check_config_validation(strategy, case);
    check_rbac(strategy);
    check_status_mapping(strategy, case);
    check_rendering(strategy, &case.request);
    check_hostile_input(strategy, &case.request);
}

/// Name and feature-flag format, and a one-line description.
pub fn check_identity(strategy: &dyn BuildStrategy) {
    let info = strategy.info();
    assert!(
        is_dns_label(info.name),
        "strategy name '{}' must be a lowercase DNS label",
        info.name
    );
    assert!(
        info.name.len() <= 32,
        "strategy name '{}' must be at most 32 characters",
        info.name
    );
    assert_eq!(info.feature_flag(), format!("build.strategy.{}", info.name));
    let description = info.description;
    assert!(
        !description.trim().is_empty() && !description.contains('\n') && description.len() <= 120,
        "strategy '{}' needs a one-line description of at most 120 characters",
        info.name
    );
}

/// The valid request passes; each invalid config is refused with a message naming its field.
pub fn check_config_validation(strategy: &dyn BuildStrategy, case: &ConformanceCase) {
    let name = strategy.info().name;
    if let Err(e) = strategy.validate_config(&case.request) {
        panic!("strategy '{name}' refused the valid request: {e}");
    }
    assert!(
        !case.invalid_configs.is_empty(),
        "strategy '{name}': give at least one invalid strategyConfig"
    );
    for (config, field) in &case.invalid_configs {
        let request = case.request.clone().with_strategy_config(config.clone());
        match strategy.validate_config(&request) {
            Ok(()) => panic!("strategy '{name}' accepted the invalid strategyConfig {config}"),
            Err(e @ StrategyError::InvalidConfig { .. }) => {
                let message = e.to_string();
                assert!(
                    message.contains(field),
                    "strategy '{name}': the message for {config} must name '{field}': {message}"
                );
                assert!(
                    message.len() >= 40,
                    "strategy '{name}': the message for {config} is too terse to act on: {message}"
                );
            }
            Err(other) => {
                panic!("strategy '{name}' refused {config} with a {other:?}, not InvalidConfig")
            }
        }
    }
    let unknown = case
        .request
        .clone()
        .with_strategy_config(serde_json::json!({ "noSuchKey": 1 }));
    assert!(
        strategy.validate_config(&unknown).is_err(),
        "strategy '{name}' must refuse unknown strategyConfig keys"
    );
}

/// RBAC rules are present and free of wildcards.
pub fn check_rbac(strategy: &dyn BuildStrategy) {
    let name = strategy.info().name;
    let rules = strategy.rbac_rules();
    assert!(
        !rules.is_empty(),
        "strategy '{name}' must declare the RBAC rules it needs"
    );
    for rule in &rules {
        if let Err(why) = check_rule(rule) {
            panic!("strategy '{name}': {why}");
        }
    }
}

/// Every fixture maps to its phase; the fixtures cover every phase but Cancelled (which not
/// every backend has); an empty object never maps to success.
pub fn check_status_mapping(strategy: &dyn BuildStrategy, case: &ConformanceCase) {
    let name = strategy.info().name;
    for fixture in &case.status_fixtures {
        let object: DynamicObject =
            serde_json::from_value(fixture.object.clone()).unwrap_or_else(|e| {
                panic!(
                    "strategy '{name}': fixture '{}' is not an object: {e}",
                    fixture.state
                )
            });
        let status = strategy.map_status(&object).unwrap_or_else(|e| {
            panic!(
                "strategy '{name}': fixture '{}' did not map: {e}",
                fixture.state
            )
        });
        assert_eq!(
            status.phase, fixture.expected,
            "strategy '{name}': backend state '{}'",
            fixture.state
        );
        assert!(
            !status.reason.is_empty() && !status.message.is_empty(),
            "strategy '{name}': state '{}' needs a reason and a message",
            fixture.state
        );
        if status.phase == BuildPhase::Succeeded {
            assert!(
                status.image.is_some(),
                "strategy '{name}': success in state '{}' must report the image",
                fixture.state
            );
        }
    }
    for phase in [
        BuildPhase::Pending,
        BuildPhase::Running,
        BuildPhase::Succeeded,
        BuildPhase::Failed,
    ] {
        assert!(
            case.status_fixtures.iter().any(|f| f.expected == phase),
            "strategy '{name}': no status fixture maps to {phase}"
        );
    }
    let empty: DynamicObject =
        serde_json::from_value(serde_json::json!({ "metadata": { "name": "x" } })).expect("object");
    if let Ok(status) = strategy.map_status(&empty) {
        assert_ne!(
            status.phase,
            BuildPhase::Succeeded,
            "strategy '{name}': an object without status must not be a success"
        );
    }
}

/// Rendering is deterministic (the base of idempotent creation), stays in the request's
/// namespace, and carries the request's owner and labels.
pub fn check_rendering(strategy: &dyn BuildStrategy, request: &BuildRequest) {
    let name = strategy.info().name;
    let first = strategy
        .render(request)
        .unwrap_or_else(|e| panic!("strategy '{name}' failed to render: {e}"));
    let second = strategy.render(request).expect("renders twice");
    assert_eq!(
        first, second,
        "strategy '{name}': rendering the same request twice must give the same objects"
    );
    assert!(!first.objects().is_empty());
    for object in first.objects() {
        let what = format!("strategy '{name}': {} '{}'", object.api.kind, object.name());
        assert!(
            is_dns_label(object.name()) || object.name().len() <= 253,
            "{what}: invalid name"
        );
        assert!(
            object.name().contains(&request.build_name),
            "{what}: names must derive from the build name"
        );
        assert_eq!(
            object.namespace(),
            request.namespace,
            "{what}: must be in the request's namespace"
        );
        assert!(
            object.object.types.is_some(),
            "{what}: apiVersion and kind must be set"
        );
        if let Some(owner) = &request.owner {
            assert_eq!(
                object.object.metadata.owner_references.as_deref(),
                Some(std::slice::from_ref(owner)),
                "{what}: must be owned by the job"
            );
        }
        for (key, value) in &request.labels {
            let labels = object.object.metadata.labels.clone().unwrap_or_default();
            assert_eq!(
                labels.get(key),
                Some(value),
                "{what}: must carry label {key}"
            );
        }
    }
}

/// Hostile values in every user field are either refused or kept out of shell scripts.
pub fn check_hostile_input(strategy: &dyn BuildStrategy, request: &BuildRequest) {
    let name = strategy.info().name;
    for hostile in HOSTILE_VALUES {
        let mut variants = vec![
            ("git ref", {
                let mut r = request.clone();
                r.source.git_ref = Some(hostile.to_owned());
                r
            }),
            ("git url", {
                let mut r = request.clone();
                r.source.url = format!("https://example.com/{hostile}");
                r
            }),
            ("contextDir", {
                let mut r = request.clone();
                r.source.context_dir = Some(hostile.to_owned());
                r
            }),
            (
                "package",
                request
                    .clone()
                    .with_requirements(Requirements::Packages(vec![hostile.to_owned()])),
            ),
            (
                "requirementsFile",
                request
                    .clone()
                    .with_requirements(Requirements::File(hostile.to_owned())),
            ),
            ("baseImage", request.clone().with_base_image(hostile)),
        ];
        for (field, variant) in variants.drain(..) {
            let Ok(rendered) = strategy.render(&variant) else {
                continue;
            };
            for object in rendered.objects() {
                let value = serde_json::to_value(&object.object).expect("serialisable");
                for script in shell_scripts(&value) {
                    assert!(
                        !script.contains(hostile),
                        "strategy '{name}': the {field} value {hostile:?} reached a shell script in {} '{}'",
                        object.api.kind,
                        object.name()
                    );
                }
            }
        }
    }
}

/// The scripts of every `sh -c SCRIPT` argv and every `script` field in `value`.
fn shell_scripts(value: &Value) -> Vec<String> {
    let mut found = Vec::new();
    match value {
        Value::Array(items) => {
            let strings: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
            if strings.len() == items.len() {
                for window in strings.windows(2) {
                    if window[0] == "-c"
                        || window[0].starts_with('-')
                            && window[0].ends_with('c')
                            && window[0].len() <= 4
                    {
                        found.push(window[1].to_owned());
                    }
                }
            }
            for item in items {
                found.extend(shell_scripts(item));
            }
        }
        Value::Object(map) => {
            // Tekton steps carry their shell script in `script`.
            if let Some(Value::String(script)) = map.get("script") {
                found.push(script.clone());
            }
            map.values().for_each(|v| found.extend(shell_scripts(v)));
        }
        _ => {}
    }
    found
}

/// Creates the build twice on a real cluster: the second call must succeed and change nothing.
pub async fn check_idempotent_create(
    strategy: &dyn BuildStrategy,
    client: &Client,
    request: &BuildRequest,
) {
    let name = strategy.info().name;
    strategy
        .ensure_prerequisites(client, request)
        .await
        .unwrap_or_else(|e| panic!("strategy '{name}': prerequisites: {e}"));
    strategy
        .ensure_prerequisites(client, request)
        .await
        .unwrap_or_else(|e| panic!("strategy '{name}': prerequisites again: {e}"));
    strategy
        .create_build(client, request)
        .await
        .unwrap_or_else(|e| panic!("strategy '{name}': create: {e}"));
    let rendered = strategy.render(request).expect("renders");
    let mut versions = Vec::new();
    for object in rendered.objects() {
        let live = crate::resources::get(client, object)
            .await
            .expect("readable")
            .unwrap_or_else(|| {
                panic!(
                    "strategy '{name}': {} '{}' was not created",
                    object.api.kind,
                    object.name()
                )
            });
        versions.push(live.metadata.resource_version);
    }
    strategy
        .create_build(client, request)
        .await
        .unwrap_or_else(|e| panic!("strategy '{name}': second create: {e}"));
    for (object, before) in rendered.objects().iter().zip(versions) {
        let live = crate::resources::get(client, object)
            .await
            .expect("readable")
            .expect("still there");
        assert_eq!(
            live.metadata.resource_version,
            before,
            "strategy '{name}': creating again changed {} '{}'",
            object.api.kind,
            object.name()
        );
    }
}

/// A typical request, owned by a job and labelled, for strategies' tests and snapshots.
pub fn sample_request() -> BuildRequest {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
    BuildRequest::new(
        "team-a",
        "churn-model-build",
        crate::GitSource::new("https://github.com/example/notebooks.git")
            .with_ref("main")
            .with_context_dir("churn"),
    )
    .with_owner(OwnerReference {
        api_version: "mlops.redhat.com/v1alpha1".into(),
        kind: "NotebookValidationJob".into(),
        name: "churn-model".into(),
        uid: "0b7f6c2e-5d1a-4c3b-9e8f-7a6b5c4d3e2f".into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    })
    .with_label("app.kubernetes.io/managed-by", "nbv-operator")
    .with_label("mlops.redhat.com/notebook-validation-job", "churn-model")
    .with_requirements(Requirements::File("requirements.txt".into()))
    .with_output_image("registry.example.com/team-a/churn-model:latest")
    .with_push_secret("registry-push")
    .with_timeout(std::time::Duration::from_secs(900))
    .with_service_account("nbv-builder")
}

/// [`sample_request`] without a git source: a base image plus a package list, as a
/// NotebookImage of `buildType: PackageList` asks for.
pub fn package_list_request() -> BuildRequest {
    sample_request()
        .without_source()
        .with_requirements(Requirements::Packages(vec!["pandas==2.2.3".into()]))
}

/// A pod as the kubelet reports it in `phase`, with the given container statuses.
pub fn pod_fixture(name: &str, phase: &str, extra_status: Value) -> Value {
    let mut status = serde_json::json!({ "phase": phase, "startTime": "2026-01-01T10:00:00Z" });
    if let (Value::Object(target), Value::Object(extra)) = (&mut status, extra_status) {
        target.extend(extra);
    }
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "team-a",
            "annotations": { crate::pod_build::OUTPUT_IMAGE_ANNOTATION: "registry.example.com/team-a/churn-model:latest" }
        },
        "status": status
    })
}

/// The status fixtures every pod-based strategy passes.
pub fn pod_status_fixtures(name: &str) -> Vec<StatusFixture> {
    use serde_json::json;
    let digest = format!("sha256:{}", "ab".repeat(32));
    let terminated = |exit: i32, reason: &str, message: &str| {
        json!({
            "name": "build", "ready": false, "restartCount": 0, "image": "builder", "imageID": "",
            "state": { "terminated": { "exitCode": exit, "reason": reason, "message": message, "finishedAt": "2026-01-01T10:05:00Z" } }
        })
    };
    vec![
        StatusFixture {
            state: "Pending",
            object: pod_fixture(name, "Pending", json!({})),
            expected: BuildPhase::Pending,
        },
        StatusFixture {
            state: "Pending/ImagePullBackOff",
            object: pod_fixture(
                name,
                "Pending",
                json!({ "initContainerStatuses": [{ "name": "clone", "ready": false, "restartCount": 0, "image": "git", "imageID": "", "state": { "waiting": { "reason": "ImagePullBackOff" } } }] }),
            ),
            expected: BuildPhase::Pending,
        },
        StatusFixture {
            state: "Running",
            object: pod_fixture(name, "Running", json!({})),
            expected: BuildPhase::Running,
        },
        StatusFixture {
            state: "Succeeded",
            object: pod_fixture(
                name,
                "Succeeded",
                json!({ "containerStatuses": [terminated(0, "Completed", &digest)] }),
            ),
            expected: BuildPhase::Succeeded,
        },
        StatusFixture {
            state: "Failed",
            object: pod_fixture(
                name,
                "Failed",
                json!({ "containerStatuses": [terminated(1, "Error", "error building image: pip install failed")] }),
            ),
            expected: BuildPhase::Failed,
        },
        StatusFixture {
            state: "Failed/OOMKilled",
            object: pod_fixture(
                name,
                "Failed",
                json!({ "containerStatuses": [terminated(137, "OOMKilled", "")] }),
            ),
            expected: BuildPhase::Failed,
        },
        StatusFixture {
            state: "Failed/DeadlineExceeded",
            object: pod_fixture(
                name,
                "Failed",
                json!({ "reason": "DeadlineExceeded", "message": "Pod was active on the node longer than the specified deadline" }),
            ),
            expected: BuildPhase::Failed,
        },
        StatusFixture {
            state: "Failed/clone",
            object: pod_fixture(
                name,
                "Failed",
                json!({ "initContainerStatuses": [{ "name": "clone", "ready": false, "restartCount": 0, "image": "git", "imageID": "", "state": { "terminated": { "exitCode": 128, "message": "fatal: couldn't find remote ref nope" } } }] }),
            ),
            expected: BuildPhase::Failed,
        },
        StatusFixture {
            state: "Cancelled",
            object: {
                let mut pod = pod_fixture(name, "Failed", json!({ "reason": "DeadlineExceeded" }));
                pod["metadata"]["annotations"][crate::pod_build::CANCELLED_ANNOTATION] =
                    json!("true");
                pod
            },
            expected: BuildPhase::Cancelled,
        },
    ]
}

/// Checks that a strategy called `name` is linked into the running test binary.
pub fn check_registered(name: &str) {
    let registry = crate::Registry::from_linked().unwrap_or_else(|e| panic!("registry: {e}"));
    assert!(
        registry.get(name).is_some(),
        "strategy '{name}' is not registered; call register_strategy! in the crate"
    );
}

/// A table of backend state → mapped status, one line each, for a snapshot.
pub fn status_table(strategy: &dyn BuildStrategy, fixtures: &[StatusFixture]) -> String {
    fixtures
        .iter()
        .map(|fixture| {
            let object: DynamicObject =
                serde_json::from_value(fixture.object.clone()).expect("fixture object");
            match strategy.map_status(&object) {
                Ok(status) => format!(
                    "{} => {} / {}: {}{}",
                    fixture.state,
                    status.phase,
                    status.reason,
                    status.message,
                    status.image.map(|i| format!(" [{i}]")).unwrap_or_default()
                ),
                Err(e) => format!("{} => error: {e}", fixture.state),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}
