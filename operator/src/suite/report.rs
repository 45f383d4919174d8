//! A run's report for CI systems: one JUnit document for the whole suite, one test suite per
//! matrix image and one test case per cell, kept in a ConfigMap owned by the suite and, when
//! the job template names an artifacts claim, copied into it as `<suite>/g<generation>/junit.xml`.
//!
//! The document goes into the ConfigMap gzipped when it would not fit plainly (a large suite's
//! XML passes 1 MiB); a one-shot pod copies it into the claim, since only a pod mounts a claim.

use std::collections::BTreeMap;
use std::io::{self, Write as _};

use buildstrategy_api::naming::dns_label;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, PersistentVolumeClaimVolumeSource, Pod, PodSpec, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use nbv_report::xml_text;
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};

use super::summary::Observed;
use crate::crd::suite::{NotebookValidationSuite, SuiteReport};
use crate::crd::{ArtifactsLocation, Phase};
use crate::labels::{self, FIELD_MANAGER};
use crate::steps::git_clone::{env, mount};
use crate::steps::pod_lifecycle::{self, restricted};
use crate::steps::{Context, Error, Progress};

/// The key of the plain document in the ConfigMap.
pub const JUNIT_KEY: &str = "junit.xml";
/// The key of the gzipped document, when the plain one would not fit.
pub const JUNIT_GZ_KEY: &str = "junit.xml.gz";
/// The largest plain document kept; a ConfigMap holds 1 MiB in all.
const PLAIN_LIMIT: usize = 900 * 1024;
/// Where the copy pod mounts the ConfigMap and the claim.
const REPORT_DIR: &str = "/report";
const ARTIFACTS_DIR: &str = "/artifacts";
/// Copies the document into the claim (gunzipping the large form); the directory comes as an
/// environment variable.
const COPY_SCRIPT: &str = r#"set -eu
mkdir -p -- "/artifacts/$NBV_REPORT_DIR"
if [ -f /report/junit.xml.gz ]; then
  gunzip -c /report/junit.xml.gz > "/artifacts/$NBV_REPORT_DIR/junit.xml"
else
  cp /report/junit.xml "/artifacts/$NBV_REPORT_DIR/junit.xml"
fi
"#;

