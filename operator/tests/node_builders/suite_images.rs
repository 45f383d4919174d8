//! A suite on the real node over two images, one of them a NotebookImage built with Buildah
//! that has a package the other lacks: the cross-image diff names the notebook that imports it
//! and the cell.

#![cfg(feature = "buildah")]

use std::sync::OnceLock;
use std::time::Duration;

use crate::support::Harness;
use crate::support::node::{
    example_notebooks, node_server, requirements_from, uses_package, write_wheel,
};
use crate::support::suite::{create_suite, ended, owned, wait_suite};
use kube::api::PostParams;
use nbv_testenv::NodeServer;
use nbv_testenv::node::Repo;
use notebook_validator_operator::crd::Phase;
use notebook_validator_operator::crd::suite::SuitePhase;

struct Served {
    _server: NodeServer,
    /// The passing example with its golden, `uses-package.ipynb` (which imports `nbvdemo`), a
    /// draft that raises, and `env/requirements.txt` installing `nbvdemo`.
    examples: Repo,
}

fn served() -> &'static Served {
    static SERVED: OnceLock<Served> = OnceLock::new();
    SERVED.get_or_init(|| {
        let server = node_server("node-suite-images");
        write_wheel(&server.files_dir().join("wheels"));
        let requirements = requirements_from(&server, "nbvdemo==1.0");
        let uses = uses_package();
        let examples = example_notebooks();
        let mut files: Vec<(String, Vec<u8>)> = examples
            .iter()
            .filter(|(name, _)| name.starts_with("passing"))
            .cloned()
            .collect();
        let raising = examples
            .iter()
            .find(|(name, _)| name == "raising.ipynb")
            .expect("the raising example")
            .1
            .clone();
        files.push(("drafts/raising.ipynb".into(), raising));
        files.push(("uses-package.ipynb".into(), uses));
        files.push(("env/requirements.txt".into(), requirements.into_bytes()));
        let as_refs: Vec<(&str, &[u8])> = files
            .iter()
            .map(|(p, c)| (p.as_str(), c.as_slice()))
            .collect();
        let examples = server.repo("examples", &as_refs).expect("repository");
        Served {
            _server: server,
            examples,
        }
    })
}

#[tokio::test]
async fn a_suite_over_two_images_names_the_notebook_and_the_cell_that_differ() {
    let mut h = Harness::on_node_with_pod_security("suite-images", "privileged").await;
    let client = h.least_privilege_client().await;
    let ctx = h.node_context(&["buildah"], Some(client));
    let push = h.registry_secret("registry-push").await;
    h.start_operator_with(ctx);
    let images_on_node = h.node_images();
    let registry = h.env.control_plane().node_registry().expect("registry");
    let base = registry
        .push(&images_on_node.notebook)
        .expect("base pushed");
    let repo = &served().examples;
    // The image that has nbvdemo: built from the repository's requirements, validated by the
    // notebook that imports it, published with its digest.
    let image: notebook_validator_operator::crd::image::NotebookImage =
        serde_json::from_value(serde_json::json!({
            "apiVersion": "mlops.redhat.com/v1alpha1",
            "kind": "NotebookImage",
            "metadata": {"name": "with-nbvdemo"},
            "spec": {
                "buildType": "GitRepository",
                "git": {"url": repo.url, "ref": repo.commit},
                "contextDir": "env",
                "buildConfig": {
                    "strategy": "buildah",
                    "baseImage": base,
                    "requirementsFile": "requirements.txt",
                    "outputImage": format!("{}/builds/with-nbvdemo:latest", nbv_testenv::node::REGISTRY),
                    "pushSecret": push,
                    "strategyConfig": {
                        "executor": images_on_node.buildah.reference,
                        "gitImage": images_on_node.operator.reference,
                    },
                },
                "validationNotebooks": [{
                    "notebook": {"git": {"url": repo.url, "ref": repo.commit},
                                 "path": "uses-package.ipynb"}
                }],
            },
        }))
        .expect("a NotebookImage");
    crate::support::node::images(&h)
        .create(&PostParams::default(), &image)
        .await
        .expect("accepted");
    // Created before the image is published: the suite waits for it, saying so.
    create_suite(
        &h,
        serde_json::json!({
            "apiVersion": "mlops.redhat.com/v1alpha1",
            "kind": "NotebookValidationSuite",
            "metadata": {"name": "examples"},
            "spec": {
                "repository": {"url": repo.url, "ref": "main"},
                "notebooks": {"include": ["**/*.ipynb"], "exclude": ["drafts/**"]},
                "golden": {"convention": "Sibling"},
                "matrix": {"images": [
                    {"name": "plain", "containerImage": images_on_node.notebook.reference},
                    {"name": "with-nbvdemo", "notebookImage": "with-nbvdemo"},
                ]},
                "maxParallel": 2,
            },
        }),
    )
    .await;
    let waiting = wait_suite(&h, "examples", Duration::from_secs(120), |s| {
        s.status
            .as_ref()
            .and_then(|s| s.message.as_deref())
            .is_some_and(|m| m.contains("NotebookImage with-nbvdemo"))
    })
    .await;
    assert_eq!(
        waiting.status.as_ref().and_then(|s| s.phase),
        Some(SuitePhase::Pending)
    );
    let suite = wait_suite(&h, "examples", Duration::from_secs(900), ended).await;
    let status = suite.status.expect("status");
    assert_eq!(status.phase, Some(SuitePhase::Failed), "{status:#?}");
    assert_eq!(status.commit.as_deref(), Some(repo.commit.as_str()));
    let counts = status.counts.clone().expect("counts");
    assert_eq!(
        (counts.total, counts.passed, counts.failed),
        (4, 3, 1),
        "{status:#?}"
    );
    // The draft was excluded and the goldens are not notebooks of their own.
    assert!(
        status
            .cells
            .iter()
            .all(|c| !c.key.notebook.contains("drafts/")
                && !c.key.notebook.ends_with(".golden.ipynb"))
    );
    assert_eq!(status.image_diffs.len(), 1, "{status:#?}");
    let diff = &status.image_diffs[0];
    assert_eq!(diff.notebook, "uses-package.ipynb");
    assert_eq!(
        (diff.passed_in.as_str(), diff.failed_in.as_str()),
        ("with-nbvdemo", "plain")
    );
    assert_eq!(diff.cells.len(), 1, "{diff:#?}");
    assert_eq!(diff.cells[0].cell_index, 0);
    assert!(
        diff.cells[0].failed.contains("No module named 'nbvdemo'"),
        "{diff:#?}"
    );
    assert!(diff.cells[0].passed.contains("42"), "{diff:#?}");
    // Each job read the notebook at the commit the suite listed, and the golden beside it.
    for cell in &status.cells {
        let job = h.jobs().get(&cell.job).await.expect("job");
        assert_eq!(
            job.spec.notebook.git.git_ref.as_deref(),
            Some(repo.commit.as_str())
        );
        if cell.key.notebook == "passing.ipynb" {
            let golden = job.spec.golden_notebook.expect("golden");
            assert_eq!(golden.path, "passing.golden.ipynb");
            assert_eq!(cell.phase, Some(Phase::Succeeded));
        }
    }
    // The listing pod is gone once the run ended.
    let (_, pods) = owned(&h, "examples").await;
    assert!(!pods.iter().any(|p| p.ends_with("-list")), "{pods:?}");
    h.remove_least_privilege_role().await;
}
