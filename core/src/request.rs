//! The strategy-neutral description of one build. The operator fills it from a
//! NotebookValidationJob; strategies read it. It carries no CRD type, so strategies do not
//! depend on the operator.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use serde_json::Value;

/// Where the notebook's source lives.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GitSource {
    /// Clone URL (`https://`, `ssh://`, `git://` or `git@host:path`).
    pub url: String,
    /// Branch, tag or commit SHA; `None` means the remote's default branch.
    pub git_ref: Option<String>,
    /// Directory inside the repository that holds the build context.
    pub context_dir: Option<String>,
    /// Secret holding clone credentials (`username`/`password`, or `ssh-privatekey`).
    pub credentials_secret: Option<String>,
}

impl GitSource {
    /// A source at the remote's default branch, without credentials.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            git_ref: None,
            context_dir: None,
            credentials_secret: None,
        }
    }

    /// Checks out this branch, tag or commit.
    #[must_use]
    pub fn with_ref(mut self, git_ref: impl Into<String>) -> Self {
        self.git_ref = Some(git_ref.into());
        self
    }

    /// Builds from this directory of the repository.
    #[must_use]
    pub fn with_context_dir(mut self, dir: impl Into<String>) -> Self {
        self.context_dir = Some(dir.into());
        self
    }

    /// Clones with the credentials in this secret.
    #[must_use]
    pub fn with_credentials_secret(mut self, secret: impl Into<String>) -> Self {
        self.credentials_secret = Some(secret.into());
        self
    }
}

/// Which Python dependencies go into the image.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Requirements {
    /// None: the base image is used as it is.
    #[default]
    None,
    /// A requirements file, relative to the build context.
    File(String),
    /// An explicit list of pip requirement specifiers.
    Packages(Vec<String>),
    /// Generated in the build from the imports and `%pip install` lines of this notebook,
    /// relative to the build context ([`crate::dockerfile::REQUIREMENTS_FROM_IMPORTS`]).
    FromImports(String),
}

/// What the build context holds besides the generated or given Dockerfile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum BuildContext {
    /// The git source, cloned: requirements files, notebooks and a Dockerfile are read from it.
    #[default]
    Git,
    /// Nothing: the image is the base image plus [`Requirements::Packages`] (or
    /// [`Requirements::None`]), and [`BuildRequest::source`] is not used. Only strategies that
    /// declare [`crate::Capabilities::empty_context`] are given such requests.
    Empty,
}

/// One build, as the operator asks a strategy for it.
///
/// Built with [`BuildRequest::new`] and the `with_*` methods; new fields arrive with defaults.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BuildRequest {
    /// Namespace the build runs in (the job's).
    pub namespace: String,
    /// Deterministic name for the build's resources; the same job always yields the same name,
    /// which makes creation idempotent. See [`crate::naming::build_name`].
    pub build_name: String,
    /// Owner of everything the build creates (the NotebookValidationJob), for garbage collection.
    pub owner: Option<OwnerReference>,
    /// Labels put on every created resource.
    pub labels: BTreeMap<String, String>,
    /// The git source; not used when [`Self::context`] is [`BuildContext::Empty`].
    pub source: GitSource,
    /// What the build context holds.
    pub context: BuildContext,
    /// Base image the notebook's dependencies are installed on.
    pub base_image: String,
    /// The dependencies to install.
    pub requirements: Requirements,
    /// For [`Requirements::FromImports`]: import names mapped to the distribution that provides
    /// them, added to (or overriding) the built-in table (`yaml` → `PyYAML`, ...).
    pub import_names: BTreeMap<String, String>,
    /// A Dockerfile given by the user, used instead of the generated one.
    pub dockerfile: Option<String>,
    /// Where to push the image; strategies with an internal registry may choose when absent.
    pub output_image: Option<String>,
    /// Secret with registry credentials (docker config JSON) for the push.
    pub push_secret: Option<String>,
    /// How long the build may take before it is cancelled.
    pub timeout: Option<Duration>,
    /// Service account the build runs as, when the strategy runs pods.
    pub service_account: Option<String>,
    /// Strategy-specific settings (`spec.podConfig.buildConfig.strategyConfig`), free-form JSON.
    pub strategy_config: Value,
}

