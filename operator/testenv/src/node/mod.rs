//! A real node for the control plane: containerd + runc, a bridge network, a kubelet registered
//! as a Node, and kube-scheduler, so pods are scheduled, run, report termination messages and
//! serve logs.
//!
//! The node changes the host (a bridge, firewall rules, sysctls, cgroups, mounts). Before it
//! changes anything it writes a record of what to undo, and containerd's supervisor runs
//! `nbv-node-down` on that record when the node stops, however its owner ended. Pods reach each
//! other and the node's gateway address, where the node's own services (git, package index,
//! registry) listen; a firewall chain drops everything else they send.
//!
//! One node per machine: the kubelet's shared paths (`/var/log/containers`,
//! `/var/lib/kubelet/device-plugins`) and the `kubepods` cgroups cannot be shared.

mod ca;
mod config;
mod host;
mod images;
mod registry;
mod serve;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node;
use kube::Api;

pub use ca::NodeCa;
pub use images::{NodeImage, NodeImages};
pub use registry::{NodeRegistry, REGISTRY, REGISTRY_USER, RegistryCredentials};
pub use serve::{GIT_USER, NodeServer, Repo};

use crate::process::{Lifetime, Spawn, Supervised};
use crate::{Binaries, Error};
use config::{KubeletPorts, NodeDirs};

/// The node's name.
pub const NODE_NAME: &str = "nbv-node";
/// The pods' subnet, on the node's bridge.
pub const POD_SUBNET: &str = "10.213.0.0/24";
/// The node's address on the pod network: services for pods listen here.
pub const GATEWAY: &str = "10.213.0.1";
/// The bridge pods are attached to.
const BRIDGE: &str = "nbv0";
/// Where the record of host changes lives while a node runs; its presence means a node is up
/// or was not cleaned up.
pub const HOST_RECORD: &str = "/run/nbv-node/host.json";

/// Programs the node needs from the distribution (`cargo xtask node deps` installs them).
pub const HOST_PROGRAMS: [&str; 5] = [
    "containerd",
    "containerd-shim-runc-v2",
    "runc",
    "ctr",
    "iptables",
];
/// CNI plugins it needs, in [`config::CNI_BIN_DIR`].
const CNI_PLUGINS: [&str; 3] = ["bridge", "host-local", "loopback"];

/// The running node's processes, in start order.
pub(crate) struct StartedNode {
    pub(crate) processes: Vec<Supervised>,
    pub(crate) images: NodeImages,
    pub(crate) registry: NodeRegistry,
}

/// What the node needs from the control plane.
pub(crate) struct NodeInputs<'a> {
    pub(crate) binaries: &'a Binaries,
    pub(crate) run_dir: &'a Path,
    pub(crate) kubeconfig: &'a Path,
    /// The CA whose client certificates the kubelet accepts (the API server's).
    pub(crate) client_ca: &'a Path,
    /// The API server's port on loopback, which pods reach through the `kubernetes` Service.
    pub(crate) apiserver_port: u16,
    pub(crate) lifetime: Lifetime,
    pub(crate) client: &'a kube::Client,
}

/// Checks that this machine can run a node, saying what to install or stop.
pub fn preflight() -> Result<(), Error> {
    let missing: Vec<String> = HOST_PROGRAMS
        .iter()
        .filter(|p| which(p).is_none())
        .map(|p| (*p).to_owned())
        .chain(
            CNI_PLUGINS
                .iter()
                .filter(|p| !Path::new(config::CNI_BIN_DIR).join(p).is_file())
                .map(|p| format!("{}/{p}", config::CNI_BIN_DIR)),
        )
        .collect();
    if !missing.is_empty() {
        return Err(Error::Invalid(format!(
            "the node needs {} (Debian packages containerd, runc, containernetworking-plugins, iptables); \
             install them with `cargo xtask node deps`",
            missing.join(", ")
        )));
    }
    if !is_root() {
        return Err(Error::Invalid(
            "the node must run as root (it runs containerd and the kubelet)".into(),
        ));
    }
    Ok(())
}

