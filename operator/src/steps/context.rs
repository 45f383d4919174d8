//! What every reconcile of every controller shares: the client, the strategies, the settings,
//! the caches and the memory of what was written.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::Api;
use kube::runtime::events::Recorder;
use kube::runtime::reflector::{ObjectRef, Store};

use super::error::Error;
use super::status::StatusMemo;
use super::{listing, reuse, select};
use crate::catalog::Catalog;
use crate::config::PodSettings;
use crate::crd::NotebookValidationJob;
use crate::crd::image::NotebookImageStatus;
use crate::crd::suite::NotebookValidationSuiteStatus;
use crate::health::Health;
use crate::metrics::Metrics;

/// What every reconcile shares.
pub struct Context {
    /// The API client.
    pub client: Client,
    /// The strategies of this build and their switches.
    pub catalog: Catalog,
    /// Validation pod settings.
    pub pod_settings: PodSettings,
    /// The image used when a job neither names nor builds one.
    pub default_image: String,
    /// Publishes Kubernetes Events on jobs.
    pub recorder: Recorder,
    /// Cached strategy detection.
    pub detection: select::DetectionCache,
    /// The operator's Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Readiness, as `/readyz` reports it.
    pub health: Arc<Health>,
    backoff: Mutex<HashMap<String, u32>>,
    /// The status last written for each job in progress.
    pub written: StatusMemo,
    /// The status last written for each notebook image.
    pub images: StatusMemo<NotebookImageStatus>,
    /// The status last written for each suite in its run.
    pub suites: StatusMemo<NotebookValidationSuiteStatus>,
    /// Whether and how builds are reused.
    pub reuse: reuse::ReuseSettings,
    /// The builds running now, by reuse key.
    pub claims: reuse::Claims,
    /// The repository listings read.
    pub listings: listing::Listings,
    /// The objects created and not yet seen in the caches, by owner.
    pub expected: Expected,
    /// The cache of the pods jobs own, when the controller keeps one.
    pods: Option<Store<Pod>>,
    /// The cache of the jobs, when the controller keeps one.
    jobs: Option<Store<NotebookValidationJob>>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("catalog", &self.catalog)
            .field("pod_settings", &self.pod_settings)
            .field("default_image", &self.default_image)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// A context for `client`.
    pub fn new(
        client: Client,
        catalog: Catalog,
        pod_settings: PodSettings,
        default_image: String,
    ) -> Self {
        let recorder = Recorder::new(client.clone(), "nbv-operator".into());
        Self {
            client,
            catalog,
            pod_settings,
            default_image,
            recorder,
            detection: select::DetectionCache::default(),
            metrics: Arc::default(),
            health: Arc::default(),
            backoff: Mutex::default(),
            written: StatusMemo::default(),
            images: StatusMemo::default(),
            suites: StatusMemo::default(),
            reuse: reuse::ReuseSettings::default(),
            claims: reuse::Claims::default(),
            listings: listing::Listings::default(),
            expected: Expected::default(),
            pods: None,
            jobs: None,
        }
    }

    /// Reads validation pods from `pods`, the controller's cache of the pods jobs own, instead of
    /// asking the API server.
    pub fn use_pod_cache(&mut self, pods: Store<Pod>) {
        self.pods = Some(pods);
    }

    /// Reads other jobs (for builds to reuse) from `jobs`, the controller's cache, instead of
    /// asking the API server.
    pub fn use_job_cache(&mut self, jobs: Store<NotebookValidationJob>) {
        self.jobs = Some(jobs);
    }

    /// The jobs in the controller's cache that `keep` selects; `None` without a cache.
    pub(crate) fn cached_jobs(
        &self,
        keep: impl Fn(&NotebookValidationJob) -> bool,
    ) -> Option<Vec<NotebookValidationJob>> {
        let store = self.jobs.as_ref()?;
        Some(
            store
                .state()
                .iter()
                .filter(|job| keep(job))
                .map(|job| NotebookValidationJob::clone(job))
                .collect(),
        )
    }

    /// The jobs of `namespace` (of every namespace when `None`) that `keep` selects: from the
    /// controller's cache of jobs when it keeps one (only those selected are copied), else from
    /// the API server.
    pub(crate) async fn jobs_in(
        &self,
        namespace: Option<&str>,
        keep: impl Fn(&NotebookValidationJob) -> bool,
    ) -> Result<Vec<NotebookValidationJob>, Error> {
        let ours = |job: &NotebookValidationJob| {
            namespace.is_none_or(|ns| job.metadata.namespace.as_deref() == Some(ns)) && keep(job)
        };
        if let Some(cached) = self.cached_jobs(ours) {
            return Ok(cached);
        }
        let api: Api<NotebookValidationJob> = match namespace {
            Some(ns) => Api::namespaced(self.client.clone(), ns),
            None => Api::all(self.client.clone()),
        };
        api.list(&kube::api::ListParams::default())
            .await
            .map(|list| list.items.into_iter().filter(|job| keep(job)).collect())
            .map_err(Error::kube("listing jobs"))
    }

