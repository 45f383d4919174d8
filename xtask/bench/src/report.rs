//! The figures of a run (`scale-<N>.json`), the targets they are checked against, and the
//! Markdown report of every run (`scale.md`).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::actors::Class;
use crate::counting::Tally;
use crate::run::Options;
use crate::stats::Percentiles;

/// Writes per prebuilt-image job the happy path may take.
pub(crate) const MAX_WRITES_PER_PREBUILT_JOB: u64 = 4;
/// How many times the floor's time to the validation pod the operator's may be.
pub(crate) const MAX_FLOOR_RATIO: f64 = 3.0;
/// The job count at which the floor target applies.
pub(crate) const FLOOR_TARGET_AT: usize = 1000;
/// How much more memory per job a larger run may need than a smaller one and still count as
/// linear growth (allocator slack and measurement noise).
pub(crate) const LINEAR_SLACK: f64 = 1.25;
/// Everything below this line in a report (`scale.md`, `build-cache.md`) is written by hand and kept on regeneration.
pub(crate) const ANALYSIS_MARKER: &str =
    "<!-- analysis: written by hand, kept by `cargo xtask bench` -->";

/// The hand-written analysis below the marker in the report at `path`; empty when there is
/// none.
pub(crate) fn kept_analysis(path: &std::path::Path) -> String {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| {
            text.split_once(ANALYSIS_MARKER)
                .map(|(_, kept)| kept.to_owned())
        })
        .unwrap_or_default()
}

/// `out`, then the marker and the hand-written `analysis` kept from the report before.
pub(crate) fn with_analysis(mut out: String, analysis: &str) -> String {
    out.push_str(ANALYSIS_MARKER);
    out.push('\n');
    if !analysis.trim().is_empty() {
        let _ = writeln!(out, "\n{}", analysis.trim());
    }
    out
}

/// Everything measured with N jobs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Scale {
    pub(crate) jobs: usize,
    pub(crate) features: String,
    pub(crate) command: String,
    pub(crate) date: String,
    pub(crate) machine: Machine,
    pub(crate) setup: Setup,
    pub(crate) outcome: Outcome,
    pub(crate) latency_ms: Latency,
    pub(crate) wall_seconds: Wall,
    pub(crate) operator: OperatorFigures,
    pub(crate) requests: Requests,
    pub(crate) servers: BTreeMap<String, ServerFigures>,
    pub(crate) floor: Floor,
    pub(crate) floor_ratio: Option<Ratio>,
    pub(crate) targets: Vec<Target>,
}

/// The machine the run was on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Machine {
    pub(crate) cores: usize,
    pub(crate) memory_gib: f64,
    pub(crate) cpu_model: String,
    pub(crate) kernel: String,
}

impl Machine {
    pub(crate) fn this() -> Self {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        let memory_kib: f64 = read("/proc/meminfo")
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_default();
        Self {
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            memory_gib: (memory_kib / (1024.0 * 1024.0) * 10.0).round() / 10.0,
            cpu_model: read("/proc/cpuinfo")
                .lines()
                .find_map(|l| l.strip_prefix("model name"))
                .and_then(|v| v.split_once(':'))
                .map_or_else(|| "unknown".to_owned(), |(_, m)| m.trim().to_owned()),
            kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
        }
    }
}

/// The jobs and the pace of the played controllers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Setup {
    pub(crate) prebuilt_jobs: usize,
    pub(crate) s2i_jobs: usize,
    pub(crate) creators: usize,
    /// Jobs created per second; none: as fast as the API server took them.
    #[serde(default)]
    pub(crate) create_rate: Option<f64>,
    pub(crate) pod_run_ms: u64,
    pub(crate) kubelet_workers: usize,
    pub(crate) build_ms: u64,
    pub(crate) builder_workers: usize,
    pub(crate) deadline_seconds: f64,
}

