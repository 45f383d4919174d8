use nbv_compare::{Comparator, CompareConfig, Notebook, notebook};
use nbv_report::{ComparisonOutcome, DiffKind, Strategy};
use serde_json::{Value, json};

fn nb(cells: Value) -> Notebook {
    let doc = json!({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells});
    notebook::parse(doc.to_string().as_bytes()).expect("test notebook parses")
}

fn code(source: &str, outputs: Value) -> Value {
    json!({"cell_type": "code", "source": source, "metadata": {}, "execution_count": 1, "outputs": outputs})
}

fn stdout(text: &str) -> Value {
    json!({"output_type": "stream", "name": "stdout", "text": text})
}

fn result(data: Value) -> Value {
    json!({"output_type": "execute_result", "execution_count": 1, "metadata": {}, "data": data})
}

fn comparator(strategy: Strategy) -> Comparator {
    Comparator::new(CompareConfig {
        strategy,
        ..CompareConfig::default()
    })
    .expect("default config is valid")
}

#[test]
fn volatile_outputs_match_normalized_and_differ_exact() {
    let golden = nb(json!([code(
        "print(stuff)",
        json!([
            stdout("started 2024-01-02T10:11:12.123456 id=3f2504e0-4f89-11d3-9a0c-0305e82c3301\n"),
            stdout("at /tmp/tmpabc12345/x.csv   total 0.30000000000000004\n"),
            result(json!({"text/plain": "<Foo object at 0x7f3a2b1c4d50>", "image/png": "AAAA"}))
        ])
    )]));
    let actual = nb(json!([code(
        "print(stuff)",
        json!([
            stdout(
                "started 2025-06-07T01:02:03.000001 id=9b2c1a00-1111-4222-8333-444455556666\nat /tmp/tmpzz999999/x.csv total 0.3\n"
            ),
            result(json!({"text/plain": "<Foo object at 0x7fffeeee0000>", "image/png": "BBBB"}))
        ])
    )]));

    let normalized = comparator(Strategy::Normalized).compare(&golden, &actual);
    assert_eq!(
        normalized.result,
        ComparisonOutcome::Matched,
        "{normalized:#?}"
    );

    let exact = comparator(Strategy::Exact).compare(&golden, &actual);
    assert_eq!(exact.result, ComparisonOutcome::Failed);
    insta::assert_yaml_snapshot!(exact);
}

#[test]
fn structural_differences_are_reported_as_such() {
    let golden = nb(json!([
        code("a = 1", json!([])),
        {"cell_type": "markdown", "source": "# Title", "metadata": {}},
        code("print(a)", json!([stdout("1\n")])),
    ]));
    let actual = nb(json!([
        code("a = 1", json!([])),
        code("# Title", json!([])),
    ]));
    let comparison = comparator(Strategy::Normalized).compare(&golden, &actual);
    let kinds: Vec<_> = comparison
        .mismatches
        .iter()
        .map(|m| (m.cell_index, m.kind))
        .collect();
    assert_eq!(
        kinds,
        [(1, DiffKind::CellTypeChanged), (2, DiffKind::MissingCell)]
    );
    insta::assert_yaml_snapshot!(comparison);
}

#[test]
fn output_level_differences_name_cell_and_output() {
    let golden = nb(json!([
        code(
            "x",
            json!([
                stdout("one\ntwo\nthree\n"),
                result(json!({"text/plain": "42", "text/html": "<b>42</b>"}))
            ])
        ),
        code("y", json!([stdout("a\n")])),
        code(
            "z",
            json!([{"output_type": "error", "ename": "KeyError", "evalue": "'a'", "traceback": []}])
        ),
    ]));
    let actual = nb(json!([
        code(
            "x",
            json!([
                stdout("one\n2\nthree\n"),
                result(json!({"text/plain": "42"}))
            ])
        ),
        code(
            "y",
            json!([
                stdout("a\n"),
                stdout("b\n"),
                result(json!({"text/plain": "1"}))
            ])
        ),
        code(
            "z",
            json!([{"output_type": "error", "ename": "KeyError", "evalue": "'b'", "traceback": []}])
        ),
    ]));
    let comparison = comparator(Strategy::Normalized).compare(&golden, &actual);
    insta::assert_yaml_snapshot!(comparison);
}

#[test]
fn consecutive_stream_chunks_are_joined() {
    let golden = nb(json!([code("p", json!([stdout("a\nb\n")]))]));
    let actual = nb(json!([code("p", json!([stdout("a\n"), stdout("b\n")]))]));
    for strategy in [Strategy::Exact, Strategy::Normalized] {
        assert_eq!(
            comparator(strategy).compare(&golden, &actual).result,
            ComparisonOutcome::Matched
        );
    }
}

#[test]
fn images_compared_by_mime_type_unless_exact() {
    let golden = nb(json!([code(
        "plot",
        json!([result(
            json!({"image/png": "AAAA", "text/plain": "<Figure>"})
        )])
    )]));
    let changed = nb(json!([code(
        "plot",
        json!([result(
            json!({"image/png": "BBBB", "text/plain": "<Figure>"})
        )])
    )]));
    let other_mime = nb(json!([code(
        "plot",
        json!([result(
            json!({"image/jpeg": "AAAA", "text/plain": "<Figure>"})
        )])
    )]));
    let normalized = comparator(Strategy::Normalized);
    assert_eq!(
        normalized.compare(&golden, &changed).result,
        ComparisonOutcome::Matched
    );
    let kinds: Vec<_> = normalized
        .compare(&golden, &other_mime)
        .mismatches
        .iter()
        .map(|m| m.kind)
        .collect();
    assert_eq!(kinds, [DiffKind::MimeTypesChanged]);
    let exact = comparator(Strategy::Exact).compare(&golden, &changed);
    assert_eq!(exact.mismatches[0].mime_type.as_deref(), Some("image/png"));
}

