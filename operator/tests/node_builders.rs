//! The community builders on the real node, in one test binary: each test binary starts its own
//! control plane and node (about half a minute), and these share one. Each module is a builder's
//! tests: `builds` and `image_builds` (Buildah, Kaniko, BuildKit: jobs and NotebookImages),
//! `suite_images` (a suite over built images), `tekton` (Tekton Pipelines' own controller) and
//! `shipwright` (Shipwright Build's own controller, over that Tekton).

#![cfg(any(
    feature = "buildah",
    feature = "kaniko",
    feature = "buildkit",
    feature = "tekton"
))]

mod support;

#[path = "node_builders/builds.rs"]
mod builds;
#[path = "node_builders/image_builds.rs"]
mod image_builds;
#[cfg(all(feature = "tekton", feature = "shipwright"))]
#[path = "node_builders/shipwright.rs"]
mod shipwright;
#[path = "node_builders/suite_images.rs"]
mod suite_images;
#[path = "node_builders/tekton.rs"]
mod tekton;
