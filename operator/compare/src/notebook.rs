//! The nbformat 4 notebook model and its parser.
//!
//! Deserialization goes straight into these types (no intermediate JSON tree)
//! so large notebooks are read in one pass; the slower diagnosis path runs only
//! when that fails.

mod de;
mod v3;

use std::path::Path;

use nbv_report::CellType;
use serde::Deserialize;

pub use de::{MimeBundle, MimeData, Output};

/// Tags papermill puts on cells it inserts: they are not part of the user's notebook.
const INJECTED_TAGS: [&str; 2] = ["injected-parameters", "papermill-error-cell-tag"];

/// Why a notebook could not be read.
#[derive(Debug, thiserror::Error)]
pub enum NotebookError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("not a notebook: invalid JSON at line {line}, column {column}: {source}")]
    NotJson {
        line: usize,
        column: usize,
        #[source]
        source: serde_json::Error,
    },
    #[error("not an nbformat 4 notebook: {found}")]
    NotNbformat4 { found: String },
    #[error("invalid nbformat 4 notebook: {0}")]
    Invalid(#[source] serde_json::Error),
}

/// A notebook: only the parts validation looks at.
#[derive(Debug, Clone, Deserialize)]
pub struct Notebook {
    pub nbformat: u64,
    #[serde(default)]
    pub nbformat_minor: u64,
    #[serde(default)]
    pub metadata: NotebookMetadata,
    pub cells: Vec<Cell>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct NotebookMetadata {
    #[serde(default)]
    pub kernelspec: Option<KernelSpec>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct KernelSpec {
    /// Jupyter reads a kernelspec without a name (the current kernel is used then).
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Cell {
    pub cell_type: CellType,
    #[serde(default, deserialize_with = "de::multiline")]
    pub source: String,
    #[serde(default)]
    pub metadata: CellMetadata,
    #[serde(default)]
    pub outputs: Vec<Output>,
    #[serde(default)]
    pub execution_count: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct CellMetadata {
    #[serde(default)]
    pub tags: Vec<String>,
    /// Written by papermill for every cell it handles.
    #[serde(default)]
    pub papermill: Option<PapermillCell>,
}

/// papermill's per-cell execution record.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PapermillCell {
    /// `pending`, `running`, `completed` or `failed`.
    #[serde(default)]
    pub status: Option<String>,
    /// Seconds.
    #[serde(default)]
    pub duration: Option<f64>,
    #[serde(default)]
    pub exception: Option<bool>,
}

impl Cell {
    pub fn has_tag(&self, tag: &str) -> bool {
        self.metadata.tags.iter().any(|t| t == tag)
    }
}

impl Notebook {
    /// Removes the cells papermill inserted, so indices match the user's notebook.
    pub fn without_injected_cells(mut self) -> Self {
        self.cells
            .retain(|c| !INJECTED_TAGS.iter().any(|t| c.has_tag(t)));
        self
    }

    pub fn kernel_name(&self) -> Option<&str> {
        self.metadata.kernelspec.as_ref()?.name.as_deref()
    }
}

/// Parses notebook JSON.
pub fn parse(bytes: &[u8]) -> Result<Notebook, NotebookError> {
    if let Some(v4) = upgraded(bytes) {
        return serde_json::from_value::<Notebook>(v4).map_err(NotebookError::Invalid);
    }
    match serde_json::from_slice::<Notebook>(bytes) {
        Ok(nb) if nb.nbformat == 4 => Ok(nb),
        Ok(nb) => Err(NotebookError::NotNbformat4 {
            found: format!("nbformat is {}", nb.nbformat),
        }),
        Err(e) if e.is_data() => Err(diagnose(bytes, e)),
        Err(e) => Err(NotebookError::NotJson {
            line: e.line(),
            column: e.column(),
            source: e,
        }),
    }
}

/// The nbformat 4 form of an nbformat 3 notebook, `None` for any other document.
pub fn upgraded(bytes: &[u8]) -> Option<serde_json::Value> {
    #[derive(Deserialize)]
    struct Version {
        nbformat: Option<serde_json::Value>,
    }
    let version: Version = serde_json::from_slice(bytes).ok()?;
    if version.nbformat != Some(serde_json::json!(3)) {
        return None;
    }
    let document: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    Some(v3::upgrade(&document))
}

/// Reads and parses a notebook file.
pub fn read(path: &Path) -> Result<Notebook, NotebookError> {
    let bytes = std::fs::read(path).map_err(|source| NotebookError::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse(&bytes)
}

/// Tells "another format" apart from "a broken nbformat 4 notebook".
fn diagnose(bytes: &[u8], shape_error: serde_json::Error) -> NotebookError {
    #[derive(Deserialize)]
    struct Version {
        nbformat: Option<serde_json::Value>,
    }
    match serde_json::from_slice::<Version>(bytes) {
        Err(_) => NotebookError::NotNbformat4 {
            found: "the JSON document is not an object".into(),
        },
        Ok(Version { nbformat: None }) => NotebookError::NotNbformat4 {
            found: "no nbformat field".into(),
        },
        Ok(Version { nbformat: Some(v) }) if v != serde_json::json!(4) => {
            NotebookError::NotNbformat4 {
                found: format!("nbformat is {v}"),
            }
        }
        Ok(_) => NotebookError::Invalid(shape_error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(json: &str) -> NotebookError {
        parse(json.as_bytes()).unwrap_err()
    }

    #[test]
    fn rejects_non_json() {
        assert!(matches!(
            err("not json"),
            NotebookError::NotJson { line: 1, .. }
        ));
        assert!(matches!(err(""), NotebookError::NotJson { .. }));
    }

    #[test]
    fn rejects_other_formats() {
        assert!(matches!(err("[1, 2]"), NotebookError::NotNbformat4 { .. }));
        assert!(matches!(
            err(r#"{"cells": []}"#),
            NotebookError::NotNbformat4 { .. }
        ));
        assert!(matches!(
            err(r#"{"nbformat": 5, "cells": []}"#),
            NotebookError::NotNbformat4 { .. }
        ));
    }

    #[test]
    fn reports_broken_nbformat4_structure() {
        let e = err(r#"{"nbformat": 4, "cells": [{"cell_type": "weird", "source": ""}]}"#);
        assert!(matches!(e, NotebookError::Invalid(_)), "{e}");
    }

    #[test]
    fn reads_cells_outputs_and_papermill_metadata() {
        let nb = parse(
            br##"{"nbformat": 4, "nbformat_minor": 5,
                "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
                "cells": [
                  {"cell_type": "markdown", "source": ["# T", "itle"], "metadata": {}},
                  {"cell_type": "code", "source": "print(1)", "execution_count": 3,
                   "metadata": {"tags": ["parameters"], "papermill": {"status": "completed", "duration": 0.5, "exception": false}},
                   "outputs": [{"output_type": "stream", "name": "stdout", "text": ["1\n"]}]}
                ]}"##,
        )
        .unwrap();
        assert_eq!(nb.kernel_name(), Some("python3"));
        assert_eq!(nb.cells[0].source, "# Title");
        let code = &nb.cells[1];
        assert!(code.has_tag("parameters"));
        assert_eq!(code.execution_count, Some(3));
        assert_eq!(
            code.metadata.papermill.as_ref().unwrap().duration,
            Some(0.5)
        );
        assert!(
            matches!(&code.outputs[0], Output::Stream { name, text } if name == "stdout" && text == "1\n")
        );
    }

    #[test]
    fn reads_an_nbformat_3_notebook_as_jupyter_does() {
        let nb = parse(
            br##"{"nbformat": 3, "nbformat_minor": 0, "metadata": {"name": "old"},
                "worksheets": [{"cells": [
                  {"cell_type": "heading", "level": 2, "source": ["Title"], "metadata": {}},
                  {"cell_type": "code", "input": ["print(1)\n", "2"], "prompt_number": 4, "language": "python",
                   "metadata": {"tags": ["nbval-skip"]},
                   "outputs": [
                     {"output_type": "stream", "stream": "stdout", "text": ["1\n"]},
                     {"output_type": "pyout", "prompt_number": 4, "text": ["2"], "metadata": {}},
                     {"output_type": "display_data", "png": "iVBOR", "metadata": {}},
                     {"output_type": "pyerr", "ename": "E", "evalue": "v", "traceback": []}
                   ]}
                ]}]}"##,
        )
        .expect("upgraded");
        assert_eq!(nb.nbformat, 4);
        assert_eq!(nb.cells[0].cell_type, CellType::Markdown);
        assert_eq!(nb.cells[0].source, "## Title");
        let code = &nb.cells[1];
        assert_eq!(
            (code.source.as_str(), code.execution_count),
            ("print(1)\n2", Some(4))
        );
        assert!(code.has_tag("nbval-skip"));
        assert!(
            matches!(&code.outputs[0], Output::Stream { name, text } if name == "stdout" && text == "1\n")
        );
        assert!(matches!(
            &code.outputs[1],
            Output::ExecuteResult {
                execution_count: Some(4),
                ..
            }
        ));
        assert!(
            matches!(&code.outputs[2], Output::DisplayData { data } if data.get("image/png").is_some())
        );
        assert!(matches!(&code.outputs[3], Output::Error { ename, .. } if ename == "E"));
    }

    #[test]
    fn a_kernelspec_without_a_name_is_read() {
        let nb = parse(br#"{"nbformat": 4, "metadata": {"kernelspec": {"display_name": "Python"}}, "cells": []}"#)
            .expect("read");
        assert_eq!(nb.kernel_name(), None);
    }

    #[test]
    fn drops_papermill_injected_cells() {
        let nb = parse(
            br#"{"nbformat": 4, "cells": [
                {"cell_type": "code", "source": "a = 1", "metadata": {"tags": ["parameters"]}},
                {"cell_type": "code", "source": "a = 2", "metadata": {"tags": ["injected-parameters"]}},
                {"cell_type": "markdown", "source": "x", "metadata": {"tags": ["papermill-error-cell-tag"]}}
            ]}"#,
        )
        .unwrap()
        .without_injected_cells();
        assert_eq!(nb.cells.len(), 1);
    }
}
