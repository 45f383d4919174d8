//! One benchmark run per job count: the operator against N jobs on a fresh control plane, then
//! the bare-client floor on another fresh control plane, then the checks.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};
use nbv_testenv::ControlPlane;
use notebook_validator_operator::crd::{self, NotebookValidationJob, Phase};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::actors::{self, Class, PREBUILT_IMAGE, Pace, Timeline};
use crate::procfs::{self, Usage};
use crate::report::{
    Floor, Latency, Machine, OperatorFigures, Outcome, Requests, Scale, ServerFigures, Wall,
    WritesPerJob,
};
use crate::stats::Percentiles;

/// What to run.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// The operator features the binary was built with, as given to `cargo xtask bench`.
    pub(crate) features: String,
    /// The command line to print in the report.
    pub(crate) command: String,
    /// Share of jobs that build their image with S2I, in percent.
    pub(crate) build_percent: u32,
    /// Jobs created at a time.
    pub(crate) creators: usize,
    /// Jobs created per second; none: as fast as the API server takes them.
    pub(crate) create_rate: Option<f64>,
    /// The played controllers' pace.
    pub(crate) pace: Pace,
    /// Concurrent workers of the bare client of the floor.
    pub(crate) floor_workers: usize,
    /// How long a run may take before the jobs not yet terminal count as stuck: this much ...
    pub(crate) deadline_base: Duration,
    /// ... plus this much per job.
    pub(crate) deadline_per_job: Duration,
}

impl Options {
    pub(crate) fn deadline_for(&self, n: usize) -> Duration {
        self.deadline_base + self.deadline_per_job * u32::try_from(n).unwrap_or(u32::MAX)
    }
}

/// Pod Security level of the benchmark namespaces: what the operator's pods meet in production.
const RESTRICTED: (&str, &str) = ("pod-security.kubernetes.io/enforce", "restricted");
/// How long both runs let a fresh control plane and their watches settle before the first job.
const SETTLE: Duration = Duration::from_secs(1);
/// How often the run checks whether it is done.
const POLL: Duration = Duration::from_millis(200);

/// Measures the operator and the floor with `n` jobs.
pub(crate) async fn measure(n: usize, options: &Options, log_dir: &Path) -> anyhow::Result<Scale> {
    let operator_run = run_operator(n, options, log_dir).await?;
    let status_writes = floor_status_writes(&operator_run);
    eprintln!(
        "nbv-bench: {n} jobs: the floor (status writes per job of each class: {status_writes:?})"
    );
    let floor = run_floor(&operator_run.names, status_writes, options).await?;
    Ok(crate::report::assemble(
        n,
        options,
        Machine::this(),
        operator_run.into_parts(),
        floor,
    ))
}

/// How many status writes the floor makes for a job of each class: as many writes as the operator
/// made for such a job on average, less the pod creation, so that both put the same number of
/// writes on the API server.
fn floor_status_writes(run: &OperatorRun) -> HashMap<Class, usize> {
    Class::ALL
        .into_iter()
        .filter_map(|class| {
            let writes: Vec<u64> = run
                .names
                .iter()
                .filter(|j| Class::of(j) == Some(class))
                .map(|j| {
                    let by_job = &run.report.requests.writes_by_job;
                    by_job.get(j).copied().unwrap_or_default()
                })
                .collect();
            let mean = writes.iter().sum::<u64>() as f64 / writes.len().max(1) as f64;
            (!writes.is_empty()).then(|| (class, (mean.round() as usize).max(2) - 1))
        })
        .collect()
}

/// What the operator run measured, before the report is assembled.
pub(crate) struct OperatorRun {
    pub(crate) names: Vec<String>,
    pub(crate) timeline: Arc<Timeline>,
    pub(crate) create_all: Duration,
    pub(crate) idle: Usage,
    pub(crate) end: Usage,
    pub(crate) report: crate::operator::Report,
    pub(crate) outcome: Outcome,
    pub(crate) servers: BTreeMap<String, ServerFigures>,
    pub(crate) strategies_built: bool,
}

