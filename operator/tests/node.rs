//! The validation pod for real: jobs run to their verdict on a real node (containerd, kubelet),
//! the operator under exactly its generated ClusterRole, notebooks cloned from a git server on
//! the node and executed by a real Jupyter kernel in the node's notebook image.
//!
//! NotebookImages (`images`), the S2I strategy's builds (`s2i`) and suites (`suites`) are tested
//! in this binary too: each test binary starts its own control plane and node (about half a
//! minute), and these share this one. The community builders' are in `node_builders`.

#[path = "node/images.rs"]
mod images;
#[path = "node/s2i.rs"]
mod s2i;
#[path = "node/suites.rs"]
mod suites;
mod support;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::PostParams;
use nbv_report::{CellStatus, StopReason, Stopped};
use nbv_testenv::NodeServer;
use nbv_testenv::node::{GIT_USER, Repo};
use notebook_validator_operator::crd::Phase;
use support::node::{
    example_notebooks, host_path_claim, job, logs, node_server, notebook, phase, remove_volume,
    verdict, write_wheel,
};
use support::{Harness, condition};

/// What the node's git and file server holds for these tests.
struct Served {
    server: NodeServer,
    notebooks: Repo,
    private: Repo,
}

fn served() -> &'static Served {
    static SERVED: OnceLock<Served> = OnceLock::new();
    SERVED.get_or_init(|| {
        let server = node_server("node-serve");
        let mut files = example_notebooks();
        files.push((
            "slow.ipynb".into(),
            notebook(&["import time\ntime.sleep(600)"]),
        ));
        files.push((
            "uses-package.ipynb".into(),
            notebook(&["import nbvdemo\nprint(nbvdemo.VALUE)"]),
        ));
        files.push(("requirements.txt".into(), b"nbvdemo==1.0\n".to_vec()));
        files.push((
            "reads-ready.ipynb".into(),
            notebook(&["print(open('/workspace/ready.txt').read().strip())"]),
        ));
        let refs: Vec<(&str, &[u8])> = files
            .iter()
            .map(|(p, c)| (p.as_str(), c.as_slice()))
            .collect();
        let notebooks = server.repo("notebooks", &refs).expect("public repository");
        let private = server
            .private_repo("private", &refs)
            .expect("private repository");
        write_wheel(&server.files_dir().join("wheels"));
        Served {
            server,
            notebooks,
            private,
        }
    })
}

fn golden(repo: &Repo, path: &str) -> String {
    format!(
        "  goldenNotebook:\n    git:\n      url: {}\n      ref: main\n    path: {path}\n",
        repo.url
    )
}

fn image(reference: &str) -> String {
    format!("  podConfig:\n    containerImage: {reference}\n")
}

/// A harness on the node with the operator running under its generated role.
async fn harness(prefix: &str) -> Harness {
    let mut h = Harness::on_node(prefix).await;
    let client = h.least_privilege_client().await;
    let ctx = h.node_context(&[], Some(client));
    h.start_operator_with(ctx);
    h
}

#[tokio::test]
async fn a_passing_notebook_succeeds_with_the_results_of_its_real_run() {
    let h = harness("node-pass").await;
    let s = served();
    let images = h.node_images();
    let yaml = job(
        "pass",
        &s.notebooks,
        "passing.ipynb",
        &format!(
            "{}{}",
            golden(&s.notebooks, "passing.golden.ipynb"),
            image(&images.notebook.reference)
        ),
    );
    h.create_job(&yaml).await;
    let job = verdict(&h, "pass").await;
    let status = job.status.clone().expect("status");
    assert_eq!(phase(&job), Some(Phase::Succeeded), "{status:#?}");
    assert_eq!(
        status.results.len(),
        3,
        "one result per code cell: {status:#?}"
    );
    assert!(
        status
            .results
            .iter()
            .all(|r| r.status == CellStatus::Passed)
    );
    assert!(
        status.results.iter().all(|r| r.execution_time.is_some()),
        "timings come from the real run"
    );
    assert_eq!(
        condition(&job, "ValidationComplete").map(|c| c.1),
        Some("Passed".into())
    );
    assert_eq!(status.observed_generation, job.metadata.generation);
    assert!(status.completion_time.is_some());
    assert!(
        job.metadata.finalizers.unwrap_or_default().is_empty(),
        "a job that builds nothing needs no finalizer"
    );
    // kubectl logs of the finished pod: the clone and the runner.
    let pod = status.validation_pod_name.expect("pod name");
    let clone = logs(&h, &pod, "clone").await;
    assert!(
        clone.contains(&format!("cloned {}", s.notebooks.commit)),
        "{clone}"
    );
    let runner = logs(&h, &pod, "validate").await;
    assert!(!runner.trim().is_empty(), "the runner logs what it does");
}

