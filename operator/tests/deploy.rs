//! The generated deployment manifests (`deploy/kustomize/<set>` and the Helm chart, from
//! `cargo xtask manifests`) on the real control plane, and the operator's HTTP endpoints.
//!
//! The manifests are rendered with the kubectl and helm that `cargo xtask controlplane build`
//! builds next to the servers, and every object passes server-side apply (dry run, strict field
//! validation).

mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, CustomResourceDefinitionSpec,
};
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::{Scope, oneshot::pinned_kind};
use notebook_validator_operator::catalog::Catalog;
use notebook_validator_operator::config::EnabledStrategies;
use notebook_validator_operator::crd::Phase;
use notebook_validator_operator::{controller, health, rbac};
use serde_json::{Value, json};
use support::{Harness, condition, job_yaml};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// A stand-in for the Prometheus Operator's ServiceMonitor CRD (the control plane has none),
/// with the upstream names of the fields the manifests use, so strict validation checks them.
const SERVICE_MONITOR_CRD: &str = r"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: servicemonitors.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  scope: Namespaced
  names: { kind: ServiceMonitor, listKind: ServiceMonitorList, plural: servicemonitors, singular: servicemonitor }
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [selector, endpoints]
            properties:
              selector:
                type: object
                properties:
                  matchLabels: { type: object, additionalProperties: { type: string } }
              endpoints:
                type: array
                items:
                  type: object
                  properties:
                    port: { type: string }
                    path: { type: string }
                    interval: { type: string, pattern: '^(0|(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$' }
";

/// A stand-in for the Prometheus Operator's PrometheusRule CRD, with its upstream field names
/// and types for the rules, so strict validation checks what the chart renders.
const PROMETHEUS_RULE_CRD: &str = r"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: prometheusrules.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  scope: Namespaced
  names: { kind: PrometheusRule, listKind: PrometheusRuleList, plural: prometheusrules, singular: prometheusrule }
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              groups:
                type: array
                items:
                  type: object
                  required: [name]
                  properties:
                    name: { type: string, minLength: 1 }
                    interval: { type: string }
                    rules:
                      type: array
                      items:
                        type: object
                        required: [expr]
                        properties:
                          alert: { type: string }
                          record: { type: string }
                          expr: { x-kubernetes-int-or-string: true }
                          for: { type: string, pattern: '^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$' }
                          labels: { type: object, additionalProperties: { type: string } }
                          annotations: { type: object, additionalProperties: { type: string } }
";

const S2I_BUILD: &str = "  podConfig:\n    buildConfig:\n      enabled: true\n      strategy: s2i\n      requirementsFile: requirements.txt\n";
const PREBUILT: &str =
    "  podConfig:\n    containerImage: quay.io/jupyter/minimal-notebook:2025-06-30\n";

/// The feature set whose manifests this build must match.
fn set() -> &'static str {
    if cfg!(feature = "community") {
        "community"
    } else {
        "s2i"
    }
}

/// `deploy/<parts>` in the work tree.
fn deploy_path(parts: &[&str]) -> PathBuf {
    [env!("CARGO_MANIFEST_DIR"), "..", "deploy"]
        .iter()
        .chain(parts)
        .collect()
}

/// `name` (kubectl, helm) from the directory `cargo xtask controlplane build` fills.
fn tool(name: &str) -> PathBuf {
    nbv_testenv::Binaries::locate()
        .expect("control-plane binaries")
        .dir
        .join(name)
}

/// Runs `tool` with `args`: the YAML documents it printed, or what it said on failure.
fn rendered_by(tool: &std::path::Path, args: &[std::ffi::OsString]) -> Result<Vec<Value>, String> {
    let output = std::process::Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", tool.display()));
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    let text = String::from_utf8(output.stdout).expect("utf-8");
    Ok(serde_yaml_ng::Deserializer::from_str(&text)
        .map(|doc| serde::Deserialize::deserialize(doc).expect("a YAML document"))
        .filter(|doc: &Value| !doc.is_null())
        .collect())
}

