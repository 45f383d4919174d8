//! The operator's runtime configuration: which compiled-in strategies are switched on, and the
//! settings of the pods it runs.
//!
//! Read from a file (the Deployment mounts the operator ConfigMap there), then overridden by
//! the `NBV_ENABLED_BUILD_STRATEGIES` environment variable, then by `--enable-strategy` flags.
//! S2I, the core strategy, is always enabled.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The strategy that is always enabled.
pub const CORE_STRATEGY: &str = "s2i";
/// Prefix of the feature-flag form of a strategy name (`build.strategy.tekton`).
pub const FLAG_PREFIX: &str = "build.strategy.";
/// Environment variable listing enabled strategies, comma-separated.
pub const ENV_ENABLED: &str = "NBV_ENABLED_BUILD_STRATEGIES";

/// The configuration file's content.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OperatorConfig {
    /// Strategies switched on, by name or feature flag.
    #[serde(default)]
    pub enabled_build_strategies: Vec<String>,
}

/// Why the configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read the operator config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid YAML of the expected shape.
    #[error(
        "the operator config {path} is invalid: {source}; expected e.g. 'enabledBuildStrategies: [tekton, buildah]'"
    )]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_yaml_ng::Error,
    },
    /// A name is not a strategy name.
    #[error(
        "'{0}' in the operator config is not a strategy name; use a name such as 'tekton' or a flag such as 'build.strategy.tekton'"
    )]
    BadName(String),
}

/// The strategies switched on, after every source was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnabledStrategies(BTreeSet<String>);

impl EnabledStrategies {
    /// Builds the set from the file (if any), the environment value (if any) and CLI flags, each
    /// later source replacing the earlier one when it is given.
    pub fn resolve(
        file: Option<&Path>,
        env: Option<&str>,
        cli: &[String],
    ) -> Result<Self, ConfigError> {
        let mut names: Vec<String> = match file {
            Some(path) => load_file(path)?.enabled_build_strategies,
            None => Vec::new(),
        };
        if let Some(env) = env.filter(|e| !e.trim().is_empty()) {
            names = env.split(',').map(str::to_owned).collect();
        }
        if !cli.is_empty() {
            names = cli.to_vec();
        }
        let mut set = BTreeSet::from([CORE_STRATEGY.to_owned()]);
        for name in names {
            set.insert(normalize(&name)?);
        }
        Ok(Self(set))
    }

    /// Whether `name` is switched on.
    pub fn contains(&self, name: &str) -> bool {
        self.0.contains(name)
    }

    /// The names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

fn load_file(path: &Path) -> Result<OperatorConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    if text.trim().is_empty() {
        return Ok(OperatorConfig::default());
    }
    serde_yaml_ng::from_str(&text).map_err(|source| ConfigError::Parse {
        path: path.to_owned(),
        source,
    })
}

fn normalize(name: &str) -> Result<String, ConfigError> {
    let trimmed = name.trim();
    let bare = trimmed.strip_prefix(FLAG_PREFIX).unwrap_or(trimmed);
    if buildstrategy_api::naming::is_dns_label(bare) {
        Ok(bare.to_owned())
    } else {
        Err(ConfigError::BadName(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s2i_is_always_enabled_and_flags_are_accepted() {
        let enabled = EnabledStrategies::resolve(None, Some("build.strategy.tekton, kaniko"), &[])
            .expect("valid");
        assert_eq!(
            enabled.names().collect::<Vec<_>>(),
            ["kaniko", "s2i", "tekton"]
        );
    }

    #[test]
    fn cli_overrides_env_which_overrides_the_file() {
        let dir = std::env::temp_dir().join(format!("nbv-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("config.yaml");
        std::fs::write(&file, "enabledBuildStrategies: [buildah]\n").expect("write");
        let from_file = EnabledStrategies::resolve(Some(&file), None, &[]).expect("file");
        assert!(from_file.contains("buildah"));
        let from_env = EnabledStrategies::resolve(Some(&file), Some("tekton"), &[]).expect("env");
        assert!(from_env.contains("tekton") && !from_env.contains("buildah"));
        let from_cli =
            EnabledStrategies::resolve(Some(&file), Some("tekton"), &["buildkit".into()])
                .expect("cli");
        assert!(from_cli.contains("buildkit") && !from_cli.contains("tekton"));
        std::fs::write(&file, "enabledStrategies: [x]\n").expect("write");
        let err = EnabledStrategies::resolve(Some(&file), None, &[]).expect_err("unknown key");
        assert!(err.to_string().contains("enabledBuildStrategies"), "{err}");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn bad_names_are_refused() {
        assert!(EnabledStrategies::resolve(None, Some("Tekton Pipelines"), &[]).is_err());
    }
}

/// Operator-wide settings of validation pods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSettings {
    /// The image holding `nbv` (the operator image).
    pub runner_image: String,
    /// The image that clones the repository (it must run as non-root and hold git and sh).
    pub git_image: String,
}