/// How the jobs ended.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Outcome {
    /// Created by the benchmark.
    pub(crate) created: usize,
    pub(crate) succeeded: usize,
    pub(crate) failed: usize,
    /// Terminal with the expected status, results and pod.
    pub(crate) correct: usize,
    /// Gone.
    pub(crate) lost: usize,
    /// Not terminal when the run ended.
    pub(crate) stuck: usize,
    /// Terminal, but not as expected.
    pub(crate) wrong: usize,
    /// Up to ten of the jobs that were lost, stuck or wrong, and why.
    pub(crate) examples: Vec<String>,
    /// Writes of the benchmark itself that failed (the run is not valid then).
    pub(crate) bench_failures: Vec<String>,
}

impl Outcome {
    pub(crate) fn example(&mut self, what: String) {
        if self.examples.len() < 10 {
            self.examples.push(what);
        }
    }
}

/// Latencies, in milliseconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Latency {
    /// Job created → its creation seen through a watch on the jobs: the API server's watch delay.
    pub(crate) job_seen: Option<Percentiles>,
    /// Job created → its validation pod seen, for prebuilt-image jobs.
    pub(crate) job_to_pod_prebuilt: Option<Percentiles>,
    /// The same for S2I jobs (includes the build time of the played build controller).
    pub(crate) job_to_pod_s2i: Option<Percentiles>,
    /// Build marked Complete → the validation pod seen.
    pub(crate) build_to_pod: Option<Percentiles>,
    /// Job created → job Succeeded or Failed (includes the pod run and build times).
    pub(crate) job_to_terminal: Option<Percentiles>,
}

/// Wall times from the start of job creation, in seconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Wall {
    pub(crate) create_all: f64,
    /// Until every job had its validation pod (none if some never did).
    pub(crate) all_pods: Option<f64>,
    /// Until every job was terminal (none if some never were).
    pub(crate) all_terminal: Option<f64>,
}

/// The operator process.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct OperatorFigures {
    /// Resident memory once started and synced, before the first job.
    pub(crate) idle_rss_bytes: u64,
    /// Peak resident memory (`VmHWM`) over the whole run.
    pub(crate) peak_rss_bytes: u64,
    /// (peak − idle) / jobs.
    pub(crate) rss_bytes_per_job: f64,
    /// CPU time (user + system) from the first job to the end.
    pub(crate) cpu_seconds: f64,
    pub(crate) reconciles: u64,
    pub(crate) reconciles_per_job: f64,
    pub(crate) reconcile_errors: Vec<(String, u64)>,
    /// Strategies compiled in (all enabled).
    pub(crate) strategies: Vec<String>,
}

/// The operator's API requests.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Requests {
    pub(crate) total: u64,
    /// All requests (watches, lists and discovery included) divided by the jobs, by verb.
    pub(crate) per_job_by_verb: BTreeMap<String, f64>,
    /// Requests by job class (`pre`, `s2i`, or `shared` for none in particular), then by
    /// `verb resource`.
    pub(crate) by_class: BTreeMap<String, BTreeMap<String, u64>>,
    /// Writes about each job (its own and its pod's, build's and events'), by class.
    pub(crate) writes_per_job: BTreeMap<String, WritesPerJob>,
}

impl Requests {
    pub(crate) fn from_tally(
        tally: &Tally,
        names: &[String],
        writes: impl Fn(&[String], Class) -> WritesPerJob,
    ) -> Self {
        let mut per_job_by_verb = BTreeMap::new();
        let mut by_class: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for (call, count) in &tally.calls {
            *per_job_by_verb.entry(call.verb.clone()).or_insert(0.0) +=
                *count as f64 / names.len().max(1) as f64;
            *by_class
                .entry(call.class.clone())
                .or_default()
                .entry(format!("{} {}", call.verb, call.resource))
                .or_default() += count;
        }
        Self {
            total: tally.calls.iter().map(|(_, n)| n).sum(),
            per_job_by_verb,
            by_class,
            writes_per_job: Class::ALL
                .into_iter()
                .map(|c| (c.prefix().to_owned(), writes(names, c)))
                .filter(|(_, w)| w.jobs > 0)
                .collect(),
        }
    }
}

