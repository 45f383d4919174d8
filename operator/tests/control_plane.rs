//! The test control plane behaves like a cluster where it matters to the operator: garbage
//! collection of owned objects, PodSecurity admission, RBAC for service-account tokens, and the
//! stand-in CRDs of the build back-ends.
//!
//! Needs the control-plane binaries: `cargo xtask controlplane build`.

mod support;

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, ObjectMeta, Patch,
    PatchParams, PostParams,
};
use kube::core::Status;
use nbv_testenv::TestEnv;
use serde_json::json;

fn config_map(name: &str, owner: Option<&ConfigMap>) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            owner_references: owner.map(|o| {
                vec![OwnerReference {
                    api_version: "v1".into(),
                    kind: "ConfigMap".into(),
                    name: o.metadata.name.clone().expect("owner has a name"),
                    uid: o.metadata.uid.clone().expect("owner has a uid"),
                    ..OwnerReference::default()
                }]
            }),
            ..ObjectMeta::default()
        },
        ..ConfigMap::default()
    }
}

/// Polls `check` every 100 ms until it returns true or `limit` passes.
async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The API error of a failed request; panics on success or on another kind of failure.
fn api_error<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> Status {
    match result {
        Err(kube::Error::Api(status)) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn owned_objects_are_garbage_collected_after_their_owner() {
    let env = TestEnv::new("gc").await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(env.client.clone(), &env.namespace);
    let pp = PostParams::default();
    let owner = cms.create(&pp, &config_map("owner", None)).await.unwrap();
    cms.create(&pp, &config_map("owned", Some(&owner)))
        .await
        .unwrap();
    let bystander = cms
        .create(&pp, &config_map("bystander", None))
        .await
        .unwrap();

    cms.delete("owner", &DeleteParams::background())
        .await
        .unwrap();
    let collected = eventually(Duration::from_secs(60), || async {
        matches!(cms.get_opt("owned").await, Ok(None))
    })
    .await;
    assert!(collected, "the owned ConfigMap outlived its owner by 60 s");
    // Only dependents go: an unrelated object stays.
    let still_there = cms.get("bystander").await.unwrap();
    assert_eq!(still_there.metadata.uid, bystander.metadata.uid);
}

fn pod(name: &str, privileged: bool) -> Pod {
    let container = if privileged {
        json!({"name": "main", "image": "registry.example/busybox:1",
               "securityContext": {"privileged": true}})
    } else {
        // What the restricted profile asks for.
        json!({"name": "main", "image": "registry.example/busybox:1",
               "securityContext": {
                   "allowPrivilegeEscalation": false,
                   "runAsNonRoot": true,
                   "runAsUser": 1000,
                   "capabilities": {"drop": ["ALL"]},
                   "seccompProfile": {"type": "RuntimeDefault"}}})
    };
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [container]}
    }))
    .expect("a valid Pod")
}

#[tokio::test]
async fn restricted_namespace_rejects_a_privileged_pod() {
    let env = TestEnv::with_namespace_labels(
        "psa",
        &[("pod-security.kubernetes.io/enforce", "restricted")],
    )
    .await
    .unwrap();
    let pods: Api<Pod> = Api::namespaced(env.client.clone(), &env.namespace);
    let pp = PostParams::default();

    let err = api_error(pods.create(&pp, &pod("privileged", true)).await);
    assert_eq!(err.code, 403, "{err:?}");
    assert!(
        err.message
            .contains("violates PodSecurity \"restricted:latest\"")
            && err.message.contains("privileged"),
        "unexpected rejection: {}",
        err.message
    );
    // The same namespace accepts a pod that meets the profile: the rejection was PodSecurity's.
    pods.create(&pp, &pod("compliant", false)).await.unwrap();

    // And without the label, the privileged pod is admitted.
    let open = TestEnv::new("psa-open").await.unwrap();
    Api::<Pod>::namespaced(open.client.clone(), &open.namespace)
        .create(&pp, &pod("privileged", true))
        .await
        .unwrap();
}

