//! The notebook parser must return a value or a typed error for any input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| nbv_compare::fuzz::parse(data));
