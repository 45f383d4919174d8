//! What the benchmark plays against the operator: the user creating jobs, the kubelet running
//! validation pods and the OpenShift build controller completing Builds, each at a fixed pace
//! through a bounded pool of workers, and a watch recording when each job reaches what.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Container, Pod};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use nbv_report::{CellResult, CellStatus, Outcome, SCHEMA_VERSION, Summary};
use notebook_validator_operator::crd::{NotebookValidationJob, Phase};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// Label on everything the operator creates.
pub(crate) const MANAGED: &str = "app.kubernetes.io/managed-by=nbv-operator";
/// The image prebuilt-image jobs name.
pub(crate) const PREBUILT_IMAGE: &str = "quay.io/jupyter/scipy-notebook:2025-06-30";
/// Where the played build controller says it pushed.
const REGISTRY: &str = "image-registry.openshift-image-registry.svc:5000";
/// Attempts at each write the benchmark makes before it gives up on it.
const ATTEMPTS: u32 = 5;

/// The kinds of job the benchmark creates; the prefix of each job's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Class {
    /// `podConfig.containerImage` given: no build.
    Prebuilt,
    /// `buildConfig.enabled` with the S2I strategy.
    S2i,
}

impl Class {
    pub(crate) const ALL: [Class; 2] = [Class::Prebuilt, Class::S2i];

    pub(crate) fn prefix(self) -> &'static str {
        match self {
            Class::Prebuilt => "pre",
            Class::S2i => "s2i",
        }
    }

    pub(crate) fn of(job: &str) -> Option<Class> {
        Self::ALL
            .into_iter()
            .find(|c| job.split_once('-').is_some_and(|(p, _)| p == c.prefix()))
    }
}

/// The name of job `index` of `class`.
pub(crate) fn job_name(class: Class, index: usize) -> String {
    format!("{}-{index:05}", class.prefix())
}

/// The jobs of a run: every `100 / build_percent`-th one builds (none when builds are off).
pub(crate) fn plan_jobs(n: usize, build_percent: u32) -> Vec<String> {
    (0..n)
        .map(|i| {
            // Spread evenly: job i builds when the running share of builds falls behind.
            let builds_so_far = i * build_percent as usize / 100;
            let builds_after = (i + 1) * build_percent as usize / 100;
            let class = if builds_after > builds_so_far {
                Class::S2i
            } else {
                Class::Prebuilt
            };
            job_name(class, i)
        })
        .collect()
}

/// The job object for `name`.
pub(crate) fn job(name: &str) -> anyhow::Result<NotebookValidationJob> {
    let pod_config = match Class::of(name) {
        Some(Class::S2i) => json!({ "buildConfig": {
            "enabled": true, "strategy": "s2i", "requirementsFile": "requirements.txt" } }),
        _ => json!({ "containerImage": PREBUILT_IMAGE }),
    };
    Ok(serde_json::from_value(json!({
        "apiVersion": "mlops.redhat.com/v1alpha1",
        "kind": "NotebookValidationJob",
        "metadata": { "name": name },
        "spec": {
            // Never fetched: no kubelet runs here, and the host is reserved for examples.
            "notebook": { "git": { "url": "https://git.example.com/notebooks.git", "ref": "main" },
                          "path": "analysis.ipynb" },
            "timeout": "30m",
            "podConfig": pod_config,
        }
    }))?)
}

/// The digest the played build controller reports for the build of job `name`.
pub(crate) fn digest_of(name: &str) -> String {
    let index: u64 = name
        .rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_default();
    format!("sha256:{index:064x}")
}

/// The digest-pinned image the validation pod of a build job must run.
pub(crate) fn built_image(namespace: &str, name: &str) -> String {
    format!("{REGISTRY}/{namespace}/{name}-build@{}", digest_of(name))
}

/// When each job reached each step, measured from the start of the run.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Times {
    pub(crate) created: Option<Duration>,
    /// The job's creation arrived through a watch on the jobs.
    pub(crate) seen: Option<Duration>,
    pub(crate) build_done: Option<Duration>,
    pub(crate) pod_seen: Option<Duration>,
    pub(crate) terminal: Option<Duration>,
}

