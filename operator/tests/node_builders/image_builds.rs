//! NotebookImages built on the real node, from a git repository and from a package list: a pod
//! builder (Buildah; Kaniko for the package list too) builds on the pinned base image and pushes
//! to the node's registry, the built image is looked into and validated by a notebook that
//! imports what only the build installed. Deleting an image mid-build leaves nothing behind.

#![cfg(any(
    feature = "buildah",
    feature = "kaniko",
    feature = "buildkit",
    feature = "tekton"
))]

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::support::Harness;
use crate::support::node::{
    images, node_server, requirements_from, uses_package, wait_image, write_wheel,
};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use nbv_testenv::NodeServer;
use nbv_testenv::node::{REGISTRY, Repo};
use notebook_validator_operator::crd::image::{ImagePhase, NotebookImage};

struct Served {
    server: NodeServer,
    /// A requirements file installing `nbvdemo` and a notebook importing it.
    environment: Repo,
}

fn served() -> &'static Served {
    static SERVED: OnceLock<Served> = OnceLock::new();
    SERVED.get_or_init(|| {
        let server = node_server("node-image-builds");
        write_wheel(&server.files_dir().join("wheels"));
        let requirements = requirements_from(&server, "nbvdemo==1.0");
        let uses = uses_package();
        let environment = server
            .repo(
                "environment",
                &[
                    ("env/requirements.txt", requirements.as_bytes()),
                    ("checks/uses-package.ipynb", uses.as_slice()),
                ],
            )
            .expect("repository");
        Served {
            server,
            environment,
        }
    })
}

/// The login of the node's registry: builds push with it, and the image is looked into and
/// validated with it.
const PUSH_SECRET: &str = "registry-push";

async fn harness(prefix: &str, strategy: &str) -> Harness {
    // Kaniko runs as root with a few capabilities; Buildah needs more.
    let level = if strategy == "kaniko" {
        "baseline"
    } else {
        "privileged"
    };
    let mut h = Harness::on_node_with_pod_security(prefix, level).await;
    let client = h.least_privilege_client().await;
    let ctx = h.node_context(&[strategy], Some(client));
    h.registry_secret(PUSH_SECRET).await;
    h.start_operator_with(ctx);
    h
}

/// A NotebookImage built with Buildah from the environment repository on the node's notebook
/// image, pushed to the node's registry.
async fn create(h: &Harness, name: &str) {
    let images_on_node = h.node_images();
    let registry = h.env.control_plane().node_registry().expect("registry");
    let base = registry
        .push(&images_on_node.notebook)
        .expect("base pushed");
    let repo = &served().environment;
    let image: NotebookImage = serde_json::from_value(serde_json::json!({
        "apiVersion": "mlops.redhat.com/v1alpha1",
        "kind": "NotebookImage",
        "metadata": {"name": name},
        "spec": {
            "buildType": "GitRepository",
            "git": {"url": repo.url, "ref": repo.commit},
            "contextDir": "env",
            "buildConfig": {
                "strategy": "buildah",
                "baseImage": base,
                "requirementsFile": "requirements.txt",
                "outputImage": format!("{REGISTRY}/builds/{name}:latest"),
                "pushSecret": PUSH_SECRET,
                "strategyConfig": {
                    "executor": images_on_node.buildah.reference,
                    "gitImage": images_on_node.operator.reference,
                },
            },
            "validationNotebooks": [{
                "notebook": {"git": {"url": repo.url, "ref": repo.commit},
                             "path": "checks/uses-package.ipynb"}
            }],
        },
    }))
    .expect("a NotebookImage");
    images(h)
        .create(&PostParams::default(), &image)
        .await
        .expect("accepted");
}

#[cfg(feature = "buildah")]
#[tokio::test]
async fn a_git_repository_image_is_built_validated_and_published() {
    let h = harness("nbi-git", "buildah").await;
    create(&h, "forecast").await;
    let image = wait_image(&h, "forecast", "end", Duration::from_secs(600), |i| {
        i.status.as_ref().is_some_and(|s| s.is_terminal())
    })
    .await;
    let status = image.status.expect("status");
    assert_eq!(status.phase, Some(ImagePhase::Succeeded), "{status:#?}");
    let build = status.build_status.clone().expect("build status");
    assert_eq!(build.strategy.as_deref(), Some("buildah"));
    let published = status.published.clone().expect("published");
    assert!(
        published
            .image
            .starts_with(&format!("{REGISTRY}/builds/forecast@sha256:")),
        "{published:?}"
    );
    // The base was looked at and pinned: the build used the digest in status.
    assert!(
        status
            .source_digest
            .is_some_and(|d| d.starts_with("sha256:"))
    );
    let software = status.software.expect("software");
    assert!(
        software.packages.iter().any(|p| p.name == "nbvdemo"),
        "what the build installed is listed: {software:?}"
    );
    assert_eq!(status.validation.expect("validation").summary, "1/1");
}

