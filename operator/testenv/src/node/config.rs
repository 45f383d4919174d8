//! The node's configuration files: containerd, the CNI network, the kubelet. Pure rendering.

use std::path::{Path, PathBuf};

use super::{GATEWAY, NODE_NAME, POD_SUBNET};

/// Where the node keeps everything of its own (removed when it stops).
#[derive(Debug, Clone)]
pub(crate) struct NodeDirs {
    pub(crate) root: PathBuf,
}

impl NodeDirs {
    pub(crate) fn containerd_root(&self) -> PathBuf {
        self.root.join("containerd")
    }
    pub(crate) fn containerd_state(&self) -> PathBuf {
        self.root.join("containerd-state")
    }
    pub(crate) fn containerd_socket(&self) -> PathBuf {
        self.root.join("containerd.sock")
    }
    pub(crate) fn cni_conf(&self) -> PathBuf {
        self.root.join("cni")
    }
    pub(crate) fn cni_ipam(&self) -> PathBuf {
        self.root.join("cni-ipam")
    }
    pub(crate) fn kubelet_root(&self) -> PathBuf {
        self.root.join("kubelet")
    }
    pub(crate) fn pod_logs(&self) -> PathBuf {
        self.root.join("pod-logs")
    }
}

/// Where Debian's containernetworking-plugins puts the plugins.
pub(crate) const CNI_BIN_DIR: &str = "/usr/lib/cni";

/// containerd 1.6's configuration (version 2 schema).
pub(crate) fn containerd_toml(dirs: &NodeDirs, sandbox_image: &str, registry_ca: &Path) -> String {
    let quote = |p: &Path| toml_string(&p.display().to_string());
    format!(
        r#"version = 2
root = {root}
state = {state}
# Only what the kubelet's CRI calls need.
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = {socket}

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = {sandbox}
  # Machines without CAP_SYS_RESOURCE cannot lower oom_score_adj; every sandbox fails otherwise.
  restrict_oom_score_adj = true
  # Network namespaces below the node's own directory, not the host's /var/run/netns.
  netns_mounts_under_state_dir = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = {cni_bin}
    conf_dir = {cni_conf}
    max_conf_num = 1
  # The node's registry serves a certificate of the node's CA.
  [plugins."io.containerd.grpc.v1.cri".registry.configs."{registry}".tls]
    ca_file = {registry_ca}
"#,
        root = quote(&dirs.containerd_root()),
        state = quote(&dirs.containerd_state()),
        socket = quote(&dirs.containerd_socket()),
        sandbox = toml_string(sandbox_image),
        cni_bin = toml_string(CNI_BIN_DIR),
        cni_conf = quote(&dirs.cni_conf()),
        registry = super::REGISTRY,
        registry_ca = quote(registry_ca),
    )
}

/// The pod network: a bridge the node creates with the gateway address, not the plugin
/// (`isGateway: false`), so the plugin neither turns on IP forwarding nor adds masquerading: pods
/// reach each other and the node, and nothing is routed beyond it.
pub(crate) fn cni_conflist(bridge: &str, dirs: &NodeDirs) -> serde_json::Value {
    serde_json::json!({
        "cniVersion": "1.0.0",
        "name": "nbv-pods",
        "plugins": [{
            "type": "bridge",
            "bridge": bridge,
            "isGateway": false,
            "ipMasq": false,
            "hairpinMode": true,
            "ipam": {
                "type": "host-local",
                "ranges": [[{"subnet": POD_SUBNET, "gateway": GATEWAY}]],
                "routes": [{"dst": "0.0.0.0/0", "gw": GATEWAY}],
                "dataDir": dirs.cni_ipam(),
            }
        }]
    })
}

/// Ports the kubelet serves on loopback.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KubeletPorts {
    pub(crate) api: u16,
    pub(crate) healthz: u16,
}

