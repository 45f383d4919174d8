//! Looking into an image with a pod: the digest the kubelet pulled (which pins the image) and,
//! for the image to publish, what it holds — its Python and its installed distributions, as
//! the dashboard's `notebook-software` and `notebook-python-dependencies` annotations list them.
//!
//! The pod runs one constant Python program (no user string reaches it) that writes a small
//! JSON document to its termination message; the operator reads nothing else from it.

use std::time::Duration;

use k8s_openapi::api::core::v1::{
    Container, LocalObjectReference, Pod, PodSpec, ResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde::Deserialize;

use crate::crd::image::{ImageSoftware, NotebookImage, Package};
use crate::labels;
use crate::reason::Reason;
use crate::steps::pod_lifecycle::{self, restricted};
use crate::steps::{Context, Error, Progress, outcome};
use buildstrategy_api::ImageReference;

/// At most this many distributions are kept in status.
pub const MAX_PACKAGES: usize = 200;
/// How long an inspect pod may take, pulling included: notebook images are large.
const DEADLINE_SECS: i64 = 1800;
/// The user the pod runs as: any image's files are readable by it, and Pod Security's
/// `restricted` level wants a non-root user even when the image names none.
const INSPECT_UID: i64 = 65532;
/// The termination message holds at most 4096 bytes; the program stays under this.
const MESSAGE_BUDGET: usize = 3800;

/// Reads the Python version and the installed distributions (lowercase names, sorted), and
/// writes them as compact JSON to the termination message, dropping distributions past the
/// budget (the count says how many there are).
const SCRIPT: &str = r#"import json, sys
from importlib import metadata
found = {}
for d in metadata.distributions():
    name = d.metadata["Name"]
    if name:
        found[name.lower()] = d.version
out = {"python": sys.version.split()[0], "count": len(found), "packages": []}
size = len(json.dumps(out))
for name, version in sorted(found.items()):
    size += len(json.dumps([name, version])) + 1
    if size > BUDGET:
        break
    out["packages"].append([name, version])
with open(sys.argv[1], "w") as f:
    f.write(json.dumps(out, separators=(",", ":")))
"#;

/// The program, with its budget.
fn program() -> String {
    SCRIPT.replace("BUDGET", &MESSAGE_BUDGET.to_string())
}

/// What the program reports.
#[derive(Debug, Deserialize)]
struct Report {
    python: String,
    count: u32,
    packages: Vec<(String, String)>,
}

/// An image looked into.
#[derive(Debug, Clone, PartialEq)]
pub struct Inspected {
    /// The image's digest (`sha256:...`).
    pub digest: String,
    /// The image, pinned to that digest.
    pub pinned: String,
    /// What it holds, when asked for.
    pub software: Option<ImageSoftware>,
}

/// What to look into.
#[derive(Debug, Clone, Copy)]
pub struct Look<'a> {
    /// The pod's name.
    pub pod: &'a str,
    /// The image.
    pub image: &'a str,
    /// The round the pod belongs to.
    pub round: i64,
    /// A Secret to pull the image with.
    pub pull_secret: Option<&'a str>,
    /// Whether what the image holds is wanted (it must run Python then), or only its digest.
    pub software: bool,
}

/// Renders the inspect pod.
pub fn render(image: &NotebookImage, look: &Look<'_>) -> Pod {
    let limits = |cpu: &str, memory: &str| {
        Some(
            [
                ("cpu".to_owned(), Quantity(cpu.to_owned())),
                ("memory".to_owned(), Quantity(memory.to_owned())),
            ]
            .into(),
        )
    };
    let mut security = restricted();
    security.run_as_user = Some(INSPECT_UID);
    Pod {
        metadata: ObjectMeta {
            name: Some(look.pod.to_owned()),
            namespace: image.namespace(),
            labels: Some(
                labels::for_image(image, look.round)
                    .into_iter()
                    .chain([(labels::COMPONENT_LABEL.to_owned(), "inspect".to_owned())])
                    .collect(),
            ),
            owner_references: Some(vec![labels::owner(image)]),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            image_pull_secrets: look.pull_secret.map(|name| {
                vec![LocalObjectReference {
                    name: name.to_owned(),
                }]
            }),
            ..pod_lifecycle::one_shot(
                DEADLINE_SECS,
                vec![Container {
                    name: "inspect".into(),
                    image: Some(look.image.to_owned()),
                    // Always: the registry's current digest is the point.
                    image_pull_policy: Some("Always".into()),
                    command: Some(vec![
                        "python3".into(),
                        "-c".into(),
                        program(),
                        "/dev/termination-log".into(),
                    ]),
                    security_context: Some(security),
                    resources: Some(ResourceRequirements {
                        requests: limits("50m", "64Mi"),
                        limits: limits("500m", "256Mi"),
                        ..ResourceRequirements::default()
                    }),
                    ..Container::default()
                }],
            )
        }),
        status: None,
    }
}

