//! Checking git sources and cloning them in a pod without ever passing user strings through a
//! shell.
//!
//! The clone script is a constant; the URL, ref and directory reach it as environment variables
//! that it always quotes, and git receives them after `--` so none can be read as an option.

use std::collections::BTreeMap;

use crate::{GitSource, StrategyError};

/// Where a clone container mounts clone credentials (from the job's secret, as files).
pub const CREDENTIALS_MOUNT: &str = "/var/run/nbv/git-credentials";

/// File mode of the mounted credentials. Secret files belong to root unless the pod sets an
/// `fsGroup`, which the operator cannot choose for an arbitrary namespace, and clone containers
/// run as non-root: owner-only modes make the files unreadable to them. Only the clone
/// container mounts them, so other containers of the pod never see them either way (ssh
/// accepts a key that the current user does not own whatever its mode).
pub const CREDENTIALS_MODE: i32 = 0o444;

/// The shell script a clone container runs. It reads `NBV_GIT_URL`, `NBV_GIT_REF` (may be empty),
/// `NBV_SOURCE_DIR` and, when credentials are mounted, the files `username`/`password` or
/// `ssh-privatekey` under [`CREDENTIALS_MOUNT`]. Any ref works: branch, tag or commit SHA.
pub const CLONE_SCRIPT: &str = r#"set -eu
creds=/var/run/nbv/git-credentials
export HOME="${HOME:-/tmp}"
if [ -f "$creds/password" ]; then
  askpass="$(mktemp)"
  printf '%s\n' '#!/bin/sh' 'case "$1" in Username*) cat /var/run/nbv/git-credentials/username ;; *) cat /var/run/nbv/git-credentials/password ;; esac' > "$askpass"
  chmod 0700 "$askpass"
  export GIT_ASKPASS="$askpass" GIT_TERMINAL_PROMPT=0
fi
if [ -f "$creds/ssh-privatekey" ]; then
  export GIT_SSH_COMMAND="ssh -i $creds/ssh-privatekey -o IdentitiesOnly=yes -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile=$HOME/.nbv_known_hosts"
fi
# The directory is the pod's own volume, made by the kubelet as root: git must trust it, though
# this user does not own it (only command-line scope counts for safe.directory).
export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=safe.directory GIT_CONFIG_VALUE_0="$NBV_SOURCE_DIR"
git init -q -- "$NBV_SOURCE_DIR"
cd "$NBV_SOURCE_DIR"
git remote add origin -- "$NBV_GIT_URL"
# A busy server may drop a fetch: each is tried three times.
fetch() {
  for delay in 1 2 0; do
    if git fetch -q "$@"; then return 0; fi
    [ "$delay" = 0 ] || sleep "$delay"
  done
  return 1
}
if [ -z "${NBV_GIT_REF:-}" ]; then
  fetch --depth 1 -- origin HEAD
  git checkout -q --detach FETCH_HEAD
elif fetch --depth 1 -- origin "$NBV_GIT_REF" 2>/dev/null; then
  git checkout -q --detach FETCH_HEAD
else
  # Servers that refuse to send an unadvertised commit: fetch the branches and tags, then
  # resolve the ref locally (a commit SHA, a tag, or a branch as origin's).
  fetch --tags -- origin '+refs/heads/*:refs/remotes/origin/*'
  commit="$(git rev-parse -q --verify --end-of-options "$NBV_GIT_REF^{commit}" \
    || git rev-parse --verify --end-of-options "refs/remotes/origin/$NBV_GIT_REF^{commit}")"
  git checkout -q --detach "$commit"
fi
git log -1 --format='cloned %H'
"#;

/// The environment a clone container gets for `source`, cloning into `dir`.
pub fn clone_env(source: &GitSource, dir: &str) -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("NBV_GIT_URL", source.url.clone()),
        ("NBV_GIT_REF", source.git_ref.clone().unwrap_or_default()),
        ("NBV_SOURCE_DIR", dir.to_owned()),
    ])
}

/// Checks a git source: URL scheme, ref syntax, context directory. The error names the field.
pub fn validate_source(strategy: &str, source: &GitSource) -> Result<(), StrategyError> {
    validate_url(&source.url)
        .map_err(|reason| StrategyError::invalid_config(strategy, "notebook.git.url", reason))?;
    if let Some(git_ref) = &source.git_ref {
        validate_ref(git_ref).map_err(|reason| {
            StrategyError::invalid_config(strategy, "notebook.git.ref", reason)
        })?;
    }
    if let Some(dir) = &source.context_dir {
        validate_relative_path(dir)
            .map_err(|reason| StrategyError::invalid_config(strategy, "contextDir", reason))?;
    }
    Ok(())
}

