//! The harness of the reconciler's tests: a real control plane (from nbv-testenv), the operator
//! running in-process on one namespace, and helpers with which a test plays the controllers the
//! control plane lacks — the kubelet and the build backends — by writing the status they would.

#![allow(dead_code, unreachable_pub)] // Each test binary uses part of the harness.

use std::time::Duration;

pub mod docs;
pub mod node;
pub mod suite;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, RoleRef, Subject};
use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use nbv_report::{CellResult, CellStatus, Outcome, SCHEMA_VERSION, Summary};
use nbv_testenv::TestEnv;
use notebook_validator_operator::catalog::Catalog;
use notebook_validator_operator::config::EnabledStrategies;
use notebook_validator_operator::config::PodSettings;
use notebook_validator_operator::crd::{NotebookValidationJob, Phase};
use notebook_validator_operator::steps::Context;
use notebook_validator_operator::{controller, crd};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

pub const RUNNER_IMAGE: &str = "quay.io/nbv/notebook-validator-operator:test";

/// A namespace with the CRDs installed and, once started, an operator watching it.
pub struct Harness {
    pub env: TestEnv,
    operator: Option<JoinHandle<()>>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.stop_operator();
    }
}

impl Harness {
    /// A fresh namespace with our CRD and every stand-in CRD installed.
    pub async fn new(prefix: &str) -> Self {
        // Restricted Pod Security: every pod the operator creates itself must pass it.
        Self::with_pod_security(prefix, "restricted").await
    }

    /// The same at another Pod Security level, for build pods that need more.
    pub async fn with_pod_security(prefix: &str, level: &str) -> Self {
        let env = TestEnv::with_namespace_labels(
            prefix,
            &[("pod-security.kubernetes.io/enforce", level)],
        )
        .await
        .expect("control plane");
        let ours = crd::crd_yaml();
        let mut manifests: Vec<&str> = vec![&ours];
        manifests.extend_from_slice(nbv_testenv::crds::ALL);
        env.install_crds(&manifests).await.expect("CRDs install");
        Self {
            env,
            operator: None,
        }
    }

    /// A fresh namespace (restricted Pod Security) on the control plane with a node, where pods
    /// really run, with our CRD installed.
    pub async fn on_node(prefix: &str) -> Self {
        Self::on_node_with_pod_security(prefix, "restricted").await
    }

    /// [`Harness::on_node`] with the Pod Security `level` enforced in the namespace.
    pub async fn on_node_with_pod_security(prefix: &str, level: &str) -> Self {
        let env = TestEnv::on_node(prefix, &[("pod-security.kubernetes.io/enforce", level)])
            .await
            .expect("control plane with a node");
        let ours = crd::crd_yaml();
        env.install_crds(&[&ours]).await.expect("CRD installs");
        Self {
            env,
            operator: None,
        }
    }

    /// A harness over `env` as it is (no CRD installed by the harness, no operator started).
    pub fn over(env: TestEnv) -> Self {
        Self {
            env,
            operator: None,
        }
    }

    /// The images of the node this harness runs on.
    pub fn node_images(&self) -> nbv_testenv::NodeImages {
        self.env
            .control_plane()
            .node_images()
            .expect("this harness runs on a node")
            .clone()
    }

    /// Creates the Secret `name` (type `kubernetes.io/dockerconfigjson`) holding the login of
    /// the node's registry, which asks for one on every push and pull; returns its name.
    pub async fn registry_secret(&self, name: &str) -> String {
        let login = self
            .env
            .control_plane()
            .node_registry()
            .expect("this harness runs on a node")
            .credentials()
            .docker_config_json();
        let secret = k8s_openapi::api::core::v1::Secret {
            metadata: kube::api::ObjectMeta {
                name: Some(name.to_owned()),
                ..Default::default()
            },
            type_: Some("kubernetes.io/dockerconfigjson".into()),
            string_data: Some([(".dockerconfigjson".to_owned(), login)].into()),
            ..Default::default()
        };
        Api::<k8s_openapi::api::core::v1::Secret>::namespaced(
            self.env.client.clone(),
            &self.env.namespace,
        )
        .create(&PostParams::default(), &secret)
        .await
        .expect("registry secret created");
        name.to_owned()
    }

    /// The operator's context on the node: the runner and clone containers from the operator
    /// image, the notebook image as the default one, as a deployment on this node would have.
    pub fn node_context(&self, enabled: &[&str], client: Option<Client>) -> Context {
        let images = self.node_images();
        let mut ctx = self.context(enabled, client);
        ctx.pod_settings = PodSettings {
            runner_image: images.operator.reference.clone(),
            git_image: images.operator.reference,
        };
        ctx.default_image = images.notebook.reference;
        ctx
    }

