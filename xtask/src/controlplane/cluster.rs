//! `cargo xtask cluster up|down|status`: the test control plane, left running for people.
//!
//! The servers run detached under their supervisors, which stop them on SIGTERM; their pids and
//! the kubeconfig path are recorded in `cluster.json` in the state directory.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use nbv_testenv::{ControlPlane, Lifetime, ProcessInfo};
use rustix::process::{Pid, Signal, kill_process};
use serde::{Deserialize, Serialize};

use super::repo_root;
use crate::node::Engine;

const STATE_FILE: &str = "cluster.json";
/// Time the supervisors get to stop their servers before they are killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, Serialize, Deserialize)]
struct State {
    server: String,
    kubeconfig: PathBuf,
    processes: Vec<ProcessInfo>,
    crds: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    node: Option<NodeState>,
}

/// What a cluster with a node adds.
#[derive(Debug, Serialize, Deserialize)]
struct NodeState {
    images: nbv_testenv::NodeImages,
    /// Clone URL of examples/notebooks on the node's git server.
    examples_repo: String,
    /// The notebook image in the node's registry, the base image for builds on the node.
    #[serde(default)]
    base_image: String,
    /// A `kubernetes.io/dockerconfigjson` Secret manifest with the registry's login.
    #[serde(default)]
    registry_secret: PathBuf,
}

/// The name of the Secret `cluster up --node` writes for the registry's login.
const REGISTRY_SECRET: &str = "node-registry";

/// `<cache root>/cluster`, or `NBV_CLUSTER_DIR`.
fn state_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("NBV_CLUSTER_DIR").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    Ok(nbv_testenv::cache_root()?.join("cluster"))
}

