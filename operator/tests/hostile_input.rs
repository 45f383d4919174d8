//! Hostile input the operator itself refuses, whatever the CRD in the cluster let through: the
//! fields it passes on to clones, builds and the runner, a strategy's configuration, and the
//! runner's termination message; and the notebooks the runner refuses to read.
//! Each case is a row of docs/hostile-input.md, written from here.

mod support;

use k8s_openapi::api::core::v1::Pod;
use notebook_validator_operator::catalog::Catalog;
use notebook_validator_operator::config::EnabledStrategies;
use notebook_validator_operator::crd::NotebookValidationJob;
use notebook_validator_operator::reconcile::plan::{self, ImageSource, PlanError};
use notebook_validator_operator::steps::outcome::{self, PodOutcome};
use serde_json::json;
use support::docs;

const DOC: &str = "docs/hostile-input.md";
const TEST: &str = "operator/tests/hostile_input.rs";

fn job(spec: serde_json::Value) -> NotebookValidationJob {
    serde_json::from_value(json!({
        "apiVersion": "mlops.redhat.com/v1alpha1",
        "kind": "NotebookValidationJob",
        "metadata": { "name": "j", "namespace": "ns" },
        "spec": spec
    }))
    .expect("a job")
}

fn notebook(url: &str) -> serde_json::Value {
    json!({ "git": { "url": url }, "path": "a.ipynb" })
}

#[test]
fn fields_passed_on_are_refused_by_the_operator() {
    let safe = "https://git.example/nb.git";
    let build = |requirements: &str| {
        json!({ "notebook": notebook(safe), "podConfig": { "buildConfig": {
            "enabled": true, "strategy": "s2i", "requirementsFile": requirements } } })
    };
    // (input, spec)
    let cases = [
        (
            "a password in the notebook's git URL",
            json!({ "notebook": notebook("https://user:s3cret@git.example/nb.git") }),
        ),
        (
            "a token in the notebook's git URL",
            json!({ "notebook": notebook("https://ghp_s3cret@git.example/nb.git") }),
        ),
        (
            "a password in an ssh URL",
            json!({ "notebook": notebook("ssh://git:s3cret@git.example/nb.git") }),
        ),
        (
            "a password in the golden's git URL",
            json!({ "notebook": notebook(safe), "goldenNotebook": notebook("https://u:s3cret@git.example/g.git") }),
        ),
        (
            "a host like an option",
            json!({ "notebook": notebook("ssh://-oProxyCommand=touch/x.git") }),
        ),
        (
            "an scp-style host like an option",
            json!({ "notebook": notebook("git@-oProxyCommand=x:nb.git") }),
        ),
        (
            "a file:// URL",
            json!({ "notebook": notebook("file:///etc/passwd") }),
        ),
        (
            "a requirements file outside the repository",
            build("../../etc/passwd"),
        ),
        ("an absolute requirements file", build("/etc/passwd")),
        (
            "a Dockerfile's path where its content goes (the Go operator's meaning)",
            json!({ "notebook": notebook(safe), "podConfig": { "buildConfig": {
                "enabled": true, "strategy": "s2i", "dockerfile": "docker/Dockerfile" } } }),
        ),
        (
            "a parameter name that is code",
            json!({ "notebook": notebook(safe), "parameters": { "x = 1; import os; os.system('id') #": 1 } }),
        ),
        (
            "a parameter name starting with a digit",
            json!({ "notebook": notebook(safe), "parameters": { "1st": 1 } }),
        ),
        (
            "200 KiB of parameters (one environment variable holds 128 KiB)",
            json!({ "notebook": notebook(safe), "parameters": { "text": "x".repeat(200 * 1024) } }),
        ),
        (
            "300 parameters",
            json!({ "notebook": notebook(safe), "parameters": (0..300)
                .map(|i| (format!("p{i}"), json!(i)))
                .collect::<serde_json::Map<_, _>>() }),
        ),
        (
            "a privileged init container",
            json!({ "notebook": notebook(safe), "podConfig": { "initContainers": [{
                "name": "setup", "image": "busybox", "securityContext": { "privileged": true } }] } }),
        ),
        (
            "an init container adding a capability",
            json!({ "notebook": notebook(safe), "podConfig": { "initContainers": [{
                "name": "setup", "image": "busybox",
                "securityContext": { "capabilities": { "add": ["NET_ADMIN"] } } }] } }),
        ),
        (
            "an init container named like the pod's clone",
            json!({ "notebook": notebook(safe), "podConfig": { "initContainers": [{
                "name": "clone", "image": "busybox" }] } }),
        ),
    ];
    let mut rows = Vec::new();
    for (input, spec) in cases {
        match plan::plan(&job(spec), "img") {
            Err(PlanError::Refused { field, reason }) => {
                assert!(!reason.contains("s3cret"), "{input}: {reason}");
                rows.push(vec![input.to_owned(), format!("`{field}`"), reason]);
            }
            other => panic!("{input}: expected a refusal, got {other:?}"),
        }
    }
    docs::check_generated_section(
        DOC,
        "operator-cases",
        TEST,
        &docs::table(
            &["input", "field", "the job fails (InvalidSpec) with"],
            &rows,
        ),
    );
}

