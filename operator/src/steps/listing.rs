//! Listing a repository's notebooks: a pod clones it at a ref with the shared clone script and
//! prints the commit and every notebook's path and blob id; the operator reads the pod's log.
//!
//! The log, not the termination message: a repository's notebooks do not fit in 4 KiB. The
//! pod runs a constant script; the URL and the ref reach it as environment variables.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use buildstrategy_api::git;
use k8s_openapi::api::core::v1::{Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, LogParams, PostParams};

use super::git_clone::{self, clone_container, empty_dir};
use super::{Context, Error, Progress, outcome, pod_lifecycle};
use crate::config::PodSettings;
use crate::crd::GitSpec;
use crate::labels;
use crate::reason::Reason;

/// The listing container's name.
const CONTAINER: &str = "list";
/// Where the repository is cloned.
const SOURCE_DIR: &str = "/workspace/source";
/// Marks where the listing starts in the log: what comes before is git's own output.
const MARKER: &str = "nbv-listing ";
/// Marks the paths changed since the base commit, right after the listing.
const CHANGED_MARKER: &str = "nbv-changed ";
/// How long the listing pod may take.
const DEADLINE_SECS: i64 = 600;
/// The most log read: far more than the paths of the notebooks a suite may run.
const MAX_LOG_BYTES: i64 = 16 * 1024 * 1024;

/// Writes every notebook tracked at the commit as `<mode> <blob> <stage>\t<path>`,
/// NUL-terminated (git's `ls-files -s -z`) and, with `NBV_CHANGED_FROM`, every path changed
/// since that ref (a branch, tag or commit, resolved as the clone resolves its ref); then
/// prints each section after a marker naming its commit and its length in bytes, so that no
/// path can be taken for a marker and a cut log is seen. Nothing is printed until every git
/// command succeeded: a failing pod's log holds git's words only.
const LIST_SCRIPT: &str = r#"listing="$HOME/nbv-listing" changed="$HOME/nbv-changed"
git ls-files -s -z -- '*.ipynb' > "$listing"
if [ -n "${NBV_CHANGED_FROM:-}" ]; then
  if fetch --depth 1 -- origin "$NBV_CHANGED_FROM" 2>/dev/null; then
    base="$(git rev-parse FETCH_HEAD)"
  else
    fetch --tags -- origin '+refs/heads/*:refs/remotes/origin/*'
    base="$(git rev-parse -q --verify --end-of-options "$NBV_CHANGED_FROM^{commit}" \
      || git rev-parse -q --verify --end-of-options "refs/remotes/origin/$NBV_CHANGED_FROM^{commit}")" \
      || { echo "changedFrom $NBV_CHANGED_FROM is no branch, tag or commit of the repository" >&2; exit 1; }
  fi
  git diff --name-only --no-renames -z "$base" HEAD -- > "$changed"
fi
printf '\nnbv-listing %s %s\n' "$(git rev-parse HEAD)" "$(wc -c < "$listing")"
cat "$listing"
if [ -n "${NBV_CHANGED_FROM:-}" ]; then
  printf 'nbv-changed %s %s\n' "$base" "$(wc -c < "$changed")"
  cat "$changed"
fi
"#;

/// The paths changed between a base commit and the listed one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Changes {
    /// The commit the base ref resolved to.
    pub base: String,
    /// Every path added, modified or deleted since it.
    pub paths: std::collections::BTreeSet<String>,
}

/// The notebooks of a repository at one commit.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Listing {
    /// The commit the ref resolved to.
    pub commit: String,
    /// Every notebook (regular files only): its path and its git blob id.
    pub notebooks: BTreeMap<String, String>,
    /// What changed since the base ref, when one was asked for.
    pub changes: Option<Changes>,
}

/// What to list, and the pod that lists it.
#[derive(Debug, Clone)]
pub struct ListingPod<'a> {
    /// The pod's name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// The resource it belongs to.
    pub owner: k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference,
    /// The repository and the ref.
    pub git: &'a GitSpec,
    /// A ref to list the changes since.
    pub changed_from: Option<&'a str>,
}

