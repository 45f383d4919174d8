//! The distribution's operator: the operator's own command line, with one more strategy linked.

// Linking the crate is all it takes: it registers itself.
use buildstrategy_podman as _;

fn main() -> std::process::ExitCode {
    notebook_validator_operator::cli::main()
}