    /// A client acting as ServiceAccount `nbv-operator` of this namespace, bound to exactly the
    /// ClusterRole generated for the strategies `enabled` would compile (named after the
    /// namespace, so tests do not share it).
    pub async fn least_privilege_client(&self) -> Client {
        let catalog = Catalog::linked(EnabledStrategies::resolve(None, None, &[]).expect("config"))
            .expect("registry");
        let role_name = format!("nbv-operator-{}", self.env.namespace);
        let role = notebook_validator_operator::rbac::cluster_role(&role_name, &catalog);
        Api::<ClusterRole>::all(self.env.client.clone())
            .create(&PostParams::default(), &role)
            .await
            .expect("role");
        let binding = ClusterRoleBinding {
            metadata: kube::api::ObjectMeta {
                name: Some(role_name.clone()),
                ..Default::default()
            },
            role_ref: RoleRef {
                api_group: "rbac.authorization.k8s.io".into(),
                kind: "ClusterRole".into(),
                name: role_name,
            },
            subjects: Some(vec![Subject {
                kind: "ServiceAccount".into(),
                name: "nbv-operator".into(),
                namespace: Some(self.env.namespace.clone()),
                api_group: None,
            }]),
        };
        Api::<ClusterRoleBinding>::all(self.env.client.clone())
            .create(&PostParams::default(), &binding)
            .await
            .expect("binding");
        self.env
            .service_account_client("nbv-operator")
            .await
            .expect("service account client")
    }

    /// Deletes what [`Harness::least_privilege_client`] created.
    pub async fn remove_least_privilege_role(&self) {
        let name = format!("nbv-operator-{}", self.env.namespace);
        Api::<ClusterRole>::all(self.env.client.clone())
            .delete(&name, &DeleteParams::default())
            .await
            .expect("cleanup role");
        Api::<ClusterRoleBinding>::all(self.env.client.clone())
            .delete(&name, &DeleteParams::default())
            .await
            .expect("cleanup binding");
    }

    /// Starts the operator on this namespace with `enabled` strategies switched on, acting with
    /// `client` (the admin client when `None`).
    pub fn start_operator(&mut self, enabled: &[&str], client: Option<Client>) {
        let ctx = self.context(enabled, client);
        self.start_operator_with(ctx);
    }

    /// Starts the operator with `ctx`, which the test may have kept handles into.
    pub fn start_operator_with(&mut self, ctx: Context) {
        let namespace = self.env.namespace.clone();
        self.operator = Some(tokio::spawn(async move {
            if let Err(e) = controller::run(ctx, Some(&namespace)).await {
                panic!("operator stopped: {e}");
            }
        }));
    }

    /// The operator's context with `enabled` strategies switched on, acting with `client` (the
    /// admin client when `None`).
    pub fn context(&self, enabled: &[&str], client: Option<Client>) -> Context {
        let enabled: Vec<String> = enabled.iter().map(|s| (*s).to_owned()).collect();
        let catalog =
            Catalog::linked(EnabledStrategies::resolve(None, None, &enabled).expect("config"))
                .expect("registry");
        let settings = PodSettings {
            runner_image: RUNNER_IMAGE.into(),
            git_image: RUNNER_IMAGE.into(),
        };
        Context::new(
            client.unwrap_or_else(|| self.env.client.clone()),
            catalog,
            settings,
            "quay.io/jupyter/minimal-notebook:latest".into(),
        )
    }

    /// Stops the operator, as a crash or a rollout would.
    pub fn stop_operator(&mut self) {
        if let Some(handle) = self.operator.take() {
            handle.abort();
        }
    }

    pub fn jobs(&self) -> Api<NotebookValidationJob> {
        Api::namespaced(self.env.client.clone(), &self.env.namespace)
    }

