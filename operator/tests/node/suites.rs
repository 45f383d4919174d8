//! Suites on the real node: the repository is listed by a real clone, every notebook runs as
//! a job whose notebook really runs, and the suite sums them up. An operator restarted mid-run
//! creates no second job; deleting a suite mid-run removes its jobs and pods.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::support::Harness;
use crate::support::node::{host_path_claim, node_server, notebook, remove_volume};
use crate::support::suite::{create_suite, ended, owned, suites, wait_suite};
use kube::api::{DeleteParams, Patch, PatchParams};
use nbv_testenv::NodeServer;
use nbv_testenv::node::Repo;
use notebook_validator_operator::crd::suite::{ChangeRule, NotebookValidationSuite, SuitePhase};

struct Served {
    server: NodeServer,
    /// Three notebooks that each take a while.
    slow: Repo,
    /// Three quick notebooks and a requirements file; tag `v1` is its first commit, and the
    /// changedFrom test commits on `main`.
    changes: Repo,
}

fn served() -> &'static Served {
    static SERVED: OnceLock<Served> = OnceLock::new();
    SERVED.get_or_init(|| {
        let server = node_server("node-suites");
        let sleep = notebook(&["import time\ntime.sleep(15)\nprint('done')"]);
        let slow = server
            .repo(
                "slow",
                &[
                    ("a.ipynb", sleep.as_slice()),
                    ("b.ipynb", sleep.as_slice()),
                    ("c.ipynb", sleep.as_slice()),
                ],
            )
            .expect("repository");
        let quick = notebook(&["print('quick')"]);
        let changes = server
            .repo(
                "changes",
                &[
                    ("a.ipynb", quick.as_slice()),
                    ("b.ipynb", quick.as_slice()),
                    ("c.ipynb", quick.as_slice()),
                    ("requirements.txt", b"# nothing to install\n".as_slice()),
                ],
            )
            .expect("repository");
        Served {
            server,
            slow,
            changes,
        }
    })
}

fn slow_suite(name: &str) -> serde_json::Value {
    let repo = &served().slow;
    serde_json::json!({
        "apiVersion": "mlops.redhat.com/v1alpha1",
        "kind": "NotebookValidationSuite",
        "metadata": {"name": name},
        "spec": {
            "repository": {"url": repo.url, "ref": "main"},
            "notebooks": {"include": ["*.ipynb"]},
            "maxParallel": 2,
        },
    })
}

