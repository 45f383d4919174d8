//! Starting and stopping etcd, kube-apiserver and kube-controller-manager.

use std::ffi::OsString;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{Api, ObjectMeta, PostParams};
use kube::config::{
    AuthInfo, Cluster, Context, KubeConfigOptions, Kubeconfig, NamedAuthInfo, NamedCluster,
    NamedContext,
};

use crate::binaries::Binaries;
use crate::pki::{CertPair, Pki};
use crate::process::{Lifetime, ProcessInfo, Spawn, Supervised};
use crate::{Error, write_file};

/// Controllers started by default: owner-reference garbage collection, namespace deletion, the
/// `default` ServiceAccount and `kube-root-ca.crt` ConfigMap in every namespace, and the usage of
/// ResourceQuotas (without which quota admission refuses everything it covers). No scheduler or
/// kubelet runs, so Pods are stored but never run.
pub const DEFAULT_CONTROLLERS: &[&str] = &[
    "garbage-collector-controller",
    "namespace-controller",
    "serviceaccount-controller",
    "root-ca-certificate-publisher-controller",
    "resourcequota-controller",
];

/// The Services' cluster IPs; next to the node's pod subnet, in a range the node already claims.
pub const SERVICE_CLUSTER_IP_RANGE: &str = "10.213.1.0/24";
/// The `kubernetes` Service's cluster IP: the first address of [`SERVICE_CLUSTER_IP_RANGE`].
pub const KUBERNETES_SERVICE_IP: &str = "10.213.1.1";
/// Controllers a node adds: the node-lifecycle controller removes the `not-ready` taint once the
/// kubelet reports Ready; the Deployment and ReplicaSet controllers run workloads such as the
/// operator's own Deployment; the volume controllers bind claims to volumes (the kubelet mounts
/// only bound claims) and lift the protection finalizers that admission puts on both.
const NODE_CONTROLLERS: [&str; 6] = [
    "node-lifecycle-controller",
    "deployment-controller",
    "replicaset-controller",
    "persistentvolume-binder-controller",
    "persistentvolume-protection-controller",
    "persistentvolumeclaim-protection-controller",
];

/// How long each server gets to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(90);
/// How long a supervisor gets to stop its server and clean up before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// Poll interval while waiting for something.
const POLL: Duration = Duration::from_millis(50);

/// Set to a non-empty value to keep the state directory (logs, certificates) after the test run.
pub const KEEP_ENV: &str = "NBV_TESTENV_KEEP";

/// How to start a control plane.
#[derive(Debug, Clone)]
pub struct ControlPlaneBuilder {
    root: Option<PathBuf>,
    lifetime: Lifetime,
    controllers: Vec<String>,
    binaries: Option<Binaries>,
    node: bool,
}

impl Default for ControlPlaneBuilder {
    fn default() -> Self {
        Self {
            root: None,
            lifetime: Lifetime::Owned,
            controllers: DEFAULT_CONTROLLERS
                .iter()
                .map(|c| (*c).to_owned())
                .collect(),
            binaries: None,
            node: false,
        }
    }
}