/// Writes per job of one class.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct WritesPerJob {
    pub(crate) jobs: usize,
    pub(crate) mean: f64,
    pub(crate) max: u64,
}

impl WritesPerJob {
    pub(crate) fn of(names: &[String], class: Class, writes: &BTreeMap<String, u64>) -> Self {
        let counts: Vec<u64> = names
            .iter()
            .filter(|n| Class::of(n) == Some(class))
            .map(|n| writes.get(n).copied().unwrap_or_default())
            .collect();
        Self {
            jobs: counts.len(),
            mean: counts.iter().sum::<u64>() as f64 / counts.len().max(1) as f64,
            max: counts.iter().copied().max().unwrap_or_default(),
        }
    }
}

/// etcd or kube-apiserver at the end of the operator run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ServerFigures {
    pub(crate) peak_rss_bytes: u64,
    pub(crate) rss_bytes_at_end: u64,
    /// Since the server started.
    pub(crate) cpu_seconds: f64,
}

/// The same jobs with a bare client playing a perfect operator, on a fresh control plane.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Floor {
    pub(crate) workers: usize,
    /// Status writes per job, by job class: the operator's writes for such a job, less the pod.
    pub(crate) status_writes_per_job: BTreeMap<String, usize>,
    /// Job creates, pod creates and status patches.
    pub(crate) round_trips: u64,
    /// Job created → its creation seen through the watch on the jobs.
    pub(crate) job_seen: Option<Percentiles>,
    /// Job created → its validation pod seen, for prebuilt-image jobs.
    pub(crate) job_to_pod: Option<Percentiles>,
    pub(crate) all_pods_seconds: Option<f64>,
    pub(crate) all_writes_seconds: Option<f64>,
    pub(crate) round_trips_per_second: Option<f64>,
    pub(crate) failures: Vec<String>,
}

/// The operator's prebuilt-image time to the validation pod over the floor's.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Ratio {
    pub(crate) p50: f64,
    pub(crate) p95: f64,
    pub(crate) p99: f64,
    /// Until every job had its pod.
    pub(crate) all_pods: Option<f64>,
}

/// A target and whether this run met it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Target {
    pub(crate) name: String,
    pub(crate) passed: bool,
    pub(crate) detail: String,
}

/// What the operator run produced, for [`assemble`].
#[derive(Debug)]
pub(crate) struct OperatorParts {
    pub(crate) latency: Latency,
    pub(crate) wall: Wall,
    pub(crate) operator: OperatorFigures,
    pub(crate) requests: Requests,
    pub(crate) outcome: Outcome,
    pub(crate) servers: BTreeMap<String, ServerFigures>,
    pub(crate) builds_compiled: bool,
}

