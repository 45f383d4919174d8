//! The operator under test, in a process of its own so that its memory and CPU time are its own:
//! the library's controller with every compiled-in strategy enabled, its client wrapped in the
//! request-counting layer.
//!
//! Protocol with the benchmark: it prints `ready` on stdout once its job cache has synced, runs
//! until its stdin closes, then prints one line of JSON ([`Report`]) and exits.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use kube::client::ClientBuilder;
use notebook_validator_operator::catalog::Catalog;
use notebook_validator_operator::config::EnabledStrategies;
use notebook_validator_operator::config::PodSettings;
use notebook_validator_operator::controller;
use notebook_validator_operator::health::Readiness;
use notebook_validator_operator::steps::Context;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::counting::{CountingLayer, Counts, Tally};

/// What the operator process reports when it stops.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Report {
    /// Its API requests.
    pub(crate) requests: Tally,
    /// Reconciles run (`nbv_reconcile_duration_seconds_count`).
    pub(crate) reconciles: u64,
    /// Reconciles that failed, by error kind (`nbv_reconcile_errors_total`).
    pub(crate) reconcile_errors: Vec<(String, u64)>,
    /// The strategies compiled in and enabled.
    pub(crate) strategies: Vec<String>,
}

/// Runs the operator on `namespace` of the cluster in `kubeconfig`.
pub(crate) async fn run(
    kubeconfig: &Path,
    namespace: &str,
    classes: Vec<String>,
    settings: PodSettings,
    default_image: String,
) -> anyhow::Result<()> {
    let config = nbv_testenv::config_from(kubeconfig).await?;
    let counts = Counts::default();
    let layer = CountingLayer {
        counts: counts.clone(),
        classes: Arc::from(classes),
    };
    let client = ClientBuilder::try_from(config)?.with_layer(&layer).build();
    let compiled: Vec<String> = Catalog::linked(EnabledStrategies::resolve(None, None, &[])?)?
        .registry()
        .names()
        .iter()
        .map(ToString::to_string)
        .collect();
    // Every strategy of the build switched on, so the feature set's watches are all running.
    let catalog = Catalog::linked(EnabledStrategies::resolve(None, None, &compiled)?)?;
    let ctx = Context::new(client, catalog, settings, default_image);
    let metrics = ctx.metrics.clone();
    let health = ctx.health.clone();
    let stop = CancellationToken::new();
    let stopper = stop.clone();
    // EOF (or an error) on stdin: the benchmark is done with us, or has died.
    tokio::task::spawn_blocking(move || {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        stopper.cancel();
    });
    tokio::spawn(async move {
        while health.get() != Readiness::Ready {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        println!("ready");
    });
    controller::run_until(ctx, Some(namespace), stop)
        .await
        .context("the controller did not start")?;
    let text = metrics
        .encode()
        .map_err(|e| anyhow::anyhow!("encoding metrics: {e}"))?;
    let report = Report {
        requests: counts.tally(),
        reconciles: metric_sum(&text, "nbv_reconcile_duration_seconds_count")
            .into_iter()
            .map(|(_, n)| n)
            .sum(),
        reconcile_errors: metric_sum(&text, "nbv_reconcile_errors_total"),
        strategies: compiled,
    };
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// The samples of metric `name` in OpenMetrics text, as (labels, value).
fn metric_sum(text: &str, name: &str) -> Vec<(String, u64)> {
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?;
            let (labels, value) = match rest.strip_prefix('{') {
                Some(labelled) => labelled.split_once("} ")?,
                None => ("", rest.strip_prefix(' ')?),
            };
            let value: f64 = value.split_whitespace().next()?.parse().ok()?;
            Some((labels.to_owned(), value as u64))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_counters_from_open_metrics_text() {
        let text = "# HELP x\nnbv_reconcile_duration_seconds_count 42\nnbv_reconcile_duration_seconds_sum 1.5\nnbv_reconcile_errors_total{kind=\"kube\"} 3\n";
        assert_eq!(
            metric_sum(text, "nbv_reconcile_duration_seconds_count"),
            vec![(String::new(), 42)]
        );
        assert_eq!(
            metric_sum(text, "nbv_reconcile_errors_total"),
            vec![("kind=\"kube\"".to_owned(), 3)]
        );
    }
}