#[tokio::test]
async fn service_account_needs_a_role_binding() {
    let env = TestEnv::new("rbac").await.unwrap();
    let sa_client = env.service_account_client("validator").await.unwrap();
    let as_sa: Api<ConfigMap> = Api::namespaced(sa_client, &env.namespace);

    let err = api_error(as_sa.list(&ListParams::default()).await);
    assert_eq!(err.code, 403, "{err:?}");
    assert_eq!(err.reason, "Forbidden");
    // The token really authenticates as the ServiceAccount.
    let user = format!("system:serviceaccount:{}:validator", env.namespace);
    assert!(err.message.contains(&user), "{}", err.message);

    let role: Role = serde_json::from_value(json!({
        "metadata": {"name": "configmap-reader"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]
    }))
    .unwrap();
    let binding = RoleBinding {
        metadata: ObjectMeta {
            name: Some("validator-reads-configmaps".into()),
            ..ObjectMeta::default()
        },
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: "configmap-reader".into(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: "validator".into(),
            namespace: Some(env.namespace.clone()),
            ..Subject::default()
        }]),
    };
    let pp = PostParams::default();
    Api::<Role>::namespaced(env.client.clone(), &env.namespace)
        .create(&pp, &role)
        .await
        .unwrap();
    Api::<RoleBinding>::namespaced(env.client.clone(), &env.namespace)
        .create(&pp, &binding)
        .await
        .unwrap();

    // The authorizer reads RBAC objects through an informer: allow it a moment.
    let allowed = eventually(Duration::from_secs(10), || async {
        as_sa.list(&ListParams::default()).await.is_ok()
    })
    .await;
    assert!(allowed, "list still forbidden after the RoleBinding");
    // Only what the Role grants: creating stays forbidden.
    let err = api_error(as_sa.create(&pp, &config_map("nope", None)).await);
    assert_eq!(err.code, 403, "{err:?}");
}

fn dynamic_api(
    env: &TestEnv,
    gvk: (&str, &str, &str),
    plural: &str,
    namespaced: bool,
) -> Api<DynamicObject> {
    let (group, version, kind) = gvk;
    let resource =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
    if namespaced {
        Api::namespaced_with(env.client.clone(), &env.namespace, &resource)
    } else {
        Api::all_with(env.client.clone(), &resource)
    }
}

fn object(value: serde_json::Value) -> DynamicObject {
    serde_json::from_value(value).expect("a valid object")
}

