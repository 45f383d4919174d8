//! Reading summaries and reports back, refusing unknown schema versions.

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::SCHEMA_VERSION;
use crate::report::Report;
use crate::summary::Summary;

/// Why a summary or report could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("the document is empty")]
    Empty,
    #[error("the document is not valid JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    #[error("the document has no schemaVersion field")]
    MissingSchemaVersion,
    #[error("schemaVersion {found} is not supported (this reader knows version {supported})")]
    UnsupportedSchemaVersion { found: u64, supported: u32 },
    #[error("the document does not match schema version {SCHEMA_VERSION}: {0}")]
    Shape(#[source] serde_json::Error),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VersionProbe {
    schema_version: Option<u64>,
}

fn parse_versioned<T: DeserializeOwned>(json: &str) -> Result<T, ParseError> {
    if json.trim().is_empty() {
        return Err(ParseError::Empty);
    }
    // The version is checked before the shape so a newer document gets a
    // version error rather than a confusing field error.
    let probe: VersionProbe = serde_json::from_str(json).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ParseError::Shape(e),
        _ => ParseError::NotJson(e),
    })?;
    match probe.schema_version {
        None => Err(ParseError::MissingSchemaVersion),
        Some(found) if found != u64::from(SCHEMA_VERSION) => {
            Err(ParseError::UnsupportedSchemaVersion {
                found,
                supported: SCHEMA_VERSION,
            })
        }
        Some(_) => serde_json::from_str(json).map_err(ParseError::Shape),
    }
}

impl Summary {
    /// Parses a termination message written by [`Summary::to_bounded_json`].
    pub fn from_json(json: &str) -> Result<Self, ParseError> {
        parse_versioned(json)
    }
}

impl Report {
    /// Parses a full report file.
    pub fn from_json(json: &str) -> Result<Self, ParseError> {
        parse_versioned(json)
    }
}
