//! The fuzz targets' entry points, shared by the cargo-fuzz targets (`fuzz/`, nightly) and the
//! bounded stable run in `tests/fuzz.rs`, so both exercise exactly the same code. Each must
//! return whatever the input; a panic is the bug they look for.

use nbv_report::Strategy;

use crate::{Comparator, CompareConfig, notebook};

/// Arbitrary bytes into the notebook parser.
pub fn parse(data: &[u8]) {
    let _ = notebook::parse(data);
}

/// Two notebooks separated by a NUL byte, compared in normalized and exact mode.
pub fn compare(data: &[u8]) {
    let mut parts = data.splitn(2, |b| *b == 0);
    let (Some(golden), Some(actual)) = (parts.next(), parts.next()) else {
        return;
    };
    let (Ok(golden), Ok(actual)) = (notebook::parse(golden), notebook::parse(actual)) else {
        return;
    };
    for strategy in [Strategy::Normalized, Strategy::Exact] {
        let config = CompareConfig {
            strategy,
            ..CompareConfig::default()
        };
        if let Ok(comparator) = Comparator::new(config) {
            let _ = comparator.compare(&golden, &actual);
        }
    }
}

/// A runner's termination message (a summary, JSON) into the operator's parser.
pub fn termination_message(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = nbv_report::Summary::from_json(text);
    }
}