/// Listings read, by pod: a listing pod's log is read once per operator process.
#[derive(Debug, Clone, Default)]
pub struct Listings(Arc<Mutex<HashMap<String, Arc<Listing>>>>);

impl Listings {
    fn key(pod: &ListingPod<'_>) -> String {
        format!("{}/{}", pod.namespace, pod.name)
    }

    fn get(&self, pod: &ListingPod<'_>) -> Option<Arc<Listing>> {
        self.0.lock().ok()?.get(&Self::key(pod)).cloned()
    }

    fn keep(&self, pod: &ListingPod<'_>, listing: Arc<Listing>) {
        if let Ok(mut map) = self.0.lock() {
            map.insert(Self::key(pod), listing);
        }
    }

    fn forget(&self, pod: &ListingPod<'_>) {
        if let Ok(mut map) = self.0.lock() {
            map.remove(&Self::key(pod));
        }
    }
}

/// Renders the listing pod.
pub fn render(pod: &ListingPod<'_>, settings: &PodSettings) -> Pod {
    let (mut container, credentials) = clone_container(CONTAINER, pod.git, SOURCE_DIR, settings);
    if let (Some(base), Some(env)) = (pod.changed_from, container.env.as_mut()) {
        env.push(git_clone::env("NBV_CHANGED_FROM", base));
    }
    container.command = Some(vec![
        "/bin/sh".into(),
        "-c".into(),
        format!("{}{LIST_SCRIPT}", git::CLONE_SCRIPT),
    ]);
    let mut volumes = vec![empty_dir("workspace"), empty_dir("home")];
    volumes.extend(credentials);
    let mut metadata_labels = pod.labels.clone();
    metadata_labels.insert(labels::COMPONENT_LABEL.to_owned(), "listing".to_owned());
    Pod {
        metadata: ObjectMeta {
            name: Some(pod.name.clone()),
            namespace: Some(pod.namespace.clone()),
            labels: Some(metadata_labels),
            owner_references: Some(vec![pod.owner.clone()]),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            volumes: Some(volumes),
            ..pod_lifecycle::one_shot(DEADLINE_SECS, vec![container])
        }),
        status: None,
    }
}

/// Why listing failed for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListingFailed {
    /// The condition reason.
    pub reason: Reason,
    /// What happened, in git's words where it had some.
    pub message: String,
}

/// A section of the log: `<marker><commit> <length>\n` and that many bytes; the commit, the
/// bytes, and what follows.
fn section<'a>(log: &'a [u8], what: &str) -> Result<(String, &'a [u8], &'a [u8]), String> {
    let newline = log
        .iter()
        .position(|b| *b == b'\n')
        .ok_or_else(|| format!("the {what} ends inside its header"))?;
    let header = String::from_utf8_lossy(&log[..newline]);
    let (commit, length) = header
        .trim()
        .split_once(' ')
        .ok_or_else(|| format!("the {what} has no length ({header:?})"))?;
    if commit.len() < 40 || !commit.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("the {what} names no commit ({commit:?})"));
    }
    let length: usize = length
        .trim()
        .parse()
        .map_err(|_| format!("the {what} has no length ({header:?})"))?;
    let body = &log[newline + 1..];
    if body.len() < length {
        return Err(format!(
            "the {what} was cut short ({} of {length} bytes; the log is read up to {MAX_LOG_BYTES} bytes)",
            body.len()
        ));
    }
    Ok((commit.to_owned(), &body[..length], &body[length..]))
}

fn records(bytes: &[u8]) -> impl Iterator<Item = &str> {
    bytes
        .split(|b| *b == 0)
        .filter(|e| !e.is_empty())
        .filter_map(|e| std::str::from_utf8(e).ok())
}

