//! The steps every controller shares, and what they share: the [`Context`] of a reconcile, its
//! [`Error`]s, the [`Progress`] a step reports, how a step records an event or a failure
//! (`record`), the status both resources keep ([`status`]), and the one reconcile
//! [`skeleton`] each controller plugs its own steps into.
//!
//! The build step ([`build`]: [`select`] a strategy, [`reuse`] an image built from the same
//! inputs, drive the build, explain a refused registry login with [`registry_login`]) and the
//! pod steps ([`pod_lifecycle`], [`outcome`]) serve the job controller (`reconcile`) and the
//! notebook image controller (`image`) alike. Arrows run one way: controllers use this room,
//! this room uses the API types (`crd`), and nothing here names a controller.

pub mod build;
pub mod build_request;
mod context;
mod error;
pub(crate) mod git_clone;
pub mod listing;
pub mod outcome;
pub mod pod_lifecycle;
mod progress;
mod record;
pub mod registry_login;
pub mod reuse;
pub mod select;
pub mod skeleton;
pub mod status;

pub use self::context::Context;
pub use self::error::Error;
pub use self::progress::Progress;
