//! The one reconcile skeleton every controller runs: the finalizer, the retry policy and the
//! retry key. A controller brings an [`Owner`] impl saying what applying and cleaning up mean
//! for its resource.

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::NamespaceResourceScope;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::context::Context;
use super::error::Error;
use crate::identity::identity;

/// A resource a controller reconciles with the shared skeleton.
pub trait Owner:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + Debug
    + DeserializeOwned
    + Serialize
    + Send
    + Sync
    + 'static
{
    /// The finalizer that lets the controller clean up before the resource goes.
    const FINALIZER: &'static str;

    /// Whether the resource needs the finalizer; one already set is honoured either way.
    fn needs_finalizer(&self) -> bool {
        true
    }

    /// One pass of the controller's steps.
    fn apply(&self, ctx: &Context) -> impl Future<Output = Result<Action, Error>> + Send;

    /// What the controller does before the resource goes.
    fn cleanup(&self, ctx: &Context) -> impl Future<Output = Result<Action, Error>> + Send;

    /// The longest a retry may wait (a job's deadline); unbounded by default.
    fn retry_within(&self) -> Option<Duration> {
        None
    }
}

/// The key a resource's failed attempts are counted under: its kind and identity.
pub fn retry_key<K: Resource<DynamicType = ()>>(resource: &K) -> String {
    format!("{} {}", K::kind(&()), identity(resource))
}

/// Reconciles one resource: applies it, or cleans it up when it goes, through its finalizer.
pub async fn reconcile<O: Owner>(owner: Arc<O>, ctx: Arc<Context>) -> Result<Action, Error> {
    let key = retry_key(owner.as_ref());
    let api: Api<O> = Api::namespaced(ctx.client.clone(), &owner.namespace().unwrap_or_default());
    let finalized = owner.finalizers().iter().any(|f| f == O::FINALIZER);
    let result = if owner.needs_finalizer() || finalized {
        finalizer(&api, O::FINALIZER, owner, |event| async {
            match event {
                FinalizerEvent::Apply(owner) => owner.apply(&ctx).await,
                FinalizerEvent::Cleanup(owner) => owner.cleanup(&ctx).await,
            }
        })
        .await
        .map_err(|e| Error::Finalizer(Box::new(e)))
    } else if owner.meta().deletion_timestamp.is_some() {
        // Garbage collection removes what it owns.
        Ok(Action::await_change())
    } else {
        owner.apply(&ctx).await
    };
    if result.is_ok() {
        ctx.retry_succeeded(&key);
    }
    result
}

/// Retries failed reconciles with exponential backoff: 2 s, 4 s, ... up to 5 minutes, and never
/// past what [`Owner::retry_within`] allows.
pub fn error_policy<O: Owner>(owner: Arc<O>, error: &Error, ctx: Arc<Context>) -> Action {
    let (delay, attempts) = ctx.retry_backoff(retry_key(owner.as_ref()));
    let delay = owner
        .retry_within()
        .map_or(delay, |left| delay.min(left.max(Duration::from_secs(1))));
    tracing::warn!(kind = %O::kind(&()), name = %owner.name_any(), error = %error, attempts, ?delay, "reconcile failed; retrying");
    Action::requeue(delay)
}
