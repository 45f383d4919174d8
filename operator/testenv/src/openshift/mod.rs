//! A build executor that stands in for OpenShift's build controller on the local node, so that
//! the Builds the S2I strategy writes really run: a test fixture, never shipped.
//!
//! It watches `build.openshift.io/v1` Builds (the stand-in CRDs of [`crate::crds`]) and runs
//! each as a pod named `<build>-build`, as OpenShift does:
//! - a Git source is cloned by a `git-clone` init container (the project's own clone script,
//!   with `source.sourceSecret` as its credentials);
//! - a Docker build runs Buildah on the inline `source.dockerfile` (with the strategy's `from`,
//!   `env` and `buildArgs` applied as OpenShift's builder applies them) or on the repository's
//!   Dockerfile at `contextDir`;
//! - a Source build has s2i (the `github.com/openshift/source-to-image` library's CLI) turn the
//!   source and the builder image's scripts into a Dockerfile, which Buildah builds;
//! - the image is pushed to the internal registry (the node's) for an ImageStreamTag output,
//!   or where a DockerImage output names; the Build then gets OpenShift's phase, reasons,
//!   digest, times and `logSnippet`, and the ImageStream its tag.
//!
//! A Build whose `status.cancelled` is set has its pod deleted and ends `Cancelled`. What it
//! does not reproduce is listed in `docs/community/build-strategies/s2i.md`.

pub mod pod;

use std::ffi::OsString;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::{Pod, Secret, ServiceAccount};
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt as _;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, LogParams, Patch, PatchParams,
    PostParams,
};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use serde_json::{Value, json};

use crate::process::{Lifetime, Spawn};
use crate::{Error, ProcessInfo};
pub use pod::{BUILD_NAME_LABEL, ExecutorImages, INTERNAL_REGISTRY_SECRET, pod_name};
use pod::{BuildPlan, BuildType, Output};

/// Phases after which a Build never changes again.
const TERMINAL: [&str; 4] = ["Complete", "Failed", "Error", "Cancelled"];
/// How many of the failing container's last log lines go to `status.logSnippet`.
const LOG_SNIPPET_LINES: i64 = 20;

/// What the executor runs builds with, and where.
#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    /// The builder and clone images.
    pub images: ExecutorImages,
    /// The internal registry's address (`host:port`): ImageStreamTag outputs go there.
    pub registry: String,
    /// Its login as a docker config JSON, given to each namespace as the Secret
    /// [`INTERNAL_REGISTRY_SECRET`], as OpenShift gives each namespace its builder's.
    pub registry_login: Option<String>,
    /// Builds of this namespace only (a test's), or of all.
    pub namespace: Option<String>,
}