#[tokio::test]
async fn stand_in_crds_install_and_accept_sample_objects() {
    let env = TestEnv::new("crds").await.unwrap();
    let names = env.install_crds(nbv_testenv::crds::ALL).await.unwrap();
    assert_eq!(names.len(), nbv_testenv::crds::ALL.len());
    // Installing again (as every test that needs them does) is harmless.
    env.install_crds(nbv_testenv::crds::OPENSHIFT)
        .await
        .unwrap();
    let pp = PostParams::default();

    let samples = [
        (
            ("build.openshift.io", "v1", "BuildConfig"),
            "buildconfigs",
            json!({
                "metadata": {"name": "nb"},
                "spec": {
                    "source": {"type": "Git",
                               "git": {"uri": "https://git.example/nb.git", "ref": "main"},
                               "contextDir": "notebooks"},
                    "strategy": {"type": "Source", "sourceStrategy": {
                        "from": {"kind": "ImageStreamTag", "name": "python:3.11",
                                 "namespace": "openshift"},
                        "env": [{"name": "PIP_INDEX_URL",
                                 "value": "https://packages.example/simple"}]}},
                    "output": {"to": {"kind": "ImageStreamTag", "name": "nb:latest"}},
                    "successfulBuildsHistoryLimit": 2
                }
            }),
        ),
        (
            ("build.openshift.io", "v1", "Build"),
            "builds",
            json!({
                "metadata": {"name": "nb-1"},
                "spec": {
                    "strategy": {"type": "Docker",
                                 "dockerStrategy": {"dockerfilePath": "Containerfile"}},
                    "source": {"type": "Dockerfile", "dockerfile": "FROM python:3.11\n"},
                    "output": {"to": {"kind": "DockerImage", "name": "registry.example/nb:1"}},
                    "triggeredBy": [{"message": "started by the notebook validator"}]
                }
            }),
        ),
        (
            ("image.openshift.io", "v1", "ImageStream"),
            "imagestreams",
            json!({
                "metadata": {"name": "nb"},
                "spec": {"lookupPolicy": {"local": true}}
            }),
        ),
        (
            ("tekton.dev", "v1", "Task"),
            "tasks",
            json!({
                "metadata": {"name": "buildah"},
                "spec": {
                    "params": [{"name": "IMAGE", "type": "string"},
                               {"name": "DOCKERFILE", "default": "./Dockerfile"}],
                    "results": [{"name": "IMAGE_DIGEST"}, {"name": "IMAGE_URL"}],
                    "workspaces": [{"name": "source"}],
                    "steps": [{"name": "build", "image": "images.example/buildah:1",
                               "script": "buildah bud ."}]
                }
            }),
        ),
        (
            ("tekton.dev", "v1", "TaskRun"),
            "taskruns",
            json!({
                "metadata": {"name": "nb-build"},
                "spec": {
                    "taskRef": {"name": "buildah"},
                    "params": [{"name": "IMAGE", "value": "registry.example/nb:1"},
                               {"name": "ARGS", "value": ["--layers"]}],
                    "workspaces": [{"name": "source", "emptyDir": {}}],
                    "serviceAccountName": "builder",
                    "timeout": "1h0m0s"
                }
            }),
        ),
        (
            ("tekton.dev", "v1", "Pipeline"),
            "pipelines",
            json!({
                "metadata": {"name": "clone-build"},
                "spec": {"tasks": [{"name": "build", "taskRef": {"name": "buildah"}}]}
            }),
        ),
        (
            ("tekton.dev", "v1", "PipelineRun"),
            "pipelineruns",
            json!({
                "metadata": {"name": "nb-pipeline"},
                "spec": {
                    "pipelineRef": {"name": "clone-build"},
                    "taskRunTemplate": {"serviceAccountName": "builder"},
                    "timeouts": {"pipeline": "1h0m0s"},
                    "workspaces": [{"name": "source", "volumeClaimTemplate": {
                        "spec": {"accessModes": ["ReadWriteOnce"],
                                 "resources": {"requests": {"storage": "1Gi"}}}}}]
                }
            }),
        ),
        (
            ("shipwright.io", "v1beta1", "Build"),
            "builds",
            json!({
                "metadata": {"name": "nb"},
                "spec": {
                    "source": {"type": "Git",
                               "git": {"url": "https://git.example/nb.git", "revision": "main"}},
                    "strategy": {"name": "buildah", "kind": "ClusterBuildStrategy"},
                    "paramValues": [{"name": "dockerfile", "value": "Containerfile"}],
                    "output": {"image": "registry.example/nb:1", "pushSecret": "push"}
                }
            }),
        ),
        (
            ("shipwright.io", "v1beta1", "BuildRun"),
            "buildruns",
            json!({
                "metadata": {"name": "nb-1"},
                "spec": {"build": {"name": "nb"}, "serviceAccount": "builder"}
            }),
        ),
    ];
    for ((group, version, kind), plural, sample) in samples {
        let api = dynamic_api(&env, (group, version, kind), plural, true);
        let mut value = sample;
        value["apiVersion"] = json!(format!("{group}/{version}"));
        value["kind"] = json!(kind);
        api.create(&pp, &object(value))
            .await
            .unwrap_or_else(|e| panic!("{group}/{version} {kind} rejected: {e}"));
    }
    let strategies = dynamic_api(
        &env,
        ("shipwright.io", "v1beta1", "ClusterBuildStrategy"),
        "clusterbuildstrategies",
        false,
    );
    let strategy_name = format!("buildah-{}", env.namespace);
    strategies
        .create(
            &pp,
            &object(json!({
                "apiVersion": "shipwright.io/v1beta1",
                "kind": "ClusterBuildStrategy",
                "metadata": {"name": strategy_name},
                "spec": {
                    "parameters": [{"name": "dockerfile", "default": "Dockerfile"}],
                    "steps": [{"name": "build", "image": "images.example/buildah:1",
                               "command": ["buildah"]}]
                }
            })),
        )
        .await
        .unwrap();
    strategies
        .delete(&strategy_name, &DeleteParams::default())
        .await
        .unwrap();

    // OpenShift Builds have no status subresource: the build controller and `oc cancel-build`
    // write status through the Build itself, and so do tests playing them.
    let builds = dynamic_api(&env, ("build.openshift.io", "v1", "Build"), "builds", true);
    let status = json!({"status": {
        "phase": "Complete",
        "outputDockerImageReference": "registry.example/nb:1",
        "output": {"to": {"imageDigest": "sha256:0123"}}
    }});
    builds
        .patch("nb-1", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    let build = builds.get("nb-1").await.unwrap();
    assert_eq!(build.data["status"]["phase"], "Complete");
    assert_eq!(
        build.data["status"]["output"]["to"]["imageDigest"],
        "sha256:0123"
    );

    // The schemas check the fields strategies rely on.
    let err = api_error(
        builds
            .patch(
                "nb-1",
                &PatchParams::default(),
                &Patch::Merge(&json!({"status": {"phase": "Done"}})),
            )
            .await,
    );
    assert_eq!(err.code, 422, "{err:?}");
    assert!(err.message.contains("status.phase"), "{}", err.message);
    let shipwright_builds =
        dynamic_api(&env, ("shipwright.io", "v1beta1", "Build"), "builds", true);
    let err = api_error(
        shipwright_builds
            .create(
                &pp,
                &object(json!({
                    "apiVersion": "shipwright.io/v1beta1",
                    "kind": "Build",
                    "metadata": {"name": "no-output"},
                    "spec": {"strategy": {"name": "buildah", "kind": "ClusterBuildStrategy"}}
                })),
            )
            .await,
    );
    assert_eq!(err.code, 422, "{err:?}");
    assert!(err.message.contains("spec.output"), "{}", err.message);
}

// --- The NotebookValidationJob CRD (deploy/crds) and the examples ---------------------------

const REPO_ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
const NVJ_CRD: &str = "notebookvalidationjobs.mlops.redhat.com";

/// Every CRD under deploy/crds, installed on the shared control plane.
async fn install_deploy_crds(env: &TestEnv) -> Vec<String> {
    let dir = std::path::Path::new(REPO_ROOT).join("deploy/crds");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let manifests: Vec<String> = files
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("readable CRD file"))
        .collect();
    let refs: Vec<&str> = manifests.iter().map(String::as_str).collect();
    env.install_crds(&refs)
        .await
        .expect("the CRDs under deploy/crds install")
}

