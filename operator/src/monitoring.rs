//! What a cluster admin installs to watch the operator: Prometheus alerting rules and a Grafana
//! dashboard over the metrics of [`crate::metrics`]. `cargo xtask codegen` writes them into the
//! Helm chart's `files/`, served as a PrometheusRule and a dashboard ConfigMap when switched on;
//! `promtool test rules deploy/monitoring/nbv-alerts.test.yaml` fires every alert in CI.

use serde_json::{Value, json};

/// One alerting rule.
struct Alert {
    name: &'static str,
    expr: &'static str,
    /// How long the condition holds before the alert fires.
    for_: &'static str,
    severity: &'static str,
    summary: &'static str,
    description: &'static str,
}

const ALERTS: &[Alert] = &[
    Alert {
        name: "NotebookValidationFailureRateHigh",
        expr: r#"sum by (outcome) (rate(nbv_validations_total{outcome!="Passed"}[30m])) / ignoring (outcome) group_left () sum(rate(nbv_validations_total[30m])) > 0.5"#,
        for_: "30m",
        severity: "warning",
        summary: "Most notebook validations fail with {{ $labels.outcome }}",
        description: "Over the last 30 minutes {{ $value | humanizePercentage }} of the validations that ended did so with reason {{ $labels.outcome }}. NotebookFailed and OutputMismatch point at notebooks or their images; InfrastructureError, PodEvicted, ResultMissing and JobTimeout at the cluster.",
    },
    Alert {
        name: "NotebookImageBuildsFailing",
        expr: r#"sum by (strategy) (increase(nbv_builds_total{outcome=~"failed|timeout"}[1h])) / sum by (strategy) (increase(nbv_builds_total[1h])) > 0.5 and sum by (strategy) (increase(nbv_builds_total{outcome=~"failed|timeout"}[1h])) >= 3"#,
        for_: "15m",
        severity: "warning",
        summary: "Builds with the {{ $labels.strategy }} strategy fail or time out",
        description: "More than half of the builds with {{ $labels.strategy }} in the last hour failed or ran out of time (3 or more). The jobs' status.buildStatus.logsTail holds the builders' last lines.",
    },
    Alert {
        name: "NotebookOperatorReconcileErrors",
        expr: "sum by (kind) (rate(nbv_reconcile_errors_total[10m])) > 0.05",
        for_: "15m",
        severity: "warning",
        summary: "The operator's reconciles fail ({{ $labels.kind }})",
        description: "Reconciles failing with {{ $labels.kind }} errors, {{ $value | humanize }} per second, are retried with backoff; the operator's log names the API call or strategy.",
    },
    Alert {
        name: "NotebookValidationQueueGrowing",
        expr: r#"sum(nbv_jobs{phase="Pending"}) > 10 and deriv(sum(nbv_jobs{phase="Pending"})[30m:1m]) > 0"#,
        for_: "30m",
        severity: "warning",
        summary: "Jobs waiting to start keep piling up",
        description: "{{ $value }} NotebookValidationJobs are Pending and their number has grown for 30 minutes: the operator does not keep up, or their pods cannot be scheduled.",
    },
    Alert {
        name: "NotebookValidationJobsStuck",
        expr: "max(nbv_jobs_overdue) > 0",
        for_: "10m",
        severity: "critical",
        summary: "Jobs have no verdict long after their timeout",
        description: "{{ $value }} NotebookValidationJobs have passed spec.timeout by more than a minute without a verdict. The operator ends a job at its timeout, so these are not being reconciled: check that a replica holds the leader Lease and its log.",
    },
    Alert {
        name: "NotebookImageNotPublished",
        expr: r#"sum(increase(nbv_notebook_image_rounds_total{outcome="notPublished"}[6h])) > 0"#,
        for_: "0m",
        severity: "info",
        summary: "A NotebookImage round ended without publishing",
        description: "NotebookImage rounds ended without publishing in the last 6 hours: a validation notebook failed in the image, or its build or import did. `kubectl get nbi` shows which, and its status why.",
    },
];

