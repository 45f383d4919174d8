//! Helpers of the suite tests: creating a suite, waiting on it, and what it owns.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{Api, ListParams, PostParams};
use notebook_validator_operator::crd::suite::NotebookValidationSuite;
use notebook_validator_operator::labels::SUITE_LABEL;

use super::Harness;

pub fn suites(h: &Harness) -> Api<NotebookValidationSuite> {
    Api::namespaced(h.env.client.clone(), &h.env.namespace)
}

pub async fn create_suite(h: &Harness, suite: serde_json::Value) {
    let suite: NotebookValidationSuite = serde_json::from_value(suite).expect("a suite");
    suites(h)
        .create(&PostParams::default(), &suite)
        .await
        .expect("accepted");
}

pub async fn wait_suite(
    h: &Harness,
    name: &str,
    limit: Duration,
    check: impl Fn(&NotebookValidationSuite) -> bool,
) -> NotebookValidationSuite {
    let deadline = Instant::now() + limit;
    loop {
        let suite = suites(h).get(name).await.expect("suite");
        if check(&suite) {
            return suite;
        }
        assert!(
            Instant::now() < deadline,
            "suite {name} not there after {limit:?}: {:#?}",
            suite.status
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

pub fn ended(suite: &NotebookValidationSuite) -> bool {
    suite.status.as_ref().is_some_and(|s| s.is_terminal())
}

/// The names of the jobs a suite owns, and of the pods it or its jobs own.
pub async fn owned(h: &Harness, suite: &str) -> (Vec<String>, Vec<String>) {
    let selector = format!("{SUITE_LABEL}={suite}");
    let jobs = h
        .jobs()
        .list(&ListParams::default().labels(&selector))
        .await
        .expect("jobs")
        .items
        .iter()
        .map(|j| j.name_any())
        .collect();
    let job_pods: Vec<Pod> = h
        .pods()
        .list(&ListParams::default())
        .await
        .expect("pods")
        .items;
    let pods = job_pods
        .iter()
        .filter(|p| {
            p.owner_references()
                .iter()
                .any(|o| o.name.starts_with(&format!("{suite}-")) || o.name == suite)
        })
        .map(|p| p.name_any())
        .collect();
    (jobs, pods)
}
