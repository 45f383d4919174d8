//! `cargo xtask new-strategy <name>`: a new community strategy crate that compiles and passes
//! its tests at once, and the operator's Cargo feature for it.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

use crate::sh;

/// Template files: (path in the new crate, content).
const TEMPLATES: [(&str, &str); 5] = [
    (
        "Cargo.toml",
        include_str!("../templates/strategy/Cargo.toml.tmpl"),
    ),
    (
        "src/lib.rs",
        include_str!("../templates/strategy/src/lib.rs.tmpl"),
    ),
    (
        "tests/strategy.rs",
        include_str!("../templates/strategy/tests/strategy.rs.tmpl"),
    ),
    (
        "README.md",
        include_str!("../templates/strategy/README.md.tmpl"),
    ),
    (
        "example-job.yaml",
        include_str!("../templates/strategy/example-job.yaml.tmpl"),
    ),
];

pub(crate) fn run(root: &Path, name: &str, test: bool) -> anyhow::Result<()> {
    check_name(name)?;
    let dir = root.join("community").join(name);
    if dir.exists() {
        bail!("{} already exists; choose another name", dir.display());
    }
    let operator_manifest = root.join("operator/Cargo.toml");
    let manifest = std::fs::read_to_string(&operator_manifest)?;
    let manifest = with_feature(&manifest, name)?;

    for (path, template) in TEMPLATES {
        let target = dir.join(path);
        std::fs::create_dir_all(target.parent().context("template path has a parent")?)?;
        std::fs::write(&target, fill(template, name))
            .with_context(|| format!("writing {}", target.display()))?;
    }
    std::fs::write(&operator_manifest, manifest)?;
    // Names of every length lay out differently: rustfmt lays out the crate it was given.
    sh::cargo_step(root, &["fmt", "-p", &format!("buildstrategy-{name}")])?;
    println!("created community/{name} and the operator feature '{name}'");

    if test {
        // The snapshots are written by this first run, for the author to review like code.
        let mut command = sh::cargo();
        command
            .current_dir(root)
            .args(["test", "-p", &format!("buildstrategy-{name}")])
            .env("INSTA_UPDATE", "always");
        sh::run(command, &format!("cargo test -p buildstrategy-{name}"))?;
    }
    println!("next: community/{name}/README.md walks through the first hour");
    Ok(())
}

/// The operator's manifest with the feature `name` and its optional dependency, edited as
/// TOML (comments and order kept) rather than matched line by line.
fn with_feature(manifest: &str, name: &str) -> anyhow::Result<String> {
    let mut doc: toml_edit::DocumentMut = manifest.parse().context("operator/Cargo.toml")?;
    let krate = format!("buildstrategy-{name}");
    let features = doc["features"]
        .as_table_mut()
        .context("operator/Cargo.toml has no [features] table")?;
    if features.contains_key(name) {
        bail!("the operator already has a feature named '{name}'");
    }
    let mut enables = toml_edit::Array::new();
    enables.push(format!("dep:{krate}"));
    features.insert(name, toml_edit::value(enables));
    if let Some(mut key) = features.key_mut(name) {
        key.leaf_decor_mut()
            .set_prefix(format!("## {} (community, scaffolded).\n", title(name)));
    }
    let dependencies = doc["dependencies"]
        .as_table_mut()
        .context("operator/Cargo.toml has no [dependencies] table")?;
    if dependencies.contains_key(&krate) {
        bail!("the operator already depends on {krate}");
    }
    let mut dependency = toml_edit::InlineTable::new();
    dependency.insert("path", format!("../community/{name}").into());
    dependency.insert("optional", true.into());
    dependencies.insert(&krate, toml_edit::value(dependency));
    Ok(doc.to_string())
}

fn check_name(name: &str) -> anyhow::Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && name.as_bytes()[0].is_ascii_lowercase()
        && !name.ends_with('-');
    if !valid {
        bail!(
            "'{name}' is not a strategy name: use lowercase letters, digits and '-', starting with a letter, at most 32 characters"
        );
    }
    if ["auto", "community", "s2i"].contains(&name) {
        bail!("'{name}' is reserved");
    }
    Ok(())
}

