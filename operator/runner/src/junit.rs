//! The report as JUnit XML, for CI systems: one test suite per notebook, one test case per code
//! cell. A cell that raised or killed the kernel is a failure, one over its timeout an error,
//! one not executed (skipped, or after the cell that stopped the run) skipped; a cell whose
//! outputs differ from the golden notebook is a failure listing the differences.
//!
//! Written to the schema CI servers read (the Jenkins/Surefire `junit-10.xsd`, which pytest's
//! own JUnit output is tested against): the suite counts skipped cases in `skipped`.

use std::io;

use nbv_report::{CellReport, CellStatus, Mismatch, Report, xml_text};
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};

/// How a test case did not pass: the element, its `type` and `message`, and its text.
struct NonSuccess {
    element: &'static str,
    kind: String,
    message: String,
    text: String,
}

/// The JUnit XML document of `report`.
pub(crate) fn render(report: &Report) -> io::Result<String> {
    let classname = std::path::Path::new(&report.notebook)
        .file_stem()
        .map_or_else(
            || report.notebook.clone(),
            |s| s.to_string_lossy().into_owned(),
        );
    let mismatches = report
        .comparison
        .as_ref()
        .map_or(&[][..], |c| c.mismatches.as_slice());
    let cases: Vec<(&CellReport, Option<NonSuccess>)> = report
        .cells
        .iter()
        .map(|cell| {
            let of_cell: Vec<&Mismatch> = mismatches
                .iter()
                .filter(|m| m.cell_index == cell.cell_index)
                .collect();
            (cell, non_success(cell, &of_cell))
        })
        .collect();
    let count = |element: &str| {
        cases
            .iter()
            .filter(|(_, n)| n.as_ref().is_some_and(|n| n.element == element))
            .count()
            .to_string()
    };
    let (tests, failures, errors, skipped) = (
        cases.len().to_string(),
        count("failure"),
        count("error"),
        count("skipped"),
    );
    let time = seconds(&report.duration);

    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let mut suites = writer.create_element("testsuites").with_attributes([
        ("name", "nbv"),
        ("tests", tests.as_str()),
        ("failures", failures.as_str()),
        ("errors", errors.as_str()),
    ]);
    if let Some(time) = &time {
        suites = suites.with_attribute(("time", time.as_str()));
    }
    suites.write_inner_content(|w| {
        let mut suite = w.create_element("testsuite").with_attributes([
            ("name", xml_text(&report.notebook).as_str()),
            ("tests", tests.as_str()),
            ("failures", failures.as_str()),
            ("errors", errors.as_str()),
            ("skipped", skipped.as_str()),
        ]);
        if let Some(time) = &time {
            suite = suite.with_attribute(("time", time.as_str()));
        }
        suite.write_inner_content(|w| {
            for (cell, outcome) in &cases {
                write_case(w, cell, outcome.as_ref(), &classname)?;
            }
            Ok(())
        })?;
        Ok(())
    })?;
    let mut xml = String::from_utf8(writer.into_inner())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    xml.push('\n');
    Ok(xml)
}

fn write_case(
    w: &mut Writer<Vec<u8>>,
    cell: &CellReport,
    outcome: Option<&NonSuccess>,
    classname: &str,
) -> io::Result<()> {
    let name = format!("cell {}", cell.cell_index);
    let time = cell.execution_time.as_deref().and_then(seconds);
    let mut case = w.create_element("testcase").with_attributes([
        ("name", name.as_str()),
        ("classname", xml_text(classname).as_str()),
    ]);
    if let Some(time) = &time {
        case = case.with_attribute(("time", time.as_str()));
    }
    if outcome.is_none() && cell.output.is_none() {
        case.write_empty()?;
        return Ok(());
    }
    case.write_inner_content(|w| {
        if let Some(n) = outcome {
            w.create_element(n.element)
                .with_attributes([
                    ("type", xml_text(&n.kind).as_str()),
                    ("message", xml_text(&n.message).as_str()),
                ])
                .write_text_content(BytesText::new(&xml_text(&n.text)))?;
        }
        if let Some(output) = &cell.output {
            w.create_element("system-out")
                .write_text_content(BytesText::new(&xml_text(output)))?;
        }
        Ok(())
    })?;
    Ok(())
}

fn non_success(cell: &CellReport, mismatches: &[&Mismatch]) -> Option<NonSuccess> {
    let outcome = |element, kind: &str, message: String, text: String| NonSuccess {
        element,
        kind: kind.to_owned(),
        message,
        text,
    };
    match cell.status {
        CellStatus::Failed => Some(match &cell.error {
            Some(error) => outcome(
                "failure",
                &error.ename,
                format!("{}: {}", error.ename, error.evalue),
                error.traceback.join("\n"),
            ),
            None => outcome("failure", "failed", "the cell failed".into(), String::new()),
        }),
        CellStatus::TimedOut => Some(outcome(
            "error",
            "timeout",
            "the cell was still running when its timeout or the run's time limit passed".into(),
            String::new(),
        )),
        CellStatus::Skipped => Some(outcome(
            "skipped",
            "skipped",
            "marked not to run (NBVAL_SKIP)".into(),
            String::new(),
        )),
        CellStatus::NotRun => Some(outcome(
            "skipped",
            "notRun",
            "not executed: an earlier cell stopped the run".into(),
            String::new(),
        )),
        CellStatus::Differs => {
            let described: Vec<String> = mismatches
                .iter()
                .map(|m| {
                    let output = m
                        .output_index
                        .map(|o| format!(" output {o}"))
                        .unwrap_or_default();
                    let diff = m.unified_diff.clone().unwrap_or_else(|| {
                        format!("expected: {}\nactual:   {}", m.expected, m.actual)
                    });
                    format!("{}{output}:\n{diff}", m.kind.as_str())
                })
                .collect();
            Some(outcome(
                "failure",
                "outputsDiffer",
                format!(
                    "outputs differ from the golden notebook ({} difference(s))",
                    mismatches.len()
                ),
                described.join("\n\n"),
            ))
        }
        CellStatus::Passed => None,
    }
}

/// `12.500s` (the report's durations) as JUnit writes seconds, `12.500`.
fn seconds(text: &str) -> Option<String> {
    let secs = text.strip_suffix('s')?.parse::<f64>().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| format!("{secs:.3}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_keeps_what_xml_carries() {
        assert_eq!(xml_text("a\u{1b}[31mb\u{0}\tc\n"), "a[31mb\tc\n");
        assert_eq!(seconds("1.5s").as_deref(), Some("1.500"));
        assert_eq!(seconds("-1s"), None);
    }
}