    pub fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.env.client.clone(), &self.env.namespace)
    }

    pub fn dynamic(&self, group: &str, version: &str, kind: &str) -> Api<DynamicObject> {
        let api = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
        Api::namespaced_with(self.env.client.clone(), &self.env.namespace, &api)
    }

    /// Creates a job from YAML (its namespace is this harness's).
    pub async fn create_job(&self, yaml: &str) -> NotebookValidationJob {
        let job: NotebookValidationJob = serde_yaml_ng::from_str(yaml).expect("job YAML");
        self.jobs()
            .create(&PostParams::default(), &job)
            .await
            .expect("job accepted")
    }

    /// Waits until `check` holds for the job, failing with its last status.
    pub async fn wait_job(
        &self,
        name: &str,
        what: &str,
        check: impl Fn(&NotebookValidationJob) -> bool,
    ) -> NotebookValidationJob {
        let mut last = None;
        for _ in 0..300 {
            if let Some(job) = self.jobs().get_opt(name).await.expect("read job") {
                if check(&job) {
                    return job;
                }
                last = Some(job);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "job {name}: timed out waiting for {what}; last status: {:#?}\n{}",
            last.and_then(|j| j.status),
            self.what_happened().await
        );
    }

    /// Waits for the job to reach `phase`.
    pub async fn wait_phase(&self, name: &str, phase: Phase) -> NotebookValidationJob {
        self.wait_job(name, &format!("phase {phase:?}"), |j| {
            j.status.as_ref().and_then(|s| s.phase) == Some(phase)
        })
        .await
    }

    /// Waits until an object exists.
    pub async fn wait_object<K>(&self, api: &Api<K>, name: &str) -> K
    where
        K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        for _ in 0..300 {
            if let Some(object) = api.get_opt(name).await.expect("read") {
                return object;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{name} was never created");
    }

    /// Plays the kubelet for a notebook that passed: pod `name` Succeeded with a passing summary.
    pub async fn pass_pod(&self, name: &str) {
        self.finish_pod(name, "Succeeded", 0, &summary(Outcome::Passed, None))
            .await;
    }

    /// Plays the kubelet: the validation pod's containers ran, the runner wrote `message`.
    pub async fn finish_pod(&self, name: &str, phase: &str, exit_code: i32, message: &str) {
        let pod = self.pods().get(name).await.expect("pod");
        let spec = pod.spec.expect("spec");
        let terminated = |container: &k8s_openapi::api::core::v1::Container,
                          exit: i32,
                          message: &str| {
            json!({
                "name": container.name, "ready": false, "restartCount": 0,
                "image": container.image, "imageID": "",
                "state": { "terminated": { "exitCode": exit, "reason": if exit == 0 { "Completed" } else { "Error" }, "message": message,
                    "startedAt": "2026-01-01T10:00:00Z", "finishedAt": "2026-01-01T10:01:00Z" } }
            })
        };
        let inits: Vec<Value> = spec
            .init_containers
            .iter()
            .flatten()
            .map(|c| terminated(c, 0, ""))
            .collect();
        let mains: Vec<Value> = spec
            .containers
            .iter()
            .map(|c| terminated(c, exit_code, message))
            .collect();
        self.patch_pod_status(name, json!({ "phase": phase, "initContainerStatuses": inits, "containerStatuses": mains, "startTime": "2026-01-01T10:00:00Z" })).await;
    }

    pub async fn patch_pod_status(&self, name: &str, status: Value) {
        self.pods()
            .patch_status(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({ "status": status })),
            )
            .await
            .expect("pod status written");
    }

    /// Plays the OpenShift build controller, which writes a Build's status through the Build
    /// itself (there is no builds/status subresource).
    pub async fn patch_build(&self, name: &str, status: Value) {
        self.dynamic("build.openshift.io", "v1", "Build")
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({ "status": status })),
            )
            .await
            .expect("build status written");
    }

    /// Plays a build controller: writes `status` on a dynamic object.
    pub async fn patch_status(&self, api: &Api<DynamicObject>, name: &str, status: Value) {
        api.patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": status })),
        )
        .await
        .expect("status written");
    }
}

/// A runner summary, as `nbv run` writes it to the termination message.
pub fn summary(outcome: Outcome, failing_cell: Option<usize>) -> String {
    let results = (0..3)
        .map(|i| CellResult {
            cell_index: i,
            status: if Some(i) == failing_cell {
                CellStatus::Failed
            } else {
                CellStatus::Passed
            },
            execution_time: Some("0.1s".into()),
            output: None,
            error_message: (Some(i) == failing_cell)
                .then(|| "ZeroDivisionError: division by zero".into()),
        })
        .collect();
    let summary = Summary {
        schema_version: SCHEMA_VERSION,
        outcome,
        exit_code: outcome.exit_code(),
        message: format!("notebook {outcome:?}"),
        notebook: "analysis.ipynb".into(),
        results,
        comparison_result: None,
        generated_requirements: None,
        stopped: None,
        truncated: None,
    };
    summary
        .to_bounded_json(nbv_report::TERMINATION_MESSAGE_LIMIT)
        .expect("fits")
}

