//! Step 2: choose the build strategy — the one the job names, or with `auto` the first that
//! fits this cluster, in the order the strategies' declared ranks give.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use buildstrategy_api::{
    AutoRank, Availability, BuildContext, BuildRequest, BuildStrategy, Registry, StrategyError,
    Support,
};
use kube::Client;

use crate::catalog::{Catalog, SelectionError};
use crate::reason::Reason;

/// The strategies `auto` may choose, in the order it tries them: by the rank each declares
/// ([`AutoRank`]), then by name.
pub fn auto_order(registry: &Registry) -> Vec<&Arc<dyn BuildStrategy>> {
    let mut ranked: Vec<(u16, &Arc<dyn BuildStrategy>)> = registry
        .iter()
        .filter_map(|strategy| match strategy.info().auto {
            AutoRank::Rank(rank) => Some((rank, strategy)),
            _ => None,
        })
        .collect();
    ranked.sort_by_key(|(rank, strategy)| (*rank, strategy.info().name));
    ranked.into_iter().map(|(_, strategy)| strategy).collect()
}

/// How long a detection result is trusted before the API server is asked again.
const DETECTION_TTL: Duration = Duration::from_secs(120);

/// The chosen strategy and why.
#[derive(Debug, Clone)]
pub struct Choice {
    /// The strategy.
    pub strategy: Arc<dyn BuildStrategy>,
    /// A sentence for the condition message.
    pub why: String,
}

/// Why no strategy can build the job. Each variant is a distinct condition reason.
#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    /// Not compiled in, or disabled.
    #[error(transparent)]
    Selection(#[from] SelectionError),
    /// Its backend is missing from the cluster.
    #[error("build strategy '{name}' cannot run in this cluster: {missing}")]
    Unavailable {
        /// The strategy.
        name: String,
        /// What is missing.
        missing: String,
    },
    /// Its configuration is wrong.
    #[error(transparent)]
    InvalidConfig(StrategyError),
    /// `auto` found nothing usable.
    #[error("no build strategy fits this cluster: {0}")]
    NoneAvailable(String),
    /// The build has no git source and the strategy builds only from one.
    #[error("build strategy '{name}' builds only from a git source, and this build has none (a base image plus a package list); use a strategy that builds without one{}", able_list(.able))]
    NeedsGitSource {
        /// The strategy.
        name: String,
        /// The compiled-in strategies that can.
        able: Vec<String>,
    },
    /// The API server could not be asked.
    #[error(transparent)]
    Detect(StrategyError),
}

impl SelectError {
    /// The condition reason.
    pub fn reason(&self) -> Reason {
        match self {
            Self::Selection(e) => e.reason(),
            Self::Unavailable { .. } => Reason::StrategyUnavailable,
            Self::InvalidConfig(_) => Reason::InvalidStrategyConfig,
            Self::NoneAvailable(_) => Reason::NoStrategyAvailable,
            Self::NeedsGitSource { .. } => Reason::BuildTypeNotSupported,
            Self::Detect(_) => Reason::StrategyDetectionFailed,
        }
    }

    /// Whether trying again later may help.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Detect(e) if e.is_transient())
    }
}

fn able_list(able: &[String]) -> String {
    if able.is_empty() {
        " (none is compiled into this operator)".to_owned()
    } else {
        format!(" ({})", able.join(", "))
    }
}

/// Whether `strategy` can build `request`'s context.
fn builds_context(strategy: &dyn BuildStrategy, request: &BuildRequest) -> bool {
    request.context == BuildContext::Git || strategy.capabilities().empty_context != Support::No
}

/// Remembers which backends the cluster serves, so discovery is not repeated on every reconcile.
#[derive(Debug, Default)]
pub struct DetectionCache {
    entries: Mutex<HashMap<&'static str, (Instant, Availability)>>,
}

impl DetectionCache {
    async fn detect(
        &self,
        client: &Client,
        strategy: &dyn BuildStrategy,
    ) -> Result<Availability, SelectError> {
        let name = strategy.info().name;
        if let Some((at, availability)) =
            self.entries.lock().ok().and_then(|e| e.get(name).cloned())
            && at.elapsed() < DETECTION_TTL
        {
            return Ok(availability);
        }
        let availability = strategy.detect(client).await.map_err(SelectError::Detect)?;
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(name, (Instant::now(), availability.clone()));
        }
        Ok(availability)
    }
}

/// Chooses the strategy for `requested` (a name, or `auto`) and checks the request against it.
pub async fn choose(
    catalog: &Catalog,
    cache: &DetectionCache,
    client: &Client,
    requested: &str,
    pinned: Option<&str>,
    request: &BuildRequest,
) -> Result<Choice, SelectError> {
    // A build under way keeps the strategy that started it: a change in detection or in the
    // operator's config must never start a second build with another one.
    let choice = if let Some(name) = pinned {
        let why = if requested == name {
            format!("build strategy '{name}' was requested")
        } else if requested == super::build_request::AUTO {
            format!("'auto' chose '{name}' when the build started")
        } else {
            format!(
                "build strategy '{name}' started the build; '{requested}', asked for since, would need a new job (a build keeps its strategy)"
            )
        };
        Choice {
            strategy: catalog.select(name)?.clone(),
            why,
        }
    } else if requested == super::build_request::AUTO {
        choose_auto(catalog, cache, client, request).await?
    } else {
        let strategy = catalog.select(requested)?.clone();
        if let Availability::Missing(missing) = cache.detect(client, strategy.as_ref()).await? {
            return Err(SelectError::Unavailable {
                name: requested.to_owned(),
                missing,
            });
        }
        Choice {
            strategy,
            why: format!("build strategy '{requested}' was requested"),
        }
    };
    if !builds_context(choice.strategy.as_ref(), request) {
        return Err(SelectError::NeedsGitSource {
            name: choice.strategy.info().name.to_owned(),
            able: catalog
                .registry()
                .iter()
                .filter(|s| builds_context(s.as_ref(), request))
                .map(|s| s.info().name.to_owned())
                .collect(),
        });
    }
    choice
        .strategy
        .validate_config(request)
        .map_err(SelectError::InvalidConfig)?;
    Ok(choice)
}

