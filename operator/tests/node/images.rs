//! NotebookImages on the real node: imported from the node's registry, looked into by a real
//! pod, validated by jobs whose notebooks a real kernel runs, and published only when they pass;
//! the operator under exactly its generated ClusterRole.

use std::sync::OnceLock;
use std::time::Duration;

use crate::support::Harness;
use crate::support::node::{example_notebooks, images, node_server, wait_image};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use nbv_testenv::NodeServer;
use nbv_testenv::node::{REGISTRY, Repo};
use notebook_validator_operator::crd::Phase;
use notebook_validator_operator::crd::image::{ImagePhase, NotebookImage};

struct Served {
    _server: NodeServer,
    notebooks: Repo,
}

fn served() -> &'static Served {
    static SERVED: OnceLock<Served> = OnceLock::new();
    SERVED.get_or_init(|| {
        let server = node_server("node-images");
        let files = example_notebooks();
        let refs: Vec<(&str, &[u8])> = files
            .iter()
            .map(|(p, c)| (p.as_str(), c.as_slice()))
            .collect();
        let notebooks = server.repo("notebooks", &refs).expect("repository");
        Served {
            _server: server,
            notebooks,
        }
    })
}

/// A harness on the node where ImageStreams are served (their CRD stands in for OpenShift's),
/// with the operator running under its generated role.
async fn harness(prefix: &str) -> Harness {
    let mut h = Harness::on_node(prefix).await;
    h.env
        .install_crds(&[nbv_testenv::crds::OPENSHIFT_IMAGE_STREAM])
        .await
        .expect("the ImageStream CRD installs");
    let client = h.least_privilege_client().await;
    let ctx = h.node_context(&[], Some(client));
    h.start_operator_with(ctx);
    h.registry_secret(PULL_SECRET).await;
    h
}

/// The login of the node's registry, which refuses anonymous pulls.
const PULL_SECRET: &str = "node-registry";

/// A validation notebook entry of the examples repository, with its golden when given.
fn notebook(path: &str, golden: Option<&str>) -> serde_json::Value {
    let repo = &served().notebooks;
    let source = |path: &str| serde_json::json!({"git": {"url": repo.url, "ref": repo.commit}, "path": path});
    let mut entry = serde_json::json!({"notebook": source(path)});
    if let Some(golden) = golden {
        entry["goldenNotebook"] = source(golden);
    }
    entry
}

async fn create(h: &Harness, name: &str, spec: serde_json::Value) {
    let image: NotebookImage = serde_json::from_value(serde_json::json!({
        "apiVersion": "mlops.redhat.com/v1alpha1",
        "kind": "NotebookImage",
        "metadata": {"name": name},
        "spec": spec,
    }))
    .expect("a NotebookImage");
    images(h)
        .create(&PostParams::default(), &image)
        .await
        .expect("accepted");
}

/// Waits for round `round` to end, in either phase.
async fn round_ended(h: &Harness, name: &str, round: i64) -> NotebookImage {
    wait_image(
        h,
        name,
        &format!("end of round {round}"),
        Duration::from_secs(300),
        |i| {
            i.status
                .as_ref()
                .is_some_and(|s| s.round == Some(round) && s.is_terminal())
        },
    )
    .await
}

fn condition(image: &NotebookImage, type_: &str) -> (String, String, String) {
    image
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == type_))
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
        .unwrap_or_else(|| panic!("no {type_} condition: {:#?}", image.status))
}

async fn stream_tags(h: &Harness, name: &str) -> Vec<(String, String)> {
    let stream = h
        .dynamic("image.openshift.io", "v1", "ImageStream")
        .get(name)
        .await
        .expect("the ImageStream");
    stream.data["spec"]["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap_or_default().to_owned(),
                t["from"]["name"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

async fn set_notebooks(h: &Harness, name: &str, notebooks: serde_json::Value) {
    images(h)
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"validationNotebooks": notebooks}})),
        )
        .await
        .expect("spec changed");
}

