//! Kaniko build strategy (community tier): builds the notebook image in one pod with the Kaniko
//! executor, which needs no daemon.
//!
//! The original Kaniko project was archived in June 2025; the default executor is a maintained
//! fork, and Buildah or BuildKit are preferred where a cluster allows them. Kaniko runs as root
//! with a short list of capabilities (no privileged mode).
//!
//! `strategyConfig` keys: `executor` (image), `gitImage`, `cache` (bool), `cacheRepo`.

use buildstrategy_api::pod_build::{self, PodBuilder, PodStrategy};
use buildstrategy_api::prelude::*;
use serde_json::{Value, json};

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

    fn extra_config_keys(&self) -> &'static [&'static str] {
        &["cache", "cacheRepo"]
    }

    fn validate_extra(&self, request: &BuildRequest) -> Result<(), StrategyError> {
        if let Some(other) = request
            .strategy_config
            .get("cache")
            .filter(|v| !v.is_boolean())
        {
            return Err(StrategyError::invalid_config(
                NAME,
                "strategyConfig.cache",
                format!("expected true or false, found {other}"),
            ));
        }
        if let Some(repo) = request.config_str(NAME, "cacheRepo")? {
            pod_build::check_image_reference(repo)
                .map_err(|r| StrategyError::invalid_config(NAME, "strategyConfig.cacheRepo", r))?;
        }
        Ok(())
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
        if request
            .strategy_config
            .get("cache")
            .and_then(Value::as_bool)
            == Some(true)
        {
            command.push("--cache=true".to_owned());
            if let Some(repo) = request.config_str(NAME, "cacheRepo")? {
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
