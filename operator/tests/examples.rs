//! Every example manifest is a NotebookValidationJob or a NotebookImage the Rust types read back.

use notebook_validator_operator::crd::NotebookValidationJob;
use notebook_validator_operator::image::crd::NotebookImage;

#[test]
fn every_example_parses() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");
    let (mut jobs, mut images) = (0, 0);
    for entry in std::fs::read_dir(dir).expect("examples dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&path).expect("readable");
            let kind: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            if kind["kind"].as_str() == Some("NotebookImage") {
                let image: NotebookImage = serde_yaml_ng::from_str(&text)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                assert!(
                    !image.spec.validation_notebooks.is_empty(),
                    "{}",
                    path.display()
                );
                images += 1;
                continue;
            }
            let job: NotebookValidationJob = serde_yaml_ng::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(
                job.spec.notebook.path.ends_with(".ipynb"),
                "{}",
                path.display()
            );
            jobs += 1;
        }
    }
    assert!(jobs >= 4, "expected the job examples, found {jobs}");
    assert!(
        images >= 2,
        "expected the notebook image examples, found {images}"
    );
}
