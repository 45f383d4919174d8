//! The fuzz targets on stable Rust, bounded: the checked-in corpus (`fuzz/corpus/<target>`),
//! then mutations of it and arbitrary bytes, through the entry points the cargo-fuzz targets
//! call (`nbv_compare::fuzz`). Each input must give a value or a typed error, never a panic.
//! `cargo +nightly fuzz run <target>` (fuzz/README.md) explores further.

use std::path::Path;

use nbv_compare::fuzz;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

/// The seed inputs of one target.
fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut inputs: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| std::fs::read(entry.expect("entry").path()).expect("seed"))
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "{} has no seeds", dir.display());
    inputs
}

/// A seed with up to 16 byte edits (overwrite, insert, delete) at random places: inputs that
/// stay close to valid JSON, where random bytes would stop at the first character.
fn mutated(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let count = seeds.len();
    (0..count, vec((any::<Index>(), any::<u8>(), 0..3_u8), 0..16)).prop_map(move |(seed, edits)| {
        let mut data = seeds[seed].clone();
        for (at, byte, kind) in edits {
            if data.is_empty() {
                data.push(byte);
                continue;
            }
            let place = at.index(data.len());
            match kind {
                0 => data[place] = byte,
                1 => data.insert(place, byte),
                _ => {
                    data.remove(place);
                }
            }
        }
        data
    })
}

/// A target's entry point.
type Target = fn(&[u8]);

const TARGETS: [(&str, Target); 3] = [
    ("parse", fuzz::parse),
    ("compare", fuzz::compare),
    ("termination", fuzz::termination_message),
];

#[test]
fn every_seed_of_every_target_runs() {
    for (target, run) in TARGETS {
        for seed in corpus(target) {
            run(&seed);
        }
    }
}

proptest! {
    // Bounded by cases, not time: the same inputs on every machine (failures are not persisted
    // to files; proptest prints the minimal failing input).
    #![proptest_config(ProptestConfig {
        cases: 400,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_parser_survives_mutated_notebooks(data in mutated(corpus("parse"))) {
        fuzz::parse(&data);
    }

    #[test]
    fn the_parser_survives_arbitrary_bytes(data in vec(any::<u8>(), 0..2048)) {
        fuzz::parse(&data);
    }

    #[test]
    fn the_comparator_survives_mutated_notebook_pairs(data in mutated(corpus("compare"))) {
        fuzz::compare(&data);
    }

    #[test]
    fn the_termination_message_parser_survives_mutated_summaries(
        data in mutated(corpus("termination"))
    ) {
        fuzz::termination_message(&data);
    }
}
