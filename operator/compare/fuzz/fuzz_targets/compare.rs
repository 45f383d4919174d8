//! Two notebooks separated by a NUL byte are compared in both modes; the
//! comparator must not panic whatever the outputs hold.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| nbv_compare::fuzz::compare(data));
