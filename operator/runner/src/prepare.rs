//! Input preparation: cells marked `NBVAL_RAISES_EXCEPTION` by comment get the
//! `raises-exception` tag, the marker papermill's executor understands, so
//! execution goes on past them.

use std::path::{Path, PathBuf};

use nbv_compare::{CellControl, Notebook};
use serde_json::Value;

use crate::error::{RunError, infra, invalid};

const TAG: &str = "raises-exception";

/// Returns the notebook path to execute: `input` itself, or a tagged copy in `work_dir`.
pub(crate) fn prepare(
    input: &Path,
    notebook: &Notebook,
    work_dir: &Path,
) -> Result<PathBuf, RunError> {
    let needs_tag: Vec<usize> = notebook
        .cells
        .iter()
        .enumerate()
        .filter(|(_, c)| CellControl::of(c).raises_exception && !c.has_tag(TAG))
        .map(|(i, _)| i)
        .collect();
    if needs_tag.is_empty() {
        return Ok(input.to_path_buf());
    }
    let text = std::fs::read(input)
        .map_err(|e| invalid(format!("cannot read {}: {e}", input.display())))?;
    let mut doc: Value =
        serde_json::from_slice(&text).map_err(|e| invalid(format!("{}: {e}", input.display())))?;
    for index in needs_tag {
        let metadata = &mut doc["cells"][index]["metadata"];
        if !metadata.is_object() {
            *metadata = Value::Object(serde_json::Map::new());
        }
        let tags = &mut metadata["tags"];
        match tags {
            Value::Array(list) => list.push(Value::from(TAG)),
            _ => *tags = Value::Array(vec![Value::from(TAG)]),
        }
    }
    let prepared = work_dir.join("input.ipynb");
    let json = serde_json::to_vec(&doc)
        .map_err(|e| infra(format!("cannot serialize prepared notebook: {e}")))?;
    std::fs::write(&prepared, json)
        .map_err(|e| infra(format!("cannot write {}: {e}", prepared.display())))?;
    Ok(prepared)
}