/// The objects of `deploy/kustomize/<set>/<overlay>`, as `kubectl kustomize` renders them.
fn render_set(set: &str, overlay: &str) -> Vec<Value> {
    let dir = deploy_path(&["kustomize", set, overlay]);
    rendered_by(&tool("kubectl"), &["kustomize".into(), dir.clone().into()])
        .unwrap_or_else(|e| panic!("kubectl kustomize {}: {e}", dir.display()))
}

/// The same for this build's feature set.
fn render(overlay: &str) -> Vec<Value> {
    render_set(set(), overlay)
}

/// The Helm chart's objects, CRD included, as `helm template` renders them with `values`
/// (`key=value` pairs for `--set`), or helm's error.
fn helm_template(values: &[&str]) -> Result<Vec<Value>, String> {
    let chart = deploy_path(&["helm", "notebook-validator-operator"]);
    let mut args: Vec<std::ffi::OsString> = [
        "template",
        "nbv",
        "--namespace",
        "nbv-system",
        "--include-crds",
        // Offline, helm assumes an old Kubernetes, which the chart's kubeVersion refuses.
        "--kube-version",
        nbv_testenv::KUBERNETES_VERSION,
    ]
    .map(Into::into)
    .into();
    args.push(chart.into());
    for value in values {
        args.extend(["--set".into(), (*value).into()]);
    }
    rendered_by(&tool("helm"), &args)
}

fn find<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in the manifests"))
}

/// Server-side applies `object` as a dry run with strict field validation; namespaced objects
/// go to `namespace` (the manifests' own namespace does not exist in the test cluster).
async fn dry_run_apply(
    client: &kube::Client,
    namespace: &str,
    object: &Value,
) -> Result<(), kube::Error> {
    let mut object: DynamicObject = serde_json::from_value(object.clone()).expect("an object");
    let types = object.types.clone().expect("apiVersion and kind");
    let gvk = GroupVersionKind::try_from(&types).expect("group, version, kind");
    let (resource, capabilities) = pinned_kind(client, &gvk).await?;
    let api: Api<DynamicObject> = if capabilities.scope == Scope::Namespaced {
        object.metadata.namespace = Some(namespace.to_owned());
        Api::namespaced_with(client.clone(), namespace, &resource)
    } else {
        Api::all_with(client.clone(), &resource)
    };
    let name = object.metadata.name.clone().expect("a name");
    let params = PatchParams::apply("nbv-deploy-test")
        .force()
        .dry_run()
        .validation_strict();
    api.patch(&name, &params, &Patch::Apply(&object))
        .await
        .map(|_| ())
}

/// The kinds of `objects`, sorted.
fn kinds(objects: &[Value]) -> Vec<&str> {
    let mut kinds: Vec<&str> = objects
        .iter()
        .map(|o| o["kind"].as_str().expect("kind"))
        .collect();
    kinds.sort_unstable();
    kinds
}

/// [`dry_run_apply`] of every object; the test fails at the first one refused.
async fn dry_run_apply_all(h: &Harness, objects: &[Value]) {
    for object in objects {
        if let Err(e) = dry_run_apply(&h.env.client, &h.env.namespace, object).await {
            panic!(
                "{} {} refused: {e}",
                object["kind"], object["metadata"]["name"]
            );
        }
    }
}

