//! nbval-compatible per-cell control, from cell tags or `# NBVAL_…` comments
//! in the comment lines at the top of a cell.

use crate::notebook::Cell;

/// What the nbval markers of a cell ask for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CellControl {
    /// `NBVAL_SKIP`: the cell is left out of the comparison.
    pub skip: bool,
    /// `NBVAL_IGNORE_OUTPUT`: the cell is compared, its outputs are not.
    pub ignore_output: bool,
    /// `NBVAL_RAISES_EXCEPTION`: the cell is expected to raise; error outputs
    /// are compared by exception name only.
    pub raises_exception: bool,
    /// `NBVAL_CHECK_OUTPUT`: outputs are compared even if another marker or
    /// `ignoreOutputTypes` would leave them out.
    pub check_output: bool,
}

const MARKERS: [(&str, &[&str]); 4] = [
    ("NBVAL_SKIP", &["nbval-skip"]),
    ("NBVAL_IGNORE_OUTPUT", &["nbval-ignore-output"]),
    (
        "NBVAL_RAISES_EXCEPTION",
        &["nbval-raises-exception", "raises-exception"],
    ),
    ("NBVAL_CHECK_OUTPUT", &["nbval-check-output"]),
];

impl CellControl {
    /// Reads the markers of one cell.
    pub fn of(cell: &Cell) -> Self {
        let comments: Vec<&str> = cell
            .source
            .lines()
            .map(str::trim)
            .skip_while(|l| l.is_empty())
            .take_while(|l| l.starts_with('#'))
            .collect();
        let mut found = [false; 4];
        for (slot, (comment, tags)) in found.iter_mut().zip(MARKERS) {
            *slot = tags.iter().any(|t| cell.has_tag(t))
                || comments
                    .iter()
                    .any(|l| l.trim_start_matches('#').trim() == comment);
        }
        let [skip, ignore_output, raises_exception, check_output] = found;
        Self {
            skip,
            ignore_output,
            raises_exception,
            check_output,
        }
    }

    /// Markers of the golden cell and of the executed cell both apply.
    pub fn union(self, other: Self) -> Self {
        Self {
            skip: self.skip || other.skip,
            ignore_output: self.ignore_output || other.ignore_output,
            raises_exception: self.raises_exception || other.raises_exception,
            check_output: self.check_output || other.check_output,
        }
    }

    /// Whether outputs are compared at all.
    pub fn compares_outputs(self) -> bool {
        self.check_output || !self.ignore_output
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notebook::parse;

    fn control(source: &str, tags: &[&str]) -> CellControl {
        let nb = serde_json::json!({"nbformat": 4, "cells": [
            {"cell_type": "code", "source": source, "metadata": {"tags": tags}, "outputs": []}
        ]});
        let nb = parse(nb.to_string().as_bytes()).unwrap();
        CellControl::of(&nb.cells[0])
    }

    #[test]
    fn no_markers() {
        assert_eq!(
            control("x = 1  # NBVAL_SKIP later is code", &[]),
            CellControl::default()
        );
    }

    #[test]
    fn nbval_skip() {
        assert!(control("# NBVAL_SKIP\nx = 1", &[]).skip);
        assert!(control("x = 1", &["nbval-skip"]).skip);
    }

    #[test]
    fn nbval_ignore_output() {
        let c = control("\n#NBVAL_IGNORE_OUTPUT\nprint(1)", &[]);
        assert!(c.ignore_output && !c.compares_outputs());
        assert!(control("print(1)", &["nbval-ignore-output"]).ignore_output);
    }

    #[test]
    fn nbval_raises_exception() {
        assert!(control("# NBVAL_RAISES_EXCEPTION\n1/0", &[]).raises_exception);
        assert!(control("1/0", &["raises-exception"]).raises_exception);
        assert!(control("1/0", &["nbval-raises-exception"]).raises_exception);
    }

    #[test]
    fn nbval_check_output_wins_over_ignore() {
        let c = control("# NBVAL_IGNORE_OUTPUT\n# NBVAL_CHECK_OUTPUT\nprint(1)", &[]);
        assert!(c.check_output && c.compares_outputs());
        assert!(control("print(1)", &["nbval-check-output"]).check_output);
    }

    #[test]
    fn markers_after_code_are_ignored() {
        assert!(!control("x = 1\n# NBVAL_SKIP", &[]).skip);
    }
}