fn read_state(dir: &Path) -> anyhow::Result<Option<State>> {
    let path = dir.join(STATE_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => Ok(Some(
            serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")
}

pub(super) fn up(stand_ins: bool, node: bool, engines: &[Engine]) -> anyhow::Result<()> {
    let engines = &Engine::with_prerequisites(engines);
    let tekton = engines.contains(&Engine::Tekton);
    let shipwright = engines.contains(&Engine::Shipwright);
    let dir = state_dir()?;
    if let Some(state) = read_state(&dir)? {
        if all_running(&state) {
            println!("already running: {}", state.server);
            print_usage(&state);
            return Ok(());
        }
        eprintln!("a previous cluster is partly gone; removing it");
        stop(&dir, &state)?;
    } else if dir.exists() {
        // Left by a start that failed before writing its state.
        fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }

    // Every start needs the binaries; on a fresh machine this builds them.
    super::binaries_dir()?;
    if node {
        nbv_testenv::node::preflight()
            .or_else(|_| crate::node::install_deps())
            .context("installing the node's packages")?;
        crate::node::build_images(&repo_root()?, false, engines)?;
    }
    let crd_files = deploy_crds()?;
    let manifests: Vec<String> = crd_files
        .iter()
        .map(|p| fs::read_to_string(p).with_context(|| format!("reading {}", p.display())))
        .collect::<anyhow::Result<_>>()?;

    let rt = runtime()?;
    let (cp, crds) = rt.block_on(async {
        let builder = ControlPlane::builder()
            .root_dir(&dir)
            .lifetime(Lifetime::Detached);
        let builder = if node { builder.with_node() } else { builder };
        let cp = builder.start().await?;
        let client = cp.client()?;
        let mut refs: Vec<&str> = manifests.iter().map(String::as_str).collect();
        if stand_ins {
            // A real Tekton brings its own CRDs.
            let stand_in_crds = nbv_testenv::crds::ALL
                .iter()
                .filter(|crd| !(tekton && nbv_testenv::crds::TEKTON.contains(crd)))
                .filter(|crd| !(shipwright && nbv_testenv::crds::SHIPWRIGHT.contains(crd)));
            refs.extend(stand_in_crds);
        }
        let crds = nbv_testenv::install_crds(&client, &refs).await?;
        anyhow::Ok((cp, crds))
    })?;
    let timings = cp.startup_timings();
    let mut processes = cp.processes();
    let login = cp.node_registry().map(|r| r.credentials().clone());
    let node_state = match cp.node_images() {
        Some(images) => {
            let server =
                nbv_testenv::NodeServer::start(&dir.join("node-serve"), Lifetime::Detached)?;
            let examples = examples_files()?;
            let refs: Vec<(&str, &[u8])> = examples
                .iter()
                .map(|(p, c)| (p.as_str(), c.as_slice()))
                .collect();
            let repo = server.repo("examples", &refs)?;
            processes.extend(server.detach());
            let registry = cp.node_registry().context("a node without its registry")?;
            // Created readable by its owner only: it holds the registry's password.
            let registry_secret = dir.join("registry-secret.yaml");
            write_private(
                &registry_secret,
                registry
                    .credentials()
                    .secret_manifest(REGISTRY_SECRET)
                    .as_bytes(),
            )?;
            if stand_ins {
                processes.push(start_build_executor(&dir, cp.kubeconfig_path(), registry)?);
            }
            if tekton {
                processes.push(
                    rt.block_on(async {
                        let client = cp.client()?;
                        let run_dir = dir.join("tekton");
                        nbv_testenv::tekton::start(
                            &client,
                            cp.kubeconfig_path(),
                            images,
                            &run_dir,
                            Lifetime::Detached,
                        )
                        .await
                    })?
                    .info(),
                );
                // A PipelineRun's workspace is a volume claim.
                processes.push(
                    rt.block_on(async {
                        let client = cp.client()?;
                        nbv_testenv::local_path::start(
                            &client,
                            cp.kubeconfig_path(),
                            images,
                            &dir.join("local-path"),
                            Lifetime::Detached,
                        )
                        .await
                    })?
                    .info(),
                );
            }
            if shipwright {
                processes.push(
                    rt.block_on(async {
                        let client = cp.client()?;
                        nbv_testenv::shipwright::start(
                            &client,
                            cp.kubeconfig_path(),
                            images,
                            &dir.join("shipwright"),
                            Lifetime::Detached,
                        )
                        .await
                    })?
                    .info(),
                );
            }
            Some(NodeState {
                images: images.clone(),
                examples_repo: repo.url,
                base_image: registry.push(&images.notebook)?,
                registry_secret,
            })
        }
        None => None,
    };
    let state = State {
        server: cp.server_url(),
        kubeconfig: cp.kubeconfig_path().to_path_buf(),
        processes,
        crds,
        node: node_state,
    };
    let path = dir.join(STATE_FILE);
    fs::write(&path, serde_json::to_string_pretty(&state)?)
        .with_context(|| format!("writing {}", path.display()))?;
    // From here on the servers are on their own.
    cp.detach();

    println!(
        "control plane {} up at {} in {:.1?}",
        nbv_testenv::KUBERNETES_VERSION,
        state.server,
        timings.total
    );
    if crd_files.is_empty() {
        println!("no CRDs in deploy/crds/ to install");
    }
    for crd in &state.crds {
        println!("installed CRD {crd}");
    }
    if let Some(node) = &state.node {
        println!(
            "node {} ready in {:.1?}",
            nbv_testenv::node::NODE_NAME,
            timings.node
        );
        println!("examples repository: {}", node.examples_repo);
        println!("notebook image: {}", node.images.notebook.reference);
        println!("operator image: {}", node.images.operator.reference);
        println!("buildah image: {}", node.images.buildah.reference);
        println!("kaniko image: {}", node.images.kaniko.reference);
        println!("buildkit image: {}", node.images.buildkit.reference);
        println!(
            "S2I Python builder image: {}",
            node.images.s2i_python.reference
        );
        println!(
            "image registry: {} (builds push here); base image for builds: {}",
            nbv_testenv::node::REGISTRY,
            node.base_image
        );
        if stand_ins {
            println!(
                "OpenShift builds: executed on the node (Buildah, and s2i {} for Source builds); ImageStreamTag outputs go to the node's registry",
                crate::node::builders::S2I_VERSION
            );
        }
        if tekton {
            println!(
                "Tekton Pipelines {}: its controller runs on the host (logs in {}); TaskRun pods run on the node",
                crate::node::builders::TEKTON_VERSION,
                dir.join("tekton").display()
            );
            println!(
                "volume claims: StorageClass {} (the default), by the local-path provisioner {}; volumes in {}",
                nbv_testenv::local_path::STORAGE_CLASS,
                crate::node::builders::LOCAL_PATH_VERSION,
                dir.join("local-path/volumes").display()
            );
        }
        if shipwright {
            println!(
                "Shipwright Build {}: its controller runs on the host (logs in {}); ClusterBuildStrategy {} builds with the node's Buildah",
                crate::node::builders::SHIPWRIGHT_VERSION,
                dir.join("shipwright").display(),
                nbv_testenv::shipwright::BUILDAH_STRATEGY,
            );
        }
        if let Some(login) = &login {
            println!(
                "registry login: {} / {} (pushes and pulls need it)",
                login.username, login.password
            );
        }
        println!(
            "registry secret: {} (a kubernetes.io/dockerconfigjson Secret named {REGISTRY_SECRET}: `kubectl apply -n <namespace> -f` it, then name it in buildConfig.pushSecret and podConfig.imagePullSecrets)",
            node.registry_secret.display()
        );
    }
    print_usage(&state);
    Ok(())
}

/// Starts the executor of OpenShift Builds in a process of its own: with the stand-in APIs and
/// a node, the S2I strategy's builds really run.
fn start_build_executor(
    dir: &Path,
    kubeconfig: &Path,
    registry: &nbv_testenv::node::NodeRegistry,
) -> anyhow::Result<ProcessInfo> {
    // Readable by its owner only: it holds the registry's password.
    let login = dir.join("registry-login.json");
    write_private(
        &login,
        registry.credentials().docker_config_json().as_bytes(),
    )?;
    let run_dir = dir.join("openshift-builds");
    fs::create_dir_all(&run_dir).with_context(|| format!("creating {}", run_dir.display()))?;
    let program = std::env::current_exe().context("locating cargo xtask's binary")?;
    let args = vec![
        "cluster".into(),
        "build-executor".into(),
        "--kubeconfig".into(),
        kubeconfig.as_os_str().to_owned(),
        "--registry-login".into(),
        login.into_os_string(),
    ];
    Ok(nbv_testenv::openshift::spawn_detached(
        &program, args, &run_dir,
    )?)
}

/// `cluster build-executor`: runs until stopped.
pub(super) fn build_executor(kubeconfig: &Path, registry_login: &Path) -> anyhow::Result<()> {
    let images = nbv_testenv::NodeImages::load()?;
    let login = fs::read_to_string(registry_login)
        .with_context(|| format!("reading {}", registry_login.display()))?;
    let config = nbv_testenv::openshift::ExecutorConfig {
        images: nbv_testenv::openshift::ExecutorImages {
            builder: images.openshift_builder.reference,
            git: images.operator.reference,
        },
        registry: nbv_testenv::node::REGISTRY.to_owned(),
        registry_login: Some(login),
        namespace: None,
    };
    runtime()?.block_on(async {
        let client = nbv_testenv::client_from(kubeconfig).await?;
        nbv_testenv::openshift::run(client, config).await;
        anyhow::Ok(())
    })
}

fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut file| file.write_all(contents))
        .with_context(|| format!("writing {}", path.display()))
}

/// examples/notebooks, as (path, content), for the node's git server.
fn examples_files() -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let dir = repo_root()?.join("examples").join("notebooks");
    let mut files = Vec::new();
    for entry in fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            files.push((
                entry.file_name().to_string_lossy().into_owned(),
                fs::read(entry.path())?,
            ));
        }
    }
    files.sort();
    Ok(files)
}

