//! Prometheus metrics of the operator, served on `/metrics` (see `docs/metrics.md`).
//!
//! Build and validation outcomes are counted from status transitions after the status was
//! written, so a reconcile that is retried, or an operator restarted mid-job, never counts an
//! outcome twice. Jobs by phase are read from the controller's cache at scrape time, so deleted
//! jobs leave no stale series behind.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use buildstrategy_api::BuildPhase;
use kube::runtime::reflector::Store;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::crd::conditions::{READY, VALIDATION_COMPLETE};
use crate::crd::{NotebookValidationJob, NotebookValidationJobStatus, Phase};

/// The content type of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    strategy: String,
    outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StrategyLabel {
    strategy: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabel {
    source: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabel {
    phase: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// The operator's metrics and the registry that encodes them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    reconcile_duration: Histogram,
    reconcile_errors: Family<KindLabel, Counter>,
    builds: Family<BuildLabels, Counter>,
    build_duration: HistogramFamily<StrategyLabel>,
    validations: Family<OutcomeLabel, Counter>,
    verdicts: Family<SourceLabel, Counter>,
    image_rounds: Family<OutcomeLabel, Counter>,
    jobs: JobsByPhase,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every metric registered, with the prefix `nbv_`.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("nbv");
        // 5 ms .. ~20 s: a reconcile is a handful of API calls.
        let reconcile_duration = Histogram::new(exponential_buckets(0.005, 2.0, 13));
        registry.register(
            "reconcile_duration_seconds",
            "Time one reconcile of a NotebookValidationJob took",
            reconcile_duration.clone(),
        );
        let reconcile_errors = Family::<KindLabel, Counter>::default();
        registry.register(
            "reconcile_errors",
            "Reconciles that failed and were retried, by error kind",
            reconcile_errors.clone(),
        );
        let builds = Family::<BuildLabels, Counter>::default();
        registry.register(
            "builds",
            "Image builds that ended, by strategy and outcome",
            builds.clone(),
        );
        // 10 s .. ~85 min: image builds take minutes.
        let build_duration: HistogramFamily<StrategyLabel> =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(10.0, 2.0, 10)));
        registry.register(
            "build_duration_seconds",
            "Duration of image builds that ended, from the backend's start to its completion",
            build_duration.clone(),
        );
        let validations = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "validations",
            "Notebook validations that ended, by outcome (the condition reason)",
            validations.clone(),
        );
        let verdicts = Family::<SourceLabel, Counter>::default();
        registry.register(
            "verdicts",
            "Job verdicts reached, by source: executed (a validation pod ran) or reused (taken from an earlier job with the same inputs)",
            verdicts.clone(),
        );
        let image_rounds = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "notebook_image_rounds",
            "NotebookImage rounds that ended, by outcome (published, or not published)",
            image_rounds.clone(),
        );
        let jobs = JobsByPhase::default();
        registry.register_collector(Box::new(jobs.clone()));
        Self {
            registry,
            reconcile_duration,
            reconcile_errors,
            builds,
            build_duration,
            validations,
            verdicts,
            image_rounds,
            jobs,
        }
    }

    /// Counts a NotebookImage round that ended, published or not.
    pub fn image_round_ended(&self, published: bool) {
        let outcome = if published {
            "published"
        } else {
            "notPublished"
        };
        self.image_rounds
            .get_or_create(&OutcomeLabel {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Records one reconcile: its duration and, when it failed, the error's kind.
    pub fn reconciled(&self, took: Duration, error_kind: Option<&str>) {
        self.reconcile_duration.observe(took.as_secs_f64());
        if let Some(kind) = error_kind {
            self.reconcile_errors
                .get_or_create(&KindLabel {
                    kind: kind.to_owned(),
                })
                .inc();
        }
    }

    /// Counts what ended between the written status `before` and `after`.
    pub fn status_written(
        &self,
        before: Option<&NotebookValidationJobStatus>,
        after: &NotebookValidationJobStatus,
    ) {
        if let Some((strategy, outcome, took)) = build_ended(before, after) {
            self.builds
                .get_or_create(&BuildLabels {
                    strategy: strategy.clone(),
                    outcome: outcome.to_owned(),
                })
                .inc();
            if let Some(took) = took {
                self.build_duration
                    .get_or_create(&StrategyLabel { strategy })
                    .observe(took);
            }
        }
        if let Some(outcome) = validation_ended(before, after) {
            self.validations
                .get_or_create(&OutcomeLabel { outcome })
                .inc();
            self.verdicts
                .get_or_create(&SourceLabel { source: "executed" })
                .inc();
        } else if verdict_reused(before, after) {
            self.verdicts
                .get_or_create(&SourceLabel { source: "reused" })
                .inc();
        }
    }

    /// Reports jobs by phase from `store`, the controller's cache of jobs.
    pub fn track_jobs(&self, store: Store<NotebookValidationJob>) {
        if let Ok(mut slot) = self.jobs.store.lock() {
            *slot = Some(store);
        }
    }

    /// The metrics in the OpenMetrics text format.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

fn is_terminal(status: Option<&NotebookValidationJobStatus>) -> bool {
    status.is_some_and(NotebookValidationJobStatus::is_terminal)
}

fn build_phase(status: Option<&NotebookValidationJobStatus>) -> Option<BuildPhase> {
    status?.build_status.as_ref()?.phase
}

/// The strategy, outcome and duration (seconds) of a build that ended in this transition.
fn build_ended(
    before: Option<&NotebookValidationJobStatus>,
    after: &NotebookValidationJobStatus,
) -> Option<(String, &'static str, Option<f64>)> {
    let report = after.build_status.as_ref()?;
    let strategy = report.strategy.clone()?;
    let outcome = match report.phase? {
        // A build still pending or running when the job ends was stopped by a timeout.
        phase if !phase.is_terminal() && is_terminal(Some(after)) && !is_terminal(before) => {
            "timeout"
        }
        phase if !phase.is_terminal() || build_phase(before) == Some(phase) => return None,
        BuildPhase::Succeeded if report.reused_from.is_some() => "reused",
        BuildPhase::Succeeded => "succeeded",
        BuildPhase::Failed => "failed",
        BuildPhase::Cancelled => "cancelled",
        _ => return None,
    };
    let took = match (&report.start_time, &report.completion_time) {
        (Some(start), Some(end)) => {
            Some(((end.0.as_millisecond() - start.0.as_millisecond()) as f64 / 1000.0).max(0.0))
        }
        _ => None,
    };
    Some((strategy, outcome, took))
}

/// The outcome of a validation that ended in this transition: the reason of
/// `ValidationComplete`, or of `Ready` when the job ended otherwise (a timeout, say).
fn validation_ended(
    before: Option<&NotebookValidationJobStatus>,
    after: &NotebookValidationJobStatus,
) -> Option<String> {
    if after.validation_pod_name.is_none() || is_terminal(before) || !is_terminal(Some(after)) {
        return None;
    }
    let reason = |type_: &str| {
        after
            .conditions
            .iter()
            .find(|c| c.type_ == type_ && c.status != "Unknown")
            .map(|c| c.reason.clone())
    };
    reason(VALIDATION_COMPLETE).or_else(|| reason(READY))
}

/// Whether the job ended between `before` and `after` with a verdict taken from another job.
fn verdict_reused(
    before: Option<&NotebookValidationJobStatus>,
    after: &NotebookValidationJobStatus,
) -> bool {
    after.validation_reused_from.is_some() && !is_terminal(before) && is_terminal(Some(after))
}

const PHASES: [Phase; 6] = [
    Phase::Pending,
    Phase::Building,
    Phase::BuildComplete,
    Phase::ValidationRunning,
    Phase::Succeeded,
    Phase::Failed,
];

fn phase_name(phase: Phase) -> &'static str {
    match phase {
        Phase::Pending => "Pending",
        Phase::Building => "Building",
        Phase::BuildComplete => "BuildComplete",
        Phase::ValidationRunning => "ValidationRunning",
        Phase::Succeeded => "Succeeded",
        Phase::Failed => "Failed",
    }
}

/// `nbv_jobs{phase}`, counted from the controller's cache on each scrape.
#[derive(Clone, Default)]
struct JobsByPhase {
    store: Arc<Mutex<Option<Store<NotebookValidationJob>>>>,
}

impl std::fmt::Debug for JobsByPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobsByPhase").finish_non_exhaustive()
    }
}