fn nvj_api(env: &TestEnv) -> Api<DynamicObject> {
    dynamic_api(
        env,
        ("mlops.redhat.com", "v1alpha1", "NotebookValidationJob"),
        "notebookvalidationjobs",
        true,
    )
}

#[tokio::test]
async fn notebook_validation_job_crd_installs() {
    let env = TestEnv::new("nvj-crd").await.unwrap();
    let names = install_deploy_crds(&env).await;
    assert!(names.iter().any(|n| n == NVJ_CRD), "installed: {names:?}");
    // Served, with the short name people type.
    let crd = Api::<CustomResourceDefinition>::all(env.client.clone())
        .get(NVJ_CRD)
        .await
        .unwrap();
    let short_names = crd.spec.names.short_names.unwrap_or_default();
    assert!(short_names.iter().any(|s| s == "nvj"), "{short_names:?}");
    nvj_api(&env).list(&ListParams::default()).await.unwrap();
}

#[tokio::test]
async fn every_example_is_accepted() {
    let env = TestEnv::new("nvj-examples").await.unwrap();
    install_deploy_crds(&env).await;
    let api = nvj_api(&env);
    let images = nbi_api(&env);
    let dir = std::path::Path::new(REPO_ROOT).join("examples");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();

    let mut accepted = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            let value: serde_json::Value = serde::Deserialize::deserialize(doc)
                .unwrap_or_else(|e| panic!("{}: invalid YAML: {e}", file.display()));
            let target = match value.get("kind").and_then(|k| k.as_str()) {
                Some("NotebookValidationJob") => &api,
                Some("NotebookImage") => &images,
                _ => continue,
            };
            target
                .create(&PostParams::default(), &object(value))
                .await
                .unwrap_or_else(|e| panic!("{} rejected: {e}", file.display()));
            accepted += 1;
        }
    }
    // An empty or renamed examples/ directory must not make this pass vacuously.
    assert!(
        accepted >= 1,
        "no NotebookValidationJob found in {}",
        dir.display()
    );
    eprintln!("{accepted} examples accepted from {} files", files.len());
}

fn nbi_api(env: &TestEnv) -> Api<DynamicObject> {
    dynamic_api(
        env,
        ("mlops.redhat.com", "v1alpha1", "NotebookImage"),
        "notebookimages",
        true,
    )
}

