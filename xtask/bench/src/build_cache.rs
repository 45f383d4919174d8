//! The build-cache benchmark on the real node: for each pod builder, with its layer cache off and
//! on, three builds in a row through the operator: a repository's first build, the same
//! repository with one requirement added, and another notebook's repository with the same
//! requirements. Each figure is the build container's own run time (start to end, from the
//! pod's status), so the clone, scheduling and the validation that follows are left out.
//!
//! The requirements are real wheels (pandas, numpy and their dependencies; tabulate as the added
//! one) that this machine downloads with pip and the node's file server serves to the builds.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{Api, PostParams};
use notebook_validator_operator::crd::{self, NotebookValidationJob, Phase};
use serde::Serialize;

/// Where the node's registry listens, as builds and pods name it.
const REGISTRY: &str = nbv_testenv::node::REGISTRY;
/// The requirements of both notebooks, then the one the second build adds.
const REQUIREMENTS: [&str; 2] = ["numpy==2.2.6", "pandas==2.2.3"];
const ADDED: &str = "tabulate==0.9.0";
/// The notebook image's Python, for which pip downloads wheels.
const PYTHON_VERSION: &str = "3.11";
const PUSH_SECRET: &str = "registry-push";

/// A pod builder: its strategy, its image on the node, and its cache option.
struct Builder {
    strategy: &'static str,
    executor: String,
    /// `strategyConfig` keys that turn its cache on, given the cache repository.
    cache: fn(&str) -> serde_json::Value,
    /// How the builder's option reads in the report.
    option: &'static str,
}

/// One row: a builder with its cache off or on, and the seconds of its three builds.
#[derive(Debug, Serialize)]
pub(crate) struct Row {
    builder: String,
    cache: String,
    first: u64,
    requirement_added: u64,
    other_notebook: u64,
}