#[tokio::test]
async fn every_generated_object_passes_server_side_dry_run_apply() {
    let h = Harness::new("manifests").await;
    h.env
        .install_crds(&[SERVICE_MONITOR_CRD])
        .await
        .expect("ServiceMonitor stand-in");
    let objects = render("monitoring");
    assert_eq!(
        kinds(&objects),
        [
            "ClusterRole",
            "ClusterRoleBinding",
            "ConfigMap",
            "CustomResourceDefinition",
            "CustomResourceDefinition",
            "CustomResourceDefinition",
            "Deployment",
            "Namespace",
            "Service",
            "ServiceAccount",
            "ServiceMonitor"
        ]
    );
    dry_run_apply_all(&h, &objects).await;
    // The base alone leaves the ServiceMonitor out, for clusters without the Prometheus Operator.
    assert!(!render("base").iter().any(|o| o["kind"] == "ServiceMonitor"));

    let container = &find(&objects, "Deployment")["spec"]["template"]["spec"]["containers"][0];
    let env = container["env"].as_array().expect("env");
    let var = |name: &str| env.iter().find(|e| e["name"] == name).cloned();
    assert_eq!(
        var("NBV_RUNNER_IMAGE").map(|e| e["value"].clone()),
        Some(container["image"].clone()),
        "validation pods must copy the runner from the operator's own image"
    );
    assert_eq!(
        var("NBV_CONFIG").map(|e| e["value"].clone()),
        Some(json!("/etc/nbv/config.yaml"))
    );
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert!(
        container["args"]
            .as_array()
            .expect("args")
            .contains(&json!("--leader-elect"))
    );
    let config = find(&objects, "ConfigMap")["data"]["config.yaml"]
        .as_str()
        .expect("config.yaml");
    let parsed: notebook_validator_operator::config::OperatorConfig =
        serde_yaml_ng::from_str(config).expect("the operator reads its config");
    assert!(parsed.enabled_build_strategies.is_empty());
}

#[tokio::test]
async fn the_helm_chart_lints_and_its_objects_pass_server_side_dry_run_apply() {
    let h = Harness::new("chart").await;
    h.env
        .install_crds(&[SERVICE_MONITOR_CRD])
        .await
        .expect("ServiceMonitor stand-in");
    let chart = deploy_path(&["helm", "notebook-validator-operator"]);
    let lint = std::process::Command::new(tool("helm"))
        .args(["lint", "--strict"])
        .arg(&chart)
        .output()
        .expect("helm lint");
    assert!(
        lint.status.success(),
        "helm lint: {}",
        String::from_utf8_lossy(&lint.stdout)
    );

    let objects = helm_template(&[
        "enabledStrategies={tekton,buildah}",
        "serviceMonitor.enabled=true",
        "watchNamespace=team-a",
    ])
    .unwrap_or_else(|e| panic!("helm template: {e}"));
    assert_eq!(
        kinds(&objects),
        [
            "ClusterRole",
            "ClusterRoleBinding",
            "ConfigMap",
            "CustomResourceDefinition",
            "CustomResourceDefinition",
            "CustomResourceDefinition",
            "Deployment",
            "Service",
            "ServiceAccount",
            "ServiceMonitor"
        ]
    );
    dry_run_apply_all(&h, &objects).await;
    let config = find(&objects, "ConfigMap")["data"]["config.yaml"]
        .as_str()
        .expect("config.yaml");
    let parsed: notebook_validator_operator::config::OperatorConfig =
        serde_yaml_ng::from_str(config).expect("the operator reads its config");
    assert_eq!(parsed.enabled_build_strategies, ["tekton", "buildah"]);
    let args = &find(&objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"];
    let args: Vec<&str> = args
        .as_array()
        .expect("args")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        args.windows(2).any(|w| w == ["--namespace", "team-a"]),
        "{args:?}"
    );

    // The chart deploys the community image: the same role and CRD as that set's manifests.
    let kustomized = render_set("community", "base");
    assert_eq!(
        find(&objects, "ClusterRole")["rules"],
        find(&kustomized, "ClusterRole")["rules"]
    );
    // Typed, so that kubectl's `0` and helm's `0.0` read the same; by name, as each tool
    // orders them its own way.
    let crds = |objects: &[Value]| -> Vec<(String, CustomResourceDefinitionSpec)> {
        let mut crds: Vec<_> = objects
            .iter()
            .filter(|o| o["kind"] == "CustomResourceDefinition")
            .map(|o| {
                let crd: CustomResourceDefinition = serde_json::from_value(o.clone()).expect("CRD");
                (crd.metadata.name.unwrap_or_default(), crd.spec)
            })
            .collect();
        crds.sort_by(|a, b| a.0.cmp(&b.0));
        crds
    };
    assert!(
        crds(&objects) == crds(&kustomized),
        "the chart's CRDs differ from the manifests': run `cargo xtask manifests`"
    );

    // A strategy the image does not hold is refused by the values schema, naming those it does.
    let refused = helm_template(&["enabledStrategies={podman}"]).expect_err("refused");
    assert!(
        refused.contains("enabledStrategies") && refused.contains("'tekton'"),
        "{refused}"
    );
}

