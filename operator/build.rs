//! Links every strategy crate selected by a Cargo feature, and lists the strategies this
//! repository ships, both from `Cargo.toml`: a feature `<name> = ["dep:buildstrategy-<name>"]` is
//! all it takes to add a strategy, with no Rust file to edit.

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=Cargo.toml");
    let manifest_dir = PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    );
    let manifest =
        std::fs::read_to_string(manifest_dir.join("Cargo.toml")).expect("Cargo.toml is readable");
    let manifest: toml::Table = manifest.parse().expect("Cargo.toml parses");
    let features = manifest
        .get("features")
        .and_then(toml::Value::as_table)
        .cloned()
        .unwrap_or_default();

    let mut strategies: Vec<(String, String)> = Vec::new();
    for (feature, enables) in &features {
        for item in enables
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(toml::Value::as_str)
        {
            if let Some(name) = item.strip_prefix("dep:buildstrategy-") {
                strategies.push((name.to_owned(), feature.clone()));
            }
        }
    }
    // The core strategy first, then by name: the order of `nbv-operator strategies --all`.
    strategies.sort_by_key(|(name, _)| (name != "s2i", name.clone()));

    let mut out = String::new();
    for (name, feature) in &strategies {
        let env = format!("CARGO_FEATURE_{}", feature.to_uppercase().replace('-', "_"));
        if std::env::var_os(env).is_some() {
            writeln!(out, "use buildstrategy_{} as _;", name.replace('-', "_"))
                .expect("string write");
        }
    }
    writeln!(
        out,
        "\n/// The strategies this repository ships, with the Cargo feature that compiles each in."
    )
    .expect("string write");
    writeln!(
        out,
        "pub const IN_TREE: [(&str, &str); {}] = [",
        strategies.len()
    )
    .expect("string write");
    for (name, feature) in &strategies {
        writeln!(out, "    ({name:?}, {feature:?}),").expect("string write");
    }
    writeln!(out, "];").expect("string write");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out_dir.join("registration.rs"), out).expect("OUT_DIR is writable");
}
