//! `changedFrom`: which of the selected notebooks run, given the paths changed since the base
//! and whether a matrix image moved. Pure.

use globset::GlobSet;

use super::selection::{Selection, SelectionError, glob_set_of};
use crate::crd::suite::{ChangeRule, ChangeSelection};
use crate::steps::listing::Changes;

/// The dependency globs without `dependencyGlobs`.
pub const DEFAULT_DEPENDENCY_GLOBS: [&str; 5] = [
    "requirements*.txt",
    "pyproject.toml",
    "environment.yml",
    "*.lock",
    "Dockerfile",
];

/// The dependency globs: a glob without `/` matches a file name in any directory.
fn dependency_set(globs: &[String]) -> Result<GlobSet, SelectionError> {
    let defaults: Vec<String> = DEFAULT_DEPENDENCY_GLOBS.map(str::to_owned).into();
    let globs = if globs.is_empty() { &defaults } else { globs };
    glob_set_of("dependencyGlobs", globs, |glob| {
        if glob.contains('/') {
            glob.to_owned()
        } else {
            format!("**/{glob}")
        }
    })
}

/// Narrows `selection` to what changed. `moved_image` names a matrix image whose reference
/// moved since the last run, if one did.
pub fn narrow(
    selection: Selection,
    changes: &Changes,
    dependency_globs: &[String],
    moved_image: Option<&str>,
) -> Result<(Selection, ChangeSelection), SelectionError> {
    let dependencies = dependency_set(dependency_globs)?;
    let every = |rule, reason: String| ChangeSelection {
        base: changes.base.clone(),
        rule,
        reason,
        unchanged: 0,
    };
    if let Some(dependency) = changes.paths.iter().find(|p| dependencies.is_match(p)) {
        let why = every(
            ChangeRule::DependencyChanged,
            format!("{dependency} changed: every notebook runs"),
        );
        return Ok((selection, why));
    }
    if let Some(image) = moved_image {
        let why = every(
            ChangeRule::ImageChanged,
            format!("matrix image {image} moved since the last run: every notebook runs"),
        );
        return Ok((selection, why));
    }
    let total = selection.notebooks.len();
    let (changed, unchanged): (Vec<_>, Vec<_>) = selection.notebooks.into_iter().partition(|n| {
        changes.paths.contains(&n.path)
            || n.golden.as_ref().is_some_and(|g| changes.paths.contains(g))
    });
    let why = ChangeSelection {
        base: changes.base.clone(),
        rule: ChangeRule::ChangedNotebooks,
        reason: format!("{} of {total} notebooks changed", changed.len()),
        unchanged: u32::try_from(unchanged.len()).unwrap_or(u32::MAX),
    };
    Ok((
        Selection {
            notebooks: changed,
            skipped: selection.skipped,
        },
        why,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::selection::Selected;

    fn selection() -> Selection {
        Selection {
            notebooks: ["a.ipynb", "b.ipynb", "c.ipynb"]
                .iter()
                .map(|p| Selected {
                    path: (*p).to_owned(),
                    golden: Some(p.replace(".ipynb", ".golden.ipynb")),
                })
                .collect(),
            skipped: Vec::new(),
        }
    }

    fn changes(paths: &[&str]) -> Changes {
        Changes {
            base: "b".repeat(40),
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    fn run(selection: &Selection) -> Vec<&str> {
        selection
            .notebooks
            .iter()
            .map(|n| n.path.as_str())
            .collect()
    }

    #[test]
    fn only_changed_notebooks_and_those_whose_golden_changed_run() {
        let (chosen, why) = narrow(
            selection(),
            &changes(&["b.ipynb", "c.golden.ipynb", "README.md"]),
            &[],
            None,
        )
        .expect("narrows");
        assert_eq!(run(&chosen), vec!["b.ipynb", "c.ipynb"]);
        assert_eq!(why.rule, ChangeRule::ChangedNotebooks);
        assert_eq!(why.reason, "2 of 3 notebooks changed");
        assert_eq!(why.unchanged, 1);
    }

    #[test]
    fn a_dependency_file_in_any_directory_or_a_moved_image_runs_everything() {
        let (chosen, why) = narrow(
            selection(),
            &changes(&["env/requirements-dev.txt"]),
            &[],
            None,
        )
        .expect("narrows");
        assert_eq!(chosen.notebooks.len(), 3);
        assert_eq!(why.rule, ChangeRule::DependencyChanged);
        assert!(why.reason.starts_with("env/requirements-dev.txt changed"));
        let (chosen, why) =
            narrow(selection(), &changes(&[]), &[], Some("py311")).expect("narrows");
        assert_eq!(chosen.notebooks.len(), 3);
        assert_eq!(why.rule, ChangeRule::ImageChanged);
        // Own globs replace the defaults; one with '/' matches from the root only.
        let own = vec!["conda/*.yaml".to_owned()];
        let (chosen, _) =
            narrow(selection(), &changes(&["requirements.txt"]), &own, None).expect("narrows");
        assert_eq!(chosen.notebooks.len(), 0);
        let (_, why) =
            narrow(selection(), &changes(&["conda/env.yaml"]), &own, None).expect("narrows");
        assert_eq!(why.rule, ChangeRule::DependencyChanged);
    }

    #[test]
    fn a_bad_dependency_glob_is_named_as_written() {
        let own = vec!["*.txt".to_owned(), "[.yml".to_owned()];
        let error =
            narrow(selection(), &changes(&["a.ipynb"]), &own, None).expect_err("an unclosed class");
        assert!(
            error
                .to_string()
                .starts_with("dependencyGlobs[1] '[.yml' is not a glob"),
            "{error}"
        );
    }
}