#[tokio::test]
async fn invalid_notebook_images_are_rejected_with_their_message() {
    let env = TestEnv::new("nbi-invalid").await.unwrap();
    install_deploy_crds(&env).await;
    let api = nbi_api(&env);
    let notebook =
        json!({"notebook": {"git": {"url": "https://git.example/nb.git"}, "path": "check.ipynb"}});
    let valid = json!({
        "buildType": "ImageImport",
        "fromImage": "registry.example/team/nb:1",
        "validationNotebooks": [notebook.clone()]
    });
    // (case, field to set, value (null removes it), field path in the error, message)
    #[rustfmt::skip]
    let cases: &[Refusal<'_>] = &[
        ("unknown build type", "buildType", json!("Dockerfile"), "spec.buildType",
            "Unsupported value: \"Dockerfile\""),
        ("import without an image", "fromImage", json!(null), "spec",
            "buildType ImageImport takes fromImage"),
        ("import with a git source", "git", json!({"url": "https://git.example/b.git"}), "spec",
            "buildType ImageImport takes fromImage (and imagePullSecret), not git or buildConfig"),
        ("git build without git", "buildType", json!("GitRepository"), "spec",
            "fromImage is for buildType ImageImport"),
        ("no validation notebook", "validationNotebooks", json!([]), "spec.validationNotebooks",
            "should have at least 1 items"),
        ("21 validation notebooks", "validationNotebooks", json!(vec![notebook.clone(); 21]),
            "spec.validationNotebooks", "must have at most 20 items"),
        ("notebook not a notebook", "validationNotebooks",
            json!([{"notebook": {"git": {"url": "https://git.example/nb.git"}, "path": "check.py"}}]),
            "spec.validationNotebooks[0].notebook.path", "notebook path must end in .ipynb"),
        ("credentials in a notebook's url", "validationNotebooks",
            json!([{"notebook": {"git": {"url": "https://u:p@git.example/nb.git"}, "path": "c.ipynb"}}]),
            "spec.validationNotebooks[0].notebook.git.url", "git url must not carry credentials"),
        ("timeout in words", "validationNotebooks",
            json!([{"notebook": notebook["notebook"], "timeout": "ten minutes"}]),
            "spec.validationNotebooks[0].timeout", "validationNotebooks[].timeout must be a duration"),
        ("pull secret not a name", "imagePullSecret", json!("../x"), "spec.imagePullSecret",
            "imagePullSecret must be the name of a Secret"),
        ("stream not a name", "publish", json!({"imageStream": "My Images"}),
            "spec.publish.imageStream", "publish.imageStream must be an ImageStream name"),
        ("interval in words", "revalidation", json!({"interval": "daily"}),
            "spec.revalidation.interval", "revalidation.interval must be a duration"),
        ("negative order", "display", json!({"order": -1}), "spec.display.order",
            "should be greater than or equal to 0"),
    ];
    rejected(&api, "NotebookImage", &valid, cases).await;
    // The base of every case is itself valid, and so is each build type's minimal form.
    let git_build = json!({
        "buildType": "GitRepository",
        "git": {"url": "https://git.example/env.git", "ref": "main"},
        "buildConfig": {"strategy": "auto", "requirementsFile": "requirements.txt"},
        "validationNotebooks": [notebook.clone()]
    });
    let package_list = json!({
        "buildType": "PackageList",
        "buildConfig": {"baseImage": "registry.example/py:3.11", "packages": ["pandas==2.2.0"]},
        "validationNotebooks": [notebook]
    });
    for (name, spec) in [
        ("valid", valid),
        ("git", git_build),
        ("packages", package_list),
    ] {
        api.create(
            &PostParams::default(),
            &object(json!({
                "apiVersion": "mlops.redhat.com/v1alpha1",
                "kind": "NotebookImage",
                "metadata": {"name": name},
                "spec": spec
            })),
        )
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[tokio::test]
async fn invalid_suites_are_rejected_with_their_message() {
    let env = TestEnv::new("nvs-invalid").await.unwrap();
    install_deploy_crds(&env).await;
    let api = dynamic_api(
        &env,
        ("mlops.redhat.com", "v1alpha1", "NotebookValidationSuite"),
        "notebookvalidationsuites",
        true,
    );
    let valid = json!({
        "repository": {"url": "https://git.example/team/notebooks.git", "ref": "main"},
        "notebooks": {"include": ["notebooks/**/*.ipynb"]},
        "golden": {"convention": "Sibling"},
        "matrix": {
            "images": [{"name": "py311", "containerImage": "registry.example/nb:3.11"},
                       {"name": "custom", "notebookImage": "team-image"}],
            "parameterSets": [{"name": "small", "parameters": {"epochs": 1}}],
            "kernels": ["python3"]
        },
        "changedFrom": "v1.2.0",
        "dependencyGlobs": ["requirements*.txt", "env/*.yml"],
        "maxParallel": 8
    });
    let image = |name: &str| json!({"name": name, "containerImage": "registry.example/nb:1"});
    // (case, field to set, value (null removes it), field path in the error, message)
    #[rustfmt::skip]
    let cases: &[Refusal<'_>] = &[
        ("no notebooks chosen", "notebooks", json!({}), "spec.notebooks",
            "notebooks needs include globs (e.g. '**/*.ipynb') or paths"),
        ("a named path escaping the repository", "notebooks", json!({"paths": ["../x.ipynb"]}),
            "spec.notebooks.paths", "notebooks.paths must be relative .ipynb paths without '..'"),
        ("65 include globs", "notebooks", json!({"include": vec!["*.ipynb"; 65]}),
            "spec.notebooks.include", "must have at most 64 items"),
        ("a 1 KiB glob", "notebooks", json!({"include": ["*".repeat(1024)]}),
            "spec.notebooks.include[0]", "Too long"),
        ("a repository ref like an option", "repository/ref", json!("-c"),
            "spec.repository.ref", "git ref must be a branch, tag or commit SHA"),
        ("credentials in the repository url", "repository/url",
            json!("https://u:p@git.example/nb.git"), "spec.repository.url",
            "git url must not carry credentials"),
        ("a golden directory convention without a directory", "golden",
            json!({"convention": "Directory"}), "spec.golden",
            "golden.convention Directory needs golden.directory"),
        ("an image with two sources", "matrix/images",
            json!([{"name": "x", "containerImage": "r/x:1", "notebookImage": "x"}]),
            "spec.matrix.images[0]", "each matrix image takes exactly one of containerImage and notebookImage"),
        ("two images of one name", "matrix/images", json!([image("same"), image("same")]),
            "spec.matrix.images", "matrix.images[].name must be unique"),
        ("33 images", "matrix/images",
            json!((0..33).map(|i| image(&format!("i{i}"))).collect::<Vec<_>>()),
            "spec.matrix.images", "must have at most 32 items"),
        ("a kernel like an option", "matrix/kernels", json!(["--x"]), "spec.matrix.kernels",
            "matrix.kernels must be kernel names such as python3"),
        ("no parallelism", "maxParallel", json!(0), "spec.maxParallel",
            "should be greater than or equal to 1"),
        ("changedFrom like an option", "changedFrom", json!("--output=/tmp/x"), "spec.changedFrom",
            "changedFrom must be a branch, tag or commit SHA"),
        ("changedFrom with ..", "changedFrom", json!("main..dev"), "spec.changedFrom",
            "changedFrom must be a branch, tag or commit SHA"),
        ("33 dependency globs", "dependencyGlobs", json!(vec!["*.txt"; 33]), "spec.dependencyGlobs",
            "must have at most 32 items"),
    ];
    support::docs::check_generated_section(
        "docs/hostile-input.md",
        "suite-api-server-cases",
        "operator/tests/control_plane.rs",
        &refusal_table(cases),
    );
    rejected(&api, "NotebookValidationSuite", &valid, cases).await;
    api.create(
        &PostParams::default(),
        &object(json!({
            "apiVersion": "mlops.redhat.com/v1alpha1",
            "kind": "NotebookValidationSuite",
            "metadata": {"name": "valid"},
            "spec": valid
        })),
    )
    .await
    .expect("the base of every case is valid");
}

/// A case of a spec the API server refuses: (case, field to set, value (null removes it), field
/// path in the error, message).
type Refusal<'a> = (&'a str, &'a str, serde_json::Value, &'a str, &'a str);

/// The cases as a table of docs/hostile-input.md: input, field, message.
fn refusal_table(cases: &[Refusal<'_>]) -> String {
    let rows: Vec<Vec<String>> = cases
        .iter()
        .map(|(case, _, _, path, message)| {
            vec![
                (*case).to_owned(),
                format!("`{path}`"),
                (*message).to_owned(),
            ]
        })
        .collect();
    support::docs::table(&["input", "field", "refused with"], &rows)
}

/// Creates a `kind` from `valid` changed by each case, and asserts that every one is refused
/// with 422 naming its field and message.
async fn rejected(
    api: &Api<DynamicObject>,
    kind: &str,
    valid: &serde_json::Value,
    cases: &[Refusal<'_>],
) {
    let mut failures = Vec::new();
    for (i, (case, field, value, path, message)) in cases.iter().enumerate() {
        let mut spec = valid.clone();
        set(&mut spec, field, value.clone());
        let manifest = object(json!({
            "apiVersion": "mlops.redhat.com/v1alpha1",
            "kind": kind,
            "metadata": {"name": format!("invalid-{i}")},
            "spec": spec
        }));
        match api.create(&PostParams::default(), &manifest).await {
            Ok(_) => failures.push(format!("{case}: accepted")),
            Err(kube::Error::Api(status)) => {
                let ok = status.code == 422
                    && status.message.contains(path)
                    && status.message.contains(message);
                if !ok {
                    failures.push(format!(
                        "{case}: expected 422 mentioning {path:?} and {message:?}, got {}: {}",
                        status.code, status.message
                    ));
                }
            }
            Err(e) => failures.push(format!("{case}: {e}")),
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// A minimal valid spec; each case below breaks one rule of it.
fn valid_spec() -> serde_json::Value {
    json!({
        "notebook": {
            "git": {"url": "https://git.example/team/notebooks.git", "ref": "main"},
            "path": "notebooks/analysis.ipynb"
        }
    })
}

/// Sets `value` at a `/`-separated path, creating objects on the way; `null` removes the field.
fn set(spec: &mut serde_json::Value, path: &str, value: serde_json::Value) {
    let (parents, last) = path.rsplit_once('/').unwrap_or(("", path));
    let mut node = spec;
    for key in parents.split('/').filter(|k| !k.is_empty()) {
        node = node
            .as_object_mut()
            .expect("an object on the path")
            .entry(key)
            .or_insert_with(|| json!({}));
    }
    let map = node
        .as_object_mut()
        .expect("an object at the end of the path");
    if value.is_null() {
        map.remove(last);
    } else {
        map.insert(last.to_owned(), value);
    }
}

#[tokio::test]
async fn invalid_notebook_validation_jobs_are_rejected_with_their_message() {
    let env = TestEnv::new("nvj-invalid").await.unwrap();
    install_deploy_crds(&env).await;
    let api = nvj_api(&env);

    const IPYNB: &str = "notebook path must end in .ipynb, e.g. notebooks/analysis.ipynb";
    const RELATIVE: &str =
        "notebook path must be relative to the repository root and must not contain '..'";
    const GIT_URL: &str =
        "git url must start with https://, ssh://, git:// or git@ and contain no spaces";
    const GIT_REF: &str = "git ref must be a branch, tag or commit SHA";
    const DURATION: &str = "must be a duration such as 30m, 1h30m or 90s";
    const CREDENTIALS: &str = "git url must not carry credentials";
    const OPTION_HOST: &str = "git url's host must not start with '-'";
    const REQUIREMENTS: &str =
        "requirementsFile must be relative to the repository root and must not contain '..'";
    const TOO_LONG: &str = "Too long";
    // (case, field to set, value (null removes it), field path in the error, message)
    #[rustfmt::skip]
    let cases: &[Refusal<'_>] = &[
        ("no notebook", "notebook", json!(null), "spec.notebook", "Required value"),
        ("no git url", "notebook/git/url", json!(null), "spec.notebook.git.url", "Required value"),
        ("not a notebook", "notebook/path", json!("notebooks/analysis.py"),
            "spec.notebook.path", IPYNB),
        ("path escapes the repository", "notebook/path", json!("../secrets/x.ipynb"),
            "spec.notebook.path", RELATIVE),
        ("absolute path", "notebook/path", json!("/etc/nb.ipynb"), "spec.notebook.path", RELATIVE),
        ("ftp url", "notebook/git/url", json!("ftp://git.example/nb.git"),
            "spec.notebook.git.url", GIT_URL),
        ("url with a space", "notebook/git/url", json!("https://git.example/a b.git"),
            "spec.notebook.git.url", GIT_URL),
        ("ref like an option", "notebook/git/ref", json!("--upload-pack=evil"),
            "spec.notebook.git.ref", GIT_REF),
        ("ref with ..", "notebook/git/ref", json!("main..dev"), "spec.notebook.git.ref", GIT_REF),
        ("golden not a notebook", "goldenNotebook",
            json!({"git": {"url": "https://git.example/nb.git"}, "path": "golden/out.txt"}),
            "spec.goldenNotebook.path", IPYNB),
        ("unknown comparison", "comparisonConfig/strategy", json!("fuzzy"),
            "spec.comparisonConfig.strategy", "Unsupported value: \"fuzzy\""),
        ("negative tolerance", "comparisonConfig/floatingPointTolerance", json!("-0.1"),
            "spec.comparisonConfig.floatingPointTolerance",
            "floatingPointTolerance must be a number >= 0 written as a string, e.g. \"0.0001\""),
        ("build without strategy", "podConfig/buildConfig", json!({"enabled": true}),
            "spec.podConfig.buildConfig",
            "buildConfig.strategy is required when buildConfig.enabled is true"),
        ("strategy not a name", "podConfig/buildConfig",
            json!({"enabled": true, "strategy": "S2I!"}),
            "spec.podConfig.buildConfig.strategy",
            "buildConfig.strategy must be a strategy name (lowercase letters, digits and '-') or auto"),
        ("build timeout in words", "podConfig/buildConfig",
            json!({"enabled": true, "strategy": "s2i", "timeout": "15 minutes"}),
            "spec.podConfig.buildConfig.timeout", "buildConfig.timeout must be a duration"),
        ("unknown fallback", "podConfig/buildConfig",
            json!({"enabled": true, "strategy": "auto", "fallbackStrategy": "retry"}),
            "spec.podConfig.buildConfig.fallbackStrategy", "Unsupported value: \"retry\""),
        ("timeout in words", "timeout", json!("1 day"), "spec.timeout", DURATION),
        ("password in the url", "notebook/git/url",
            json!("https://user:s3cret@git.example/nb.git"), "spec.notebook.git.url", CREDENTIALS),
        ("token in the url", "notebook/git/url", json!("https://ghp_token@git.example/nb.git"),
            "spec.notebook.git.url", CREDENTIALS),
        ("password in an ssh url", "notebook/git/url", json!("ssh://git:s3cret@git.example/nb.git"),
            "spec.notebook.git.url", CREDENTIALS),
        ("host like an option", "notebook/git/url", json!("ssh://-oProxyCommand=touch/x.git"),
            "spec.notebook.git.url", OPTION_HOST),
        ("scp host like an option", "notebook/git/url", json!("git@-oProxyCommand=x:nb.git"),
            "spec.notebook.git.url", OPTION_HOST),
        ("requirements outside the repository", "podConfig/buildConfig",
            json!({"enabled": true, "strategy": "s2i", "requirementsFile": "../../etc/passwd"}),
            "spec.podConfig.buildConfig.requirementsFile", REQUIREMENTS),
        ("1 MiB base image", "podConfig/buildConfig",
            json!({"enabled": true, "strategy": "s2i", "baseImage": "a".repeat(1 << 20)}),
            "spec.podConfig.buildConfig.baseImage", TOO_LONG),
        ("1 MiB container image", "podConfig/containerImage", json!("a".repeat(1 << 20)),
            "spec.podConfig.containerImage", TOO_LONG),
        ("oversized package", "podConfig/buildConfig",
            json!({"enabled": true, "strategy": "s2i", "packages": ["p".repeat(300)]}),
            "spec.podConfig.buildConfig.packages[0]", TOO_LONG),
        ("empty credentials name", "podConfig/credentials", json!([""]),
            "spec.podConfig.credentials[0]", "should be at least 1 chars long"),
        ("pull secret not a name", "podConfig/imagePullSecrets", json!(["../quay"]),
            "spec.podConfig.imagePullSecrets", "imagePullSecrets must be names of Secrets"),
        ("import name like an option", "podConfig/buildConfig",
            json!({"enabled": true, "strategy": "auto", "fallbackStrategy": "auto",
                   "importNames": [{"module": "-x", "distribution": "x"}]}),
            "spec.podConfig.buildConfig.importNames[0].module",
            "importNames[].module must be a Python module name"),
        ("distribution like an option", "podConfig/buildConfig",
            json!({"enabled": true, "strategy": "auto", "fallbackStrategy": "auto",
                   "importNames": [{"module": "x", "distribution": "--index-url=http://evil"}]}),
            "spec.podConfig.buildConfig.importNames[0].distribution",
            "importNames[].distribution must be a distribution name"),
        ("cell timeout in words", "execution", json!({"cellTimeout": "5 minutes"}),
            "spec.execution.cellTimeout", "execution.cellTimeout must be a duration"),
        ("kernel like an option", "execution", json!({"kernel": "--KernelManager.x=y"}),
            "spec.execution.kernel", "execution.kernel must be a kernel name"),
        ("artifacts claim not a name", "artifacts", json!({"claimName": "../pvc"}),
            "spec.artifacts.claimName", "artifacts.claimName must be the name of a PersistentVolumeClaim"),
        ("init container named like the clone", "podConfig/initContainers",
            json!([{"name": "clone", "image": "busybox"}]), "spec.podConfig.initContainers",
            "initContainers[].name must not be install-runner, clone, clone-golden or validate"),
        ("300 parameters", "parameters",
            serde_json::Value::Object((0..300).map(|i| (format!("p{i}"), json!(i))).collect()),
            "spec.parameters", "must have at most 256 items"),
    ];

    support::docs::check_generated_section(
        "docs/hostile-input.md",
        "api-server-cases",
        "operator/tests/control_plane.rs",
        &refusal_table(cases),
    );

    rejected(&api, "NotebookValidationJob", &valid_spec(), cases).await;

    // The base of every case is itself valid: each rejection is due to its one change.
    api.create(
        &PostParams::default(),
        &object(json!({
            "apiVersion": "mlops.redhat.com/v1alpha1",
            "kind": "NotebookValidationJob",
            "metadata": {"name": "valid"},
            "spec": valid_spec()
        })),
    )
    .await
    .unwrap();
    // Accepted near misses: an ssh user, a port, the peer operator's `credentials` shortcut.
    let mut near_misses = valid_spec();
    set(
        &mut near_misses,
        "notebook/git/url",
        json!("ssh://git@git.example:2222/team/nb.git"),
    );
    set(
        &mut near_misses,
        "podConfig/credentials",
        json!(["aws-credentials", "database-config"]),
    );
    set(
        &mut near_misses,
        "artifacts",
        json!({"claimName": "team-a.notebook-artifacts"}),
    );
    set(
        &mut near_misses,
        "podConfig/imagePullSecrets",
        json!(["quay-robot", "team-a.pull"]),
    );
    set(
        &mut near_misses,
        "execution",
        json!({"cellTimeout": "90s", "kernel": "python3", "continueOnError": true}),
    );
    set(
        &mut near_misses,
        "podConfig/buildConfig",
        json!({"enabled": true, "strategy": "auto", "fallbackStrategy": "auto",
               "importNames": [{"module": "google.protobuf", "distribution": "protobuf"},
                               {"module": "yaml", "distribution": "ruamel.yaml"}]}),
    );
    api.create(
        &PostParams::default(),
        &object(json!({
            "apiVersion": "mlops.redhat.com/v1alpha1",
            "kind": "NotebookValidationJob",
            "metadata": {"name": "near-misses"},
            "spec": near_misses
        })),
    )
    .await
    .unwrap();
}