#[tokio::test]
async fn the_chart_serves_the_alerting_rules_and_the_dashboard_when_asked() {
    let h = Harness::new("chart-monitoring").await;
    h.env
        .install_crds(&[PROMETHEUS_RULE_CRD])
        .await
        .expect("PrometheusRule stand-in");
    let off = helm_template(&[]).unwrap_or_else(|e| panic!("helm template: {e}"));
    assert!(!kinds(&off).contains(&"PrometheusRule"), "off by default");
    let objects = helm_template(&[
        "prometheusRule.enabled=true",
        "prometheusRule.labels.release=kube-prometheus",
        "grafanaDashboard.enabled=true",
        "imagePullSecrets[0].name=quay-pull",
    ])
    .unwrap_or_else(|e| panic!("helm template: {e}"));
    let rule = find(&objects, "PrometheusRule");
    assert_eq!(rule["metadata"]["labels"]["release"], "kube-prometheus");
    // Prometheus's own templates reach it untouched by Helm's.
    assert_eq!(
        rule["spec"],
        serde_json::to_value(notebook_validator_operator::monitoring::alert_rules())
            .expect("rules")
    );
    let dashboard = objects
        .iter()
        .find(|o| o["kind"] == "ConfigMap" && o["metadata"]["labels"]["grafana_dashboard"] == "1")
        .expect("the dashboard ConfigMap");
    let json: Value = serde_json::from_str(
        dashboard["data"]["nbv-operator.json"]
            .as_str()
            .expect("the dashboard's JSON"),
    )
    .expect("JSON");
    assert_eq!(json, notebook_validator_operator::monitoring::dashboard());
    assert_eq!(
        find(&objects, "Deployment")["spec"]["template"]["spec"]["imagePullSecrets"],
        serde_json::json!([{ "name": "quay-pull" }])
    );
    let monitoring: Vec<Value> = objects
        .iter()
        .filter(|o| o["kind"] == "PrometheusRule" || o == &dashboard)
        .cloned()
        .collect();
    dry_run_apply_all(&h, &monitoring).await;
}

#[tokio::test]
async fn the_generated_cluster_role_is_exactly_this_builds_and_has_no_wildcards() {
    let objects = render("base");
    let role: ClusterRole =
        serde_json::from_value(find(&objects, "ClusterRole").clone()).expect("ClusterRole");
    let catalog = Catalog::linked(EnabledStrategies::resolve(None, None, &[]).expect("config"))
        .expect("registry");
    assert_eq!(
        role.rules,
        rbac::cluster_role("nbv-operator", &catalog).rules,
        "deploy/kustomize/{} is stale: run `cargo xtask manifests`",
        set()
    );
    for rule in role.rules.iter().flatten() {
        buildstrategy_api::rbac::check_rule(rule).unwrap_or_else(|why| panic!("{why}"));
    }
}

#[tokio::test]
async fn the_operator_pod_meets_the_restricted_pod_security_level() {
    // The harness's namespace enforces the restricted level.
    let h = Harness::new("restricted").await;
    let objects = render("base");
    let template = &find(&objects, "Deployment")["spec"]["template"];
    let service_accounts: Api<ServiceAccount> =
        Api::namespaced(h.env.client.clone(), &h.env.namespace);
    let mut account: ServiceAccount =
        serde_json::from_value(find(&objects, "ServiceAccount").clone()).expect("account");
    account.metadata.namespace = None;
    service_accounts
        .create(&PostParams::default(), &account)
        .await
        .expect("service account");
    let pod = |template: &Value| -> Pod {
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": { "name": "nbv-operator", "labels": template["metadata"]["labels"] },
            "spec": template["spec"],
        }))
        .expect("pod")
    };
    let dry_run = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    h.pods()
        .create(&dry_run, &pod(template))
        .await
        .expect("the operator pod is admitted at the restricted level");
    // The same pod without its container's security context is refused: the check is real.
    let mut loose = template.clone();
    loose["spec"]["containers"][0]
        .as_object_mut()
        .expect("container")
        .remove("securityContext");
    let err = h
        .pods()
        .create(&dry_run, &pod(&loose))
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("restricted"), "{err}");
}

