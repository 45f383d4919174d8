//! Every reason the operator writes on a condition or an event: one enum, so that none is
//! misspelt and none is compared as a string. The names are the JSON users see.

use std::fmt;
use std::str::FromStr;

macro_rules! reasons {
    ($($(#[doc = $doc:literal])+ $name:ident,)+) => {
        /// A condition or event reason, written in status as its name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Reason {
            $($(#[doc = $doc])+ $name,)+
        }

        impl Reason {
            /// Every reason, in declaration order.
            pub const ALL: &[Self] = &[$(Self::$name,)+];

            /// The reason as written in status.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$name => stringify!($name),)+
                }
            }
        }
    };
}

reasons! {
    // The image.
    /// `podConfig.containerImage` is used as given.
    ImageProvided,
    /// No image given or built: the default image, requirements installed at start.
    DefaultImage,
    /// A build was created (event).
    BuildStarted,
    /// The build runs.
    Building,
    /// The build pushed its image.
    BuildSucceeded,
    /// An image built before from the same inputs is used; nothing is built.
    ImageReused,
    /// Another job's build with the same inputs runs: this job waits for its image.
    WaitingForBuild,
    /// The build ended without an image.
    BuildFailed,
    /// The build was cancelled.
    BuildCancelled,
    /// The build ran longer than `buildConfig.timeout`.
    BuildTimeout,
    /// The registry refused the build's login, or asked for one the build did not have.
    RegistryLoginRefused,
    /// `buildConfig.pushSecret` names a Secret that does not exist.
    PushSecretNotFound,
    // Choosing a strategy.
    /// The strategy is not compiled into this operator.
    StrategyNotCompiled,
    /// The strategy is switched off in the operator's config.
    StrategyDisabled,
    /// The strategy's backend is not served by the cluster.
    StrategyUnavailable,
    /// `auto` found no strategy that fits the cluster.
    NoStrategyAvailable,
    /// The API server could not be asked what it serves.
    StrategyDetectionFailed,
    /// The strategy refused its configuration.
    InvalidStrategyConfig,
    // The validation pod.
    /// The validation pod was created and has not started.
    PodCreated,
    /// The notebook runs.
    Running,
    /// Every checked cell matched.
    Passed,
    /// The verdict of an earlier job with the same inputs was taken; no pod ran.
    ValidationReused,
    /// The job asked to reuse verdicts, but an input is not pinned (or no earlier job has the
    /// same inputs): the notebook runs.
    ValidationNotReused,
    /// A cell raised.
    NotebookFailed,
    /// Outputs differ from the golden notebook.
    OutputMismatch,
    /// The notebook or golden could not be read.
    InvalidNotebook,
    /// The runner ended with another outcome.
    ValidationFailed,
    /// An infrastructure failure of the pod is retried (event).
    ValidationRetry,
    /// The image could not be pulled.
    ImagePullFailed,
    /// The kubelet could not configure the container.
    PodConfigError,
    /// A git credentials Secret does not exist.
    CredentialsSecretNotFound,
    /// A volume's Secret or ConfigMap does not exist.
    VolumeNotFound,
    /// The repository could not be cloned.
    FetchSourceFailed,
    /// The runner could not be copied into the pod.
    RunnerInstallFailed,
    /// One of the job's own init containers (`podConfig.initContainers`) failed.
    InitContainerFailed,
    /// The pod was evicted.
    PodEvicted,
    /// The notebook ran out of memory.
    OutOfMemory,
    /// The runner left no result.
    ResultMissing,
    /// The runner's result could not be read.
    ResultUnreadable,
    /// The pod failed for a reason outside the notebook.
    InfrastructureError,
    /// The API server refused the validation pod as invalid.
    InvalidPod,
    // The job.
    /// The job succeeded.
    Succeeded,
    /// The job ran longer than `spec.timeout`.
    JobTimeout,
    /// The spec holds a value the operator refuses.
    InvalidSpec,
    /// An object is too large for the API server to store.
    ObjectTooLarge,
    /// The operator's role lacks a permission.
    Forbidden,
    /// A reconcile failed and is retried.
    ReconcileError,
    /// Reconciles kept failing until `spec.timeout`.
    ReconcileFailed,
    /// A reconcile went through after failed ones.
    Recovered,
    // Notebook images.
    /// A new round of a notebook image started: a new generation, a request or a moved source.
    RoundStarted,
    /// The image of a notebook image is being pulled and looked into.
    Inspecting,
    /// The imported or built image was pulled and looked into.
    ImageInspected,
    /// The image to import, or the base image, has a digest other than the one validated.
    SourceImageChanged,
    /// A pull secret (a NotebookImage's `imagePullSecret`, a pod's `imagePullSecrets` or the
    /// build's `pushSecret`) names a Secret that does not exist.
    PullSecretNotFound,
    /// The chosen build strategy cannot make this kind of build (one without a git source).
    BuildTypeNotSupported,
    /// The validation notebooks' jobs are running.
    ValidationRunning,
    /// Every validation notebook passed.
    ValidationPassed,
    /// The image was published.
    Published,
    /// Nothing was published: the round did not pass.
    NotPublished,
    // Suites.
    /// A suite's repository is being cloned and its notebooks listed.
    ListingNotebooks,
    /// The listing pod's log could not be read as a listing.
    ListingUnreadable,
    /// The notebooks a suite names cannot be selected: a bad glob, a missing path, none or too
    /// many matching.
    InvalidSelection,
    /// A suite's matrix has more cells than a suite may run.
    MatrixTooLarge,
    /// A matrix image names a NotebookImage that does not exist or has published nothing yet.
    WaitingForImage,
    /// A suite's jobs are running.
    SuiteRunning,
    /// Every job of a suite passed.
    SuitePassed,
    /// Every job of a suite ended, and at least one failed.
    SuiteFailed,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is no reason of the operator's (a backend's own, say).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a reason the operator writes")]
pub struct UnknownReason(String);

impl FromStr for Reason {
    type Err = UnknownReason;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|reason| reason.as_str() == s)
            .ok_or_else(|| UnknownReason(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_reads_back_from_its_name() {
        for reason in Reason::ALL {
            assert_eq!(reason.as_str().parse::<Reason>(), Ok(*reason));
        }
        assert!("FetchSourceFailedX".parse::<Reason>().is_err());
    }
}