/// The KubeletConfiguration. The kubelet serves on the node's address (a Node's address cannot be
/// loopback), which pods can reach too: only clients with a certificate of the control plane's
/// CA (the API server, proxying `kubectl logs`) get in.
pub(crate) fn kubelet_config(
    dirs: &NodeDirs,
    ports: KubeletPorts,
    client_ca: &Path,
) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": GATEWAY,
        "port": ports.api,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": ports.healthz,
        "authentication": {
            "anonymous": {"enabled": false},
            "webhook": {"enabled": false},
            "x509": {"clientCAFile": client_ca},
        },
        "authorization": {"mode": "AlwaysAllow"},
        "containerRuntimeEndpoint": format!("unix://{}", dirs.containerd_socket().display()),
        "podLogsDir": dirs.pod_logs(),
        // The machine's cgroups are v1 (hybrid), shared with other jobs: cgroupfs, no systemd.
        "cgroupDriver": "cgroupfs",
        "failCgroupV1": false,
        "failSwapOn": false,
        // The node writes its own firewall rules (egress drop), nothing else.
        "makeIPTablesUtilChains": false,
        // No DNS server runs, and pods must not reach the machine's.
        "resolvConf": "",
        "serializeImagePulls": false,
        // Images are imported, never pulled from outside: never collect them.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        // No eviction on disk space ("0%" turns a signal off): the kubelet reads the space left
        // to non-root users, which machines reserving most of their disk for root run short of
        // while root's builds still have plenty; under pressure it evicts every pod and takes
        // no more. A disk that really fills fails the write, which says so (docs/node.md).
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "0%",
            "imagefs.available": "0%",
        },
        "nodeStatusReportFrequency": "10s",
        "registerNode": true,
        "shutdownGracePeriod": "0s",
        "containerLogMaxSize": "10Mi",
        "staticPodPath": "",
        "localStorageCapacityIsolation": true,
        "enableServer": true,
        "providerID": format!("nbv://{NODE_NAME}"),
    })
}

fn toml_string(s: &str) -> String {
    // TOML basic strings share JSON's escapes for everything a path can hold.
    serde_json::Value::from(s).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dirs() -> NodeDirs {
        NodeDirs {
            root: PathBuf::from("/tmp/nbv-node-x"),
        }
    }

    #[test]
    fn containerd_points_everything_below_the_node_dir() {
        let toml = containerd_toml(&dirs(), "nbv.local/pause:1", Path::new("/ca/ca.crt"));
        assert!(
            toml.contains(r#"root = "/tmp/nbv-node-x/containerd""#),
            "{toml}"
        );
        assert!(toml.contains(r#"address = "/tmp/nbv-node-x/containerd.sock""#));
        assert!(toml.contains(r#"sandbox_image = "nbv.local/pause:1""#));
        assert!(toml.contains("restrict_oom_score_adj = true"));
        assert!(
            toml.contains(&format!(
                "registry.configs.\"{}\".tls]\n    ca_file = \"/ca/ca.crt\"",
                crate::node::REGISTRY
            )),
            "{toml}"
        );
    }

    #[test]
    fn the_pod_network_neither_forwards_nor_masquerades() {
        let conf = cni_conflist("nbv0", &dirs());
        let bridge = &conf["plugins"][0];
        assert_eq!(bridge["isGateway"], false);
        assert_eq!(bridge["ipMasq"], false);
        assert_eq!(bridge["ipam"]["ranges"][0][0]["subnet"], POD_SUBNET);
    }

    #[test]
    fn the_kubelet_admits_only_the_control_plane() {
        let config = kubelet_config(
            &dirs(),
            KubeletPorts { api: 1, healthz: 2 },
            Path::new("/pki/ca.crt"),
        );
        assert_eq!(config["address"], GATEWAY);
        assert_eq!(config["authentication"]["anonymous"]["enabled"], false);
        assert_eq!(
            config["authentication"]["x509"]["clientCAFile"],
            "/pki/ca.crt"
        );
        assert_eq!(config["healthzBindAddress"], "127.0.0.1");
        assert_eq!(config["readOnlyPort"], 0);
        assert_eq!(config["port"], 1);
    }
}