/// Runs the benchmark for `builders` (default: all three) and writes `build-cache.md` and
/// `build-cache.json` into `out`.
pub(crate) async fn run(builders: &[String], out: &Path, command: &str) -> anyhow::Result<()> {
    let cp = nbv_testenv::ControlPlane::builder()
        .with_node()
        .start()
        .await?;
    let client = cp.client()?;
    let images = cp.node_images().context("node images")?.clone();
    let registry = cp.node_registry().context("the node's registry")?;
    let base = registry.push(&images.notebook)?;
    let all = [
        Builder {
            strategy: "buildah",
            executor: images.buildah.reference.clone(),
            cache: |repo| serde_json::json!({ "cacheRepo": repo }),
            option: "`cacheRepo` (`--layers --cache-from --cache-to`)",
        },
        Builder {
            strategy: "kaniko",
            executor: images.kaniko.reference.clone(),
            cache: |repo| serde_json::json!({ "cache": true, "cacheRepo": repo }),
            option: "`cache: true` with `cacheRepo` (`--cache --cache-repo`)",
        },
        Builder {
            strategy: "buildkit",
            executor: images.buildkit.reference.clone(),
            cache: |repo| serde_json::json!({ "cacheRepo": repo }),
            option: "`cacheRepo` (registry cache, `mode=max`)",
        },
    ];
    let chosen: Vec<&Builder> = all
        .iter()
        .filter(|b| builders.is_empty() || builders.iter().any(|n| n == b.strategy))
        .collect();
    ensure!(!chosen.is_empty(), "no builder named {builders:?}");

    let namespace = cp
        .create_namespace(
            "bench-build-cache",
            &[("pod-security.kubernetes.io/enforce", "privileged")],
        )
        .await?;
    nbv_testenv::install_crds(&client, &[&crd::crd_yaml()]).await?;
    let secret: Secret = serde_json::from_value(serde_json::json!({
        "metadata": {"name": PUSH_SECRET},
        "type": "kubernetes.io/dockerconfigjson",
        "stringData": {".dockerconfigjson": registry.credentials().docker_config_json()},
    }))?;
    Api::<Secret>::namespaced(client.clone(), &namespace)
        .create(&PostParams::default(), &secret)
        .await?;

    let serve_dir =
        std::env::temp_dir().join(format!("nbv-bench-build-cache-{}", std::process::id()));
    let server = nbv_testenv::NodeServer::start(&serve_dir, nbv_testenv::Lifetime::Owned)?;
    download_wheels(&server.files_dir().join("wheels"))?;
    let index = format!("--no-index\n--find-links {}wheels/\n", server.files_url());
    let requirements = format!("{index}{}\n", REQUIREMENTS.join("\n"));
    let added = format!("{requirements}{ADDED}\n");
    let first = server.repo(
        "first",
        &[
            (
                "analysis.ipynb",
                &notebook("import pandas\nprint(pandas.__version__)"),
            ),
            ("requirements.txt", requirements.as_bytes()),
        ],
    )?;
    let with_added = server.update("first", &[("requirements.txt", added.as_bytes())])?;
    let other = server.repo(
        "other",
        &[
            (
                "analysis.ipynb",
                &notebook("import numpy\nprint(numpy.__version__)"),
            ),
            ("requirements.txt", requirements.as_bytes()),
        ],
    )?;

    let enabled: Vec<String> = chosen.iter().map(|b| b.strategy.to_owned()).collect();
    let operator = crate::node::spawn_operator(&client, &images, &namespace, &enabled)?;
    let jobs: Api<NotebookValidationJob> = Api::namespaced(client.clone(), &namespace);
    let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);

    let mut rows = Vec::new();
    for builder in &chosen {
        for cached in [false, true] {
            let label = if cached { "on" } else { "off" };
            let cache_repo = format!("{REGISTRY}/cache/{}", builder.strategy);
            let mut config = if cached {
                (builder.cache)(&cache_repo)
            } else {
                serde_json::json!({})
            };
            config["executor"] = builder.executor.clone().into();
            config["gitImage"] = images.operator.reference.clone().into();
            let mut seconds = Vec::new();
            for (step, repo) in [("first", &first), ("added", &with_added), ("other", &other)] {
                let name = format!("{}-{label}-{step}", builder.strategy);
                let spec = JobSpec {
                    name: &name,
                    repo,
                    strategy: builder.strategy,
                    base: &base,
                    config: &config,
                };
                seconds.push(build_seconds(&jobs, &pods, &spec).await?);
                eprintln!(
                    "{} cache {label}, {step}: {} s",
                    builder.strategy,
                    seconds[seconds.len() - 1]
                );
            }
            rows.push(Row {
                builder: builder.strategy.to_owned(),
                cache: if cached {
                    builder.option.to_owned()
                } else {
                    "off".to_owned()
                },
                first: seconds[0],
                requirement_added: seconds[1],
                other_notebook: seconds[2],
            });
        }
    }
    operator.abort();
    drop(server);
    cp.stop();

    std::fs::create_dir_all(out)?;
    std::fs::write(
        out.join("build-cache.json"),
        serde_json::to_string_pretty(&rows)? + "\n",
    )?;
    let path = out.join("build-cache.md");
    let analysis = crate::report::kept_analysis(&path);
    std::fs::write(
        &path,
        crate::report::with_analysis(markdown(&rows, command), &analysis),
    )?;
    println!("wrote {}", path.display());
    Ok(())
}

/// Downloads the wheels of the requirements and their dependencies for the notebook image's
/// Python into `dir`, which the node's file server serves.
fn download_wheels(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let status = Command::new("python3")
        .args(["-m", "pip", "download", "--quiet", "--only-binary=:all:"])
        .args(["--python-version", PYTHON_VERSION])
        .args(["--platform", "manylinux_2_17_x86_64", "--dest"])
        .arg(dir)
        .args(REQUIREMENTS)
        .arg(ADDED)
        .status()
        .context("running pip download (the benchmark's wheels come from the package index)")?;
    ensure!(status.success(), "pip download failed ({status})");
    Ok(())
}

