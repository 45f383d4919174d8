//! Step 3a: an image built before from the same inputs takes the place of a build
//! (docs/adrs/0008-build-reuse.md).
//!
//! The inputs that decide a built image are hashed into a reuse key, recorded on every build's
//! status. A job whose key matches a build that succeeded and pushed a digest-pinned image uses
//! that image. An input that cannot be pinned (a branch, a base image tag without a digest)
//! makes the build not reusable, and status says which.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use buildstrategy_api::{BuildContext, BuildPhase, BuildRequest, Requirements};
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::crd::NotebookValidationJob;
use crate::identity::identity;

/// The operator's reuse settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReuseSettings {
    /// Whether a job may use an image built for a job of another namespace. Off by default:
    /// pulling it may need the other namespace's pull secret, and it tells one namespace what
    /// another built.
    pub across_namespaces: bool,
    /// Images built longer ago than this are built again.
    pub max_age: Duration,
    /// Whether a base image given by tag alone may be part of a reuse key (the tag may move).
    pub allow_base_tags: bool,
}

impl Default for ReuseSettings {
    fn default() -> Self {
        Self {
            across_namespaces: false,
            max_age: Duration::from_secs(7 * 24 * 3600),
            allow_base_tags: false,
        }
    }
}

/// What decides a built image, as hashed.
#[derive(Serialize)]
struct Inputs<'a> {
    /// The operator's version: its generated Dockerfile and the runner's packages change with it.
    operator: &'static str,
    strategy: &'a str,
    strategy_config: &'a Value,
    base_image: &'a str,
    git_url: &'a str,
    commit: &'a str,
    context_dir: Option<&'a str>,
    requirements_file: Option<&'a str>,
    packages: &'a [String],
    /// The notebook whose imports the requirements are generated from, and the import names.
    from_imports: Option<&'a str>,
    import_names: &'a BTreeMap<String, String>,
    dockerfile: Option<&'a str>,
}

/// Whether a build can be reused, and by which key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reusable {
    /// Its reuse key.
    Key(String),
    /// Why not, for status.
    No(String),
}

/// The reuse key of `request` built by `strategy`, or why it has none.
pub fn key(request: &BuildRequest, strategy: &str, settings: &ReuseSettings) -> Reusable {
    let commit = request.source.git_ref.as_deref().unwrap_or_default();
    // Without a git source, the base image and the packages are all the inputs.
    if let Some(what) = unpinned(request.source.git_ref.as_deref())
        && request.context == BuildContext::Git
    {
        return Reusable::No(format!(
            "{what} names no commit, so this build's source is not pinned and its image is not reused; set notebook.git.ref to a commit SHA to reuse builds"
        ));
    }
    if !request.base_image.contains("@sha256:") && !settings.allow_base_tags {
        return Reusable::No(format!(
            "base image '{}' has no digest and its tag may move, so the image is not reused; pin it by digest (image@sha256:...) to reuse builds",
            request.base_image
        ));
    }
    let (mut requirements_file, mut packages, mut from_imports) = (None, &[][..], None);
    match &request.requirements {
        Requirements::File(path) => requirements_file = Some(path.as_str()),
        Requirements::Packages(list) => packages = list,
        Requirements::FromImports(notebook) => from_imports = Some(notebook.as_str()),
        _ => {}
    }
    let inputs = Inputs {
        operator: env!("CARGO_PKG_VERSION"),
        strategy,
        strategy_config: &request.strategy_config,
        base_image: &request.base_image,
        git_url: &request.source.url,
        commit: &commit.to_ascii_lowercase(),
        context_dir: request.source.context_dir.as_deref(),
        requirements_file,
        packages,
        from_imports,
        import_names: &request.import_names,
        dockerfile: request.dockerfile.as_deref(),
    };
    let json = serde_json::to_vec(&inputs).unwrap_or_default();
    Reusable::Key(format!("sha256:{:x}", Sha256::digest(json)))
}

/// What `git_ref` names, for a message, when it is not a commit SHA (a branch, a tag, or the
/// repository's default branch when absent); `None` for a commit.
pub fn unpinned(git_ref: Option<&str>) -> Option<String> {
    let git_ref = git_ref.unwrap_or_default();
    if git_ref.len() == 40 && git_ref.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some(if git_ref.is_empty() {
        "the repository's default branch".to_owned()
    } else {
        format!("git ref '{git_ref}'")
    })
}

/// An image built before with the same inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The job that built it, `namespace/name`.
    pub job: String,
    /// Its build's name.
    pub build: String,
    /// The digest-pinned image.
    pub image: String,
}

