//! Buildah build strategy (community tier): builds the notebook image in one pod with Buildah,
//! as root with the default capabilities plus `SYS_ADMIN` and `SETFCAP`, the `vfs` storage
//! driver and chroot isolation: no privileged mode and no device, but a capability only the
//! Pod Security `privileged` level admits.
//!
//! Why `SYS_ADMIN`: without it Buildah takes itself for an unprivileged user and tries to
//! create a user namespace for the build's `RUN` steps, which containers may not do
//! (`Error during unshare(CLONE_NEWUSER): Operation not permitted`, seen on a real node with
//! only `SETFCAP`, and with the default capabilities); with it, chroot isolation runs the steps
//! in a mount namespace of their own.
//!
//! `strategyConfig` keys: those of every pod builder (`executor`, `gitImage`) and
//! [`BuildahConfig`]'s.

use buildstrategy_api::pod_build::{self, PodBuilder, PodStrategy};
use buildstrategy_api::prelude::*;
use serde_json::{Value, json};

/// Buildah's own `strategyConfig` keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BuildahConfig {
    /// A repository (registry/name, no tag) the build's layers are cached in: each step's layer
    /// is looked up there before it runs and pushed there after (`--layers --cache-from
    /// --cache-to`), with the job's push secret. No cache without it.
    pub cache_repo: Option<String>,
}

/// The Buildah image used unless `strategyConfig.executor` names another.
pub const DEFAULT_EXECUTOR: &str = "quay.io/buildah/stable:v1.40.1";

/// The builder's script: a constant; the image, context and Dockerfile arrive as environment
/// variables and are always quoted.
pub const BUILD_SCRIPT: &str = r#"set -eu
set --
if [ -n "${NBV_CACHE_REPO:-}" ]; then
  set -- --layers --cache-from "$NBV_CACHE_REPO" --cache-to "$NBV_CACHE_REPO"
fi
buildah build --isolation=chroot --file "$NBV_DOCKERFILE" --tag "$NBV_IMAGE" "$@" -- "$NBV_CONTEXT"
buildah push --digestfile /dev/termination-log -- "$NBV_IMAGE" "docker://$NBV_IMAGE"
"#;

const NAME: &str = "buildah";

/// The Buildah strategy.
#[derive(Debug, Default, Clone, Copy)]
pub struct Buildah;

impl PodStrategy for Buildah {
    fn info(&self) -> StrategyInfo {
        StrategyInfo::new(
            NAME,
            Tier::Community,
            "Builds in a pod with Buildah (root with SYS_ADMIN and SETFCAP, vfs storage, chroot isolation).",
        )
        .with_auto_rank(400)
    }

    fn capabilities(&self) -> Capabilities {
        let mut declared = buildstrategy_api::capabilities::POD_BUILD;
        declared.layer_cache = Support::Partly("strategyConfig.cacheRepo");
        declared.privileges = "root with SYS_ADMIN and SETFCAP added, vfs storage, chroot isolation, no privileged mode (Pod Security: privileged level)";
        declared
    }

    fn validate_extra(&self, request: &BuildRequest) -> Result<(), StrategyError> {
        cache_repo(request).map(drop)
    }

    fn extra_config_schema(&self) -> Option<Value> {
        Some(schemars::schema_for!(BuildahConfig).to_value())
    }

    fn builder(&self, request: &BuildRequest) -> Result<PodBuilder, StrategyError> {
        let mut builder = PodBuilder::new(
            NAME,
            pod_build::executor_image(NAME, request, DEFAULT_EXECUTOR)?,
            vec!["/bin/sh".into(), "-c".into(), BUILD_SCRIPT.into()],
        )
        .env("NBV_IMAGE", pod_build::output_image(NAME, request)?)
        .env("NBV_CONTEXT", pod_build::context_dir(request))
        .env(
            "NBV_DOCKERFILE",
            format!("{}/Dockerfile", pod_build::DOCKERFILE_DIR),
        )
        .env("STORAGE_DRIVER", "vfs")
        .env("BUILDAH_ISOLATION", "chroot")
        .scratch("containers-storage", "/var/lib/containers")
        .security_context(json!({
            "runAsUser": 0,
            "runAsNonRoot": false,
            "allowPrivilegeEscalation": false,
            "capabilities": { "add": ["SYS_ADMIN", "SETFCAP"] },
            "seccompProfile": { "type": "RuntimeDefault" }
        }));
        if let Some(repo) = cache_repo(request)? {
            builder = builder.env("NBV_CACHE_REPO", repo);
        }
        Ok(builder)
    }
}

/// `strategyConfig.cacheRepo`, checked.
fn cache_repo(request: &BuildRequest) -> Result<Option<String>, StrategyError> {
    let config: BuildahConfig = pod_build::extra_config(NAME, request)?;
    pod_build::cache_repository(NAME, config.cache_repo)
}

buildstrategy_api::register_strategy!(|| Box::new(Buildah));
