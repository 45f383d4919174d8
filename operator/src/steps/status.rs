//! The status the shared steps write: phase, conditions and the reasons they carry, for a job
//! or a notebook image alike, and the memory of what the operator last wrote.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use super::error::Error;
use crate::crd::conditions::READY;
use crate::crd::image::{ImagePhase, NotebookImageStatus};
use crate::crd::suite::{NotebookValidationSuiteStatus, SuitePhase};
use crate::crd::{BuildStatusReport, NotebookValidationJobStatus, Phase};
use crate::labels::FIELD_MANAGER;
use crate::reason::Reason;

/// The status last written for each resource in progress, by uid. The cache lags behind the
/// operator's own writes, and the operator is the only writer of status, so this is the real
/// status: reconciles start from it and skip writes that would change nothing. Entries go
/// when the resource is settled, cleaned up or deleted. Clones share the same memory.
#[derive(Debug, Clone)]
pub struct StatusMemo<S = NotebookValidationJobStatus>(Arc<Mutex<HashMap<String, S>>>);

impl<S> Default for StatusMemo<S> {
    fn default() -> Self {
        Self(Arc::default())
    }
}

impl<S: Tracked> StatusMemo<S> {
    /// The status last written for the resource with `uid`, if it is in progress.
    pub fn get(&self, uid: &str) -> Option<S> {
        self.0.lock().ok()?.get(uid).cloned()
    }

    /// Remembers `status` as written for `uid`, or forgets the resource when it is settled.
    pub fn remember(&self, uid: String, status: S) {
        if let Ok(mut map) = self.0.lock() {
            if status.is_settled() {
                map.remove(&uid);
            } else {
                map.insert(uid, status);
            }
        }
    }

    /// Forgets the job with `uid` (cleaned up or deleted).
    pub fn forget(&self, uid: &str) {
        if let Ok(mut map) = self.0.lock() {
            map.remove(uid);
        }
    }

    /// How many jobs are remembered: the jobs in progress.
    pub fn len(&self) -> usize {
        self.0.lock().map_or(0, |map| map.len())
    }