/// Accepts `https://`, `http://`, `ssh://`, `git://` and scp-like `user@host:path` URLs without
/// credentials (they belong in the credentials Secret, never in a URL that lands in objects,
/// logs and environments) and whose host cannot act as an option (`-oProxyCommand=...`).
/// Messages never repeat a URL that carries credentials.
pub fn validate_url(url: &str) -> Result<(), String> {
    if url.is_empty() {
        return Err("the git URL is empty".into());
    }
    if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("the git URL contains whitespace or control characters".into());
    }
    if url.starts_with('-') {
        return Err("the git URL must not start with '-'".into());
    }
    let credentials = || {
        Err(
            "the git URL carries credentials (user:password@ or a token before '@'); \
             remove them and put them in the credentials Secret (notebook.git.credentialsSecret: \
             keys username and password, or ssh-privatekey)"
                .to_owned(),
        )
    };
    let option_host =
        || Err("the git URL's host starts with '-'; git would read it as an option".to_owned());
    if let Some((scheme, rest)) = ["https", "http", "ssh", "git"]
        .iter()
        .find_map(|scheme| {
            url.strip_prefix(&format!("{scheme}://"))
                .map(|rest| (*scheme, rest))
        })
        .filter(|(_, rest)| !rest.is_empty())
    {
        let authority = rest.split('/').next().unwrap_or_default();
        let (user, host) = match authority.rsplit_once('@') {
            Some((user, host)) => (Some(user), host),
            None => (None, authority),
        };
        // Over ssh the user names the account (git@); elsewhere anything before '@' is a secret.
        if user.is_some_and(|u| scheme != "ssh" || u.contains(':')) {
            return credentials();
        }
        if host.starts_with('-') {
            return option_host();
        }
        if host.is_empty() {
            return Err("the git URL has no host".into());
        }
        return Ok(());
    }
    let scp_like = url
        .split_once('@')
        .and_then(|(user, rest)| rest.split_once(':').map(|(host, path)| (user, host, path)))
        .filter(|(user, host, path)| {
            !user.is_empty() && !host.is_empty() && !path.is_empty() && !host.contains('/')
        });
    match scp_like {
        Some((user, _, _)) if user.contains(':') => credentials(),
        Some((_, host, _)) if host.starts_with('-') => option_host(),
        Some(_) => Ok(()),
        None => {
            // What stands before an '@' may be a secret: such a URL is not repeated.
            let named = if url.contains('@') {
                "the git URL".to_owned()
            } else {
                format!("'{url}'")
            };
            Err(format!(
                "{named} is not a supported git URL; use https://host/org/repo.git, ssh://git@host/org/repo.git, git://host/repo.git or git@host:org/repo.git"
            ))
        }
    }
}

/// Accepts branch and tag names that `git check-ref-format` would, and commit SHAs.
pub fn validate_ref(git_ref: &str) -> Result<(), String> {
    let bad = |why: &str| {
        Err(format!(
            "'{}' is not a valid git ref: {why}",
            git_ref.escape_debug()
        ))
    };
    if git_ref.is_empty() {
        return bad("it is empty");
    }
    if git_ref.len() > 255 {
        return bad("it is longer than 255 characters");
    }
    if git_ref.starts_with('-') {
        return bad("it must not start with '-'");
    }
    if let Some(c) = git_ref
        .chars()
        .find(|c| c.is_control() || c.is_whitespace() || "~^:?*[\\$`;|&<>(){}'\"".contains(*c))
    {
        return bad(&format!("it contains '{}'", c.escape_debug()));
    }
    if git_ref.contains("..") || git_ref.contains("@{") || git_ref.contains("//") {
        return bad("it contains '..', '@{' or '//'");
    }
    if git_ref.ends_with('/')
        || git_ref.ends_with('.')
        || git_ref.ends_with(".lock")
        || git_ref.starts_with('/')
    {
        return bad("it starts or ends with '/', or ends with '.' or '.lock'");
    }
    Ok(())
}

