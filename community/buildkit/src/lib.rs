//! BuildKit build strategy (community tier): builds the notebook image in one pod with rootless
//! BuildKit (`buildctl-daemonless.sh`), as uid 1000. Rootless BuildKit needs the seccomp and
//! AppArmor profiles `Unconfined`, which both the restricted and the baseline Pod Security levels
//! forbid: run it in a namespace at the privileged level.
//!
//! `strategyConfig` keys: `executor` (image), `gitImage`.

use buildstrategy_api::pod_build::{self, PodBuilder, PodStrategy};
use buildstrategy_api::prelude::*;
use serde_json::json;

/// The rootless BuildKit image used unless `strategyConfig.executor` names another.
pub const DEFAULT_EXECUTOR: &str = "docker.io/moby/buildkit:rootless";

/// The builder's script: a constant; the image, context and Dockerfile directory arrive as
/// environment variables and are always quoted. The image reference is checked to hold no
/// `,` or `=`, so it cannot add output options.
pub const BUILD_SCRIPT: &str = r#"set -eu
buildctl-daemonless.sh build --frontend dockerfile.v0 \
  --local context="$NBV_CONTEXT" --local dockerfile="$NBV_DOCKERFILE_DIR" \
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
            "Builds in a pod with rootless BuildKit (uid 1000, unconfined seccomp and AppArmor).",
        )
        .with_auto_rank(500)
    }

    fn capabilities(&self) -> Capabilities {
        let mut declared = buildstrategy_api::capabilities::POD_BUILD;
        declared.privileges =
            "uid 1000, seccomp and AppArmor Unconfined (Pod Security: privileged level)";
        declared
    }

    fn builder(&self, request: &BuildRequest) -> Result<PodBuilder, StrategyError> {
        Ok(PodBuilder::new(
            NAME,
            pod_build::executor_image(NAME, request, DEFAULT_EXECUTOR)?,
            vec!["/bin/sh".into(), "-c".into(), BUILD_SCRIPT.into()],
        )
        .env("NBV_IMAGE", pod_build::output_image(NAME, request)?)
        .env("NBV_CONTEXT", pod_build::context_dir(request))
        .env("NBV_DOCKERFILE_DIR", pod_build::DOCKERFILE_DIR)
        .env("BUILDKITD_FLAGS", "--oci-worker-no-process-sandbox")
        .scratch("buildkit-state", "/home/user/.local/share/buildkit")
        .security_context(json!({
            "runAsUser": 1000,
            "runAsGroup": 1000,
            "runAsNonRoot": true,
            "seccompProfile": { "type": "Unconfined" },
            "appArmorProfile": { "type": "Unconfined" }
        })))
    }
}

buildstrategy_api::register_strategy!(|| Box::new(BuildKit));