/// The cell's test case name: the notebook, then the parameter set and the kernel.
fn case_name(o: &Observed<'_>) -> String {
    let axes: Vec<&str> = [o.key.parameter_set.as_deref(), o.key.kernel.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    if axes.is_empty() {
        o.key.notebook.clone()
    } else {
        format!("{} [{}]", o.key.notebook, axes.join(", "))
    }
}

/// The JUnit document of a run that ended.
pub fn junit(suite: &str, observed: &[Observed<'_>]) -> io::Result<String> {
    let mut by_image: BTreeMap<&str, Vec<&Observed<'_>>> = BTreeMap::new();
    for o in observed {
        by_image
            .entry(o.key.image.as_deref().unwrap_or("default"))
            .or_default()
            .push(o);
    }
    let failed = |o: &&Observed<'_>| {
        o.job.and_then(|j| j.status.as_ref()).and_then(|s| s.phase) != Some(Phase::Succeeded)
    };
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let total = observed.len().to_string();
    let failures = observed.iter().filter(|o| failed(o)).count().to_string();
    writer
        .create_element("testsuites")
        .with_attributes([
            ("name", xml_text(suite).as_str()),
            ("tests", total.as_str()),
            ("failures", failures.as_str()),
        ])
        .write_inner_content(|w| {
            for (image, cases) in &by_image {
                let tests = cases.len().to_string();
                let failures = cases.iter().filter(|o| failed(o)).count().to_string();
                w.create_element("testsuite")
                    .with_attributes([
                        ("name", xml_text(image).as_str()),
                        ("tests", tests.as_str()),
                        ("failures", failures.as_str()),
                        ("errors", "0"),
                        ("skipped", "0"),
                    ])
                    .write_inner_content(|w| {
                        for case in cases {
                            write_case(w, case, image)?;
                        }
                        Ok(())
                    })?;
            }
            Ok(())
        })?;
    let mut xml = String::from_utf8(writer.into_inner())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    xml.push('\n');
    Ok(xml)
}

fn write_case(w: &mut Writer<Vec<u8>>, o: &Observed<'_>, image: &str) -> io::Result<()> {
    let status = o.job.and_then(|j| j.status.as_ref());
    let name = case_name(o);
    let time = status
        .and_then(|s| s.duration_secs())
        .map(|s| format!("{s}.000"));
    let mut case = w.create_element("testcase").with_attributes([
        ("name", xml_text(&name).as_str()),
        ("classname", xml_text(image).as_str()),
    ]);
    if let Some(time) = &time {
        case = case.with_attribute(("time", time.as_str()));
    }
    if status.and_then(|s| s.phase) == Some(Phase::Succeeded) {
        return case.write_empty().map(drop);
    }
    let message = status
        .and_then(|s| s.message.clone())
        .unwrap_or_else(|| "the job did not end".to_owned());
    let cells = status.map(|s| s.failed_cells()).unwrap_or_default();
    let text = format!(
        "job {}{}",
        o.job_name,
        if cells.is_empty() {
            String::new()
        } else {
            let list: Vec<String> = cells.iter().map(ToString::to_string).collect();
            format!("; failed or differing cells: {}", list.join(", "))
        }
    );
    case.write_inner_content(|w| {
        w.create_element("failure")
            .with_attributes([
                ("type", "notebookFailed"),
                ("message", xml_text(&message).as_str()),
            ])
            .write_text_content(BytesText::new(&xml_text(&text)))?;
        Ok(())
    })
    .map(drop)
}

/// The report's ConfigMap: the plain document, or the gzipped one when it would not fit.
pub fn config_map(
    suite: &NotebookValidationSuite,
    generation: i64,
    xml: &str,
) -> io::Result<ConfigMap> {
    let (data, binary_data) = if xml.len() <= PLAIN_LIMIT {
        (
            Some(BTreeMap::from([(JUNIT_KEY.to_owned(), xml.to_owned())])),
            None,
        )
    } else {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(xml.as_bytes())?;
        let bytes = ByteString(gz.finish()?);
        (
            None,
            Some(BTreeMap::from([(JUNIT_GZ_KEY.to_owned(), bytes)])),
        )
    };
    Ok(ConfigMap {
        metadata: ObjectMeta {
            name: Some(config_map_name(suite)),
            namespace: suite.namespace(),
            labels: Some(labels::for_suite(suite, generation)),
            owner_references: Some(vec![labels::owner(suite)]),
            ..ObjectMeta::default()
        },
        data,
        binary_data,
        ..ConfigMap::default()
    })
}

/// The ConfigMap holding `suite`'s last report.
pub fn config_map_name(suite: &NotebookValidationSuite) -> String {
    dns_label(&[&suite.name_any(), "report"])
}

/// The directory of generation `generation`'s report in the claim.
pub fn artifacts_dir(suite: &NotebookValidationSuite, generation: i64) -> String {
    format!("{}/g{generation}", suite.name_any())
}

fn copy_pod_name(suite: &NotebookValidationSuite, generation: i64) -> String {
    dns_label(&[&suite.name_any(), &format!("g{generation}"), "report"])
}

/// Renders the pod copying the report into `claim`.
pub fn copy_pod(suite: &NotebookValidationSuite, generation: i64, claim: &str, image: &str) -> Pod {
    let container = k8s_openapi::api::core::v1::Container {
        name: "copy".into(),
        image: Some(image.to_owned()),
        command: Some(vec!["/bin/sh".into(), "-c".into(), COPY_SCRIPT.into()]),
        env: Some(vec![env(
            "NBV_REPORT_DIR",
            artifacts_dir(suite, generation),
        )]),
        volume_mounts: Some(vec![
            mount("report", REPORT_DIR, true),
            mount("artifacts", ARTIFACTS_DIR, false),
        ]),
        security_context: Some(restricted()),
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        ..Default::default()
    };
    let mut pod_labels = labels::for_suite(suite, generation);
    pod_labels.insert(labels::COMPONENT_LABEL.to_owned(), "report".to_owned());
    Pod {
        metadata: ObjectMeta {
            name: Some(copy_pod_name(suite, generation)),
            namespace: suite.namespace(),
            labels: Some(pod_labels),
            owner_references: Some(vec![labels::owner(suite)]),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            volumes: Some(vec![
                Volume {
                    name: "report".into(),
                    config_map: Some(ConfigMapVolumeSource {
                        name: config_map_name(suite),
                        ..ConfigMapVolumeSource::default()
                    }),
                    ..Volume::default()
                },
                Volume {
                    name: "artifacts".into(),
                    persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                        claim_name: claim.to_owned(),
                        read_only: None,
                    }),
                    ..Volume::default()
                },
            ]),
            ..pod_lifecycle::one_shot(120, vec![container])
        }),
        status: None,
    }
}