pub(super) fn down() -> anyhow::Result<()> {
    let dir = state_dir()?;
    match read_state(&dir)? {
        Some(state) => {
            stop(&dir, &state)?;
            println!("stopped; removed {}", dir.display());
        }
        None if dir.exists() => {
            fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
            println!("no cluster was recorded; removed {}", dir.display());
        }
        None => println!("no cluster is running"),
    }
    Ok(())
}

pub(super) fn status() -> anyhow::Result<()> {
    let dir = state_dir()?;
    let Some(state) = read_state(&dir)? else {
        bail!("no cluster is running (start one with `cargo xtask cluster up`)");
    };
    println!("server:     {}", state.server);
    println!("kubeconfig: {}", state.kubeconfig.display());
    let mut total_kib = 0;
    for p in &state.processes {
        let pid = p.server_pid.filter(|pid| nbv_testenv::is_running(*pid));
        match pid {
            Some(pid) => {
                let rss = nbv_testenv::rss_kib(pid).unwrap_or(0);
                total_kib += rss;
                println!(
                    "{:<24} running  pid {pid:<8} RSS {:>5} MiB",
                    p.name,
                    rss / 1024
                );
            }
            None => println!("{:<24} NOT RUNNING (log: {})", p.name, p.log.display()),
        }
    }
    println!("{:<24} RSS {:>5} MiB in all", "", total_kib / 1024);
    let ready = runtime()?.block_on(async {
        let client = nbv_testenv::client_from(&state.kubeconfig).await?;
        nbv_testenv::readyz(&client)
            .await
            .map_err(anyhow::Error::from)
    });
    match ready {
        Ok(body) => println!("readyz:     {body}"),
        Err(e) => bail!("the API server is not ready: {e:#}"),
    }
    if !all_running(&state) {
        bail!("part of the control plane is not running; `cargo xtask cluster down` cleans up");
    }
    Ok(())
}