impl OperatorRun {
    fn into_parts(self) -> crate::report::OperatorParts {
        let times = self.timeline.times();
        let between = |class, from, to| between(&times, class, from, to);
        let latency = Latency {
            job_seen: between(None, |t| t.created, |t| t.seen),
            job_to_pod_prebuilt: between(Some(Class::Prebuilt), |t| t.created, |t| t.pod_seen),
            job_to_pod_s2i: between(Some(Class::S2i), |t| t.created, |t| t.pod_seen),
            build_to_pod: between(Some(Class::S2i), |t| t.build_done, |t| t.pod_seen),
            job_to_terminal: between(None, |t| t.created, |t| t.terminal),
        };
        let last = |step: fn(&actors::Times) -> Option<Duration>| {
            let all: Vec<Duration> = times.values().filter_map(step).collect();
            (all.len() == self.names.len()).then(|| all.into_iter().max().unwrap_or_default())
        };
        let wall = Wall {
            create_all: self.create_all.as_secs_f64(),
            all_pods: last(|t| t.pod_seen).map(|d| d.as_secs_f64()),
            all_terminal: last(|t| t.terminal).map(|d| d.as_secs_f64()),
        };
        let n = self.names.len();
        let operator = OperatorFigures {
            idle_rss_bytes: self.idle.rss,
            peak_rss_bytes: self.end.peak_rss,
            rss_bytes_per_job: self.end.peak_rss.saturating_sub(self.idle.rss) as f64 / n as f64,
            cpu_seconds: self.end.cpu_seconds - self.idle.cpu_seconds,
            reconciles: self.report.reconciles,
            reconciles_per_job: self.report.reconciles as f64 / n as f64,
            reconcile_errors: self.report.reconcile_errors.clone(),
            strategies: self.report.strategies.clone(),
        };
        let requests = Requests::from_tally(&self.report.requests, &self.names, |names, class| {
            WritesPerJob::of(names, class, &self.report.requests.writes_by_job)
        });
        crate::report::OperatorParts {
            latency,
            wall,
            operator,
            requests,
            outcome: self.outcome,
            servers: self.servers,
            builds_compiled: self.strategies_built,
        }
    }
}

/// The percentiles, in milliseconds, of the time from step `from` to step `to` of the jobs of
/// `class` (of all jobs when none).
fn between(
    times: &HashMap<String, actors::Times>,
    class: Option<Class>,
    from: fn(&actors::Times) -> Option<Duration>,
    to: fn(&actors::Times) -> Option<Duration>,
) -> Option<Percentiles> {
    let samples: Vec<f64> = times
        .iter()
        .filter(|(j, _)| class.is_none() || Class::of(j) == class)
        .filter_map(|(_, t)| Some(to(t)?.saturating_sub(from(t)?).as_secs_f64() * 1000.0))
        .collect();
    Percentiles::of(&samples)
}

/// A fresh control plane with our CRD and the stand-ins, and a namespace for the jobs.
async fn control_plane(prefix: &str) -> anyhow::Result<(ControlPlane, Client, String)> {
    let cp = ControlPlane::start()
        .await
        .context("starting the control plane (built by `cargo xtask controlplane build`)")?;
    let client = cp.client()?;
    let ours = crd::crd_yaml();
    let mut manifests: Vec<&str> = vec![&ours];
    manifests.extend_from_slice(nbv_testenv::crds::ALL);
    nbv_testenv::install_crds(&client, &manifests).await?;
    let namespace = cp.create_namespace(prefix, &[RESTRICTED]).await?;
    Ok((cp, client, namespace))
}

