//! The benchmark on the real node: job created → verdict in status for a small notebook,
//! against the floor of a bare pod that runs papermill on the same notebook in the same image.
//!
//! Both are timed by this process from watch events (millisecond resolution; the timestamps in
//! pod status have whole seconds only), so each run also splits into where its time went:
//! scheduling, the runner copy, the clone, the notebook container, the operator's verdict.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use futures::StreamExt as _;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::watcher;
use notebook_validator_operator::catalog::Catalog;
use notebook_validator_operator::config::EnabledStrategies;
use notebook_validator_operator::config::PodSettings;
use notebook_validator_operator::crd::{self, NotebookValidationJob, Phase};
use notebook_validator_operator::steps::Context;
use serde::Serialize;

use crate::stats::Percentiles;

const NOTEBOOK: &str = "passing.ipynb";
const GOLDEN: &str = "passing.golden.ipynb";

/// When this process saw each step of one run, relative to its creation.
#[derive(Debug, Default, Clone)]
struct Seen {
    created: Option<Instant>,
    pod_seen: Option<Instant>,
    scheduled: Option<Instant>,
    runner_copied: Option<Instant>,
    cloned: Option<Instant>,
    main_running: Option<Instant>,
    main_done: Option<Instant>,
    verdict: Option<Instant>,
}

type Timeline = Arc<Mutex<HashMap<String, Seen>>>;

/// The figures of one concurrency level, in milliseconds.
#[derive(Debug, Serialize)]
pub(crate) struct Level {
    concurrency: usize,
    jobs: Percentiles,
    bare_pods: Percentiles,
    /// p50 of each step of a job: name, ms.
    job_steps: Vec<(String, f64)>,
    /// p50 of each step of a bare pod.
    bare_steps: Vec<(String, f64)>,
}

/// Runs `runs` jobs and `runs` bare pods at each concurrency and writes `node.md`/`node.json`.
pub(crate) async fn run(
    runs: usize,
    levels: &[usize],
    out: &Path,
    command: &str,
) -> anyhow::Result<()> {
    let cp = nbv_testenv::ControlPlane::builder()
        .with_node()
        .start()
        .await?;
    let client = cp.client()?;
    let images = cp.node_images().context("node images")?.clone();
    let namespace = cp
        .create_namespace(
            "bench-node",
            &[("pod-security.kubernetes.io/enforce", "restricted")],
        )
        .await?;
    nbv_testenv::install_crds(&client, &[&crd::crd_yaml()]).await?;
    let serve_dir = std::env::temp_dir().join(format!("nbv-bench-node-{}", std::process::id()));
    let server = nbv_testenv::NodeServer::start(&serve_dir, nbv_testenv::Lifetime::Owned)?;
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/notebooks");
    let notebook = std::fs::read(examples.join(NOTEBOOK))?;
    let golden = std::fs::read(examples.join(GOLDEN))?;
    let repo = server.repo("bench", &[(NOTEBOOK, &notebook), (GOLDEN, &golden)])?;

    // The bare pod reads the notebook from a ConfigMap: no clone, no runner, no comparison.
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let cm: ConfigMap = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "notebook"},
        "data": {NOTEBOOK: String::from_utf8(notebook)?},
    }))?;
    config_maps.create(&PostParams::default(), &cm).await?;

    let operator = spawn_operator(&client, &images, &namespace, &[])?;

    let timeline: Timeline = Arc::default();
    let watchers = [
        tokio::spawn(watch_pods(
            Api::namespaced(client.clone(), &namespace),
            timeline.clone(),
        )),
        tokio::spawn(watch_jobs(
            Api::namespaced(client.clone(), &namespace),
            timeline.clone(),
        )),
    ];
    let jobs: Api<NotebookValidationJob> = Api::namespaced(client.clone(), &namespace);
    let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);

    // One of each first: the first container of an image pays for unpacking it.
    run_job(&jobs, &timeline, "warm-job", &repo.url).await?;
    run_bare(&pods, &timeline, "warm-bare", &images.notebook.reference).await?;

    let mut report = Vec::new();
    for &level in levels {
        let mut job_names = Vec::new();
        let mut bare_names = Vec::new();
        for wave in 0..runs.div_ceil(level) {
            let names: Vec<String> = (0..level)
                .map(|i| wave * level + i)
                .filter(|i| *i < runs)
                .map(|i| format!("c{level}-{i}"))
                .collect();
            let wave_jobs: Vec<String> = names.iter().map(|n| format!("job-{n}")).collect();
            let wave_bare: Vec<String> = names.iter().map(|n| format!("bare-{n}")).collect();
            futures::future::try_join_all(
                wave_jobs
                    .iter()
                    .map(|n| run_job(&jobs, &timeline, n, &repo.url)),
            )
            .await?;
            futures::future::try_join_all(
                wave_bare
                    .iter()
                    .map(|n| run_bare(&pods, &timeline, n, &images.notebook.reference)),
            )
            .await?;
            job_names.extend(wave_jobs);
            bare_names.extend(wave_bare);
            eprintln!("concurrency {level}: {} of {runs} done", job_names.len());
        }
        let seen = timeline
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .clone();
        report.push(level_figures(level, &seen, &job_names, &bare_names)?);
    }
    operator.abort();
    for w in watchers {
        w.abort();
    }
    drop(server);
    cp.stop();

    std::fs::create_dir_all(out)?;
    std::fs::write(
        out.join("node.json"),
        serde_json::to_string_pretty(&report)? + "\n",
    )?;
    std::fs::write(out.join("node.md"), markdown(&report, runs, command))?;
    println!("wrote {}", out.join("node.md").display());
    Ok(())
}

