//! The operator's ClusterRole: its own needs plus the rules of exactly the compiled strategies.

use std::collections::BTreeMap;

use buildstrategy_api::rbac::{MANAGE, rule};
use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule};
use kube::api::ObjectMeta;

use crate::catalog::Catalog;

/// What the operator needs whatever strategies it has.
pub fn operator_rules() -> Vec<PolicyRule> {
    vec![
        // create, delete: a NotebookImage validates through jobs it owns.
        rule(
            "mlops.redhat.com",
            &["notebookvalidationjobs"],
            &[
                "get", "list", "watch", "create", "update", "patch", "delete",
            ],
        ),
        rule(
            "mlops.redhat.com",
            &["notebookvalidationjobs/status"],
            &["get", "update", "patch"],
        ),
        rule(
            "mlops.redhat.com",
            &["notebookvalidationjobs/finalizers"],
            &["update"],
        ),
        rule(
            "mlops.redhat.com",
            &["notebookimages"],
            &["get", "list", "watch", "update", "patch"],
        ),
        rule(
            "mlops.redhat.com",
            &["notebookimages/status"],
            &["get", "update", "patch"],
        ),
        rule(
            "mlops.redhat.com",
            &["notebookimages/finalizers"],
            &["update"],
        ),
        rule(
            "mlops.redhat.com",
            &["notebookvalidationsuites"],
            &["get", "list", "watch"],
        ),
        rule(
            "mlops.redhat.com",
            &["notebookvalidationsuites/status"],
            &["get", "update", "patch"],
        ),
        // Jobs and pods a suite owns block its deletion until they are gone.
        rule(
            "mlops.redhat.com",
            &["notebookvalidationsuites/finalizers"],
            &["update"],
        ),
        // A suite's listing pod prints the repository's notebooks to its log.
        rule("", &["pods/log"], &["get"]),
        // A NotebookImage's catalogue entry (publish.configMap), written with server-side apply.
        rule("", &["configmaps"], &["get", "create", "patch"]),
        // A NotebookImage's ImageStream tag, on OpenShift.
        rule(
            "image.openshift.io",
            &["imagestreams"],
            &["get", "create", "patch"],
        ),
        // patch: a pod still running at the verdict is stopped through its deadline.
        rule(
            "",
            &["pods"],
            &["get", "list", "watch", "create", "patch", "delete"],
        ),
        // The kubelet's events say why a validation pod cannot start (a missing secret).
        rule("", &["events"], &["list"]),
        rule("events.k8s.io", &["events"], &["create", "patch"]),
        rule("coordination.k8s.io", &["leases"], MANAGE),
        // Strategy detection reads the API server's discovery documents, which every
        // authenticated user may read; no rule is needed for it.
    ]
}

/// The operator's ClusterRole named `name`: its own rules, then each compiled strategy's, with
/// rules on the same API group and resources merged so the role stays short.
pub fn cluster_role(name: &str, catalog: &Catalog) -> ClusterRole {
    let mut merged: BTreeMap<(String, Vec<String>), Vec<String>> = BTreeMap::new();
    let strategy_rules = catalog.registry().iter().flat_map(|s| s.rbac_rules());
    for rule in operator_rules().into_iter().chain(strategy_rules) {
        let groups = rule.api_groups.clone().unwrap_or_default();
        let mut resources = rule.resources.clone().unwrap_or_default();
        resources.sort();
        for group in groups {
            let verbs = merged.entry((group, resources.clone())).or_default();
            verbs.extend(rule.verbs.iter().cloned());
            verbs.sort_by_key(|v| verb_rank(v));
            verbs.dedup();
        }
    }
    ClusterRole {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..ObjectMeta::default()
        },
        rules: Some(
            merged
                .into_iter()
                .map(|((group, resources), verbs)| PolicyRule {
                    api_groups: Some(vec![group]),
                    resources: Some(resources),
                    verbs,
                    ..PolicyRule::default()
                })
                .collect(),
        ),
        aggregation_rule: None,
    }
}

fn verb_rank(verb: &str) -> usize {
    [
        "get",
        "list",
        "watch",
        "create",
        "update",
        "patch",
        "delete",
        "deletecollection",
    ]
    .iter()
    .position(|v| *v == verb)
    .unwrap_or(usize::MAX)
}