async fn run_operator(n: usize, options: &Options, log_dir: &Path) -> anyhow::Result<OperatorRun> {
    let (cp, client, namespace) = control_plane("bench").await?;
    let log = log_dir.join(format!("nbv-bench-operator-{n}.log"));
    let mut operator = OperatorProcess::start(cp.kubeconfig_path(), &namespace, &log).await?;
    // The operator process is this same binary, so it links the same strategies.
    let strategies_built = crate::compiled_strategies()?.iter().any(|s| s == "s2i");
    let build_percent = if strategies_built {
        options.build_percent
    } else {
        eprintln!("nbv-bench: S2I is not compiled in: every job uses a prebuilt image");
        0
    };
    let names = actors::plan_jobs(n, build_percent);
    let jobs: Api<NotebookValidationJob> = Api::namespaced(client.clone(), &namespace);
    let timeline = Timeline::new();
    let mut tasks = JoinSet::new();
    start_common_actors(&mut tasks, &client, &namespace, &timeline, options);
    actors::builder(
        &mut tasks,
        &client,
        &namespace,
        timeline.clone(),
        options.pace,
    );
    // Let start-up allocations and the first watch lists settle before the idle figure.
    tokio::time::sleep(SETTLE).await;
    let idle = operator.usage()?;
    timeline.restart();
    eprintln!("nbv-bench: {n} jobs: creating them");
    actors::create_jobs(&jobs, &names, options, &timeline, None).await?;
    let create_all = timeline.elapsed();
    let deadline = options.deadline_for(n);
    let mut last_report = 0;
    while timeline.terminal_count() < n && timeline.elapsed() < deadline {
        if let Some(status) = operator.exited()? {
            bail!(
                "the operator exited during the run ({status}); see {}",
                log.display()
            );
        }
        let done = timeline.terminal_count();
        if done >= last_report + n.div_ceil(10) {
            eprintln!(
                "nbv-bench: {n} jobs: {done} terminal after {:.0?}",
                timeline.elapsed()
            );
            last_report = done;
        }
        tokio::time::sleep(POLL).await;
    }
    let end = operator.usage()?;
    let report = operator.stop().await?;
    tasks.shutdown().await;
    let servers = cp
        .processes()
        .into_iter()
        .filter_map(|p| {
            let usage = procfs::usage(p.server_pid?)?;
            Some((
                p.name,
                ServerFigures {
                    peak_rss_bytes: usage.peak_rss,
                    rss_bytes_at_end: usage.rss,
                    cpu_seconds: usage.cpu_seconds,
                },
            ))
        })
        .collect();
    let mut outcome = verify(&client, &namespace, &names, &timeline).await?;
    outcome.bench_failures = timeline.failures();
    drop(cp);
    Ok(OperatorRun {
        names,
        timeline,
        create_all,
        idle,
        end,
        report,
        outcome,
        servers,
        strategies_built,
    })
}

/// Starts what both runs have around the operator or the floor: the watch on the jobs, and the
/// played kubelet finishing the validation pods at the run's pace.
fn start_common_actors(
    tasks: &mut JoinSet<()>,
    client: &Client,
    namespace: &str,
    timeline: &Arc<Timeline>,
    options: &Options,
) {
    let jobs: Api<NotebookValidationJob> = Api::namespaced(client.clone(), namespace);
    actors::tracker(tasks, jobs, timeline.clone());
    actors::kubelet(tasks, client, namespace, timeline.clone(), options.pace);
}

