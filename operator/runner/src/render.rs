//! Readable report for a terminal; colour only when standard output is one.

use std::fmt::Write as _;
use std::io::IsTerminal;

use nbv_report::{CellStatus, Outcome, Report};

/// Lines of a unified diff shown per mismatch.
const DIFF_LINES: usize = 20;
/// Mismatches listed before the rest are summarised.
const MISMATCHES_SHOWN: usize = 20;

struct Style {
    colour: bool,
}

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.colour {
            format!("\u{1b}[{code}m{text}\u{1b}[0m")
        } else {
            text.to_owned()
        }
    }
    fn green(&self, t: &str) -> String {
        self.paint("32", t)
    }
    fn red(&self, t: &str) -> String {
        self.paint("31", t)
    }
    fn yellow(&self, t: &str) -> String {
        self.paint("33", t)
    }
    fn dim(&self, t: &str) -> String {
        self.paint("2", t)
    }
}

/// Colour when stdout is a terminal and NO_COLOR is unset.
pub(crate) fn use_colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

pub(crate) fn render(report: &Report, colour: bool) -> String {
    let s = Style { colour };
    let mut out = String::new();
    let _ = writeln!(out, "notebook {}", report.notebook);
    for cell in &report.cells {
        let (mark, status) = match cell.status {
            CellStatus::Passed => (s.green("✔"), "passed"),
            CellStatus::Failed => (s.red("✘"), "failed"),
            CellStatus::TimedOut => (s.red("⏱"), "timed out"),
            CellStatus::NotRun => (s.dim("·"), "not run"),
            CellStatus::Skipped => (s.dim("·"), "skipped"),
            CellStatus::Differs => (s.red("≠"), "differs"),
        };
        let time = cell.execution_time.as_deref().unwrap_or("");
        let _ = writeln!(
            out,
            "  {mark} cell {:<4} {status:<9} {}",
            cell.cell_index,
            s.dim(time)
        );
        if let Some(error) = &cell.error {
            let _ = writeln!(
                out,
                "      {}",
                s.red(&format!("{}: {}", error.ename, error.evalue))
            );
        }
    }
    if let Some(c) = &report.comparison {
        let t = &c.totals;
        let _ = writeln!(
            out,
            "comparison ({}): {} of {} cells matched, {} skipped, {} mismatch(es)",
            c.strategy.as_str(),
            t.cells_matched,
            t.cells_compared,
            t.cells_skipped,
            t.mismatches
        );
        for m in c.mismatches.iter().take(MISMATCHES_SHOWN) {
            let output = m
                .output_index
                .map(|o| format!(" output {o}"))
                .unwrap_or_default();
            let mime = m
                .mime_type
                .as_deref()
                .map(|m| format!(" [{m}]"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  {} cell {}{output}: {}{mime}",
                s.red("✘"),
                m.cell_index,
                m.kind.as_str()
            );
            match &m.unified_diff {
                Some(diff) => {
                    for line in diff.lines().take(DIFF_LINES) {
                        let line = match line.chars().next() {
                            Some('+') if !line.starts_with("+++") => s.green(line),
                            Some('-') if !line.starts_with("---") => s.red(line),
                            _ => s.dim(line),
                        };
                        let _ = writeln!(out, "      {line}");
                    }
                }
                None => {
                    let _ = writeln!(out, "      expected: {}", m.expected);
                    let _ = writeln!(out, "      actual:   {}", m.actual);
                }
            }
        }
        if c.mismatches.len() > MISMATCHES_SHOWN {
            let _ = writeln!(
                out,
                "  … {} more in the JSON report",
                c.mismatches.len() - MISMATCHES_SHOWN
            );
        }
    }
    if let Some(generated) = &report.generated_requirements {
        let listed = if generated.requirements.is_empty() {
            "none".to_owned()
        } else {
            generated.requirements.join(" ")
        };
        let _ = writeln!(out, "requirements from the notebook's imports: {listed}");
        if !generated.by_import_name.is_empty() {
            let _ = writeln!(
                out,
                "  {}",
                s.yellow(&format!(
                    "installed by their import name, check them: {}",
                    generated.by_import_name.join(", ")
                ))
            );
        }
    }
    let verdict = match report.outcome {
        Outcome::Passed => s.green("PASSED"),
        Outcome::NotebookFailed => s.red("NOTEBOOK FAILED"),
        Outcome::OutputsDiffer => s.red("OUTPUTS DIFFER"),
        Outcome::InfrastructureError => s.yellow("INFRASTRUCTURE ERROR"),
        Outcome::InvalidInput => s.yellow("INVALID INPUT"),
    };
    let _ = writeln!(
        out,
        "{verdict} ({}, exit code {}): {}",
        report.duration, report.exit_code, report.message
    );
    out
}
