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
    /// nbval's lax mode: only cells marked `NBVAL_CHECK_OUTPUT` (or tagged
    /// `nbval-check-output`) have their outputs compared; every cell still runs.
    pub lax: bool,
    /// Regular expressions replaced in every text output of both notebooks before comparing,
    /// in order, as nbval's `--nbval-sanitize-with` file does (both modes).
    pub sanitizers: Vec<Sanitizer>,
}

/// One regular expression and its replacement (`\1` or `${1}` for a group).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Sanitizer {
    /// The pattern (Rust regex syntax, which Python's common patterns share).
    pub regex: String,
    /// What each match becomes.
    #[serde(default)]
    pub replace: String,
}

/// Reads an nbval sanitize file: every `regex: ` line directly followed by a `replace: ` line
/// is a pair, in file order; section headers and other lines are ignored, as nbval does.
pub fn parse_sanitize_file(text: &str) -> Vec<Sanitizer> {
    let lines: Vec<&str> = text.lines().collect();
    lines
        .windows(2)
        .filter_map(|pair| {
            let regex = pair[0].strip_prefix("regex: ")?;
            let replace = pair[1].strip_prefix("replace: ")?;
            Some(Sanitizer {
                regex: regex.to_owned(),
                replace: replace.to_owned(),
            })
        })
        .collect()
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
            lax: false,
            sanitizers: Vec::new(),
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
    #[error("sanitizers entry {pattern:?} is not a valid regular expression: {source}")]
    InvalidSanitizer {
        pattern: String,
        #[source]
        source: regex::Error,
    },
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
    fn reads_nbval_sanitize_files() {
        let file = "[regex1]\nregex: \\d{1,2}/\\d{1,2}/\\d{2,4}\nreplace: DATE-STAMP\n\n[regex2]\nregex: 0x[0-9a-f]+\nreplace: ADDRESS\nregex: orphan\n";
        let pairs = parse_sanitize_file(file);
        assert_eq!(
            pairs,
            [
                Sanitizer {
                    regex: r"\d{1,2}/\d{1,2}/\d{2,4}".into(),
                    replace: "DATE-STAMP".into()
                },
                Sanitizer {
                    regex: "0x[0-9a-f]+".into(),
                    replace: "ADDRESS".into()
                },
            ]
        );
    }

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
