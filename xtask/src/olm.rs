//! The OLM bundle (`deploy/olm/bundle`): a ClusterServiceVersion and the objects OLM installs
//! with it, made from the same build report and the same Deployment, ConfigMap and rules as the
//! Kustomize bases and the chart, so nothing here is a second copy of them.
//!
//! `cargo xtask manifests` writes it with the chart's set; `cargo xtask ci` validates it with
//! the validators of `github.com/operator-framework/api` (its `operator-verify`, which runs
//! the checks `operator-sdk bundle validate` runs).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::manifests::{self, Build};

/// Where the bundle is written.
pub(crate) const BUNDLE_DIR: &str = "deploy/olm/bundle";
const PACKAGE: &str = "notebook-validator-operator";
const CHANNEL: &str = "alpha";
/// A notebook with a check mark, drawn for the catalogue.
const ICON_SVG: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect x="10" y="6" width="40" height="52" rx="4" fill="#f37726"/><rect x="16" y="12" width="28" height="40" rx="2" fill="#fff"/><path d="M21 33l7 7 13-15" stroke="#2e7d32" stroke-width="5" fill="none" stroke-linecap="round" stroke-linejoin="round"/></svg>"##;

/// The examples shown in the console's forms, one per kind.
const EXAMPLES: [&str; 3] = [
    "examples/prebuilt-image.yaml",
    "examples/notebook-image-import.yaml",
    "examples/suite.yaml",
];

/// A descriptor: the path, its display name, what it is, and how the console shows it.
fn descriptor(path: &str, name: &str, description: &str, ui: &[&str]) -> Value {
    json!({
        "path": path,
        "displayName": name,
        "description": description,
        "x-descriptors": ui.iter().map(|u| format!("urn:alm:descriptor:{u}")).collect::<Vec<_>>(),
    })
}

const TEXT: &str = "com.tectonic.ui:text";

/// The CRDs the operator owns, with the fields people set most.
fn owned() -> Value {
    let phase = descriptor("phase", "Phase", "Where it is", &["io.kubernetes.phase"]);
    let message = descriptor("message", "Message", "What happened", &[TEXT]);
    let conditions = descriptor(
        "conditions",
        "Conditions",
        "Ready and the conditions of each step",
        &["io.kubernetes.conditions"],
    );
    json!([
        {
            "name": "notebookvalidationjobs.mlops.redhat.com",
            "version": "v1alpha1",
            "kind": "NotebookValidationJob",
            "displayName": "Notebook Validation Job",
            "description": "Runs a notebook from a git repository, optionally building its image first, and compares its outputs with a golden notebook.",
            "specDescriptors": [
                descriptor("notebook.git.url", "Repository", "The notebook's git repository", &[TEXT]),
                descriptor("notebook.git.ref", "Ref", "Branch, tag or commit", &[TEXT]),
                descriptor("notebook.path", "Notebook", "Path of the notebook in the repository", &[TEXT]),
                descriptor("goldenNotebook.path", "Golden notebook", "Path of the notebook holding the expected outputs", &[TEXT]),
                descriptor("podConfig.containerImage", "Image", "The image to run the notebook in", &[TEXT]),
                descriptor("podConfig.buildConfig.strategy", "Build strategy", "The strategy that builds the image, or auto", &[TEXT]),
                descriptor("timeout", "Timeout", "Bound on the whole job, e.g. 30m", &[TEXT]),
            ],
            "statusDescriptors": [phase.clone(), message.clone(), conditions.clone()],
        },
        {
            "name": "notebookimages.mlops.redhat.com",
            "version": "v1alpha1",
            "kind": "NotebookImage",
            "displayName": "Notebook Image",
            "description": "A custom notebook image, imported or built, published only once its validation notebooks passed in it.",
            "specDescriptors": [
                descriptor("buildType", "Build type", "ImageImport, GitRepository or PackageList", &[TEXT]),
                descriptor("fromImage", "Image to import", "The image to import", &[TEXT]),
                descriptor("display.name", "Display name", "What the notebook dashboard shows", &[TEXT]),
            ],
            "statusDescriptors": [phase.clone(), message.clone(), conditions.clone()],
        },
        {
            "name": "notebookvalidationsuites.mlops.redhat.com",
            "version": "v1alpha1",
            "kind": "NotebookValidationSuite",
            "displayName": "Notebook Validation Suite",
            "description": "Runs a repository's notebooks over a matrix of images, parameter sets and kernels, and says what differs between images.",
            "specDescriptors": [
                descriptor("repository.url", "Repository", "The notebooks' git repository", &[TEXT]),
                descriptor("repository.ref", "Ref", "Branch, tag or commit", &[TEXT]),
                descriptor("maxParallel", "Parallel jobs", "Jobs running at once", &["com.tectonic.ui:number"]),
                descriptor("changedFrom", "Changed from", "Run only what changed since this ref", &[TEXT]),
            ],
            "statusDescriptors": [phase, message, conditions],
        },
    ])
}

/// The examples, as the `alm-examples` annotation holds them.
fn alm_examples(root: &Path) -> anyhow::Result<String> {
    let mut examples = Vec::new();
    for file in EXAMPLES {
        let text =
            std::fs::read_to_string(root.join(file)).with_context(|| format!("reading {file}"))?;
        let value: Value =
            serde_yaml_ng::from_str(&text).with_context(|| format!("parsing {file}"))?;
        examples.push(value);
    }
    Ok(serde_json::to_string(&examples)?)
}