/// The floor: the operator's part played by a bare client, with everything else as in the
/// operator's run (the same job creations, the same played kubelet finishing the pods at the same
/// pace, the same watch on the jobs), so that the API server carries the same load.
async fn run_floor(
    names: &[String],
    status_writes: HashMap<Class, usize>,
    options: &Options,
) -> anyhow::Result<Floor> {
    let (cp, client, namespace) = control_plane("floor").await?;
    let jobs: Api<NotebookValidationJob> = Api::namespaced(client.clone(), &namespace);
    let timeline = Timeline::new();
    let mut tasks = JoinSet::new();
    start_common_actors(&mut tasks, &client, &namespace, &timeline, options);
    let writes_of_all: u64 = names
        .iter()
        .filter_map(|j| status_writes.get(&Class::of(j)?))
        .map(|&w| w as u64)
        .sum();
    let queue = actors::bare_operator(
        &mut tasks,
        &client,
        &namespace,
        options.floor_workers,
        status_writes.clone(),
        timeline.clone(),
    );
    tokio::time::sleep(SETTLE).await;
    timeline.restart();
    actors::create_jobs(&jobs, names, options, &timeline, Some(&queue)).await?;
    let done = |t: &actors::Times| t.pod_seen.is_some() && t.terminal.is_some();
    let deadline = options.deadline_for(names.len());
    while timeline.times().values().filter(|t| done(t)).count() < names.len()
        && timeline.elapsed() < deadline
    {
        tokio::time::sleep(POLL).await;
    }
    tasks.shutdown().await;
    drop(cp);
    let times = timeline.times();
    let last = |step: fn(&actors::Times) -> Option<Duration>| {
        let all: Vec<Duration> = times.values().filter_map(step).collect();
        (all.len() == names.len()).then(|| all.into_iter().max().unwrap_or_default().as_secs_f64())
    };
    // Job creations, pod creations and status writes.
    let round_trips = 2 * names.len() as u64 + writes_of_all;
    let all_writes = last(|t| t.terminal);
    Ok(Floor {
        workers: options.floor_workers,
        status_writes_per_job: status_writes
            .into_iter()
            .map(|(class, w)| (class.prefix().to_owned(), w))
            .collect(),
        round_trips,
        job_seen: between(&times, None, |t| t.created, |t| t.seen),
        job_to_pod: between(&times, Some(Class::Prebuilt), |t| t.created, |t| t.pod_seen),
        all_pods_seconds: last(|t| t.pod_seen),
        all_writes_seconds: all_writes,
        round_trips_per_second: all_writes.map(|s| round_trips as f64 / s),
        failures: timeline.failures(),
    })
}

/// Checks every job's final status and pods.
async fn verify(
    client: &Client,
    namespace: &str,
    names: &[String],
    timeline: &Timeline,
) -> anyhow::Result<Outcome> {
    let jobs: HashMap<String, NotebookValidationJob> =
        list_all::<NotebookValidationJob>(&Api::namespaced(client.clone(), namespace))
            .await?
            .into_iter()
            .map(|j| (j.name_any(), j))
            .collect();
    let mut pods: HashMap<String, Vec<Pod>> = HashMap::new();
    for pod in list_all::<Pod>(&Api::namespaced(client.clone(), namespace)).await? {
        if let Some(owner) = pod.owner_references().first() {
            pods.entry(owner.name.clone()).or_default().push(pod);
        }
    }
    let created = timeline.times();
    let mut outcome = Outcome::default();
    for name in names {
        if created.get(name).and_then(|t| t.created).is_some() {
            outcome.created += 1;
        }
        let Some(job) = jobs.get(name) else {
            outcome.lost += 1;
            outcome.example(format!("{name}: not found"));
            continue;
        };
        let status = job.status.clone().unwrap_or_default();
        match status.phase {
            Some(Phase::Succeeded) => outcome.succeeded += 1,
            Some(Phase::Failed) => outcome.failed += 1,
            other => {
                outcome.stuck += 1;
                outcome.example(format!("{name}: stuck in {other:?}: {:?}", status.message));
                continue;
            }
        }
        match check(
            namespace,
            job,
            pods.get(name).map(Vec::as_slice).unwrap_or_default(),
        ) {
            Ok(()) => outcome.correct += 1,
            Err(why) => {
                outcome.wrong += 1;
                outcome.example(format!("{name}: {why}"));
            }
        }
    }
    Ok(outcome)
}

