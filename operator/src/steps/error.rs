//! The errors that make a reconcile retry.

use super::select;

/// Errors that make a reconcile retry with backoff. Failures of the job itself are not errors:
/// they are written to its status.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Kubernetes call failed.
    #[error("{action}: {source}")]
    Kube {
        /// What the operator was doing.
        action: &'static str,
        /// The client error.
        #[source]
        source: kube::Error,
    },
    /// A strategy call failed.
    #[error(transparent)]
    Strategy(buildstrategy_api::StrategyError),
    /// Strategy detection failed.
    #[error(transparent)]
    Select(select::SelectError),
    /// The finalizer could not be added or removed.
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
    /// A report could not be written.
    #[error("writing a report: {0}")]
    Report(#[source] std::io::Error),
}

impl Error {
    pub(crate) fn kube(action: &'static str) -> impl FnOnce(kube::Error) -> Self {
        move |source| Self::Kube { action, source }
    }

    /// A short machine-readable kind, for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Kube { .. } => "kube",
            Self::Strategy(_) => "strategy",
            Self::Select(_) => "select",
            Self::Finalizer(_) => "finalizer",
            Self::Report(_) => "report",
        }
    }

    /// The API server's message when it refused a call for lack of permission (403). It names
    /// the verb, resource and API group the operator's role is missing.
    pub fn forbidden(&self) -> Option<&str> {
        let source = match self {
            Self::Kube { source, .. }
            | Self::Strategy(buildstrategy_api::StrategyError::Kube { source, .. }) => source,
            _ => return None,
        };
        match source {
            // An exhausted quota is refused with 403 too, but it is no missing permission and
            // may clear: it is retried like any other error.
            kube::Error::Api(status)
                if status.code == 403
                    && !status.message.contains("exceeded quota")
                    && !status.message.contains("status unknown for quota") =>
            {
                Some(&status.message)
            }
            _ => None,
        }
    }
}
