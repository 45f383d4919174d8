//! The notebook validator operator as a library: the `NotebookValidationJob` API, the operator
//! configuration, and the build strategies compiled into this build.
//!
//! The `nbv-operator` binary is a thin command line over this library, so a distribution can
//! build its own binary from the library plus out-of-tree strategy crates.
//!
//! ## Cargo features
//! - `s2i` (default): OpenShift Source-to-Image, the core strategy.
//! - `tekton`, `kaniko`, `shipwright`, `buildah`, `buildkit`: one community strategy each.
//! - `community`: all five community strategies.

pub mod catalog;
pub mod cli;
pub mod config;
pub mod controller;
pub mod crd;
pub mod docs;
pub mod duration;
mod fanout;
pub mod health;
pub mod identity;
pub mod image;
pub mod labels;
pub mod leader;
pub mod metrics;
pub mod monitoring;
pub mod rbac;
pub mod reason;
pub mod reconcile;
pub mod registration;
pub mod steps;
pub mod suite;
