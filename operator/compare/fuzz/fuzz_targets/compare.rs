//! Two notebooks separated by a NUL byte are compared in both modes; the
//! comparator must not panic whatever the outputs hold.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nbv_compare::{Comparator, CompareConfig, notebook};
use nbv_report::Strategy;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(2, |b| *b == 0);
    let (Some(golden), Some(actual)) = (parts.next(), parts.next()) else {
        return;
    };
    let (Ok(golden), Ok(actual)) = (notebook::parse(golden), notebook::parse(actual)) else {
        return;
    };
    for strategy in [Strategy::Normalized, Strategy::Exact] {
        let config = CompareConfig { strategy, ..CompareConfig::default() };
        if let Ok(comparator) = Comparator::new(config) {
            let _ = comparator.compare(&golden, &actual);
        }
    }
});