impl BuildRequest {
    /// The default base image when a job names none.
    pub const DEFAULT_BASE_IMAGE: &'static str = "quay.io/jupyter/minimal-notebook:latest";

    /// A request with the given identity and source, and defaults for everything else.
    pub fn new(
        namespace: impl Into<String>,
        build_name: impl Into<String>,
        source: GitSource,
    ) -> Self {
        Self {
            namespace: namespace.into(),
            build_name: build_name.into(),
            owner: None,
            labels: BTreeMap::new(),
            source,
            context: BuildContext::Git,
            base_image: Self::DEFAULT_BASE_IMAGE.to_owned(),
            requirements: Requirements::None,
            import_names: BTreeMap::new(),
            dockerfile: None,
            output_image: None,
            push_secret: None,
            timeout: None,
            service_account: None,
            strategy_config: Value::Object(serde_json::Map::new()),
        }
    }

    /// Sets the owner reference put on every created resource.
    #[must_use]
    pub fn with_owner(mut self, owner: OwnerReference) -> Self {
        self.owner = Some(owner);
        self
    }

    /// Adds a label put on every created resource.
    #[must_use]
    pub fn with_label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// Sets the base image.
    #[must_use]
    pub fn with_base_image(mut self, image: impl Into<String>) -> Self {
        self.base_image = image.into();
        self
    }

    /// A build without a git source: the base image plus a package list.
    #[must_use]
    pub fn without_source(mut self) -> Self {
        self.context = BuildContext::Empty;
        self
    }

    /// Sets the dependencies.
    #[must_use]
    pub fn with_requirements(mut self, requirements: Requirements) -> Self {
        self.requirements = requirements;
        self
    }

    /// Maps these import names to distributions when requirements come from imports.
    #[must_use]
    pub fn with_import_names(mut self, names: BTreeMap<String, String>) -> Self {
        self.import_names = names;
        self
    }

    /// Uses this Dockerfile instead of a generated one.
    #[must_use]
    pub fn with_dockerfile(mut self, dockerfile: impl Into<String>) -> Self {
        self.dockerfile = Some(dockerfile.into());
        self
    }

    /// Pushes to this image reference.
    #[must_use]
    pub fn with_output_image(mut self, image: impl Into<String>) -> Self {
        self.output_image = Some(image.into());
        self
    }

    /// Pushes with the credentials in this secret.
    #[must_use]
    pub fn with_push_secret(mut self, secret: impl Into<String>) -> Self {
        self.push_secret = Some(secret.into());
        self
    }

    /// Bounds the build's duration.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Runs the build's pods as this service account.
    #[must_use]
    pub fn with_service_account(mut self, name: impl Into<String>) -> Self {
        self.service_account = Some(name.into());
        self
    }

    /// Sets the strategy-specific configuration.
    #[must_use]
    pub fn with_strategy_config(mut self, config: Value) -> Self {
        self.strategy_config = config;
        self
    }

    /// Reads `strategyConfig` into `T`, the strategy's settings as a struct. Give `T`
    /// `#[serde(deny_unknown_fields, rename_all = "camelCase")]` and doc comments: an unknown key
    /// is then refused, every error names the field as users write it
    /// (`strategyConfig.builderImage`), and [`BuildStrategy::config_schema`](crate::BuildStrategy::config_schema)
    /// can document it. An absent `strategyConfig` reads as `{}`.
    pub fn config<T: serde::de::DeserializeOwned>(
        &self,
        strategy: &str,
    ) -> Result<T, crate::StrategyError> {
        let value = match &self.strategy_config {
            Value::Null => Value::Object(serde_json::Map::new()),
            // serde would read a list into a struct by position.
            Value::Object(_) => self.strategy_config.clone(),
            other => {
                return Err(crate::StrategyError::invalid_config(
                    strategy,
                    "strategyConfig",
                    format!("expected an object of settings, found {}", json_type(other)),
                ));
            }
        };
        parse_config(strategy, value)
    }

