//! Python tools the runner is checked against, and public files that come with them: a
//! virtualenv and unpacked source distributions, downloaded from the package index once and
//! kept in the cargo target directory.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The environment: the runner's needs, nbval to compare with, xmlschema to check JUnit XML.
/// The source distributions hold public notebooks and the JUnit schema pytest tests against.
const TOOLS: [&str; 5] = [
    "nbclient==0.11.0",
    "ipykernel==7.4.0",
    "pytest==9.2.0",
    "nbval==0.11.0",
    "xmlschema==4.3.2",
];
const SOURCES: [&str; 3] = ["nbval-0.11.0", "nbclient-0.11.0", "pytest-9.2.0"];
/// Names the cache; change it with the lists above.
const KEY: &str = "python-tools-1";

pub(crate) struct Setup {
    pub(crate) python: PathBuf,
    /// Where the source distributions are unpacked, one directory each.
    pub(crate) sources: PathBuf,
}

fn run(command: &mut Command, what: &str) {
    let out = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The virtualenv and the unpacked source distributions, made once and reused.
pub(crate) fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(KEY);
        let setup = Setup {
            python: dir.join("venv/bin/python"),
            sources: dir.join("src"),
        };
        let ready = dir.join(".ready");
        if ready.exists() {
            return setup;
        }
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&setup.sources).expect("cache directory");
        run(
            Command::new("python3")
                .args(["-m", "venv"])
                .arg(dir.join("venv")),
            "python3 -m venv",
        );
        let pip = || {
            let mut pip = Command::new(&setup.python);
            pip.args(["-m", "pip", "--disable-pip-version-check", "--no-input"]);
            pip
        };
        run(
            pip().args(["install", "--quiet"]).args(TOOLS),
            "pip install",
        );
        let archives = dir.join("archives");
        run(
            pip()
                .args([
                    "download",
                    "--quiet",
                    "--no-deps",
                    "--no-binary",
                    ":all:",
                    "--dest",
                ])
                .arg(&archives)
                .args(SOURCES.map(|s| s.replacen('-', "==", 1))),
            "pip download",
        );
        for source in SOURCES {
            run(
                Command::new("tar")
                    .arg("-xzf")
                    .arg(archives.join(format!("{source}.tar.gz")))
                    .arg("-C")
                    .arg(&setup.sources),
                "tar",
            );
        }
        std::fs::write(&ready, "").expect("marker");
        setup
    })
}
