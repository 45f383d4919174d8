//! The strategies of this build, which of them are switched on, and choosing one for a job.

use std::sync::Arc;

use buildstrategy_api::{BuildStrategy, Registry, RegistryError, Tier};
use serde::Serialize;

use crate::config::EnabledStrategies;
use crate::reason::Reason;
use crate::registration;

/// Why a job's strategy cannot be used. Each variant is a distinct condition reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectionError {
    /// The strategy is not in this binary.
    #[error("{}", not_compiled_message(.name, .compiled))]
    NotCompiled {
        /// The requested name.
        name: String,
        /// What is compiled in.
        compiled: Vec<String>,
    },
    /// The strategy is compiled in but the operator config does not switch it on.
    #[error(
        "build strategy '{name}' is compiled into this operator but disabled; add '{name}' to enabledBuildStrategies in the operator config (ConfigMap), or set NBV_ENABLED_BUILD_STRATEGIES or --enable-strategy {name}"
    )]
    Disabled {
        /// The requested name.
        name: String,
    },
}

impl SelectionError {
    /// The condition reason for this error.
    pub fn reason(&self) -> Reason {
        match self {
            Self::NotCompiled { .. } => Reason::StrategyNotCompiled,
            Self::Disabled { .. } => Reason::StrategyDisabled,
        }
    }
}

fn not_compiled_message(name: &str, compiled: &[String]) -> String {
    let compiled = compiled.join(", ");
    match registration::cargo_feature(name) {
        Some(feature) => format!(
            "build strategy '{name}' is not compiled into this operator (compiled: {compiled}); use an operator image built with Cargo feature '{feature}' (or 'community'), or choose one of the compiled strategies"
        ),
        None => format!(
            "unknown build strategy '{name}' (compiled: {compiled}); check the spelling, or build the operator with the crate that provides it"
        ),
    }
}

/// One row of `nbv-operator strategies`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StrategyRow {
    /// Name.
    pub name: String,
    /// Support tier (core, community), when compiled in.
    pub tier: Option<String>,
    /// Runtime feature flag.
    pub feature_flag: String,
    /// Cargo feature, for in-tree strategies.
    pub cargo_feature: Option<String>,
    /// Whether it is in this binary.
    pub compiled: bool,
    /// Whether the operator config switches it on.
    pub enabled: bool,
    /// Its rank for `auto` (lowest tried first), `None` when `auto` never chooses it.
    pub auto_rank: Option<u16>,
    /// One line.
    pub description: String,
}

/// The strategies of this binary with their runtime switches.
#[derive(Debug, Clone)]
pub struct Catalog {
    registry: Registry,
    enabled: EnabledStrategies,
}

impl Catalog {
    /// The catalog of every strategy linked into this binary.
    pub fn linked(enabled: EnabledStrategies) -> Result<Self, RegistryError> {
        Ok(Self::new(Registry::from_linked()?, enabled))
    }

    /// A catalog of `registry`.
    pub fn new(registry: Registry, enabled: EnabledStrategies) -> Self {
        Self { registry, enabled }
    }

    /// The strategy `name`, if it is compiled in and switched on.
    pub fn select(&self, name: &str) -> Result<&Arc<dyn BuildStrategy>, SelectionError> {
        let strategy = self
            .registry
            .get(name)
            .ok_or_else(|| SelectionError::NotCompiled {
                name: name.to_owned(),
                compiled: self
                    .registry
                    .names()
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
            })?;
        if strategy.info().tier == Tier::Core || self.enabled.contains(name) {
            Ok(strategy)
        } else {
            Err(SelectionError::Disabled {
                name: name.to_owned(),
            })
        }
    }

    /// Every compiled strategy, then the in-tree ones that are not compiled.
    pub fn rows(&self) -> Vec<StrategyRow> {
        let mut rows: Vec<StrategyRow> = self
            .registry
            .iter()
            .map(|strategy| {
                let info = strategy.info();
                StrategyRow {
                    name: info.name.to_owned(),
                    tier: Some(info.tier.to_string()),
                    feature_flag: info.feature_flag(),
                    cargo_feature: registration::cargo_feature(info.name).map(str::to_owned),
                    compiled: true,
                    enabled: self.select(info.name).is_ok(),
                    auto_rank: match info.auto {
                        buildstrategy_api::AutoRank::Rank(rank) => Some(rank),
                        _ => None,
                    },
                    description: info.description.to_owned(),
                }
            })
            .collect();
        for (name, feature) in registration::IN_TREE {
            if self.registry.get(name).is_none() {
                rows.push(StrategyRow {
                    name: name.to_owned(),
                    tier: None,
                    feature_flag: format!("{}{name}", crate::config::FLAG_PREFIX),
                    cargo_feature: Some(feature.to_owned()),
                    compiled: false,
                    enabled: false,
                    auto_rank: None,
                    description: format!("not compiled in (Cargo feature '{feature}')"),
                });
            }
        }
        rows
    }

    /// The registry behind the catalog.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}