/// Starts containerd, the kubelet and kube-scheduler, and waits until the Node is Ready and
/// schedulable.
pub(crate) async fn start(inputs: NodeInputs<'_>) -> Result<StartedNode, Error> {
    preflight()?;
    let node_bins = NodeBinaries::in_dir(&inputs.binaries.dir)?;
    let images = NodeImages::load()?;
    take_over_host_record(&node_bins)?;

    let dirs = NodeDirs {
        root: tempfile::Builder::new()
            .prefix("nbv-node-")
            .tempdir()
            .map_err(|e| Error::io(std::env::temp_dir(), e))?
            .keep(),
    };
    for dir in [
        dirs.cni_conf(),
        dirs.cni_ipam(),
        dirs.kubelet_root(),
        dirs.pod_logs(),
    ] {
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    }
    // The record first: from here on, whatever happens, nbv-node-down knows what to undo.
    let record_path = PathBuf::from(HOST_RECORD);
    host::record(
        &node_bins.node_down,
        &record_path,
        &dirs.root,
        inputs.run_dir,
        &dirs.containerd_socket(),
        BRIDGE,
    )?;
    let mut processes = Vec::new();
    let result = start_processes(
        &inputs,
        &node_bins,
        &dirs,
        &images,
        &record_path,
        &mut processes,
    )
    .await;
    match result {
        Ok(registry) => Ok(StartedNode {
            processes,
            images,
            registry,
        }),
        Err(e) => {
            for p in processes.iter_mut().rev() {
                p.request_stop();
                p.wait(Duration::from_secs(20));
            }
            // containerd's supervisor ran it already unless containerd never started.
            undo_host_changes(&node_bins, &record_path);
            Err(e)
        }
    }
}

async fn start_processes(
    inputs: &NodeInputs<'_>,
    bins: &NodeBinaries,
    dirs: &NodeDirs,
    images: &NodeImages,
    record_path: &Path,
    processes: &mut Vec<Supervised>,
) -> Result<NodeRegistry, Error> {
    // The `kubernetes` Service's cluster IP is the node's too: pods reach it through their
    // default route, and the service proxy forwards it to the API server.
    host::set_up_network(
        BRIDGE,
        &[
            &format!("{GATEWAY}/24"),
            &format!("{}/32", crate::controlplane::KUBERNETES_SERVICE_IP),
        ],
    )?;
    write(
        &dirs.cni_conf().join("10-nbv-pods.conflist"),
        config::cni_conflist(BRIDGE, dirs).to_string().as_bytes(),
    )?;
    processes.push(
        Spawn {
            name: "nbv-service-proxy",
            env: Vec::new(),
            supervisor: &inputs.binaries.supervisor,
            program: &bins.service_proxy,
            args: vec![
                format!(
                    "--listen={}:443",
                    crate::controlplane::KUBERNETES_SERVICE_IP
                )
                .into(),
                format!("--target=127.0.0.1:{}", inputs.apiserver_port).into(),
            ],
            run_dir: inputs.run_dir,
            cleanup: None,
            after: Vec::new(),
            lifetime: inputs.lifetime,
        }
        .start()?,
    );
    let ca = NodeCa::load_or_create()?;
    let containerd_config = dirs.root.join("containerd.toml");
    write(
        &containerd_config,
        config::containerd_toml(dirs, &images.pause.reference, &ca.cert).as_bytes(),
    )?;

    let t = Instant::now();
    processes.push(
        Spawn {
            name: "containerd",
            env: Vec::new(),
            supervisor: &inputs.binaries.supervisor,
            program: Path::new("containerd"),
            args: vec!["--config".into(), containerd_config.into_os_string()],
            run_dir: inputs.run_dir,
            cleanup: None,
            after: vec![bins.node_down.clone().into_os_string(), record_path.into()],
            lifetime: inputs.lifetime,
        }
        .start()?,
    );
    let socket = dirs.containerd_socket();
    let containerd = processes
        .last_mut()
        .ok_or_else(|| Error::Invalid("no process".into()))?;
    crate::controlplane::wait_until(containerd, "serving its socket", || {
        let socket = socket.clone();
        async move { socket.exists() }
    })
    .await?;
    let import = {
        let socket = socket.clone();
        let images = images.clone();
        tokio::task::spawn_blocking(move || images::import(&socket, &images))
    };
    import
        .await
        .map_err(|e| Error::Invalid(format!("importing images: {e}")))??;
    tracing::info!(elapsed = ?t.elapsed(), "containerd started, images imported");

    let (registry_config, credentials) = registry::config(&dirs.root, &ca)?;
    processes.push(
        Spawn {
            name: "nbv-registry",
            env: Vec::new(),
            supervisor: &inputs.binaries.supervisor,
            program: &bins.registry,
            args: vec!["serve".into(), registry_config.into()],
            run_dir: inputs.run_dir,
            cleanup: None,
            after: Vec::new(),
            lifetime: inputs.lifetime,
        }
        .start()?,
    );
    let registry = processes
        .last_mut()
        .ok_or_else(|| Error::Invalid("no process".into()))?;
    crate::controlplane::wait_until(registry, "serving images", || async {
        NodeRegistry::listening()
    })
    .await?;

    let ports = KubeletPorts {
        api: crate::controlplane::free_port()?,
        healthz: crate::controlplane::free_port()?,
    };
    let kubelet_config = dirs.root.join("kubelet.json");
    write(
        &kubelet_config,
        config::kubelet_config(dirs, ports, inputs.client_ca)
            .to_string()
            .as_bytes(),
    )?;
    processes.push(
        Spawn {
            name: "kubelet",
            env: Vec::new(),
            supervisor: &inputs.binaries.supervisor,
            program: &bins.kubelet,
            args: vec![
                arg("--config", &kubelet_config),
                arg("--kubeconfig", inputs.kubeconfig),
                arg("--root-dir", &dirs.kubelet_root()),
                format!("--hostname-override={NODE_NAME}").into(),
                format!("--node-ip={GATEWAY}").into(),
                "--v=1".into(),
            ],
            run_dir: inputs.run_dir,
            cleanup: None,
            after: Vec::new(),
            lifetime: inputs.lifetime,
        }
        .start()?,
    );
    processes.push(
        Spawn {
            name: "kube-scheduler",
            env: Vec::new(),
            supervisor: &inputs.binaries.supervisor,
            program: &bins.kube_scheduler,
            args: vec![
                arg("--kubeconfig", inputs.kubeconfig),
                "--leader-elect=false".into(),
                // Nothing scrapes it, and it would need its own certificates.
                "--secure-port=0".into(),
                "--profiling=false".into(),
            ],
            run_dir: inputs.run_dir,
            cleanup: None,
            after: Vec::new(),
            lifetime: inputs.lifetime,
        }
        .start()?,
    );

    let nodes: Api<Node> = Api::all(inputs.client.clone());
    let kubelet_index = processes.len() - 2;
    crate::controlplane::wait_until(
        &mut processes[kubelet_index],
        "registering a Ready, schedulable Node",
        || {
            let nodes = nodes.clone();
            async move {
                matches!(nodes.get_opt(NODE_NAME).await, Ok(Some(node)) if is_schedulable(&node))
            }
        },
    )
    .await?;
    tracing::info!(elapsed = ?t.elapsed(), "node ready");
    Ok(NodeRegistry {
        containerd_socket: socket,
        ca_cert: ca.cert,
        credentials,
    })
}

