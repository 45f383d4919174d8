//! The operator's parser of the runner's termination message must return a summary or a typed
//! error for any input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| nbv_compare::fuzz::termination_message(data));