/// Writes the run's report: the ConfigMap, then the copy into the claim when the job template
/// names one. Waits for the copy, so that a suite that ended has its report where status says.
pub async fn publish(
    ctx: &Context,
    suite: &NotebookValidationSuite,
    generation: i64,
    observed: &[Observed<'_>],
) -> Result<Progress<SuiteReport>, Error> {
    let namespace = suite.namespace().unwrap_or_default();
    let xml = junit(&suite.name_any(), observed).map_err(Error::Report)?;
    let map = config_map(suite, generation, &xml).map_err(Error::Report)?;
    let gzipped = map.binary_data.is_some();
    Api::<ConfigMap>::namespaced(ctx.client.clone(), &namespace)
        .patch(
            &config_map_name(suite),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&map),
        )
        .await
        .map_err(Error::kube("writing the suite's report"))?;
    let mut report = SuiteReport {
        config_map: config_map_name(suite),
        key: if gzipped { JUNIT_GZ_KEY } else { JUNIT_KEY }.to_owned(),
        artifacts: None,
        message: None,
    };
    let Some(claim) = suite
        .spec
        .job_template
        .as_ref()
        .and_then(|t| t.artifacts.as_ref())
        .map(|a| a.claim_name.clone())
    else {
        return Ok(Progress::Done(report));
    };
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
    let name = copy_pod_name(suite, generation);
    let Some(pod) = ctx.find_pod(&pods, &name).await? else {
        let pod = copy_pod(suite, generation, &claim, &ctx.pod_settings.git_image);
        match pods.create(&PostParams::default(), &pod).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(Error::kube("creating the report's copy pod")(e)),
        }
        return Ok(Progress::Waiting(Some(pod_lifecycle::RECHECK)));
    };
    let status = pod.status.as_ref();
    let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("Pending");
    let stuck = crate::steps::outcome::stuck(&pod);
    if !matches!(phase, "Succeeded" | "Failed") && stuck.is_none() {
        return Ok(Progress::Waiting(Some(pod_lifecycle::RECHECK)));
    }
    if phase == "Succeeded" {
        report.artifacts = Some(ArtifactsLocation {
            claim_name: claim,
            path: format!("{}/junit.xml", artifacts_dir(suite, generation)),
        });
    } else {
        let said = stuck.map(|(_, m)| m).or_else(|| {
            status?
                .container_statuses
                .as_ref()?
                .first()?
                .state
                .as_ref()?
                .terminated
                .as_ref()?
                .message
                .clone()
        });
        report.message = Some(format!(
            "the report could not be copied into the claim {claim}: {}",
            said.unwrap_or_else(|| "no message".to_owned()).trim()
        ));
    }
    if let Err(e) = pods.delete(&name, &DeleteParams::background()).await {
        tracing::debug!(pod = name, error = %e, "could not delete the report's copy pod; it goes with its suite");
    }
    Ok(Progress::Done(report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::summary::tests::{job, key};

    fn suite() -> NotebookValidationSuite {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "mlops.redhat.com/v1alpha1",
            "kind": "NotebookValidationSuite",
            "metadata": {"name": "nightly", "namespace": "team", "uid": "u-1"},
            "spec": {
                "repository": {"url": "https://git.example/nb.git"},
                "notebooks": {"include": ["**/*.ipynb"]},
                "jobTemplate": {"artifacts": {"claimName": "results"}},
            },
        }))
        .expect("suite")
    }

    #[test]
    fn one_test_suite_per_image_and_a_failure_per_failed_cell() {
        let keys = [key("a.ipynb", "full"), key("a.ipynb", "slim")].map(|mut k| {
            k.parameter_set = Some("small".into());
            k
        });
        let (passed, failed) = (
            job(Phase::Succeeded, 12, vec![]),
            job(Phase::Failed, 3, vec![]),
        );
        let observed = [
            Observed {
                key: &keys[0],
                job_name: "j0",
                job: Some(&passed),
            },
            Observed {
                key: &keys[1],
                job_name: "j1",
                job: Some(&failed),
            },
        ];
        insta::assert_snapshot!(junit("nightly", &observed).expect("xml"));
    }

    #[test]
    fn a_report_too_large_for_a_plain_config_map_is_gzipped() {
        let suite = suite();
        let small = config_map(&suite, 2, "<testsuites/>").expect("map");
        assert!(small.data.is_some_and(|d| d.contains_key(JUNIT_KEY)));
        let large = "x".repeat(PLAIN_LIMIT + 1);
        let map = config_map(&suite, 2, &large).expect("map");
        let gz = map.binary_data.expect("binary")[JUNIT_GZ_KEY].0.clone();
        assert!(gz.len() < 10 * 1024, "{} bytes", gz.len());
        let mut plain = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(gz.as_slice()), &mut plain)
            .expect("gunzips");
        assert_eq!(plain, large);
    }

    #[test]
    fn the_copy_pod_is_restricted_and_writes_below_the_suites_directory() {
        insta::assert_yaml_snapshot!(copy_pod(
            &suite(),
            2,
            "results",
            "quay.example/nbv/operator:1"
        ));
    }
}
