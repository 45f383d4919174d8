//! Build logs of backends that run their steps as pods (Tekton, Shipwright): the logs of every
//! pod with a label, oldest first.

use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, ListParams, LogParams};

use crate::LogTail;

/// Most bytes read for one container's tail: a bound on memory only, far above any tail kept.
const MOST_BYTES_READ: i64 = 1 << 20;

/// Asks for `container`'s last `tail.lines` lines. The byte limit is applied afterwards, from the
/// end: the API's `limitBytes` keeps the start of what it sends, which would cut off the last
/// lines, the ones that say why a build failed.
pub(crate) fn tail_params(container: &str, tail: LogTail) -> LogParams {
    LogParams {
        container: Some(container.to_owned()),
        tail_lines: Some(i64::from(tail.lines)),
        limit_bytes: Some(MOST_BYTES_READ.max(i64::from(tail.bytes))),
        ..LogParams::default()
    }
}

/// The logs of the containers named `<prefix>*` (init containers included, in order) of the
/// pods matching `selector`, oldest pod first, each headed by `==> pod/container <==`, bounded
/// by `tail`. A container without logs yet is skipped.
pub async fn of_labelled_pods(
    client: &Client,
    namespace: &str,
    selector: &str,
    prefix: &str,
    tail: LogTail,
) -> Result<String, kube::Error> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let mut listed = pods
        .list(&ListParams::default().labels(selector))
        .await?
        .items;
    listed.sort_by(|a, b| {
        a.metadata
            .creation_timestamp
            .cmp(&b.metadata.creation_timestamp)
    });
    let mut combined = String::new();
    for pod in &listed {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let spec = pod.spec.clone().unwrap_or_default();
        let containers = spec
            .init_containers
            .iter()
            .flatten()
            .chain(&spec.containers);
        for container in containers.filter(|c| c.name.starts_with(prefix)) {
            if let Ok(log) = pods.logs(&name, &tail_params(&container.name, tail)).await {
                combined.push_str(&format!("==> {name}/{} <==\n{log}\n", container.name));
            }
        }
    }
    Ok(tail.apply(&combined))
}