#[tokio::test]
async fn an_imported_image_is_validated_published_and_kept_while_a_newer_round_fails() {
    let mut h = harness("nbi-import").await;
    let registry = h.env.control_plane().node_registry().expect("registry");
    let from = registry
        .push_tagged(&h.node_images().notebook, "import-ok:1")
        .expect("pushed");
    create(
        &h,
        "datasci",
        serde_json::json!({
            "buildType": "ImageImport",
            "fromImage": from,
            "imagePullSecret": PULL_SECRET,
            "display": {"name": "Data science", "description": "pandas and friends",
                        "creator": "team-a", "order": 3, "recommended": true},
            "validationNotebooks": [notebook("passing.ipynb", Some("passing.golden.ipynb"))],
            "publish": {"configMap": "notebook-images"},
        }),
    )
    .await;

    // An operator restarted while the notebooks run carries on: no second job, no second round.
    wait_image(&h, "datasci", "validation", Duration::from_secs(180), |i| {
        i.status.as_ref().and_then(|s| s.phase) == Some(ImagePhase::Validating)
            && i.status.as_ref().is_some_and(|s| s.validation.is_some())
    })
    .await;
    h.stop_operator();
    let client = h
        .env
        .service_account_client("nbv-operator")
        .await
        .expect("the operator's client");
    let ctx = h.node_context(&[], Some(client));
    h.start_operator_with(ctx);

    let image = round_ended(&h, "datasci", 1).await;
    let status = image.status.clone().expect("status");
    assert_eq!(status.phase, Some(ImagePhase::Succeeded), "{status:#?}");
    let published = status.published.clone().expect("published");
    let digest = status.source_digest.clone().expect("source digest");
    assert_eq!(
        published.image,
        format!("{REGISTRY}/nbv/import-ok@{digest}")
    );
    assert_eq!(status.image.as_deref(), Some(published.image.as_str()));
    let software = status.software.clone().expect("software");
    assert!(software.python.starts_with("3."), "{software:?}");
    assert!(
        software.packages.iter().any(|p| p.name == "papermill"),
        "{software:?}"
    );
    let validation = status.validation.clone().expect("validation");
    assert_eq!(validation.summary, "1/1");
    let jobs = h
        .jobs()
        .list(&ListParams::default().labels("mlops.redhat.com/notebook-image=datasci"))
        .await
        .expect("jobs");
    assert_eq!(
        jobs.items.len(),
        1,
        "one job for one notebook, restart or not"
    );
    let job = &jobs.items[0];
    assert_eq!(job.name_any(), "datasci-r1-nb0");
    assert_eq!(
        job.status.as_ref().and_then(|s| s.phase),
        Some(Phase::Succeeded)
    );
    let pod_config = job.spec.pod_config.clone().expect("pod config");
    assert_eq!(
        pod_config.container_image.as_deref(),
        Some(published.image.as_str())
    );
    // Published: the catalogue, and the ImageStream tag with the dashboard's annotations.
    let catalogue: Api<ConfigMap> = Api::namespaced(h.env.client.clone(), &h.env.namespace);
    let entry = catalogue.get("notebook-images").await.expect("catalogue");
    let entry = entry
        .data
        .unwrap_or_default()
        .remove("datasci")
        .expect("key");
    assert!(entry.contains(&published.image), "{entry}");
    let stream = h
        .dynamic("image.openshift.io", "v1", "ImageStream")
        .get("datasci")
        .await
        .expect("the ImageStream");
    let annotations = stream.annotations();
    assert_eq!(
        annotations
            .get("opendatahub.io/notebook-image-name")
            .map(String::as_str),
        Some("Data science")
    );
    assert_eq!(
        annotations
            .get("opendatahub.io/notebook-image-order")
            .map(String::as_str),
        Some("3")
    );
    let tag = &stream.data["spec"]["tags"][0];
    assert_eq!(tag["name"], "r1");
    assert_eq!(tag["from"]["name"], published.image.as_str());
    let software_annotation = tag["annotations"]["opendatahub.io/notebook-software"]
        .as_str()
        .expect("software annotation");
    assert!(
        software_annotation.contains("Python"),
        "{software_annotation}"
    );
    assert!(
        tag["annotations"]["opendatahub.io/notebook-python-dependencies"]
            .as_str()
            .is_some_and(|d| d.contains("papermill"))
    );
    assert_eq!(image.metadata.finalizers.unwrap_or_default().len(), 1);
    // The inspect pods went once read.
    let inspect = h
        .pods()
        .list(&ListParams::default().labels("app.kubernetes.io/component=inspect"))
        .await
        .expect("pods");
    assert!(
        inspect.items.is_empty(),
        "{:?}",
        inspect.items.iter().map(Pod::name_any).collect::<Vec<_>>()
    );

    // A new generation whose notebook fails: nothing new is published, round 1's image stays.
    set_notebooks(
        &h,
        "datasci",
        serde_json::json!([notebook("raising.ipynb", None)]),
    )
    .await;
    let failed = round_ended(&h, "datasci", 2).await;
    let status = failed.status.clone().expect("status");
    assert_eq!(status.phase, Some(ImagePhase::Failed), "{status:#?}");
    assert_eq!(status.published.as_ref().map(|p| p.round), Some(1));
    let (_, reason, message) = condition(&failed, "Ready");
    assert_eq!(reason, "ValidationFailed");
    assert!(message.contains("raising.ipynb (cells "), "{message}");
    let (published_now, _, kept) = condition(&failed, "Published");
    assert_eq!(published_now, "True");
    assert!(kept.contains("stays published"), "{kept}");
    let verdict = &status.validation.as_ref().expect("validation").notebooks[0];
    assert!(!verdict.failed_cells.is_empty(), "{verdict:?}");
    assert_eq!(
        stream_tags(&h, "datasci").await,
        [("r1".to_owned(), published.image.clone())]
    );

    // Fixed again: round 3 is published beside round 1 (N and N-1).
    set_notebooks(
        &h,
        "datasci",
        serde_json::json!([notebook("passing.ipynb", None)]),
    )
    .await;
    let fixed = round_ended(&h, "datasci", 3).await;
    let status = fixed.status.clone().expect("status");
    assert_eq!(status.phase, Some(ImagePhase::Succeeded), "{status:#?}");
    assert_eq!(status.published.as_ref().map(|p| p.round), Some(3));
    let tags: Vec<String> = stream_tags(&h, "datasci")
        .await
        .into_iter()
        .map(|t| t.0)
        .collect();
    assert_eq!(tags, ["r3", "r1"]);
}