    /// Whether no job is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A status the shared steps write: a job's, a notebook image's or a suite's. They share
/// conditions, a phase with a message, and start and completion times.
pub trait Tracked: Clone + Default {
    /// The resource's phase.
    type Phase: Copy;
    /// Where a resource starts.
    const PENDING: Self::Phase;
    /// When it ended well.
    const SUCCEEDED: Self::Phase;
    /// When it ended badly.
    const FAILED: Self::Phase;
    /// The phase, and the one-line message that goes with it.
    fn phase_mut(&mut self) -> (&mut Option<Self::Phase>, &mut Option<String>);
    /// The conditions.
    fn conditions_mut(&mut self) -> &mut Vec<Condition>;
    /// When the operator started on the resource, and when it ended.
    fn times_mut(&mut self) -> (&mut Option<Time>, &mut Option<Time>);
    /// When the operator started on the resource.
    fn start_time(&self) -> Option<&Time>;
    /// The generation the status describes.
    fn observed_generation_mut(&mut self) -> &mut Option<i64>;
    /// Whether the operator is done with the resource for good, so its memory may go.
    fn is_settled(&self) -> bool;
}

/// The status of a resource whose image the build step makes: a job's, or a notebook image's.
pub trait Built: Tracked {
    /// While its image builds.
    const BUILDING: Self::Phase;
    /// Once its image is built.
    const BUILT: Self::Phase;
    /// The image build.
    fn build_status_mut(&mut self) -> &mut Option<BuildStatusReport>;
}

/// `Tracked` for a status whose fields carry the same names in every resource: `phase`,
/// `message`, `conditions`, `start_time`, `completion_time` and `observed_generation`; and
/// `Built` for one with `build_status` too.
macro_rules! tracked {
    ($status:ty, $phase:ident { $pending:ident, $building:ident, $built:ident }, |$s:ident| $settled:expr) => {
        tracked!($status, $phase { $pending }, |$s| $settled);
        impl Built for $status {
            const BUILDING: $phase = $phase::$building;
            const BUILT: $phase = $phase::$built;
            fn build_status_mut(&mut self) -> &mut Option<BuildStatusReport> {
                &mut self.build_status
            }
        }
    };
    ($status:ty, $phase:ident { $pending:ident }, |$s:ident| $settled:expr) => {
        impl Tracked for $status {
            type Phase = $phase;
            const PENDING: $phase = $phase::$pending;
            const SUCCEEDED: $phase = $phase::Succeeded;
            const FAILED: $phase = $phase::Failed;
            fn phase_mut(&mut self) -> (&mut Option<$phase>, &mut Option<String>) {
                (&mut self.phase, &mut self.message)
            }
            fn conditions_mut(&mut self) -> &mut Vec<Condition> {
                &mut self.conditions
            }
            fn times_mut(&mut self) -> (&mut Option<Time>, &mut Option<Time>) {
                (&mut self.start_time, &mut self.completion_time)
            }
            fn start_time(&self) -> Option<&Time> {
                self.start_time.as_ref()
            }
            fn observed_generation_mut(&mut self) -> &mut Option<i64> {
                &mut self.observed_generation
            }
            fn is_settled(&self) -> bool {
                let $s = self;
                $settled
            }
        }
    };
}

tracked!(
    NotebookValidationJobStatus,
    Phase {
        Pending,
        Building,
        BuildComplete
    },
    |status| status.is_terminal()
);
// An image is watched for as long as it exists (new generations, re-validation).
tracked!(
    NotebookImageStatus,
    ImagePhase {
        Preparing,
        Building,
        Validating
    },
    |_status| false
);
// A suite's run is settled once it ended; a new generation is a new run.
tracked!(
    NotebookValidationSuiteStatus,
    SuitePhase { Pending },
    |status| status.is_terminal()
);

/// The status being computed in one reconcile, with the time it is computed at.
#[derive(Debug, Clone)]
pub struct StatusUpdate<S = NotebookValidationJobStatus> {
    /// The new status.
    pub status: S,
    generation: Option<i64>,
    now: Time,
}

impl<S: Tracked> StatusUpdate<S> {
    /// Starts from the resource's current status.
    pub fn new(current: Option<&S>, generation: Option<i64>) -> Self {
        let now = Time(Timestamp::now());
        let mut status = current.cloned().unwrap_or_default();
        *status.observed_generation_mut() = generation;
        status.times_mut().0.get_or_insert_with(|| now.clone());
        status.phase_mut().0.get_or_insert(S::PENDING);
        Self {
            status,
            generation,
            now,
        }
    }

    /// The time this reconcile runs at.
    pub fn now(&self) -> &Time {
        &self.now
    }

    /// Moves to `phase` with a one-line message.
    pub fn phase(&mut self, phase: S::Phase, message: impl Into<String>) {
        let (current, text) = self.status.phase_mut();
        *current = Some(phase);
        *text = Some(message.into());
    }

    /// Sets a condition, keeping its transition time when its status does not change.
    pub fn condition(
        &mut self,
        type_: &str,
        status: bool,
        reason: Reason,
        message: impl Into<String>,
    ) {
        self.backend_condition(type_, status, reason.as_str(), message);
    }

    /// Sets a condition with a reason a build backend gave (S2I's `FetchSourceFailed`, say),
    /// passed on as the backend wrote it.
    pub fn backend_condition(
        &mut self,
        type_: &str,
        status: bool,
        reason: &str,
        message: impl Into<String>,
    ) {
        self.condition_tri(
            type_,
            if status { "True" } else { "False" },
            reason,
            message,
        );
    }

    /// Sets a condition to Unknown (in progress).
    pub fn condition_unknown(&mut self, type_: &str, reason: Reason, message: impl Into<String>) {
        self.condition_tri(type_, "Unknown", reason.as_str(), message);
    }

    fn condition_tri(
        &mut self,
        type_: &str,
        status: &str,
        reason: &str,
        message: impl Into<String>,
    ) {
        let message = message.into();
        let conditions = self.status.conditions_mut();
        let transition = conditions
            .iter()
            .find(|c| c.type_ == type_ && c.status == status)
            .map(|c| c.last_transition_time.clone())
            .unwrap_or_else(|| self.now.clone());
        let condition = Condition {
            type_: type_.to_owned(),
            status: status.to_owned(),
            reason: reason.to_owned(),
            message,
            observed_generation: self.generation,
            last_transition_time: transition,
        };
        match conditions.iter_mut().find(|c| c.type_ == type_) {
            Some(existing) => *existing = condition,
            None => conditions.push(condition),
        }
    }

