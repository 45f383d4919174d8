//! `cargo xtask ci`: everything CI checks, in the order that fails fastest. It installs what it
//! needs on a fresh machine (cargo-deny, the control-plane binaries, the node's packages and
//! images, the Python runtime of the notebook tests).

use std::path::Path;

use anyhow::Context as _;

use crate::{codegen, node, scaffold, sh};

pub(crate) fn run(root: &Path) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    sh::cargo_step(root, &["fmt", "--all", "--", "--check"])?;
    codegen::run(root, true)?;
    alert_rules(root)?;
    crate::olm::validate(root)?;
    sh::cargo_step(
        root,
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    sh::cargo_step(
        root,
        &[
            "clippy",
            "-p",
            "notebook-validator-operator",
            "--all-targets",
            "--features",
            "community",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    sh::cargo_step(
        root,
        &[
            "check",
            "-p",
            "notebook-validator-operator",
            "--no-default-features",
            "--locked",
        ],
    )?;
    deny(root)?;
    semver(root)?;
    main_job_from_empty_caches(root)?;
    // Built once into a cache outside the work tree; later runs reuse it.
    let bin_dir = crate::controlplane::binaries_dir()?;
    // The node's packages when missing, and its images (cached by their inputs; the operator
    // image follows the code under test).
    node::install_deps()?;
    node::build_images(root, false, &[node::Engine::Shipwright])?;
    // Tests must run, not be skipped: a snapshot without its file fails instead of being written.
    let test = |args: &[&str]| {
        let mut command = sh::cargo();
        command
            .current_dir(root)
            .args(args)
            .env("INSTA_UPDATE", "no")
            .env("NBV_CONTROLPLANE_BIN_DIR", &bin_dir);
        sh::run(command, &format!("cargo {}", args.join(" ")))
    };
    test(&["test", "--workspace", "--locked"])?;
    // Again with every strategy compiled in: the unit tests and the test binaries whose code
    // depends on the features. The others would only repeat the run above.
    let mut community = vec![
        "test",
        "-p",
        "notebook-validator-operator",
        "--features",
        "community",
        "--locked",
        "--lib",
    ];
    let feature_tests = feature_dependent_tests(root)?;
    for name in &feature_tests {
        community.extend(["--test", name.as_str()]);
    }
    test(&community)?;
    scaffold::check(root)?;
    out_of_tree(root)?;
    println!("ci: all checks passed in {:.0?}", started.elapsed());
    Ok(())
}

/// The README's first command, `scripts/demo.sh`, as on a fresh machine: the project's caches
/// (control-plane binaries, node images and CA, cluster state, the runner's virtualenv) start
/// empty in a directory of their own, so a step that needs an artefact before the step that
/// makes it fails here, not on a new user's first run. Go's module and build caches and pip's
/// download cache are kept: they hold only what upstream publishes.
fn main_job_from_empty_caches(root: &Path) -> anyhow::Result<()> {
    let go_env = |name: &str| -> anyhow::Result<String> {
        let out = std::process::Command::new("go")
            .args(["env", name])
            .output()
            .with_context(|| format!("running go env {name}"))?;
        Ok(String::from_utf8(out.stdout)?.trim().to_owned())
    };
    let (go_cache, go_mod_cache) = (go_env("GOCACHE")?, go_env("GOMODCACHE")?);
    let home = std::env::var_os("HOME").context("HOME is not set")?;
    let pip_cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map_or_else(|| Path::new(&home).join(".cache"), std::path::PathBuf::from)
        .join("pip");
    let caches = std::env::temp_dir().join(format!("nbv-empty-caches-{}", std::process::id()));
    std::fs::create_dir_all(&caches).with_context(|| format!("creating {}", caches.display()))?;
    let with_empty_caches = |program: &str, args: &[&str]| {
        let mut command = std::process::Command::new(program);
        command
            .current_dir(root)
            .args(args)
            .env("XDG_CACHE_HOME", &caches)
            .env("GOCACHE", &go_cache)
            .env("GOMODCACHE", &go_mod_cache)
            .env("PIP_CACHE_DIR", &pip_cache)
            .env_remove(nbv_testenv::BIN_DIR_ENV);
        command
    };
    let demo = sh::run(
        with_empty_caches("bash", &["scripts/demo.sh"]),
        "scripts/demo.sh with empty caches",
    );
    // The cluster goes down and the host is restored whatever the demo did.
    let down = sh::run(
        with_empty_caches(
            std::env::var("CARGO").as_deref().unwrap_or("cargo"),
            &["xtask", "cluster", "down"],
        ),
        "cargo xtask cluster down (empty caches)",
    );
    let removed =
        std::fs::remove_dir_all(&caches).with_context(|| format!("removing {}", caches.display()));
    demo.and(down).and(removed)
}

/// The chart's alerting rules, checked and unit-tested by promtool (built from its module):
/// every alert has a case that fires it.
fn alert_rules(root: &Path) -> anyhow::Result<()> {
    let promtool = crate::gotools::build(root, &crate::gotools::promtool())?.join("promtool");
    let mut check = std::process::Command::new(&promtool);
    check.current_dir(root).args([
        "check",
        "rules",
        "deploy/helm/notebook-validator-operator/files/nbv-alerts.yaml",
    ]);
    sh::run(check, "promtool check rules")?;
    let mut test = std::process::Command::new(&promtool);
    test.current_dir(root)
        .args(["test", "rules", "deploy/monitoring/nbv-alerts.test.yaml"]);
    sh::run(test, "promtool test rules")
}

/// cargo-deny: licenses, bans and sources (advisories need the network, which CI lacks).
fn deny(root: &Path) -> anyhow::Result<()> {
    if !sh::on_path("cargo-deny") {
        sh::cargo_step(
            root,
            &["install", "cargo-deny", "--locked", "--version", "^0.20"],
        )?;
    }
    sh::cargo_step(
        root,
        &[
            "deny",
            "--all-features",
            "check",
            "licenses",
            "bans",
            "sources",
        ],
    )
}

/// cargo-semver-checks: the public API of `buildstrategy-api` against the baseline revision in
/// `core/semver-baseline` (see docs/api-stability.md for when it moves).
fn semver(root: &Path) -> anyhow::Result<()> {
    if !sh::on_path("cargo-semver-checks") {
        sh::cargo_step(
            root,
            &[
                "install",
                "cargo-semver-checks",
                "--locked",
                "--version",
                "^0.51",
            ],
        )?;
    }
    let baseline = std::fs::read_to_string(root.join("core/semver-baseline"))?;
    let baseline = baseline
        .lines()
        .find(|l| !l.starts_with('#') && !l.trim().is_empty())
        .unwrap_or_default()
        .trim()
        .to_owned();
    sh::cargo_step(
        root,
        &[
            "semver-checks",
            "check-release",
            "-p",
            "buildstrategy-api",
            "--baseline-rev",
            &baseline,
        ],
    )
}

/// The out-of-tree example: a strategy crate and a distribution binary outside this workspace,
/// built against it unchanged; the binary must list the external strategy.
fn out_of_tree(root: &Path) -> anyhow::Result<()> {
    let manifest = root.join("examples/out-of-tree/Cargo.toml");
    let manifest = manifest.to_string_lossy();
    let target = root.join("target");
    let mut test = sh::cargo();
    test.current_dir(root)
        .env("CARGO_TARGET_DIR", &target)
        .args(["test", "--locked", "--manifest-path", &manifest]);
    sh::run(
        test,
        "cargo test --manifest-path examples/out-of-tree/Cargo.toml",
    )?;
    let listed = sh::cargo()
        .current_dir(root)
        .env("CARGO_TARGET_DIR", &target)
        .args([
            "run",
            "--quiet",
            "--locked",
            "--manifest-path",
            &manifest,
            "-p",
            "acme-nbv-operator",
            "--",
            "strategies",
            "-o",
            "json",
        ])
        .output()?;
    listed_with_rank(&listed, "podman", "the out-of-tree distribution")?;
    println!(
        "out-of-tree: the distribution binary lists the external strategy, with its rank for auto"
    );
    Ok(())
}

/// Checks that `nbv-operator strategies -o json` (its output `listed`) lists strategy `name`
/// with a rank for `auto`: choosable with no edit of the operator.
pub(crate) fn listed_with_rank(
    listed: &std::process::Output,
    name: &str,
    binary: &str,
) -> anyhow::Result<()> {
    let stdout = String::from_utf8_lossy(&listed.stdout);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&stdout).unwrap_or_default();
    let ranked = rows
        .iter()
        .any(|row| row["name"] == name && row["autoRank"].is_u64());
    if !listed.status.success() || !ranked {
        anyhow::bail!(
            "{binary} does not list strategy '{name}' with a rank for auto:\n{stdout}{}",
            String::from_utf8_lossy(&listed.stderr)
        );
    }
    Ok(())
}

/// The operator's test binaries that mention a Cargo feature (`cfg(feature = ...)` or
/// `cfg!(feature = ...)`), found by reading them, so a new one cannot be left out.
fn feature_dependent_tests(root: &Path) -> anyhow::Result<Vec<String>> {
    let dir = root.join("operator/tests");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            if text.contains("feature = \"")
                && let Some(stem) = path.file_stem()
            {
                names.push(stem.to_string_lossy().into_owned());
            }
        }
    }
    names.sort();
    anyhow::ensure!(
        !names.is_empty(),
        "no test of {} depends on a feature",
        dir.display()
    );
    Ok(names)
}
