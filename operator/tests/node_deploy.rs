//! Deployed as a cluster admin deploys it: the operator image installed on the node with the
//! project's Helm chart, by the commands of docs/install.md, runs in its pod under its own
//! ServiceAccount and the chart's role, takes jobs to Succeeded, and a `helm upgrade` to a new
//! image while jobs run loses none of them.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use futures::future::join_all;
use k8s_openapi::api::core::v1::{Namespace, Pod, Secret};
use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams};
use nbv_testenv::node::{REGISTRY, Repo};
use nbv_testenv::{NodeServer, TestEnv};
use notebook_validator_operator::crd::Phase;
use support::Harness;
use support::node::{job, node_server, notebook, phase, verdict};

/// The release and namespace of docs/install.md's commands.
const RELEASE: &str = "nbv";
const NAMESPACE: &str = "nbv-system";
/// The objects' name: `<release>-<chart>`.
const FULLNAME: &str = "nbv-notebook-validator-operator";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// docs/install.md's `helm install` and its image `helm upgrade`, as argument lists.
fn documented_commands() -> (Vec<String>, Vec<String>) {
    let doc = std::fs::read_to_string(repo_root().join("docs/install.md")).expect("install doc");
    let commands: Vec<Vec<String>> = doc
        .replace("\\\n", " ")
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("helm install ") || l.starts_with("helm upgrade "))
        .map(|l| l.split_whitespace().skip(1).map(str::to_owned).collect())
        .collect();
    let install = commands
        .iter()
        .find(|c| c[0] == "install")
        .expect("the doc has a helm install")
        .clone();
    let upgrade = commands
        .iter()
        .find(|c| c.iter().any(|w| w.starts_with("image.tag=")))
        .expect("the doc has an image upgrade")
        .clone();
    for command in [&install, &upgrade] {
        assert!(
            command.iter().all(|w| !w.contains(['\'', '"'])),
            "quoting in {command:?}: split it with a shell-words parser"
        );
        assert!(command.contains(&RELEASE.to_owned()) && command.contains(&NAMESPACE.to_owned()));
    }
    (install, upgrade)
}

