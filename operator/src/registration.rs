//! The one place that links the strategy crates chosen by Cargo features into the operator.
//!
//! A crate nothing refers to is not linked, and its `register_strategy!` would never run: each
//! enabled crate is named here once.

#[cfg(feature = "buildah")]
use buildstrategy_buildah as _;
#[cfg(feature = "buildkit")]
use buildstrategy_buildkit as _;
#[cfg(feature = "kaniko")]
use buildstrategy_kaniko as _;
#[cfg(feature = "s2i")]
use buildstrategy_s2i as _;
#[cfg(feature = "shipwright")]
use buildstrategy_shipwright as _;
#[cfg(feature = "tekton")]
use buildstrategy_tekton as _;

/// The strategies this repository ships, with the Cargo feature that compiles each in.
pub const IN_TREE: [(&str, &str); 6] = [
    ("s2i", "s2i"),
    ("tekton", "tekton"),
    ("kaniko", "kaniko"),
    ("shipwright", "shipwright"),
    ("buildah", "buildah"),
    ("buildkit", "buildkit"),
];

/// The Cargo feature that compiles in the in-tree strategy `name`, if it is one.
pub fn cargo_feature(name: &str) -> Option<&'static str> {
    IN_TREE.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}