/// Parses the listing pod's log.
pub fn parse(log: &[u8]) -> Result<Listing, String> {
    let marker = format!("\n{MARKER}");
    let start = log
        .windows(marker.len())
        .position(|w| w == marker.as_bytes())
        .ok_or("the listing pod's log has no listing")?
        + marker.len();
    let (commit, entries, rest) = section(&log[start..], "listing")?;
    let notebooks = records(entries)
        .filter_map(|text| {
            let (meta, path) = text.split_once('\t')?;
            // Regular files only: not symbolic links (120000) or submodules (160000).
            let mut fields = meta.split(' ');
            let mode = fields.next()?;
            let blob = fields.next()?;
            matches!(mode, "100644" | "100755").then(|| (path.to_owned(), blob.to_owned()))
        })
        .collect();
    let changes = match rest.strip_prefix(CHANGED_MARKER.as_bytes()) {
        Some(changed) => {
            let (base, paths, _) = section(changed, "list of changed paths")?;
            Some(Changes {
                base,
                paths: records(paths).map(str::to_owned).collect(),
            })
        }
        None => None,
    };
    Ok(Listing {
        commit,
        notebooks,
        changes,
    })
}

/// Lists the repository: creates the pod, waits for it, reads its log. The pod stays until its
/// owner is done with it ([`discard`]): a restarted operator reads it again.
pub async fn run(
    ctx: &Context,
    listing: &ListingPod<'_>,
) -> Result<Progress<Result<Arc<Listing>, ListingFailed>>, Error> {
    if let Some(known) = ctx.listings.get(listing) {
        return Ok(Progress::Done(Ok(known)));
    }
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &listing.namespace);
    let name = &listing.name;
    let Some(pod) = ctx.find_pod(&pods, name).await? else {
        match pods
            .create(&PostParams::default(), &render(listing, &ctx.pod_settings))
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(Error::kube("creating the listing pod")(e)),
        }
        return Ok(Progress::Waiting(Some(pod_lifecycle::RECHECK)));
    };
    if let Some((reason, message)) = outcome::stuck(&pod) {
        return Ok(Progress::Done(Err(ListingFailed {
            reason,
            message: format!("the listing pod {name} cannot start: {message}"),
        })));
    }
    let phase = pod
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("Pending");
    match phase {
        "Succeeded" => {}
        "Failed" => {
            let said = pod
                .status
                .as_ref()
                .and_then(|s| s.container_statuses.as_ref())
                .and_then(|c| c.iter().find(|c| c.name == CONTAINER))
                .and_then(|c| c.state.as_ref()?.terminated.as_ref()?.message.clone())
                .unwrap_or_else(|| "no message".to_owned());
            return Ok(Progress::Done(Err(ListingFailed {
                reason: Reason::FetchSourceFailed,
                message: format!("cloning {} failed: {}", listing.git.url, said.trim()),
            })));
        }
        _ => return Ok(Progress::Waiting(Some(pod_lifecycle::RECHECK))),
    }
    let log = pods
        .logs(
            name,
            &LogParams {
                container: Some(CONTAINER.into()),
                limit_bytes: Some(MAX_LOG_BYTES),
                ..LogParams::default()
            },
        )
        .await
        .map_err(Error::kube("reading the listing pod's log"))?;
    Ok(Progress::Done(match parse(log.as_bytes()) {
        Ok(parsed) => {
            let parsed = Arc::new(parsed);
            ctx.listings.keep(listing, parsed.clone());
            Ok(parsed)
        }
        Err(message) => Err(ListingFailed {
            reason: Reason::ListingUnreadable,
            message,
        }),
    }))
}

