//! Which notebooks of the listed repository a suite runs, and each one's golden. Pure.
//!
//! Globs compile to finite automata (no backtracking), and the schema bounds their number and
//! length, so no pattern can make matching slow.

use std::collections::BTreeSet;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::crd::suite::{
    GoldenConvention, GoldenKind, MAX_NOTEBOOKS, MissingGolden, NotebookSelection, SkippedNotebook,
};
use crate::steps::listing::Listing;

/// A notebook the suite runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selected {
    /// Its path.
    pub path: String,
    /// Its golden's path, when it has one.
    pub golden: Option<String>,
}

/// The notebooks a suite runs, and those it found but leaves out.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selection {
    /// In path order.
    pub notebooks: Vec<Selected>,
    /// Left out, and why.
    pub skipped: Vec<SkippedNotebook>,
}

/// Why the selection cannot be made; the suite fails with this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectionError {
    /// A glob does not parse.
    #[error("{field}[{index}] '{glob}' is not a glob: {reason}")]
    BadGlob {
        /// `notebooks.include`, `notebooks.exclude` or `dependencyGlobs`.
        field: &'static str,
        /// Its position.
        index: usize,
        /// The glob.
        glob: String,
        /// What is wrong.
        reason: String,
    },
    /// A notebook named in `paths` is not in the repository.
    #[error("notebooks.paths names {path}, which is not a notebook of the repository at {commit}")]
    MissingPath {
        /// The path.
        path: String,
        /// The commit listed.
        commit: String,
    },
    /// Nothing matched.
    #[error(
        "no notebook of the repository at {commit} matches notebooks.include and notebooks.paths ({listed} notebooks listed); check the globs ('*' stops at '/', '**' spans directories)"
    )]
    Empty {
        /// The commit listed.
        commit: String,
        /// How many notebooks the repository has.
        listed: usize,
    },
    /// Too many matched.
    #[error(
        "{found} notebooks match, more than the {MAX_NOTEBOOKS} a suite may run; narrow notebooks.include or split the suite"
    )]
    TooMany {
        /// How many matched.
        found: usize,
    },
}

fn glob_set(field: &'static str, globs: &[String]) -> Result<GlobSet, SelectionError> {
    glob_set_of(field, globs, |glob| glob.to_owned())
}

/// The globs of `field` as one set, each compiled as `pattern` makes it; an error names the
/// glob as the user wrote it.
pub(super) fn glob_set_of(
    field: &'static str,
    globs: &[String],
    pattern: impl Fn(&str) -> String,
) -> Result<GlobSet, SelectionError> {
    let mut set = GlobSetBuilder::new();
    for (index, glob) in globs.iter().enumerate() {
        let compiled = GlobBuilder::new(&pattern(glob))
            .literal_separator(true)
            .build()
            .map_err(|e| SelectionError::BadGlob {
                field,
                index,
                glob: glob.clone(),
                reason: e.kind().to_string(),
            })?;
        set.add(compiled);
    }
    set.build().map_err(|e| SelectionError::BadGlob {
        field,
        index: 0,
        glob: globs.join(" "),
        reason: e.to_string(),
    })
}

/// Checks the globs of `selection` without a listing: a suite with a bad glob fails before any
/// pod runs.
pub fn check_globs(selection: &NotebookSelection) -> Result<(), SelectionError> {
    glob_set("notebooks.include", &selection.include)?;
    glob_set("notebooks.exclude", &selection.exclude)?;
    Ok(())
}

/// Whether `path` is a golden under `convention`, and so never a notebook to run.
fn is_golden(path: &str, convention: Option<&GoldenConvention>) -> bool {
    match convention {
        Some(GoldenConvention {
            convention: GoldenKind::Sibling,
            ..
        }) => path.ends_with(".golden.ipynb"),
        Some(GoldenConvention {
            convention: GoldenKind::Directory,
            directory: Some(dir),
            ..
        }) => path.starts_with(&format!("{}/", dir.trim_end_matches('/'))),
        _ => false,
    }
}