fn print_usage(state: &State) {
    println!();
    println!("kubeconfig: {}", state.kubeconfig.display());
    println!("  export KUBECONFIG={}", state.kubeconfig.display());
    // `controlplane build` builds a kubectl of the same version next to the servers.
    if let Ok(binaries) = nbv_testenv::Binaries::locate() {
        let kubectl = binaries.dir.join("kubectl");
        if kubectl.is_file() {
            println!(
                "  {} --kubeconfig {} get crds",
                kubectl.display(),
                state.kubeconfig.display()
            );
        }
    }
    println!("stop it with `cargo xtask cluster down`");
}

fn all_running(state: &State) -> bool {
    state.processes.iter().all(|p| {
        is_supervisor(p.supervisor_pid) && p.server_pid.is_some_and(nbv_testenv::is_running)
    })
}

/// Whether `pid` is still one of our supervisors, not a recycled pid.
fn is_supervisor(pid: u32) -> bool {
    nbv_testenv::is_running(pid)
        && fs::read(format!("/proc/{pid}/cmdline"))
            .map(|c| {
                c.split(|b| *b == 0)
                    .next()
                    .is_some_and(|argv0| argv0.ends_with(b"nbv-supervise"))
            })
            .unwrap_or(false)
}

/// SIGTERM to each supervisor, last started first; SIGKILL after the timeout. Then removes the
/// state directory.
fn stop(dir: &Path, state: &State) -> anyhow::Result<()> {
    for p in state.processes.iter().rev() {
        if !is_supervisor(p.supervisor_pid) {
            continue;
        }
        let pid = i32::try_from(p.supervisor_pid)
            .ok()
            .and_then(Pid::from_raw)
            .context("invalid pid")?;
        let _ = kill_process(pid, Signal::TERM);
        let deadline = Instant::now() + STOP_TIMEOUT;
        while is_supervisor(p.supervisor_pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        if is_supervisor(p.supervisor_pid) {
            eprintln!("{} did not stop in time; killing it", p.name);
            // Its server follows through its parent-death signal.
            let _ = kill_process(pid, Signal::KILL);
        }
    }
    // A server outliving its supervisor would be a bug in the supervisor; say so loudly.
    let survivors: Vec<String> = state
        .processes
        .iter()
        .filter(|p| p.server_pid.is_some_and(nbv_testenv::is_running))
        .map(|p| format!("{} (pid {})", p.name, p.server_pid.unwrap_or_default()))
        .collect();
    if !survivors.is_empty() {
        bail!("still running after stop: {}", survivors.join(", "));
    }
    // containerd's supervisor undoes the node's host changes; not if it had to be killed.
    let record = Path::new(nbv_testenv::node::HOST_RECORD);
    if state.node.is_some() && record.exists() {
        let node_down = nbv_testenv::Binaries::locate()?.dir.join("nbv-node-down");
        let status = std::process::Command::new(&node_down)
            .arg(record)
            .status()?;
        if !status.success() {
            bail!(
                "the node's host changes were not all undone; the record stays in {}",
                record.display()
            );
        }
    }
    fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))
}

/// `deploy/crds/*.yaml`, sorted; none is fine (the operator's CRDs may not be generated yet).
fn deploy_crds() -> anyhow::Result<Vec<PathBuf>> {
    let dir = repo_root()?.join("deploy").join("crds");
    let Ok(entries) = fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    Ok(files)
}