/// The figures of a run, with its targets checked.
pub(crate) fn assemble(
    n: usize,
    options: &Options,
    machine: Machine,
    parts: OperatorParts,
    floor: Floor,
) -> Scale {
    let writes = |class: Class| parts.requests.writes_per_job.get(class.prefix());
    let s2i_jobs = writes(Class::S2i).map_or(0, |w| w.jobs);
    let floor_ratio = match (&parts.latency.job_to_pod_prebuilt, &floor.job_to_pod) {
        (Some(op), Some(fl)) => Some(Ratio {
            p50: op.p50 / fl.p50.max(f64::EPSILON),
            p95: op.p95 / fl.p95.max(f64::EPSILON),
            p99: op.p99 / fl.p99.max(f64::EPSILON),
            all_pods: parts
                .wall
                .all_pods
                .zip(floor.all_pods_seconds)
                .map(|(op, fl)| op / fl.max(f64::EPSILON)),
        }),
        _ => None,
    };
    let outcome = &parts.outcome;
    let mut targets = vec![Target {
        name: "no job lost or stuck".into(),
        passed: outcome.correct == n && outcome.bench_failures.is_empty(),
        detail: format!(
            "{} of {n} terminal with the expected status, results and pod; {} lost, {} stuck, {} wrong{}",
            outcome.correct,
            outcome.lost,
            outcome.stuck,
            outcome.wrong,
            if outcome.bench_failures.is_empty() {
                String::new()
            } else {
                format!(
                    "; {} writes of the benchmark itself failed",
                    outcome.bench_failures.len()
                )
            }
        ),
    }];
    if let Some(w) = writes(Class::Prebuilt) {
        targets.push(Target {
            name: format!(
                "at most {MAX_WRITES_PER_PREBUILT_JOB} API writes per prebuilt-image job"
            ),
            passed: w.max <= MAX_WRITES_PER_PREBUILT_JOB,
            detail: format!("mean {:.2}, max {}", w.mean, w.max),
        });
    }
    if let Some(ratio) = &floor_ratio {
        targets.push(Target {
            name: format!(
                "time to validation pod within {MAX_FLOOR_RATIO}x of the bare-client floor (p50 and p95; the target is set at N = {FLOOR_TARGET_AT})"
            ),
            passed: ratio.p50 <= MAX_FLOOR_RATIO && ratio.p95 <= MAX_FLOOR_RATIO,
            detail: format!(
                "p50 {:.1}x, p95 {:.1}x, p99 {:.1}x",
                ratio.p50, ratio.p95, ratio.p99
            ),
        });
    }
    Scale {
        jobs: n,
        features: options.features.clone(),
        command: options.command.clone(),
        date: k8s_openapi::jiff::Timestamp::now().to_string(),
        machine,
        setup: Setup {
            prebuilt_jobs: n - s2i_jobs,
            s2i_jobs: if parts.builds_compiled { s2i_jobs } else { 0 },
            creators: options.creators,
            create_rate: options.create_rate,
            pod_run_ms: options.pace.pod_run.as_millis() as u64,
            kubelet_workers: options.pace.kubelet_workers,
            build_ms: options.pace.build_time.as_millis() as u64,
            builder_workers: options.pace.builder_workers,
            deadline_seconds: options.deadline_for(n).as_secs_f64(),
        },
        outcome: parts.outcome,
        latency_ms: parts.latency,
        wall_seconds: parts.wall,
        operator: parts.operator,
        requests: parts.requests,
        servers: parts.servers,
        floor,
        floor_ratio,
        targets,
    }
}

/// Memory per job may not grow from a smaller run to a larger one beyond [`LINEAR_SLACK`].
pub(crate) fn memory_target(runs: &[Scale]) -> Option<Target> {
    let (small, large) = (runs.first()?, runs.last()?);
    if small.jobs >= large.jobs {
        return None;
    }
    let (a, b) = (
        small.operator.rss_bytes_per_job,
        large.operator.rss_bytes_per_job,
    );
    Some(Target {
        name: "memory grows at most linearly with the jobs".into(),
        passed: b <= a.max(0.0) * LINEAR_SLACK || b <= 0.0,
        detail: format!(
            "{} KiB per job at N = {}, {} KiB per job at N = {} (allowed: {LINEAR_SLACK}x)",
            kib(a),
            small.jobs,
            kib(b),
            large.jobs
        ),
    })
}

fn kib(bytes: f64) -> String {
    format!("{:.1}", bytes / 1024.0)
}

fn mib(bytes: u64) -> String {
    format!("{:.0}", bytes as f64 / (1024.0 * 1024.0))
}

fn opt<T>(value: Option<T>, show: impl Fn(T) -> String) -> String {
    value.map_or_else(|| "—".to_owned(), show)
}

