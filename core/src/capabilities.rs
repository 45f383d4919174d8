//! What a strategy supports, declared by the strategy itself; the documentation's feature-parity
//! matrix is generated from these declarations.

use std::fmt;

/// Whether a feature is supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Support {
    /// Supported.
    Yes,
    /// Not supported.
    No,
    /// Supported with a limit, stated.
    Partly(&'static str),
}

impl fmt::Display for Support {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Yes => f.write_str("yes"),
            Self::No => f.write_str("no"),
            Self::Partly(how) => write!(f, "partly: {how}"),
        }
    }
}

/// A strategy's features, one field per row of the parity matrix.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// Clones public repositories.
    pub public_git: Support,
    /// Clones with `credentialsSecret`.
    pub private_git: Support,
    /// Builds from a sub-directory.
    pub context_dir: Support,
    /// Installs a requirements file.
    pub requirements_file: Support,
    /// Installs a package list.
    pub package_list: Support,
    /// Builds without a git source ([`crate::BuildContext::Empty`]): a base image plus a
    /// package list. Only strategies that say yes are given such requests.
    pub empty_context: Support,
    /// Installs requirements generated from the notebook's imports.
    pub requirements_from_imports: Support,
    /// Builds the job's own Dockerfile.
    pub own_dockerfile: Support,
    /// Reports the pushed digest.
    pub digest: Support,
    /// Returns build logs.
    pub logs: Support,
    /// Cancels a running build.
    pub cancel: Support,
    /// Enforces `buildConfig.timeout` in the backend too.
    pub timeout: Support,
    /// Reuses layers between builds.
    pub layer_cache: Support,
    /// What the build's pods need (user, capabilities, Pod Security level).
    pub privileges: &'static str,
    /// What must be installed in the cluster.
    pub cluster_prerequisites: &'static str,
}

impl Capabilities {
    /// Nothing declared: every feature `no`. Strategies start from this and set what they do.
    pub const fn undeclared() -> Self {
        Self {
            public_git: Support::No,
            private_git: Support::No,
            context_dir: Support::No,
            requirements_file: Support::No,
            package_list: Support::No,
            empty_context: Support::No,
            requirements_from_imports: Support::No,
            own_dockerfile: Support::No,
            digest: Support::No,
            logs: Support::No,
            cancel: Support::No,
            timeout: Support::No,
            layer_cache: Support::No,
            privileges: "not declared",
            cluster_prerequisites: "not declared",
        }
    }

    /// The matrix rows: (row title, value) in documentation order.
    pub fn rows(&self) -> Vec<(&'static str, String)> {
        vec![
            ("public git", self.public_git.to_string()),
            ("private git", self.private_git.to_string()),
            ("contextDir", self.context_dir.to_string()),
            ("requirements file", self.requirements_file.to_string()),
            ("package list", self.package_list.to_string()),
            ("without a git source", self.empty_context.to_string()),
            (
                "requirements from imports",
                self.requirements_from_imports.to_string(),
            ),
            ("own Dockerfile", self.own_dockerfile.to_string()),
            ("digest", self.digest.to_string()),
            ("logs", self.logs.to_string()),
            ("cancel", self.cancel.to_string()),
            ("timeout", self.timeout.to_string()),
            ("layer cache", self.layer_cache.to_string()),
            ("privileges needed", self.privileges.to_owned()),
            (
                "cluster prerequisites",
                self.cluster_prerequisites.to_owned(),
            ),
        ]
    }
}

/// What the shared pod builder ([`crate::pod_build`]) gives every strategy built on it.
pub const POD_BUILD: Capabilities = Capabilities {
    public_git: Support::Yes,
    private_git: Support::Yes,
    context_dir: Support::Yes,
    requirements_file: Support::Yes,
    package_list: Support::Yes,
    empty_context: Support::Yes,
    requirements_from_imports: Support::Yes,
    own_dockerfile: Support::Yes,
    digest: Support::Yes,
    logs: Support::Yes,
    cancel: Support::Yes,
    timeout: Support::Yes,
    layer_cache: Support::No,
    privileges: "not declared",
    cluster_prerequisites: "none",
};