/// The newest build among `jobs` with `key` that succeeded and pushed a digest-pinned image,
/// in `namespace` (or any, when the settings allow) and younger than the maximum age.
pub fn find<'a>(
    jobs: impl IntoIterator<Item = &'a NotebookValidationJob>,
    key: &str,
    namespace: &str,
    settings: &ReuseSettings,
    now: Timestamp,
) -> Option<Found> {
    let max_age = i64::try_from(settings.max_age.as_secs()).unwrap_or(i64::MAX);
    jobs.into_iter()
        .filter(|job| settings.across_namespaces || job.namespace().as_deref() == Some(namespace))
        .filter_map(|job| {
            let report = job.status.as_ref()?.build_status.as_ref()?;
            let image = report.image_reference.as_ref()?;
            let built_at = report.completion_time.as_ref()?.0;
            let fresh = now.as_second() - built_at.as_second() <= max_age;
            (report.reuse_key.as_deref() == Some(key)
                && report.phase == Some(BuildPhase::Succeeded)
                && report.reused_from.is_none()
                && image.contains("@sha256:")
                && fresh)
                .then(|| {
                    let found = Found {
                        job: identity(job),
                        build: report.build_name.clone().unwrap_or_default(),
                        image: image.clone(),
                    };
                    (built_at, found)
                })
        })
        .max_by_key(|(built_at, _)| *built_at)
        .map(|(_, found)| found)
}

/// The jobs whose builds run now, by reuse key: a job with the same inputs waits for that build
/// instead of starting a second one. In-process, so that jobs reconciled at the same moment see
/// each other before either status reaches the job cache; a claim ends with its build, or after
/// the longest a build may take.
#[derive(Debug, Default)]
pub struct Claims(Mutex<HashMap<String, (String, Instant, Duration)>>);

impl Claims {
    /// Claims `key` for `job` (`namespace/name`) for at most `timeout`; returns the job that holds
    /// it when another does.
    pub fn claim(&self, key: &str, job: &str, timeout: Duration) -> Option<String> {
        let Ok(mut claims) = self.0.lock() else {
            return None;
        };
        if let Some((holder, at, limit)) = claims.get(key)
            && holder != job
            && at.elapsed() < *limit
        {
            return Some(holder.clone());
        }
        claims.insert(key.to_owned(), (job.to_owned(), Instant::now(), timeout));
        None
    }

    /// Ends every claim of `job`: it ended or is deleted.
    pub fn release_job(&self, job: &str) {
        if let Ok(mut claims) = self.0.lock() {
            claims.retain(|_, (holder, _, _)| holder != job);
        }
    }

    /// Ends `job`'s claim on `key`: its build ended.
    pub fn release(&self, key: &str, job: &str) {
        if let Ok(mut claims) = self.0.lock()
            && claims.get(key).is_some_and(|(holder, _, _)| holder == job)
        {
            claims.remove(key);
        }
    }
}

/// A build with `key` still running for another job than `job`, in scope, from the job cache.
pub fn running<'a>(
    jobs: impl IntoIterator<Item = &'a NotebookValidationJob>,
    key: &str,
    job: &str,
    namespace: &str,
    settings: &ReuseSettings,
) -> Option<String> {
    jobs.into_iter()
        .filter(|other| {
            settings.across_namespaces || other.namespace().as_deref() == Some(namespace)
        })
        .find_map(|other| {
            let name = identity(other);
            let report = other.status.as_ref()?.build_status.as_ref()?;
            let ended = other.status.as_ref().is_some_and(|s| s.is_terminal());
            (name != job
                && !ended
                && report.reuse_key.as_deref() == Some(key)
                && report.phase.is_some_and(|p| !p.is_terminal()))
            .then_some(name)
        })
}

#[cfg(test)]
mod tests {
    use buildstrategy_api::GitSource;
    use serde_json::json;

    use super::*;

    const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
    const BASE: &str = "registry.example.com/nb@sha256:aaaa";

    fn request(git_ref: &str, base: &str) -> BuildRequest {
        BuildRequest::new(
            "ns",
            "b",
            GitSource::new("https://git.example/nb.git").with_ref(git_ref),
        )
        .with_base_image(base)
        .with_requirements(Requirements::File("requirements.txt".into()))
    }

    fn key_of(request: &BuildRequest) -> String {
        match key(request, "buildah", &ReuseSettings::default()) {
            Reusable::Key(key) => key,
            Reusable::No(why) => panic!("not reusable: {why}"),
        }
    }

