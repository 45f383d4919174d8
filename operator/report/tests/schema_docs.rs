//! docs/result-schema.md embeds the generated JSON Schemas; this keeps them fresh.
//! Regenerate with `NBV_UPDATE_DOCS=1 cargo test -p nbv-report --test schema_docs`.

use std::path::PathBuf;

fn docs_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/result-schema.md")
}

/// Replaces the fenced block between the markers named `name`.
fn splice(doc: &str, name: &str, schema: &serde_json::Value) -> String {
    let begin = format!("<!-- BEGIN GENERATED {name} -->\n");
    let end = format!("<!-- END GENERATED {name} -->");
    let start = doc
        .find(&begin)
        .unwrap_or_else(|| panic!("marker {begin:?} missing"))
        + begin.len();
    let stop = doc
        .find(&end)
        .unwrap_or_else(|| panic!("marker {end:?} missing"));
    let body = serde_json::to_string_pretty(schema).expect("schema serializes");
    format!("{}```json\n{body}\n```\n{}", &doc[..start], &doc[stop..])
}

#[test]
fn result_schema_doc_is_fresh() {
    let path = docs_path();
    let doc = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let fresh = splice(&doc, "summary", &nbv_report::summary_schema());
    let fresh = splice(&fresh, "report", &nbv_report::report_schema());
    if std::env::var_os("NBV_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &fresh).unwrap();
    }
    assert!(
        doc == fresh || std::env::var_os("NBV_UPDATE_DOCS").is_some(),
        "{} is stale; run NBV_UPDATE_DOCS=1 cargo test -p nbv-report --test schema_docs",
        path.display()
    );
}
