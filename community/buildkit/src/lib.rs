//! BuildKit build strategy (community tier): builds the notebook image in one pod with BuildKit
//! (`buildctl-daemonless.sh`, which starts `buildkitd` for one `buildctl build`), as root with
//! the default capabilities plus `SYS_ADMIN`, and seccomp and AppArmor `Unconfined`: no
//! privileged mode and no device, but a profile only the Pod Security `privileged` level admits.
//!
//! Why these privileges, each seen missing on a real node:
//! - root and `SYS_ADMIN`: BuildKit runs each `RUN` step with runc, in namespaces and mounts of
//!   its own. Rootless BuildKit (uid 1000 through RootlessKit) needs no capability, but its
//!   `newuidmap` could not write a user namespace's map in a pod of the node
//!   (docs/community/build-strategies/buildkit.md says what was tried).
//! - seccomp `Unconfined`: runc gives every step a session keyring, and the runtime's default
//!   profile refuses `keyctl` (`unable to join session keyring: operation not permitted`).
//! - AppArmor `Unconfined`: the runtime's default AppArmor profile refuses `mount`.
//! - runc puts each step in a cgroup below the container's, and the runtime mounts the
//!   container's cgroups read-only (`mkdir /sys/fs/cgroup/cpuset/buildkit: read-only file
//!   system`): the script makes those mounts writable first, in the pod's own mount namespace.
//!
//! `strategyConfig` keys: those of every pod builder (`executor`, `gitImage`) and
//! [`BuildKitConfig`]'s.

use buildstrategy_api::pod_build::{self, PodBuilder, PodStrategy};
use buildstrategy_api::prelude::*;
use serde_json::{Value, json};

/// BuildKit's own `strategyConfig` keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BuildKitConfig {
    /// A repository (registry/name, no tag) the build cache is kept in, as its tag
    /// `nbv-buildcache`: imported before the build and exported after it, every step's layer
    /// included (`mode=max`), with the job's push secret. A cache that cannot be read or
    /// written only costs time, never the build. No cache without it.
    pub cache_repo: Option<String>,
}

/// The tag of `cacheRepo` BuildKit keeps its cache under.
pub const CACHE_TAG: &str = "nbv-buildcache";

/// The BuildKit image used unless `strategyConfig.executor` names another: the release the
/// local node builds with.
pub const DEFAULT_EXECUTOR: &str = "docker.io/moby/buildkit:v0.34.2";

/// The builder's script: a constant; the image, context and Dockerfile directory arrive as
/// environment variables and are always quoted. The image reference is checked to hold no
/// `,` or `=`, so it cannot add output options.
pub const BUILD_SCRIPT: &str = r#"set -eu
awk '$3 ~ /^cgroup/ { print $2 }' /proc/self/mounts | while read -r cgroups; do
  mount -o remount,bind,rw "$cgroups"
done
set --
if [ -n "${NBV_CACHE:-}" ]; then
  set -- --import-cache "type=registry,ref=$NBV_CACHE" \
    --export-cache "type=registry,ref=$NBV_CACHE,mode=max,ignore-error=true"
fi
buildctl-daemonless.sh build --frontend dockerfile.v0 \
  --local context="$NBV_CONTEXT" --local dockerfile="$NBV_DOCKERFILE_DIR" "$@" \
  --output "type=image,name=$NBV_IMAGE,push=true" --metadata-file /tmp/nbv-metadata.json
sed -n 's/.*"containerimage.digest": *"\(sha256:[0-9a-f]*\)".*/\1/p' /tmp/nbv-metadata.json > /dev/termination-log
"#;

const NAME: &str = "buildkit";

/// The BuildKit strategy.
#[derive(Debug, Default, Clone, Copy)]
pub struct BuildKit;

impl PodStrategy for BuildKit {
    fn info(&self) -> StrategyInfo {
        StrategyInfo::new(
            NAME,
            Tier::Community,
            "Builds in a pod with BuildKit (root with SYS_ADMIN, unconfined seccomp and AppArmor).",
        )
        .with_auto_rank(500)
    }

    fn capabilities(&self) -> Capabilities {
        let mut declared = buildstrategy_api::capabilities::POD_BUILD;
        declared.layer_cache = Support::Partly("strategyConfig.cacheRepo");
        declared.privileges = "root with SYS_ADMIN added, seccomp and AppArmor Unconfined, no privileged mode (Pod Security: privileged level)";
        declared
    }

    fn validate_extra(&self, request: &BuildRequest) -> Result<(), StrategyError> {
        cache_repo(request).map(drop)
    }

    fn extra_config_schema(&self) -> Option<Value> {
        Some(schemars::schema_for!(BuildKitConfig).to_value())
    }

    fn builder(&self, request: &BuildRequest) -> Result<PodBuilder, StrategyError> {
        let mut builder = PodBuilder::new(
            NAME,
            pod_build::executor_image(NAME, request, DEFAULT_EXECUTOR)?,
            vec!["/bin/sh".into(), "-c".into(), BUILD_SCRIPT.into()],
        )
        .env("NBV_IMAGE", pod_build::output_image(NAME, request)?)
        .env("NBV_CONTEXT", pod_build::context_dir(request))
        .env("NBV_DOCKERFILE_DIR", pod_build::DOCKERFILE_DIR)
        // Build steps share the pod's network, as Buildah's chroot isolation does.
        .env("BUILDKITD_FLAGS", "--oci-worker-net=host")
        .scratch("buildkit-state", "/var/lib/buildkit")
        .security_context(json!({
            "runAsUser": 0,
            "runAsNonRoot": false,
            "allowPrivilegeEscalation": false,
            "capabilities": { "add": ["SYS_ADMIN"] },
            "seccompProfile": { "type": "Unconfined" },
            "appArmorProfile": { "type": "Unconfined" }
        }));
        if let Some(repo) = cache_repo(request)? {
            builder = builder.env("NBV_CACHE", format!("{repo}:{CACHE_TAG}"));
        }
        Ok(builder)
    }
}

/// `strategyConfig.cacheRepo`, checked: a repository cannot add cache options (no `,` or `=`).
fn cache_repo(request: &BuildRequest) -> Result<Option<String>, StrategyError> {
    let config: BuildKitConfig = pod_build::extra_config(NAME, request)?;
    pod_build::cache_repository(NAME, config.cache_repo)
}

buildstrategy_api::register_strategy!(|| Box::new(BuildKit));
