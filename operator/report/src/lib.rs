//! Result types of the notebook validation runner.
//!
//! Two documents are produced per run:
//! - a [`Summary`], small enough for the container termination message
//!   (see [`Summary::to_bounded_json`]), which the operator copies into the
//!   resource status;
//! - a full [`Report`], written to a file, with every cell and every mismatch.
//!
//! Both carry [`SCHEMA_VERSION`] so readers can reject documents they do not understand.

mod bounded;
mod comparison;
pub mod inputs;
mod parse;
mod report;
mod schema;
mod summary;
mod text;

pub use bounded::BoundError;
pub use comparison::{
    CellType, Comparison, ComparisonOutcome, DiffKind, Mismatch, Strategy, Totals,
};
pub use inputs::PodInputs;
pub use parse::ParseError;
pub use report::{
    CellError, CellReport, CellStatus, GeneratedRequirements, Outcome, Report, StopReason, Stopped,
};
pub use schema::{report_schema, summary_schema};
pub use summary::{
    CellResult, ComparisonSummary, Diff, GENERATED_REQUIREMENTS_SHOWN, Summary, Truncation,
};
pub use text::{format_duration, truncate_chars, xml_text};

/// Version of the summary and report documents; bumped on incompatible changes.
pub const SCHEMA_VERSION: u32 = 1;

/// Size limit Kubernetes applies to a container termination message.
pub const TERMINATION_MESSAGE_LIMIT: usize = 4096;