/// Binds `rules` as a ClusterRole to the ServiceAccount `nbv-operator` of the harness namespace
/// and returns a client acting as it, and a guard that removes role and binding.
async fn operator_client(h: &Harness, rules: Vec<PolicyRule>) -> (kube::Client, RoleGuard) {
    let name = format!("nbv-operator-{}", h.env.namespace);
    let role = ClusterRole {
        metadata: kube::api::ObjectMeta {
            name: Some(name.clone()),
            ..Default::default()
        },
        rules: Some(rules),
        aggregation_rule: None,
    };
    let binding: ClusterRoleBinding = serde_json::from_value(json!({
        "metadata": { "name": name },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name },
        "subjects": [{ "kind": "ServiceAccount", "name": "nbv-operator", "namespace": h.env.namespace }],
    }))
    .expect("binding");
    let roles: Api<ClusterRole> = Api::all(h.env.client.clone());
    let bindings: Api<ClusterRoleBinding> = Api::all(h.env.client.clone());
    roles
        .create(&PostParams::default(), &role)
        .await
        .expect("role");
    bindings
        .create(&PostParams::default(), &binding)
        .await
        .expect("binding");
    let client = h
        .env
        .service_account_client("nbv-operator")
        .await
        .expect("service account client");
    (
        client,
        RoleGuard {
            roles,
            bindings,
            name,
        },
    )
}

struct RoleGuard {
    roles: Api<ClusterRole>,
    bindings: Api<ClusterRoleBinding>,
    name: String,
}

impl RoleGuard {
    async fn remove(self) {
        self.bindings
            .delete(&self.name, &DeleteParams::default())
            .await
            .expect("binding removed");
        self.roles
            .delete(&self.name, &DeleteParams::default())
            .await
            .expect("role removed");
    }
}

/// The generated ClusterRole's rules.
fn generated_rules() -> Vec<PolicyRule> {
    let role: ClusterRole =
        serde_json::from_value(find(&render("base"), "ClusterRole").clone()).expect("role");
    role.rules.expect("rules")
}

/// `rules` without `verb` on `resource` of `group`; other resources of a rule keep it.
fn without(rules: Vec<PolicyRule>, group: &str, resource: &str, verb: &str) -> Vec<PolicyRule> {
    let mut out = Vec::new();
    for rule in rules {
        let groups = rule.api_groups.clone().unwrap_or_default();
        let resources = rule.resources.clone().unwrap_or_default();
        if groups != [group] || !resources.iter().any(|r| r == resource) {
            out.push(rule);
            continue;
        }
        let others: Vec<String> = resources.into_iter().filter(|r| r != resource).collect();
        if !others.is_empty() {
            out.push(PolicyRule {
                resources: Some(others),
                ..rule.clone()
            });
        }
        out.push(PolicyRule {
            resources: Some(vec![resource.to_owned()]),
            verbs: rule.verbs.iter().filter(|v| *v != verb).cloned().collect(),
            ..rule
        });
    }
    out
}

#[tokio::test]
async fn the_operator_completes_a_build_under_exactly_the_generated_cluster_role() {
    let mut h = Harness::new("generated-role").await;
    let (client, guard) = operator_client(&h, generated_rules()).await;
    h.start_operator(&[], Some(client));
    h.create_job(&job_yaml("least", S2I_BUILD)).await;
    h.wait_object(
        &h.dynamic("build.openshift.io", "v1", "Build"),
        "least-build",
    )
    .await;
    h.patch_build("least-build", json!({
        "phase": "Complete", "outputDockerImageReference": "registry.local/ns/least-build:latest",
        "output": { "to": { "imageDigest": format!("sha256:{}", "ef".repeat(32)) } }
    }))
    .await;
    h.wait_object(&h.pods(), "least-validation").await;
    h.pass_pod("least-validation").await;
    h.wait_phase("least", Phase::Succeeded).await;
    h.stop_operator();
    guard.remove().await;
}

