//! What the node changes on the host, recorded before it changes anything, so that
//! `nbv-node-down` can undo all of it even when the node's owner died.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;

use crate::Error;

use super::POD_SUBNET;

/// The firewall chain that keeps pod traffic on the machine.
pub(crate) const EGRESS_CHAIN: &str = "NBV-NODE-EGRESS";
/// Sysctls the kubelet or the network plugins may change.
const SYSCTLS: [&str; 5] = [
    "vm.overcommit_memory",
    "kernel.panic",
    "kernel.panic_on_oops",
    "net.ipv4.ip_forward",
    "net.ipv4.conf.all.route_localnet",
];
/// Host paths outside the node's directory that the kubelet or containerd create.
const SHARED_PATHS: [&str; 4] = [
    "/var/lib/kubelet",
    "/var/log/containers",
    "/run/containerd",
    "/var/log/pods",
];

/// Read by `nbv-node-down` (`xtask/controlplane/nodedown`), which documents each field's use.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HostRecord {
    pub(crate) pid_files: Vec<PathBuf>,
    pub(crate) containerd_address: PathBuf,
    pub(crate) cgroup_name: String,
    pub(crate) mount_roots: Vec<PathBuf>,
    pub(crate) bridge: String,
    pub(crate) iptables_chain: String,
    pub(crate) iptables_jump: Vec<String>,
    pub(crate) sysctls: std::collections::BTreeMap<String, String>,
    pub(crate) links_into: Vec<LinkDir>,
    pub(crate) remove: Vec<PathBuf>,
}

#[derive(Debug, Serialize)]
pub(crate) struct LinkDir {
    pub(crate) dir: PathBuf,
    pub(crate) target: PathBuf,
}

impl HostRecord {
    /// The record for a node in `root`, reading the values to restore from the host now.
    pub(crate) fn capture(root: &Path, run_dir: &Path, socket: &Path, bridge: &str) -> Self {
        let sysctls = SYSCTLS
            .iter()
            .filter_map(|key| {
                let file = format!("/proc/sys/{}", key.replace('.', "/"));
                std::fs::read_to_string(file)
                    .ok()
                    .map(|v| ((*key).to_owned(), v.trim().to_owned()))
            })
            .collect();
        let mut remove: Vec<PathBuf> = SHARED_PATHS
            .iter()
            .map(PathBuf::from)
            .filter(|p| !p.exists())
            .collect();
        remove.push(root.to_path_buf());
        Self {
            pid_files: vec![run_dir.join("kubelet.pid"), run_dir.join("containerd.pid")],
            containerd_address: socket.to_path_buf(),
            cgroup_name: "kubepods".into(),
            mount_roots: vec![root.to_path_buf()],
            bridge: bridge.to_owned(),
            iptables_chain: EGRESS_CHAIN.into(),
            iptables_jump: egress_jump(),
            sysctls,
            links_into: vec![LinkDir {
                dir: "/var/log/containers".into(),
                target: root.to_path_buf(),
            }],
            remove,
        }
    }
}

/// The FORWARD rule sending pod traffic to [`EGRESS_CHAIN`].
fn egress_jump() -> Vec<String> {
    ["FORWARD", "-s", POD_SUBNET, "-j", EGRESS_CHAIN]
        .map(str::to_owned)
        .to_vec()
}

/// Creates the pod bridge with the node's addresses, and the firewall rules that drop pod
/// traffic to anything but other pods (traffic to the node itself is not forwarded).
pub(crate) fn set_up_network(bridge: &str, addresses: &[&str]) -> Result<(), Error> {
    // No node runs now (its record was taken over), so a bridge of this name is an earlier
    // node's: a CNI ADD still in flight when that node went down creates it again.
    if Path::new("/sys/class/net").join(bridge).exists() {
        tracing::warn!(bridge, "removing the bridge an earlier node left behind");
        run("ip", &["link", "delete", bridge])?;
    }
    run("ip", &["link", "add", bridge, "type", "bridge"])?;
    remove_leftover_chain();
    for address in addresses {
        run("ip", &["addr", "add", address, "dev", bridge])?;
    }
    run("ip", &["link", "set", bridge, "up"])?;
    run("iptables", &["-N", EGRESS_CHAIN])?;
    run(
        "iptables",
        &["-A", EGRESS_CHAIN, "-d", POD_SUBNET, "-j", "ACCEPT"],
    )?;
    run("iptables", &["-A", EGRESS_CHAIN, "-j", "DROP"])?;
    let mut insert = vec!["-I".to_owned()];
    insert.extend(egress_jump());
    let insert: Vec<&str> = insert.iter().map(String::as_str).collect();
    run("iptables", &insert)
}

/// The egress chain of an earlier node that went down without its record: its jump, then the
/// chain. Nothing to do when there is none.
fn remove_leftover_chain() {
    let exists = Command::new("iptables")
        .args(["-L", EGRESS_CHAIN, "-n"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !exists {
        return;
    }
    tracing::warn!(
        chain = EGRESS_CHAIN,
        "removing the firewall chain an earlier node left behind"
    );
    let mut delete = vec!["-D".to_owned()];
    delete.extend(egress_jump());
    let delete: Vec<&str> = delete.iter().map(String::as_str).collect();
    while run("iptables", &delete).is_ok() {}
    let _ = run("iptables", &["-F", EGRESS_CHAIN]);
    let _ = run("iptables", &["-X", EGRESS_CHAIN]);
}

fn run(program: &str, args: &[&str]) -> Result<(), Error> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| Error::io(program, e))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "{program} {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}
