//! The rules by which nbv agrees with nbval, one test each (docs/comparison.md lists them).
//! Each pair of notebooks is one nbval passes; exact mode, stricter on purpose, is checked
//! where it differs.

use nbv_compare::{Comparator, CompareConfig, Notebook, Sanitizer, notebook};
use nbv_report::{ComparisonOutcome, Strategy};
use serde_json::{Value, json};

fn nb(cells: Value) -> Notebook {
    let doc = json!({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells});
    notebook::parse(doc.to_string().as_bytes()).expect("test notebook parses")
}

fn cell(source: &str, tags: &[&str], count: Option<u64>, outputs: Value) -> Value {
    json!({"cell_type": "code", "source": source, "metadata": {"tags": tags},
           "execution_count": count, "outputs": outputs})
}

fn code(source: &str, outputs: Value) -> Value {
    cell(source, &[], Some(1), outputs)
}

fn stream(name: &str, text: &str) -> Value {
    json!({"output_type": "stream", "name": name, "text": text})
}

fn rich(output_type: &str, data: Value) -> Value {
    let mut output = json!({"output_type": output_type, "metadata": {}, "data": data});
    if output_type == "execute_result" {
        output["execution_count"] = json!(1);
    }
    output
}

fn outcome(config: CompareConfig, golden: Value, actual: Value) -> ComparisonOutcome {
    let comparison = Comparator::new(config)
        .expect("valid config")
        .compare(&nb(golden), &nb(actual));
    comparison.result
}

fn normalized(golden: Value, actual: Value) -> ComparisonOutcome {
    outcome(CompareConfig::default(), golden, actual)
}

fn exact(golden: Value, actual: Value) -> ComparisonOutcome {
    let config = CompareConfig {
        strategy: Strategy::Exact,
        ..CompareConfig::default()
    };
    outcome(config, golden, actual)
}

use ComparisonOutcome::{Failed, Matched};

#[test]
fn streams_of_one_name_are_joined_wherever_they_are() {
    let golden = json!([code(
        "run()",
        json!([
            stream("stdout", "a\n"),
            stream("stderr", "warn\n"),
            stream("stdout", "b\n")
        ])
    )]);
    let actual = json!([code(
        "run()",
        json!([stream("stdout", "a\nb\n"), stream("stderr", "warn\n")])
    )]);
    assert_eq!(normalized(golden.clone(), actual.clone()), Matched);
    assert_eq!(exact(golden, actual), Matched);
}

#[test]
fn a_result_and_a_display_of_the_same_data_match() {
    let golden = json!([code(
        "x",
        json!([rich("display_data", json!({"text/plain": "42"}))])
    )]);
    let actual = json!([code(
        "x",
        json!([rich("execute_result", json!({"text/plain": "42"}))])
    )]);
    assert_eq!(normalized(golden.clone(), actual.clone()), Matched);
    assert_eq!(exact(golden, actual), Failed);
    // The data still counts.
    let golden = json!([code(
        "x",
        json!([rich("display_data", json!({"text/plain": "42"}))])
    )]);
    let actual = json!([code(
        "x",
        json!([rich("execute_result", json!({"text/plain": "43"}))])
    )]);
    assert_eq!(normalized(golden, actual), Failed);
}

#[test]
fn widget_views_are_not_compared() {
    let view = |id: &str| {
        json!({"text/plain": "IntSlider(value=1)",
        "application/vnd.jupyter.widget-view+json": {"model_id": id, "version_major": 2, "version_minor": 0}})
    };
    let golden = json!([code("w", json!([rich("display_data", view("0a1b"))]))]);
    let actual = json!([code("w", json!([rich("display_data", view("9f8e"))]))]);
    assert_eq!(normalized(golden.clone(), actual.clone()), Matched);
    assert_eq!(exact(golden, actual), Failed);
}

#[test]
fn a_golden_cell_never_run_is_not_compared() {
    let golden = json!([cell("print(1)", &[], None, json!([]))]);
    let actual = json!([code("print(1)", json!([stream("stdout", "1\n")]))]);
    assert_eq!(normalized(golden, actual), Matched);
    // A cell that ran and printed nothing is compared.
    let golden = json!([cell("print(1)", &[], Some(1), json!([]))]);
    let actual = json!([code("print(1)", json!([stream("stdout", "1\n")]))]);
    assert_eq!(normalized(golden, actual), Failed);
}

#[test]
fn a_stream_reads_as_a_terminal_shows_it() {
    let golden = json!([code("fit()", json!([stream("stderr", "100%\n")]))]);
    let actual = json!([code("fit()", json!([stream("stderr", "10%\r55%\r100%\n")]))]);
    assert_eq!(normalized(golden.clone(), actual.clone()), Matched);
    assert_eq!(exact(golden, actual), Failed);
}

#[test]
fn sanitizers_apply_to_both_notebooks_in_both_modes() {
    let golden = json!([code(
        "run()",
        json!([
            stream("stdout", "job 1234 done\n"),
            rich("execute_result", json!({"text/plain": "'job-1234'"}))
        ])
    )]);
    let actual = json!([code(
        "run()",
        json!([
            stream("stdout", "job 98 done\n"),
            rich("execute_result", json!({"text/plain": "'job-98'"}))
        ])
    )]);
    let sanitizers = vec![Sanitizer {
        regex: r"job[ -]\d+".into(),
        replace: "job N".into(),
    }];
    for strategy in [Strategy::Normalized, Strategy::Exact] {
        let config = CompareConfig {
            strategy,
            sanitizers: sanitizers.clone(),
            ..CompareConfig::default()
        };
        assert_eq!(
            outcome(config, golden.clone(), actual.clone()),
            Matched,
            "{strategy:?}"
        );
    }
    assert_eq!(normalized(golden, actual), Failed);
}

#[test]
fn lax_mode_compares_only_marked_cells() {
    let golden = json!([
        code("print(1)", json!([stream("stdout", "1\n")])),
        cell(
            "print(2)",
            &["nbval-check-output"],
            Some(2),
            json!([stream("stdout", "2\n")])
        ),
    ]);
    let unmarked_differs = json!([
        code("print(1)", json!([stream("stdout", "one\n")])),
        code("print(2)", json!([stream("stdout", "2\n")])),
    ]);
    let marked_differs = json!([
        code("print(1)", json!([stream("stdout", "1\n")])),
        code("print(2)", json!([stream("stdout", "two\n")])),
    ]);
    let lax = || CompareConfig {
        lax: true,
        ..CompareConfig::default()
    };
    assert_eq!(
        outcome(lax(), golden.clone(), unmarked_differs.clone()),
        Matched
    );
    assert_eq!(outcome(lax(), golden.clone(), marked_differs), Failed);
    assert_eq!(normalized(golden, unmarked_differs), Failed);
}

#[test]
fn an_ignore_comment_wins_over_a_check_tag() {
    let marked = |outputs: Value| {
        json!([cell(
            "# NBVAL_IGNORE_OUTPUT\nprint(now())",
            &["nbval-check-output"],
            Some(1),
            outputs
        )])
    };
    assert_eq!(
        normalized(
            marked(json!([stream("stdout", "a\n")])),
            marked(json!([stream("stdout", "b\n")]))
        ),
        Matched
    );
}

#[test]
fn the_old_marker_name_is_honoured() {
    let marked = |text: &str| {
        json!([code(
            "# PYTEST_VALIDATE_IGNORE_OUTPUT\nprint(x)",
            json!([stream("stdout", text)])
        )])
    };
    assert_eq!(normalized(marked("a\n"), marked("b\n")), Matched);
}