    /// The jobs of `owner` (those labelled `label=<owner's name>` in its namespace): from the
    /// controller's cache of jobs when it keeps one, where a job created a moment ago may be
    /// missing (creating it again is refused as a conflict).
    pub(crate) async fn jobs_of<K: kube::Resource>(
        &self,
        owner: &K,
        label: &str,
    ) -> Result<Vec<NotebookValidationJob>, Error> {
        let name = owner.meta().name.clone().unwrap_or_default();
        let namespace = owner.meta().namespace.clone();
        let ours = |job: &NotebookValidationJob| {
            job.metadata.namespace == namespace
                && job.metadata.labels.as_ref().and_then(|l| l.get(label)) == Some(&name)
        };
        if let Some(cached) = self.cached_jobs(ours) {
            return Ok(cached);
        }
        let api: Api<NotebookValidationJob> = Api::namespaced(
            self.client.clone(),
            namespace.as_deref().unwrap_or_default(),
        );
        api.list(&kube::api::ListParams::default().labels(&format!("{label}={name}")))
            .await
            .map(|list| list.items)
            .map_err(Error::kube("listing the jobs a resource owns"))
    }

    /// The delay before retrying the resource `key` after one more failed reconcile, and the
    /// failed attempts so far: 2 s, 4 s, ... up to 5 minutes.
    pub(crate) fn retry_backoff(&self, key: String) -> (Duration, u32) {
        let attempts = self.backoff.lock().map_or(1, |mut map| {
            let n = map.entry(key).or_insert(0);
            *n = n.saturating_add(1);
            *n
        });
        (
            Duration::from_secs(2_u64.saturating_pow(attempts.min(9)).min(300)),
            attempts,
        )
    }

    /// The failed reconciles of the resource `key` so far, counting the one failing now.
    pub(crate) fn failed_attempts(&self, key: &str) -> u32 {
        self.backoff.lock().map_or(1, |map| {
            map.get(key).copied().unwrap_or(0).saturating_add(1)
        })
    }

    /// Forgets the failed attempts of `key` once a reconcile went through.
    pub(crate) fn retry_succeeded(&self, key: &str) {
        if let Ok(mut backoff) = self.backoff.lock() {
            backoff.remove(key);
        }
    }

    /// The pod `name`, from the controller's cache of owned pods when it keeps one.
    pub(crate) async fn find_pod(&self, pods: &Api<Pod>, name: &str) -> Result<Option<Pod>, Error> {
        match &self.pods {
            Some(store) => {
                let namespace = pods.namespace().unwrap_or_default();
                Ok(store
                    .get(&ObjectRef::new(name).within(namespace))
                    .map(|p| Pod::clone(&p)))
            }
            None => pods
                .get_opt(name)
                .await
                .map_err(Error::kube("reading the validation pod")),
        }
    }
}

/// Objects created and not yet seen in a cache, by owner: a reconcile that reads the cache
/// counts them too (the caches lag behind the operator's own writes), as Kubernetes' own
/// controllers do with their expectations.
#[derive(Debug, Clone, Default)]
pub struct Expected(Arc<Mutex<HashMap<String, std::collections::BTreeSet<String>>>>);

impl Expected {
    /// Records that `name` was created for `owner`.
    pub fn created(&self, owner: &str, name: String) {
        if let Ok(mut map) = self.0.lock() {
            map.entry(owner.to_owned()).or_default().insert(name);
        }
    }

    /// The names created for `owner` that `seen` does not hold yet; the others are forgotten.
    pub fn unseen(&self, owner: &str, seen: impl Fn(&str) -> bool) -> Vec<String> {
        let Ok(mut map) = self.0.lock() else {
            return Vec::new();
        };
        let Some(names) = map.get_mut(owner) else {
            return Vec::new();
        };
        names.retain(|name| !seen(name));
        let left = names.iter().cloned().collect();
        if names.is_empty() {
            map.remove(owner);
        }
        left
    }

    /// Forgets `owner`.
    pub fn forget(&self, owner: &str) {
        if let Ok(mut map) = self.0.lock() {
            map.remove(owner);
        }
    }
}
