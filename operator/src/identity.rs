//! How the operator names one object in claims, retry keys and messages.

use kube::ResourceExt;

/// `namespace/name` (`name` alone for a cluster-scoped object).
pub fn identity(object: &impl ResourceExt) -> String {
    match object.namespace() {
        Some(namespace) => format!("{namespace}/{}", object.name_any()),
        None => object.name_any(),
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
    use kube::api::ObjectMeta;

    #[test]
    fn names_namespaced_and_cluster_scoped_objects() {
        let meta = |namespace: Option<&str>| ObjectMeta {
            name: Some("a".into()),
            namespace: namespace.map(str::to_owned),
            ..ObjectMeta::default()
        };
        let namespaced = ConfigMap {
            metadata: meta(Some("ns")),
            ..ConfigMap::default()
        };
        let cluster = Namespace {
            metadata: meta(None),
            ..Namespace::default()
        };
        assert_eq!(super::identity(&namespaced), "ns/a");
        assert_eq!(super::identity(&cluster), "a");
    }
}