/// The operator in this process, on `namespace`, with the strategies `enabled` switched on and
/// the node's images as its runner, clone and default images.
pub(crate) fn spawn_operator(
    client: &kube::Client,
    images: &nbv_testenv::NodeImages,
    namespace: &str,
    enabled: &[String],
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let catalog = Catalog::linked(EnabledStrategies::resolve(None, None, enabled)?)?;
    let settings = PodSettings {
        runner_image: images.operator.reference.clone(),
        git_image: images.operator.reference.clone(),
    };
    let ctx = Context::new(
        client.clone(),
        catalog,
        settings,
        images.notebook.reference.clone(),
    );
    let namespace = namespace.to_owned();
    Ok(tokio::spawn(async move {
        let _ = notebook_validator_operator::controller::run(ctx, Some(&namespace)).await;
    }))
}

fn job_yaml(name: &str, url: &str) -> String {
    format!(
        "apiVersion: mlops.redhat.com/v1alpha1\nkind: NotebookValidationJob\nmetadata:\n  name: {name}\nspec:\n  notebook:\n    git: {{ url: \"{url}\", ref: main }}\n    path: {NOTEBOOK}\n  goldenNotebook:\n    git: {{ url: \"{url}\", ref: main }}\n    path: {GOLDEN}\n  timeout: 5m\n"
    )
}

