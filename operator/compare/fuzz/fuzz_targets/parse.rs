//! The notebook parser must return a value or a typed error for any input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = nbv_compare::notebook::parse(data);
});
