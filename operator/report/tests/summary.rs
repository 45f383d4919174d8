use std::collections::BTreeMap;

use nbv_report::{
    CellError, CellReport, CellStatus, CellType, Comparison, ComparisonOutcome, DiffKind,
    GENERATED_REQUIREMENTS_SHOWN, GeneratedRequirements, Mismatch, Outcome, ParseError, Report,
    SCHEMA_VERSION, Strategy, Summary, TERMINATION_MESSAGE_LIMIT, Totals,
};

fn cell(index: usize, status: CellStatus, output: &str) -> CellReport {
    CellReport {
        cell_index: index,
        cell_type: CellType::Code,
        status,
        execution_time: Some("0.010s".into()),
        output: Some(output.into()),
        error: (status == CellStatus::Failed).then(|| CellError {
            ename: "ValueError".into(),
            evalue: format!("bad value in cell {index}"),
            traceback: vec!["Traceback".into()],
        }),
    }
}

fn report(cells: Vec<CellReport>, mismatches: Vec<Mismatch>) -> Report {
    Report {
        schema_version: SCHEMA_VERSION,
        notebook: "examples/notebooks/passing.ipynb".into(),
        golden: Some("examples/notebooks/passing.golden.ipynb".into()),
        kernel: Some("python3".into()),
        parameters: BTreeMap::from([("count".into(), "3".into())]),
        outcome: Outcome::NotebookFailed,
        exit_code: Outcome::NotebookFailed.exit_code(),
        message: "cell 1 raised ValueError".into(),
        duration: "1.000s".into(),
        comparison: Some(Comparison {
            strategy: Strategy::Normalized,
            result: if mismatches.is_empty() {
                ComparisonOutcome::Matched
            } else {
                ComparisonOutcome::Failed
            },
            totals: Totals {
                mismatches: mismatches.len(),
                ..Totals::default()
            },
            mismatches,
        }),
        cells,
        generated_requirements: None,
        stopped: None,
    }
}

fn mismatch(cell_index: usize, text: &str) -> Mismatch {
    Mismatch {
        cell_index,
        output_index: Some(0),
        cell_type: CellType::Code,
        kind: DiffKind::OutputMismatch,
        mime_type: Some("text/plain".into()),
        expected: text.into(),
        actual: format!("{text}!"),
        unified_diff: Some("--- expected\n+++ actual\n".into()),
    }
}

#[test]
fn small_summary_is_serialized_whole() {
    let r = report(
        vec![
            cell(0, CellStatus::Passed, "hi"),
            cell(1, CellStatus::Failed, ""),
        ],
        vec![mismatch(0, "hi")],
    );
    let summary = Summary::from_report(&r);
    let json = summary.to_bounded_json(TERMINATION_MESSAGE_LIMIT).unwrap();
    assert_eq!(Summary::from_json(&json).unwrap(), summary);
    insta::assert_json_snapshot!(summary);
}

#[test]
fn large_summary_fits_and_keeps_first_failures() {
    let long = "x".repeat(2000);
    let cells = (0..500)
        .map(|i| {
            let status = if i % 7 == 3 {
                CellStatus::Failed
            } else {
                CellStatus::Passed
            };
            cell(i, status, &long)
        })
        .collect();
    let mismatches = (0..300).map(|i| mismatch(i, &long)).collect();
    let summary = Summary::from_report(&report(cells, mismatches));

    let json = summary.to_bounded_json(TERMINATION_MESSAGE_LIMIT).unwrap();
    assert!(
        json.len() <= TERMINATION_MESSAGE_LIMIT,
        "{} bytes",
        json.len()
    );

    let parsed = Summary::from_json(&json).unwrap();
    let truncation = parsed.truncated.clone().expect("truncation recorded");
    assert!(truncation.text_shortened);
    assert_eq!(truncation.results_omitted + parsed.results.len(), 500);
    let diffs = parsed.comparison_result.as_ref().unwrap().diffs.len();
    assert_eq!(truncation.diffs_omitted + diffs, 300);
    // Passing cells are dropped before failures; failures kept are the first ones.
    assert!(!parsed.results.is_empty());
    assert!(
        parsed
            .results
            .iter()
            .all(|r| r.status == CellStatus::Failed)
    );
    assert_eq!(parsed.results[0].cell_index, 3);
    assert_eq!(parsed.comparison_result.unwrap().diffs[0].cell_index, 0);
}

