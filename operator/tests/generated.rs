//! Generated files must match what the code generates: run `cargo xtask codegen` after changing
//! the API types.

#[test]
fn the_checked_in_crd_is_fresh() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/crds/notebookvalidationjobs.mlops.redhat.com.yaml"
    );
    let checked_in = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        checked_in == notebook_validator_operator::crd::crd_yaml(),
        "{path} is stale or missing: run `cargo xtask codegen`"
    );
}