/// Creates job `name` and waits for its verdict (which must be Succeeded).
async fn run_job(
    jobs: &Api<NotebookValidationJob>,
    timeline: &Timeline,
    name: &str,
    url: &str,
) -> anyhow::Result<()> {
    let job: NotebookValidationJob = serde_yaml_ng::from_str(&job_yaml(name, url))?;
    mark(timeline, name, |s| s.created = Some(Instant::now()));
    jobs.create(&PostParams::default(), &job).await?;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if seen(timeline, name, |s| s.verdict).is_some() {
            let job = jobs.get(name).await?;
            let phase = job.status.as_ref().and_then(|s| s.phase);
            if phase != Some(Phase::Succeeded) {
                bail!(
                    "job {name} ended {phase:?}: {:?}",
                    job.status.and_then(|s| s.message)
                );
            }
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("job {name} has no verdict after 300 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Creates bare pod `name` running papermill, and waits for it to succeed.
async fn run_bare(
    pods: &Api<Pod>,
    timeline: &Timeline,
    name: &str,
    image: &str,
) -> anyhow::Result<()> {
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "labels": {"nbv-bench": "bare"}},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": false,
            "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "papermill",
                "image": image,
                "command": ["python3", "-m", "papermill", "--no-progress-bar", format!("/notebook/{NOTEBOOK}"), "/tmp/out.ipynb"],
                "env": [{"name": "JUPYTER_RUNTIME_DIR", "value": "/tmp"}],
                "volumeMounts": [{"name": "notebook", "mountPath": "/notebook", "readOnly": true}],
                "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}},
            }],
            "volumes": [{"name": "notebook", "configMap": {"name": "notebook"}}],
        },
    }))?;
    mark(timeline, name, |s| s.created = Some(Instant::now()));
    pods.create(&PostParams::default(), &pod).await?;
    let deadline = Instant::now() + Duration::from_secs(300);
    while seen(timeline, name, |s| s.verdict).is_none() {
        if Instant::now() > deadline {
            bail!("bare pod {name} did not finish in 300 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pod = pods.get(name).await?;
    let phase = pod.status.and_then(|s| s.phase);
    if phase.as_deref() != Some("Succeeded") {
        bail!("bare pod {name} ended {phase:?}");
    }
    pods.delete(name, &DeleteParams::background()).await?;
    Ok(())
}

fn mark(timeline: &Timeline, name: &str, f: impl FnOnce(&mut Seen)) {
    if let Ok(mut map) = timeline.lock() {
        f(map.entry(name.to_owned()).or_default());
    }
}

fn seen(timeline: &Timeline, name: &str, f: impl Fn(&Seen) -> Option<Instant>) -> Option<Instant> {
    timeline.lock().ok()?.get(name).and_then(f)
}

fn set_once(slot: &mut Option<Instant>, now: Instant, reached: bool) {
    if reached && slot.is_none() {
        *slot = Some(now);
    }
}

async fn watch_pods(pods: Api<Pod>, timeline: Timeline) {
    let mut stream = watcher(pods, watcher::Config::default()).boxed();
    while let Some(event) = stream.next().await {
        let now = Instant::now();
        let Ok(watcher::Event::Apply(pod) | watcher::Event::InitApply(pod)) = event else {
            continue;
        };
        // Validation pods are named after their job; bare pods are their own run.
        let name = pod.metadata.name.clone().unwrap_or_default();
        let run = name.strip_suffix("-validation").unwrap_or(&name).to_owned();
        let status = pod.status.clone().unwrap_or_default();
        let scheduled = status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "PodScheduled" && c.status == "True");
        let terminated = |statuses: &Option<Vec<k8s_openapi::api::core::v1::ContainerStatus>>,
                          container: &str| {
            statuses.iter().flatten().any(|c| {
                c.name == container && c.state.as_ref().is_some_and(|s| s.terminated.is_some())
            })
        };
        let running = status.container_statuses.iter().flatten().any(|c| {
            c.state
                .as_ref()
                .is_some_and(|s| s.running.is_some() || s.terminated.is_some())
        });
        let main_done = status
            .container_statuses
            .iter()
            .flatten()
            .any(|c| c.state.as_ref().is_some_and(|s| s.terminated.is_some()));
        mark(&timeline, &run, |s| {
            set_once(&mut s.pod_seen, now, true);
            set_once(&mut s.scheduled, now, scheduled);
            set_once(
                &mut s.runner_copied,
                now,
                terminated(&status.init_container_statuses, "install-runner"),
            );
            set_once(
                &mut s.cloned,
                now,
                terminated(&status.init_container_statuses, "clone-golden"),
            );
            set_once(&mut s.main_running, now, running);
            set_once(&mut s.main_done, now, main_done);
            if name.starts_with("bare-") || name.starts_with("warm-bare") {
                let ended = matches!(status.phase.as_deref(), Some("Succeeded" | "Failed"));
                set_once(&mut s.verdict, now, ended);
            }
        });
    }
}

async fn watch_jobs(jobs: Api<NotebookValidationJob>, timeline: Timeline) {
    let mut stream = watcher(jobs, watcher::Config::default()).boxed();
    while let Some(event) = stream.next().await {
        let now = Instant::now();
        let Ok(watcher::Event::Apply(job) | watcher::Event::InitApply(job)) = event else {
            continue;
        };
        let ended = job
            .status
            .as_ref()
            .and_then(|s| s.phase)
            .is_some_and(|p| matches!(p, Phase::Succeeded | Phase::Failed));
        let name = job.metadata.name.clone().unwrap_or_default();
        mark(&timeline, &name, |s| set_once(&mut s.verdict, now, ended));
    }
}

fn ms(from: Option<Instant>, to: Option<Instant>) -> Option<f64> {
    Some(to?.checked_duration_since(from?)?.as_secs_f64() * 1000.0)
}

fn level_figures(
    level: usize,
    seen: &HashMap<String, Seen>,
    jobs: &[String],
    bare: &[String],
) -> anyhow::Result<Level> {
    let runs = |names: &[String]| -> Vec<Seen> {
        names.iter().filter_map(|n| seen.get(n).cloned()).collect()
    };
    let job_runs = runs(jobs);
    let bare_runs = runs(bare);
    let total =
        |rs: &[Seen]| -> Vec<f64> { rs.iter().filter_map(|s| ms(s.created, s.verdict)).collect() };
    let p50 = |rs: &[Seen], f: &dyn Fn(&Seen) -> Option<f64>| -> f64 {
        let samples: Vec<f64> = rs.iter().filter_map(f).collect();
        Percentiles::of(&samples).map_or(f64::NAN, |p| p.p50)
    };
    let job_steps = vec![
        (
            "job created → pod created (operator)".to_owned(),
            p50(&job_runs, &|s| ms(s.created, s.pod_seen)),
        ),
        (
            "pod created → scheduled".to_owned(),
            p50(&job_runs, &|s| ms(s.pod_seen, s.scheduled)),
        ),
        (
            "scheduled → runner copied (install-runner)".to_owned(),
            p50(&job_runs, &|s| ms(s.scheduled, s.runner_copied)),
        ),
        (
            "runner copied → notebook and golden cloned".to_owned(),
            p50(&job_runs, &|s| ms(s.runner_copied, s.cloned)),
        ),
        (
            "cloned → notebook container running".to_owned(),
            p50(&job_runs, &|s| ms(s.cloned, s.main_running)),
        ),
        (
            "running → done (kernel start, cells, comparison)".to_owned(),
            p50(&job_runs, &|s| ms(s.main_running, s.main_done)),
        ),
        (
            "pod done → verdict in status (operator)".to_owned(),
            p50(&job_runs, &|s| ms(s.main_done, s.verdict)),
        ),
    ];
    let bare_steps = vec![
        (
            "pod created → scheduled".to_owned(),
            p50(&bare_runs, &|s| ms(s.created, s.scheduled)),
        ),
        (
            "scheduled → container running".to_owned(),
            p50(&bare_runs, &|s| ms(s.scheduled, s.main_running)),
        ),
        (
            "running → done (kernel start, cells)".to_owned(),
            p50(&bare_runs, &|s| ms(s.main_running, s.main_done)),
        ),
        (
            "done → pod Succeeded".to_owned(),
            p50(&bare_runs, &|s| ms(s.main_done, s.verdict)),
        ),
    ];
    Ok(Level {
        concurrency: level,
        jobs: Percentiles::of(&total(&job_runs)).context("no job timings")?,
        bare_pods: Percentiles::of(&total(&bare_runs)).context("no bare pod timings")?,
        job_steps,
        bare_steps,
    })
}

fn markdown(report: &[Level], runs: usize, command: &str) -> String {
    let mut md = String::from("# Validation on the real node\n\n");
    md.push_str(&format!(
        "`{command}`: {runs} jobs at each concurrency, each validating `examples/notebooks/{NOTEBOOK}` against its golden copy (cloned from the node's git server), the operator under test running in the benchmark's process; against the floor of as many bare pods running `python3 -m papermill` on the same notebook (from a ConfigMap) in the same image. Times are taken by the benchmark from watch events.\n\n"
    ));
    md.push_str("| concurrency | job created → verdict p50 / p95 (ms) | bare pod p50 / p95 (ms) | ratio p50 / p95 |\n| --- | --- | --- | --- |\n");
    for level in report {
        md.push_str(&format!(
            "| {} | {:.0} / {:.0} | {:.0} / {:.0} | {:.2}x / {:.2}x |\n",
            level.concurrency,
            level.jobs.p50,
            level.jobs.p95,
            level.bare_pods.p50,
            level.bare_pods.p95,
            level.jobs.p50 / level.bare_pods.p50,
            level.jobs.p95 / level.bare_pods.p95,
        ));
    }
    for level in report {
        md.push_str(&format!("\n## Where the time goes, concurrency {} (p50 of each step, ms)\n\n| job step | ms |\n| --- | --- |\n", level.concurrency));
        for (step, value) in &level.job_steps {
            md.push_str(&format!("| {step} | {value:.0} |\n"));
        }
        md.push_str("\n| bare pod step | ms |\n| --- | --- |\n");
        for (step, value) in &level.bare_steps {
            md.push_str(&format!("| {step} | {value:.0} |\n"));
        }
    }
    md
}
