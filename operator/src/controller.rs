//! Wires the reconciler to watches: jobs, the pods they own, and the primary objects of every
//! enabled strategy whose backend is served, so progress arrives as events, not by polling.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DynamicObject, ListParams};
use kube::runtime::controller::Action;
use kube::runtime::{
    Controller, Predicate, PredicateConfig, WatchStreamExt, predicates, reflector,
    reflector::Store, watcher,
};
use kube::{Client, ResourceExt};
use tokio_util::sync::CancellationToken;

use crate::crd::NotebookValidationJob;
use crate::crd::image::NotebookImage;
use crate::crd::suite::NotebookValidationSuite;
use crate::fanout::Fanout;
use crate::health::{Health, Readiness};
use crate::labels::{IMAGE_LABEL, SUITE_LABEL};
use crate::steps::skeleton::{error_policy, reconcile};
use crate::steps::{Context, Error};

/// Label selecting what the operator created.
const MANAGED: &str = "app.kubernetes.io/managed-by=nbv-operator";

/// Why the controller cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The CRD is not installed, or the operator may not list jobs.
    #[error(
        "cannot list NotebookValidationJobs ({0}); install the CRD (`nbv-operator crd | kubectl apply -f -`) and check the operator's RBAC"
    )]
    JobsUnavailable(#[source] kube::Error),
}

/// Runs the controller until SIGTERM or Ctrl-C, over every namespace or only `namespace`.
pub async fn run(ctx: Context, namespace: Option<&str>) -> Result<(), StartError> {
    run_until(ctx, namespace, CancellationToken::new()).await
}

/// Same, also stopping when `stop` is cancelled (leadership lost, or the process shutting down).
pub async fn run_until(
    mut ctx: Context,
    namespace: Option<&str>,
    stop: CancellationToken,
) -> Result<(), StartError> {
    ctx.health.set(Readiness::Syncing);
    let client = ctx.client.clone();
    let jobs: Api<NotebookValidationJob> = scoped(&client, namespace);
    jobs.list(&ListParams::default().limit(1))
        .await
        .map_err(StartError::JobsUnavailable)?;
    let changes = CacheChanges::default();
    let mut controller = job_controller(&mut ctx, jobs, namespace, &changes);
    let build_kinds = watched_kinds(&client, &ctx).await;
    for (strategy, api) in &build_kinds {
        tracing::info!(strategy, kind = %api.kind, "watching build objects");
        controller = controller.owns_with(
            build_objects(&client, namespace, api),
            api.clone(),
            watcher::Config::default().labels(MANAGED),
        );
    }
    let images = image_controller(&client, namespace, &build_kinds, &changes).await;
    let suites = suite_controller(&client, namespace, &changes).await;
    tracing::info!(strategies = ?ctx.catalog.registry().names(), "controller started");
    let store = controller.store();
    ctx.metrics.track_jobs(store.clone());
    tokio::spawn(ready_when_synced(store, ctx.health.clone()));
    let ctx = Arc::new(ctx);
    let jobs = controller
        .shutdown_on_signal()
        .graceful_shutdown_on(stop.clone().cancelled_owned())
        .run(measured_reconcile, error_policy, ctx.clone())
        .for_each(|result| async move {
            match result {
                Ok((job, _)) => {
                    tracing::debug!(job = %job.name, namespace = ?job.namespace, "reconciled")
                }
                Err(e) => tracing::debug!(error = %e, "reconcile error"),
            }
        });
    let images = images.map(|images| {
        images
            .shutdown_on_signal()
            .graceful_shutdown_on(stop.clone().cancelled_owned())
            .run(reconcile::<NotebookImage>, error_policy, ctx.clone())
            .for_each(|result| async move {
                match result {
                    Ok((image, _)) => {
                        tracing::debug!(image = %image.name, namespace = ?image.namespace, "reconciled")
                    }
                    Err(e) => tracing::debug!(error = %e, "notebook image reconcile error"),
                }
            })
    });
    let suites = suites.map(|suites| {
        suites
            .shutdown_on_signal()
            .graceful_shutdown_on(stop.cancelled_owned())
            .run(reconcile::<NotebookValidationSuite>, error_policy, ctx)
            .for_each(|result| async move {
                match result {
                    Ok((suite, _)) => {
                        tracing::debug!(suite = %suite.name, namespace = ?suite.namespace, "reconciled")
                    }
                    Err(e) => tracing::debug!(error = %e, "suite reconcile error"),
                }
            })
    });
    futures::join!(jobs, optional(images), optional(suites));
    Ok(())
}

/// What the job controller's caches take in, handed to the other controllers, which read those
/// caches too.
#[derive(Default)]
struct CacheChanges {
    jobs: Fanout<NotebookValidationJob>,
    pods: Fanout<Pod>,
}