/// Deletes the listing pod once its owner is done with it.
pub async fn discard(ctx: &Context, listing: &ListingPod<'_>) {
    ctx.listings.forget(listing);
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &listing.namespace);
    let name = &listing.name;
    match pods.delete(name, &DeleteParams::background()).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Err(e) => {
            tracing::debug!(pod = name, error = %e, "could not delete the listing pod; it goes with its suite");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

    fn log(entries: &str, changed: Option<&str>) -> String {
        let mut log = format!(
            "warning: from git\ncloned {COMMIT}\n\n{MARKER}{COMMIT} {}\n{entries}",
            entries.len()
        );
        if let Some(changed) = changed {
            log.push_str(&format!(
                "{CHANGED_MARKER}{BASE} {}\n{changed}",
                changed.len()
            ));
        }
        log
    }

    const BASE: &str = "89abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn the_log_after_the_marker_is_the_commit_and_the_regular_notebooks() {
        let entries = "100644 aa 0\ta.ipynb\x00100755 bb 0\tdir/b c.ipynb\x00120000 cc 0\tlink.ipynb\x00160000 dd 0\tsub.ipynb\x00";
        let listing = parse(log(entries, None).as_bytes()).expect("parses");
        assert_eq!(listing.commit, COMMIT);
        let found: Vec<(&str, &str)> = listing
            .notebooks
            .iter()
            .map(|(p, b)| (p.as_str(), b.as_str()))
            .collect();
        assert_eq!(found, vec![("a.ipynb", "aa"), ("dir/b c.ipynb", "bb")]);
        assert_eq!(listing.changes, None);
    }

    #[test]
    fn the_changed_paths_follow_the_listing_and_no_path_passes_for_a_marker() {
        // A notebook whose name holds the marker is only a name: the lengths say where
        // each section ends.
        let tricky = format!("100644 aa 0\tx\n{CHANGED_MARKER}{BASE} 3\nabc.ipynb\0");
        let listing =
            parse(log(&tricky, Some("requirements.txt\0b.ipynb\0")).as_bytes()).expect("parses");
        assert_eq!(listing.notebooks.len(), 1);
        let changes = listing.changes.expect("changes");
        assert_eq!(changes.base, BASE);
        assert_eq!(
            changes.paths.into_iter().collect::<Vec<_>>(),
            vec!["b.ipynb", "requirements.txt"]
        );
    }

    #[test]
    fn the_listing_pod_is_restricted_and_mounts_the_clone_credentials() {
        let git = GitSpec {
            url: "https://git.example/team/notebooks.git".into(),
            git_ref: Some("main".into()),
            credentials_secret: Some("git-login".into()),
        };
        let pod = ListingPod {
            name: "nightly-g2-list".into(),
            namespace: "team".into(),
            labels: BTreeMap::from([(
                "app.kubernetes.io/managed-by".into(),
                "nbv-operator".into(),
            )]),
            owner: k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
                api_version: "mlops.redhat.com/v1alpha1".into(),
                kind: "NotebookValidationSuite".into(),
                name: "nightly".into(),
                uid: "u-1".into(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            },
            git: &git,
            changed_from: Some("v1.2"),
        };
        let settings = PodSettings {
            runner_image: "quay.example/nbv/operator:1".into(),
            git_image: "quay.example/nbv/operator:1".into(),
        };
        insta::assert_yaml_snapshot!(render(&pod, &settings), {
            ".spec.containers[0].command[2]" => "[clone script, then the listing]"
        });
    }

    #[test]
    fn a_cut_or_missing_listing_is_an_error() {
        assert!(parse(b"fatal: nothing").is_err());
        let cut = format!("\n{MARKER}{COMMIT} 40\n100644 aa 0\ta.ipy");
        assert!(
            parse(cut.as_bytes())
                .expect_err("cut")
                .contains("cut short")
        );
        let cut_changes = log("", Some("b.ipynb\0"));
        let cut_changes = &cut_changes.as_bytes()[..cut_changes.len() - 2];
        assert!(parse(cut_changes).expect_err("cut").contains("cut short"));
        let empty = format!("\n{MARKER}{COMMIT} 0\n");
        assert_eq!(parse(empty.as_bytes()).expect("empty").notebooks.len(), 0);
    }
}