/// The run's clock and what it recorded, shared by every actor.
#[derive(Debug)]
pub(crate) struct Timeline {
    start: Mutex<Instant>,
    jobs: Mutex<HashMap<String, Times>>,
    terminal: Mutex<HashMap<String, Phase>>,
    failures: Mutex<Vec<String>>,
}

impl Timeline {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            start: Mutex::new(Instant::now()),
            jobs: Mutex::default(),
            terminal: Mutex::default(),
            failures: Mutex::default(),
        })
    }

    pub(crate) fn elapsed(&self) -> Duration {
        self.start
            .lock()
            .map_or(Duration::ZERO, |start| start.elapsed())
    }

    /// Starts the clock again: times count from the first job's creation, not from set-up.
    pub(crate) fn restart(&self) {
        if let Ok(mut start) = self.start.lock() {
            *start = Instant::now();
        }
    }

    /// Records `step` of `job` the first time it happens.
    fn mark(&self, job: &str, step: impl FnOnce(&mut Times) -> &mut Option<Duration>) {
        let now = self.elapsed();
        if let Ok(mut jobs) = self.jobs.lock() {
            step(jobs.entry(job.to_owned()).or_default()).get_or_insert(now);
        }
    }

    pub(crate) fn times(&self) -> HashMap<String, Times> {
        self.jobs.lock().map(|j| j.clone()).unwrap_or_default()
    }

    /// How many jobs reached a terminal phase.
    pub(crate) fn terminal_count(&self) -> usize {
        self.terminal.lock().map_or(0, |t| t.len())
    }

    /// Records a write the benchmark itself could not make (the run is then not valid).
    fn failed(&self, what: String) {
        eprintln!("nbv-bench: {what}");
        if let Ok(mut failures) = self.failures.lock() {
            failures.push(what);
        }
    }

    pub(crate) fn failures(&self) -> Vec<String> {
        self.failures.lock().map(|f| f.clone()).unwrap_or_default()
    }
}

/// Retries `write` a few times; the API server may be briefly overloaded at scale.
async fn retried<F, Fut, T>(write: F) -> Result<T, kube::Error>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let mut attempt = 1;
    loop {
        match write().await {
            Ok(value) => return Ok(value),
            Err(e) if attempt >= ATTEMPTS => return Err(e),
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                attempt += 1;
            }
        }
    }
}

/// Creates the jobs `names`, `options.creators` at a time and at `options.create_rate` per
/// second, recording when each was created, and queues each created object on `created` (the
/// bare client playing the operator, for the floor).
pub(crate) async fn create_jobs(
    api: &Api<NotebookValidationJob>,
    names: &[String],
    options: &crate::run::Options,
    timeline: &Timeline,
    created: Option<&Queue<NotebookValidationJob>>,
) -> anyhow::Result<()> {
    let objects = names
        .iter()
        .map(|n| job(n))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let start = tokio::time::Instant::now();
    let rate = options.create_rate;
    futures::stream::iter(objects.into_iter().enumerate())
        .for_each_concurrent(options.creators, |(i, object)| async move {
            // Each job has its due time, so a slow create delays no other (while creators last).
            if let Some(rate) = rate {
                tokio::time::sleep_until(start + Duration::from_secs_f64(i as f64 / rate)).await;
            }
            let name = object.name_any();
            let post = PostParams::default();
            match retried(|| api.create(&post, &object)).await {
                Ok(job) => {
                    timeline.mark(&name, |t| &mut t.created);
                    if let Some(queue) = created {
                        queue.push(job);
                    }
                }
                Err(e) => timeline.failed(format!("creating job {name}: {e}")),
            }
        })
        .await;
    Ok(())
}

/// The queue of a [`paced_pool`].
pub(crate) struct Queue<T>(mpsc::UnboundedSender<(Instant, T)>);

impl<T> Queue<T> {
    /// Queues `item` now; false once the pool is gone.
    pub(crate) fn push(&self, item: T) -> bool {
        self.0.send((Instant::now(), item)).is_ok()
    }
}