impl ControlPlaneBuilder {
    /// Keeps all state in `dir` (created if missing) instead of a fresh temporary directory, and
    /// leaves it in place on stop: whoever chose it removes it.
    pub fn root_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.root = Some(dir.into());
        self
    }

    /// Whether the servers stop with their owner (the default) or run on after it exits.
    pub fn lifetime(mut self, lifetime: Lifetime) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// The kube-controller-manager controllers to run, replacing [`DEFAULT_CONTROLLERS`].
    pub fn controllers<I, S>(mut self, controllers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.controllers = controllers.into_iter().map(Into::into).collect();
        self
    }

    /// Also starts a node (see [`crate::node`]): kube-scheduler, containerd and a kubelet, and the
    /// controllers of [`NODE_CONTROLLERS`].
    pub fn with_node(mut self) -> Self {
        self.node = true;
        for controller in NODE_CONTROLLERS {
            if !self.controllers.iter().any(|c| c == controller) {
                self.controllers.push(controller.to_owned());
            }
        }
        self
    }

    /// Uses these executables instead of locating them.
    pub fn binaries(mut self, binaries: Binaries) -> Self {
        self.binaries = Some(binaries);
        self
    }

    /// Starts etcd, kube-apiserver and kube-controller-manager, and waits until they serve.
    pub async fn start(self) -> Result<ControlPlane, Error> {
        let started = Instant::now();
        let binaries = match self.binaries {
            Some(b) => b,
            None => Binaries::locate()?,
        };
        let keep = std::env::var_os(KEEP_ENV).is_some_and(|v| !v.is_empty());
        let (root, owns_root) = match self.root {
            Some(dir) => {
                std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
                (dir, false)
            }
            None => {
                let dir = tempfile::Builder::new()
                    .prefix("nbv-testenv-")
                    .tempdir()
                    .map_err(|e| Error::io(std::env::temp_dir(), e))?;
                // Not a TempDir guard: statics are never dropped, so the etcd supervisor
                // removes the directory instead, whenever and however this process ends.
                (dir.keep(), !keep)
            }
        };
        if keep {
            eprintln!(
                "nbv-testenv: keeping control-plane state in {}",
                root.display()
            );
        }

        let mut cp = ControlPlane {
            root: root.clone(),
            kubeconfig: root.join("admin.kubeconfig"),
            config: kube::Config::new(http::Uri::from_static("https://127.0.0.1")),
            processes: Vec::new(),
            lifetime: self.lifetime,
            owns_root,
            timings: StartupTimings::default(),
            node_images: None,
            node_registry: None,
            node_down: None,
        };
        // On any error below, dropping `cp` stops whatever was started.
        let pki_dir = mkdir(&root, "pki")?;
        let run_dir = mkdir(&root, "run")?;
        let pki = Pki::generate(&pki_dir)?;

        let etcd_client = free_port()?;
        let etcd_peer = free_port()?;
        let apiserver_port = free_port()?;
        let server = format!("https://127.0.0.1:{apiserver_port}");

        // etcd
        let t = Instant::now();
        let etcd_dir = root.join("etcd");
        let etcd_url = format!("http://127.0.0.1:{etcd_client}");
        let peer_url = format!("http://127.0.0.1:{etcd_peer}");
        cp.processes.push(
            Spawn {
                name: "etcd",
                env: Vec::new(),
                supervisor: &binaries.supervisor,
                program: &binaries.etcd,
                args: os_args([
                    format!("--data-dir={}", etcd_dir.display()),
                    format!("--listen-client-urls={etcd_url}"),
                    format!("--advertise-client-urls={etcd_url}"),
                    format!("--listen-peer-urls={peer_url}"),
                    format!("--initial-advertise-peer-urls={peer_url}"),
                    format!("--initial-cluster=default={peer_url}"),
                    // Durability is worthless for throw-away test data; fsync dominates latency.
                    "--unsafe-no-fsync=true".into(),
                    "--log-level=warn".into(),
                ]),
                run_dir: &run_dir,
                // etcd is stopped last, so its supervisor removes the whole state directory.
                cleanup: owns_root.then_some(root.as_path()),
                after: Vec::new(),
                lifetime: self.lifetime,
            }
            .start()?,
        );
        let etcd_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, etcd_client));
        wait_until(&mut cp.processes[0], "accepting connections", || async {
            TcpStream::connect_timeout(&etcd_addr, POLL).is_ok()
        })
        .await?;
        cp.timings.etcd = t.elapsed();

        // kube-apiserver
        let t = Instant::now();
        let apiserver_args = os_args([
            format!("--etcd-servers={etcd_url}"),
            "--bind-address=127.0.0.1".into(),
            "--advertise-address=127.0.0.1".into(),
            format!("--secure-port={apiserver_port}"),
            format!("--cert-dir={}", mkdir(&root, "apiserver")?.display()),
            format!("--tls-cert-file={}", pki.apiserver.cert.display()),
            format!("--tls-private-key-file={}", pki.apiserver.key.display()),
            format!("--client-ca-file={}", pki.ca.cert.display()),
            "--authorization-mode=RBAC".into(),
            // On by default in this release; named so that the tests' premise is visible here.
            "--enable-admission-plugins=PodSecurity".into(),
            format!("--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}"),
            format!("--service-account-issuer={server}"),
            format!(
                "--service-account-key-file={}",
                pki.service_account_pub.display()
            ),
            format!(
                "--service-account-signing-key-file={}",
                pki.service_account_key.display()
            ),
            "--allow-privileged=true".into(),
            // The node's name does not resolve; its address does.
            "--kubelet-preferred-address-types=InternalIP".into(),
            // The kubelet admits clients with a certificate of this CA only.
            format!("--kubelet-client-certificate={}", pki.admin.cert.display()),
            format!("--kubelet-client-key={}", pki.admin.key.display()),
            "--profiling=false".into(),
        ]);
        cp.processes.push(
            Spawn {
                name: "kube-apiserver",
                env: Vec::new(),
                supervisor: &binaries.supervisor,
                program: &binaries.kube_apiserver,
                args: apiserver_args,
                run_dir: &run_dir,
                cleanup: None,
                after: Vec::new(),
                lifetime: self.lifetime,
            }
            .start()?,
        );
        write_kubeconfig(&cp.kubeconfig, &server, &pki.ca.cert, &pki.admin)?;
        cp.config = config_from(&cp.kubeconfig).await?;
        let client = kube::Client::try_from(cp.config.clone())?;
        wait_until(&mut cp.processes[1], "ready (/readyz)", || async {
            readyz(&client).await.is_ok()
        })
        .await?;
        cp.timings.apiserver = t.elapsed();

        // kube-controller-manager
        let t = Instant::now();
        let kcm_kubeconfig = root.join("kube-controller-manager.kubeconfig");
        write_kubeconfig(
            &kcm_kubeconfig,
            &server,
            &pki.ca.cert,
            &pki.controller_manager,
        )?;
        cp.processes.push(
            Spawn {
                name: "kube-controller-manager",
                env: Vec::new(),
                supervisor: &binaries.supervisor,
                program: &binaries.kube_controller_manager,
                args: os_args([
                    format!("--kubeconfig={}", kcm_kubeconfig.display()),
                    format!("--controllers={}", self.controllers.join(",")),
                    "--leader-elect=false".into(),
                    // No serving endpoint: nothing scrapes it, and it would need its own certs.
                    "--secure-port=0".into(),
                    format!("--root-ca-file={}", pki.ca.cert.display()),
                    format!(
                        "--service-account-private-key-file={}",
                        pki.service_account_key.display()
                    ),
                    "--profiling=false".into(),
                ]),
                run_dir: &run_dir,
                cleanup: None,
                after: Vec::new(),
                lifetime: self.lifetime,
            }
            .start()?,
        );
        // The controller manager has no readiness endpoint here; its serviceaccount controller
        // creating `default` in `default` shows it is connected and its informers synced.
        let sa_controller = ["*", "serviceaccount", "serviceaccount-controller"];
        if self
            .controllers
            .iter()
            .any(|c| sa_controller.contains(&c.as_str()))
        {
            let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
            wait_until(
                &mut cp.processes[2],
                "creating ServiceAccount default/default",
                || {
                    let sas = sas.clone();
                    async move { matches!(sas.get_opt("default").await, Ok(Some(_))) }
                },
            )
            .await?;
        }
        cp.timings.controller_manager = t.elapsed();

        if self.node {
            let t = Instant::now();
            let node = crate::node::start(crate::node::NodeInputs {
                binaries: &binaries,
                run_dir: &run_dir,
                kubeconfig: &cp.kubeconfig,
                client_ca: &pki.ca.cert,
                apiserver_port,
                lifetime: self.lifetime,
                client: &client,
            })
            .await?;
            cp.processes.extend(node.processes);
            cp.node_down = Some(binaries.dir.join("nbv-node-down"));
            cp.node_images = Some(node.images);
            cp.node_registry = Some(node.registry);
            cp.timings.node = t.elapsed();
        }
        cp.timings.total = started.elapsed();
        tracing::info!(root = %cp.root.display(), server = %server, timings = ?cp.timings, "control plane started");
        Ok(cp)
    }
}

