//! The node's image registry (the distribution registry, `nbv-registry`): pod builds push to it
//! and the kubelet pulls from it by digest, over HTTPS with a certificate of the node's CA. Its
//! storage lives in the node's directory and goes with the node.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{NodeCa, NodeImage};
use crate::Error;

/// Where the registry listens: the node's address, a fixed port (one node per machine).
pub const REGISTRY: &str = "10.213.0.1:5000";

/// The registry's configuration for a node in `root`: storage and TLS files below it.
pub(crate) fn config(root: &Path, ca: &NodeCa) -> Result<PathBuf, Error> {
    let tls_dir = root.join("registry-tls");
    std::fs::create_dir_all(&tls_dir).map_err(|e| Error::io(&tls_dir, e))?;
    let tls = ca.serving_pair(&tls_dir)?;
    let config = serde_json::json!({
        "version": 0.1,
        "log": { "level": "warn", "accesslog": { "disabled": true } },
        "storage": { "filesystem": { "rootdirectory": root.join("registry") } },
        "http": {
            "addr": REGISTRY,
            "tls": { "certificate": tls.cert, "key": tls.key },
        },
    });
    // YAML is a superset of JSON: the registry reads this as its YAML configuration.
    let path = root.join("registry.yml");
    std::fs::write(&path, config.to_string()).map_err(|e| Error::io(&path, e))?;
    Ok(path)
}

/// Copies images from containerd's store into the node's registry.
#[derive(Debug, Clone)]
pub struct NodeRegistry {
    pub(crate) containerd_socket: PathBuf,
    pub(crate) ca_cert: PathBuf,
}

impl NodeRegistry {
    /// The registry's address (`host:port`).
    pub fn address(&self) -> &'static str {
        REGISTRY
    }

    /// Pushes `image` (imported into the node) to the registry as `<registry>/nbv/<name>:<key>`
    /// and returns that reference: a base image that pod builds can pull.
    pub fn push(&self, image: &NodeImage) -> Result<String, Error> {
        let (name, key) = name_and_tag(image)?;
        self.push_tagged(image, &format!("{name}:{key}"))
    }

    /// Pushes `image` to the registry as `<registry>/nbv/<name_tag>` and returns that reference.
    pub fn push_tagged(&self, image: &NodeImage, name_tag: &str) -> Result<String, Error> {
        let remote = format!("{REGISTRY}/nbv/{name_tag}");
        let output = Command::new("ctr")
            .arg("--address")
            .arg(&self.containerd_socket)
            .args(["--namespace", "k8s.io", "images", "push", "--tlscacert"])
            .arg(&self.ca_cert)
            .args([remote.as_str(), image.reference.as_str()])
            .output()
            .map_err(|e| Error::io("ctr", e))?;
        if !output.status.success() {
            return Err(Error::Invalid(format!(
                "ctr images push {remote}: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        Ok(remote)
    }

    /// Whether the registry answers on its address.
    pub(crate) fn listening() -> bool {
        REGISTRY.parse::<std::net::SocketAddr>().is_ok_and(|addr| {
            std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(50))
                .is_ok()
        })
    }
}

/// `nbv.local/<name>:<key>` → (`<name>`, `<key>`).
fn name_and_tag(image: &NodeImage) -> Result<(&str, &str), Error> {
    image
        .reference
        .strip_prefix("nbv.local/")
        .and_then(|rest| rest.split_once(':'))
        .ok_or_else(|| Error::Invalid(format!("not a node image: {}", image.reference)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_registry_listens_on_the_node_address() {
        assert_eq!(
            super::REGISTRY.split_once(':').map(|(host, _)| host),
            Some(crate::node::GATEWAY)
        );
    }
}