#[tokio::test]
async fn a_missing_permission_fails_the_job_naming_verb_resource_and_group() {
    let mut h = Harness::new("missing-rule").await;
    let rules = without(generated_rules(), "", "pods", "create");
    let rules = without(rules, "build.openshift.io", "builds", "create");
    let (client, guard) = operator_client(&h, rules).await;
    h.start_operator(&[], Some(client));
    h.create_job(&job_yaml("no-pods", PREBUILT)).await;
    h.create_job(&job_yaml("no-builds", S2I_BUILD)).await;
    for (job, denied) in [
        (
            "no-pods",
            r#"cannot create resource "pods" in API group """#,
        ),
        (
            "no-builds",
            r#"cannot create resource "builds" in API group "build.openshift.io""#,
        ),
    ] {
        let failed = h.wait_phase(job, Phase::Failed).await;
        let (_, reason, message) = condition(&failed, "Ready").expect("Ready");
        assert_eq!(reason, "Forbidden", "{message}");
        assert!(message.contains(denied), "{job}: {message}");
    }
    let events = h.events().await;
    assert!(
        events
            .iter()
            .any(|(reason, note)| reason == "Forbidden" && note.contains("\"pods\"")),
        "{events:?}"
    );
    h.stop_operator();
    guard.remove().await;
}

/// GETs `path` from `addr`: status code and body.
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: nbv\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .expect("request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .await
        .expect("response");
    let code = response
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response}"));
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (code, body)
}

#[tokio::test]
async fn metrics_health_and_readiness_are_served_and_stop_on_shutdown() {
    let h = Harness::new("endpoints").await;
    let ctx = h.context(&[], None);
    let (metrics, readiness) = (ctx.metrics.clone(), ctx.health.clone());
    let listener = health::bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let stop = CancellationToken::new();
    let server = tokio::spawn(health::serve(listener, metrics, readiness, stop.clone()));
    assert_eq!(get(addr, "/healthz").await, (200, "ok".into()));
    assert_eq!(
        get(addr, "/readyz").await.0,
        503,
        "not ready before the controller runs"
    );

    let namespace = h.env.namespace.clone();
    let controller_stop = stop.clone();
    let operator = tokio::spawn(async move {
        controller::run_until(ctx, Some(&namespace), controller_stop)
            .await
            .expect("controller")
    });
    let mut ready = (0, String::new());
    for _ in 0..100 {
        ready = get(addr, "/readyz").await;
        if ready.0 == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ready, (200, "leading; caches synced".into()));

    h.create_job(&job_yaml("measured", PREBUILT)).await;
    h.wait_object(&h.pods(), "measured-validation").await;
    h.pass_pod("measured-validation").await;
    h.wait_phase("measured", Phase::Succeeded).await;
    // The counters move just after the status write the job's phase shows: poll briefly.
    let mut scraped = get(addr, "/metrics").await;
    for _ in 0..50 {
        if scraped
            .1
            .contains(r#"nbv_validations_total{outcome="Passed"} 1"#)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        scraped = get(addr, "/metrics").await;
    }
    let (code, text) = scraped;
    assert_eq!(code, 200);
    for line in [
        r#"nbv_validations_total{outcome="Passed"} 1"#,
        r#"nbv_jobs{phase="Succeeded"} 1"#,
        r#"nbv_jobs{phase="Failed"} 0"#,
    ] {
        assert!(text.contains(line), "{line} missing from:\n{text}");
    }
    let reconciles: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("nbv_reconcile_duration_seconds_count "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no reconcile count in:\n{text}"));
    assert!(reconciles >= 2, "{reconciles}");

    stop.cancel();
    tokio::time::timeout(Duration::from_secs(10), async {
        operator.await.expect("controller task");
        server.await.expect("server task").expect("server");
    })
    .await
    .expect("the controller and the server stop on shutdown");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the port is closed"
    );
}
