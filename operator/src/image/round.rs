//! Rounds: when a new one starts, and what it starts from.

use crate::crd::conditions::PUBLISHED;
use crate::crd::image::{ImagePhase, NotebookImageStatus};
use crate::steps::status::StatusUpdate;

/// Any new value of this annotation starts a new round: the image is imported or built again
/// and validated again.
pub const REVALIDATE_ANNOTATION: &str = "mlops.redhat.com/revalidate";
/// The status a reconcile of a notebook image computes.
pub(super) type Update = StatusUpdate<NotebookImageStatus>;

/// Why a new round starts, if one does.
pub(super) fn round_trigger(
    current: Option<&NotebookImageStatus>,
    generation: Option<i64>,
    requested: Option<&str>,
) -> Option<String> {
    let Some(status) = current.filter(|s| s.round.is_some()) else {
        return Some("first round".to_owned());
    };
    if status.observed_generation != generation {
        return Some(format!(
            "generation {} of the spec",
            generation.unwrap_or_default()
        ));
    }
    if requested.is_some() && requested != status.revalidate_request.as_deref() {
        return Some(format!(
            "re-validation asked for through the {REVALIDATE_ANNOTATION} annotation"
        ));
    }
    None
}

/// The status a new round starts from: the published image and its condition stay.
pub(super) fn next_round(
    current: Option<&NotebookImageStatus>,
    requested: Option<String>,
    why: &str,
) -> NotebookImageStatus {
    let previous = current.cloned().unwrap_or_default();
    let round = previous.round.unwrap_or(0) + 1;
    NotebookImageStatus {
        phase: Some(ImagePhase::Preparing),
        message: Some(format!("round {round}: {why}")),
        conditions: previous
            .conditions
            .into_iter()
            .filter(|c| c.type_ == PUBLISHED)
            .collect(),
        round: Some(round),
        revalidate_request: requested.or(previous.revalidate_request),
        published: previous.published,
        source_checked: previous.source_checked,
        ..NotebookImageStatus::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::image::Published;

    #[test]
    fn rounds_start_with_a_generation_or_a_request_and_keep_what_is_published() {
        assert_eq!(
            round_trigger(None, Some(1), None).as_deref(),
            Some("first round")
        );
        let first = next_round(None, Some("a".into()), "first round");
        assert_eq!(first.round, Some(1));
        let mut done = first.clone();
        done.observed_generation = Some(1);
        done.phase = Some(ImagePhase::Succeeded);
        done.published = Some(Published {
            image: "reg/nb@sha256:1".into(),
            round: 1,
            generation: 1,
            source_digest: None,
            image_stream_tag: None,
            config_map: None,
            time: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
            ),
        });
        assert_eq!(round_trigger(Some(&done), Some(1), Some("a")), None);
        assert!(
            round_trigger(Some(&done), Some(2), Some("a"))
                .is_some_and(|w| w.contains("generation 2"))
        );
        assert!(
            round_trigger(Some(&done), Some(1), Some("b"))
                .is_some_and(|w| w.contains("annotation"))
        );
        let second = next_round(Some(&done), None, "generation 2 of the spec");
        assert_eq!(second.round, Some(2));
        assert_eq!(second.published, done.published);
        assert_eq!(second.revalidate_request.as_deref(), Some("a"));
        assert_eq!(second.phase, Some(ImagePhase::Preparing));
    }
}