/// Where `path`'s golden would be under `convention`.
fn golden_path(path: &str, convention: &GoldenConvention) -> String {
    match convention.convention {
        GoldenKind::Sibling => format!("{}.golden.ipynb", path.trim_end_matches(".ipynb")),
        GoldenKind::Directory => format!(
            "{}/{path}",
            convention
                .directory
                .as_deref()
                .unwrap_or_default()
                .trim_end_matches('/')
        ),
        GoldenKind::Itself => path.to_owned(),
    }
}

/// Why a listed path cannot be a job's notebook path, if it cannot.
fn unusable(path: &str) -> Option<&'static str> {
    if path.contains("..") {
        Some("its path contains '..', which a job's notebook path may not")
    } else if path.len() > 1024 {
        Some("its path is longer than 1024 characters")
    } else {
        None
    }
}

/// Selects the notebooks of `listing` that `selection` names, with their goldens.
pub fn select(
    listing: &Listing,
    selection: &NotebookSelection,
    golden: Option<&GoldenConvention>,
) -> Result<Selection, SelectionError> {
    let include = glob_set("notebooks.include", &selection.include)?;
    let exclude = glob_set("notebooks.exclude", &selection.exclude)?;
    let listed: BTreeSet<&str> = listing.notebooks.keys().map(String::as_str).collect();
    for path in &selection.paths {
        if !listed.contains(path.as_str()) {
            return Err(SelectionError::MissingPath {
                path: path.clone(),
                commit: listing.commit.clone(),
            });
        }
    }
    let named: BTreeSet<&str> = selection.paths.iter().map(String::as_str).collect();
    let chosen: Vec<&str> = listed
        .iter()
        .copied()
        .filter(|p| named.contains(p) || (include.is_match(p) && !is_golden(p, golden)))
        .filter(|p| !exclude.is_match(p))
        .collect();
    if chosen.is_empty() {
        return Err(SelectionError::Empty {
            commit: listing.commit.clone(),
            listed: listed.len(),
        });
    }
    if chosen.len() > MAX_NOTEBOOKS {
        return Err(SelectionError::TooMany {
            found: chosen.len(),
        });
    }
    let mut out = Selection::default();
    for path in chosen {
        if let Some(why) = unusable(path) {
            out.skipped.push(skipped(path, why.to_owned()));
            continue;
        }
        let Some(convention) = golden else {
            out.notebooks.push(Selected {
                path: path.to_owned(),
                golden: None,
            });
            continue;
        };
        let expected = golden_path(path, convention);
        if listed.contains(expected.as_str()) {
            out.notebooks.push(Selected {
                path: path.to_owned(),
                golden: Some(expected),
            });
        } else if convention.when_missing.unwrap_or_default() == MissingGolden::Skip {
            out.skipped
                .push(skipped(path, format!("its golden {expected} is missing")));
        } else {
            out.notebooks.push(Selected {
                path: path.to_owned(),
                golden: None,
            });
        }
    }
    Ok(out)
}