/// How long each part of start-up took.
#[derive(Debug, Clone, Copy, Default)]
pub struct StartupTimings {
    /// Until etcd accepted connections.
    pub etcd: Duration,
    /// Until kube-apiserver reported ready.
    pub apiserver: Duration,
    /// Until kube-controller-manager was seen working.
    pub controller_manager: Duration,
    /// Until the node was Ready and schedulable (zero without a node).
    pub node: Duration,
    /// From the call to ready, certificates included.
    pub total: Duration,
}

/// A running control plane.
///
/// Dropping it stops the servers (for [`Lifetime::Owned`]). A [`kube::Client`] belongs to the
/// tokio runtime it was created in, so take a fresh one with [`ControlPlane::client`] in each
/// runtime (each `#[tokio::test]` has its own).
#[derive(Debug)]
pub struct ControlPlane {
    root: PathBuf,
    kubeconfig: PathBuf,
    config: kube::Config,
    processes: Vec<Supervised>,
    lifetime: Lifetime,
    /// Whether the state directory is a temporary one this control plane removes.
    owns_root: bool,
    timings: StartupTimings,
    node_images: Option<crate::NodeImages>,
    /// The node's image registry, when this control plane runs a node.
    node_registry: Option<crate::node::NodeRegistry>,
    /// `nbv-node-down`, when this control plane runs a node.
    node_down: Option<PathBuf>,
}