impl Collector for JobsByPhase {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        // Before the controller runs (a standby replica) there is no cache, and no series.
        let Some(store) = self.store.lock().ok().and_then(|s| s.clone()) else {
            return Ok(());
        };
        let jobs = store.state();
        let mut family = encoder.encode_descriptor(
            "jobs",
            "NotebookValidationJobs in the operator's cache, by phase",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for phase in PHASES {
            let count = jobs
                .iter()
                .filter(|job| {
                    job.status
                        .as_ref()
                        .and_then(|s| s.phase)
                        .unwrap_or(Phase::Pending)
                        == phase
                })
                .count();
            let gauge = ConstGauge::new(i64::try_from(count).unwrap_or(i64::MAX));
            gauge.encode(family.encode_family(&PhaseLabel {
                phase: phase_name(phase),
            })?)?;
        }
        let now = k8s_openapi::jiff::Timestamp::now().as_second();
        let overdue = jobs.iter().filter(|job| is_overdue(job, now)).count();
        let family = encoder.encode_descriptor(
            "jobs_overdue",
            "NotebookValidationJobs without a verdict a minute after their spec.timeout passed: the operator ends a job at its timeout, so these are stuck",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        ConstGauge::new(i64::try_from(overdue).unwrap_or(i64::MAX)).encode(family)?;
        Ok(())
    }
}

/// How long after its timeout a job without a verdict counts as stuck: the operator ends a job
/// at its deadline, give or take a reconcile.
const OVERDUE_AFTER_SECS: i64 = 60;

/// Whether `job` has no verdict `OVERDUE_AFTER_SECS` after its timeout, at `now` (Unix seconds).
fn is_overdue(job: &NotebookValidationJob, now: i64) -> bool {
    let Some(created) = job.metadata.creation_timestamp.as_ref() else {
        return false;
    };
    let Ok(timeout) = job.timeout() else {
        return false;
    };
    let deadline = created.0.as_second()
        + i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX / 2)
        + OVERDUE_AFTER_SECS;
    !is_terminal(job.status.as_ref()) && now > deadline
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
    use k8s_openapi::jiff::Timestamp;

