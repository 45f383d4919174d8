//! An out-of-tree build strategy: Podman in a pod, rootless, with the `vfs` driver.
//!
//! It depends on `buildstrategy-api` alone and registers itself like the in-tree strategies.

use buildstrategy_api::pod_build::{self, PodBuilder, PodStrategy};
use buildstrategy_api::prelude::*;
use serde_json::json;

const NAME: &str = "podman";

/// The builder's script: a constant; inputs arrive as environment variables, always quoted.
const BUILD_SCRIPT: &str = r#"set -eu
podman build --storage-driver=vfs --isolation=chroot --file "$NBV_DOCKERFILE" --tag "$NBV_IMAGE" -- "$NBV_CONTEXT"
podman push --storage-driver=vfs --digestfile /dev/termination-log -- "$NBV_IMAGE" "docker://$NBV_IMAGE"
"#;

/// The Podman strategy.
#[derive(Debug, Default, Clone, Copy)]
pub struct Podman;

impl PodStrategy for Podman {
    fn info(&self) -> StrategyInfo {
        StrategyInfo::new(NAME, Tier::Community, "Builds in a pod with rootless Podman (out-of-tree example).")
        .with_auto_rank(450)
    }

    fn builder(&self, request: &BuildRequest) -> Result<PodBuilder, StrategyError> {
        Ok(PodBuilder::new(
            NAME,
            pod_build::executor_image(NAME, request, "quay.io/podman/stable:latest")?,
            vec!["/bin/sh".into(), "-c".into(), BUILD_SCRIPT.into()],
        )
        .env("NBV_IMAGE", pod_build::output_image(NAME, request)?)
        .env("NBV_CONTEXT", pod_build::context_dir(request))
        .env("NBV_DOCKERFILE", format!("{}/Dockerfile", pod_build::DOCKERFILE_DIR))
        .scratch("containers-storage", "/home/podman/.local/share/containers")
        .security_context(json!({ "runAsUser": 1000, "runAsNonRoot": true, "allowPrivilegeEscalation": false })))
    }
}

buildstrategy_api::register_strategy!(|| Box::new(Podman));