/// Why looking into an image failed for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The condition reason.
    pub reason: Reason,
    /// What happened and what to do.
    pub message: String,
}

/// Looks into `look.image`: creates the pod, waits for it, reads it, deletes it.
pub async fn run(
    ctx: &Context,
    image: &NotebookImage,
    look: &Look<'_>,
) -> Result<Progress<Result<Inspected, Refusal>>, Error> {
    let pods: Api<Pod> =
        Api::namespaced(ctx.client.clone(), &image.namespace().unwrap_or_default());
    let Some(pod) = ctx.find_pod(&pods, look.pod).await? else {
        match pods
            .create(&PostParams::default(), &render(image, look))
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(Error::kube("creating the inspect pod")(e)),
        }
        return Ok(Progress::Waiting(Some(pod_lifecycle::RECHECK)));
    };
    if let Some(secret) = look.pull_secret
        && let Some(messages) =
            pod_lifecycle::event_messages(&ctx.client, &pod, "FailedToRetrieveImagePullSecret")
                .await
        && !messages.is_empty()
    {
        let namespace = image.namespace().unwrap_or_default();
        discard(&pods, look.pod).await;
        return Ok(Progress::Done(Err(Refusal {
            reason: Reason::PullSecretNotFound,
            message: format!(
                "imagePullSecret \"{secret}\" does not exist in namespace {namespace}: create it (type kubernetes.io/dockerconfigjson) or correct spec.imagePullSecret"
            ),
        })));
    }
    let verdict = match read(&pod, look) {
        Some(verdict) => verdict,
        None => return Ok(Progress::Waiting(Some(pod_lifecycle::RECHECK))),
    };
    // The kubelet pulls even when a pull secret is missing (a public image then pulls), and
    // its event saying so is published asynchronously: give it time to arrive.
    if look.pull_secret.is_some() && age_secs(&pod) < SECRET_EVENT_SETTLE_SECS {
        return Ok(Progress::Waiting(Some(Duration::from_secs(1))));
    }
    discard(&pods, look.pod).await;
    Ok(Progress::Done(verdict))
}

/// How old a pod that names a pull secret must be before its verdict counts.
const SECRET_EVENT_SETTLE_SECS: i64 = 5;

fn age_secs(pod: &Pod) -> i64 {
    pod.creation_timestamp().map_or(i64::MAX, |t| {
        k8s_openapi::jiff::Timestamp::now().as_second() - t.0.as_second()
    })
}

/// Deletes the inspect pods of `image`'s rounds before `round`: a round abandoned for a new one
/// (a spec change while its source was being pulled) has no use for them.
pub async fn discard_earlier_rounds(ctx: &Context, image: &NotebookImage, round: i64) {
    let pods: Api<Pod> =
        Api::namespaced(ctx.client.clone(), &image.namespace().unwrap_or_default());
    let selector = format!(
        "{}={},{}=inspect,{}!={round}",
        labels::IMAGE_LABEL,
        image.name_any(),
        labels::COMPONENT_LABEL,
        labels::ROUND_LABEL
    );
    match pods.list(&ListParams::default().labels(&selector)).await {
        Ok(list) => {
            for pod in list {
                discard(&pods, &pod.name_any()).await;
            }
        }
        Err(e) => {
            tracing::debug!(error = %e, "could not list the inspect pods of earlier rounds; they go with their owner");
        }
    }
}

/// Deletes a finished inspect pod: what it said is in status now.
async fn discard(pods: &Api<Pod>, name: &str) {
    if let Err(e) = pods.delete(name, &DeleteParams::background()).await {
        tracing::debug!(pod = name, error = %e, "could not delete the inspect pod; it goes with its owner");
    }
}

/// `reference` (by tag or digest) pinned to `digest`.
pub fn pin(reference: &str, digest: &str) -> String {
    format!("{}@{digest}", ImageReference::parse(reference).repository)
}

