//! nbval-compatible per-cell control, from cell tags or `# NBVAL_…` comments, with nbval's own
//! rules (docs/comparison.md, "Markers"):
//! - a comment marker is a line of the cell that, stripped, starts with `#` and is exactly the
//!   marker once the `#`s and spaces around it are removed (`x = 1  # NBVAL_SKIP` is code);
//! - tags are the markers in lower case with `-` for `_`, plus `raises-exception`;
//! - markers set three options — check the outputs, expect an exception, skip — and when
//!   several set one option, the last comment wins, then (without a comment) the last tag.

use crate::notebook::Cell;

/// What the nbval markers of a cell ask for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CellControl {
    /// `NBVAL_SKIP`: the cell is neither run (by nbval) nor compared.
    pub skip: bool,
    /// `NBVAL_RAISES_EXCEPTION`: the cell is expected to raise; error outputs are compared by
    /// exception name only.
    pub raises_exception: bool,
    /// `Some(true)` from `NBVAL_CHECK_OUTPUT`, `Some(false)` from `NBVAL_IGNORE_OUTPUT` (or its
    /// old name `PYTEST_VALIDATE_IGNORE_OUTPUT`), `None` without either: the run's default
    /// decides (checked, or not in lax mode).
    pub check: Option<bool>,
}

/// The option a marker sets.
#[derive(Debug, Clone, Copy)]
enum Set {
    Check(bool),
    RaisesException,
    Skip,
}

const MARKERS: [(&str, Set); 5] = [
    ("PYTEST_VALIDATE_IGNORE_OUTPUT", Set::Check(false)),
    ("NBVAL_IGNORE_OUTPUT", Set::Check(false)),
    ("NBVAL_CHECK_OUTPUT", Set::Check(true)),
    ("NBVAL_RAISES_EXCEPTION", Set::RaisesException),
    ("NBVAL_SKIP", Set::Skip),
];

fn marker_of_comment(line: &str) -> Option<Set> {
    let line = line.trim();
    let comment = line.strip_prefix('#')?.trim_start_matches('#').trim();
    MARKERS
        .iter()
        .find(|(name, _)| *name == comment)
        .map(|(_, set)| *set)
}

fn marker_of_tag(tag: &str) -> Option<Set> {
    if tag == "raises-exception" {
        return Some(Set::RaisesException);
    }
    MARKERS
        .iter()
        .find(|(name, _)| name.to_lowercase().replace('_', "-") == tag)
        .map(|(_, set)| *set)
}

impl CellControl {
    /// Reads the markers of one cell.
    pub fn of(cell: &Cell) -> Self {
        let from_tags =
            Self::from_markers(cell.metadata.tags.iter().filter_map(|t| marker_of_tag(t)));
        let from_comments = Self::from_markers(cell.source.lines().filter_map(marker_of_comment));
        from_comments.over(from_tags)
    }

    fn from_markers(markers: impl Iterator<Item = Set>) -> Self {
        let mut control = Self::default();
        for marker in markers {
            match marker {
                Set::Check(check) => control.check = Some(check),
                Set::RaisesException => control.raises_exception = true,
                Set::Skip => control.skip = true,
            }
        }
        control
    }

    /// These markers, with `other`'s for what these leave unset.
    pub fn over(self, other: Self) -> Self {
        Self {
            skip: self.skip || other.skip,
            raises_exception: self.raises_exception || other.raises_exception,
            check: self.check.or(other.check),
        }
    }

    /// Whether outputs are compared, given whether unmarked cells are (not in lax mode).
    pub fn compares_outputs(self, by_default: bool) -> bool {
        self.check.unwrap_or(by_default)
    }

    /// Whether `NBVAL_CHECK_OUTPUT` asks for the outputs, even those `ignoreOutputTypes` leaves
    /// out.
    pub fn forces_check(self) -> bool {
        self.check == Some(true)
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
        assert_eq!(
            control("# NBVAL_SKIP because slow", &[]),
            CellControl::default()
        );
    }

    #[test]
    fn nbval_skip() {
        assert!(control("# NBVAL_SKIP\nx = 1", &[]).skip);
        assert!(control("x = 1", &["nbval-skip"]).skip);
    }

    #[test]
    fn a_comment_marker_counts_on_any_line() {
        assert!(control("x = 1\n# NBVAL_SKIP", &[]).skip);
        assert!(control("x = 1\n   ##  NBVAL_SKIP  ", &[]).skip);
    }

    #[test]
    fn nbval_ignore_output_and_its_old_name() {
        for source in [
            "\n#NBVAL_IGNORE_OUTPUT\nprint(1)",
            "# PYTEST_VALIDATE_IGNORE_OUTPUT\nprint(1)",
        ] {
            let c = control(source, &[]);
            assert!(
                c.check == Some(false) && !c.compares_outputs(true),
                "{source}"
            );
        }
        for tag in ["nbval-ignore-output", "pytest-validate-ignore-output"] {
            assert_eq!(control("print(1)", &[tag]).check, Some(false), "{tag}");
        }
    }

    #[test]
    fn nbval_raises_exception() {
        assert!(control("# NBVAL_RAISES_EXCEPTION\n1/0", &[]).raises_exception);
        assert!(control("1/0", &["raises-exception"]).raises_exception);
        assert!(control("1/0", &["nbval-raises-exception"]).raises_exception);
    }

    #[test]
    fn the_last_comment_wins_and_comments_win_over_tags() {
        let c = control("# NBVAL_IGNORE_OUTPUT\n# NBVAL_CHECK_OUTPUT\nprint(1)", &[]);
        assert!(c.forces_check() && c.compares_outputs(false));
        let c = control("# NBVAL_CHECK_OUTPUT\n# NBVAL_IGNORE_OUTPUT\nprint(1)", &[]);
        assert_eq!(c.check, Some(false));
        // nbval: "Overlapping options from comments and metadata, using options from comments".
        let c = control("# NBVAL_IGNORE_OUTPUT\nprint(1)", &["nbval-check-output"]);
        assert_eq!(c.check, Some(false));
        let c = control("print(1)", &["nbval-check-output", "nbval-ignore-output"]);
        assert_eq!(c.check, Some(false));
    }

    #[test]
    fn lax_mode_checks_only_marked_cells() {
        assert!(!control("print(1)", &[]).compares_outputs(false));
        assert!(control("print(1)", &["nbval-check-output"]).compares_outputs(false));
        assert!(control("print(1)", &[]).compares_outputs(true));
    }
}