fn pcts(p: &Option<Percentiles>) -> String {
    opt(p.as_ref(), |p| {
        format!("{:.0} / {:.0} / {:.0}", p.p50, p.p95, p.p99)
    })
}

/// `scale.md`: every run in `runs` (sorted by job count), then the hand-written `analysis`.
pub(crate) fn markdown(runs: &[Scale], analysis: &str) -> String {
    let mut out = String::new();
    let Some(first) = runs.first() else {
        return out;
    };
    let m = &first.machine;
    let _ = writeln!(out, "# Scale benchmark\n");
    let _ = writeln!(
        out,
        "The operator against N NotebookValidationJobs on a real control plane (etcd, kube-apiserver, \
         kube-controller-manager from nbv-testenv). Written by `cargo xtask bench`; each run's figures \
         are in `scale-<N>.json` beside this file.\n"
    );
    let _ = writeln!(
        out,
        "- Machine: {} cores, {} GiB, {}, Linux {}; etcd, the API server, the controller manager, the \
         operator and the benchmark share it.",
        m.cores, m.memory_gib, m.cpu_model, m.kernel
    );
    let _ = writeln!(out, "- Command: `{}`", first.command);
    let _ = writeln!(
        out,
        "- Operator features: `{}` (strategies compiled in and enabled: {}).",
        first.features,
        first.operator.strategies.join(", ")
    );
    let s = &first.setup;
    let _ = writeln!(
        out,
        "- Jobs: {}% prebuilt image, the rest S2I builds; created {}, at most {} at a time. The \
         benchmark plays the kubelet ({} workers; a pod runs {} ms, then Succeeded with a runner \
         summary as its termination message) and the OpenShift build controller ({} workers; a \
         build takes {} ms, then Complete with a digest).",
        100 * s.prebuilt_jobs / first.jobs.max(1),
        s.create_rate.map_or_else(
            || "as fast as the API server takes them".to_owned(),
            |rate| format!("at {rate} per second")
        ),
        s.creators,
        s.kubelet_workers,
        s.pod_run_ms,
        s.builder_workers,
        s.build_ms
    );
    let _ = writeln!(
        out,
        "- The operator runs as a child process (the library's controller, the same code as \
         `nbv-operator run`, every compiled-in strategy enabled) on one namespace; its API requests \
         are counted by a layer around its client; memory and CPU from `/proc`.\n- The floor: on a \
         fresh control plane, everything as in the operator's run (the same job creations, the \
         same played kubelet, the same watch on the jobs) except the operator: a bare client \
         creates each validation pod as soon as its job's creation returns ({} workers), with no \
         watch in between, then writes the job's status as many times as the operator wrote to \
         the API server for a job of its class, less the pod ({}; as many workers). The API \
         server carries the same writes; the floor skips only the operator's watch delay and \
         work. Times to the pod are measured the same way in both (a watch on the pods).\n",
        first.floor.workers,
        first
            .floor
            .status_writes_per_job
            .iter()
            .map(|(class, w)| format!("{w} for {class}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let header = |out: &mut String, title: &str| {
        let _ = writeln!(out, "## {title}\n");
        let _ = write!(out, "| |");
        for r in runs {
            let _ = write!(out, " N = {} |", r.jobs);
        }
        let _ = write!(out, "\n| --- |");
        for _ in runs {
            let _ = write!(out, " --- |");
        }
        out.push('\n');
    };
    let row = |out: &mut String, label: &str, cell: &dyn Fn(&Scale) -> String| {
        let _ = write!(out, "| {label} |");
        for r in runs {
            let _ = write!(out, " {} |", cell(r));
        }
        out.push('\n');
    };

    header(&mut out, "Targets");
    let mut names: Vec<String> = Vec::new();
    for r in runs {
        for t in &r.targets {
            if !names.contains(&t.name) {
                names.push(t.name.clone());
            }
        }
    }
    for name in &names {
        row(&mut out, name, &|r| {
            opt(r.targets.iter().find(|t| &t.name == name), |t| {
                format!(
                    "{}: {}",
                    if t.passed { "**pass**" } else { "**FAIL**" },
                    t.detail
                )
            })
        });
    }
    if let Some(t) = memory_target(runs) {
        let _ = writeln!(
            out,
            "\n{}: **{}** — {}.",
            t.name,
            if t.passed { "pass" } else { "FAIL" },
            t.detail
        );
    }
    out.push('\n');

    header(&mut out, "Jobs");
    row(&mut out, "prebuilt / S2I", &|r| {
        format!("{} / {}", r.setup.prebuilt_jobs, r.setup.s2i_jobs)
    });
    row(&mut out, "succeeded / failed", &|r| {
        format!("{} / {}", r.outcome.succeeded, r.outcome.failed)
    });
    row(&mut out, "correct / lost / stuck / wrong", &|r| {
        let o = &r.outcome;
        format!("{} / {} / {} / {}", o.correct, o.lost, o.stuck, o.wrong)
    });
    out.push('\n');

    header(&mut out, "Latency (ms, p50 / p95 / p99)");
    row(
        &mut out,
        "job created → seen through a watch on the jobs (the API server's watch delay)",
        &|r| pcts(&r.latency_ms.job_seen),
    );
    row(&mut out, "the same, floor", &|r| pcts(&r.floor.job_seen));
    row(
        &mut out,
        "job created → validation pod, prebuilt image",
        &|r| pcts(&r.latency_ms.job_to_pod_prebuilt),
    );
    row(&mut out, "the same, floor (bare client)", &|r| {
        pcts(&r.floor.job_to_pod)
    });
    row(&mut out, "operator ÷ floor", &|r| {
        opt(r.floor_ratio.as_ref(), |q| {
            format!("{:.1}x / {:.1}x / {:.1}x", q.p50, q.p95, q.p99)
        })
    });
    row(
        &mut out,
        "operator ÷ floor, until every job has its pod",
        &|r| {
            opt(r.floor_ratio.as_ref().and_then(|q| q.all_pods), |q| {
                format!("{q:.1}x")
            })
        },
    );
    row(&mut out, "build Complete → validation pod, S2I", &|r| {
        pcts(&r.latency_ms.build_to_pod)
    });
    row(
        &mut out,
        "job created → validation pod, S2I (build included)",
        &|r| pcts(&r.latency_ms.job_to_pod_s2i),
    );
    row(&mut out, "job created → terminal, all jobs", &|r| {
        pcts(&r.latency_ms.job_to_terminal)
    });
    out.push('\n');

    header(&mut out, "Wall time (s, from the first job created)");
    row(&mut out, "all jobs created", &|r| {
        format!("{:.1}", r.wall_seconds.create_all)
    });
    row(&mut out, "every job has its validation pod", &|r| {
        opt(r.wall_seconds.all_pods, |s| format!("{s:.1}"))
    });
    row(&mut out, "the same, floor", &|r| {
        opt(r.floor.all_pods_seconds, |s| format!("{s:.1}"))
    });
    row(&mut out, "every job terminal", &|r| {
        opt(r.wall_seconds.all_terminal, |s| format!("{s:.1}"))
    });
    row(
        &mut out,
        "floor: all its round trips (round trips/s)",
        &|r| {
            opt(
                r.floor
                    .all_writes_seconds
                    .zip(r.floor.round_trips_per_second),
                |(s, rate)| format!("{s:.1} ({} at {rate:.0}/s)", r.floor.round_trips),
            )
        },
    );
    out.push('\n');

    header(&mut out, "Operator process");
    row(&mut out, "peak RSS (MiB)", &|r| {
        mib(r.operator.peak_rss_bytes)
    });
    row(&mut out, "idle RSS before the first job (MiB)", &|r| {
        mib(r.operator.idle_rss_bytes)
    });
    row(&mut out, "RSS per job, (peak − idle) / N (KiB)", &|r| {
        kib(r.operator.rss_bytes_per_job)
    });
    row(&mut out, "CPU seconds (user + system)", &|r| {
        format!("{:.1}", r.operator.cpu_seconds)
    });
    row(&mut out, "CPU ms per job", &|r| {
        format!("{:.1}", 1000.0 * r.operator.cpu_seconds / r.jobs as f64)
    });
    row(&mut out, "reconciles per job", &|r| {
        format!("{:.2}", r.operator.reconciles_per_job)
    });
    row(&mut out, "reconcile errors", &|r| {
        let total: u64 = r.operator.reconcile_errors.iter().map(|(_, n)| n).sum();
        if total == 0 {
            "0".to_owned()
        } else {
            r.operator
                .reconcile_errors
                .iter()
                .map(|(k, n)| format!("{n} ({k})"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    });
    out.push('\n');

    header(&mut out, "API requests of the operator per job, by verb");
    let mut verbs: Vec<&String> = runs
        .iter()
        .flat_map(|r| r.requests.per_job_by_verb.keys())
        .collect();
    verbs.sort();
    verbs.dedup();
    for verb in verbs {
        row(&mut out, verb, &|r| {
            opt(r.requests.per_job_by_verb.get(verb), |v| format!("{v:.2}"))
        });
    }
    row(&mut out, "all", &|r| {
        format!("{:.2}", r.requests.total as f64 / r.jobs as f64)
    });
    for class in Class::ALL {
        row(
            &mut out,
            &format!("writes per {} job, mean / max", class.prefix()),
            &|r| {
                opt(r.requests.writes_per_job.get(class.prefix()), |w| {
                    format!("{:.2} / {}", w.mean, w.max)
                })
            },
        );
    }
    out.push('\n');

    if let Some(last) = runs.last() {
        let _ = writeln!(
            out,
            "### Requests by job class, verb and resource (N = {})\n\n| class | request | count | per job of the class |\n| --- | --- | --- | --- |",
            last.jobs
        );
        let jobs_of: HashMap<&str, usize> = last
            .requests
            .writes_per_job
            .iter()
            .map(|(c, w)| (c.as_str(), w.jobs))
            .collect();
        for (class, calls) in &last.requests.by_class {
            for (call, count) in calls {
                let per = jobs_of.get(class.as_str()).map_or("—".to_owned(), |j| {
                    format!("{:.2}", *count as f64 / (*j).max(1) as f64)
                });
                let _ = writeln!(out, "| {class} | {call} | {count} | {per} |");
            }
        }
        out.push('\n');
    }

    header(&mut out, "Control plane at the end of the operator run");
    for server in ["etcd", "kube-apiserver", "kube-controller-manager"] {
        row(&mut out, &format!("{server} peak RSS (MiB)"), &|r| {
            opt(r.servers.get(server), |s| mib(s.peak_rss_bytes))
        });
        row(&mut out, &format!("{server} CPU seconds"), &|r| {
            opt(r.servers.get(server), |s| format!("{:.0}", s.cpu_seconds))
        });
    }
    out.push('\n');

    let problems: Vec<String> = runs
        .iter()
        .flat_map(|r| {
            r.outcome
                .examples
                .iter()
                .chain(&r.outcome.bench_failures)
                .chain(&r.floor.failures)
                .take(10)
                .map(move |e| format!("- N = {}: {e}", r.jobs))
        })
        .collect();
    if !problems.is_empty() {
        let _ = writeln!(
            out,
            "## Jobs that did not end as expected\n\n{}\n",
            problems.join("\n")
        );
    }
    with_analysis(out, analysis)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(jobs: usize, per_job: f64) -> Scale {
        let p = Percentiles::of(&[10.0, 20.0, 30.0]);
        Scale {
            jobs,
            features: "s2i".into(),
            command: "cargo xtask bench".into(),
            date: String::new(),
            machine: Machine {
                cores: 2,
                memory_gib: 24.0,
                cpu_model: "cpu".into(),
                kernel: "6".into(),
            },
            setup: Setup {
                prebuilt_jobs: jobs * 4 / 5,
                s2i_jobs: jobs / 5,
                creators: 16,
                create_rate: Some(25.0),
                pod_run_ms: 1000,
                kubelet_workers: 16,
                build_ms: 2000,
                builder_workers: 8,
                deadline_seconds: 60.0,
            },
            outcome: Outcome {
                created: jobs,
                succeeded: jobs,
                correct: jobs,
                ..Outcome::default()
            },
            latency_ms: Latency {
                job_seen: p,
                job_to_pod_prebuilt: p,
                job_to_pod_s2i: p,
                build_to_pod: p,
                job_to_terminal: p,
            },
            wall_seconds: Wall {
                create_all: 1.0,
                all_pods: Some(2.0),
                all_terminal: Some(3.0),
            },
            operator: OperatorFigures {
                idle_rss_bytes: 10 << 20,
                peak_rss_bytes: 20 << 20,
                rss_bytes_per_job: per_job,
                cpu_seconds: 1.0,
                reconciles: 3 * jobs as u64,
                reconciles_per_job: 3.0,
                reconcile_errors: Vec::new(),
                strategies: vec!["s2i".into()],
            },
            requests: Requests {
                total: 10,
                per_job_by_verb: BTreeMap::from([("get".to_owned(), 2.0)]),
                by_class: BTreeMap::from([(
                    "pre".to_owned(),
                    BTreeMap::from([("create pods".to_owned(), jobs as u64)]),
                )]),
                writes_per_job: BTreeMap::from([(
                    "pre".to_owned(),
                    WritesPerJob {
                        jobs,
                        mean: 3.0,
                        max: 4,
                    },
                )]),
            },
            servers: BTreeMap::new(),
            floor: Floor {
                workers: 64,
                status_writes_per_job: BTreeMap::from([("pre".to_owned(), 2)]),
                round_trips: 4 * jobs as u64,
                job_seen: p,
                job_to_pod: p,
                all_pods_seconds: Some(1.0),
                all_writes_seconds: Some(1.0),
                round_trips_per_second: Some(400.0),
                failures: Vec::new(),
            },
            floor_ratio: None,
            targets: vec![Target {
                name: "no job lost or stuck".into(),
                passed: true,
                detail: "all".into(),
            }],
        }
    }

    #[test]
    fn memory_per_job_may_not_grow_beyond_the_slack() {
        let flat = memory_target(&[run(100, 4096.0), run(1000, 4500.0)]).expect("two runs");
        assert!(flat.passed, "{flat:?}");
        let growing = memory_target(&[run(100, 4096.0), run(1000, 8192.0)]).expect("two runs");
        assert!(!growing.passed, "{growing:?}");
        assert!(memory_target(&[run(100, 1.0)]).is_none());
    }

    #[test]
    fn the_report_has_a_column_per_run_and_keeps_the_analysis() {
        let text = markdown(
            &[run(100, 4096.0), run(1000, 4096.0)],
            "\nWhy it is slow.\n",
        );
        assert!(text.contains("| | N = 100 | N = 1000 |"), "{text}");
        assert!(
            text.contains("| no job lost or stuck | **pass**: all | **pass**: all |"),
            "{text}"
        );
        assert!(
            text.contains(
                "| job created → validation pod, prebuilt image | 20 / 30 / 30 | 20 / 30 / 30 |"
            ),
            "{text}"
        );
        assert!(
            text.ends_with(&format!("{ANALYSIS_MARKER}\n\nWhy it is slow.\n")),
            "{text}"
        );
    }
}
