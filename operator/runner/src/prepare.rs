//! Input preparation: cells marked `NBVAL_RAISES_EXCEPTION` by comment get the
//! `raises-exception` tag, the marker nbclient understands, so
//! execution goes on past them; cells marked `NBVAL_SKIP` become raw cells, which
//! nbclient does not execute, and [`restore_skipped`] turns them back afterwards. An nbformat 3
//! notebook is written in its version 4 form.

use std::path::{Path, PathBuf};

use nbv_compare::{CellControl, Notebook};
use nbv_report::CellType;
use serde_json::Value;

use crate::error::{RunError, infra, invalid};

const TAG: &str = "raises-exception";
/// Tag of the cells kept from execution by `NBVAL_SKIP`.
pub(crate) const NOT_EXECUTED: &str = "nbv-not-executed";

fn add_tag(cell: &mut Value, tag: &str) {
    let metadata = &mut cell["metadata"];
    if !metadata.is_object() {
        *metadata = Value::Object(serde_json::Map::new());
    }
    let tags = &mut metadata["tags"];
    match tags {
        Value::Array(list) => list.push(Value::from(tag)),
        _ => *tags = Value::Array(vec![Value::from(tag)]),
    }
}

/// Returns the notebook path to execute: `input` itself, or a tagged copy in `work_dir`.
pub(crate) fn prepare(
    input: &Path,
    notebook: &Notebook,
    work_dir: &Path,
) -> Result<PathBuf, RunError> {
    let controls: Vec<CellControl> = notebook.cells.iter().map(CellControl::of).collect();
    let code = |i: usize| notebook.cells[i].cell_type == CellType::Code;
    let skipped: Vec<usize> = (0..controls.len())
        .filter(|&i| controls[i].skip && code(i))
        .collect();
    let needs_tag: Vec<usize> = (0..controls.len())
        .filter(|&i| controls[i].raises_exception && !controls[i].skip)
        .filter(|&i| !notebook.cells[i].has_tag(TAG))
        .collect();
    let text = std::fs::read(input)
        .map_err(|e| invalid(format!("cannot read {}: {e}", input.display())))?;
    // An nbformat 3 notebook runs in the version 4 form it was read in, so cells line up.
    let upgraded = nbv_compare::notebook::upgraded(&text);
    if needs_tag.is_empty() && skipped.is_empty() && upgraded.is_none() {
        return Ok(input.to_path_buf());
    }
    let mut doc: Value = match upgraded {
        Some(v4) => v4,
        None => serde_json::from_slice(&text)
            .map_err(|e| invalid(format!("{}: {e}", input.display())))?,
    };
    for index in needs_tag {
        add_tag(&mut doc["cells"][index], TAG);
    }
    for index in skipped {
        let cell = &mut doc["cells"][index];
        add_tag(cell, NOT_EXECUTED);
        cell["cell_type"] = Value::from("raw");
        // nbformat refuses these fields on a raw cell.
        if let Some(fields) = cell.as_object_mut() {
            fields.remove("outputs");
            fields.remove("execution_count");
        }
    }
    let prepared = work_dir.join("input.ipynb");
    let json = serde_json::to_vec(&doc)
        .map_err(|e| infra(format!("cannot serialize prepared notebook: {e}")))?;
    std::fs::write(&prepared, json)
        .map_err(|e| infra(format!("cannot write {}: {e}", prepared.display())))?;
    Ok(prepared)
}

/// Turns the cells [`prepare`] kept from execution back into the code cells they are, with no
/// outputs.
pub(crate) fn restore_skipped(mut notebook: Notebook) -> Notebook {
    for cell in &mut notebook.cells {
        if cell.has_tag(NOT_EXECUTED) {
            cell.cell_type = CellType::Code;
            cell.outputs.clear();
            cell.execution_count = None;
        }
    }
    notebook
}