/// A validation pod that ended with `message` as its runner's termination message.
fn finished_with(message: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": { "name": "p" },
        "status": { "phase": "Failed", "containerStatuses": [{
            "name": "validate", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
            "state": { "terminated": { "exitCode": 1, "reason": "Error", "message": message } }
        }] }
    }))
    .expect("a pod")
}

#[test]
fn termination_messages_that_are_no_result_fail_the_job_saying_so() {
    let valid = json!({ "schemaVersion": 1, "outcome": "passed", "exitCode": 0, "results": [] });
    let mut future = valid.clone();
    future["schemaVersion"] = json!(99);
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    // (input, termination message)
    let cases = [
        (
            "a Python traceback instead of JSON",
            "Traceback (most recent call last):\n  MemoryError".to_owned(),
        ),
        (
            "JSON cut off at the message limit",
            valid.to_string()[..20].to_owned(),
        ),
        ("a summary of a newer schema", future.to_string()),
        (
            "JSON of another shape",
            json!({ "passed": true }).to_string(),
        ),
        ("10,000 nested arrays", deep),
        (
            "a number out of range",
            json!({ "schemaVersion": 1, "outcome": "passed", "exitCode": 1e300, "results": [] })
                .to_string(),
        ),
    ];
    let mut rows = Vec::new();
    for (input, message) in cases {
        match outcome::read(&finished_with(&message)) {
            PodOutcome::Failed { reason, message } => {
                // The first line: the rest repeats parser detail.
                let first = message.lines().next().unwrap_or_default().to_owned();
                rows.push(vec![input.to_owned(), reason.to_string(), first]);
            }
            other => panic!("{input}: expected a failure, got {other:?}"),
        }
    }
    docs::check_generated_section(
        DOC,
        "termination-cases",
        TEST,
        &docs::table(&["termination message", "reason", "message"], &rows),
    );
}

#[test]
fn strategy_config_the_strategy_does_not_know_is_refused() {
    let catalog = Catalog::linked(EnabledStrategies::resolve(None, None, &[]).expect("config"))
        .expect("registry");
    let s2i = catalog.select("s2i").expect("s2i is always compiled in");
    // (input, strategyConfig)
    let cases = [
        ("an unknown key", json!({ "builderImag": "quay.io/x/py:1" })),
        (
            "an image with a space",
            json!({ "builderImage": "quay.io/x/py:1 --privileged" }),
        ),
        (
            "an image with a line break",
            json!({ "builderImage": "quay.io/x/py:1\nRUN id" }),
        ),
        (
            "a string where a flag belongs",
            json!({ "forcePull": "yes" }),
        ),
    ];
    let mut rows = Vec::new();
    for (input, config) in cases {
        let spec = json!({ "notebook": notebook("https://git.example/nb.git"), "podConfig": {
            "buildConfig": { "enabled": true, "strategy": "s2i", "requirementsFile": "r.txt",
                "strategyConfig": config } } });
        let Ok(plan::Plan {
            image: ImageSource::Build { request, .. },
            ..
        }) = plan::plan(&job(spec), "img")
        else {
            panic!("{input}: no build planned");
        };
        let refused = s2i.validate_config(&request).expect_err(input).to_string();
        rows.push(vec![input.to_owned(), refused]);
    }
    docs::check_generated_section(
        DOC,
        "strategy-config-cases",
        TEST,
        &docs::table(
            &[
                "strategyConfig (S2I)",
                "the job fails (InvalidStrategyConfig) with",
            ],
            &rows,
        ),
    );
}

#[test]
fn notebooks_that_are_not_notebooks_are_refused_by_the_runner() {
    let cell = json!({ "cell_type": "code", "source": "1", "metadata": {}, "outputs": [], "execution_count": null });
    let nb = |cells: serde_json::Value, nbformat: u64| {
        json!({ "nbformat": nbformat, "nbformat_minor": 5, "metadata": {}, "cells": cells })
            .to_string()
    };
    let mut numeric_source = cell.clone();
    numeric_source["source"] = json!(42);
    let mut unknown_type = cell.clone();
    unknown_type["cell_type"] = json!("sql");
    // (input, file content)
    let cases = [
        (
            "a Python file named .ipynb",
            "import os\nprint(os.environ)\n".to_owned(),
        ),
        ("JSON cut off", nb(json!([cell]), 4)[..40].to_owned()),
        ("an empty file", String::new()),
        (
            "JSON without cells",
            json!({ "nbformat": 4, "nbformat_minor": 5, "metadata": {} }).to_string(),
        ),
        ("cells that are not a list", nb(json!({ "0": cell }), 4)),
        (
            "a cell source that is a number",
            nb(json!([numeric_source]), 4),
        ),
        ("an unknown cell type", nb(json!([unknown_type]), 4)),
        (
            "10,000 nested arrays",
            format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)),
        ),
        ("a future nbformat", nb(json!([cell]), 5)),
    ];
    let mut rows = Vec::new();
    for (input, content) in cases {
        match nbv_compare::notebook::parse(content.as_bytes()) {
            Err(e) => rows.push(vec![input.to_owned(), e.to_string()]),
            Ok(_) => panic!("{input}: read as a notebook"),
        }
    }
    docs::check_generated_section(
        DOC,
        "notebook-cases",
        TEST,
        &docs::table(&["notebook file", "nbv refuses it with"], &rows),
    );
}

