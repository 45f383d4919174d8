//! Failures that stop a run before a verdict on the notebook can be reached.

use nbv_report::Outcome;

/// A run that could not produce a notebook verdict, classified for the exit code.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RunError {
    /// The notebook, golden notebook, parameters or configuration are unusable.
    #[error("{0}")]
    InvalidInput(String),
    /// The environment failed: Python, kernel, installation, timeout, I/O.
    #[error("{0}")]
    Infrastructure(String),
}

impl RunError {
    pub(crate) fn outcome(&self) -> Outcome {
        match self {
            Self::InvalidInput(_) => Outcome::InvalidInput,
            Self::Infrastructure(_) => Outcome::InfrastructureError,
        }
    }
}

pub(crate) fn infra(message: impl Into<String>) -> RunError {
    RunError::Infrastructure(message.into())
}

pub(crate) fn invalid(message: impl Into<String>) -> RunError {
    RunError::InvalidInput(message.into())
}