#[cfg(feature = "buildah")]
#[tokio::test]
async fn a_package_list_image_is_built_without_a_repository() {
    a_package_list_image_is_built_without_a_repository_by("buildah", "nbi-packages").await;
}

#[cfg(feature = "kaniko")]
#[tokio::test]
async fn kaniko_builds_a_package_list_image_without_a_repository() {
    a_package_list_image_is_built_without_a_repository_by("kaniko", "nbi-packages-kaniko").await;
}

#[cfg(feature = "buildkit")]
#[tokio::test]
async fn buildkit_builds_a_package_list_image_without_a_repository() {
    a_package_list_image_is_built_without_a_repository_by("buildkit", "nbi-packages-buildkit")
        .await;
}

/// With only `strategy` switched on, `auto` picks it: S2I builds from git sources only.
async fn a_package_list_image_is_built_without_a_repository_by(strategy: &str, prefix: &str) {
    let h = harness(prefix, strategy).await;
    let images_on_node = h.node_images();
    let executor = match strategy {
        "kaniko" => &images_on_node.kaniko.reference,
        "buildkit" => &images_on_node.buildkit.reference,
        _ => &images_on_node.buildah.reference,
    };
    let name =
        builds_a_package_list_image(&h, strategy, serde_json::json!({"executor": executor})).await;
    // No clone: the build pod had no init container.
    let pods: Api<Pod> = Api::namespaced(h.env.client.clone(), &h.env.namespace);
    if let Some(pod) = pods
        .get_opt(&format!("{name}-r1-build"))
        .await
        .expect("read")
    {
        let spec = pod.spec.expect("spec");
        assert!(spec.init_containers.unwrap_or_default().is_empty());
    }
}

/// A NotebookImage of `buildType: PackageList` built by `strategy` (the only one switched on
/// in `h`'s operator, given `strategy_config`), pushed with the login in `registry-push`,
/// looked into and validated; returns its name.
pub(crate) async fn builds_a_package_list_image(
    h: &Harness,
    strategy: &str,
    strategy_config: serde_json::Value,
) -> String {
    let name = format!("packages-{strategy}");
    let registry = h.env.control_plane().node_registry().expect("registry");
    let base = registry
        .push(&h.node_images().notebook)
        .expect("base pushed");
    let served = served();
    // A direct reference: the node's package index is not the build's default one.
    let package = format!(
        "nbvdemo @ {}wheels/nbvdemo-1.0-py3-none-any.whl",
        served.server.files_url()
    );
    let repo = &served.environment;
    let image: NotebookImage = serde_json::from_value(serde_json::json!({
        "apiVersion": "mlops.redhat.com/v1alpha1",
        "kind": "NotebookImage",
        "metadata": {"name": name},
        "spec": {
            "buildType": "PackageList",
            "buildConfig": {
                "baseImage": base,
                "packages": [package],
                "outputImage": format!("{REGISTRY}/builds/{name}:latest"),
                "pushSecret": PUSH_SECRET,
                "strategyConfig": strategy_config,
            },
            "validationNotebooks": [{
                "notebook": {"git": {"url": repo.url, "ref": repo.commit},
                             "path": "checks/uses-package.ipynb"}
            }],
        },
    }))
    .expect("a NotebookImage");
    images(h)
        .create(&PostParams::default(), &image)
        .await
        .expect("accepted");
    let image = wait_image(h, &name, "end", Duration::from_secs(600), |i| {
        i.status.as_ref().is_some_and(|s| s.is_terminal())
    })
    .await;
    let status = image.status.expect("status");
    assert_eq!(status.phase, Some(ImagePhase::Succeeded), "{status:#?}");
    let build = status.build_status.clone().expect("build status");
    // `auto` passed over S2I, which builds from git sources only.
    assert_eq!(build.strategy.as_deref(), Some(strategy), "{build:?}");
    let software = status.software.expect("software");
    assert!(
        software.packages.iter().any(|p| p.name == "nbvdemo"),
        "the package list was installed: {software:?}"
    );
    assert!(
        status
            .published
            .expect("published")
            .image
            .starts_with(&format!("{REGISTRY}/builds/{name}@sha256:"))
    );
    name
}

#[cfg(feature = "buildah")]
#[tokio::test]
async fn an_image_deleted_mid_build_leaves_nothing_behind() {
    let h = harness("nbi-delete", "buildah").await;
    create(&h, "gone").await;
    wait_image(&h, "gone", "build", Duration::from_secs(180), |i| {
        i.status.as_ref().and_then(|s| s.phase) == Some(ImagePhase::Building)
    })
    .await;
    images(&h)
        .delete("gone", &DeleteParams::default())
        .await
        .expect("deleted");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let left_image = images(&h).get_opt("gone").await.expect("read").is_some();
        let pods: Api<Pod> = h.pods();
        let left_pods = pods
            .list(&ListParams::default().labels("mlops.redhat.com/notebook-image=gone"))
            .await
            .expect("pods")
            .items;
        if !left_image && left_pods.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "left behind: image {left_image}, pods {:?}",
            left_pods
                .iter()
                .map(|p| p.metadata.name.clone())
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
