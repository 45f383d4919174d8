//! Every example manifest is a NotebookValidationJob, a NotebookImage or a
//! NotebookValidationSuite that the Rust types read back and a real API server accepts; with every strategy compiled in, each build it asks for is
//! rendered by its strategy, and every secret and path the example sets reaches what the
//! strategy creates, so that a field with no effect fails here.

use notebook_validator_operator::crd::NotebookValidationJob;
use notebook_validator_operator::crd::image::NotebookImage;
use notebook_validator_operator::crd::suite::NotebookValidationSuite;

mod support;

/// The examples, as (file name, text).
fn examples() -> Vec<(String, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");
    let mut files: Vec<(String, String)> = std::fs::read_dir(dir)
        .expect("examples dir")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .map(|path| {
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            (name, std::fs::read_to_string(&path).expect("readable"))
        })
        .collect();
    files.sort();
    files
}

fn kind(text: &str) -> String {
    let object: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).expect("YAML");
    object["kind"].as_str().unwrap_or_default().to_owned()
}

fn is_image(text: &str) -> bool {
    kind(text) == "NotebookImage"
}

fn is_suite(text: &str) -> bool {
    kind(text) == "NotebookValidationSuite"
}

#[test]
fn every_example_parses() {
    let (mut jobs, mut images, mut suites) = (0, 0, 0);
    for (name, text) in examples() {
        if is_suite(&text) {
            let suite: NotebookValidationSuite =
                serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!suite.spec.notebooks.include.is_empty(), "{name}");
            suites += 1;
            continue;
        }
        if is_image(&text) {
            let image: NotebookImage =
                serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!image.spec.validation_notebooks.is_empty(), "{name}");
            images += 1;
            continue;
        }
        let job: NotebookValidationJob =
            serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(job.spec.notebook.path.ends_with(".ipynb"), "{name}");
        jobs += 1;
    }
    assert!(jobs >= 4, "expected the job examples, found {jobs}");
    assert!(
        images >= 2,
        "expected the notebook image examples, found {images}"
    );
    assert!(suites >= 1, "expected the suite example, found {suites}");
}

#[tokio::test]
async fn every_example_is_accepted_by_the_api_server() {
    use kube::api::{Api, PostParams};
    let h = support::Harness::new("examples").await;
    let dry_run = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    for (name, text) in examples() {
        let accepted = if is_suite(&text) {
            let suite: NotebookValidationSuite = serde_yaml_ng::from_str(&text).expect("suite");
            Api::<NotebookValidationSuite>::namespaced(h.env.client.clone(), &h.env.namespace)
                .create(&dry_run, &suite)
                .await
                .map(drop)
        } else if is_image(&text) {
            let image: NotebookImage = serde_yaml_ng::from_str(&text).expect("image");
            Api::<NotebookImage>::namespaced(h.env.client.clone(), &h.env.namespace)
                .create(&dry_run, &image)
                .await
                .map(drop)
        } else {
            let job: NotebookValidationJob = serde_yaml_ng::from_str(&text).expect("job");
            h.jobs().create(&dry_run, &job).await.map(drop)
        };
        accepted.unwrap_or_else(|e| panic!("{name} is refused: {e}"));
    }
}

#[cfg(feature = "community")]
mod rendered {
    use buildstrategy_api::BuildRequest;
    use notebook_validator_operator::catalog::Catalog;
    use notebook_validator_operator::config::EnabledStrategies;
    use notebook_validator_operator::crd::NotebookValidationJob;
    use notebook_validator_operator::crd::image::NotebookImage;
    use notebook_validator_operator::reconcile::plan::{self, ImageSource};
    use notebook_validator_operator::steps::select;

    use super::{examples, is_image, is_suite};

    /// The build an example asks for, as the request its strategy gets, and the strategy named
    /// (`auto` for the first in `auto`'s order that takes the request).
    fn build_of(text: &str) -> Option<(String, BuildRequest)> {
        if is_suite(text) {
            // A suite builds nothing itself; its jobs are checked as jobs.
            return None;
        }
        if is_image(text) {
            let image: NotebookImage = serde_yaml_ng::from_str(text).expect("image");
            let plan = notebook_validator_operator::image::plan::plan(&image).expect("plan");
            let build = plan.build.as_ref()?;
            let strategy = image
                .spec
                .build_config
                .as_ref()
                .and_then(|b| b.strategy.clone())
                .unwrap_or_else(|| "auto".into());
            return Some((strategy, build.request(&image, 1, None)));
        }
        let job: NotebookValidationJob = serde_yaml_ng::from_str(text).expect("job");
        match plan::plan(&job, "quay.io/jupyter/minimal-notebook:2025-06-30")
            .expect("plan")
            .image
        {
            ImageSource::Build { strategy, request } => Some((strategy, *request)),
            _ => None,
        }
    }

    #[test]
    fn every_build_setting_of_an_example_reaches_what_its_strategy_creates() {
        let catalog = Catalog::linked(EnabledStrategies::resolve(None, None, &[]).expect("config"))
            .expect("catalog");
        let registry = catalog.registry();
        let mut rendered_builds = 0;
        for (name, text) in examples() {
            let Some((requested, request)) = build_of(&text) else {
                continue;
            };
            let strategy = if requested == "auto" {
                select::auto_order(registry)
                    .into_iter()
                    .find(|s| s.validate_config(&request).is_ok())
                    .unwrap_or_else(|| panic!("{name}: no strategy takes it"))
                    .clone()
            } else {
                registry
                    .get(&requested)
                    .unwrap_or_else(|| panic!("{name}: {requested} is not compiled"))
                    .clone()
            };
            strategy
                .validate_config(&request)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let build = strategy
                .render(&request)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let mut created = serde_json::to_string(&build).expect("json");
            for step in strategy.setup_steps(&request).expect("setup steps") {
                created.push_str(&serde_json::to_string(&step.object).expect("json"));
            }
            let strategy_name = strategy.info().name;
            let mut settings: Vec<(&str, String)> = Vec::new();
            if let Some(secret) = &request.push_secret {
                settings.push(("buildConfig.pushSecret", secret.clone()));
            }
            if let Some(secret) = &request.source.credentials_secret {
                settings.push(("the source's credentialsSecret", secret.clone()));
            }
            if let Some(image) = &request.output_image {
                settings.push(("buildConfig.outputImage", image.clone()));
            }
            for (field, value) in settings {
                assert!(
                    created.contains(&value),
                    "{name}: {field} {value:?} has no effect on what {strategy_name} creates"
                );
            }
            rendered_builds += 1;
        }
        assert!(
            rendered_builds >= 8,
            "expected every build example, rendered {rendered_builds}"
        );
    }
}