/// The ClusterServiceVersion.
fn csv(root: &Path, build: &Build, image: &str) -> anyhow::Result<Value> {
    let deployment = manifests::deployment(image);
    let description = "Validates Jupyter notebooks on the cluster: each NotebookValidationJob runs a notebook from a git repository in a pod, optionally after building its image with a pluggable build strategy (OpenShift Source-to-Image, Tekton, Shipwright, Kaniko, Buildah, BuildKit), compares its outputs with a golden notebook and reports per-cell results in its status. NotebookImages are custom notebook images published only once notebooks passed in them; NotebookValidationSuites run many notebooks over images and parameter sets.";
    let mut rules = build.cluster_role["rules"].clone();
    if !rules.is_array() {
        bail!("the build's ClusterRole has no rules");
    }
    // The leader lease is namespaced; OLM grants namespaced rules as a Role.
    let leases = json!([{
        "apiGroups": ["coordination.k8s.io"],
        "resources": ["leases"],
        "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
    }]);
    rules
        .as_array_mut()
        .context("rules")?
        .retain(|r| r["apiGroups"] != json!(["coordination.k8s.io"]));
    Ok(json!({
        "apiVersion": "operators.coreos.com/v1alpha1",
        "kind": "ClusterServiceVersion",
        "metadata": {
            "name": format!("{PACKAGE}.v{}", build.version),
            "annotations": {
                "alm-examples": alm_examples(root)?,
                "capabilities": "Basic Install",
                "categories": "AI/Machine Learning, Developer Tools",
                "containerImage": image,
                "description": "Validates Jupyter notebooks on the cluster, building their images with pluggable strategies.",
                "operators.operatorframework.io/builder": "cargo-xtask",
                "repository": "https://github.com/nbv-project/notebook-validator-operator",
                "support": "nbv-project",
            },
        },
        "spec": {
            "displayName": "Notebook Validator",
            "description": description,
            "version": build.version,
            "maturity": CHANNEL,
            "minKubeVersion": "1.29.0",
            "provider": { "name": "nbv-project" },
            "maintainers": [{ "name": "nbv-project", "email": "maintainers@nbv-project.invalid" }],
            "links": [{ "name": "Source", "url": "https://github.com/nbv-project/notebook-validator-operator" }],
            "keywords": ["jupyter", "notebook", "validation", "mlops", "build"],
            "icon": [{ "base64data": base64::engine::general_purpose::STANDARD.encode(ICON_SVG), "mediatype": "image/svg+xml" }],
            "installModes": [
                { "type": "OwnNamespace", "supported": true },
                { "type": "SingleNamespace", "supported": true },
                { "type": "MultiNamespace", "supported": false },
                { "type": "AllNamespaces", "supported": true },
            ],
            "customresourcedefinitions": { "owned": owned() },
            "install": {
                "strategy": "deployment",
                "spec": {
                    "clusterPermissions": [{ "serviceAccountName": manifests::NAME, "rules": rules }],
                    "permissions": [{ "serviceAccountName": manifests::NAME, "rules": leases }],
                    "deployments": [{
                        "name": manifests::NAME,
                        "label": manifests::labels(),
                        "spec": deployment["spec"],
                    }],
                },
            },
        },
    }))
}

/// The bundle's files: the CSV, one file per CRD, the operator's ConfigMap and the metadata.
pub(crate) fn bundle(
    root: &Path,
    build: &Build,
    image: &str,
) -> anyhow::Result<Vec<(PathBuf, String)>> {
    let dir = Path::new(BUNDLE_DIR);
    let mut files = vec![(
        dir.join(format!("manifests/{PACKAGE}.clusterserviceversion.yaml")),
        manifests::yaml(&[csv(root, build, image)?])?,
    )];
    for document in build.crd.split("\n---\n") {
        let crd: Value = serde_yaml_ng::from_str(document).context("a CRD of the build")?;
        let name = crd["metadata"]["name"]
            .as_str()
            .context("a CRD's name")?
            .to_owned();
        files.push((
            dir.join(format!("manifests/{name}.yaml")),
            manifests::yaml(&[crd])?,
        ));
    }
    files.push((
        dir.join(format!(
            "manifests/{}_v1_configmap.yaml",
            manifests::CONFIG_MAP
        )),
        manifests::yaml(&[manifests::config_map(build)])?,
    ));
    let annotations = format!(
        "{}annotations:\n  operators.operatorframework.io.bundle.mediatype.v1: registry+v1\n  operators.operatorframework.io.bundle.manifests.v1: manifests/\n  operators.operatorframework.io.bundle.metadata.v1: metadata/\n  operators.operatorframework.io.bundle.package.v1: {PACKAGE}\n  operators.operatorframework.io.bundle.channels.v1: {CHANNEL}\n  operators.operatorframework.io.bundle.channel.default.v1: {CHANNEL}\n",
        manifests::HEADER
    );
    files.push((dir.join("metadata/annotations.yaml"), annotations));
    Ok(files)
}

/// Validates the bundle with `operator-verify` (built from its module): any error fails.
pub(crate) fn validate(root: &Path) -> anyhow::Result<()> {
    let verify =
        crate::gotools::build(root, &crate::gotools::operator_verify())?.join("operator-verify");
    let output = std::process::Command::new(&verify)
        .current_dir(root)
        // The default validators, OperatorHub's (icon, categories, maintainers, ...) and the
        // objects' own.
        .args([
            "manifests",
            "--operatorhub_validate",
            "--object_validate",
            BUNDLE_DIR,
        ])
        .output()
        .with_context(|| format!("running {}", verify.display()))?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    print!("{said}");
    // operator-verify exits 0 whatever it found: its log lines say.
    if !output.status.success() || said.contains("level=error") || said.contains("level=fatal") {
        bail!("the OLM bundle in {BUNDLE_DIR} does not validate:\n{said}");
    }
    println!("the OLM bundle in {BUNDLE_DIR} validates");
    Ok(())
}
