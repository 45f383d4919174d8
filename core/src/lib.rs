//! # buildstrategy-api
//!
//! The stable interface between the notebook validator operator and the strategies that build
//! container images for notebooks. A strategy is a crate that implements [`BuildStrategy`] and
//! registers itself with [`register_strategy!`]; the operator collects every strategy linked into
//! its binary through [`Registry::from_linked`]. Strategy crates depend on this crate only, never
//! on the operator.
//!
//! ```
//! use buildstrategy_api::prelude::*;
//!
//! #[derive(Debug, Default)]
//! struct Example;
//!
//! #[async_trait]
//! impl BuildStrategy for Example {
//!     fn info(&self) -> StrategyInfo {
//!         StrategyInfo::new("example", Tier::Community, "Builds nothing, for documentation.")
//!     }
//!     fn render(&self, request: &BuildRequest) -> Result<RenderedBuild, StrategyError> {
//!         Err(StrategyError::not_supported_yet("example", Operation::Render))
//!     }
//!     fn map_status(&self, primary: &DynamicObject) -> Result<BuildStatus, StrategyError> {
//!         Err(StrategyError::not_supported_yet("example", Operation::Status))
//!     }
//! }
//!
//! buildstrategy_api::register_strategy!(|| Box::new(Example));
//! ```
//!
//! ## Cargo features
//! - `testkit`: the conformance kit ([`testkit`]) that every strategy crate runs from its tests.
//!
//! ## Stability policy
//! This crate follows semantic versioning, checked in CI against the last release. While the
//! version is `0.x`, a minor bump may break, and a patch bump never does. From `1.0` on:
//! - **Breaking** (major bump): removing or renaming a public item; changing a method signature
//!   or a trait method without a default body; changing the meaning of an existing field or error
//!   variant; adding a field to a struct or a variant to an enum that is *not*
//!   `#[non_exhaustive]`; raising the minimum supported Rust version beyond the workspace's.
//! - **Not breaking**: new trait methods *with default bodies*; new fields on `#[non_exhaustive]`
//!   structs (built through their constructors and `with_*` methods); new variants of
//!   `#[non_exhaustive]` enums; new helper modules; better error messages.
//! - Types that will grow ([`BuildRequest`], [`BuildStatus`], [`StrategyInfo`], [`StrategyError`],
//!   [`BuildPhase`], ...) are `#[non_exhaustive]`: match them with a wildcard arm and build them
//!   with their constructors.
//! - Strategies must not rely on the registration mechanism (currently link-time collection);
//!   they only call [`register_strategy!`].

pub mod capabilities;
pub mod dockerfile;
pub mod error;
pub mod git;
pub mod naming;
pub mod pod_build;
pub mod pod_logs;
pub mod rbac;
pub mod registry;
pub mod request;
pub mod resources;
pub mod status;
pub mod strategy;
pub mod succeeded_condition;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use capabilities::{Capabilities, Support};
pub use error::{Operation, StrategyError};
pub use registry::{Registry, RegistryError, StrategyRegistration};
pub use request::{BuildContext, BuildRequest, GitSource, Requirements};
pub use resources::{RenderedBuild, SetupStep};
pub use status::{Availability, BuildPhase, BuildStatus, ImageReference, LogTail};
pub use strategy::{AutoRank, BuildStrategy, StrategyInfo, Tier};

/// Everything a strategy crate usually needs, in one import.
pub mod prelude {
    pub use crate::{
        AutoRank, Availability, BuildContext, BuildPhase, BuildRequest, BuildStatus, BuildStrategy,
        Capabilities, GitSource, ImageReference, LogTail, Operation, RenderedBuild, Requirements,
        SetupStep, StrategyError, StrategyInfo, Support, Tier,
    };
    pub use async_trait::async_trait;
    pub use k8s_openapi::api::rbac::v1::PolicyRule;
    pub use kube::api::DynamicObject;
    pub use kube::core::{ApiResource, GroupVersionKind};
}

/// Not public API: what [`register_strategy!`] expands to. Strategy crates never name it.
#[doc(hidden)]
pub mod __private {
    pub use inventory;
}