fn fill(template: &str, name: &str) -> String {
    template
        .replace("{{name}}", name)
        .replace("{{crate}}", &name.replace('-', "_"))
        .replace("{{Name}}", &title(name))
        .replace("{{Type}}", &title(name).replace(' ', ""))
}

/// `my-builder` → `My Builder`.
fn title(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Proves the scaffold on a copy of the workspace: scaffolds a strategy, runs its tests, and
/// checks the operator built with its feature lists it. The copy shares this workspace's target
/// directory, so only the workspace's own crates are rebuilt.
pub(crate) fn check(root: &Path) -> anyhow::Result<()> {
    let copy = std::env::temp_dir().join(format!("nbv-scaffold-check-{}", std::process::id()));
    let result = check_in(root, &copy);
    let _ = std::fs::remove_dir_all(&copy);
    result
}

fn check_in(root: &Path, copy: &Path) -> anyhow::Result<()> {
    let files = Command::new("git")
        .current_dir(root)
        .args(["ls-files", "-co", "--exclude-standard", "-z"])
        .output()?;
    if !files.status.success() {
        bail!("git ls-files failed in {}", root.display());
    }
    for file in files.stdout.split(|b| *b == 0).filter(|f| !f.is_empty()) {
        let relative = Path::new(std::str::from_utf8(file)?);
        let (from, to) = (root.join(relative), copy.join(relative));
        if from.is_file() {
            std::fs::create_dir_all(to.parent().context("file has a parent")?)?;
            std::fs::copy(&from, &to)?;
        }
    }
    let target = root.join("target");
    let cargo = || {
        let mut command = sh::cargo();
        command.current_dir(copy).env("CARGO_TARGET_DIR", &target);
        command
    };
    let mut scaffold = cargo();
    scaffold.args(["xtask", "new-strategy", "scaffold-check"]);
    sh::run(
        scaffold,
        "cargo xtask new-strategy scaffold-check (in a copy of the workspace)",
    )?;
    // What a contributor's first `cargo xtask ci` checks of the crate, unchanged.
    for (args, what) in [
        (
            &["fmt", "-p", "buildstrategy-scaffold-check", "--", "--check"][..],
            "cargo fmt --check of the scaffolded crate",
        ),
        (
            &[
                "clippy",
                "-p",
                "buildstrategy-scaffold-check",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ][..],
            "cargo clippy of the scaffolded crate",
        ),
    ] {
        let mut command = cargo();
        command.args(args);
        sh::run(command, what)?;
    }
    let listed = cargo()
        .args([
            "run",
            "--quiet",
            "-p",
            "notebook-validator-operator",
            "--features",
            "scaffold-check",
            "--",
            "strategies",
            "-o",
            "json",
        ])
        .output()?;
    crate::ci::listed_with_rank(
        &listed,
        "scaffold-check",
        "the operator built with the scaffolded strategy's feature",
    )?;
    println!(
        "scaffold check: the new strategy is formatted, lint-free, passes its tests and is listed with a rank for auto"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_titled() {
        assert!(check_name("podman").is_ok());
        assert!(check_name("Podman").is_err());
        assert!(check_name("auto").is_err());
        assert!(check_name("-x").is_err());
        assert_eq!(title("img-builder"), "Img Builder");
        assert!(fill("{{Type}} {{crate}}", "img-builder") == "ImgBuilder img_builder");
    }

    #[test]
    fn the_feature_is_added_whatever_the_manifest_looks_like() {
        let manifest = "[package]\nname = \"x\"\n\n[dependencies]\nserde = \"1\"\n\n[features]\n# kept\ncommunity = [\"buildah\"]\nbuildah = [\"dep:buildstrategy-buildah\"]\n";
        let edited = with_feature(manifest, "podman").expect("edited");
        let parsed: toml_edit::DocumentMut = edited.parse().expect("TOML");
        assert_eq!(
            parsed["features"]["podman"]
                .as_array()
                .map(|a| a.get(0).and_then(|v| v.as_str())),
            Some(Some("dep:buildstrategy-podman"))
        );
        assert_eq!(
            parsed["dependencies"]["buildstrategy-podman"]["path"].as_str(),
            Some("../community/podman")
        );
        assert!(edited.contains("# kept\ncommunity"), "{edited}");
        assert!(with_feature(&edited, "podman").is_err());
    }
}
