//! Rule 16 of docs/comparison.md: pandas DataFrames compare by value. The outputs are what pandas
//! itself wrote (`fixtures/dataframes.json`: `_repr_html_()` and `repr()` of each frame, the
//! version named in the file), one frame per change a notebook's table may go through.

use nbv_compare::{Comparator, CompareConfig, Sanitizer, notebook};
use nbv_report::{Comparison, ComparisonOutcome, DiffKind, Strategy};
use serde_json::{Value, json};

fn frame(name: &str) -> Value {
    let fixtures: Value =
        serde_json::from_str(include_str!("fixtures/dataframes.json")).expect("fixture JSON");
    fixtures["frames"][name].clone()
}

fn compare(strategy: Strategy, golden: &str, actual: &str) -> Comparison {
    compare_with(strategy, Vec::new(), golden, actual)
}

fn compare_with(
    strategy: Strategy,
    sanitizers: Vec<Sanitizer>,
    golden: &str,
    actual: &str,
) -> Comparison {
    let nb = |data: Value| {
        let output = json!({"output_type": "execute_result", "execution_count": 1,
                            "metadata": {}, "data": data});
        let cell = json!({"cell_type": "code", "source": "df", "metadata": {},
                          "execution_count": 1, "outputs": [output]});
        let doc = json!({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [cell]});
        notebook::parse(doc.to_string().as_bytes()).expect("notebook")
    };
    let config = CompareConfig {
        strategy,
        floating_point_tolerance: 1e-5,
        sanitizers,
        ..CompareConfig::default()
    };
    Comparator::new(config)
        .expect("config")
        .compare(&nb(frame(golden)), &nb(frame(actual)))
}

/// (kind, expected, actual) of each mismatch, in normalized mode.
fn mismatches(actual: &str) -> Vec<(DiffKind, String, String)> {
    compare(Strategy::Normalized, "golden", actual)
        .mismatches
        .into_iter()
        .map(|m| (m.kind, m.expected, m.actual))
        .collect()
}

#[test]
fn the_same_frame_printed_with_more_digits_matches_within_the_tolerance() {
    let comparison = compare(Strategy::Normalized, "golden", "within_tolerance");
    assert_eq!(
        comparison.result,
        ComparisonOutcome::Matched,
        "{comparison:?}"
    );
    // Exact mode compares what was stored.
    let exact = compare(Strategy::Exact, "golden", "within_tolerance");
    assert_eq!(exact.result, ComparisonOutcome::Failed);
}

#[test]
fn a_differing_cell_is_named_by_its_row_and_column() {
    assert_eq!(
        mismatches("differing_cell"),
        [(
            DiffKind::TableValuesDiffer,
            "row 2, column mean_temp: 24.87".to_owned(),
            "row 2, column mean_temp: 25.90".to_owned()
        )]
    );
}

#[test]
fn a_moved_column_is_reported_as_moved_and_its_values_still_match() {
    assert_eq!(
        mismatches("moved_column"),
        [(
            DiffKind::TableColumnsChanged,
            "columns [city, population, mean_temp]".to_owned(),
            "columns [city, mean_temp, population]".to_owned()
        )]
    );
}

#[test]
fn integers_that_became_floats_are_reported_as_a_dtype_change() {
    assert_eq!(
        mismatches("integers_became_floats"),
        [(
            DiffKind::TableDtypeChanged,
            "column population: integers".to_owned(),
            "column population: floats".to_owned()
        )]
    );
}

#[test]
fn a_new_index_is_reported_with_the_columns_it_took() {
    let kinds: Vec<DiffKind> = mismatches("other_index").into_iter().map(|m| m.0).collect();
    assert_eq!(
        kinds,
        [DiffKind::TableColumnsChanged, DiffKind::TableIndexChanged]
    );
}

#[test]
fn sanitizers_rewrite_the_cells_before_they_compare() {
    let sanitizer: Sanitizer = serde_json::from_value(json!({
        "regex": "2[45]\\.[0-9]+", "replace": "WARM"
    }))
    .expect("sanitizer");
    let comparison = compare_with(
        Strategy::Normalized,
        vec![sanitizer],
        "golden",
        "differing_cell",
    );
    assert_eq!(
        comparison.result,
        ComparisonOutcome::Matched,
        "{comparison:?}"
    );
}