/// Whether a terminal job ended as it should: passed, with the runner's three results, and its
/// one validation pod running the right image.
fn check(namespace: &str, job: &NotebookValidationJob, pods: &[Pod]) -> Result<(), String> {
    let name = job.name_any();
    let status = job.status.clone().unwrap_or_default();
    if status.phase != Some(Phase::Succeeded) {
        return Err(format!("phase {:?}: {:?}", status.phase, status.message));
    }
    let passed = status.results.len() == 3
        && status
            .results
            .iter()
            .all(|r| r.status == nbv_report::CellStatus::Passed);
    if !passed {
        return Err(format!("results {:?}", status.results));
    }
    let ready = status
        .conditions
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    if !ready {
        return Err("condition Ready is not True".into());
    }
    let pod_name = format!("{name}-validation");
    if status.validation_pod_name.as_deref() != Some(pod_name.as_str()) {
        return Err(format!(
            "validationPodName {:?}",
            status.validation_pod_name
        ));
    }
    let image = match Class::of(&name) {
        Some(Class::S2i) => {
            let expected = actors::built_image(namespace, &name);
            let reported = status
                .build_status
                .as_ref()
                .and_then(|b| b.image_reference.clone());
            if reported.as_deref() != Some(expected.as_str()) {
                return Err(format!(
                    "buildStatus.imageReference {reported:?}, not {expected}"
                ));
            }
            expected
        }
        _ => PREBUILT_IMAGE.to_owned(),
    };
    match pods {
        [pod] if pod.name_any() == pod_name => {
            let ran = pod
                .spec
                .as_ref()
                .and_then(|s| s.containers.first())
                .and_then(|c| c.image.clone());
            if ran.as_deref() == Some(image.as_str()) {
                Ok(())
            } else {
                Err(format!("the pod ran {ran:?}, not {image}"))
            }
        }
        _ => Err(format!(
            "pods {:?} instead of one {pod_name}",
            pods.iter().map(ResourceExt::name_any).collect::<Vec<_>>()
        )),
    }
}

/// Every object of `api`, listed in pages.
async fn list_all<K>(api: &Api<K>) -> anyhow::Result<Vec<K>>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let mut all = Vec::new();
    let mut params = ListParams::default().limit(500);
    loop {
        let page = api.list(&params).await?;
        all.extend(page.items);
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => return Ok(all),
        }
    }
}

/// The operator under test, as a child process (see [`crate::operator`]).
struct OperatorProcess {
    child: Child,
    pid: u32,
    stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<String>,
    log: PathBuf,
}

impl OperatorProcess {
    async fn start(kubeconfig: &Path, namespace: &str, log: &Path) -> anyhow::Result<Self> {
        let stderr = std::fs::File::create(log).with_context(|| log.display().to_string())?;
        let mut child = tokio::process::Command::new(std::env::current_exe()?)
            .arg("operator")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .arg("--namespace")
            .arg(namespace)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .context("starting the operator process")?;
        let pid = child.id().context("the operator process has no pid")?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().context("the operator's stdout")?;
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut process = Self {
            child,
            pid,
            stdin,
            lines,
            log: log.to_owned(),
        };
        let ready = tokio::time::timeout(Duration::from_secs(120), process.lines.recv()).await;
        match ready {
            Ok(Some(line)) if line == "ready" => Ok(process),
            _ => bail!("the operator did not become ready; see {}", log.display()),
        }
    }

    fn usage(&self) -> anyhow::Result<Usage> {
        procfs::usage(self.pid)
            .with_context(|| format!("the operator process is gone; see {}", self.log.display()))
    }

    fn exited(&mut self) -> anyhow::Result<Option<std::process::ExitStatus>> {
        Ok(self.child.try_wait()?)
    }

    /// Stops it (closing its stdin) and reads its report.
    async fn stop(mut self) -> anyhow::Result<crate::operator::Report> {
        self.stdin.take();
        let report = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = self.lines.recv().await {
                if let Ok(report) = serde_json::from_str(&line) {
                    return Some(report);
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
        .with_context(|| format!("the operator sent no report; see {}", self.log.display()))?;
        let _ = tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await;
        Ok(report)
    }
}