impl ControlPlane {
    /// Options for starting one.
    pub fn builder() -> ControlPlaneBuilder {
        ControlPlaneBuilder::default()
    }

    /// Starts one with the defaults.
    pub async fn start() -> Result<Self, Error> {
        Self::builder().start().await
    }

    /// The admin (`system:masters`) configuration.
    pub fn config(&self) -> &kube::Config {
        &self.config
    }

    /// An admin client for the current tokio runtime.
    pub fn client(&self) -> Result<kube::Client, Error> {
        Ok(kube::Client::try_from(self.config.clone())?)
    }

    /// A kubeconfig file with the admin identity.
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// The directory holding certificates, logs and etcd data.
    pub fn root_dir(&self) -> &Path {
        &self.root
    }

    /// The API server's URL.
    pub fn server_url(&self) -> String {
        self.config.cluster_url.to_string()
    }

    /// The supervised servers, in start order.
    pub fn processes(&self) -> Vec<ProcessInfo> {
        self.processes.iter().map(Supervised::info).collect()
    }

    /// The images imported into the node, when it has one.
    pub fn node_images(&self) -> Option<&crate::NodeImages> {
        self.node_images.as_ref()
    }

    /// The node's image registry, when it has a node.
    pub fn node_registry(&self) -> Option<&crate::node::NodeRegistry> {
        self.node_registry.as_ref()
    }

    /// How long start-up took.
    pub fn startup_timings(&self) -> StartupTimings {
        self.timings
    }