/// The alerting rules, as a Prometheus rule file's content (`groups:`), which is also a
/// PrometheusRule's `spec`.
pub fn alert_rules() -> Value {
    let rules: Vec<Value> = ALERTS
        .iter()
        .map(|a| {
            json!({
                "alert": a.name,
                "expr": a.expr,
                "for": a.for_,
                "labels": { "severity": a.severity },
                "annotations": { "summary": a.summary, "description": a.description },
            })
        })
        .collect();
    json!({ "groups": [{ "name": "notebook-validator-operator", "rules": rules }] })
}

/// One graph of the dashboard.
struct Panel {
    title: &'static str,
    kind: &'static str,
    unit: &'static str,
    exprs: &'static [(&'static str, &'static str)],
}

const PANELS: &[Panel] = &[
    Panel {
        title: "Jobs by phase",
        kind: "timeseries",
        unit: "short",
        exprs: &[("sum by (phase) (nbv_jobs)", "{{phase}}")],
    },
    Panel {
        title: "Jobs stuck past their timeout",
        kind: "stat",
        unit: "short",
        exprs: &[("max(nbv_jobs_overdue)", "stuck")],
    },
    Panel {
        title: "Validations ended, by reason",
        kind: "timeseries",
        unit: "ops",
        exprs: &[(
            "sum by (outcome) (rate(nbv_validations_total[5m]))",
            "{{outcome}}",
        )],
    },
    Panel {
        title: "Builds ended, by strategy and outcome",
        kind: "timeseries",
        unit: "ops",
        exprs: &[(
            "sum by (strategy, outcome) (rate(nbv_builds_total[15m]))",
            "{{strategy}} {{outcome}}",
        )],
    },
    Panel {
        title: "Build duration p50 / p95",
        kind: "timeseries",
        unit: "s",
        exprs: &[
            (
                "histogram_quantile(0.5, sum by (le, strategy) (rate(nbv_build_duration_seconds_bucket[1h])))",
                "p50 {{strategy}}",
            ),
            (
                "histogram_quantile(0.95, sum by (le, strategy) (rate(nbv_build_duration_seconds_bucket[1h])))",
                "p95 {{strategy}}",
            ),
        ],
    },
    Panel {
        title: "Reconcile duration p99 and errors",
        kind: "timeseries",
        unit: "s",
        exprs: &[
            (
                "histogram_quantile(0.99, sum by (le) (rate(nbv_reconcile_duration_seconds_bucket[5m])))",
                "p99",
            ),
            (
                "sum by (kind) (rate(nbv_reconcile_errors_total[5m]))",
                "errors {{kind}}",
            ),
        ],
    },
    Panel {
        title: "NotebookImage rounds",
        kind: "timeseries",
        unit: "short",
        exprs: &[(
            "sum by (outcome) (increase(nbv_notebook_image_rounds_total[1h]))",
            "{{outcome}}",
        )],
    },
];

/// The Grafana dashboard, as the JSON Grafana imports.
pub fn dashboard() -> Value {
    let panels: Vec<Value> = PANELS
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let targets: Vec<Value> = p
                .exprs
                .iter()
                .zip('A'..)
                .map(|((expr, legend), ref_id)| {
                    json!({
                        "datasource": { "type": "prometheus", "uid": "${datasource}" },
                        "expr": expr,
                        "legendFormat": legend,
                        "refId": ref_id.to_string(),
                    })
                })
                .collect();
            json!({
                "id": i + 1,
                "type": p.kind,
                "title": p.title,
                "datasource": { "type": "prometheus", "uid": "${datasource}" },
                "gridPos": { "h": 8, "w": 12, "x": (i % 2) * 12, "y": (i / 2) * 8 },
                "fieldConfig": { "defaults": { "unit": p.unit }, "overrides": [] },
                "targets": targets,
            })
        })
        .collect();
    json!({
        "uid": "nbv-operator",
        "title": "Notebook Validator Operator",
        "tags": ["notebooks", "kubernetes-operator"],
        "schemaVersion": 39,
        "editable": true,
        "time": { "from": "now-24h", "to": "now" },
        "refresh": "1m",
        "templating": { "list": [{
            "name": "datasource",
            "type": "datasource",
            "query": "prometheus",
            "label": "Prometheus",
        }]},
        "panels": panels,
    })
}