/// A notebook of one code cell.
fn notebook(source: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "cells": [{"cell_type": "code", "id": "c1", "metadata": {}, "execution_count": null,
                   "outputs": [], "source": source}],
    }))
    .unwrap_or_default()
}

struct JobSpec<'a> {
    name: &'a str,
    repo: &'a nbv_testenv::node::Repo,
    strategy: &'a str,
    base: &'a str,
    config: &'a serde_json::Value,
}

/// Creates a job that builds `spec.repo`'s image, waits for its verdict (which must be
/// Succeeded), and returns its build container's run time in seconds.
async fn build_seconds(
    jobs: &Api<NotebookValidationJob>,
    pods: &Api<Pod>,
    spec: &JobSpec<'_>,
) -> anyhow::Result<u64> {
    let job: NotebookValidationJob = serde_json::from_value(serde_json::json!({
        "apiVersion": "mlops.redhat.com/v1alpha1",
        "kind": "NotebookValidationJob",
        "metadata": {"name": spec.name},
        "spec": {
            "notebook": {"git": {"url": spec.repo.url, "ref": spec.repo.commit},
                         "path": "analysis.ipynb"},
            "podConfig": {"buildConfig": {
                "enabled": true,
                "strategy": spec.strategy,
                "baseImage": spec.base,
                "requirementsFile": "requirements.txt",
                "outputImage": format!("{REGISTRY}/bench/{}:latest", spec.name),
                "pushSecret": PUSH_SECRET,
                "reuse": "Never",
                "strategyConfig": spec.config,
            }},
            "timeout": "20m",
        },
    }))?;
    jobs.create(&PostParams::default(), &job).await?;
    let deadline = Instant::now() + Duration::from_secs(1200);
    let status = loop {
        let job = jobs.get(spec.name).await?;
        if let Some(status) = job.status.filter(|s| s.is_terminal()) {
            break status;
        }
        if Instant::now() > deadline {
            bail!("job {} has no verdict after 20 minutes", spec.name);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    if status.phase != Some(Phase::Succeeded) {
        bail!(
            "job {} ended {:?}: {:?}",
            spec.name,
            status.phase,
            status.message
        );
    }
    let pod = pods.get(&format!("{}-build", spec.name)).await?;
    let state = pod
        .status
        .and_then(|s| s.container_statuses)
        .and_then(|c| c.into_iter().find(|c| c.name == "build"))
        .and_then(|c| c.state)
        .and_then(|s| s.terminated)
        .with_context(|| format!("the build container of {} has not ended", spec.name))?;
    let (Some(started), Some(finished)) = (state.started_at, state.finished_at) else {
        bail!(
            "the build container of {} has no start or end time",
            spec.name
        );
    };
    Ok(finished
        .0
        .as_second()
        .saturating_sub(started.0.as_second())
        .unsigned_abs())
}

fn markdown(rows: &[Row], command: &str) -> String {
    let mut md = String::from("# Build cache\n\n");
    let _ = writeln!(
        md,
        "Seconds each pod builder's build container ran, on the local node of a 2-core machine, for three builds in a row: a repository's first build (`{}` on the node's notebook image), the same repository with `{ADDED}` added, and another notebook's repository with the same requirements. Each builder runs with its layer cache off, then on with a cache repository of its own in the node's registry (empty before the first build). One run each; the figures are whole seconds from the pod's status. Command:\n\n```sh\n{command}\n```\n",
        REQUIREMENTS.join("`, `")
    );
    md.push_str(
        "| builder | cache | first build | one requirement added | another notebook, same requirements |\n| --- | --- | --- | --- | --- |\n",
    );
    for row in rows {
        let _ = writeln!(
            md,
            "| {} | {} | {} s | {} s | {} s |",
            row.builder, row.cache, row.first, row.requirement_added, row.other_notebook
        );
    }
    md.push('\n');
    md
}