fn skipped(path: &str, reason: String) -> SkippedNotebook {
    SkippedNotebook {
        path: path.to_owned(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(paths: &[&str]) -> Listing {
        Listing {
            commit: "c0ffee".into(),
            notebooks: paths
                .iter()
                .map(|p| ((*p).to_owned(), "b10b".to_owned()))
                .collect(),
            changes: None,
        }
    }

    fn selection(include: &[&str], exclude: &[&str], paths: &[&str]) -> NotebookSelection {
        let own = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect();
        NotebookSelection {
            include: own(include),
            exclude: own(exclude),
            paths: own(paths),
        }
    }

    fn sibling(when_missing: Option<MissingGolden>) -> GoldenConvention {
        GoldenConvention {
            convention: GoldenKind::Sibling,
            directory: None,
            when_missing,
        }
    }

    fn paths(s: &Selection) -> Vec<(&str, Option<&str>)> {
        s.notebooks
            .iter()
            .map(|n| (n.path.as_str(), n.golden.as_deref()))
            .collect()
    }

    #[test]
    fn globs_choose_notebooks_and_siblings_are_their_goldens() {
        let repo = listing(&[
            "a.ipynb",
            "a.golden.ipynb",
            "nb/b.ipynb",
            "nb/deep/c.ipynb",
            "nb/deep/c.golden.ipynb",
            "drafts/d.ipynb",
        ]);
        let chosen = select(
            &repo,
            &selection(&["**/*.ipynb"], &["drafts/**"], &[]),
            Some(&sibling(None)),
        )
        .expect("selects");
        assert_eq!(
            paths(&chosen),
            vec![
                ("a.ipynb", Some("a.golden.ipynb")),
                ("nb/b.ipynb", None),
                ("nb/deep/c.ipynb", Some("nb/deep/c.golden.ipynb")),
            ]
        );
        // '*' stops at '/'.
        let top = select(&repo, &selection(&["nb/*.ipynb"], &[], &[]), None).expect("selects");
        assert_eq!(paths(&top), vec![("nb/b.ipynb", None)]);
    }

    #[test]
    fn a_golden_directory_and_self_golden_name_the_golden() {
        let repo = listing(&["golden/x/a.ipynb", "x/a.ipynb", "x/b.ipynb"]);
        let dir = GoldenConvention {
            convention: GoldenKind::Directory,
            directory: Some("golden/".into()),
            when_missing: Some(MissingGolden::Skip),
        };
        let chosen =
            select(&repo, &selection(&["**/*.ipynb"], &[], &[]), Some(&dir)).expect("selects");
        assert_eq!(
            paths(&chosen),
            vec![("x/a.ipynb", Some("golden/x/a.ipynb"))]
        );
        assert_eq!(chosen.skipped[0].path, "x/b.ipynb");
        assert!(
            chosen.skipped[0]
                .reason
                .contains("golden/x/b.ipynb is missing")
        );
        let itself = GoldenConvention {
            convention: GoldenKind::Itself,
            directory: None,
            when_missing: None,
        };
        let chosen =
            select(&repo, &selection(&[], &[], &["x/b.ipynb"]), Some(&itself)).expect("selects");
        assert_eq!(paths(&chosen), vec![("x/b.ipynb", Some("x/b.ipynb"))]);
    }

    #[test]
    fn named_paths_must_exist_and_excludes_still_apply() {
        let repo = listing(&["a.ipynb", "b.ipynb"]);
        let err = select(&repo, &selection(&[], &[], &["c.ipynb"]), None).expect_err("missing");
        assert!(err.to_string().contains("names c.ipynb"), "{err}");
        let err = select(&repo, &selection(&[], &["*.ipynb"], &["a.ipynb"]), None)
            .expect_err("all excluded");
        assert!(
            matches!(err, SelectionError::Empty { listed: 2, .. }),
            "{err}"
        );
    }

    #[test]
    fn bad_and_hostile_globs_are_refused_or_harmless() {
        let err = check_globs(&selection(&["nb/[.ipynb"], &[], &[])).expect_err("bad");
        assert!(
            err.to_string()
                .starts_with("notebooks.include[0] 'nb/[.ipynb' is not a glob"),
            "{err}"
        );
        // A glob bomb: many '**' and '*' against a long path; matching is by automaton, so it
        // ends (a backtracking matcher would not, in any useful time).
        let bomb = "**/".repeat(60) + &"*a".repeat(30) + "*.ipynb";
        let long = "a/".repeat(400) + &"a".repeat(100) + "b.ipynb";
        let repo = listing(&[long.as_str()]);
        let chosen = select(&repo, &selection(&[bomb.as_str()], &[], &[]), None)
            .expect("the bomb matches the long path");
        assert_eq!(chosen.notebooks.len(), 1);
        let miss = "**/".repeat(60) + &"*a".repeat(30) + "*c.ipynb";
        let result = select(&repo, &selection(&[miss.as_str()], &[], &[]), None);
        assert!(matches!(result, Err(SelectionError::Empty { .. })));
    }

    #[test]
    fn paths_a_job_refuses_are_skipped_saying_why() {
        let repo = listing(&["ok.ipynb", "a..b.ipynb"]);
        let chosen = select(&repo, &selection(&["*.ipynb"], &[], &[]), None).expect("selects");
        assert_eq!(paths(&chosen), vec![("ok.ipynb", None)]);
        assert!(chosen.skipped[0].reason.contains("'..'"));
    }
}
