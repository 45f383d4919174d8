//! What the node changes on the host. `nbv-node-down record` writes down what to undo before
//! anything changes, so that `nbv-node-down` can undo all of it even when the node's owner died;
//! the record's contents are its business.

use std::path::Path;
use std::process::Command;

use crate::Error;

use super::POD_SUBNET;

/// The firewall chain that keeps pod traffic on the machine.
pub(crate) const EGRESS_CHAIN: &str = "NBV-NODE-EGRESS";

/// Has `nbv-node-down` write the record for a node in `root` to `record`, reading the values to
/// restore from the host now.
pub(crate) fn record(
    node_down: &Path,
    record: &Path,
    root: &Path,
    run_dir: &Path,
    socket: &Path,
    bridge: &str,
) -> Result<(), Error> {
    let out = Command::new(node_down)
        .arg("record")
        .arg(record)
        .arg("-root")
        .arg(root)
        .arg("-run-dir")
        .arg(run_dir)
        .arg("-containerd-address")
        .arg(socket)
        .args(["-bridge", bridge, "-iptables-chain", EGRESS_CHAIN])
        .arg("-iptables-jump")
        .arg(egress_jump().join(" "))
        .output()
        .map_err(|e| Error::io(node_down, e))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "{} could not record the host's state in {}, so the node did not start: {}",
            node_down.display(),
            record.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// The bridge's own hardware address: locally administered, unicast.
const BRIDGE_MAC: &str = "02:6e:62:76:30:01";

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
    // A bridge without an address of its own takes the lowest of its ports', so it changes as
    // pods come and go, and pods that cached the gateway's old one time out (for a minute,
    // until their neighbour entry is probed again) reaching the node's git server and registry.
    run(
        "ip",
        &[
            "link", "add", bridge, "address", BRIDGE_MAC, "type", "bridge",
        ],
    )?;
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