/// Runs the control plane's helm with `args` (and `more` after them: later `--set`s win).
fn helm(env: &TestEnv, args: &[String], more: &[String]) -> Result<String, String> {
    let helm = nbv_testenv::Binaries::locate()
        .expect("control-plane binaries")
        .dir
        .join("helm");
    let out = Command::new(helm)
        .current_dir(repo_root())
        .env("KUBECONFIG", env.control_plane().kubeconfig_path())
        .env(
            "HELM_CACHE_HOME",
            std::env::temp_dir().join("nbv-helm-cache"),
        )
        .env(
            "HELM_CONFIG_HOME",
            std::env::temp_dir().join("nbv-helm-config"),
        )
        .env("HELM_DATA_HOME", std::env::temp_dir().join("nbv-helm-data"))
        .args(args)
        .args(more)
        .args(["--timeout", "4m"])
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "helm {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The chart's values for the operator image `repository:tag`, pulled with [`PULL_SECRET`].
fn image_values(repository: &str, tag: &str) -> Vec<String> {
    vec![
        "--set".into(),
        format!("image.repository={repository}"),
        "--set".into(),
        format!("image.tag={tag}"),
        "--set".into(),
        format!("imagePullSecrets[0].name={PULL_SECRET}"),
    ]
}

/// The Secret the operator's pods pull their image from the node's registry with.
const PULL_SECRET: &str = "registry-pull";

/// The operator's namespace, made before the chart so that it holds the pull secret first.
async fn namespace_with_pull_secret(env: &TestEnv) {
    let namespace: Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": NAMESPACE}}))
            .expect("namespace");
    let _ = Api::<Namespace>::all(env.client.clone())
        .create(&PostParams::default(), &namespace)
        .await;
    let login = env
        .control_plane()
        .node_registry()
        .expect("node registry")
        .credentials()
        .docker_config_json();
    let secret: Secret = serde_json::from_value(serde_json::json!({
        "metadata": {"name": PULL_SECRET},
        "type": "kubernetes.io/dockerconfigjson",
        "stringData": {".dockerconfigjson": login},
    }))
    .expect("secret");
    // One left by an earlier run of this test holds an older node's login: replace it.
    let secrets = Api::<Secret>::namespaced(env.client.clone(), NAMESPACE);
    let _ = secrets.delete(PULL_SECRET, &DeleteParams::default()).await;
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .expect("pull secret created");
}

/// The operator's pods, with their images.
async fn operator_pods(env: &TestEnv) -> Vec<Pod> {
    Api::<Pod>::namespaced(env.client.clone(), NAMESPACE)
        .list(&ListParams::default().labels(&format!("app.kubernetes.io/instance={RELEASE}")))
        .await
        .expect("operator pods")
        .items
}

fn serve_notebooks() -> (NodeServer, Repo) {
    let server = node_server("node-deploy");
    let quick = notebook(&["print(6 * 7)"]);
    // Long enough that jobs are still running when the upgrade replaces the operator's pod.
    let slow = notebook(&["import time\ntime.sleep(8)", "print('done')"]);
    let repo = server
        .repo(
            "deploy",
            &[
                ("quick.ipynb", quick.as_slice()),
                ("slow.ipynb", slow.as_slice()),
            ],
        )
        .expect("repository");
    (server, repo)
}

#[tokio::test]
async fn the_chart_deploys_the_operator_and_an_image_upgrade_loses_no_job() {
    let env = TestEnv::on_node(
        "helm-jobs",
        &[("pod-security.kubernetes.io/enforce", "restricted")],
    )
    .await
    .expect("control plane with a node");
    let control_plane = env.control_plane();
    let images = control_plane.node_images().expect("node images").clone();
    let registry = control_plane.node_registry().expect("node registry");
    // Two tags of the operator image in the node's registry, as a release and its successor.
    for tag in ["first", "second"] {
        registry
            .push_tagged(&images.operator, &format!("operator:{tag}"))
            .expect("operator image pushed");
    }
    let repository = format!("{REGISTRY}/nbv/operator");
    let (install, upgrade) = documented_commands();
    let (_server, repo) = serve_notebooks();

    namespace_with_pull_secret(&env).await;
    helm(&env, &install, &image_values(&repository, "first")).expect("helm install");
    let pods = operator_pods(&env).await;
    assert_eq!(pods.len(), 1, "one replica");
    let spec = pods[0].spec.clone().expect("spec");
    assert_eq!(spec.service_account_name.as_deref(), Some(FULLNAME));
    assert_eq!(
        spec.containers[0].image.as_deref(),
        Some(format!("{repository}:first").as_str())
    );

    let h = Harness::over(env);
    let with_image = format!(
        "  podConfig:\n    containerImage: {}\n",
        images.notebook.reference
    );
    h.create_job(&job("quick", &repo, "quick.ipynb", &with_image))
        .await;
    let quick = verdict(&h, "quick").await;
    assert_eq!(phase(&quick), Some(Phase::Succeeded), "{:#?}", quick.status);
    assert_eq!(quick.status.as_ref().map(|s| s.results.len()), Some(1));

    // Jobs under way when the upgrade starts, and jobs created while it rolls.
    let before: Vec<String> = (0..4).map(|i| format!("before-{i}")).collect();
    for name in &before {
        h.create_job(&job(name, &repo, "slow.ipynb", &with_image))
            .await;
    }
    for name in &before {
        h.wait_phase(name, Phase::ValidationRunning).await;
    }
    let rolling = {
        let env = h.env.clone();
        let values = image_values(&repository, "second");
        tokio::task::spawn_blocking(move || helm(&env, &upgrade, &values))
    };
    let during: Vec<String> = (0..2).map(|i| format!("during-{i}")).collect();
    for name in &during {
        h.create_job(&job(name, &repo, "slow.ipynb", &with_image))
            .await;
    }
    rolling.await.expect("upgrade ran").expect("helm upgrade");

    let verdicts = join_all(before.iter().chain(&during).map(|n| verdict(&h, n))).await;
    for job in &verdicts {
        assert_eq!(
            phase(job),
            Some(Phase::Succeeded),
            "{:?}: {:#?}",
            job.metadata.name,
            job.status
        );
        assert_eq!(job.status.as_ref().map(|s| s.results.len()), Some(2));
    }
    let pods = operator_pods(&h.env).await;
    let images: Vec<Option<String>> = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .map(|p| p.spec.as_ref().and_then(|s| s.containers[0].image.clone()))
        .collect();
    assert_eq!(images, vec![Some(format!("{repository}:second"))]);

    helm(
        &h.env,
        &["uninstall", RELEASE, "-n", NAMESPACE, "--wait"].map(str::to_owned),
        &[],
    )
    .expect("helm uninstall");
    Api::<Namespace>::all(h.env.client.clone())
        .delete(NAMESPACE, &DeleteParams::default())
        .await
        .expect("namespace deleted");
}
