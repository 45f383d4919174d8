//! The report as one self-contained HTML page: the verdict, then each code cell with its
//! golden and executed outputs side by side, images shown, and the differences as highlighted
//! diffs. Everything from the notebooks is escaped (HTML outputs are shown as source, never
//! rendered), so a notebook cannot script the page.

use maud::{DOCTYPE, Markup, PreEscaped, html};
use nbv_compare::Notebook;
use nbv_compare::notebook::{Cell, MimeData, Output};
use nbv_report::{CellReport, CellStatus, CellType, Mismatch, Outcome, Report};

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222}\
pre{background:#f6f8fa;padding:.5em;overflow-x:auto;white-space:pre-wrap;margin:.2em 0}\
table{border-collapse:collapse;width:100%}td,th{border:1px solid #ddd;padding:.4em;vertical-align:top;width:50%}\
.cell{margin:1.5em 0;border-left:4px solid #ccc;padding-left:1em}.passed{border-color:#2da44e}\
.failed,.timedOut{border-color:#cf222e}.notRun,.skipped{border-color:#999}\
.differs{border-color:#bf8700}pre code{word-break:break-all}.verdict{font-size:1.3em;font-weight:bold}.ok{color:#2da44e}.bad{color:#cf222e}\
.add{background:#dafbe1}.del{background:#ffebe9}.error{color:#cf222e}img{max-width:100%}";

/// The HTML page of `report`, with outputs from the executed and golden notebooks when there.
pub(crate) fn render(
    report: &Report,
    executed: Option<&Notebook>,
    golden: Option<&Notebook>,
) -> String {
    let verdict_class = if report.outcome == Outcome::Passed {
        "ok"
    } else {
        "bad"
    };
    let mismatches = report
        .comparison
        .as_ref()
        .map_or(&[][..], |c| c.mismatches.as_slice());
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "nbv: " (report.notebook) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                h1 { (report.notebook) }
                p class={ "verdict " (verdict_class) } { (format!("{:?}", report.outcome)) }
                p { (report.message) }
                p {
                    "duration " (report.duration)
                    @if let Some(golden) = &report.golden { ", golden " (golden) }
                }
                @for cell in &report.cells {
                    (cell_section(
                        cell,
                        executed.and_then(|nb| code_cell(nb, cell.cell_index)),
                        golden.and_then(|nb| code_cell(nb, cell.cell_index)),
                        mismatches.iter().filter(|m| m.cell_index == cell.cell_index),
                    ))
                }
            }
        }
    };
    page.into_string()
}

fn code_cell(notebook: &Notebook, index: usize) -> Option<&Cell> {
    notebook
        .cells
        .get(index)
        .filter(|c| c.cell_type == CellType::Code)
}

fn cell_section<'a>(
    report: &CellReport,
    executed: Option<&Cell>,
    golden: Option<&Cell>,
    mismatches: impl Iterator<Item = &'a Mismatch>,
) -> Markup {
    let mismatches: Vec<&Mismatch> = mismatches.collect();
    let status = match report.status {
        CellStatus::Passed => "passed",
        CellStatus::Differs => "differs",
        CellStatus::Failed => "failed",
        CellStatus::TimedOut => "timedOut",
        CellStatus::NotRun => "notRun",
        CellStatus::Skipped => "skipped",
    };
    html! {
        section class={ "cell " (status) } id={ "cell-" (report.cell_index) } {
            h2 {
                "cell " (report.cell_index) " — " (status)
                @if let Some(time) = &report.execution_time { " (" (time) ")" }
            }
            @if let Some(cell) = executed.or(golden) {
                pre { code { (cell.source) } }
            }
            @if let Some(error) = &report.error {
                p class="error" { (error.ename) ": " (error.evalue) }
            }
            @for m in &mismatches {
                p class="error" {
                    (m.kind.as_str())
                    @if let Some(o) = m.output_index { " in output " (o) }
                    @if let Some(mime) = &m.mime_type { " [" (mime) "]" }
                }
                @if let Some(diff) = &m.unified_diff { (diff_block(diff)) }
            }
            table {
                tr { th { "golden" } th { "executed" } }
                tr {
                    td { @if let Some(c) = golden { (outputs(c)) } }
                    td { @if let Some(c) = executed { (outputs(c)) } }
                }
            }
        }
    }
}

fn diff_block(diff: &str) -> Markup {
    html! {
        pre {
            @for line in diff.lines() {
                @let class = match line.chars().next() {
                    Some('+') if !line.starts_with("+++") => "add",
                    Some('-') if !line.starts_with("---") => "del",
                    _ => "",
                };
                span class=(class) { (line) } "\n"
            }
        }
    }
}

fn outputs(cell: &Cell) -> Markup {
    html! {
        @for output in &cell.outputs {
            @match output {
                Output::Stream { text, .. } => pre { (text) },
                Output::ExecuteResult { data, .. } | Output::DisplayData { data } => {
                    @if let Some(src) = image(data) {
                        img src=(src) alt="image output";
                    } @else if let Some(MimeData::Text(text)) = data.get("text/plain") {
                        pre { (text) }
                    } @else if let Some((mime, _)) = data.0.first() {
                        pre { "(" (mime) ")" }
                    }
                }
                Output::Error { ename, evalue, .. } => pre class="error" { (ename) ": " (evalue) },
            }
        }
    }
}

/// A data URI for a PNG or JPEG output (base64 in the notebook already).
fn image(data: &nbv_compare::notebook::MimeBundle) -> Option<String> {
    ["image/png", "image/jpeg"]
        .into_iter()
        .find_map(|mime| match data.get(mime) {
            Some(MimeData::Text(b64)) => {
                let b64: String = b64.chars().filter(|c| !c.is_whitespace()).collect();
                b64.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
                    .then(|| format!("data:{mime};base64,{b64}"))
            }
            _ => None,
        })
}