#[test]
fn passing_cells_dropped_before_failing_ones() {
    let cells = (0..60)
        .map(|i| {
            cell(
                i,
                if i == 59 {
                    CellStatus::Failed
                } else {
                    CellStatus::Passed
                },
                "out",
            )
        })
        .collect();
    let summary = Summary::from_report(&report(cells, vec![]));
    let json = summary.to_bounded_json(1500).unwrap();
    assert!(json.len() <= 1500);
    let parsed = Summary::from_json(&json).unwrap();
    assert!(parsed.results.iter().any(|r| r.cell_index == 59));
    assert!(parsed.truncated.unwrap().results_omitted > 0);
}

#[test]
fn tiny_limit_is_a_typed_error() {
    let summary = Summary::from_report(&report(vec![cell(0, CellStatus::Passed, "x")], vec![]));
    let err = summary.to_bounded_json(10).unwrap_err();
    assert!(
        matches!(err, nbv_report::BoundError::LimitTooSmall { limit: 10, .. }),
        "{err}"
    );
}

#[test]
fn parse_errors_are_typed() {
    assert!(matches!(Summary::from_json("  "), Err(ParseError::Empty)));
    assert!(matches!(
        Summary::from_json("{oops"),
        Err(ParseError::NotJson(_))
    ));
    assert!(matches!(
        Summary::from_json("{}"),
        Err(ParseError::MissingSchemaVersion)
    ));
    assert!(matches!(
        Summary::from_json(r#"{"schemaVersion": 99}"#),
        Err(ParseError::UnsupportedSchemaVersion { found: 99, .. })
    ));
    assert!(matches!(
        Summary::from_json(r#"{"schemaVersion": 1, "outcome": "weird"}"#),
        Err(ParseError::Shape(_))
    ));
}

#[test]
fn report_round_trips() {
    let r = report(
        vec![cell(0, CellStatus::Failed, "boom")],
        vec![mismatch(0, "a")],
    );
    let json = serde_json::to_string(&r).unwrap();
    assert_eq!(Report::from_json(&json).unwrap(), r);
}

#[test]
fn names_match_json() {
    for kind in [
        DiffKind::MissingCell,
        DiffKind::OutputMismatch,
        DiffKind::ExecutionCountChanged,
    ] {
        assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
    }
    assert_eq!(
        serde_json::to_value(Strategy::Exact).unwrap(),
        Strategy::Exact.as_str()
    );
}

#[test]
fn generated_requirements_are_bounded_in_the_summary_and_given_up_last() {
    let mut r = report(vec![cell(0, CellStatus::Passed, "hi")], vec![]);
    r.generated_requirements = Some(GeneratedRequirements {
        requirements: (0..40).map(|i| format!("package-{i}")).collect(),
        by_import_name: vec!["acme".into()],
        omitted: 0,
    });
    let summary = Summary::from_report(&r);
    let generated = summary.generated_requirements.as_ref().expect("kept");
    assert_eq!(
        generated.requirements.len() + generated.by_import_name.len(),
        GENERATED_REQUIREMENTS_SHOWN
    );
    assert_eq!(generated.omitted, 41 - GENERATED_REQUIREMENTS_SHOWN);
    let json = summary.to_bounded_json(TERMINATION_MESSAGE_LIMIT).unwrap();
    let parsed = Summary::from_json(&json).unwrap();
    assert_eq!(parsed.generated_requirements.as_ref(), Some(generated));
    // When nothing else fits, the list goes and its count stays.
    let tiny = summary.to_bounded_json(600).unwrap();
    let parsed = Summary::from_json(&tiny).unwrap();
    let left = parsed.generated_requirements.expect("counted");
    assert!(left.requirements.is_empty(), "{tiny}");
    assert_eq!(left.omitted, 41);
}
