//! Git repositories and files served to the node's pods from the node itself (`nbv-node-serve`
//! on the gateway address): pods reach nothing outside the machine.

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Error;
use crate::process::{Lifetime, Spawn, Supervised};

use super::GATEWAY;

/// User name for the repositories under `private/`.
pub const GIT_USER: &str = "nbv-test";

/// A running `nbv-node-serve` with its own directories.
#[derive(Debug)]
pub struct NodeServer {
    base_url: String,
    root: PathBuf,
    password: String,
    /// None once detached.
    process: Option<Supervised>,
}

/// A repository published on a [`NodeServer`].
#[derive(Debug, Clone)]
pub struct Repo {
    /// Its clone URL.
    pub url: String,
    /// The commit `main` (and tag `v1`) points to.
    pub commit: String,
}

impl NodeServer {
    /// Starts a server on the gateway address, with a fresh git root and files directory below
    /// `dir`. It stops when dropped, or when this process ends (with [`Lifetime::Owned`]), and
    /// then removes `dir`.
    pub fn start(dir: &Path, lifetime: Lifetime) -> Result<Self, Error> {
        let binaries = crate::Binaries::locate()?;
        let program = binaries.dir.join("nbv-node-serve");
        let root = dir.to_path_buf();
        for sub in ["git/private", "files", "run"] {
            let d = root.join(sub);
            std::fs::create_dir_all(&d).map_err(|e| Error::io(&d, e))?;
        }
        // Not a secret worth protecting: a throw-away repository on a throw-away node.
        let password = format!(
            "pw-{}",
            root.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        );
        let password_file = root.join("password");
        crate::write_file(&password_file, password.as_bytes())?;
        let port = TcpListener::bind((
            GATEWAY
                .parse::<Ipv4Addr>()
                .map_err(|e| Error::Invalid(e.to_string()))?,
            0,
        ))
        .and_then(|l| l.local_addr())
        .map_err(|e| Error::io(GATEWAY, e))?
        .port();
        let listen = format!("{GATEWAY}:{port}");
        let arg = |flag: &str, path: &Path| {
            let mut s = std::ffi::OsString::from(flag);
            s.push(path);
            s
        };
        // HTTPS with a certificate of the node's CA, which the node's images trust.
        let tls = super::NodeCa::load_or_create()?.serving_pair(&root)?;
        let args = vec![
            format!("--listen={listen}").into(),
            arg("--tls-cert=", &tls.cert),
            arg("--tls-key=", &tls.key),
            arg("--git-root=", &root.join("git")),
            arg("--files-root=", &root.join("files")),
            format!("--user={GIT_USER}").into(),
            arg("--password-file=", &password_file),
        ];
        let process = Spawn {
            name: "nbv-node-serve",
            env: Vec::new(),
            supervisor: &binaries.supervisor,
            program: &program,
            args,
            run_dir: &root.join("run"),
            cleanup: Some(&root),
            after: Vec::new(),
            lifetime,
        }
        .start()?;
        let server = Self {
            base_url: format!("https://{listen}"),
            root,
            password,
            process: Some(process),
        };
        server.wait_listening(port)?;
        Ok(server)
    }

    fn wait_listening(&self, port: u16) -> Result<(), Error> {
        let addr = std::net::SocketAddr::from((
            GATEWAY
                .parse::<Ipv4Addr>()
                .map_err(|e| Error::Invalid(e.to_string()))?,
            port,
        ));
        for _ in 0..200 {
            if std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(50))
                .is_ok()
            {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        let (log, tail) = self
            .process
            .as_ref()
            .map(|p| (p.log.clone(), p.log_tail(20)))
            .unwrap_or_default();
        Err(Error::ServerFailed {
            name: "nbv-node-serve",
            detail: format!("not listening on {addr}"),
            log,
            tail,
        })
    }

    /// Publishes a public repository `name` holding `files` (path, content) on `main`.
    pub fn repo(&self, name: &str, files: &[(&str, &[u8])]) -> Result<Repo, Error> {
        self.publish(&format!("{name}.git"), files)
    }

    /// Publishes a repository that needs [`GIT_USER`] and [`NodeServer::password`].
    pub fn private_repo(&self, name: &str, files: &[(&str, &[u8])]) -> Result<Repo, Error> {
        self.publish(&format!("private/{name}.git"), files)
    }

    /// The password of the private repositories.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The directory served under `<base>/files/`.
    pub fn files_dir(&self) -> PathBuf {
        self.root.join("files")
    }

    /// `https://<gateway>:<port>/files/`.
    pub fn files_url(&self) -> String {
        format!("{}/files/", self.base_url)
    }

    /// Commits `files` (path, content; over what is there) on `main` of the public repository
    /// `name` published before, and returns it at the new commit (tag `v1` stays where it was).
    pub fn update(&self, name: &str, files: &[(&str, &[u8])]) -> Result<Repo, Error> {
        let path = format!("{name}.git");
        let work = self.root.join("work").join(&path);
        let commit = commit(&work, files, "update")?;
        let bare = self.root.join("git").join(&path);
        git(&work, &["push", "-q", &bare.to_string_lossy(), "main"])?;
        Ok(Repo {
            url: format!("{}/git/{path}", self.base_url),
            commit,
        })
    }

    fn publish(&self, path: &str, files: &[(&str, &[u8])]) -> Result<Repo, Error> {
        let work = self.root.join("work").join(path);
        let _ = std::fs::remove_dir_all(&work);
        std::fs::create_dir_all(&work).map_err(|e| Error::io(&work, e))?;
        git(&work, &["init", "-q", "-b", "main"])?;
        let commit = commit(&work, files, "notebooks")?;
        git(&work, &["tag", "v1"])?;
        let bare = self.root.join("git").join(path);
        let _ = std::fs::remove_dir_all(&bare);
        let out = Command::new("git")
            .args(["clone", "-q", "--bare"])
            .arg(&work)
            .arg(&bare)
            .output()
            .map_err(|e| Error::io("git", e))?;
        if !out.status.success() {
            return Err(Error::Invalid(format!(
                "git clone --bare failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(Repo {
            url: format!("{}/git/{path}", self.base_url),
            commit,
        })
    }
}

/// Writes `files` in the work tree `work` and commits them; returns the commit.
fn commit(work: &Path, files: &[(&str, &[u8])], message: &str) -> Result<String, Error> {
    for (file, content) in files {
        let dest = work.join(file);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        std::fs::write(&dest, content).map_err(|e| Error::io(&dest, e))?;
    }
    git(work, &["add", "-A"])?;
    git(
        work,
        &[
            "-c",
            "user.name=nbv",
            "-c",
            "user.email=nbv@localhost",
            "commit",
            "-qm",
            message,
        ],
    )?;
    git(work, &["rev-parse", "HEAD"])
}

impl NodeServer {
    /// Leaves the server running (for [`Lifetime::Detached`]); returns its process for whoever
    /// stops it later.
    pub fn detach(mut self) -> Option<crate::ProcessInfo> {
        self.process.take().map(|p| p.info())
    }

    /// `https://<gateway>:<port>`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }
}

impl Drop for NodeServer {
    fn drop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.request_stop();
            process.wait(std::time::Duration::from_secs(10));
        }
    }
}

fn git(dir: &Path, args: &[&str]) -> Result<String, Error> {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .output()
        .map_err(|e| Error::io("git", e))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(Error::Invalid(format!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        )))
    }
}