async fn choose_auto(
    catalog: &Catalog,
    cache: &DetectionCache,
    client: &Client,
    request: &BuildRequest,
) -> Result<Choice, SelectError> {
    let order = auto_order(catalog.registry());
    let mut skipped = Vec::new();
    for candidate in &order {
        let name = candidate.info().name;
        if !builds_context(candidate.as_ref(), request) {
            skipped.push(format!("{name}: builds only from a git source"));
            continue;
        }
        let strategy = match catalog.select(name) {
            Ok(strategy) => strategy.clone(),
            Err(e) => {
                skipped.push(format!("{name}: {}", short(&e)));
                continue;
            }
        };
        match cache.detect(client, strategy.as_ref()).await? {
            Availability::Available => {
                let why = if skipped.is_empty() {
                    let order: Vec<&str> = order.iter().map(|s| s.info().name).collect();
                    format!(
                        "'auto' chose '{name}', the first in the order {}",
                        order.join(" > ")
                    )
                } else {
                    format!("'auto' chose '{name}' (skipped {})", skipped.join("; "))
                };
                return Ok(Choice { strategy, why });
            }
            Availability::Missing(missing) => skipped.push(format!("{name}: {missing}")),
            _ => skipped.push(format!("{name}: unavailable")),
        }
    }
    if order.is_empty() {
        skipped.push("no compiled-in strategy declares a rank for 'auto'".to_owned());
    }
    Err(SelectError::NoneAvailable(skipped.join("; ")))
}

fn short(e: &SelectionError) -> &'static str {
    match e {
        SelectionError::NotCompiled { .. } => "not compiled in",
        SelectionError::Disabled { .. } => "disabled in the operator config",
    }
}

#[cfg(test)]
mod tests {
    use buildstrategy_api::{BuildStatus, RenderedBuild, StrategyInfo, Tier};
    use kube::api::DynamicObject;

    use super::*;

    #[derive(Debug)]
    struct Ranked(&'static str, Option<u16>);

    impl BuildStrategy for Ranked {
        fn info(&self) -> StrategyInfo {
            let info = StrategyInfo::new(self.0, Tier::Community, "test");
            match self.1 {
                Some(rank) => info.with_auto_rank(rank),
                None => info,
            }
        }
        fn render(&self, _: &BuildRequest) -> Result<RenderedBuild, StrategyError> {
            Err(StrategyError::backend(self.0, "not rendered in this test"))
        }
        fn map_status(&self, _: &DynamicObject) -> Result<BuildStatus, StrategyError> {
            Err(StrategyError::backend(self.0, "not read in this test"))
        }
    }

    #[derive(Debug)]
    struct Sourceless;

    impl BuildStrategy for Sourceless {
        fn info(&self) -> StrategyInfo {
            StrategyInfo::new("sourceless", Tier::Community, "test")
        }
        fn capabilities(&self) -> buildstrategy_api::Capabilities {
            let mut declared = buildstrategy_api::Capabilities::undeclared();
            declared.empty_context = Support::Yes;
            declared
        }
        fn render(&self, _: &BuildRequest) -> Result<RenderedBuild, StrategyError> {
            Err(StrategyError::backend(
                "sourceless",
                "not rendered in this test",
            ))
        }
        fn map_status(&self, _: &DynamicObject) -> Result<BuildStatus, StrategyError> {
            Err(StrategyError::backend(
                "sourceless",
                "not read in this test",
            ))
        }
    }

    #[test]
    fn only_strategies_that_say_so_build_without_a_git_source() {
        let git = BuildRequest::new(
            "ns",
            "b",
            buildstrategy_api::GitSource::new("https://h/r.git"),
        );
        let empty = git.clone().without_source();
        assert!(builds_context(&Ranked("git-only", None), &git));
        assert!(!builds_context(&Ranked("git-only", None), &empty));
        assert!(builds_context(&Sourceless, &empty));
        let refused = SelectError::NeedsGitSource {
            name: "s2i".into(),
            able: vec!["buildah".into(), "kaniko".into()],
        };
        assert_eq!(refused.reason(), Reason::BuildTypeNotSupported);
        assert!(
            refused.to_string().ends_with("(buildah, kaniko)"),
            "{refused}"
        );
    }

    #[test]
    fn auto_follows_the_declared_ranks_and_skips_the_undeclared() {
        let registry = Registry::from_factories(
            [
                Ranked("zeta", Some(100)),
                Ranked("late", Some(900)),
                Ranked("manual", None),
                Ranked("alpha", Some(100)),
                Ranked("middle", Some(450)),
            ]
            .map(|s| (Box::new(s) as Box<dyn BuildStrategy>, "tests".to_owned())),
        )
        .expect("a registry");
        let order: Vec<&str> = auto_order(&registry)
            .iter()
            .map(|s| s.info().name)
            .collect();
        assert_eq!(order, ["alpha", "zeta", "middle", "late"]);
    }
}
