//! Leader election through a `coordination.k8s.io/v1` Lease, so that of several replicas
//! exactly one reconciles at a time.
//!
//! The algorithm is client-go's: a replica takes the Lease when nobody holds it, or when the
//! holder has not renewed it for a lease duration *as observed locally* (comparing our clock with
//! the holder's `renewTime` would make clock skew between nodes decide who leads). Every write
//! replaces the Lease at the resourceVersion just read, so of two replicas racing for it the API
//! server lets exactly one win. A leader that cannot renew within the renew deadline, which is
//! shorter than the lease duration, stops its work before anyone else may take over.

use std::future::Future;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::{Client, ResourceExt};
use tokio_util::sync::CancellationToken;

use crate::health::{Health, Readiness};

/// Where the lease is and how it is held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseConfig {
    /// The Lease's name.
    pub name: String,
    /// Its namespace (the operator's).
    pub namespace: String,
    /// This replica's identity (its pod name).
    pub identity: String,
    /// How long a lease that is not renewed stays with its holder.
    pub lease_duration: Duration,
    /// How long the leader keeps working without a successful renewal.
    pub renew_deadline: Duration,
    /// How often the lease is renewed or, by a standby, tried.
    pub retry_period: Duration,
}

impl LeaseConfig {
    /// A lease of `lease_duration` (whole seconds, at least one), renewed every fifth of it and
    /// given up after two thirds of it without a renewal.
    pub fn new(
        name: impl Into<String>,
        namespace: impl Into<String>,
        identity: impl Into<String>,
        lease_duration: Duration,
    ) -> Self {
        let lease_duration = Duration::from_secs(lease_duration.as_secs().max(1));
        Self {
            name: name.into(),
            namespace: namespace.into(),
            identity: identity.into(),
            lease_duration,
            renew_deadline: lease_duration * 2 / 3,
            retry_period: lease_duration / 5,
        }
    }
}

/// How leading ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// `stop` was cancelled; the lease was released if it was held.
    Stopped,
    /// The lease was lost (not renewed in time, or taken over); the work was stopped.
    Lost,
}

/// Waits for the lease, then runs `work` while this replica holds it, renewing it meanwhile.
///
/// `work` receives a token that is cancelled when `stop` is, or when the lease is lost; it should
/// wind down then. Afterwards the lease is released (unless it was lost), so a standby takes
/// over at its next try instead of after a lease duration.
pub async fn lead<F, Fut>(
    client: Client,
    config: LeaseConfig,
    health: &Health,
    stop: CancellationToken,
    work: F,
) -> Ended
where
    F: FnOnce(CancellationToken) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut elector = Elector::new(client, config);
    loop {
        let attempt = tokio::select! {
            () = stop.cancelled() => return Ended::Stopped,
            attempt = elector.try_acquire_or_renew() => attempt,
        };
        match attempt {
            Ok(true) => break,
            Ok(false) => health.set(Readiness::Standby),
            Err(e) => {
                tracing::warn!(lease = %elector.config.name, error = %e, "cannot read or take the leader-election lease; retrying")
            }
        }
        tokio::select! {
            () = stop.cancelled() => return Ended::Stopped,
            () = tokio::time::sleep(elector.config.retry_period) => {}
        }
    }
    tracing::info!(lease = %elector.config.name, identity = %elector.config.identity, "became the leader");
    let until = stop.child_token();
    let work = work(until.clone());
    tokio::pin!(work);
    let lost = {
        let renewing = elector.keep_renewing(&until);
        tokio::pin!(renewing);
        tokio::select! {
            () = &mut work => {
                until.cancel();
                renewing.await
            }
            lost = &mut renewing => {
                work.await;
                lost
            }
        }
    };
    if lost {
        return Ended::Lost;
    }
    match elector.release().await {
        Ok(()) => {
            tracing::info!(lease = %elector.config.name, "released the leader-election lease")
        }
        Err(e) => {
            tracing::warn!(lease = %elector.config.name, error = %e, "could not release the lease; a standby takes over when it expires")
        }
    }
    Ended::Stopped
}

struct Elector {
    api: Api<Lease>,
    config: LeaseConfig,
    /// The lease's resourceVersion when last read, and when we saw it change: a holder that
    /// renews changes it, so an unchanged version for a lease duration means a dead holder.
    observed: Option<(String, Instant)>,
}