    /// Ends the job as failed: phase, Ready=False, completion time, message. A condition still
    /// in progress ends False with the same reason: every condition says how the job ended.
    pub fn fail(&mut self, reason: Reason, message: impl Into<String>) {
        let message = message.into();
        let open: Vec<String> = self
            .status
            .conditions_mut()
            .iter()
            .filter(|c| c.status == "Unknown")
            .map(|c| c.type_.clone())
            .collect();
        for type_ in open {
            self.condition(&type_, false, reason, message.clone());
        }
        self.condition(READY, false, reason, message.clone());
        self.phase(S::FAILED, message);
        let now = self.now.clone();
        self.status.times_mut().1.get_or_insert(now);
    }

    /// Ends the job as succeeded.
    pub fn succeed(&mut self, message: impl Into<String>) {
        let message = message.into();
        self.condition(READY, true, Reason::Succeeded, message.clone());
        self.phase(S::SUCCEEDED, message);
        let now = self.now.clone();
        self.status.times_mut().1.get_or_insert(now);
    }

    /// Seconds since the resource started.
    pub fn elapsed_secs(&self) -> i64 {
        let start = self.status.start_time().map_or(self.now.0, |t| t.0);
        (self.now.0.as_second() - start.as_second()).max(0)
    }
}

impl<S: Built> StatusUpdate<S> {
    /// The build's report, as the build step last wrote it.
    pub fn build_status(&mut self) -> &mut Option<BuildStatusReport> {
        self.status.build_status_mut()
    }
}

/// Writes the status of `resource` with server-side apply.
pub(crate) async fn write_status<K>(
    client: &kube::Client,
    resource: &K,
    status: &impl serde::Serialize,
    action: &'static str,
) -> Result<(), Error>
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + serde::de::DeserializeOwned
        + Clone
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), &resource.namespace().unwrap_or_default());
    let patch = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    api.patch_status(
        &resource.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
    .map(|_| ())
    .map_err(Error::kube(action))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::conditions::{BUILD_READY, VALIDATION_COMPLETE};

    #[test]
    fn conditions_keep_their_transition_time_while_unchanged() {
        let mut update: StatusUpdate = StatusUpdate::new(None, Some(1));
        update.condition(BUILD_READY, false, Reason::Building, "one");
        let first = update.status.conditions[0].last_transition_time.clone();
        let mut later = StatusUpdate::new(Some(&update.status), Some(1));
        later.now = Time(Timestamp::from_second(later.now.0.as_second() + 60).expect("time"));
        later.condition(BUILD_READY, false, Reason::Building, "two");
        assert_eq!(later.status.conditions[0].last_transition_time, first);
        later.condition(BUILD_READY, true, Reason::BuildSucceeded, "done");
        assert_ne!(later.status.conditions[0].last_transition_time, first);
        assert_eq!(later.status.conditions.len(), 1);
    }

    #[test]
    fn failing_ends_every_condition_in_progress() {
        let mut update: StatusUpdate = StatusUpdate::new(None, Some(1));
        update.condition(BUILD_READY, true, Reason::ImageProvided, "given");
        update.condition_unknown(
            VALIDATION_COMPLETE,
            Reason::Running,
            "the notebook is running",
        );
        update.fail(Reason::JobTimeout, "too long");
        let of = |type_: &str| {
            update
                .status
                .conditions
                .iter()
                .find(|c| c.type_ == type_)
                .map(|c| (c.status.as_str(), c.reason.as_str()))
        };
        assert_eq!(of(BUILD_READY), Some(("True", "ImageProvided")));
        assert_eq!(of(VALIDATION_COMPLETE), Some(("False", "JobTimeout")));
        assert_eq!(of(READY), Some(("False", "JobTimeout")));
    }

    #[test]
    fn failing_sets_phase_ready_and_completion() {
        let mut update: StatusUpdate = StatusUpdate::new(None, Some(3));
        update.fail(Reason::BuildFailed, "pip install failed");
        assert_eq!(update.status.phase, Some(Phase::Failed));
        assert!(update.status.completion_time.is_some());
        let ready = &update.status.conditions[0];
        assert_eq!(
            (
                ready.type_.as_str(),
                ready.status.as_str(),
                ready.reason.as_str()
            ),
            ("Ready", "False", "BuildFailed")
        );
        assert_eq!(ready.observed_generation, Some(3));
    }
}
