//! `nbv-operator`: the command line of the notebook validator operator.

fn main() -> std::process::ExitCode {
    notebook_validator_operator::cli::main()
}