impl Elector {
    fn new(client: Client, config: LeaseConfig) -> Self {
        Self {
            api: Api::namespaced(client, &config.namespace),
            config,
            observed: None,
        }
    }

    fn spec(&self, previous: Option<&LeaseSpec>) -> LeaseSpec {
        let now = MicroTime(Timestamp::now());
        let previous = previous.cloned().unwrap_or_default();
        let renewing = previous.holder_identity.as_deref() == Some(&self.config.identity);
        let was_held = previous
            .holder_identity
            .as_ref()
            .is_some_and(|h| !h.is_empty());
        LeaseSpec {
            holder_identity: Some(self.config.identity.clone()),
            lease_duration_seconds: Some(
                i32::try_from(self.config.lease_duration.as_secs()).unwrap_or(i32::MAX),
            ),
            acquire_time: if renewing {
                previous.acquire_time.clone()
            } else {
                Some(now.clone())
            },
            renew_time: Some(now),
            lease_transitions: Some(
                previous.lease_transitions.unwrap_or(0) + i32::from(was_held && !renewing),
            ),
            ..previous
        }
    }

    /// Takes the lease if it is free or expired, renews it if we hold it. `Ok(true)`: we hold it.
    async fn try_acquire_or_renew(&mut self) -> Result<bool, kube::Error> {
        let Some(mut lease) = self.api.get_opt(&self.config.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.config.name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec(None)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(created) => {
                    self.observe(&created);
                    Ok(true)
                }
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(e),
            };
        };
        self.observe(&lease);
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.as_deref().filter(|h| !h.is_empty());
        if holder.is_some_and(|h| h != self.config.identity) {
            let duration = spec
                .lease_duration_seconds
                .and_then(|s| u64::try_from(s).ok())
                .map_or(self.config.lease_duration, Duration::from_secs);
            if self
                .observed
                .as_ref()
                .is_some_and(|(_, since)| since.elapsed() < duration)
            {
                return Ok(false);
            }
            tracing::info!(lease = %self.config.name, holder = ?holder, "the lease expired; taking it over");
        }
        lease.spec = Some(self.spec(Some(&spec)));
        // `replace` sends the resourceVersion we read: a concurrent writer makes it fail with 409.
        match self
            .api
            .replace(&self.config.name, &PostParams::default(), &lease)
            .await
        {
            Ok(updated) => {
                self.observe(&updated);
                Ok(true)
            }
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn observe(&mut self, lease: &Lease) {
        let version = lease.resource_version().unwrap_or_default();
        if self.observed.as_ref().map(|(v, _)| v) != Some(&version) {
            self.observed = Some((version, Instant::now()));
        }
    }

    /// Renews until `until` is cancelled (returns `false`) or the lease is lost: then cancels
    /// `until` and returns `true`.
    async fn keep_renewing(&mut self, until: &CancellationToken) -> bool {
        let mut renewed = Instant::now();
        loop {
            tokio::select! {
                () = until.cancelled() => return false,
                () = tokio::time::sleep(self.config.retry_period) => {}
            }
            let left = self.config.renew_deadline.saturating_sub(renewed.elapsed());
            match tokio::time::timeout(left, self.try_acquire_or_renew()).await {
                Ok(Ok(true)) => renewed = Instant::now(),
                Ok(Ok(false)) => {
                    tracing::error!(lease = %self.config.name, "another replica holds the lease; stopping");
                    until.cancel();
                    return true;
                }
                Ok(Err(e)) if renewed.elapsed() < self.config.renew_deadline => {
                    tracing::warn!(lease = %self.config.name, error = %e, "could not renew the lease; retrying");
                }
                Ok(Err(_)) | Err(_) => {
                    tracing::error!(lease = %self.config.name, deadline = ?self.config.renew_deadline, "could not renew the lease within the renew deadline; stopping");
                    until.cancel();
                    return true;
                }
            }
        }
    }

    /// Frees the lease if we still hold it.
    async fn release(&mut self) -> Result<(), kube::Error> {
        let Some(mut lease) = self.api.get_opt(&self.config.name).await? else {
            return Ok(());
        };
        let Some(spec) = lease.spec.as_mut() else {
            return Ok(());
        };
        if spec.holder_identity.as_deref() != Some(&self.config.identity) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        self.api
            .replace(&self.config.name, &PostParams::default(), &lease)
            .await
            .map(|_| ())
    }
}