/// A job YAML named `name` with `pod_config` (YAML, indented 2 under spec).
pub fn job_yaml(name: &str, pod_config: &str) -> String {
    format!(
        "apiVersion: mlops.redhat.com/v1alpha1\nkind: NotebookValidationJob\nmetadata:\n  name: {name}\nspec:\n  notebook:\n    git:\n      url: https://github.com/example/notebooks.git\n      ref: main\n    path: analysis.ipynb\n  timeout: 10m\n{pod_config}"
    )
}

/// The condition `type_` of a job, as (status, reason).
pub fn condition(job: &NotebookValidationJob, type_: &str) -> Option<(String, String, String)> {
    job.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

impl Harness {
    /// The Events of this namespace as (reason, note).
    pub async fn events(&self) -> Vec<(String, String)> {
        let api: Api<k8s_openapi::api::events::v1::Event> =
            Api::namespaced(self.env.client.clone(), &self.env.namespace);
        api.list(&kube::api::ListParams::default())
            .await
            .expect("events")
            .items
            .into_iter()
            .map(|e| (e.reason.unwrap_or_default(), e.note.unwrap_or_default()))
            .collect()
    }

    /// What the cluster says about this namespace, for a test that timed out: its events, its
    /// pods' states and the nodes' conditions and taints (a pod that never ends says why here).
    pub async fn what_happened(&self) -> String {
        use k8s_openapi::api::core::v1::{ContainerStatus, Node};
        let mut out = String::from("events:\n");
        let events: Api<k8s_openapi::api::events::v1::Event> =
            Api::namespaced(self.env.client.clone(), &self.env.namespace);
        for e in events
            .list(&Default::default())
            .await
            .map(|l| l.items)
            .unwrap_or_default()
        {
            let about = e.regarding.and_then(|r| r.name).unwrap_or_default();
            let (reason, note) = (e.reason.unwrap_or_default(), e.note.unwrap_or_default());
            out.push_str(&format!("  {about}: {reason}: {note}\n"));
        }
        out.push_str("pods:\n");
        let state = |c: &ContainerStatus| {
            let s = c.state.clone().unwrap_or_default();
            match (s.waiting, s.running, s.terminated) {
                (Some(w), _, _) => format!("waiting {:?} {:?}", w.reason, w.message),
                (_, Some(_), _) => "running".to_owned(),
                (_, _, Some(t)) => format!("exited {} {:?} {:?}", t.exit_code, t.reason, t.message),
                _ => "no state".to_owned(),
            }
        };
        for pod in self
            .pods()
            .list(&Default::default())
            .await
            .map(|l| l.items)
            .unwrap_or_default()
        {
            let status = pod.status.unwrap_or_default();
            out.push_str(&format!(
                "  {}: {:?} {:?} {:?}\n",
                pod.metadata.name.unwrap_or_default(),
                status.phase,
                status.reason,
                status.message
            ));
            let containers = status.init_container_statuses.iter().flatten();
            for c in containers.chain(status.container_statuses.iter().flatten()) {
                out.push_str(&format!("    {}: {}\n", c.name, state(c)));
            }
        }
        out.push_str("nodes:\n");
        let nodes: Api<Node> = Api::all(self.env.client.clone());
        for node in nodes
            .list(&Default::default())
            .await
            .map(|l| l.items)
            .unwrap_or_default()
        {
            let (spec, status) = (
                node.spec.unwrap_or_default(),
                node.status.unwrap_or_default(),
            );
            let conditions: Vec<String> = status
                .conditions
                .iter()
                .flatten()
                .map(|c| {
                    format!(
                        "{}={} ({})",
                        c.type_,
                        c.status,
                        c.message.clone().unwrap_or_default()
                    )
                })
                .collect();
            let taints: Vec<String> = spec
                .taints
                .iter()
                .flatten()
                .map(|t| t.key.clone())
                .collect();
            out.push_str(&format!(
                "  {}: {conditions:?} taints {taints:?}\n",
                node.metadata.name.unwrap_or_default()
            ));
        }
        out
    }
}

/// A container's environment as (name, value) pairs.
pub fn env_of(container: &k8s_openapi::api::core::v1::Container) -> Vec<(String, String)> {
    container
        .env
        .iter()
        .flatten()
        .map(|e| (e.name.clone(), e.value.clone().unwrap_or_default()))
        .collect()
}