#[tokio::test]
async fn a_restarted_operator_creates_no_second_job_and_a_deleted_suite_leaves_nothing() {
    let mut h = Harness::on_node("suite-restart").await;
    let client = h.least_privilege_client().await;
    h.start_operator_with(h.node_context(&[], Some(client.clone())));
    create_suite(&h, slow_suite("slow")).await;
    // Two jobs start (maxParallel), the third waits.
    let running = wait_suite(&h, "slow", Duration::from_secs(180), |s| {
        s.status
            .as_ref()
            .and_then(|s| s.counts.as_ref())
            .is_some_and(|c| c.running == 2 && c.pending == 1)
    })
    .await;
    assert_eq!(
        running.status.as_ref().and_then(|s| s.phase),
        Some(SuitePhase::Running)
    );
    // A crash mid-run, and a new operator.
    h.stop_operator();
    h.start_operator_with(h.node_context(&[], Some(client)));
    let suite = wait_suite(&h, "slow", Duration::from_secs(300), ended).await;
    let status = suite.status.expect("status");
    assert_eq!(status.phase, Some(SuitePhase::Succeeded), "{status:#?}");
    let (jobs, _) = owned(&h, "slow").await;
    assert_eq!(jobs.len(), 3, "one job per notebook, none twice: {jobs:?}");
    assert_eq!(status.slowest.len(), 3);
    assert!(
        status
            .slowest
            .iter()
            .all(|c| c.duration_seconds >= Some(15)),
        "{:#?}",
        status.slowest
    );

    // Deleting a suite mid-run takes its jobs and their pods with it.
    create_suite(&h, slow_suite("doomed")).await;
    wait_suite(&h, "doomed", Duration::from_secs(180), |s| {
        s.status
            .as_ref()
            .and_then(|s| s.counts.as_ref())
            .is_some_and(|c| c.running == 2)
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while owned(&h, "doomed").await.1.is_empty() {
        assert!(Instant::now() < deadline, "no validation pod started");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    suites(&h)
        .delete("doomed", &DeleteParams::foreground())
        .await
        .expect("deleted");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (jobs, pods) = owned(&h, "doomed").await;
        let gone = suites(&h).get_opt("doomed").await.expect("read").is_none();
        if jobs.is_empty() && pods.is_empty() && gone {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "left behind: suite gone {gone}, jobs {jobs:?}, pods {pods:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    h.remove_least_privilege_role().await;
}

/// The suite's status once the run of `generation` ended.
async fn run_ended(h: &Harness, name: &str, generation: i64) -> NotebookValidationSuite {
    wait_suite(h, name, Duration::from_secs(300), |s| {
        ended(s) && s.status.as_ref().and_then(|s| s.observed_generation) == Some(generation)
    })
    .await
}

#[tokio::test]
async fn changed_from_runs_only_the_changed_notebook_and_all_when_requirements_change() {
    let mut h = Harness::on_node("suite-changes").await;
    h.start_operator_with(h.node_context(&[], None));
    let (artifacts, volume) = host_path_claim(&h, "results").await;
    let served = served();
    let edited = notebook(&["print('edited')"]);
    let second = served
        .server
        .update("changes", &[("b.ipynb", edited.as_slice())])
        .expect("second commit");
    create_suite(
        &h,
        serde_json::json!({
            "apiVersion": "mlops.redhat.com/v1alpha1",
            "kind": "NotebookValidationSuite",
            "metadata": {"name": "changes"},
            "spec": {
                "repository": {"url": served.changes.url, "ref": second.commit},
                "notebooks": {"include": ["*.ipynb"]},
                "changedFrom": "v1",
                "jobTemplate": {"artifacts": {"claimName": "results"}},
            },
        }),
    )
    .await;
    let first_run = run_ended(&h, "changes", 1).await;
    let status = first_run.status.expect("status");
    assert_eq!(status.phase, Some(SuitePhase::Succeeded), "{status:#?}");
    let changes = status.changes.clone().expect("changes");
    assert_eq!(changes.rule, ChangeRule::ChangedNotebooks);
    assert_eq!(
        changes.base, served.changes.commit,
        "v1 is the first commit"
    );
    assert_eq!(
        (changes.reason.as_str(), changes.unchanged),
        ("1 of 3 notebooks changed", 2)
    );
    let ran: Vec<&str> = status
        .cells
        .iter()
        .map(|c| c.key.notebook.as_str())
        .collect();
    assert_eq!(ran, vec!["b.ipynb"]);
    // The run's JUnit report: in the suite's ConfigMap, and copied into the claim.
    let report = status.report.clone().expect("report");
    let maps: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(h.env.client.clone(), &h.env.namespace);
    let map = maps
        .get(&report.config_map)
        .await
        .expect("report ConfigMap");
    let xml = map.data.expect("data")[&report.key].clone();
    assert!(xml.contains(r#"<testcase name="b.ipynb""#), "{xml}");
    let copied = report.artifacts.expect("copied into the claim");
    assert_eq!(copied.path, "changes/g1/junit.xml");
    let kept = std::fs::read_to_string(artifacts.path().join(&copied.path)).expect("in the claim");
    assert_eq!(kept, xml);

    // The requirements change: every notebook runs, in a new run of a new generation.
    let third = served
        .server
        .update(
            "changes",
            &[("requirements.txt", b"# still nothing\n".as_slice())],
        )
        .expect("third commit");
    let patch = serde_json::json!({"spec": {
        "repository": {"ref": third.commit},
        "changedFrom": second.commit,
    }});
    suites(&h)
        .patch("changes", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("patched");
    let second_run = run_ended(&h, "changes", 2).await;
    let status = second_run.status.expect("status");
    assert_eq!(status.phase, Some(SuitePhase::Succeeded), "{status:#?}");
    let changes = status.changes.clone().expect("changes");
    assert_eq!(changes.rule, ChangeRule::DependencyChanged, "{changes:?}");
    assert_eq!(
        changes.reason,
        "requirements.txt changed: every notebook runs"
    );
    assert_eq!(status.counts.as_ref().map(|c| c.passed), Some(3));
    // The first run's job went once the second run ended.
    let (jobs, _) = owned(&h, "changes").await;
    assert_eq!(jobs.len(), 3, "{jobs:?}");

    // A base the repository does not have fails the run in git's words.
    let patch = serde_json::json!({"spec": {"changedFrom": "no-such-branch"}});
    suites(&h)
        .patch("changes", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("patched");
    let failed = run_ended(&h, "changes", 3).await;
    let status = failed.status.expect("status");
    assert_eq!(status.phase, Some(SuitePhase::Failed), "{status:#?}");
    let message = status.message.clone().unwrap_or_default();
    assert!(
        message.contains("changedFrom no-such-branch is no branch, tag or commit"),
        "{message}"
    );
    let client = h.env.client.clone();
    drop(h);
    remove_volume(&client, &volume).await;
}
