//! The strategies compiled in by Cargo features, and the errors for the others.

use notebook_validator_operator::catalog::{Catalog, SelectionError};
use notebook_validator_operator::config::EnabledStrategies;
use notebook_validator_operator::reason::Reason;
use notebook_validator_operator::registration::IN_TREE;

fn feature_enabled(feature: &str) -> bool {
    match feature {
        "s2i" => cfg!(feature = "s2i"),
        "tekton" => cfg!(feature = "tekton"),
        "kaniko" => cfg!(feature = "kaniko"),
        "shipwright" => cfg!(feature = "shipwright"),
        "buildah" => cfg!(feature = "buildah"),
        "buildkit" => cfg!(feature = "buildkit"),
        other => panic!("unknown feature {other}"),
    }
}

fn catalog(enabled: &[&str]) -> Catalog {
    let enabled: Vec<String> = enabled.iter().map(|s| (*s).to_owned()).collect();
    Catalog::linked(EnabledStrategies::resolve(None, None, &enabled).expect("config"))
        .expect("registry")
}

#[test]
fn each_cargo_feature_registers_exactly_its_strategy() {
    let names = catalog(&[]).registry().names();
    for (name, feature) in IN_TREE {
        assert_eq!(
            names.contains(&name),
            feature_enabled(feature),
            "strategy '{name}' vs Cargo feature '{feature}' (linked: {names:?})"
        );
    }
}

#[test]
fn a_strategy_that_is_not_compiled_in_names_its_cargo_feature() {
    let Some((name, feature)) = IN_TREE.into_iter().find(|(_, f)| !feature_enabled(f)) else {
        // Every in-tree strategy is compiled in: an unknown name gets the same error kind.
        let err = catalog(&[])
            .select("no-such-strategy")
            .expect_err("refused");
        assert!(matches!(err, SelectionError::NotCompiled { .. }));
        assert!(
            err.to_string()
                .contains("unknown build strategy 'no-such-strategy'"),
            "{err}"
        );
        return;
    };
    let err = catalog(&[name]).select(name).expect_err("refused");
    assert_eq!(err.reason(), Reason::StrategyNotCompiled);
    let message = err.to_string();
    assert!(
        message.contains(&format!("Cargo feature '{feature}'")) && message.contains("compiled: "),
        "{message}"
    );
}

#[test]
fn a_compiled_strategy_that_is_disabled_says_how_to_enable_it() {
    let Some((name, _)) = IN_TREE
        .into_iter()
        .find(|(n, f)| *n != "s2i" && feature_enabled(f))
    else {
        // Only the core strategy is compiled in, and it cannot be disabled.
        assert!(catalog(&[]).select("s2i").is_ok(), "s2i is always enabled");
        return;
    };
    let err = catalog(&[]).select(name).expect_err("disabled");
    assert_eq!(err.reason(), Reason::StrategyDisabled);
    assert!(
        err.to_string()
            .contains(&format!("add '{name}' to enabledBuildStrategies")),
        "{err}"
    );
    assert!(catalog(&[name]).select(name).is_ok(), "enabling it works");
}