    use super::*;
    use crate::crd::BuildStatusReport;

    fn time(second: i64) -> Time {
        Time(Timestamp::from_second(second).expect("time"))
    }

    fn building(phase: BuildPhase) -> NotebookValidationJobStatus {
        NotebookValidationJobStatus {
            phase: Some(Phase::Building),
            build_status: Some(BuildStatusReport {
                strategy: Some("s2i".into()),
                phase: Some(phase),
                start_time: Some(time(1_000)),
                ..BuildStatusReport::default()
            }),
            ..NotebookValidationJobStatus::default()
        }
    }

    fn condition(type_: &str, status: &str, reason: &str) -> Condition {
        Condition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message: String::new(),
            observed_generation: None,
            last_transition_time: time(0),
        }
    }

    #[test]
    fn a_build_outcome_is_counted_once_with_its_duration() {
        let metrics = Metrics::new();
        let running = building(BuildPhase::Running);
        let mut done = building(BuildPhase::Succeeded);
        if let Some(report) = done.build_status.as_mut() {
            report.completion_time = Some(time(1_090));
        }
        metrics.status_written(Some(&running), &done);
        // The next reconcile starts from the written status: nothing new ended.
        metrics.status_written(Some(&done), &done);
        let text = metrics.encode().expect("encode");
        assert!(
            text.contains(r#"nbv_builds_total{strategy="s2i",outcome="succeeded"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"nbv_build_duration_seconds_sum{strategy="s2i"} 90.0"#),
            "{text}"
        );
    }

    #[test]
    fn a_job_ending_while_its_build_runs_counts_a_timeout() {
        let metrics = Metrics::new();
        let mut failed = building(BuildPhase::Running);
        failed.phase = Some(Phase::Failed);
        failed
            .conditions
            .push(condition(READY, "False", "BuildTimeout"));
        metrics.status_written(Some(&building(BuildPhase::Running)), &failed);
        let text = metrics.encode().expect("encode");
        assert!(
            text.contains(r#"nbv_builds_total{strategy="s2i",outcome="timeout"} 1"#),
            "{text}"
        );
        assert!(!text.contains("nbv_validations_total{"), "{text}");
    }

    #[test]
    fn a_job_without_a_verdict_past_its_timeout_is_overdue() {
        let mut job: NotebookValidationJob = serde_json::from_value(serde_json::json!({
            "apiVersion": "mlops.redhat.com/v1alpha1",
            "kind": "NotebookValidationJob",
            "metadata": {"name": "j", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"notebook": {"git": {"url": "https://h/r.git"}, "path": "a.ipynb"},
                     "timeout": "10m"}
        }))
        .expect("job");
        let created = 1_767_225_600;
        assert!(!is_overdue(&job, created + 600 + OVERDUE_AFTER_SECS));
        assert!(is_overdue(&job, created + 600 + OVERDUE_AFTER_SECS + 1));
        job.status = Some(NotebookValidationJobStatus {
            phase: Some(Phase::Failed),
            ..NotebookValidationJobStatus::default()
        });
        assert!(
            !is_overdue(&job, created + 3600),
            "a verdict is not overdue"
        );
    }

    #[test]
    fn validations_count_their_reason_and_reconciles_their_errors() {
        let metrics = Metrics::new();
        let running = NotebookValidationJobStatus {
            phase: Some(Phase::ValidationRunning),
            validation_pod_name: Some("job-validation".into()),
            conditions: vec![condition(VALIDATION_COMPLETE, "Unknown", "Running")],
            ..NotebookValidationJobStatus::default()
        };
        let mut failed = running.clone();
        failed.phase = Some(Phase::Failed);
        failed.conditions = vec![
            condition(VALIDATION_COMPLETE, "True", "OutputMismatch"),
            condition(READY, "False", "OutputMismatch"),
        ];
        metrics.status_written(Some(&running), &failed);
        let mut timed_out = running.clone();
        timed_out.phase = Some(Phase::Failed);
        timed_out
            .conditions
            .push(condition(READY, "False", "JobTimeout"));
        metrics.status_written(Some(&running), &timed_out);
        metrics.reconciled(Duration::from_millis(20), Some("kube"));
        metrics.reconciled(Duration::from_millis(20), None);
        let text = metrics.encode().expect("encode");
        for line in [
            r#"nbv_validations_total{outcome="OutputMismatch"} 1"#,
            r#"nbv_validations_total{outcome="JobTimeout"} 1"#,
            r#"nbv_reconcile_errors_total{kind="kube"} 1"#,
            "nbv_reconcile_duration_seconds_count 2",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
    }

    #[test]
    fn verdicts_count_by_source_executed_or_reused() {
        let metrics = Metrics::new();
        let passed = |pod: Option<&str>, from: Option<&str>| NotebookValidationJobStatus {
            phase: Some(Phase::Succeeded),
            validation_pod_name: pod.map(str::to_owned),
            validation_reused_from: from.map(str::to_owned),
            conditions: vec![condition(VALIDATION_COMPLETE, "True", "Passed")],
            ..NotebookValidationJobStatus::default()
        };
        let executed = passed(Some("first-validation"), None);
        metrics.status_written(None, &executed);
        let reused = passed(None, Some("ns/first"));
        metrics.status_written(None, &reused);
        metrics.status_written(None, &reused);
        // Written again after it ended: not counted twice.
        metrics.status_written(Some(&reused), &reused);
        let text = metrics.encode().expect("encode");
        for line in [
            r#"nbv_verdicts_total{source="executed"} 1"#,
            r#"nbv_verdicts_total{source="reused"} 2"#,
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
    }
}
