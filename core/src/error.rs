//! Errors a strategy returns. Every message says what went wrong and what to do next.

use std::fmt;

/// The strategy operations, named in errors so a user knows which step failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// Checking whether the backend is installed in the cluster.
    Detect,
    /// Ensuring the cluster prerequisites.
    Setup,
    /// Rendering the backend resources for a request.
    Render,
    /// Creating the build.
    Create,
    /// Reading the build's status.
    Status,
    /// Reading the built image reference.
    Image,
    /// Fetching the build log.
    Logs,
    /// Cancelling a running build.
    Cancel,
    /// Deleting what the build created.
    Delete,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Detect => "detect",
            Self::Setup => "setup",
            Self::Render => "render",
            Self::Create => "create build",
            Self::Status => "build status",
            Self::Image => "built image",
            Self::Logs => "build logs",
            Self::Cancel => "cancel build",
            Self::Delete => "delete build",
        })
    }
}

/// An error from a build strategy.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StrategyError {
    /// The operation exists in the interface but this strategy does not implement it yet.
    #[error(
        "build strategy '{strategy}' does not support '{operation}' yet; choose another strategy in spec.podConfig.buildConfig.strategy or provide spec.podConfig.containerImage"
    )]
    NotSupportedYet {
        /// The strategy's name.
        strategy: String,
        /// What was asked of it.
        operation: Operation,
    },

    /// `strategyConfig` (or another request field) is invalid for this strategy.
    #[error("invalid {field} for build strategy '{strategy}': {reason}")]
    InvalidConfig {
        /// The strategy's name.
        strategy: String,
        /// The offending field, as a user writes it (e.g. `strategyConfig.pipelineRef`).
        field: String,
        /// Why it is invalid and what is accepted instead.
        reason: String,
    },

    /// The backend object the strategy expected is gone.
    #[error(
        "{kind} '{name}' of build strategy '{strategy}' was not found; it may have been deleted outside the operator"
    )]
    NotFound {
        /// The strategy's name.
        strategy: String,
        /// The object's kind.
        kind: String,
        /// The object's name.
        name: String,
    },

    /// The backend object exists but does not say what the strategy needs.
    #[error("build strategy '{strategy}' could not read the backend's answer: {message}")]
    Backend {
        /// The strategy's name.
        strategy: String,
        /// What was wrong with it.
        message: String,
    },

    /// An object the strategy rendered is too large for the API server to store.
    #[error(
        "{kind} '{name}' of build strategy '{strategy}' is {bytes} bytes as JSON, more than the {limit} bytes the API server stores; shorten the fields it carries (packages, dockerfile, strategyConfig)",
        limit = crate::resources::MAX_OBJECT_BYTES
    )]
    TooLarge {
        /// The strategy's name.
        strategy: String,
        /// The object's kind.
        kind: String,
        /// The object's name.
        name: String,
        /// Its size as JSON.
        bytes: usize,
    },

    /// A call to the Kubernetes API failed.
    #[error("build strategy '{strategy}' failed to {operation}: {source}")]
    Kube {
        /// The strategy's name.
        strategy: String,
        /// What it was doing.
        operation: Operation,
        /// The client error, with the API server's status when there is one.
        #[source]
        source: kube::Error,
    },
}

impl StrategyError {
    /// A typed "not supported yet" error: an unfinished operation never pretends success.
    pub fn not_supported_yet(strategy: impl Into<String>, operation: Operation) -> Self {
        Self::NotSupportedYet {
            strategy: strategy.into(),
            operation,
        }
    }

    /// An invalid-configuration error naming the field and the reason.
    pub fn invalid_config(
        strategy: impl Into<String>,
        field: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Self::InvalidConfig {
            strategy: strategy.into(),
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// An error reading the backend's objects.
    pub fn backend(strategy: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Backend {
            strategy: strategy.into(),
            message: message.into(),
        }
    }

    /// Wraps a client error with the strategy and operation it came from.
    pub fn kube(strategy: impl Into<String>, operation: Operation, source: kube::Error) -> Self {
        Self::Kube {
            strategy: strategy.into(),
            operation,
            source,
        }
    }

    /// Whether retrying the same call later may succeed (API hiccups, conflicts, throttling).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Kube { source, .. } => match source {
                kube::Error::Api(status) => matches!(status.code, 409 | 429 | 500..=599),
                kube::Error::Service(_) | kube::Error::HyperError(_) => true,
                _ => false,
            },
            _ => false,
        }
    }
}