#[tokio::test]
async fn an_import_whose_pull_secret_is_missing_fails_saying_so_and_publishes_nothing() {
    let h = harness("nbi-secret").await;
    let registry = h.env.control_plane().node_registry().expect("registry");
    let from = registry
        .push_tagged(&h.node_images().notebook, "import-secret:1")
        .expect("pushed");
    create(
        &h,
        "private",
        serde_json::json!({
            "buildType": "ImageImport",
            "fromImage": from,
            "imagePullSecret": "registry-login",
            "validationNotebooks": [notebook("passing.ipynb", None)],
        }),
    )
    .await;
    let image = round_ended(&h, "private", 1).await;
    let status = image.status.clone().expect("status");
    assert_eq!(status.phase, Some(ImagePhase::Failed), "{status:#?}");
    let (_, reason, message) = condition(&image, "Ready");
    assert_eq!(reason, "PullSecretNotFound", "{message}");
    assert!(
        message.contains("\"registry-login\" does not exist"),
        "{message}"
    );
    assert_eq!(condition(&image, "Published").0, "False");
    assert!(status.published.is_none());
    let jobs = h.jobs().list(&ListParams::default()).await.expect("jobs");
    assert!(jobs.items.is_empty(), "nothing is validated");
}

#[tokio::test]
async fn a_moved_source_digest_starts_a_new_round_validated_against_it() {
    let mut h = harness("nbi-moved").await;
    let registry = h.env.control_plane().node_registry().expect("registry");
    let images = h.node_images();
    registry
        .push_tagged(&images.notebook, "moving:latest")
        .expect("pushed");
    create(
        &h,
        "moving",
        serde_json::json!({
            "buildType": "ImageImport",
            "fromImage": format!("{REGISTRY}/nbv/moving:latest"),
            "imagePullSecret": PULL_SECRET,
            "validationNotebooks": [notebook("passing.ipynb", None)],
            "revalidation": {"interval": "2s"},
        }),
    )
    .await;
    let first = round_ended(&h, "moving", 1).await;
    let first = first.status.expect("status");
    assert_eq!(first.phase, Some(ImagePhase::Succeeded), "{first:#?}");
    // Another image under the same tag.
    registry
        .push_tagged(&images.notebook_arbitrary_uid, "moving:latest")
        .expect("pushed");
    let second = round_ended(&h, "moving", 2).await;
    let second = second.status.expect("status");
    assert_eq!(second.phase, Some(ImagePhase::Succeeded), "{second:#?}");
    assert_ne!(second.source_digest, first.source_digest);
    let published = second.published.expect("published");
    assert_eq!(published.source_digest, second.source_digest);
    assert_eq!(published.round, 2);
    assert!(
        second
            .message
            .is_some_and(|m| m.starts_with("validated and published"))
    );
    let events = h.events().await;
    assert!(
        events
            .iter()
            .any(|(reason, note)| reason == "SourceImageChanged" && note.contains("moved from")),
        "{events:?}"
    );
    // The check every 2 s would go on starting pods while the node goes down.
    h.stop_operator();
}

#[tokio::test]
async fn a_package_list_without_an_available_strategy_fails_saying_why() {
    let h = harness("nbi-packages").await;
    // A base the node can pull: the round gets past resolving it, to choosing the strategy.
    let base = h
        .env
        .control_plane()
        .node_registry()
        .expect("registry")
        .push(&h.node_images().notebook)
        .expect("base pushed");
    create(
        &h,
        "packages",
        serde_json::json!({
            "buildType": "PackageList",
            "imagePullSecret": PULL_SECRET,
            "buildConfig": {"baseImage": base, "packages": ["pandas"]},
            "validationNotebooks": [notebook("passing.ipynb", None)],
        }),
    )
    .await;
    let image = round_ended(&h, "packages", 1).await;
    // Only S2I is compiled into this binary, and only the ImageStream API of OpenShift's is
    // served here.
    let (_, reason, message) = condition(&image, "Ready");
    assert_eq!(reason, "NoStrategyAvailable");
    assert!(
        message.contains("s2i: ") && message.contains("BuildConfig"),
        "{message}"
    );
    assert!(image.status.and_then(|s| s.published).is_none());
}