#[tokio::test]
async fn a_differing_golden_fails_naming_the_cell() {
    let h = harness("node-differ").await;
    let s = served();
    let images = h.node_images();
    let yaml = job(
        "differ",
        &s.notebooks,
        "golden-mismatch.ipynb",
        &format!(
            "{}{}",
            golden(&s.notebooks, "golden-mismatch.golden.ipynb"),
            image(&images.notebook.reference)
        ),
    );
    h.create_job(&yaml).await;
    let job = verdict(&h, "differ").await;
    let status = job.status.clone().expect("status");
    assert_eq!(phase(&job), Some(Phase::Failed), "{status:#?}");
    assert_eq!(
        condition(&job, "Ready").map(|c| c.1),
        Some("OutputMismatch".into())
    );
    let comparison = status.comparison_result.expect("comparison");
    assert!(
        !comparison.diffs.is_empty(),
        "the differing cells are named: {comparison:#?}"
    );
}

#[tokio::test]
async fn a_raising_notebook_fails_with_the_error_of_its_cell() {
    let h = harness("node-raise").await;
    let s = served();
    let images = h.node_images();
    h.create_job(&job(
        "raise",
        &s.notebooks,
        "raising.ipynb",
        &image(&images.notebook.reference),
    ))
    .await;
    let job = verdict(&h, "raise").await;
    let status = job.status.clone().expect("status");
    assert_eq!(phase(&job), Some(Phase::Failed), "{status:#?}");
    assert_eq!(
        condition(&job, "Ready").map(|c| c.1),
        Some("NotebookFailed".into())
    );
    let failed = status
        .results
        .iter()
        .find(|r| r.status == CellStatus::Failed)
        .expect("a failed cell");
    assert!(
        failed
            .error_message
            .as_deref()
            .is_some_and(|m| m.contains("ValueError") && m.contains("value 1 is not allowed")),
        "{failed:#?}"
    );
}

#[tokio::test]
async fn parameters_reach_the_notebook() {
    let h = harness("node-params").await;
    let s = served();
    let images = h.node_images();
    let yaml = job(
        "params",
        &s.notebooks,
        "parameterised.ipynb",
        &format!(
            "{}{}  parameters:\n    count: 3\n    name: nbv\n",
            golden(&s.notebooks, "parameterised.golden.ipynb"),
            image(&images.notebook.reference)
        ),
    );
    h.create_job(&yaml).await;
    let job = verdict(&h, "params").await;
    assert_eq!(phase(&job), Some(Phase::Succeeded), "{:#?}", job.status);
}

#[tokio::test]
async fn a_private_repository_is_cloned_with_the_credentials_secret() {
    let h = harness("node-private").await;
    let s = served();
    let images = h.node_images();
    let secret: Secret = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "git-creds"},
        "stringData": {"username": GIT_USER, "password": s.server.password()},
    }))
    .expect("secret");
    kube::Api::<Secret>::namespaced(h.env.client.clone(), &h.env.namespace)
        .create(&PostParams::default(), &secret)
        .await
        .expect("secret created");
    let yaml = job(
        "private",
        &s.private,
        "passing.ipynb",
        &image(&images.notebook.reference),
    )
    .replace(
        "      ref:",
        "      credentialsSecret: git-creds\n      ref:",
    );
    h.create_job(&yaml).await;
    let job = verdict(&h, "private").await;
    assert_eq!(phase(&job), Some(Phase::Succeeded), "{:#?}", job.status);
}

#[tokio::test]
async fn a_missing_credentials_secret_fails_within_seconds() {
    let h = harness("node-nosecret").await;
    let s = served();
    let images = h.node_images();
    let yaml = job(
        "nosecret",
        &s.private,
        "passing.ipynb",
        &image(&images.notebook.reference),
    )
    .replace(
        "      ref:",
        "      credentialsSecret: does-not-exist\n      ref:",
    );
    let started = Instant::now();
    h.create_job(&yaml).await;
    let job = verdict(&h, "nosecret").await;
    let took = started.elapsed();
    let (_, reason, message) = condition(&job, "Ready").expect("Ready");
    assert_eq!(reason, "CredentialsSecretNotFound", "{message}");
    assert!(
        message.contains("\"does-not-exist\" does not exist"),
        "{message}"
    );
    // Far below the job's default 30 minutes; the kubelet reports the mount within seconds.
    assert!(took < Duration::from_secs(60), "took {took:?}");
    // The pod that could never start is gone.
    let pod = job.status.and_then(|s| s.validation_pod_name).expect("pod");
    let mut gone = false;
    for _ in 0..100 {
        if h.pods().get_opt(&pod).await.expect("read").is_none() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "pod {pod} was not removed");
}