/// Accepts a relative path inside the repository: no `..`, not absolute, no control characters.
pub fn validate_relative_path(path: &str) -> Result<(), String> {
    if path.starts_with('/') {
        return Err(format!("'{path}' must be relative to the repository root"));
    }
    if path.chars().any(char::is_control) {
        return Err("the path contains control characters".into());
    }
    if path.split('/').any(|part| part == "..") {
        return Err(format!("'{path}' must not leave the repository ('..')"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_refs_are_rejected() {
        for hostile in [
            "--upload-pack=touch /tmp/x",
            "; rm -rf /",
            "$(id)",
            "`id`",
            "main\nid",
            "a..b",
            "-b",
        ] {
            assert!(validate_ref(hostile).is_err(), "{hostile:?} was accepted");
        }
        for fine in [
            "main",
            "release/1.2",
            "v1.0.0",
            "3f2a9c1d0b7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a",
        ] {
            assert!(validate_ref(fine).is_ok(), "{fine:?} was rejected");
        }
    }

    #[test]
    fn urls_follow_the_documented_schemes() {
        for fine in [
            "https://github.com/org/repo.git",
            "git@github.com:org/repo.git",
            "ssh://git@host/r.git",
            "git://host/r",
        ] {
            assert!(validate_url(fine).is_ok(), "{fine}");
        }
        for bad in [
            "",
            "file:///etc",
            "--upload-pack=x",
            "https://host/r.git\nx",
            "ftp://h/r",
            "https://",
        ] {
            assert!(validate_url(bad).is_err(), "{bad:?}");
        }
        assert!(validate_url("ssh://git@host:22/r.git").is_ok());
        assert!(validate_url("https://host:8443/r.git").is_ok());
    }

    #[test]
    fn urls_carrying_credentials_are_refused_without_repeating_them() {
        for secret_url in [
            "https://user:s3cret@host/org/repo.git",
            "https://s3cret@host/org/repo.git",
            "http://user:s3cret@host/r.git",
            "git://user:s3cret@host/r.git",
            "ssh://git:s3cret@host/r.git",
            "git:s3cret@host:org/repo.git",
        ] {
            let message = validate_url(secret_url).expect_err(secret_url);
            assert!(!message.contains("s3cret"), "{secret_url}: {message}");
            assert!(message.contains("credentials"), "{secret_url}: {message}");
        }
        let unsupported = validate_url("user:s3cret@host/r.git").expect_err("no scheme");
        assert!(!unsupported.contains("s3cret"), "{unsupported}");
    }

    #[test]
    fn hosts_that_read_as_options_are_refused() {
        for hostile in [
            "ssh://-oProxyCommand=touch${IFS}x/r.git",
            "ssh://git@-oProxyCommand=x/r.git",
            "https://-x/r.git",
            "git@-oProxyCommand=x:r.git",
        ] {
            let message = validate_url(hostile).expect_err(hostile);
            assert!(message.contains("starts with '-'"), "{hostile}: {message}");
        }
    }

    #[test]
    fn the_clone_script_takes_no_user_input() {
        assert!(CLONE_SCRIPT.contains("\"$NBV_GIT_URL\""));
        assert!(CLONE_SCRIPT.contains("-- origin \"$NBV_GIT_REF\""));
        assert!(CLONE_SCRIPT.contains("--end-of-options \"$NBV_GIT_REF^{commit}\""));
        assert!(validate_relative_path("../etc").is_err());
        assert!(validate_relative_path("notebooks/a").is_ok());
    }
}

#[cfg(test)]
mod clone_script {
    //! The clone script, run for real with git against a local repository.

    use std::path::Path;
    use std::process::Command;

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .current_dir(dir)
            .args(args)
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// `<root>/repo`: branch `main`, one commit of `nb.ipynb` holding "one".
    fn repo_with_one_commit(root: &Path) -> std::path::PathBuf {
        let repo = root.join("repo");
        std::fs::create_dir_all(&repo).expect("dir");
        git(&repo, &["init", "-q", "-b", "main"]);
        git(&repo, &["config", "user.email", "t@example.com"]);
        git(&repo, &["config", "user.name", "t"]);
        std::fs::write(repo.join("nb.ipynb"), "one").expect("write");
        git(&repo, &["add", "."]);
        git(&repo, &["commit", "-qm", "one"]);
        repo
    }

    fn clone(url: &str, git_ref: &str, dest: &Path) -> std::process::Output {
        Command::new("/bin/sh")
            .args(["-c", super::CLONE_SCRIPT])
            .env("NBV_GIT_URL", url)
            .env("NBV_GIT_REF", git_ref)
            .env("NBV_SOURCE_DIR", dest)
            .env("HOME", dest.parent().expect("parent"))
            .output()
            .expect("sh runs")
    }

    /// Runs the clone script with a `git` that fails `git fetch --depth` the first `failures`
    /// times (a busy server, or one that refuses shallow fetches).
    fn clone_with_flaky_fetch(
        url: &str,
        git_ref: &str,
        dest: &Path,
        failures: u32,
    ) -> std::process::Output {
        let shim = dest.with_extension("shim");
        std::fs::create_dir_all(&shim).expect("dir");
        let real = String::from_utf8(
            Command::new("sh")
                .args(["-c", "command -v git"])
                .output()
                .expect("sh")
                .stdout,
        )
        .expect("utf-8");
        let script = format!(
            "#!/bin/sh\ncase \"$*\" in *--depth*)\n  n=$(cat \"{count}\" 2>/dev/null || echo 0)\n  if [ \"$n\" -lt {failures} ]; then echo $((n + 1)) > \"{count}\"; echo 'fatal: the remote end hung up' >&2; exit 128; fi;;\nesac\nexec {real} \"$@\"\n",
            count = shim.join("count").display(),
            real = real.trim(),
        );
        let git = shim.join("git");
        std::fs::write(&git, script).expect("shim");
        Command::new("chmod")
            .args(["+x"])
            .arg(&git)
            .status()
            .expect("chmod");
        let path = format!(
            "{}:{}",
            shim.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Command::new("/bin/sh")
            .args(["-c", super::CLONE_SCRIPT])
            .env("PATH", path)
            .env("NBV_GIT_URL", url)
            .env("NBV_GIT_REF", git_ref)
            .env("NBV_SOURCE_DIR", dest)
            .env("HOME", dest.parent().expect("parent"))
            .output()
            .expect("sh runs")
    }

    #[test]
    fn a_dropped_fetch_is_retried_and_a_branch_resolves_without_shallow_fetches() {
        let root = std::env::temp_dir().join(format!("nbv-clone-flaky-{}", std::process::id()));
        let repo = repo_with_one_commit(&root);
        git(&repo, &["branch", "feature"]);
        let head = git(&repo, &["rev-parse", "HEAD"]);
        let url = format!("file://{}", repo.display());
        // Once: the retry fetches.
        let dest = root.join("retried");
        let out = clone_with_flaky_fetch(&url, "main", &dest, 1);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(git(&dest, &["rev-parse", "HEAD"]), head);
        // Always: the branch is resolved from the fetched branches.
        let dest = root.join("fallback");
        let out = clone_with_flaky_fetch(&url, "feature", &dest, 100);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(git(&dest, &["rev-parse", "HEAD"]), head);
        std::fs::remove_dir_all(&root).ok();
    }

    #[test]
    fn any_ref_checks_out_and_hostile_refs_run_nothing() {
        let root = std::env::temp_dir().join(format!("nbv-clone-test-{}", std::process::id()));
        let repo = repo_with_one_commit(&root);
        let first = git(&repo, &["rev-parse", "HEAD"]);
        git(&repo, &["tag", "v1"]);
        std::fs::write(repo.join("nb.ipynb"), "two").expect("write");
        git(&repo, &["commit", "-qam", "two"]);
        git(&repo, &["branch", "feature"]);
        let url = format!("file://{}", repo.display());
        for (git_ref, expected) in [
            ("main", "two"),
            ("v1", "one"),
            ("feature", "two"),
            (first.as_str(), "one"),
            ("", "two"),
        ] {
            let dest = root.join(format!(
                "clone-{}",
                if git_ref.is_empty() {
                    "default"
                } else {
                    git_ref
                }
            ));
            let out = clone(&url, git_ref, &dest);
            assert!(
                out.status.success(),
                "ref {git_ref:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(
                std::fs::read_to_string(dest.join("nb.ipynb")).expect("cloned"),
                expected,
                "ref {git_ref:?}"
            );
        }
        let marker = root.join("pwned");
        for hostile in [
            format!("--upload-pack=touch {}", marker.display()),
            format!("$(touch {})", marker.display()),
            format!("main; touch {}", marker.display()),
        ] {
            let out = clone(&url, &hostile, &root.join("hostile"));
            assert!(
                !out.status.success(),
                "{hostile:?} must not check anything out"
            );
            assert!(!marker.exists(), "{hostile:?} ran a command");
            let _ = std::fs::remove_dir_all(root.join("hostile"));
        }
        std::fs::remove_dir_all(&root).expect("cleanup");
    }

    /// A pod's volume belongs to root while the clone runs as another user: git's ownership
    /// check must not refuse it. Here the owners are swapped (the directory belongs to another
    /// user than the one cloning), which git judges the same way.
    #[test]
    fn clones_into_a_directory_another_user_owns() {
        use std::os::unix::fs::MetadataExt as _;
        let root = std::env::temp_dir().join(format!("nbv-clone-owner-{}", std::process::id()));
        let repo = repo_with_one_commit(&root);
        let dest = root.join("volume");
        std::fs::create_dir_all(&dest).expect("dir");
        let mine = std::fs::metadata(&root).expect("metadata").uid();
        let other = if mine == 0 { 65534 } else { 0 };
        let chown = Command::new("chown")
            .arg(other.to_string())
            .arg(&dest)
            .status()
            .expect("chown runs");
        assert!(
            chown.success(),
            "chown {other} {}: the test runs as root (as CI does)",
            dest.display()
        );
        std::fs::set_permissions(&dest, std::os::unix::fs::PermissionsExt::from_mode(0o777))
            .expect("chmod");
        let out = clone(&format!("file://{}", repo.display()), "main", &dest);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            std::fs::read_to_string(dest.join("nb.ipynb")).expect("cloned"),
            "one"
        );
        std::fs::remove_dir_all(&root).expect("cleanup");
    }
}