    /// A string field of `strategyConfig`, or an error naming the field when it has another type.
    #[deprecated(
        since = "0.2.0",
        note = "read strategyConfig into a struct with `BuildRequest::config`"
    )]
    pub fn config_str(
        &self,
        strategy: &str,
        key: &str,
    ) -> Result<Option<&str>, crate::StrategyError> {
        match self.strategy_config.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(other) => Err(crate::StrategyError::invalid_config(
                strategy,
                format!("strategyConfig.{key}"),
                format!("expected a string, found {}", json_type(other)),
            )),
        }
    }

    /// Rejects `strategyConfig` keys this strategy does not know, naming the ones it does.
    pub fn reject_unknown_config_keys(
        &self,
        strategy: &str,
        known: &[&str],
    ) -> Result<(), crate::StrategyError> {
        let map = match &self.strategy_config {
            Value::Null => return Ok(()),
            Value::Object(map) => map,
            other => {
                return Err(crate::StrategyError::invalid_config(
                    strategy,
                    "strategyConfig",
                    format!("expected an object, found {}", json_type(other)),
                ));
            }
        };
        match map.keys().find(|key| !known.contains(&key.as_str())) {
            None => Ok(()),
            Some(key) => Err(crate::StrategyError::invalid_config(
                strategy,
                format!("strategyConfig.{key}"),
                if known.is_empty() {
                    "this strategy takes no strategyConfig keys; remove it".to_owned()
                } else {
                    format!("unknown key; known keys are: {}", known.join(", "))
                },
            )),
        }
    }
}

/// Reads `value`, part or all of `strategyConfig`, into `T`, naming the field of any error.
pub(crate) fn parse_config<T: serde::de::DeserializeOwned>(
    strategy: &str,
    value: Value,
) -> Result<T, crate::StrategyError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let reason = e.into_inner().to_string();
        // The path of an unknown key is the key itself.
        let field = if path == "." {
            "strategyConfig".to_owned()
        } else {
            format!("strategyConfig.{path}")
        };
        crate::StrategyError::invalid_config(strategy, field, reason)
    })
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod config_tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;

    #[derive(Debug, Default, PartialEq, serde::Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct Settings {
        builder_image: Option<String>,
        #[serde(default)]
        force_pull: bool,
        #[serde(default)]
        params: BTreeMap<String, String>,
    }

    fn read(config: serde_json::Value) -> Result<Settings, String> {
        BuildRequest::new("ns", "b", GitSource::new("https://git.example/nb.git"))
            .with_strategy_config(config)
            .config::<Settings>("x")
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_config_reads_into_the_strategys_struct() {
        assert_eq!(read(json!(null)), Ok(Settings::default()));
        let settings =
            read(json!({ "builderImage": "b:1", "forcePull": true, "params": { "a": "1" } }))
                .expect("valid");
        assert_eq!(settings.builder_image.as_deref(), Some("b:1"));
        assert!(settings.force_pull);
    }

    #[test]
    fn every_error_names_the_field_as_users_write_it() {
        let unknown = read(json!({ "builderImag": "b:1" })).expect_err("unknown");
        assert!(
            unknown.starts_with("invalid strategyConfig.builderImag for build strategy 'x'")
                && unknown.contains("expected one of `builderImage`, `forcePull`, `params`"),
            "{unknown}"
        );
        let nested = read(json!({ "params": { "a": 1 } })).expect_err("not a string");
        assert!(
            nested.starts_with("invalid strategyConfig.params.a "),
            "{nested}"
        );
        let flag = read(json!({ "forcePull": "yes" })).expect_err("not a flag");
        assert!(
            flag.starts_with("invalid strategyConfig.forcePull "),
            "{flag}"
        );
        let list = read(json!(["x"])).expect_err("not an object");
        assert!(list.starts_with("invalid strategyConfig "), "{list}");
    }
}
