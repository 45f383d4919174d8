//! Building the RBAC rules strategies declare, and checking them.

use k8s_openapi::api::rbac::v1::PolicyRule;

/// A rule granting `verbs` on `resources` of API group `group` (`""` for the core group).
pub fn rule(group: &str, resources: &[&str], verbs: &[&str]) -> PolicyRule {
    PolicyRule {
        api_groups: Some(vec![group.to_owned()]),
        resources: Some(resources.iter().map(|r| (*r).to_owned()).collect()),
        verbs: verbs.iter().map(|v| (*v).to_owned()).collect(),
        ..PolicyRule::default()
    }
}

/// The verbs a strategy needs on objects it creates and tracks.
pub const MANAGE: &[&str] = &[
    "get", "list", "watch", "create", "update", "patch", "delete",
];

/// The verbs a strategy needs on objects it only reads.
pub const READ: &[&str] = &["get", "list", "watch"];

/// Why a rule is unacceptable, if it is: wildcards, empty lists, non-resource URLs.
pub fn check_rule(rule: &PolicyRule) -> Result<(), String> {
    let groups = rule.api_groups.as_deref().unwrap_or_default();
    let resources = rule.resources.as_deref().unwrap_or_default();
    if groups.is_empty() || resources.is_empty() || rule.verbs.is_empty() {
        return Err(format!(
            "rule {rule:?} must name API groups, resources and verbs"
        ));
    }
    let all = groups.iter().chain(resources).chain(&rule.verbs);
    if let Some(wild) = all.clone().find(|s| s.contains('*')) {
        return Err(format!(
            "rule {rule:?} uses the wildcard '{wild}'; list what is needed instead"
        ));
    }
    if rule
        .non_resource_urls
        .as_ref()
        .is_some_and(|u| !u.is_empty())
    {
        return Err(format!(
            "rule {rule:?} grants non-resource URLs, which no strategy needs"
        ));
    }
    Ok(())
}