/// A bounded pool of `workers` that each take the next item and handle it `delay` after it was
/// queued: the fixed pace of a kubelet or build controller.
fn paced_pool<T, F, Fut>(
    tasks: &mut JoinSet<()>,
    workers: usize,
    delay: Duration,
    work: F,
) -> Queue<T>
where
    T: Send + 'static,
    F: Fn(T) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let (tx, rx) = mpsc::unbounded_channel::<(Instant, T)>();
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    for _ in 0..workers.max(1) {
        let rx = rx.clone();
        let work = work.clone();
        tasks.spawn(async move {
            loop {
                let next = rx.lock().await.recv().await;
                let Some((queued, item)) = next else { return };
                // Items are queued in order with one delay, so due times only grow.
                tokio::time::sleep_until((queued + delay).into()).await;
                work(item).await;
            }
        });
    }
    Queue(tx)
}

/// The pace of the played controllers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pace {
    /// How long a validation pod "runs" before the kubelet reports it finished.
    pub(crate) pod_run: Duration,
    /// Workers of the played kubelet.
    pub(crate) kubelet_workers: usize,
    /// How long a build "takes".
    pub(crate) build_time: Duration,
    /// Workers of the played build controller.
    pub(crate) builder_workers: usize,
}

/// Watches the validation pods in `namespace`, recording when each appears, and plays the
/// kubelet: each pod succeeds with a runner summary in its termination message.
pub(crate) fn kubelet(
    tasks: &mut JoinSet<()>,
    client: &Client,
    namespace: &str,
    timeline: Arc<Timeline>,
    pace: Pace,
) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let finish = {
        let pods = pods.clone();
        let timeline = timeline.clone();
        let message = Arc::new(passed_summary());
        paced_pool(
            tasks,
            pace.kubelet_workers,
            pace.pod_run,
            move |pod: Pod| {
                let pods = pods.clone();
                let timeline = timeline.clone();
                let message = message.clone();
                async move {
                    let name = pod.name_any();
                    let status = json!({ "status": succeeded_status(&pod, &message) });
                    let (params, patch) = (PatchParams::default(), Patch::Merge(&status));
                    let write = || pods.patch_status(&name, &params, &patch);
                    if let Err(e) = retried(write).await {
                        timeline.failed(format!("finishing pod {name}: {e}"));
                    }
                }
            },
        )
    };
    tasks.spawn(async move {
        let mut seen = HashSet::new();
        let stream = watcher(pods, watcher::Config::default().labels(MANAGED))
            .default_backoff()
            .applied_objects();
        let mut stream = std::pin::pin!(stream);
        while let Ok(Some(pod)) = stream.try_next().await {
            let Some(job) = pod.owner_references().first().map(|o| o.name.clone()) else {
                continue;
            };
            if !seen.insert(pod.name_any()) {
                continue;
            }
            timeline.mark(&job, |t| &mut t.pod_seen);
            finish.push(pod);
        }
    });
}

/// A passing runner summary, as `nbv run` writes it to the termination message.
fn passed_summary() -> String {
    let summary = Summary {
        schema_version: SCHEMA_VERSION,
        outcome: Outcome::Passed,
        exit_code: Outcome::Passed.exit_code(),
        message: "notebook Passed".into(),
        notebook: "analysis.ipynb".into(),
        results: (0..3)
            .map(|i| CellResult {
                cell_index: i,
                status: CellStatus::Passed,
                execution_time: Some("0.1s".into()),
                output: None,
                error_message: None,
            })
            .collect(),
        comparison_result: None,
        generated_requirements: None,
        stopped: None,
        truncated: None,
    };
    summary
        .to_bounded_json(nbv_report::TERMINATION_MESSAGE_LIMIT)
        .unwrap_or_default()
}