    /// A client authenticated as ServiceAccount `namespace/name` with a real token from the
    /// TokenRequest API, so RBAC applies to it as it would in a cluster. Creates the
    /// ServiceAccount if it does not exist.
    pub async fn service_account_client(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<kube::Client, Error> {
        let sas: Api<ServiceAccount> = Api::namespaced(self.client()?, namespace);
        let sa = ServiceAccount {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                ..ObjectMeta::default()
            },
            ..ServiceAccount::default()
        };
        match sas.create(&PostParams::default(), &sa).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
        let request = TokenRequest {
            spec: TokenRequestSpec {
                expiration_seconds: Some(3600),
                ..TokenRequestSpec::default()
            },
            ..TokenRequest::default()
        };
        let issued = sas
            .create_token_request(name, &PostParams::default(), &request)
            .await?;
        let token = issued
            .status
            .map(|s| s.token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "TokenRequest for {namespace}/{name} returned no token"
                ))
            })?;
        let mut config = self.config.clone();
        config.auth_info = AuthInfo {
            token: Some(secrecy::SecretString::from(token)),
            ..AuthInfo::default()
        };
        config.default_namespace = namespace.to_owned();
        Ok(kube::Client::try_from(config)?)
    }

    /// Creates a namespace named `<prefix>-<unique suffix>` with `labels`, and waits for its
    /// `default` ServiceAccount (Pods are rejected until it exists).
    pub async fn create_namespace(
        &self,
        prefix: &str,
        labels: &[(&str, &str)],
    ) -> Result<String, Error> {
        let client = self.client()?;
        let name = unique_name(prefix);
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(
                    labels
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect(),
                ),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await?;
        let sas: Api<ServiceAccount> = Api::namespaced(client, &name);
        let deadline = Instant::now() + READY_TIMEOUT;
        while !matches!(sas.get_opt("default").await, Ok(Some(_))) {
            if Instant::now() >= deadline {
                return Err(Error::Timeout(format!(
                    "ServiceAccount {name}/default was not created within {READY_TIMEOUT:?}; is the serviceaccount controller running?"
                )));
            }
            tokio::time::sleep(POLL).await;
        }
        Ok(name)
    }

    /// Stops the servers and waits until they (and, for owned temporary state, the state
    /// directory) are gone. Dropping does the same.
    pub fn stop(mut self) {
        self.shutdown();
    }

    /// Leaves the servers running (only meaningful for [`Lifetime::Detached`]) and returns
    /// where they are.
    pub fn detach(mut self) -> Vec<ProcessInfo> {
        let info = self.processes();
        // Forget the handles: the supervisors run on by design, and so does the node.
        self.processes.clear();
        self.node_down = None;
        info
    }

    fn shutdown(&mut self) {
        match self.lifetime {
            Lifetime::Owned => {
                // Reverse start order: etcd, whose supervisor removes the state, goes last.
                for p in self.processes.iter_mut().rev() {
                    p.request_stop();
                    p.wait(STOP_TIMEOUT);
                }
                // Normally etcd's supervisor has removed it; not if start-up failed before etcd.
                if self.owns_root {
                    let _ = std::fs::remove_dir_all(&self.root);
                }
            }
            // Only reached when start-up failed (see `detach`): nothing else would stop them.
            Lifetime::Detached => {
                for p in self.processes.iter_mut().rev() {
                    p.kill();
                }
            }
        }
        self.processes.clear();
        // containerd's supervisor undoes the node's host changes, unless it was killed.
        if let Some(node_down) = &self.node_down {
            let record = Path::new(crate::node::HOST_RECORD);
            if record.exists() {
                let _ = std::process::Command::new(node_down).arg(record).status();
            }
        }
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Polls `ready` until it holds, failing early with the log tail if the server exits.
pub(crate) async fn wait_until<F, Fut>(
    process: &mut Supervised,
    what: &str,
    mut ready: F,
) -> Result<(), Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if ready().await {
            return Ok(());
        }
        if let Some(status) = process.exited() {
            return Err(Error::ServerFailed {
                name: process.name,
                detail: format!("exited during start-up ({status})"),
                log: process.log.clone(),
                tail: process.log_tail(30),
            });
        }
        if Instant::now() >= deadline {
            return Err(Error::ServerFailed {
                name: process.name,
                detail: format!("not {what} within {READY_TIMEOUT:?}"),
                log: process.log.clone(),
                tail: process.log_tail(30),
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

fn os_args<const N: usize>(args: [String; N]) -> Vec<OsString> {
    args.into_iter().map(OsString::from).collect()
}

fn mkdir(root: &Path, name: &str) -> Result<PathBuf, Error> {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    Ok(dir)
}

/// A free port on loopback for a server to bind. It is taken below the kernel's ephemeral range,
/// so that no outgoing connection (of which a machine running many control planes makes plenty)
/// can take it between this check and the server's bind; a process-wide counter keeps this
/// process's picks apart, and the process id spreads processes.
pub(crate) fn free_port() -> Result<u16, Error> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32768);
    let low = ephemeral_low.saturating_sub(12_000).max(1024);
    let span = ephemeral_low.saturating_sub(low).max(1);
    let spread = std::process::id().wrapping_mul(7919);
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let Ok(port) = u16::try_from(low + spread.wrapping_add(n) % span) else {
            continue;
        };
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return Ok(port);
        }
    }
    // Every port below the range is taken: one from the kernel, with the race it carries.
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| Error::io("127.0.0.1:0", e))?;
    let port = listener
        .local_addr()
        .map_err(|e| Error::io("127.0.0.1:0", e))?
        .port();
    Ok(port)
}