#[tokio::test]
async fn an_image_with_a_named_user_fails_fast_saying_what_to_change() {
    let h = harness("node-named").await;
    let s = served();
    let images = h.node_images();
    h.create_job(&job(
        "named",
        &s.notebooks,
        "passing.ipynb",
        &image(&images.notebook_named_user.reference),
    ))
    .await;
    let job = verdict(&h, "named").await;
    let (_, reason, message) = condition(&job, "Ready").expect("Ready");
    assert_eq!(reason, "PodConfigError", "{message}");
    assert!(message.contains("numeric USER"), "{message}");
}

#[tokio::test]
async fn a_notebook_past_its_timeout_is_stopped_and_every_condition_says_so() {
    let h = harness("node-timeout").await;
    let s = served();
    let images = h.node_images();
    let yaml = job(
        "slow",
        &s.notebooks,
        "slow.ipynb",
        &image(&images.notebook.reference),
    ) + "  timeout: 25s\n";
    h.create_job(&yaml).await;
    let job = verdict(&h, "slow").await;
    let status = job.status.clone().expect("status");
    assert_eq!(phase(&job), Some(Phase::Failed));
    for type_ in ["BuildReady", "ValidationComplete", "Ready"] {
        let (state, reason, _) = condition(&job, type_).expect(type_);
        assert_ne!(
            state, "Unknown",
            "{type_} is still in progress: {status:#?}"
        );
        if type_ != "BuildReady" {
            assert_eq!(reason, "JobTimeout");
        }
    }
    // The runner stopped the notebook a little before the deadline: the cell that was running
    // is named, and the pod ended on its own, its logs kept.
    assert_eq!(
        status.stopped,
        Some(Stopped {
            cell_index: Some(0),
            reason: StopReason::TimeLimit
        }),
        "{status:#?}"
    );
    assert_eq!(
        status.results[0].status,
        CellStatus::TimedOut,
        "{status:#?}"
    );
    let pod_name = status.validation_pod_name.expect("pod");
    let mut ended: Option<Pod> = None;
    for _ in 0..300 {
        let pod = h
            .pods()
            .get(&pod_name)
            .await
            .expect("the pod stays for its logs");
        if pod
            .status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .is_some_and(|p| p == "Failed")
        {
            ended = Some(pod);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ended.is_some(), "the validation pod was not stopped");
    let _ = logs(&h, &pod_name, "validate").await;
}

#[tokio::test]
async fn a_cell_past_the_jobs_cell_timeout_is_named_in_status() {
    let h = harness("node-cell-timeout").await;
    let s = served();
    let images = h.node_images();
    let yaml = job(
        "cell-timeout",
        &s.notebooks,
        "slow.ipynb",
        &image(&images.notebook.reference),
    ) + "  execution:\n    cellTimeout: 3s\n";
    h.create_job(&yaml).await;
    let job = verdict(&h, "cell-timeout").await;
    let status = job.status.clone().expect("status");
    assert_eq!(phase(&job), Some(Phase::Failed), "{status:#?}");
    let (_, reason, message) = condition(&job, "Ready").expect("Ready");
    assert_eq!(reason, "NotebookFailed", "{message}");
    assert!(
        message.contains("cell 0 ran longer than the cell timeout of 3 s"),
        "{message}"
    );
    assert_eq!(
        status.stopped,
        Some(Stopped {
            cell_index: Some(0),
            reason: StopReason::CellTimeout
        })
    );
}

#[tokio::test]
async fn the_default_image_installs_requirements_as_an_arbitrary_uid() {
    let mut h = Harness::on_node("node-reqs").await;
    let client = h.least_privilege_client().await;
    let mut ctx = h.node_context(&[], Some(client));
    // As on OpenShift: the default image runs as a UID that owns nothing in it.
    ctx.default_image = h.node_images().notebook_arbitrary_uid.reference;
    h.start_operator_with(ctx);
    let s = served();
    let wheels = format!("{}wheels/", s.server.files_url());
    let yaml = job(
        "reqs",
        &s.notebooks,
        "uses-package.ipynb",
        &format!(
            "  podConfig:\n    buildConfig:\n      enabled: false\n      requirementsFile: requirements.txt\n    env:\n    - name: PIP_NO_INDEX\n      value: \"1\"\n    - name: PIP_FIND_LINKS\n      value: {wheels}\n    - name: PIP_CERT\n      value: /etc/ssl/certs/ca-certificates.crt\n"
        ),
    );
    h.create_job(&yaml).await;
    let job = verdict(&h, "reqs").await;
    let status = job.status.clone().expect("status");
    assert_eq!(phase(&job), Some(Phase::Succeeded), "{status:#?}");
    assert_eq!(
        condition(&job, "BuildReady").map(|c| c.1),
        Some("DefaultImage".into())
    );
    let pod = status.validation_pod_name.expect("pod");
    let spec = h.pods().get(&pod).await.expect("pod").spec.expect("spec");
    assert_eq!(
        spec.containers[0].image.as_deref(),
        Some(h.node_images().notebook_arbitrary_uid.reference.as_str())
    );
}

#[tokio::test]
async fn artifacts_are_kept_in_the_claim_named_in_status() {
    let h = harness("node-artifacts").await;
    let s = served();
    let images = h.node_images();
    let (dir, volume) = host_path_claim(&h, "results").await;

    let yaml = job(
        "kept",
        &s.notebooks,
        "passing.ipynb",
        &format!(
            "{}{}  artifacts:\n    claimName: results\n",
            golden(&s.notebooks, "passing.golden.ipynb"),
            image(&images.notebook.reference)
        ),
    );
    h.create_job(&yaml).await;
    let job = verdict(&h, "kept").await;
    let status = job.status.clone().expect("status");
    assert_eq!(phase(&job), Some(Phase::Succeeded), "{status:#?}");
    let artifacts = status.artifacts.expect("status names the artifacts");
    assert_eq!(artifacts.claim_name, "results");
    let kept = dir.path().join(&artifacts.path);
    for name in ["executed.ipynb", "report.json", "report.html", "junit.xml"] {
        assert!(
            kept.join(name).is_file(),
            "{name} is not in {}",
            kept.display()
        );
    }
    let report = nbv_report::Report::from_json(
        &std::fs::read_to_string(kept.join("report.json")).expect("report"),
    )
    .expect("a full report");
    assert_eq!(report.outcome, nbv_report::Outcome::Passed);
    assert_eq!(report.cells.len(), status.results.len());
    let executed: serde_json::Value =
        serde_json::from_slice(&std::fs::read(kept.join("executed.ipynb")).expect("notebook"))
            .expect("JSON");
    assert!(executed["cells"].as_array().is_some_and(|c| !c.is_empty()));

    // The volume outlives the namespace (Retain); the test removes what it made.
    let client = h.env.client.clone();
    drop(h);
    remove_volume(&client, &volume).await;
}

#[tokio::test]
async fn init_containers_run_before_the_notebook_and_a_failing_one_is_named() {
    let h = harness("node-init").await;
    let s = served();
    let images = h.node_images();
    // The first waits until the node's git server answers, then leaves a file the notebook
    // reads from the shared workspace.
    let waits = format!(
        "{}    initContainers:\n    - name: wait-for-git\n      image: {git}\n      env:\n      - name: REPO\n        value: {url}\n      command: [\"/bin/sh\", \"-c\", \"until git ls-remote -q \\\"$REPO\\\" >/dev/null; do sleep 1; done; echo ready > /workspace/ready.txt\"]\n      volumeMounts:\n      - name: workspace\n        mountPath: /workspace\n",
        image(&images.notebook.reference),
        git = images.operator.reference,
        url = s.notebooks.url,
    );
    h.create_job(&job(
        "init-waits",
        &s.notebooks,
        "reads-ready.ipynb",
        &waits,
    ))
    .await;
    let fails = format!(
        "{}    initContainers:\n    - name: wait-for-db\n      image: {git}\n      command: [\"/bin/sh\", \"-c\", \"echo database not ready; exit 3\"]\n",
        image(&images.notebook.reference),
        git = images.operator.reference,
    );
    h.create_job(&job("init-fails", &s.notebooks, "passing.ipynb", &fails))
        .await;

    let passed = verdict(&h, "init-waits").await;
    let status = passed.status.clone().expect("status");
    assert_eq!(phase(&passed), Some(Phase::Succeeded), "{status:#?}");
    assert_eq!(
        status.results[0].output.as_deref().map(str::trim),
        Some("ready"),
        "{status:#?}"
    );

    let failed = verdict(&h, "init-fails").await;
    let status = failed.status.clone().expect("status");
    assert_eq!(phase(&failed), Some(Phase::Failed), "{status:#?}");
    let (_, reason, message) = condition(&failed, "Ready").expect("Ready");
    assert_eq!(reason, "InitContainerFailed", "{message}");
    assert!(
        message.contains("'wait-for-db'") && message.contains("database not ready"),
        "{message}"
    );
}
