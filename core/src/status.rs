//! The build status every strategy reports, normalised across backends.

use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde::{Deserialize, Serialize};

/// Where a build is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum BuildPhase {
    /// Accepted, not started (queued, waiting for a pod, pulling the builder).
    Pending,
    /// Building.
    Running,
    /// Built and pushed.
    Succeeded,
    /// Ended without an image.
    Failed,
    /// Stopped on request (or by a timeout).
    Cancelled,
}

impl BuildPhase {
    /// Whether the build has ended and will not change any more.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }

    /// The phase's name as written in status.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Running => "Running",
            Self::Succeeded => "Succeeded",
            Self::Failed => "Failed",
            Self::Cancelled => "Cancelled",
        }
    }
}

impl fmt::Display for BuildPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A pushed image, pinned by digest when the backend reports one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ImageReference {
    /// The repository, without tag or digest (`registry/namespace/name`).
    pub repository: String,
    /// The tag pushed, if known.
    pub tag: Option<String>,
    /// The manifest digest (`sha256:...`), if the backend reported it.
    pub digest: Option<String>,
}

impl ImageReference {
    /// Parses `repo[:tag][@digest]`. The tag is split off the last path segment only, so a
    /// registry port (`host:5000/x`) is not taken for a tag.
    pub fn parse(reference: &str) -> Self {
        let (rest, digest) = match reference.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest.to_owned())),
            None => (reference, None),
        };
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (repository, tag) = match rest[last_slash..].split_once(':') {
            Some((name, tag)) => (
                format!("{}{}", &rest[..last_slash], name),
                Some(tag.to_owned()),
            ),
            None => (rest.to_owned(), None),
        };
        Self {
            repository,
            tag,
            digest,
        }
    }

    /// The registry host (`host[:port]`) the image is pulled from: the first path segment when
    /// it names a host (it has a `.` or a `:`, or is `localhost`), else Docker Hub's.
    pub fn registry(&self) -> &str {
        match self.repository.split_once('/') {
            Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => first,
            _ => "docker.io",
        }
    }

    /// The same image pinned to `digest`.
    #[must_use]
    pub fn with_digest(mut self, digest: impl Into<String>) -> Self {
        self.digest = Some(digest.into());
        self
    }

    /// The reference to pull: `repo@digest` when pinned, else `repo:tag`, else `repo`.
    pub fn pull_spec(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(digest), _) => format!("{}@{}", self.repository, digest),
            (None, Some(tag)) => format!("{}:{}", self.repository, tag),
            (None, None) => self.repository.clone(),
        }
    }

    /// Whether the reference is pinned to a digest.
    pub fn is_pinned(&self) -> bool {
        self.digest.is_some()
    }
}

impl fmt::Display for ImageReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.pull_spec())
    }
}

/// A build's state, the same whatever the backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BuildStatus {
    /// The phase.
    pub phase: BuildPhase,
    /// A machine-readable reason in CamelCase (the backend's own where it has one, e.g.
    /// `FetchSourceFailed`).
    pub reason: String,
    /// What happened, for people.
    pub message: String,
    /// When the backend started the build.
    pub start_time: Option<Time>,
    /// When it ended.
    pub completion_time: Option<Time>,
    /// The last lines of the build log, when the backend puts them in status.
    pub logs_tail: Option<String>,
    /// The image, once pushed.
    pub image: Option<ImageReference>,
}

impl BuildStatus {
    /// A status in `phase` with the given reason and message.
    pub fn new(phase: BuildPhase, reason: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            phase,
            reason: reason.into(),
            message: message.into(),
            start_time: None,
            completion_time: None,
            logs_tail: None,
            image: None,
        }
    }

    /// Sets the start and completion times.
    #[must_use]
    pub fn with_times(mut self, start: Option<Time>, completion: Option<Time>) -> Self {
        self.start_time = start;
        self.completion_time = completion;
        self
    }

    /// Sets the log tail.
    #[must_use]
    pub fn with_logs_tail(mut self, tail: Option<String>) -> Self {
        self.logs_tail = tail;
        self
    }

    /// Sets the image.
    #[must_use]
    pub fn with_image(mut self, image: Option<ImageReference>) -> Self {
        self.image = image;
        self
    }
}

/// Whether a strategy's backend can run builds in this cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Availability {
    /// Everything the strategy needs is served.
    Available,
    /// Something is missing; the text says what (e.g. "API group tekton.dev/v1 is not served").
    Missing(String),
}

/// How much of a build log to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogTail {
    /// At most this many lines from the end.
    pub lines: u32,
    /// And at most this many bytes.
    pub bytes: u32,
}

impl LogTail {
    /// The tail the operator keeps in status by default.
    pub const DEFAULT: Self = Self {
        lines: 40,
        bytes: 4096,
    };

    /// A tail of `lines` lines and `bytes` bytes at most.
    pub fn new(lines: u32, bytes: u32) -> Self {
        Self { lines, bytes }
    }

    /// Cuts `log` to this tail, on line boundaries and a UTF-8 character boundary.
    pub fn apply(&self, log: &str) -> String {
        let mut lines: Vec<&str> = log.lines().rev().take(self.lines as usize).collect();
        lines.reverse();
        let joined = lines.join("\n");
        let limit = self.bytes as usize;
        if joined.len() <= limit {
            return joined;
        }
        let mut start = joined.len() - limit;
        while !joined.is_char_boundary(start) {
            start += 1;
        }
        joined[start..].to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registry_is_read_from_a_reference() {
        let registry = |reference: &str| ImageReference::parse(reference).registry().to_owned();
        assert_eq!(registry("quay.io/team/nb:1"), "quay.io");
        assert_eq!(registry("10.213.0.1:5000/builds/nb"), "10.213.0.1:5000");
        assert_eq!(registry("localhost/nb"), "localhost");
        assert_eq!(registry("team/nb:1"), "docker.io");
        assert_eq!(registry("python"), "docker.io");
    }

    #[test]
    fn image_reference_keeps_registry_port_out_of_the_tag() {
        let image = ImageReference::parse("registry.local:5000/team/nb:v1@sha256:abc");
        assert_eq!(image.repository, "registry.local:5000/team/nb");
        assert_eq!(image.tag.as_deref(), Some("v1"));
        assert_eq!(image.pull_spec(), "registry.local:5000/team/nb@sha256:abc");
        let untagged = ImageReference::parse("registry.local:5000/team/nb");
        assert_eq!(untagged.tag, None);
        assert_eq!(untagged.pull_spec(), "registry.local:5000/team/nb");
    }

    #[test]
    fn log_tail_bounds_lines_and_bytes() {
        let log = (1..=100)
            .map(|i| format!("line {i}"))
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(LogTail::new(2, 1000).apply(&log), "line 99\nline 100");
        assert_eq!(LogTail::new(100, 8).apply(&log), "line 100");
        assert_eq!(LogTail::new(1, 3).apply("ééé"), "é");
    }
}
