//! Notebooks nbval runs and passes, validated against their own stored outputs by a real kernel:
//! no kernelspec, nbformat 3, streams a rerun interleaves differently, a volatile id a sanitizer
//! rewrites, and lax mode (docs/comparison.md).

mod common;

use std::path::PathBuf;

use common::{path, validate};
use nbv_report::Outcome;
use serde_json::{Value, json};

fn write(name: &str, notebook: &Value) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nbv-nbval-compat-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join(name);
    std::fs::write(&file, notebook.to_string()).expect("written");
    file
}

fn code(source: &str, count: u64, outputs: Value) -> Value {
    json!({"cell_type": "code", "source": source, "metadata": {}, "execution_count": count, "outputs": outputs})
}

fn stream(name: &str, text: &str) -> Value {
    json!({"output_type": "stream", "name": name, "text": text})
}

/// A notebook with no kernelspec whose stored outputs interleave stdout and stderr unlike a
/// rerun, and print an id that changes every run.
fn volatile_notebook() -> Value {
    json!({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        code("import sys, uuid\nprint('a')\nprint('warn', file=sys.stderr)\nprint('b')", 1,
             json!([stream("stdout", "a\nb\n"), stream("stderr", "warn\n")])),
        code("print('run', uuid.uuid4().hex[:8])", 2, json!([stream("stdout", "run 0badc0de\n")])),
    ]})
}

#[test]
fn a_notebook_validates_against_itself_with_a_sanitizer() {
    let notebook = write("volatile.ipynb", &volatile_notebook());
    // The run id differs on every run: exact mode sees it without a sanitizer.
    let (code, report, _) = validate(&[
        path(&notebook),
        "--golden",
        path(&notebook),
        "--mode",
        "exact",
    ]);
    assert_eq!(
        code,
        Outcome::OutputsDiffer.exit_code(),
        "{}",
        report.message
    );
    let sanitize = notebook.with_file_name("sanitize.cfg");
    std::fs::write(
        &sanitize,
        "[run ids]\nregex: run [0-9a-f]{8}\nreplace: run ID\n",
    )
    .expect("written");
    for mode in ["normalized", "exact"] {
        let (code, report, _) = validate(&[
            path(&notebook),
            "--golden",
            path(&notebook),
            "--sanitize-with",
            path(&sanitize),
            "--mode",
            mode,
        ]);
        assert_eq!(
            code, 0,
            "{mode}: {} {:#?}",
            report.message, report.comparison
        );
    }
}

#[test]
fn lax_mode_compares_only_marked_cells() {
    let notebook = write(
        "lax.ipynb",
        &json!({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
            code("print('changed')", 1, json!([stream("stdout", "stored\n")])),
            code("# NBVAL_CHECK_OUTPUT\nprint(6 * 7)", 2, json!([stream("stdout", "42\n")])),
        ]}),
    );
    let (code, report, _) = validate(&[path(&notebook), "--golden", path(&notebook), "--lax"]);
    assert_eq!(code, 0, "{} {:#?}", report.message, report.comparison);
    let (code, report, _) = validate(&[path(&notebook), "--golden", path(&notebook)]);
    assert_eq!(
        code,
        Outcome::OutputsDiffer.exit_code(),
        "{}",
        report.message
    );
}

#[test]
fn an_nbformat_3_notebook_runs_and_validates() {
    let notebook = write(
        "old.ipynb",
        &json!({"nbformat": 3, "nbformat_minor": 0, "metadata": {"name": "old"},
        "worksheets": [{"cells": [
            {"cell_type": "heading", "level": 1, "source": "Old", "metadata": {}},
            {"cell_type": "code", "input": "print(1 + 1)", "prompt_number": 1, "language": "python",
             "metadata": {}, "outputs": [{"output_type": "stream", "stream": "stdout", "text": "2\n"}]}
        ]}]}),
    );
    let (code, report, _) = validate(&[path(&notebook), "--golden", path(&notebook)]);
    assert_eq!(code, 0, "{} {:#?}", report.message, report.comparison);
}
