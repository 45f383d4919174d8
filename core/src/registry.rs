//! Registering strategies at link time and finding them at run time.
//!
//! A strategy crate calls [`register_strategy!`](crate::register_strategy) once. Every strategy
//! crate linked into a binary is then listed by [`Registry::from_linked`], whatever crate calls
//! it. The collection happens when the binary is linked (through the `inventory` crate); strategy
//! authors never name that mechanism, so it can change without touching them.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::naming::is_dns_label;
use crate::{BuildStrategy, Tier};

/// Makes a strategy known to every binary it is linked into.
///
/// The argument is a function (or non-capturing closure) returning the boxed strategy; it runs
/// when a registry is built, not at start-up.
///
/// ```text
/// buildstrategy_api::register_strategy!(|| Box::new(MyStrategy::default()));
/// ```
#[macro_export]
macro_rules! register_strategy {
    ($factory:expr) => {
        $crate::__private::inventory::submit! {
            $crate::StrategyRegistration::new($factory, ::core::module_path!())
        }
    };
}

/// A registered strategy factory. Built by [`register_strategy!`](crate::register_strategy).
pub struct StrategyRegistration {
    factory: fn() -> Box<dyn BuildStrategy>,
    module: &'static str,
}

impl StrategyRegistration {
    /// A registration for `factory`, made in `module`.
    #[doc(hidden)]
    pub const fn new(factory: fn() -> Box<dyn BuildStrategy>, module: &'static str) -> Self {
        Self { factory, module }
    }
}

impl fmt::Debug for StrategyRegistration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StrategyRegistration")
            .field("module", &self.module)
            .finish_non_exhaustive()
    }
}

inventory::collect!(StrategyRegistration);

/// Why a set of strategies cannot form a registry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// Two strategies claim the same name.
    #[error(
        "two build strategies are named '{name}' (registered in {first} and {second}); strategy names must be unique — rename one of them or leave one crate out of the build"
    )]
    Duplicate {
        /// The name both use.
        name: String,
        /// Where the first was registered.
        first: String,
        /// Where the second was registered.
        second: String,
    },
    /// A strategy's name is not a lowercase DNS label.
    #[error(
        "build strategy name '{name}' (registered in {module}) is invalid: use lowercase letters, digits and '-', at most 63 characters"
    )]
    InvalidName {
        /// The name.
        name: String,
        /// Where it was registered.
        module: String,
    },
}

/// The strategies available to the operator, in a deterministic order: core first, then by
/// name.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    strategies: Vec<Arc<dyn BuildStrategy>>,
}

impl Registry {
    /// Every strategy linked into the running binary.
    pub fn from_linked() -> Result<Self, RegistryError> {
        Self::from_factories(
            inventory::iter::<StrategyRegistration>
                .into_iter()
                .map(|r| ((r.factory)(), r.module.to_owned())),
        )
    }

    /// A registry of the given strategies, each with the place it comes from (for messages).
    pub fn from_factories(
        strategies: impl IntoIterator<Item = (Box<dyn BuildStrategy>, String)>,
    ) -> Result<Self, RegistryError> {
        let mut by_name: BTreeMap<(Tier, &'static str), Arc<dyn BuildStrategy>> = BTreeMap::new();
        let mut seen: BTreeMap<&'static str, String> = BTreeMap::new();
        for (strategy, module) in strategies {
            let info = strategy.info();
            if !is_dns_label(info.name) {
                return Err(RegistryError::InvalidName {
                    name: info.name.to_owned(),
                    module,
                });
            }
            if let Some(first) = seen.get(info.name) {
                return Err(RegistryError::Duplicate {
                    name: info.name.to_owned(),
                    first: first.clone(),
                    second: module,
                });
            }
            seen.insert(info.name, module);
            by_name.insert((info.tier, info.name), Arc::from(strategy));
        }
        Ok(Self {
            strategies: by_name.into_values().collect(),
        })
    }

    /// The strategy called `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn BuildStrategy>> {
        self.strategies.iter().find(|s| s.info().name == name)
    }

    /// All strategies, core first, then by name.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn BuildStrategy>> {
        self.strategies.iter()
    }

    /// The names, in registry order.
    pub fn names(&self) -> Vec<&'static str> {
        self.strategies.iter().map(|s| s.info().name).collect()
    }

    /// How many strategies there are.
    pub fn len(&self) -> usize {
        self.strategies.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.strategies.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;

    #[derive(Debug)]
    struct Named(&'static str, Tier);

    #[async_trait]
    impl BuildStrategy for Named {
        fn info(&self) -> StrategyInfo {
            StrategyInfo::new(self.0, self.1, "test strategy")
        }
        fn render(&self, _: &BuildRequest) -> Result<RenderedBuild, StrategyError> {
            Err(StrategyError::not_supported_yet(self.0, Operation::Render))
        }
        fn map_status(&self, _: &DynamicObject) -> Result<BuildStatus, StrategyError> {
            Err(StrategyError::not_supported_yet(self.0, Operation::Status))
        }
    }

    fn entry(name: &'static str, tier: Tier, module: &str) -> (Box<dyn BuildStrategy>, String) {
        (Box::new(Named(name, tier)), module.to_owned())
    }

    #[test]
    fn order_is_core_first_then_by_name() {
        let registry = Registry::from_factories([
            entry("zeta", Tier::Community, "z"),
            entry("s2i", Tier::Core, "s"),
            entry("alpha", Tier::Community, "a"),
        ])
        .expect("valid");
        assert_eq!(registry.names(), ["s2i", "alpha", "zeta"]);
        assert!(registry.get("alpha").is_some());
        assert!(registry.get("missing").is_none());
    }

    #[test]
    fn duplicate_names_are_refused_naming_both_places() {
        let err = Registry::from_factories([
            entry("kaniko", Tier::Community, "crate_a"),
            entry("kaniko", Tier::Community, "crate_b"),
        ])
        .expect_err("duplicate");
        let message = err.to_string();
        assert!(
            message.contains("'kaniko'")
                && message.contains("crate_a")
                && message.contains("crate_b"),
            "{message}"
        );
    }

    #[test]
    fn invalid_names_are_refused() {
        let err = Registry::from_factories([entry("Bad Name", Tier::Community, "m")])
            .expect_err("invalid");
        assert!(matches!(err, RegistryError::InvalidName { .. }));
    }
}
