//! Where the runner keeps its files, and an environment that works for any UID.
//!
//! On OpenShift the container runs as an arbitrary UID whose HOME is often `/`
//! and read-only; pip, IPython, Jupyter and matplotlib all write below HOME, so
//! they are pointed at a writable directory instead.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::error::{RunError, infra};

/// Cache for the virtualenv and installed requirements: `NBV_CACHE_DIR`, else
/// the user's cache directory, else `fallback`.
pub(crate) fn cache_dir(fallback: &Path) -> PathBuf {
    if let Some(dir) = std::env::var_os("NBV_CACHE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let xdg = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from);
    let home = std::env::var_os("HOME")
        .filter(|d| !d.is_empty())
        .map(|h| PathBuf::from(h).join(".cache"));
    xdg.or(home)
        .filter(|d| is_writable(d))
        .map_or_else(|| fallback.to_path_buf(), |d| d.join("nbv"))
}

pub(crate) fn create_dir(dir: &Path) -> Result<(), RunError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| infra(format!("cannot create directory {}: {e}", dir.display())))
}

/// Whether files can be created in `dir` (created if missing).
pub(crate) fn is_writable(dir: &Path) -> bool {
    if std::fs::create_dir_all(dir).is_err() {
        return false;
    }
    let probe = dir.join(format!(".nbv-probe-{}", std::process::id()));
    let ok = std::fs::write(&probe, b"").is_ok();
    let _ = std::fs::remove_file(&probe);
    ok
}

/// Variables that redirect per-user state below `work_dir` when HOME is unusable.
pub(crate) fn writable_home_env(work_dir: &Path) -> Result<Vec<(OsString, OsString)>, RunError> {
    let home_ok =
        std::env::var_os("HOME").is_some_and(|h| !h.is_empty() && is_writable(Path::new(&h)));
    if home_ok {
        return Ok(Vec::new());
    }
    let home = work_dir.join("home");
    create_dir(&home)?;
    let under = |name: &str| home.join(name).into_os_string();
    Ok(vec![
        ("HOME".into(), home.clone().into_os_string()),
        ("XDG_CACHE_HOME".into(), under(".cache")),
        ("PIP_CACHE_DIR".into(), under(".cache/pip")),
        ("IPYTHONDIR".into(), under(".ipython")),
        (
            "JUPYTER_RUNTIME_DIR".into(),
            under(".local/share/jupyter/runtime"),
        ),
        ("MPLCONFIGDIR".into(), under(".config/matplotlib")),
    ])
}

/// Writes `content` to `path`, creating its directory first (a report may go to a fresh
/// directory of a volume).
pub(crate) fn write_file(path: &Path, content: impl AsRef<[u8]>) -> std::io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, content)
}
