//! JSON Schemas of the documents, for docs and for consumers in other languages.

use crate::report::Report;
use crate::summary::Summary;

/// JSON Schema of [`Summary`].
pub fn summary_schema() -> serde_json::Value {
    schemars::schema_for!(Summary).to_value()
}

/// JSON Schema of [`Report`].
pub fn report_schema() -> serde_json::Value {
    schemars::schema_for!(Report).to_value()
}
