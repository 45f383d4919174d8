//! What a step reports.

use std::time::Duration;

/// What a step reached.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress<T> {
    /// Done, with its product.
    Done(T),
    /// Waiting on the cluster; a watch event wakes the job, or the timer when given.
    Waiting(Option<Duration>),
    /// The job ended (status says how).
    Ended,
}