/// Ready, and without the taints that keep pods off a node that is not (yet) ready.
fn is_schedulable(node: &Node) -> bool {
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    let tainted = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .is_some_and(|ts| {
            ts.iter()
                .any(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        });
    ready && !tainted
}

/// A record left by an earlier node: refuse while that node runs, else finish its clean-up.
fn take_over_host_record(bins: &NodeBinaries) -> Result<(), Error> {
    let path = Path::new(HOST_RECORD);
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(());
    };
    let running = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("pidFiles").cloned())
        .and_then(|v| serde_json::from_value::<Vec<PathBuf>>(v).ok())
        .unwrap_or_default()
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .filter_map(|pid| pid.trim().parse::<u32>().ok())
        .any(crate::is_running);
    if running {
        return Err(Error::Invalid(format!(
            "a node is already running on this machine ({HOST_RECORD}); stop it with `cargo xtask cluster down`"
        )));
    }
    tracing::warn!("an earlier node was not cleaned up; undoing its host changes first");
    undo_host_changes(bins, path);
    if path.exists() {
        return Err(Error::Invalid(format!(
            "could not undo the host changes of an earlier node recorded in {HOST_RECORD}; \
             see the messages above, fix them, and run `{} {HOST_RECORD}`",
            bins.node_down.display()
        )));
    }
    Ok(())
}

/// Runs `nbv-node-down` on the record, if it is still there.
pub(crate) fn undo_host_changes(bins: &NodeBinaries, record: &Path) {
    if record.exists() {
        let _ = std::process::Command::new(&bins.node_down)
            .arg(record)
            .status();
    }
}

/// The node's executables, next to the control plane's.
#[derive(Debug, Clone)]
pub(crate) struct NodeBinaries {
    pub(crate) kubelet: PathBuf,
    pub(crate) kube_scheduler: PathBuf,
    pub(crate) node_down: PathBuf,
    pub(crate) registry: PathBuf,
    pub(crate) service_proxy: PathBuf,
}

impl NodeBinaries {
    pub(crate) fn in_dir(dir: &Path) -> Result<Self, Error> {
        let missing: Vec<&str> = crate::NODE_EXECUTABLES
            .iter()
            .copied()
            .filter(|n| !dir.join(n).is_file())
            .collect();
        if !missing.is_empty() {
            return Err(Error::BinariesMissing {
                reason: format!("{} has no {}", dir.display(), missing.join(", ")),
            });
        }
        Ok(Self {
            kubelet: dir.join("kubelet"),
            kube_scheduler: dir.join("kube-scheduler"),
            node_down: dir.join("nbv-node-down"),
            registry: dir.join("nbv-registry"),
            service_proxy: dir.join("nbv-service-proxy"),
        })
    }
}

fn arg(flag: &str, path: &Path) -> OsString {
    let mut s = OsString::from(format!("{flag}="));
    s.push(path);
    s
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    std::fs::write(path, bytes).map_err(|e| Error::io(path, e))
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    })
}

fn is_root() -> bool {
    // /proc/self/status: "Uid: real effective saved fs".
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}