/// The status the kubelet writes for a pod whose containers all ran and exited 0, the main
/// ones with `message` as their termination message.
fn succeeded_status(pod: &Pod, message: &str) -> Value {
    let terminated = |container: &Container, message: &str| {
        json!({
            "name": container.name, "ready": false, "restartCount": 0,
            "image": container.image, "imageID": "",
            "state": { "terminated": { "exitCode": 0, "reason": "Completed", "message": message,
                "startedAt": "2026-01-01T10:00:00Z", "finishedAt": "2026-01-01T10:01:00Z" } }
        })
    };
    let spec = pod.spec.clone().unwrap_or_default();
    let inits: Vec<Value> = spec
        .init_containers
        .iter()
        .flatten()
        .map(|c| terminated(c, ""))
        .collect();
    let mains: Vec<Value> = spec
        .containers
        .iter()
        .map(|c| terminated(c, message))
        .collect();
    json!({ "phase": "Succeeded", "initContainerStatuses": inits, "containerStatuses": mains,
            "startTime": "2026-01-01T10:00:00Z" })
}

/// The OpenShift `Build` stand-in.
pub(crate) fn builds(client: &Client, namespace: &str) -> Api<DynamicObject> {
    let resource =
        ApiResource::from_gvk(&GroupVersionKind::gvk("build.openshift.io", "v1", "Build"));
    Api::namespaced_with(client.clone(), namespace, &resource)
}

/// Plays the OpenShift build controller: each Build completes after the build time, with the
/// digest of its pushed image. It writes through the Build itself, as there is no
/// `builds/status` subresource.
pub(crate) fn builder(
    tasks: &mut JoinSet<()>,
    client: &Client,
    namespace: &str,
    timeline: Arc<Timeline>,
    pace: Pace,
) {
    let api = builds(client, namespace);
    let ns = namespace.to_owned();
    let complete = {
        let api = api.clone();
        let timeline = timeline.clone();
        paced_pool(
            tasks,
            pace.builder_workers,
            pace.build_time,
            move |name: String| {
                let api = api.clone();
                let timeline = timeline.clone();
                let ns = ns.clone();
                async move {
                    let job = name.trim_end_matches("-build").to_owned();
                    let now = k8s_openapi::jiff::Timestamp::now().to_string();
                    let status = json!({ "status": {
                    "phase": "Complete", "startTimestamp": now, "completionTimestamp": now,
                    "outputDockerImageReference": format!("{REGISTRY}/{ns}/{name}:latest"),
                    "output": { "to": { "imageDigest": digest_of(&job) } },
                } });
                    let (params, patch) = (PatchParams::default(), Patch::Merge(&status));
                    let write = || api.patch(&name, &params, &patch);
                    match retried(write).await {
                        Ok(_) => timeline.mark(&job, |t| &mut t.build_done),
                        Err(e) => timeline.failed(format!("completing build {name}: {e}")),
                    }
                }
            },
        )
    };
    tasks.spawn(async move {
        let mut seen = HashSet::new();
        let stream = watcher(api, watcher::Config::default())
            .default_backoff()
            .applied_objects();
        let mut stream = std::pin::pin!(stream);
        while let Ok(Some(build)) = stream.try_next().await {
            if seen.insert(build.name_any()) {
                complete.push(build.name_any());
            }
        }
    });
}

/// Watches the jobs, recording when each is first seen through the watch (the API server's watch
/// delay, which every operator pays before it can act) and when it reaches Succeeded or Failed.
pub(crate) fn tracker(
    tasks: &mut JoinSet<()>,
    api: Api<NotebookValidationJob>,
    timeline: Arc<Timeline>,
) {
    tasks.spawn(async move {
        let stream = watcher(api, watcher::Config::default())
            .default_backoff()
            .applied_objects();
        let mut stream = std::pin::pin!(stream);
        while let Ok(Some(job)) = stream.try_next().await {
            timeline.mark(&job.name_any(), |t| &mut t.seen);
            let phase = job.status.as_ref().and_then(|s| s.phase);
            if let Some(phase @ (Phase::Succeeded | Phase::Failed)) = phase {
                let name = job.name_any();
                let first = timeline
                    .terminal
                    .lock()
                    .is_ok_and(|mut t| t.insert(name.clone(), phase).is_none());
                if first {
                    timeline.mark(&name, |t| &mut t.terminal);
                }
            }
        }
    });
}

