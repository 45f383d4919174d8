//! Golden-notebook comparison.
//!
//! [`notebook::parse`] reads an nbformat 4 notebook; a [`Comparator`] built from a
//! [`CompareConfig`] matches cells by index and reports every difference as an
//! [`nbv_report::Mismatch`] inside an [`nbv_report::Comparison`].

mod compare;
mod config;
mod excerpt;
#[doc(hidden)]
pub mod fuzz;
mod images;
mod nbval;
mod normalize;
pub mod notebook;
mod numbers;
mod outputs;
mod sanitize;
mod tables;

pub use compare::Comparator;
pub use config::{CompareConfig, ConfigError, Sanitizer, parse_sanitize_file};
pub use nbval::CellControl;
pub use notebook::{Notebook, NotebookError};