/// `<prefix>-<pid>-<counter>`, trimmed to a valid namespace name.
pub(crate) fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let suffix = format!("-{:x}-{n}", std::process::id());
    let mut base: String = prefix
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    base.truncate(63 - suffix.len());
    let base = base.trim_matches('-');
    let base = if base.is_empty() { "test" } else { base };
    format!("{base}{suffix}")
}

/// Writes a kubeconfig that refers to the certificate files by path.
pub(crate) fn write_kubeconfig(
    path: &Path,
    server: &str,
    ca: &Path,
    user: &CertPair,
) -> Result<(), Error> {
    let name = "nbv-testenv".to_owned();
    let config = Kubeconfig {
        clusters: vec![NamedCluster {
            name: name.clone(),
            cluster: Some(Cluster {
                server: Some(server.to_owned()),
                certificate_authority: Some(ca.display().to_string()),
                ..Cluster::default()
            }),
            other: Default::default(),
        }],
        auth_infos: vec![NamedAuthInfo {
            name: name.clone(),
            auth_info: Some(AuthInfo {
                client_certificate: Some(user.cert.display().to_string()),
                client_key: Some(user.key.display().to_string()),
                ..AuthInfo::default()
            }),
            other: Default::default(),
        }],
        contexts: vec![NamedContext {
            name: name.clone(),
            context: Some(Context {
                cluster: name.clone(),
                user: Some(name.clone()),
                namespace: Some("default".to_owned()),
                ..Context::default()
            }),
            other: Default::default(),
        }],
        current_context: Some(name),
        api_version: Some("v1".to_owned()),
        kind: Some("Config".to_owned()),
        ..Kubeconfig::default()
    };
    let yaml = serde_yaml_ng::to_string(&config)?;
    write_file(path, yaml.as_bytes())
}

/// The API server's `/readyz` answer (`ok` when ready).
pub async fn readyz(client: &kube::Client) -> Result<String, Error> {
    let request = http::Request::get("/readyz")
        .body(Vec::new())
        .map_err(|e| Error::Invalid(format!("building /readyz request: {e}")))?;
    Ok(client.request_text(request).await?)
}

/// A client for the current tokio runtime from a kubeconfig file.
pub async fn client_from(kubeconfig: &Path) -> Result<kube::Client, Error> {
    Ok(kube::Client::try_from(config_from(kubeconfig).await?)?)
}

/// The client configuration a kubeconfig file describes.
pub async fn config_from(kubeconfig: &Path) -> Result<kube::Config, Error> {
    let file = Kubeconfig::read_from(kubeconfig)?;
    Ok(kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default()).await?)
}
