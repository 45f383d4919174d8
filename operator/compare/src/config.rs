//! Comparison settings; the same shape and names as the resource's `comparisonConfig`.

use nbv_report::Strategy;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How a golden notebook is compared with an executed one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct CompareConfig {
    /// `exact` compares outputs byte for byte (images included); `normalized`
    /// masks volatile values, collapses whitespace and compares numbers with
    /// `floatingPointTolerance`.
    pub strategy: Strategy,
    /// Two numbers with a fractional part or exponent match when they differ by at
    /// most this much, absolutely or relative to the larger one. Integers must be equal.
    /// Normalized mode only.
    pub floating_point_tolerance: f64,
    /// Mask timestamps, dates and epoch seconds (normalized mode only).
    pub ignore_timestamps: bool,
    /// Do not compare execution counts.
    pub ignore_execution_count: bool,
    /// Extra regular expressions whose matches are masked like timestamps
    /// (normalized mode only).
    pub custom_timestamp_patterns: Vec<String>,
    /// Left out of the comparison: output types (`stream`, `execute_result`,
    /// `display_data`, `error`), stream names (`stream:stderr`) or MIME types (`image/png`).
    pub ignore_output_types: Vec<String>,
}

impl Default for CompareConfig {
    fn default() -> Self {
        Self {
            strategy: Strategy::Normalized,
            floating_point_tolerance: 1e-6,
            ignore_timestamps: true,
            ignore_execution_count: true,
            custom_timestamp_patterns: Vec::new(),
            ignore_output_types: Vec::new(),
        }
    }
}

/// Why a [`CompareConfig`] cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "customTimestampPatterns entry {pattern:?} is not a valid regular expression: {source}"
    )]
    InvalidPattern {
        pattern: String,
        #[source]
        source: regex::Error,
    },
    #[error("floatingPointTolerance must be a finite number >= 0, got {0}")]
    InvalidTolerance(f64),
}

impl CompareConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let tol = self.floating_point_tolerance;
        if tol.is_finite() && tol >= 0.0 {
            Ok(())
        } else {
            Err(ConfigError::InvalidTolerance(tol))
        }
    }

    /// Whether an output type, stream (`stream:NAME`) or MIME type is ignored.
    pub(crate) fn ignores(&self, what: &str) -> bool {
        self.ignore_output_types.iter().any(|t| t == what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_crd_shaped_json_with_defaults() {
        let config: CompareConfig = serde_json::from_str(
            r#"{"strategy": "exact", "floatingPointTolerance": 0.01, "ignoreOutputTypes": ["stream:stderr"]}"#,
        )
        .unwrap();
        assert_eq!(config.strategy, Strategy::Exact);
        assert_eq!(config.floating_point_tolerance, 0.01);
        assert!(config.ignore_timestamps && config.ignore_execution_count);
        assert!(config.ignores("stream:stderr"));
    }

    #[test]
    fn rejects_negative_or_nan_tolerance() {
        for tol in [-1.0, f64::NAN, f64::INFINITY] {
            let config = CompareConfig {
                floating_point_tolerance: tol,
                ..CompareConfig::default()
            };
            assert!(matches!(
                config.validate(),
                Err(ConfigError::InvalidTolerance(_))
            ));
        }
    }
}