#[test]
fn suites_refuse_what_they_cannot_select_or_run() {
    use notebook_validator_operator::crd::suite::NotebookValidationSuite;
    use notebook_validator_operator::steps::listing::Listing;
    use notebook_validator_operator::suite::{matrix, selection};

    let suite =
        |notebooks: serde_json::Value, matrix: serde_json::Value| -> NotebookValidationSuite {
            serde_json::from_value(json!({
                "apiVersion": "mlops.redhat.com/v1alpha1",
                "kind": "NotebookValidationSuite",
                "metadata": {"name": "s", "namespace": "ns"},
                "spec": {
                    "repository": {"url": "https://git.example/nb.git"},
                    "notebooks": notebooks,
                    "matrix": matrix,
                },
            }))
            .expect("a suite")
        };
    let deep = "a/".repeat(400) + &"a".repeat(100) + "b.ipynb";
    let listing = Listing {
        commit: "0123456789abcdef0123456789abcdef01234567".into(),
        notebooks: [deep.as_str(), "nb/a.ipynb", "nb/a..b.ipynb"]
            .iter()
            .map(|p| ((*p).to_owned(), "b10b".to_owned()))
            .collect(),
        changes: None,
    };
    let bomb = "**/".repeat(60) + &"*a".repeat(30) + "*c.ipynb";
    let selections = [
        (
            "a glob that does not parse",
            json!({"include": ["nb/[.ipynb"]}),
        ),
        (
            "a glob bomb: 60 `**/` and 30 `*a` against an 800-level path",
            json!({"include": [bomb]}),
        ),
        (
            "a named notebook the repository lacks",
            json!({"paths": ["missing.ipynb"]}),
        ),
        (
            "a listed notebook with '..' in its name",
            json!({"include": ["nb/*.ipynb"]}),
        ),
    ];
    let mut rows = Vec::new();
    for (input, notebooks) in selections {
        let suite = suite(notebooks, json!({}));
        let outcome = match selection::select(&listing, &suite.spec.notebooks, None) {
            Err(e) => format!("`InvalidSelection`: {e}"),
            Ok(chosen) => format!(
                "runs {}; skips {}",
                chosen
                    .notebooks
                    .iter()
                    .map(|n| n.path.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                chosen
                    .skipped
                    .iter()
                    .map(|s| format!("{}: {}", s.path, s.reason))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        rows.push(vec![input.to_owned(), outcome]);
    }
    // The matrix's size is checked before anything is created.
    let images: Vec<serde_json::Value> = (0..32)
        .map(|i| json!({"name": format!("i{i}"), "containerImage": "r/x:1"}))
        .collect();
    let sets: Vec<serde_json::Value> = (0..64)
        .map(|i| json!({"name": format!("p{i}"), "parameters": {}}))
        .collect();
    let big = suite(
        json!({"include": ["**/*.ipynb"]}),
        json!({"images": images, "parameterSets": sets, "kernels": ["a", "b", "c", "d", "e", "f", "g", "h"]}),
    );
    let five = selection::Selection {
        notebooks: (0..5)
            .map(|i| selection::Selected {
                path: format!("n{i}.ipynb"),
                golden: None,
            })
            .collect(),
        skipped: Vec::new(),
    };
    let resolved: Vec<matrix::ResolvedImage> = (0..32)
        .map(|i| matrix::ResolvedImage {
            name: format!("i{i}"),
            reference: "r/x:1".into(),
            pull_secrets: Vec::new(),
        })
        .collect();
    let too_large = matrix::cells(&big, &five, &resolved).expect_err("over the limit");
    rows.push(vec![
        "5 notebooks × 32 images × 64 parameter sets × 8 kernels".to_owned(),
        format!("`MatrixTooLarge`: {too_large}"),
    ]);
    assert!(rows[0][1].contains("is not a glob"), "{rows:?}");
    assert!(
        rows[1][1].contains("no notebook of the repository"),
        "{rows:?}"
    );
    assert!(rows[2][1].contains("names missing.ipynb"), "{rows:?}");
    assert!(
        rows[3][1].starts_with("runs nb/a.ipynb; skips nb/a..b.ipynb"),
        "{rows:?}"
    );
    assert!(rows[4][1].contains("81920 cells"), "{rows:?}");
    docs::check_generated_section(
        DOC,
        "suite-cases",
        TEST,
        &docs::table(&["suite", "what happens"], &rows),
    );
}
