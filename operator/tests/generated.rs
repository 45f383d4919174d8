//! Generated files must match what the code generates: run `cargo xtask codegen` after changing
//! the API types or a strategy's declarations.

mod support;

#[test]
fn the_checked_in_crd_is_fresh() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/crds/mlops.redhat.com.yaml"
    );
    let checked_in = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        checked_in == notebook_validator_operator::crd::crd_yaml(),
        "{path} is stale or missing: run `cargo xtask codegen`"
    );
}

/// The parity matrix covers all six strategies, so it is checked in the `community` build.
#[cfg(feature = "community")]
#[test]
fn the_parity_matrix_is_fresh() {
    use notebook_validator_operator::catalog::Catalog;
    use notebook_validator_operator::config::EnabledStrategies;
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/community/build-strategies/parity-matrix.md"
    );
    let catalog = Catalog::linked(EnabledStrategies::resolve(None, None, &[]).expect("config"))
        .expect("registry");
    let fresh = notebook_validator_operator::docs::parity_matrix(&catalog);
    if std::env::var_os("NBV_UPDATE_DOCS").is_some() {
        std::fs::write(path, &fresh).expect("written");
    }
    let checked_in = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        checked_in == fresh,
        "{path} is stale: run `cargo xtask codegen`"
    );
}

/// The order `auto` follows, from the ranks the strategies declare.
#[cfg(feature = "community")]
#[test]
fn the_auto_order_is_fresh() {
    use notebook_validator_operator::catalog::Catalog;
    use notebook_validator_operator::config::EnabledStrategies;
    let catalog = Catalog::linked(EnabledStrategies::resolve(None, None, &[]).expect("config"))
        .expect("registry");
    support::docs::check_generated_section(
        "docs/community/build-strategies/README.md",
        "auto-order",
        "operator/tests/generated.rs",
        &notebook_validator_operator::docs::auto_order(&catalog),
    );
}

/// Each strategy page documents its `strategyConfig` from the strategy's config struct.
#[cfg(feature = "community")]
#[test]
fn the_strategy_config_docs_are_fresh() {
    use notebook_validator_operator::catalog::Catalog;
    use notebook_validator_operator::config::EnabledStrategies;
    let catalog = Catalog::linked(EnabledStrategies::resolve(None, None, &[]).expect("config"))
        .expect("registry");
    for strategy in catalog.registry().iter() {
        let name = strategy.info().name;
        let schema = strategy
            .config_schema()
            .unwrap_or_else(|| panic!("{name} declares no config schema"));
        support::docs::check_generated_section(
            &format!("docs/community/build-strategies/{name}.md"),
            "strategy-config",
            "operator/tests/generated.rs",
            &notebook_validator_operator::docs::config_table(&schema),
        );
    }
}
