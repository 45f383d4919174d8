//! nbformat 3 notebooks read as nbformat 4, as Jupyter reads them (nbformat's v4 upgrade):
//! worksheets become one list of cells, `input` becomes `source`, `prompt_number` the execution
//! count, heading cells markdown headings, and outputs take their version 4 names and MIME keys.

use serde_json::{Map, Value, json};

/// Version 3 output keys and the MIME types they hold.
const MIME_KEYS: [(&str, &str); 8] = [
    ("text", "text/plain"),
    ("html", "text/html"),
    ("svg", "image/svg+xml"),
    ("png", "image/png"),
    ("jpeg", "image/jpeg"),
    ("latex", "text/latex"),
    ("json", "application/json"),
    ("javascript", "application/javascript"),
];

/// The version 4 form of a version 3 notebook document.
pub(crate) fn upgrade(v3: &Value) -> Value {
    let cells: Vec<Value> = v3["worksheets"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|sheet| sheet["cells"].as_array().into_iter().flatten())
        .map(cell)
        .collect();
    let mut metadata = v3["metadata"].as_object().cloned().unwrap_or_default();
    // Version 3 kept the notebook's name here; version 4 has no such field.
    metadata.remove("name");
    json!({ "nbformat": 4, "nbformat_minor": 0, "metadata": metadata, "cells": cells })
}

fn cell(v3: &Value) -> Value {
    let metadata = v3.get("metadata").cloned().unwrap_or_else(|| json!({}));
    match v3["cell_type"].as_str().unwrap_or_default() {
        "code" => json!({
            "cell_type": "code",
            "source": v3.get("input").cloned().unwrap_or_else(|| json!("")),
            "execution_count": v3.get("prompt_number").cloned().unwrap_or(Value::Null),
            "metadata": metadata,
            "outputs": v3["outputs"].as_array().into_iter().flatten().map(output).collect::<Vec<_>>(),
        }),
        "heading" => {
            let level = v3["level"].as_u64().unwrap_or(1).clamp(1, 6);
            let text = match &v3["source"] {
                Value::Array(lines) => lines.iter().filter_map(Value::as_str).collect::<String>(),
                other => other.as_str().unwrap_or_default().to_owned(),
            };
            json!({
                "cell_type": "markdown",
                "source": format!("{} {}", "#".repeat(level as usize), text.replace('\n', " ")),
                "metadata": metadata,
            })
        }
        other => json!({
            "cell_type": other,
            "source": v3.get("source").cloned().unwrap_or_else(|| json!("")),
            "metadata": metadata,
        }),
    }
}

fn output(v3: &Value) -> Value {
    let mime_bundle = || {
        let data: Map<String, Value> = MIME_KEYS
            .iter()
            .filter_map(|(key, mime)| v3.get(*key).map(|v| ((*mime).to_owned(), v.clone())))
            .collect();
        Value::Object(data)
    };
    match v3["output_type"].as_str().unwrap_or_default() {
        "pyout" => json!({
            "output_type": "execute_result",
            "execution_count": v3.get("prompt_number").cloned().unwrap_or(Value::Null),
            "data": mime_bundle(),
            "metadata": {},
        }),
        "display_data" => {
            json!({ "output_type": "display_data", "data": mime_bundle(), "metadata": {} })
        }
        "pyerr" => json!({
            "output_type": "error",
            "ename": v3["ename"], "evalue": v3["evalue"],
            "traceback": v3.get("traceback").cloned().unwrap_or_else(|| json!([])),
        }),
        "stream" => json!({
            "output_type": "stream",
            "name": v3.get("stream").or(v3.get("name")).cloned().unwrap_or_else(|| json!("stdout")),
            "text": v3["text"],
        }),
        _ => v3.clone(),
    }
}
