//! `nbv requirements`: what a build with `fallbackStrategy: auto` installs, from the notebook's
//! imports and `%pip install` lines, run by a real Python.

mod common;

use common::command;
use serde_json::json;

/// Writes a notebook of `cells` (code sources) into a fresh directory holding `local` modules,
/// and returns what `nbv requirements` prints: (stdout lines, stderr).
fn requirements(name: &str, cells: &[&str], local: &[&str]) -> (Vec<String>, String) {
    requirements_named(name, cells, local, &[])
}

/// As [`requirements`], with `--import-name` entries.
fn requirements_named(
    name: &str,
    cells: &[&str],
    local: &[&str],
    import_names: &[&str],
) -> (Vec<String>, String) {
    let dir = std::env::temp_dir().join(format!("nbv-requirements-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    for module in local {
        std::fs::write(dir.join(module), "").expect("module");
    }
    let cells: Vec<_> = cells
        .iter()
        .map(|source| json!({"cell_type": "code", "source": source, "metadata": {}, "outputs": [], "execution_count": null}))
        .collect();
    let notebook = dir.join("nb.ipynb");
    std::fs::write(
        &notebook,
        json!({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells}).to_string(),
    )
    .expect("notebook");
    let mut nbv = command();
    nbv.arg("requirements");
    for entry in import_names {
        nbv.arg("--import-name").arg(entry);
    }
    let out = nbv.arg(&notebook).output().expect("nbv runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    (lines, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn the_standard_library_needs_nothing() {
    let (lines, _) = requirements(
        "stdlib",
        &[
            "import os, sys, json\nfrom collections import Counter\nimport xml.etree.ElementTree as ET",
        ],
        &[],
    );
    assert!(lines.is_empty(), "{lines:?}");
}

#[test]
fn imports_map_to_their_distributions() {
    let (lines, stderr) = requirements(
        "mapped",
        &[
            "import numpy as np\nfrom sklearn.linear_model import LinearRegression",
            "def load():\n    import yaml\n    from PIL import Image\n    return Image",
            "import cv2, pandas",
        ],
        &[],
    );
    assert_eq!(
        lines,
        [
            "numpy",
            "scikit-learn",
            "PyYAML",
            "Pillow",
            "opencv-python",
            "pandas"
        ]
    );
    // Kept by their own name, and said so.
    assert!(
        stderr.contains("numpy") && stderr.contains("pandas"),
        "{stderr}"
    );
}

#[test]
fn pip_lines_come_first_with_their_options_and_local_modules_stay_out() {
    let (lines, _) = requirements(
        "pip",
        &[
            "%pip install --no-index --find-links /wheels nbvdemo==1.0\nimport nbvdemo\nimport helpers\nimport pkg.sub",
            "!pip install -q requests\nimport requests",
        ],
        &["helpers.py"],
    );
    assert_eq!(
        lines,
        [
            "--no-index",
            "--find-links /wheels",
            "nbvdemo==1.0",
            "requests",
            "pkg"
        ]
    );
}

#[test]
fn a_cell_that_does_not_parse_is_skipped_not_fatal() {
    let (lines, _) = requirements("broken", &["def (:", "import scipy"], &[]);
    assert_eq!(lines, ["scipy"]);
}

#[test]
fn the_table_of_import_names_is_extended_and_overridden() {
    let (lines, stderr) = requirements_named(
        "named",
        &["import acme.tools\nimport yaml\nimport google.protobuf\nimport pandas"],
        &[],
        &[
            "acme=acme-sdk",
            "yaml=ruamel.yaml",
            "google.protobuf=protobuf",
        ],
    );
    assert_eq!(lines, ["acme-sdk", "ruamel.yaml", "protobuf", "pandas"]);
    // Only pandas is left to its import name.
    assert!(
        stderr.contains("import name") && stderr.contains("pandas") && !stderr.contains("acme"),
        "{stderr}"
    );
}

#[test]
fn an_import_name_entry_without_a_distribution_is_refused() {
    let out = command()
        .args(["requirements", "--import-name", "acme", "nb.ipynb"])
        .output()
        .expect("nbv runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("MODULE=DISTRIBUTION"), "{stderr}");
}
