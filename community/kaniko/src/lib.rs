//! Kaniko build strategy (community tier): builds the notebook image in one pod with the Kaniko
//! executor, which needs no daemon.
//!
//! The original Kaniko project was archived in June 2025; the default executor is a maintained
//! fork, and Buildah or BuildKit are preferred where a cluster allows them. Kaniko runs as root
//! with a short list of capabilities (no privileged mode).
//!
//! `strategyConfig` keys: those of every pod builder (`executor`, `gitImage`) and
//! [`KanikoConfig`]'s.

use buildstrategy_api::pod_build::{self, PodBuilder, PodStrategy};
use buildstrategy_api::prelude::*;
use serde_json::{Value, json};

/// Kaniko's own `strategyConfig` keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KanikoConfig {
    /// Caches layers in `cacheRepo` (`--cache=true`); off by default.
    #[serde(default)]
    pub cache: bool,
    /// The repository cached layers are pushed to and pulled from (registry/name, no tag);
    /// without it Kaniko derives one from the output image.
    pub cache_repo: Option<String>,
}

/// The executor image used unless `strategyConfig.executor` names another.
pub const DEFAULT_EXECUTOR: &str = "ghcr.io/osscontainertools/kaniko:latest";

/// Capabilities Kaniko needs to unpack base images and run `RUN` steps as root.
pub const CAPABILITIES: [&str; 7] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "KILL",
];

const NAME: &str = "kaniko";

/// The Kaniko strategy.
#[derive(Debug, Default, Clone, Copy)]
pub struct Kaniko;

impl PodStrategy for Kaniko {
    fn info(&self) -> StrategyInfo {
        StrategyInfo::new(
            NAME,
            Tier::Community,
            "Builds in a pod with the Kaniko executor (root with 7 capabilities, no daemon).",
        )
        .with_auto_rank(900)
    }

    fn capabilities(&self) -> Capabilities {
        let mut declared = buildstrategy_api::capabilities::POD_BUILD;
        declared.layer_cache = Support::Partly("strategyConfig.cache with a cacheRepo");
        declared.privileges = "root with CHOWN, DAC_OVERRIDE, FOWNER, SETGID, SETUID, SETFCAP, KILL (Pod Security: baseline level)";
        declared
    }

    fn validate_extra(&self, request: &BuildRequest) -> Result<(), StrategyError> {
        let config: KanikoConfig = pod_build::extra_config(NAME, request)?;
        pod_build::cache_repository(NAME, config.cache_repo).map(drop)
    }

    fn extra_config_schema(&self) -> Option<Value> {
        Some(schemars::schema_for!(KanikoConfig).to_value())
    }

    fn builder(&self, request: &BuildRequest) -> Result<PodBuilder, StrategyError> {
        let image = pod_build::output_image(NAME, request)?;
        let mut command = vec![
            "/kaniko/executor".to_owned(),
            format!("--dockerfile={}/Dockerfile", pod_build::DOCKERFILE_DIR),
            format!("--context=dir://{}", pod_build::context_dir(request)),
            format!("--destination={image}"),
            "--digest-file=/dev/termination-log".to_owned(),
        ];
        let config: KanikoConfig = pod_build::extra_config(NAME, request)?;
        if config.cache {
            command.push("--cache=true".to_owned());
            if let Some(repo) = &config.cache_repo {
                command.push(format!("--cache-repo={repo}"));
            }
        }
        Ok(PodBuilder::new(
            NAME,
            pod_build::executor_image(NAME, request, DEFAULT_EXECUTOR)?,
            command,
        )
        .security_context(json!({
            "runAsUser": 0,
            "runAsNonRoot": false,
            "allowPrivilegeEscalation": false,
            "capabilities": { "drop": ["ALL"], "add": CAPABILITIES },
            "seccompProfile": { "type": "RuntimeDefault" }
        })))
    }
}

buildstrategy_api::register_strategy!(|| Box::new(Kaniko));