/// Plays an operator with a bare client, for the floor: as soon as a job exists, one pool of
/// `workers` creates its validation pod (rendered by the operator's own code); then another pool
/// writes its status as many times as `status_writes` gives for the job's class. Pod creation
/// never waits behind status writes, so the time to the pod is the API server's, not the order of
/// this client's work.
pub(crate) fn bare_operator(
    tasks: &mut JoinSet<()>,
    client: &Client,
    namespace: &str,
    workers: usize,
    status_writes: HashMap<Class, usize>,
    timeline: Arc<Timeline>,
) -> Queue<NotebookValidationJob> {
    use notebook_validator_operator::config::PodSettings;
    use notebook_validator_operator::reconcile::validation_pod::{self, PodPlan};
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let jobs: Api<NotebookValidationJob> = Api::namespaced(client.clone(), namespace);
    let status_writer = {
        let timeline = timeline.clone();
        let status_writes = Arc::new(status_writes);
        paced_pool(tasks, workers, Duration::ZERO, move |name: String| {
            let (jobs, timeline) = (jobs.clone(), timeline.clone());
            let status_writes = status_writes.clone();
            async move {
                let apply = PatchParams::apply("nbv-bench-floor").force();
                let patches = Class::of(&name).and_then(|c| status_writes.get(&c).copied());
                for i in 0..patches.unwrap_or_default() {
                    // Each patch changes the status, so each is a real write, as the operator's are.
                    let status = json!({
                        "apiVersion": "mlops.redhat.com/v1alpha1", "kind": "NotebookValidationJob",
                        "status": { "phase": "ValidationRunning",
                                    "message": format!("validating in pod {name}-validation ({i})"),
                                    "validationPodName": format!("{name}-validation") },
                    });
                    let patch = Patch::Apply(&status);
                    let write = || jobs.patch_status(&name, &apply, &patch);
                    if let Err(e) = retried(write).await {
                        timeline.failed(format!("floor: writing the status of {name}: {e}"));
                    }
                }
                timeline.mark(&name, |t| &mut t.terminal);
            }
        })
    };
    let status_writer = Arc::new(status_writer);
    let settings = Arc::new(PodSettings {
        runner_image: crate::RUNNER_IMAGE.into(),
        git_image: crate::RUNNER_IMAGE.into(),
    });
    paced_pool(
        tasks,
        workers,
        Duration::ZERO,
        move |job: NotebookValidationJob| {
            let (pods, settings, timeline, status_writer) = (
                pods.clone(),
                settings.clone(),
                timeline.clone(),
                status_writer.clone(),
            );
            async move {
                let name = job.name_any();
                let plan = PodPlan {
                    image: PREBUILT_IMAGE,
                    build_push_secret: None,
                    requirements: None,
                    generated_requirements: None,
                    cell_timeout_secs: None,
                    requirements_from_imports: false,
                    attempt: 0,
                    deadline_secs: 1800,
                    stop_notebook_at: None,
                };
                let pod = validation_pod::render(&job, &plan, &settings);
                let post = PostParams::default();
                match retried(|| pods.create(&post, &pod)).await {
                    Ok(_) => {
                        status_writer.push(name);
                    }
                    Err(e) => timeline.failed(format!("floor: creating the pod of {name}: {e}")),
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifth_of_the_jobs_build_spread_evenly() {
        let jobs = plan_jobs(10, 20);
        let builds: Vec<&String> = jobs.iter().filter(|j| j.starts_with("s2i-")).collect();
        assert_eq!(builds, ["s2i-00004", "s2i-00009"]);
        assert!(plan_jobs(10, 0).iter().all(|j| j.starts_with("pre-")));
        assert_eq!(Class::of("s2i-00004"), Some(Class::S2i));
        assert_eq!(
            built_image("ns", "s2i-00004"),
            format!("{REGISTRY}/ns/s2i-00004-build@sha256:{}4", "0".repeat(63))
        );
    }
}
