//! Every example manifest is a NotebookValidationJob the Rust types read back unchanged.

use notebook_validator_operator::crd::NotebookValidationJob;

#[test]
fn every_example_parses() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).expect("examples dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&path).expect("readable");
            let job: NotebookValidationJob = serde_yaml_ng::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(
                job.spec.notebook.path.ends_with(".ipynb"),
                "{}",
                path.display()
            );
            seen += 1;
        }
    }
    assert!(seen >= 4, "expected the example manifests, found {seen}");
}
