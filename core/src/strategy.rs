//! The [`BuildStrategy`] trait and the description every strategy gives of itself.

use std::fmt;

use async_trait::async_trait;
use k8s_openapi::api::rbac::v1::PolicyRule;
use kube::Client;
use kube::api::DynamicObject;
use kube::core::GroupVersionKind;

use crate::resources::{self, RenderedBuild, SetupStep};
use crate::{
    Availability, BuildRequest, BuildStatus, ImageReference, LogTail, Operation, StrategyError,
};

/// The support tier of a strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Tier {
    /// Maintained with the operator, covered by its release testing.
    Core,
    /// Contributed and maintained by the community; see docs/community.
    Community,
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Core => "core",
            Self::Community => "community",
        })
    }
}

/// Whether `buildConfig.strategy: auto` may choose a strategy, and in which order.
///
/// `auto` tries the candidates by rank, lowest first (ties by name), and takes the first whose
/// backend the cluster serves. The in-tree strategies use: 100 S2I, 200 Tekton, 300 Shipwright
/// (build systems a cluster already runs), 400 Buildah, 500 BuildKit (single build pods, least
/// privileged first), 900 Kaniko (archived upstream). Pick a rank that says where yours fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum AutoRank {
    /// A candidate for `auto` at this rank.
    Rank(u16),
    /// Never chosen by `auto`: users name it in `buildConfig.strategy`.
    Never,
}

/// What a strategy says of itself.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StrategyInfo {
    /// The name users write in `buildConfig.strategy`: lowercase letters, digits and `-`.
    pub name: &'static str,
    /// Its support tier.
    pub tier: Tier,
    /// One line saying what it builds with.
    pub description: &'static str,
    /// Whether, and when, `auto` chooses it; [`AutoRank::Never`] unless declared.
    pub auto: AutoRank,
}

impl StrategyInfo {
    /// Describes a strategy that `auto` never chooses; see [`with_auto_rank`](Self::with_auto_rank).
    pub const fn new(name: &'static str, tier: Tier, description: &'static str) -> Self {
        Self {
            name,
            tier,
            description,
            auto: AutoRank::Never,
        }
    }

    /// Makes the strategy a candidate for `auto` at `rank` (see [`AutoRank`]).
    #[must_use]
    pub const fn with_auto_rank(mut self, rank: u16) -> Self {
        self.auto = AutoRank::Rank(rank);
        self
    }

    /// The runtime feature flag that switches the strategy on: `build.strategy.<name>`.
    pub fn feature_flag(&self) -> String {
        format!("build.strategy.{}", self.name)
    }
}

/// A container-image build backend.
///
/// Implementors provide [`info`](Self::info), [`render`](Self::render) and
/// [`map_status`](Self::map_status); the other methods have default bodies that fit a backend
/// whose build is a set of Kubernetes objects applied together, with one *primary* object whose
/// status tells how the build goes. Override what your backend does differently.
///
/// Every operation is idempotent: the operator calls them again after restarts and on every
/// reconcile, and the same [`BuildRequest`] always designates the same build.
#[async_trait]
pub trait BuildStrategy: Send + Sync + fmt::Debug {
    /// Name, tier and description.
    fn info(&self) -> StrategyInfo;

    /// Checks the strategy-specific parts of a request up front, naming the field and the fix.
    /// The default accepts no `strategyConfig` keys.
    fn validate_config(&self, request: &BuildRequest) -> Result<(), StrategyError> {
        request.reject_unknown_config_keys(self.info().name, &[])
    }

    /// What the strategy supports, for the documentation's parity matrix. The default declares
    /// nothing.
    fn capabilities(&self) -> crate::Capabilities {
        crate::Capabilities::undeclared()
    }

    /// The JSON Schema of the strategy's `strategyConfig` (for a struct read with
    /// [`BuildRequest::config`], `schemars::schema_for!(Config).to_value()`), from which its
    /// documentation page is generated. `None`: undocumented.
    fn config_schema(&self) -> Option<serde_json::Value> {
        None
    }

    /// The RBAC rules the operator needs to run this strategy, no wildcards.
    fn rbac_rules(&self) -> Vec<PolicyRule> {
        Vec::new()
    }

    /// The API kinds that must be served for this strategy to work; [`detect`](Self::detect)
    /// checks them through discovery.
    fn required_kinds(&self) -> Vec<GroupVersionKind> {
        Vec::new()
    }

    /// The kinds of the objects whose status changes mean the build progressed (the primary
    /// objects), so the operator watches them instead of polling. Pods need not be listed: the
    /// operator always watches the pods it owns.
    fn watched_kinds(&self) -> Vec<GroupVersionKind> {
        Vec::new()
    }

