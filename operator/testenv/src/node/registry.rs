//! The node's image registry (the distribution registry, `nbv-registry`): pod builds push to it
//! and the kubelet pulls from it by digest, over HTTPS with a certificate of the node's CA. Like
//! Quay, Harbor or OpenShift's registry, it asks for credentials (htpasswd, one user with a
//! password made per node), so a build that does not push with the job's `pushSecret`, or a pod
//! that does not pull with a pull secret, is refused. Its storage lives in the node's directory
//! and goes with the node.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{NodeCa, NodeImage};
use crate::Error;

/// Where the registry listens: the node's address, a fixed port (one node per machine).
pub const REGISTRY: &str = "10.213.0.1:5000";

/// The one user of the node's registry.
pub const REGISTRY_USER: &str = "nbv";

/// A login to the node's registry.
#[derive(Clone, PartialEq, Eq)]
pub struct RegistryCredentials {
    /// The user name.
    pub username: String,
    /// The password, made for this node.
    pub password: String,
}

impl std::fmt::Debug for RegistryCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl RegistryCredentials {
    /// A `.dockerconfigjson` for the registry: the content of a `kubernetes.io/dockerconfigjson`
    /// Secret and of a Docker `config.json`.
    pub fn docker_config_json(&self) -> String {
        use base64::Engine as _;
        let auth = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", self.username, self.password));
        serde_json::json!({ "auths": { REGISTRY: {
            "username": self.username,
            "password": self.password,
            "auth": auth,
        }}})
        .to_string()
    }

    /// A `kubernetes.io/dockerconfigjson` Secret named `name` holding this login, as YAML.
    pub fn secret_manifest(&self, name: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\ntype: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: '{}'\n",
            self.docker_config_json()
        )
    }
}

/// The registry's configuration for a node in `root`: storage, TLS and htpasswd files below it,
/// and a new password.
pub(crate) fn config(root: &Path, ca: &NodeCa) -> Result<(PathBuf, RegistryCredentials), Error> {
    let tls_dir = root.join("registry-tls");
    std::fs::create_dir_all(&tls_dir).map_err(|e| Error::io(&tls_dir, e))?;
    let tls = ca.serving_pair(&tls_dir)?;
    let credentials = RegistryCredentials {
        username: REGISTRY_USER.to_owned(),
        password: new_password()?,
    };
    // bcrypt's lowest cost: the registry checks it on every request, and the file is the node's.
    let hashed = bcrypt::hash(&credentials.password, 4)
        .map_err(|e| Error::Invalid(format!("hashing the registry password: {e}")))?;
    let htpasswd = root.join("registry-htpasswd");
    std::fs::write(&htpasswd, format!("{REGISTRY_USER}:{hashed}\n"))
        .map_err(|e| Error::io(&htpasswd, e))?;
    let config = serde_json::json!({
        "version": 0.1,
        "log": { "level": "warn", "accesslog": { "disabled": true } },
        "storage": { "filesystem": { "rootdirectory": root.join("registry") } },
        "auth": { "htpasswd": { "realm": "nbv-node-registry", "path": htpasswd } },
        "http": {
            "addr": REGISTRY,
            "tls": { "certificate": tls.cert, "key": tls.key },
        },
    });
    // YAML is a superset of JSON: the registry reads this as its YAML configuration.
    let path = root.join("registry.yml");
    std::fs::write(&path, config.to_string()).map_err(|e| Error::io(&path, e))?;
    Ok((path, credentials))
}

/// 24 random bytes from the kernel, as hex.
fn new_password() -> Result<String, Error> {
    use std::io::Read as _;
    let mut bytes = [0u8; 24];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| Error::io("/dev/urandom", e))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Copies images from containerd's store into the node's registry.
#[derive(Debug, Clone)]
pub struct NodeRegistry {
    pub(crate) containerd_socket: PathBuf,
    pub(crate) ca_cert: PathBuf,
    pub(crate) credentials: RegistryCredentials,
}

impl NodeRegistry {
    /// The registry's address (`host:port`).
    pub fn address(&self) -> &'static str {
        REGISTRY
    }

    /// The registry's login.
    pub fn credentials(&self) -> &RegistryCredentials {
        &self.credentials
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
            .arg("--user")
            .arg(format!(
                "{}:{}",
                self.credentials.username, self.credentials.password
            ))
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
    fn the_docker_config_holds_the_login_in_base64() {
        let login = super::RegistryCredentials {
            username: "nbv".into(),
            password: "s3cret".into(),
        };
        let config: serde_json::Value =
            serde_json::from_str(&login.docker_config_json()).expect("json");
        // base64("nbv:s3cret"), as `echo -n nbv:s3cret | base64` prints it.
        assert_eq!(config["auths"][super::REGISTRY]["auth"], "bmJ2OnMzY3JldA==");
        assert!(!format!("{login:?}").contains("s3cret"));
    }

    #[test]
    fn the_registry_listens_on_the_node_address() {
        assert_eq!(
            super::REGISTRY.split_once(':').map(|(host, _)| host),
            Some(crate::node::GATEWAY)
        );
    }
}