/// Every PromQL expression of the rules and the dashboard.
pub fn queries() -> Vec<&'static str> {
    ALERTS
        .iter()
        .map(|a| a.expr)
        .chain(PANELS.iter().flat_map(|p| p.exprs.iter().map(|(e, _)| *e)))
        .collect()
}

/// The metric names an expression reads: words starting `nbv_`, with a histogram's
/// `_bucket`, `_sum` or `_count` suffix taken off.
pub fn metrics_in(expr: &str) -> Vec<String> {
    let mut names: Vec<String> = expr
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("nbv_"))
        .map(|word| {
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| word.strip_suffix(suffix))
                .unwrap_or(word)
                .to_owned()
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_are_read_from_expressions() {
        assert_eq!(
            metrics_in(
                "histogram_quantile(0.5, sum by (le) (rate(nbv_build_duration_seconds_bucket[1h]))) / nbv_jobs"
            ),
            ["nbv_build_duration_seconds", "nbv_jobs"]
        );
    }

    #[test]
    fn every_metric_queried_is_one_the_operator_exports() {
        use crate::crd::NotebookValidationJobStatus as Status;
        let metrics = crate::metrics::Metrics::new();
        // The gauges read from the job cache are exported once there is one, and a family with
        // labels once it has a series: one job's life gives each a series.
        let (reader, _writer) =
            kube::runtime::reflector::store::<crate::crd::NotebookValidationJob>();
        metrics.track_jobs(reader);
        let status =
            |value: serde_json::Value| -> Status { serde_json::from_value(value).expect("status") };
        let build = |phase: &str| {
            json!({"strategy": "s2i", "phase": phase, "startTime": "2026-01-01T00:00:00Z",
                   "completionTime": "2026-01-01T00:01:30Z"})
        };
        let building = status(json!({"phase": "Building", "buildStatus": build("Running")}));
        let built = status(json!({"phase": "BuildComplete", "buildStatus": build("Succeeded")}));
        let validated = status(
            json!({"phase": "Succeeded", "buildStatus": build("Succeeded"),
            "validationPodName": "job-validation",
            "conditions": [{"type": "ValidationComplete", "status": "True", "reason": "Passed",
                            "message": "", "lastTransitionTime": "2026-01-01T00:02:00Z"}]}),
        );
        metrics.status_written(Some(&building), &built);
        metrics.status_written(Some(&built), &validated);
        metrics.reconciled(std::time::Duration::from_millis(5), Some("kube"));
        metrics.image_round_ended(false);
        let exported = metrics.encode().expect("encodes");
        let families: Vec<&str> = exported
            .lines()
            .filter_map(|line| line.strip_prefix("# TYPE "))
            .filter_map(|rest| rest.split_whitespace().next())
            .collect();
        for expr in queries() {
            for name in metrics_in(expr) {
                // OpenMetrics names a counter's family without its `_total`.
                let family = name.strip_suffix("_total").unwrap_or(&name);
                assert!(
                    families.contains(&family),
                    "{name} (in `{expr}`) is not exported; exported: {families:?}"
                );
            }
        }
    }

    #[test]
    fn every_alert_has_a_promtool_test_that_fires_it() {
        let tests: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(include_str!("../../deploy/monitoring/nbv-alerts.test.yaml"))
                .expect("YAML");
        let fired: Vec<String> = tests["tests"]
            .as_sequence()
            .expect("tests")
            .iter()
            .flat_map(|t| {
                t["alert_rule_test"]
                    .as_sequence()
                    .cloned()
                    .unwrap_or_default()
            })
            .filter(|case| {
                case["exp_alerts"]
                    .as_sequence()
                    .is_some_and(|e| !e.is_empty())
            })
            .filter_map(|case| case["alertname"].as_str().map(str::to_owned))
            .collect();
        for alert in ALERTS {
            assert!(
                fired.iter().any(|name| name == alert.name),
                "no case of deploy/monitoring/nbv-alerts.test.yaml expects {} to fire",
                alert.name
            );
        }
    }
}