#[test]
fn json_outputs_compared_structurally_with_tolerance() {
    let golden = nb(json!([code(
        "j",
        json!([result(
            json!({"application/json": {"a": 0.1000001, "b": ["x"]}})
        )])
    )]));
    let close = nb(json!([code(
        "j",
        json!([result(
            json!({"application/json": {"b": ["x"], "a": 0.1000002}})
        )])
    )]));
    let far = nb(json!([code(
        "j",
        json!([result(json!({"application/json": {"b": ["x"], "a": 0.2}}))])
    )]));
    let c = comparator(Strategy::Normalized);
    assert_eq!(
        c.compare(&golden, &close).result,
        ComparisonOutcome::Matched
    );
    assert_eq!(
        c.compare(&golden, &far).mismatches[0].mime_type.as_deref(),
        Some("application/json")
    );
}

#[test]
fn execution_counts_ignored_unless_asked() {
    let golden = nb(json!([code("x", json!([]))]));
    let mut later = json!([code("x", json!([]))]);
    later[0]["execution_count"] = json!(7);
    let actual = nb(later);
    assert_eq!(
        comparator(Strategy::Exact).compare(&golden, &actual).result,
        ComparisonOutcome::Matched
    );
    let strict = Comparator::new(CompareConfig {
        ignore_execution_count: false,
        ..CompareConfig::default()
    })
    .unwrap();
    assert_eq!(
        strict.compare(&golden, &actual).mismatches[0].kind,
        DiffKind::ExecutionCountChanged
    );
}

#[test]
fn ignore_output_types_by_type_stream_and_mime() {
    let golden = nb(json!([code(
        "x",
        json!([
            stdout("same\n"),
            {"output_type": "stream", "name": "stderr", "text": "warning A\n"},
            {"output_type": "display_data", "metadata": {}, "data": {"text/plain": "d1"}},
            result(json!({"text/plain": "r", "text/html": "<i>1</i>"}))
        ])
    )]));
    let actual = nb(json!([code(
        "x",
        json!([
            stdout("same\n"),
            {"output_type": "stream", "name": "stderr", "text": "warning B\n"},
            {"output_type": "display_data", "metadata": {}, "data": {"text/plain": "d2"}},
            result(json!({"text/plain": "r", "text/html": "<i>2</i>"}))
        ])
    )]));
    let config = CompareConfig {
        ignore_output_types: vec![
            "stream:stderr".into(),
            "display_data".into(),
            "text/html".into(),
        ],
        ..CompareConfig::default()
    };
    let c = Comparator::new(config).unwrap();
    assert_eq!(
        c.compare(&golden, &actual).result,
        ComparisonOutcome::Matched
    );
    assert_eq!(
        comparator(Strategy::Normalized)
            .compare(&golden, &actual)
            .totals
            .mismatches,
        3
    );
}

fn with_marker(source: &str, golden_out: &str, actual_out: &str) -> nbv_report::Comparison {
    let golden = nb(json!([code(source, json!([stdout(golden_out)]))]));
    let actual = nb(json!([code(source, json!([stdout(actual_out)]))]));
    comparator(Strategy::Normalized).compare(&golden, &actual)
}

#[test]
fn nbval_skip_excludes_the_cell() {
    let c = with_marker("# NBVAL_SKIP\nprint(random())", "0.1", "0.9");
    assert_eq!(c.result, ComparisonOutcome::Matched);
    assert_eq!(c.totals.cells_skipped, 1);
}

#[test]
fn nbval_ignore_output_keeps_cell_but_not_outputs() {
    let c = with_marker("# NBVAL_IGNORE_OUTPUT\nprint(random())", "0.1", "0.9");
    assert_eq!(c.result, ComparisonOutcome::Matched);
    assert_eq!(c.totals.cells_compared, 1);
}

#[test]
fn nbval_check_output_overrides_ignore() {
    let c = with_marker(
        "# NBVAL_IGNORE_OUTPUT\n# NBVAL_CHECK_OUTPUT\nprint(x)",
        "0.1",
        "0.9",
    );
    assert_eq!(c.result, ComparisonOutcome::Failed);
}

#[test]
fn nbval_raises_exception_compares_exception_name_only() {
    let error = |ename: &str, evalue: &str| json!({"output_type": "error", "ename": ename, "evalue": evalue, "traceback": ["tb"]});
    let golden = nb(json!([code(
        "# NBVAL_RAISES_EXCEPTION\nf()",
        json!([error("ValueError", "bad 1")])
    )]));
    let same_type = nb(json!([code(
        "# NBVAL_RAISES_EXCEPTION\nf()",
        json!([error("ValueError", "bad 2")])
    )]));
    let other_type = nb(json!([code(
        "# NBVAL_RAISES_EXCEPTION\nf()",
        json!([error("TypeError", "bad 1")])
    )]));
    let c = comparator(Strategy::Normalized);
    assert_eq!(
        c.compare(&golden, &same_type).result,
        ComparisonOutcome::Matched
    );
    assert_eq!(
        c.compare(&golden, &other_type).mismatches[0].kind,
        DiffKind::ErrorMismatch
    );
}

#[test]
fn invalid_config_is_rejected() {
    let config = CompareConfig {
        custom_timestamp_patterns: vec!["[".into()],
        ..CompareConfig::default()
    };
    let err = Comparator::new(config).unwrap_err();
    assert!(err.to_string().contains("customTimestampPatterns"), "{err}");
}