/// The controller of jobs, with the caches reconciles read: the jobs themselves (for builds to
/// reuse) and the pods they own.
fn job_controller(
    ctx: &mut Context,
    jobs: Api<NotebookValidationJob>,
    namespace: Option<&str>,
    changes: &CacheChanges,
) -> Controller<NotebookValidationJob> {
    let (reader, writer) = reflector::store();
    ctx.use_job_cache(reader.clone());
    let memo = ctx.written.clone();
    let (job_fanout, pod_fanout) = (changes.jobs.clone(), changes.pods.clone());
    // The cache sees every change of a job, but only changes of its spec (generation), its
    // finalizers or its deletion start a reconcile: the operator's own status writes do not.
    // Progress arrives through the watches on what the job owns.
    let job_changes = watcher(jobs, watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        // A job without a finalizer is gone without a reconcile: forget its status here.
        .inspect_ok(move |event| {
            job_fanout.pass_on(event);
            if let watcher::Event::Delete(job) = event {
                memo.forget(&job.uid().unwrap_or_default());
            }
        })
        .applied_objects()
        .predicate_filter(
            predicates::generation
                .combine(predicates::finalizers)
                .combine(|job: &NotebookValidationJob| {
                    job.metadata.deletion_timestamp.as_ref().map(|_| 1)
                }),
            PredicateConfig::default(),
        );
    // The pods the jobs own are cached too: reconciles read them from there, not from the API.
    let (pod_reader, pod_writer) = reflector::store();
    let pod_changes = watcher(
        scoped::<Pod>(&ctx.client, namespace),
        watcher::Config::default().labels(MANAGED),
    )
    .default_backoff()
    // Reconciles read a pod's status and owners only; the rest would cost memory per pod.
    .modify(|pod: &mut Pod| {
        pod.managed_fields_mut().clear();
        pod.spec = None;
    })
    .reflect(pod_writer)
    .inspect_ok(move |event| pod_fanout.pass_on(event))
    .touched_objects();
    ctx.use_pod_cache(pod_reader);
    Controller::for_stream(job_changes, reader).owns_stream(pod_changes)
}

/// Reports ready once the jobs' watch has listed them all. The store's readiness wakes only one
/// waiter, and the controller itself waits on it, so this one asks again every 100 ms.
async fn ready_when_synced(store: Store<NotebookValidationJob>, health: Arc<Health>) {
    loop {
        match tokio::time::timeout(Duration::from_millis(100), store.wait_until_ready()).await {
            Ok(Ok(())) => break health.set(Readiness::Ready),
            Ok(Err(_)) => break, // the controller stopped before its cache synced
            Err(_) => {}
        }
    }
}

/// The build objects of kind `api`, in the operator's scope.
fn build_objects(
    client: &Client,
    namespace: Option<&str>,
    api: &kube::core::ApiResource,
) -> Api<DynamicObject> {
    match namespace {
        Some(ns) => Api::<DynamicObject>::namespaced_with(client.clone(), ns, api),
        None => Api::<DynamicObject>::all_with(client.clone(), api),
    }
}

/// The controller of NotebookImages, woken by what they own: their validation jobs and their
/// inspect pods (as the job controller's caches take them in), and their builds. `None` when
/// the cluster does not serve NotebookImages (an older CRD set): jobs are validated all the same.
async fn image_controller(
    client: &Client,
    namespace: Option<&str>,
    build_kinds: &[(&'static str, kube::core::ApiResource)],
    changes: &CacheChanges,
) -> Option<Controller<NotebookImage>> {
    let images: Api<NotebookImage> = scoped(client, namespace);
    if let Err(e) = images.list(&ListParams::default().limit(1)).await {
        tracing::warn!(error = %e, "cannot list NotebookImages: install their CRD (`nbv-operator crd`) and check the operator's RBAC; jobs are validated all the same");
        return None;
    }
    let owned = watcher::Config::default().labels(IMAGE_LABEL);
    let mut controller = Controller::new(images, watcher::Config::default())
        .owns_shared_stream(changes.jobs.subscribe(IMAGE_LABEL))
        .owns_shared_stream(changes.pods.subscribe(IMAGE_LABEL));
    for (_, api) in build_kinds {
        controller = controller.owns_with(
            build_objects(client, namespace, api),
            api.clone(),
            owned.clone(),
        );
    }
    Some(controller)
}

/// Runs `controller` when there is one.
async fn optional(controller: Option<impl std::future::Future<Output = ()>>) {
    if let Some(controller) = controller {
        controller.await;
    }
}

/// The controller of NotebookValidationSuites, woken by the jobs and the listing pods they own
/// (as the job controller's caches take them in); their status changes arrive together, a
/// second apart at most. `None` when the cluster does not serve suites (an older CRD set).
async fn suite_controller(
    client: &Client,
    namespace: Option<&str>,
    changes: &CacheChanges,
) -> Option<Controller<NotebookValidationSuite>> {
    let suites: Api<NotebookValidationSuite> = scoped(client, namespace);
    if let Err(e) = suites.list(&ListParams::default().limit(1)).await {
        tracing::warn!(error = %e, "cannot list NotebookValidationSuites: install their CRD (`nbv-operator crd`) and check the operator's RBAC; jobs are validated all the same");
        return None;
    }
    Some(
        Controller::new(suites, watcher::Config::default())
            .owns_shared_stream(changes.jobs.subscribe(SUITE_LABEL))
            .owns_shared_stream(changes.pods.subscribe(SUITE_LABEL))
            .with_config(
                kube::runtime::controller::Config::default().debounce(Duration::from_secs(1)),
            ),
    )
}

/// Reconciles `job`, recording the duration and any error's kind in the metrics.
async fn measured_reconcile(
    job: Arc<NotebookValidationJob>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let started = Instant::now();
    let result = reconcile(job, ctx.clone()).await;
    ctx.metrics
        .reconciled(started.elapsed(), result.as_ref().err().map(Error::kind));
    result
}

fn scoped<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// The primary kinds of enabled strategies whose APIs this cluster serves.
async fn watched_kinds(
    client: &Client,
    ctx: &Context,
) -> Vec<(&'static str, kube::core::ApiResource)> {
    let mut kinds = Vec::new();
    for strategy in ctx.catalog.registry().iter() {
        let name = strategy.info().name;
        if ctx.catalog.select(name).is_err() {
            continue;
        }
        for gvk in strategy.watched_kinds() {
            match kube::discovery::oneshot::pinned_kind(client, &gvk).await {
                Ok((api, _)) => kinds.push((name, api)),
                Err(e) => {
                    tracing::info!(strategy = name, kind = %gvk.kind, error = %e, "not served; builds of this strategy are unavailable here")
                }
            }
        }
    }
    kinds
}