    /// Whether the backend can run builds in this cluster.
    async fn detect(&self, client: &Client) -> Result<Availability, StrategyError> {
        let name = self.info().name;
        for gvk in self.required_kinds() {
            let served = resources::kind_is_served(client, &gvk)
                .await
                .map_err(|e| StrategyError::kube(name, Operation::Detect, e))?;
            if !served {
                return Ok(Availability::Missing(format!(
                    "{} {} is not served by the API server; install the backend or choose another strategy",
                    gvk.api_version(),
                    gvk.kind
                )));
            }
        }
        Ok(Availability::Available)
    }

    /// The cluster objects that must exist before a build in `namespace` can run (a service
    /// account, a Tekton Task, ...), in the order they are applied.
    fn setup_steps(&self, request: &BuildRequest) -> Result<Vec<SetupStep>, StrategyError> {
        let _ = request;
        Ok(Vec::new())
    }

    /// Applies the setup steps in order; applying them again changes nothing.
    async fn ensure_prerequisites(
        &self,
        client: &Client,
        request: &BuildRequest,
    ) -> Result<(), StrategyError> {
        let name = self.info().name;
        for step in self.setup_steps(request)? {
            tracing::debug!(strategy = name, step = %step.description, "ensuring prerequisite");
            resources::apply(client, &step.object)
                .await
                .map_err(|e| StrategyError::kube(name, Operation::Setup, e))?;
        }
        Ok(())
    }

    /// The objects this strategy creates for a request, exactly as they are applied.
    fn render(&self, request: &BuildRequest) -> Result<RenderedBuild, StrategyError>;

    /// Reads the primary object's status as a [`BuildStatus`]. Pure: no cluster access.
    fn map_status(&self, primary: &DynamicObject) -> Result<BuildStatus, StrategyError>;

    /// Creates the build: validates, renders and server-side-applies every object. Nothing is
    /// sent when one of them is over [`resources::MAX_OBJECT_BYTES`].
    async fn create_build(
        &self,
        client: &Client,
        request: &BuildRequest,
    ) -> Result<(), StrategyError> {
        let name = self.info().name;
        self.validate_config(request)?;
        let rendered = self.render(request)?;
        for object in rendered.objects() {
            if let Some(bytes) = resources::oversized(object) {
                return Err(StrategyError::TooLarge {
                    strategy: name.to_owned(),
                    kind: object.api.kind.clone(),
                    name: object.name().to_owned(),
                    bytes,
                });
            }
        }
        for object in rendered.objects() {
            resources::apply(client, object)
                .await
                .map_err(|e| StrategyError::kube(name, Operation::Create, e))?;
        }
        Ok(())
    }

    /// Reads the build's status from its primary object.
    async fn build_status(
        &self,
        client: &Client,
        request: &BuildRequest,
    ) -> Result<BuildStatus, StrategyError> {
        let name = self.info().name;
        let rendered = self.render(request)?;
        let primary = rendered.primary();
        let live = resources::get(client, primary)
            .await
            .map_err(|e| StrategyError::kube(name, Operation::Status, e))?
            .ok_or_else(|| StrategyError::NotFound {
                strategy: name.to_owned(),
                kind: primary.api.kind.clone(),
                name: primary.name().to_owned(),
            })?;
        self.map_status(&live)
    }

    /// The pushed image, pinned by digest where the backend reports one.
    async fn built_image(
        &self,
        client: &Client,
        request: &BuildRequest,
    ) -> Result<ImageReference, StrategyError> {
        let name = self.info().name;
        let status = self.build_status(client, request).await?;
        match (status.phase, status.image) {
            (crate::BuildPhase::Succeeded, Some(image)) => Ok(image),
            (crate::BuildPhase::Succeeded, None) => Err(StrategyError::backend(
                name,
                "the build succeeded but reported no image reference",
            )),
            (phase, _) => Err(StrategyError::backend(
                name,
                format!("the build is {phase}, not Succeeded; there is no image yet"),
            )),
        }
    }

    /// The last lines of the build log.
    async fn logs(
        &self,
        client: &Client,
        request: &BuildRequest,
        tail: LogTail,
    ) -> Result<String, StrategyError> {
        let _ = (client, request, tail);
        Err(StrategyError::not_supported_yet(
            self.info().name,
            Operation::Logs,
        ))
    }

    /// Stops a running build; the build then reports [`crate::BuildPhase::Cancelled`].
    async fn cancel_build(
        &self,
        client: &Client,
        request: &BuildRequest,
    ) -> Result<(), StrategyError> {
        let _ = (client, request);
        Err(StrategyError::not_supported_yet(
            self.info().name,
            Operation::Cancel,
        ))
    }

    /// Deletes what [`create_build`](Self::create_build) created, in reverse order. Objects
    /// already gone are fine.
    async fn delete_build(
        &self,
        client: &Client,
        request: &BuildRequest,
    ) -> Result<(), StrategyError> {
        let name = self.info().name;
        for object in self.render(request)?.objects().iter().rev() {
            resources::delete(client, object)
                .await
                .map_err(|e| StrategyError::kube(name, Operation::Delete, e))?;
        }
        Ok(())
    }
}