/// Reads the pod: `None` while it has not finished.
fn read(pod: &Pod, look: &Look<'_>) -> Option<Result<Inspected, Refusal>> {
    if let Some((reason, message)) = outcome::stuck(pod) {
        return Some(Err(Refusal {
            reason,
            message: format!("cannot pull {}: {message}", look.image),
        }));
    }
    let status = pod.status.as_ref()?;
    let phase = status.phase.as_deref().unwrap_or("Pending");
    if !matches!(phase, "Succeeded" | "Failed") {
        return None;
    }
    let container = status.container_statuses.iter().flatten().next();
    let digest = container
        .and_then(|c| c.image_id.split_once("@sha256:"))
        .map(|(_, hex)| format!("sha256:{hex}"));
    let Some(digest) = digest else {
        let reason = status.reason.as_deref().unwrap_or("no digest reported");
        return Some(Err(Refusal {
            reason: Reason::ImagePullFailed,
            message: format!(
                "{} was not pulled from a registry, so it has no digest to pin ({reason}); name an image in a registry",
                look.image
            ),
        }));
    };
    let pinned = pin(look.image, &digest);
    if !look.software {
        return Some(Ok(Inspected {
            digest,
            pinned,
            software: None,
        }));
    }
    let terminated = container
        .and_then(|c| c.state.as_ref())
        .and_then(|s| s.terminated.as_ref());
    let exit = terminated.map_or(-1, |t| t.exit_code);
    let message = terminated.and_then(|t| t.message.as_deref()).unwrap_or("");
    let report = (exit == 0)
        .then(|| serde_json::from_str::<Report>(message).ok())
        .flatten();
    Some(match report {
        Some(report) => Ok(Inspected {
            digest,
            pinned,
            software: Some(ImageSoftware {
                python: report.python,
                package_count: report.count,
                packages: report
                    .packages
                    .into_iter()
                    .take(MAX_PACKAGES)
                    .map(|(name, version)| Package { name, version })
                    .collect(),
            }),
        }),
        None => Err(Refusal {
            reason: Reason::InvalidNotebook,
            message: format!(
                "{} cannot run python3 (exit code {exit}{}): a notebook image needs Python with Jupyter's kernel",
                look.image,
                terminated
                    .and_then(|t| t.reason.as_deref())
                    .map(|r| format!(", {r}"))
                    .unwrap_or_default()
            ),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> NotebookImage {
        serde_yaml_ng::from_str(
            "apiVersion: mlops.redhat.com/v1alpha1\nkind: NotebookImage\nmetadata: { name: img, namespace: ns, uid: u1 }\nspec:\n  buildType: ImageImport\n  fromImage: reg.local/nb:1\n  imagePullSecret: pull\n  validationNotebooks: [{ notebook: { git: { url: 'https://h/r.git' }, path: a.ipynb } }]\n",
        )
        .expect("image")
    }

    fn look() -> Look<'static> {
        Look {
            pod: "img-r1-source",
            image: "reg.local/nb:1",
            round: 1,
            pull_secret: Some("pull"),
            software: true,
        }
    }

    #[test]
    fn the_inspect_pod_renders() {
        insta::assert_yaml_snapshot!(render(&image(), &look()));
    }

    fn finished(image_id: &str, exit: i32, message: &str) -> Pod {
        serde_json::from_value(serde_json::json!({
            "status": {
                "phase": if exit == 0 { "Succeeded" } else { "Failed" },
                "containerStatuses": [{
                    "name": "inspect", "image": "reg.local/nb:1", "imageID": image_id,
                    "ready": false, "restartCount": 0,
                    "state": {"terminated": {"exitCode": exit, "message": message}}
                }]
            }
        }))
        .expect("pod")
    }

    #[test]
    fn the_digest_pins_the_image_and_the_report_lists_its_software() {
        let pod = finished(
            "reg.local/nb@sha256:0123",
            0,
            r#"{"python":"3.11.2","count":3,"packages":[["nbformat","5.10.4"],["pandas","2.2.0"]]}"#,
        );
        let found = read(&pod, &look()).expect("finished").expect("inspected");
        assert_eq!(found.digest, "sha256:0123");
        assert_eq!(found.pinned, "reg.local/nb@sha256:0123");
        let software = found.software.expect("software");
        assert_eq!(software.python, "3.11.2");
        assert_eq!(software.package_count, 3);
        assert_eq!(software.packages[1].name, "pandas");
    }

    #[test]
    fn an_image_without_python_or_digest_is_refused_with_why() {
        let no_python = finished("reg.local/nb@sha256:0123", 127, "");
        let refusal = read(&no_python, &look())
            .expect("finished")
            .expect_err("refused");
        assert!(
            refusal
                .message
                .contains("cannot run python3 (exit code 127"),
            "{}",
            refusal.message
        );
        let only_digest = Look {
            software: false,
            ..look()
        };
        assert!(read(&no_python, &only_digest).expect("finished").is_ok());
        let local = finished("sha256:feed", 0, "{}");
        let refusal = read(&local, &look())
            .expect("finished")
            .expect_err("refused");
        assert_eq!(refusal.reason, Reason::ImagePullFailed);
    }

    #[test]
    fn the_program_reports_this_python_within_the_termination_message() {
        let out = std::env::temp_dir().join(format!("nbv-inspect-{}", std::process::id()));
        let status = std::process::Command::new("python3")
            .args(["-c", &program()])
            .arg(&out)
            .status()
            .expect("python3 runs");
        assert!(status.success());
        let written = std::fs::read_to_string(&out).expect("report written");
        let _ = std::fs::remove_file(&out);
        assert!(written.len() <= MESSAGE_BUDGET, "{} bytes", written.len());
        let report: Report = serde_json::from_str(&written).expect("report parses");
        assert!(report.python.starts_with("3."), "{}", report.python);
        assert!(report.packages.len() <= usize::try_from(report.count).expect("count"));
    }
}