/// A running executor; it stops when dropped.
#[derive(Debug)]
pub struct BuildExecutor {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for BuildExecutor {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl BuildExecutor {
    /// Starts executing Builds on the current tokio runtime.
    pub fn start(client: kube::Client, config: ExecutorConfig) -> Self {
        Self {
            task: tokio::spawn(run(client, config)),
        }
    }
}

/// Starts `program args`, a process that calls [`run`], under the supervisor and detached
/// (for `cargo xtask cluster up`, whose `down` stops it); its log and pid files go to
/// `run_dir`. Returns once it runs.
pub fn spawn_detached(
    program: &Path,
    args: Vec<OsString>,
    run_dir: &Path,
) -> Result<ProcessInfo, Error> {
    let binaries = crate::Binaries::locate()?;
    let process = Spawn {
        name: "nbv-openshift-builds",
        env: Vec::new(),
        supervisor: &binaries.supervisor,
        program,
        args,
        run_dir,
        cleanup: None,
        after: Vec::new(),
        lifetime: Lifetime::Detached,
    }
    .start()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info = process.info();
        if info.server_pid.is_some() {
            return Ok(info);
        }
        if Instant::now() > deadline {
            return Err(Error::ServerFailed {
                name: "nbv-openshift-builds",
                detail: "did not start".into(),
                tail: process.log_tail(20),
                log: process.log.clone(),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

struct Ctx {
    client: kube::Client,
    config: ExecutorConfig,
}

fn build_api() -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk("build.openshift.io", "v1", "Build"))
}

fn image_stream_api() -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk(
        "image.openshift.io",
        "v1",
        "ImageStream",
    ))
}

/// Executes Builds until the watch ends (for a process of its own, `cargo xtask cluster up`).
pub async fn run(client: kube::Client, config: ExecutorConfig) {
    let resource = build_api();
    let (builds, pods) = match &config.namespace {
        Some(ns) => (
            Api::<DynamicObject>::namespaced_with(client.clone(), ns, &resource),
            Api::<Pod>::namespaced(client.clone(), ns),
        ),
        None => (
            Api::<DynamicObject>::all_with(client.clone(), &resource),
            Api::<Pod>::all(client.clone()),
        ),
    };
    let ctx = Arc::new(Ctx { client, config });
    Controller::new_with(builds, watcher::Config::default(), resource)
        .owns(pods, watcher::Config::default().labels(BUILD_NAME_LABEL))
        .run(
            reconcile,
            |_, error, _| {
                tracing::warn!(%error, "executing a Build failed; retrying");
                Action::requeue(Duration::from_secs(2))
            },
            ctx,
        )
        .for_each(|_| async {})
        .await;
}

/// A status to merge into the Build's (an empty reason or message clears the earlier one).
fn ended(phase: &str, reason: &str, message: &str) -> Value {
    let text = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    json!({
        "phase": phase,
        "reason": text(reason),
        "message": text(message),
        "completionTimestamp": Timestamp::now().to_string(),
    })
}

async fn reconcile(build: Arc<DynamicObject>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let name = build.name_any();
    let namespace = build.namespace().unwrap_or_default();
    let status = build.data.get("status").cloned().unwrap_or(Value::Null);
    let phase = status["phase"].as_str().unwrap_or("New");
    if TERMINAL.contains(&phase) {
        return Ok(Action::await_change());
    }
    let builds =
        Api::<DynamicObject>::namespaced_with(ctx.client.clone(), &namespace, &build_api());
    let pods = Api::<Pod>::namespaced(ctx.client.clone(), &namespace);
    let pod = pods.get_opt(&pod_name(&name)).await?;
    let uid = build.uid().unwrap_or_default();
    if let Some(pod) = &pod
        && !pod.owner_references().iter().any(|o| o.uid == uid)
    {
        if pod.labels().get(BUILD_NAME_LABEL) != Some(&name) {
            // Someone else's pod under the name this build's would take: never ours to delete.
            let taken = format!(
                "a pod named {} exists and is not this build's",
                pod_name(&name)
            );
            let failed = ended("Failed", "CannotCreateBuildPod", &taken);
            write_status(&builds, &name, failed).await?;
            return Ok(Action::await_change());
        }
        // Left by an earlier Build of the same name: it goes before this one starts.
        delete_pod(&pods, &name).await?;
        return Ok(Action::requeue(Duration::from_secs(1)));
    }
    if status["cancelled"] == json!(true) {
        if pod.is_some() {
            delete_pod(&pods, &name).await?;
        }
        let cancelled = ended(
            "Cancelled",
            "CancelledBuild",
            "The build was cancelled by the user.",
        );
        write_status(&builds, &name, cancelled).await?;
        return Ok(Action::await_change());
    }
    let spec = build.data.get("spec").cloned().unwrap_or(Value::Null);
    let planned = pod::plan(
        &name,
        &namespace,
        &uid,
        &spec,
        &ctx.config.images,
        (&ctx.config.registry, ctx.config.registry_login.is_some()),
    );
    let plan = match planned {
        Ok(plan) => plan,
        Err(why) => {
            let refused = ended("Failed", "CannotCreateBuildPodSpec", &why);
            write_status(&builds, &name, refused).await?;
            return Ok(Action::await_change());
        }
    };
    match pod {
        None if phase == "New" => {
            prepare_namespace(&ctx, &namespace, &plan).await?;
            if let Some(missing) = missing_secret(&ctx, &namespace, &plan).await? {
                // As OpenShift's pod would wait for its volume: the build waits, saying why.
                let waiting =
                    json!({ "phase": "New", "reason": "CannotCreateBuildPod", "message": missing });
                write_status(&builds, &name, waiting).await?;
                return Ok(Action::requeue(Duration::from_secs(5)));
            }
            if let Some(refused) = create_pod(&pods, &plan).await? {
                let failed = ended("Failed", "CannotCreateBuildPod", &refused);
                write_status(&builds, &name, failed).await?;
                return Ok(Action::await_change());
            }
            let pending = json!({
                "phase": "Pending",
                "reason": null,
                "message": null,
                "outputDockerImageReference": plan.output_image,
                "config": build.annotations().get("openshift.io/build-config.name")
                    .map(|config| json!({ "kind": "BuildConfig", "namespace": namespace, "name": config })),
            });
            write_status(&builds, &name, pending).await?;
        }
        None => {
            let deleted = ended(
                "Error",
                "BuildPodDeleted",
                "The pod for this build was deleted before the build completed.",
            );
            write_status(&builds, &name, deleted).await?;
        }
        Some(pod) => observe(&ctx, &builds, &build, &plan, &pod).await?,
    }
    Ok(Action::await_change())
}

async fn delete_pod(pods: &Api<Pod>, build: &str) -> Result<(), Error> {
    match pods
        .delete(&pod_name(build), &DeleteParams::background())
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

async fn write_status(builds: &Api<DynamicObject>, name: &str, status: Value) -> Result<(), Error> {
    // The Build API has no status subresource: status is written through the object.
    builds
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": status })),
        )
        .await?;
    Ok(())
}

fn from_json<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, Error> {
    serde_json::from_value(value).map_err(|e| Error::Invalid(format!("a rendered object: {e}")))
}

/// Creates `object` unless it exists.
async fn create_unless_there<K>(api: &Api<K>, object: &K) -> Result<(), Error>
where
    K: kube::Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.create(&PostParams::default(), object).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// What OpenShift gives every namespace: a `builder` ServiceAccount and its registry login.
async fn prepare_namespace(ctx: &Ctx, namespace: &str, plan: &BuildPlan) -> Result<(), Error> {
    if plan.pod["spec"]["serviceAccountName"] == "builder" {
        let accounts = Api::<ServiceAccount>::namespaced(ctx.client.clone(), namespace);
        let mut account = ServiceAccount::default();
        account.metadata.name = Some("builder".into());
        create_unless_there(&accounts, &account).await?;
    }
    if let Some(login) = &ctx.config.registry_login {
        let secrets = Api::<Secret>::namespaced(ctx.client.clone(), namespace);
        let secret: Secret = from_json(json!({
            "metadata": { "name": INTERNAL_REGISTRY_SECRET },
            "type": "kubernetes.io/dockerconfigjson",
            "stringData": { pod::DOCKER_CONFIG_KEY: login },
        }))?;
        create_unless_there(&secrets, &secret).await?;
    }
    Ok(())
}

/// Why a Secret the pod mounts cannot be mounted, if one cannot.
async fn missing_secret(
    ctx: &Ctx,
    namespace: &str,
    plan: &BuildPlan,
) -> Result<Option<String>, Error> {
    let secrets = Api::<Secret>::namespaced(ctx.client.clone(), namespace);
    for used in &plan.secrets {
        let Some(secret) = secrets.get_opt(&used.name).await? else {
            return Ok(Some(format!(
                "Secret {} ({}) does not exist in namespace {namespace}",
                used.name, used.field
            )));
        };
        if let Some(key) = used.key
            && !secret.data.iter().flatten().any(|(k, _)| k == key)
        {
            return Ok(Some(format!(
                "Secret {} ({}) has no {key} key: only kubernetes.io/dockerconfigjson Secrets are supported",
                used.name, used.field
            )));
        }
    }
    Ok(None)
}

/// Creates the build pod; returns why the API server refused it, if it did for good.
async fn create_pod(pods: &Api<Pod>, plan: &BuildPlan) -> Result<Option<String>, Error> {
    let pod: Pod = from_json(plan.pod.clone())?;
    match pods.create(&PostParams::default(), &pod).await {
        Ok(_) => Ok(None),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(None),
        Err(kube::Error::Api(e)) if (400..500).contains(&e.code) => Ok(Some(e.message)),
        Err(e) => Err(e.into()),
    }
}

/// Moves the Build along with its pod. Each write names the output again, in case the one
/// after the pod was created did not go through.
async fn observe(
    ctx: &Ctx,
    builds: &Api<DynamicObject>,
    build: &DynamicObject,
    plan: &BuildPlan,
    pod: &Pod,
) -> Result<(), Error> {
    let name = build.name_any();
    let write = |mut status: Value| {
        status["outputDockerImageReference"] = json!(plan.output_image);
        write_status(builds, &name, status)
    };
    let status = build.data.get("status").cloned().unwrap_or(Value::Null);
    let pod_status = pod.status.clone().unwrap_or_default();
    let started = status["startTimestamp"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| Timestamp::now().to_string());
    match pod_status.phase.as_deref() {
        Some("Running") if status["phase"] != "Running" => {
            write(json!({ "phase": "Running", "startTimestamp": started })).await
        }
        Some("Succeeded") => {
            let main = pod_status
                .container_statuses
                .iter()
                .flatten()
                .find_map(|c| c.state.as_ref()?.terminated.as_ref()?.message.clone());
            let Some(digest) = main
                .as_deref()
                .and_then(buildstrategy_api::pod_build::extract_digest)
            else {
                let failed = ended(
                    "Failed",
                    "PushImageToRegistryFailed",
                    "The build did not report the digest it pushed.",
                );
                return write(failed).await;
            };
            if let Output::ImageStreamTag { stream, tag } = &plan.output {
                tag_image_stream(
                    ctx,
                    &build.namespace().unwrap_or_default(),
                    stream,
                    tag,
                    &digest,
                )
                .await?;
            }
            let mut complete = ended("Complete", "", "");
            complete["startTimestamp"] = json!(started);
            complete["output"] = json!({ "to": { "imageDigest": digest } });
            write(complete).await
        }
        Some("Failed") => {
            let (reason, message, container) = failure(plan, pod);
            let snippet = match container {
                Some(container) => log_tail(ctx, pod, &container).await,
                None => String::new(),
            };
            let mut failed = ended("Failed", reason, message);
            failed["startTimestamp"] = json!(started);
            failed["logSnippet"] = json!(snippet);
            write(failed).await
        }
        _ => Ok(()),
    }
}

/// OpenShift's reason and message for a failed build pod, and the container whose log says why.
fn failure(plan: &BuildPlan, pod: &Pod) -> (&'static str, &'static str, Option<String>) {
    let status = pod.status.clone().unwrap_or_default();
    if status.reason.as_deref() == Some("DeadlineExceeded") {
        return (
            "ExceededTimeout",
            "Build was running longer than its specified deadline.",
            None,
        );
    }
    let failed = |statuses: &Option<Vec<k8s_openapi::api::core::v1::ContainerStatus>>| {
        statuses.iter().flatten().find_map(|c| {
            let code = c.state.as_ref()?.terminated.as_ref()?.exit_code;
            (code != 0).then(|| c.name.clone())
        })
    };
    if let Some(clone) = failed(&status.init_container_statuses) {
        return (
            "FetchSourceFailed",
            "Failed to fetch the input source.",
            Some(clone),
        );
    }
    let main = failed(&status.container_statuses);
    match plan.build_type {
        BuildType::Docker => (
            "DockerBuildFailed",
            "Docker build strategy has failed.",
            main,
        ),
        BuildType::Source => (
            "GenericS2IBuildFailed",
            "Generic S2I Build failure - check S2I logs for details.",
            main,
        ),
    }
}

async fn log_tail(ctx: &Ctx, pod: &Pod, container: &str) -> String {
    let pods = Api::<Pod>::namespaced(ctx.client.clone(), &pod.namespace().unwrap_or_default());
    let params = LogParams {
        container: Some(container.to_owned()),
        tail_lines: Some(LOG_SNIPPET_LINES),
        ..LogParams::default()
    };
    pods.logs(&pod.name_any(), &params)
        .await
        .unwrap_or_else(|e| format!("(the build log could not be read: {e})"))
}

/// Records the pushed image under the ImageStream's tag, as OpenShift's image controller does.
async fn tag_image_stream(
    ctx: &Ctx,
    namespace: &str,
    stream: &str,
    tag: &str,
    digest: &str,
) -> Result<(), Error> {
    let streams =
        Api::<DynamicObject>::namespaced_with(ctx.client.clone(), namespace, &image_stream_api());
    // OpenShift's registry creates the stream a push names, when it is missing.
    let mut missing = DynamicObject::new(stream, &image_stream_api());
    missing.data = json!({ "spec": {} });
    create_unless_there(&streams, &missing).await?;
    let current = streams.get(stream).await?;
    let repository = format!("{}/{namespace}/{stream}", ctx.config.registry);
    let mut tags: Vec<Value> = current
        .data
        .pointer("/status/tags")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    tags.retain(|t| t["tag"] != tag);
    tags.push(json!({ "tag": tag, "items": [{
        "created": Timestamp::now().to_string(),
        "dockerImageReference": format!("{repository}@{digest}"),
        "image": digest,
        "generation": current.metadata.generation.unwrap_or(1),
    }]}));
    streams
        .patch_status(
            stream,
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": {
                "dockerImageRepository": repository,
                "tags": tags,
            }})),
        )
        .await?;
    Ok(())
}
