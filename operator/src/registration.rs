//! Links the strategy crates chosen by Cargo features into the operator.
//!
//! A crate nothing refers to is not linked, and its `register_strategy!` would never run, so each
//! enabled strategy crate is named here once. The build script writes those names from the
//! features in `Cargo.toml` (`<name> = ["dep:buildstrategy-<name>"]`), so adding a strategy
//! touches no Rust file of the operator.

include!(concat!(env!("OUT_DIR"), "/registration.rs"));

/// The Cargo feature that compiles in the in-tree strategy `name`, if it is one.
pub fn cargo_feature(name: &str) -> Option<&'static str> {
    IN_TREE.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}