    #[test]
    fn the_same_inputs_give_the_same_key_and_any_change_another() {
        let base = request(COMMIT, BASE);
        assert_eq!(key_of(&base), key_of(&request(COMMIT, BASE)));
        let changed = [
            request("1123456789abcdef0123456789abcdef01234567", BASE),
            request(COMMIT, "registry.example.com/nb@sha256:bbbb"),
            request(COMMIT, BASE).with_requirements(Requirements::Packages(vec!["pandas".into()])),
            request(COMMIT, BASE).with_strategy_config(json!({ "executor": "x:1" })),
            request(COMMIT, BASE).with_dockerfile("FROM x"),
            request(COMMIT, BASE).with_requirements(Requirements::None),
            request(COMMIT, BASE).with_requirements(Requirements::FromImports("a.ipynb".into())),
            request(COMMIT, BASE)
                .with_requirements(Requirements::FromImports("a.ipynb".into()))
                .with_import_names([("acme".into(), "acme-sdk".into())].into()),
        ];
        let keys: std::collections::BTreeSet<_> = changed.iter().map(key_of).collect();
        assert_eq!(
            keys.len(),
            changed.len(),
            "two different inputs share a key"
        );
        for other in &changed {
            assert_ne!(key_of(&base), key_of(other), "{other:?}");
        }
        assert_ne!(
            key(&base, "buildah", &ReuseSettings::default()),
            key(&base, "kaniko", &ReuseSettings::default())
        );
    }

    #[test]
    fn inputs_that_are_not_pinned_are_not_reused() {
        let branch = key(&request("main", BASE), "buildah", &ReuseSettings::default());
        assert!(
            matches!(&branch, Reusable::No(why) if why.contains("git ref 'main' names no commit")),
            "{branch:?}"
        );
        let tag = key(
            &request(COMMIT, "registry.example.com/nb:latest"),
            "buildah",
            &ReuseSettings::default(),
        );
        assert!(
            matches!(&tag, Reusable::No(why) if why.contains("has no digest")),
            "{tag:?}"
        );
        let allowed = ReuseSettings {
            allow_base_tags: true,
            ..ReuseSettings::default()
        };
        assert!(matches!(
            key(
                &request(COMMIT, "registry.example.com/nb:latest"),
                "buildah",
                &allowed
            ),
            Reusable::Key(_)
        ));
    }

    fn built(
        namespace: &str,
        name: &str,
        key: &str,
        completed: &str,
        image: &str,
    ) -> NotebookValidationJob {
        serde_json::from_value(json!({
            "apiVersion": "mlops.redhat.com/v1alpha1", "kind": "NotebookValidationJob",
            "metadata": { "name": name, "namespace": namespace },
            "spec": { "notebook": { "git": { "url": "https://git.example/nb.git" }, "path": "a.ipynb" } },
            "status": { "buildStatus": { "phase": "Succeeded", "reuseKey": key, "buildName": format!("{name}-build"),
                "imageReference": image, "completionTime": completed } }
        }))
        .expect("a job")
    }

    #[test]
    fn one_job_holds_a_claim_until_it_releases_it() {
        let claims = Claims::default();
        let hour = Duration::from_secs(3600);
        assert_eq!(claims.claim("k", "ns/a", hour), None);
        assert_eq!(claims.claim("k", "ns/a", hour), None);
        assert_eq!(claims.claim("k", "ns/b", hour).as_deref(), Some("ns/a"));
        claims.release("k", "ns/b");
        assert_eq!(claims.claim("k", "ns/b", hour).as_deref(), Some("ns/a"));
        claims.release("k", "ns/a");
        assert_eq!(claims.claim("k", "ns/b", hour), None);
        // A claim outlived by its build's timeout is taken over.
        assert_eq!(claims.claim("j", "ns/a", Duration::ZERO), None);
        assert_eq!(claims.claim("j", "ns/b", hour), None);
    }

    #[test]
    fn the_newest_fresh_build_in_scope_is_found() {
        let now: Timestamp = "2026-12-01T12:00:00Z".parse().expect("time");
        let jobs = [
            built("ns", "old", "k", "2026-11-30T12:00:00Z", "r/old@sha256:1"),
            built("ns", "new", "k", "2026-12-01T11:00:00Z", "r/new@sha256:2"),
            built(
                "ns",
                "other-key",
                "k2",
                "2026-12-01T11:30:00Z",
                "r/x@sha256:3",
            ),
            built("ns", "tag-only", "k", "2026-12-01T11:45:00Z", "r/x:latest"),
            built(
                "elsewhere",
                "theirs",
                "k",
                "2026-12-01T11:50:00Z",
                "r/t@sha256:4",
            ),
            built("ns", "expired", "k", "2026-11-01T11:00:00Z", "r/e@sha256:5"),
        ];
        let settings = ReuseSettings::default();
        let found = find(&jobs, "k", "ns", &settings, now).expect("found");
        assert_eq!(
            (found.job.as_str(), found.image.as_str()),
            ("ns/new", "r/new@sha256:2")
        );
        let across = ReuseSettings {
            across_namespaces: true,
            ..ReuseSettings::default()
        };
        assert_eq!(
            find(&jobs, "k", "ns", &across, now).expect("found").job,
            "elsewhere/theirs"
        );
        let short = ReuseSettings {
            max_age: Duration::from_secs(60),
            ..ReuseSettings::default()
        };
        assert_eq!(find(&jobs, "k", "ns", &short, now), None);
    }
}
