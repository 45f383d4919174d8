//! `docs/architecture.md` names real paths, and the arrows it draws between the operator's
//! rooms hold: API types know no controller, the shared steps know neither controller, and the
//! controllers do not know each other.

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the operator sits in the workspace")
        .to_path_buf()
}

fn src() -> PathBuf {
    repo().join("operator/src")
}

/// Backticked paths of the page: relative to the repository when they start with a top-level
/// directory, else to `operator/src`.
fn named_paths(page: &str) -> Vec<String> {
    page.split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| {
            (s.ends_with(".rs") || s.ends_with('/') || s.ends_with(".md")) && !s.contains(' ')
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_path_the_architecture_page_names_exists() {
    let page = std::fs::read_to_string(repo().join("docs/architecture.md")).expect("the page");
    let named = named_paths(&page);
    assert!(named.len() > 30, "the page names its modules: {named:?}");
    let top = [
        "core/",
        "strategies/",
        "community/",
        "operator/",
        "xtask/",
        "docs/",
    ];
    let missing: Vec<&String> = named
        .iter()
        .filter(|p| {
            let base = if top.iter().any(|t| p.starts_with(t)) {
                repo()
            } else {
                src()
            };
            !base.join(p.as_str()).exists()
        })
        .collect();
    assert!(
        missing.is_empty(),
        "docs/architecture.md names what does not exist: {missing:?}"
    );
}

/// The source of every `.rs` file under `dir`, without its unit tests.
fn sources(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("a source directory") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            out.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("a source file");
            let code = text
                .split("#[cfg(test)]")
                .next()
                .unwrap_or_default()
                .to_owned();
            out.push((path, code));
        }
    }
    out
}

fn assert_no_arrow(room: &str, forbidden: &[&str]) {
    let root = src().join(room);
    let files = if root.is_dir() {
        sources(&root)
    } else {
        let text = std::fs::read_to_string(&root).expect("a source file");
        vec![(root, text)]
    };
    for (path, code) in files {
        for target in forbidden {
            assert!(
                !code.contains(target),
                "{} uses {target}, against the arrows of docs/architecture.md",
                path.display()
            );
        }
    }
}

#[test]
fn arrows_run_from_the_controllers_to_the_shared_steps_to_the_api() {
    let controllers = [
        "crate::reconcile",
        "crate::image",
        "crate::suite",
        "crate::controller",
    ];
    let mut below_steps = vec!["crate::steps"];
    below_steps.extend(controllers);
    assert_no_arrow("crd", &below_steps);
    for leaf in ["reason.rs", "duration.rs", "identity.rs"] {
        assert_no_arrow(leaf, &["crate::"]);
    }
    for below in ["labels.rs", "config.rs", "catalog.rs", "metrics.rs"] {
        assert_no_arrow(below, &below_steps[..4]);
    }
    assert_no_arrow("steps", &controllers);
    for (i, controller) in ["reconcile", "image", "suite"].into_iter().enumerate() {
        let others: Vec<&str> = controllers
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, c)| *c)
            .collect();
        assert_no_arrow(controller, &others);
    }
}
