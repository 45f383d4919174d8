//! How a step tells what happened: Kubernetes Events, and ending the resource as failed.

use kube::Resource;
use kube::ResourceExt;
use kube::runtime::events::{Event, EventType};

use super::context::Context;
use super::status::{StatusUpdate, Tracked};
use crate::reason::Reason;

impl Context {
    /// Publishes an Event on `job` (or another resource); failing to publish is logged, never
    /// fatal.
    pub async fn event<K: Resource<DynamicType = ()>>(
        &self,
        job: &K,
        type_: EventType,
        reason: Reason,
        note: &str,
    ) {
        let event = Event {
            type_,
            reason: reason.as_str().to_owned(),
            note: Some(buildstrategy_api::LogTail::new(40, 1024).apply(note)),
            action: "Reconcile".into(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&event, &job.object_ref(&())).await {
            tracing::warn!(job = %job.name_any(), error = %e, "could not publish an event");
        }
    }

    /// Ends the job as failed with `reason` and `message`: on `condition` first when given, then
    /// on every open condition and `Ready` (see [`StatusUpdate::fail`]), and in a Warning event
    /// saying the same.
    pub async fn fail<K: Resource<DynamicType = ()>, S: Tracked>(
        &self,
        job: &K,
        update: &mut StatusUpdate<S>,
        condition: Option<&str>,
        reason: Reason,
        message: String,
    ) {
        if let Some(condition) = condition {
            update.condition(condition, false, reason, message.clone());
        }
        update.fail(reason, message.clone());
        self.event(job, EventType::Warning, reason, &message).await;
    }
}
