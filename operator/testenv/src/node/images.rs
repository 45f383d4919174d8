//! The images the node runs, built on this machine by `cargo xtask node images` (no registry
//! outside the machine is reachable) and imported into the node's containerd at start.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::Error;

/// One image: its reference as pods name it, and the OCI archive holding it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeImage {
    /// `nbv.local/<name>:<content hash>`.
    pub reference: String,
    /// An OCI image layout in a tar file.
    pub archive: PathBuf,
}

/// The images of the node, as `cargo xtask node images` last built them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeImages {
    /// The sandbox image: only a program that waits for a signal.
    pub pause: NodeImage,
    /// A notebook image: Python with papermill and ipykernel, git, a numeric non-root user.
    pub notebook: NodeImage,
    /// The operator image: `nbv-operator` and the `nbv` runner, with git and sh for the
    /// validation pod's init containers (the Containerfile's content).
    pub operator: NodeImage,
    /// The notebook image run as UID 1000680000 in group 0, as OpenShift's restricted SCC runs
    /// containers: a UID no file in the image belongs to.
    pub notebook_arbitrary_uid: NodeImage,
    /// The notebook image with a user given by name (`USER nobody`), which a pod that must run
    /// as non-root cannot verify.
    pub notebook_named_user: NodeImage,
    /// Buildah from the distribution's package, the Buildah strategy's builder; it trusts the
    /// node's CA (and so the node's registry).
    pub buildah: NodeImage,
    /// The Kaniko executor built from its module, the Kaniko strategy's builder; it trusts the
    /// node's CA.
    pub kaniko: NodeImage,
    /// `buildkitd` and `buildctl` built from their module over the Buildah image (which holds
    /// runc), the BuildKit strategy's builder.
    pub buildkit: NodeImage,
    /// The OpenShift build executor's builder: the Buildah image with `s2i` built from its
    /// module.
    pub openshift_builder: NodeImage,
    /// An S2I Python builder image on the notebook image: its scripts follow the S2I Python
    /// builder's contract (`assemble` installs `requirements.txt` from the source's root).
    pub s2i_python: NodeImage,
    /// Tekton Pipelines built from its module, when asked for (`--with tekton`): the image of
    /// its pods' programs, its controller, CRDs and ConfigMaps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tekton: Option<crate::tekton::TektonRelease>,
    /// Shipwright Build built from its module, when asked for (`--with shipwright`, which
    /// brings Tekton too): the image of its build pods' programs, its controller, CRDs and
    /// Buildah ClusterBuildStrategy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipwright: Option<crate::shipwright::ShipwrightRelease>,
}

impl NodeImages {
    /// `<cache root>/node-images`.
    pub fn cache_dir() -> Result<PathBuf, Error> {
        Ok(crate::cache_root()?.join("node-images"))
    }

    /// Where the list of built images is kept.
    pub fn manifest_path() -> Result<PathBuf, Error> {
        Ok(Self::cache_dir()?.join("images.json"))
    }

    /// The images last built; fails, saying how to build them, when there are none.
    pub fn load() -> Result<Self, Error> {
        let path = Self::manifest_path()?;
        let text = std::fs::read_to_string(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::Invalid(format!(
                    "the node's images are not built ({} is missing); build them with `cargo xtask node images`",
                    path.display()
                ))
            } else {
                Error::io(&path, e)
            }
        })?;
        let images: Self = serde_json::from_str(&text)
            .map_err(|e| Error::Invalid(format!("reading {}: {e}", path.display())))?;
        for image in images.all() {
            if !image.archive.is_file() {
                return Err(Error::Invalid(format!(
                    "{} lists {}, which is gone; rebuild with `cargo xtask node images`",
                    path.display(),
                    image.archive.display()
                )));
            }
        }
        let controllers = [
            images
                .tekton
                .as_ref()
                .map(|t| ("Tekton", &t.controller, "tekton")),
            images
                .shipwright
                .as_ref()
                .map(|s| ("Shipwright", &s.controller, "shipwright")),
        ];
        for (engine, controller, with) in controllers.into_iter().flatten() {
            if !controller.is_file() {
                return Err(Error::Invalid(format!(
                    "{} names the {engine} controller {}, which is gone; rebuild with `cargo xtask node images --with {with}`",
                    path.display(),
                    controller.display()
                )));
            }
        }
        Ok(images)
    }

    /// The public names the node also gives its images: those the strategies run by default,
    /// which the node cannot pull, so that a job that names no image of its own runs as written
    /// (the nodes of a cluster without internet are preloaded the same way). Pinned tags only:
    /// a pod would always pull `:latest`.
    pub fn public_names(&self) -> [(&NodeImage, &'static str); 2] {
        [
            // Buildah, as the Buildah and Tekton strategies' default executor.
            (&self.buildah, "quay.io/buildah/stable:v1.40.1"),
            // git and sh, as the default image of the pod builders' and the Tekton Task's
            // clone step.
            (&self.operator, "docker.io/alpine/git:v2.49.1"),
        ]
    }

    /// Every image.
    pub fn all(&self) -> Vec<&NodeImage> {
        let mut all = vec![
            &self.pause,
            &self.notebook,
            &self.operator,
            &self.notebook_arbitrary_uid,
            &self.notebook_named_user,
            &self.buildah,
            &self.kaniko,
            &self.buildkit,
            &self.openshift_builder,
            &self.s2i_python,
        ];
        all.extend(self.tekton.as_ref().map(|t| &t.pods));
        all.extend(self.shipwright.as_ref().map(|s| &s.pods));
        all
    }
}

/// Imports the archives into containerd's `k8s.io` namespace (the kubelet's).
pub(crate) fn import(socket: &Path, images: &NodeImages) -> Result<(), Error> {
    for image in images.all() {
        let out = Command::new("ctr")
            .arg("--address")
            .arg(socket)
            .args(["--namespace", "k8s.io", "images", "import"])
            .arg(&image.archive)
            .output()
            .map_err(|e| Error::io("ctr", e))?;
        if !out.status.success() {
            return Err(Error::Invalid(format!(
                "importing {} into containerd failed: {}",
                image.archive.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
    }
    for (image, name) in images.public_names() {
        let out = Command::new("ctr")
            .arg("--address")
            .arg(socket)
            .args(["--namespace", "k8s.io", "images", "tag", "--force"])
            .args([image.reference.as_str(), name])
            .output()
            .map_err(|e| Error::io("ctr", e))?;
        if !out.status.success() {
            return Err(Error::Invalid(format!(
                "naming {} {name} in containerd failed: {}",
                image.reference,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
    }
    Ok(())
}
