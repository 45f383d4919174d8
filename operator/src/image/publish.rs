//! Publishing a validated image, the round's last step: always its digest-pinned reference in status; on OpenShift an
//! ImageStream tag carrying the dashboard's annotations; optionally a ConfigMap catalogue for
//! dashboards on plain Kubernetes.
//!
//! Both are written with server-side apply under a field manager of the image's own, so images
//! sharing a stream or a catalogue each own only their tags or their key, and an image going
//! away takes back only what it wrote.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::ResourceExt;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use serde_json::{Value, json};

use kube::runtime::events::EventType;

use super::round::Update;
use crate::crd::conditions::PUBLISHED;
use crate::crd::image::{ImageSoftware, NotebookImage, Published};
use crate::labels;
use crate::reason::Reason;
use crate::steps::{Context, Error};

/// Publishes the validated `pinned` image and ends the round as succeeded.
pub(super) async fn run(
    ctx: &Context,
    image: &NotebookImage,
    update: &mut Update,
    pinned: &str,
) -> Result<(), Error> {
    let round = update.status.round.unwrap_or(1);
    let previous = update.status.published.clone();
    let mut published = Published {
        image: pinned.to_owned(),
        round,
        generation: image.metadata.generation.unwrap_or_default(),
        source_digest: update.status.source_digest.clone(),
        image_stream_tag: None,
        config_map: None,
        time: update.now().clone(),
    };
    let settings = image.spec.publish.clone().unwrap_or_default();
    let mut places = vec![format!("{pinned} in status")];
    match image_streams(ctx).await {
        Some(api_resource) => {
            let stream = settings.image_stream.unwrap_or_else(|| image.name_any());
            let (software, dependencies) = software_lists(update.status.software.as_ref());
            let kept = match &previous {
                Some(p) => Some((
                    p,
                    tag_annotations(
                        &ctx.client,
                        &api_resource,
                        image,
                        &stream,
                        &tag_name(p.round),
                    )
                    .await?,
                )),
                None => None,
            };
            let document = image_stream(image, &stream, &published, kept, &software, &dependencies);
            apply_image_stream(&ctx.client, &api_resource, image, &document).await?;
            let tag = format!("{stream}:{}", tag_name(round));
            places.push(format!("ImageStream tag {tag}"));
            published.image_stream_tag = Some(tag);
        }
        None if settings.image_stream.is_some() => places.push(
            "not as an ImageStream tag: ImageStreams are not served on this cluster".to_owned(),
        ),
        None => {}
    }
    if let Some(name) = &settings.config_map {
        let entry = catalogue_entry(image, &published);
        apply_catalogue(&ctx.client, image, name, Some(entry)).await?;
        places.push(format!("ConfigMap {name}"));
        published.config_map = Some(name.clone());
    }
    let message = format!("validated and published: {}", places.join(", "));
    update.status.published = Some(published);
    update.condition(PUBLISHED, true, Reason::Published, message.clone());
    update.succeed(message.clone());
    ctx.event(image, EventType::Normal, Reason::Published, &message)
        .await;
    Ok(())
}

/// The ImageStream API, when this cluster serves it (OpenShift).
async fn image_streams(ctx: &Context) -> Option<kube::core::ApiResource> {
    kube::discovery::oneshot::pinned_kind(&ctx.client, &image_stream_kind())
        .await
        .ok()
        .map(|(api_resource, _)| api_resource)
}

/// The ImageStream kind, served only on OpenShift.
pub fn image_stream_kind() -> GroupVersionKind {
    GroupVersionKind::gvk("image.openshift.io", "v1", "ImageStream")
}

/// The field manager of what `image` publishes.
pub fn field_manager(image: &NotebookImage) -> String {
    // Field managers are at most 128 bytes; uids are 36.
    format!(
        "nbv-operator/notebookimage/{}",
        image.uid().unwrap_or_default()
    )
}

/// The annotations the dashboard reads an ImageStream's name, description, creator and order
/// from.
fn dashboard_annotations(image: &NotebookImage) -> BTreeMap<String, String> {
    let display = image.spec.display.clone().unwrap_or_default();
    let mut annotations = BTreeMap::new();
    let mut put = |key: &str, value: Option<String>| {
        if let Some(value) = value {
            annotations.insert(format!("opendatahub.io/{key}"), value);
        }
    };
    put(
        "notebook-image-name",
        display.name.or_else(|| Some(image.name_any())),
    );
    put("notebook-image-desc", display.description);
    put("notebook-image-creator", display.creator);
    put("notebook-image-order", display.order.map(|o| o.to_string()));
    annotations
}

/// The ImageStream `stream` with `image`'s tags: the newly validated one (`published`) and the
/// one it replaces (`previous`, with the annotations its tag has now), so users on the earlier
/// image keep it.
pub fn image_stream(
    image: &NotebookImage,
    stream: &str,
    published: &Published,
    previous: Option<(&Published, Value)>,
    software: &[Value],
    dependencies: &[Value],
) -> Value {
    let display = image.spec.display.clone().unwrap_or_default();
    let annotations = dashboard_annotations(image);
    let tag = |p: &Published, kept: Option<Value>| {
        let mut tag_annotations: BTreeMap<String, String> = kept
            .and_then(|k| serde_json::from_value(k).ok())
            .unwrap_or_default();
        tag_annotations.insert(
            "mlops.redhat.com/validated-round".to_owned(),
            p.round.to_string(),
        );
        if p.round == published.round {
            tag_annotations.insert(
                "opendatahub.io/notebook-software".to_owned(),
                Value::from(software.to_vec()).to_string(),
            );
            tag_annotations.insert(
                "opendatahub.io/notebook-python-dependencies".to_owned(),
                Value::from(dependencies.to_vec()).to_string(),
            );
            if let Some(recommended) = display.recommended {
                tag_annotations.insert(
                    "opendatahub.io/workbench-image-recommended".to_owned(),
                    recommended.to_string(),
                );
            }
        }
        json!({
            "name": tag_name(p.round),
            "annotations": tag_annotations,
            "from": {"kind": "DockerImage", "name": p.image},
            "referencePolicy": {"type": "Source"},
        })
    };
    let mut tags = vec![tag(published, None)];
    if let Some((previous, annotations)) = previous.filter(|(p, _)| p.round != published.round) {
        tags.push(tag(previous, Some(annotations)));
    }
    json!({
        "apiVersion": "image.openshift.io/v1",
        "kind": "ImageStream",
        "metadata": {
            "name": stream,
            "namespace": image.namespace(),
            "labels": {
                "app.kubernetes.io/managed-by": "nbv-operator",
                "app.kubernetes.io/created-by": "nbv-operator",
                "opendatahub.io/notebook-image": "true",
                labels::IMAGE_LABEL: image.name_any(),
            },
            "annotations": annotations,
            "ownerReferences": [{
                "apiVersion": "mlops.redhat.com/v1alpha1",
                "kind": "NotebookImage",
                "name": image.name_any(),
                "uid": image.uid().unwrap_or_default(),
            }],
        },
        "spec": {
            "lookupPolicy": {"local": true},
            "tags": tags,
        },
    })
}

/// The tag a round is published as.
pub fn tag_name(round: i64) -> String {
    format!("r{round}")
}

/// The dashboard's `notebook-software` and `notebook-python-dependencies` lists.
pub fn software_lists(software: Option<&ImageSoftware>) -> (Vec<Value>, Vec<Value>) {
    let Some(software) = software else {
        return (Vec::new(), Vec::new());
    };
    let python = json!({"name": "Python", "version": format!("v{}", software.python)});
    let dependencies = software
        .packages
        .iter()
        .map(|p| json!({"name": p.name, "version": p.version}))
        .collect();
    (vec![python], dependencies)
}

/// The annotations of tag `tag` of the ImageStream `stream`, as they are now (`null` when
/// there is none).
pub async fn tag_annotations(
    client: &kube::Client,
    api_resource: &ApiResource,
    image: &NotebookImage,
    stream: &str,
    tag: &str,
) -> Result<Value, Error> {
    let api: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &image.namespace().unwrap_or_default(),
        api_resource,
    );
    let current = api.get_opt(stream).await.map_err(|source| Error::Kube {
        action: "reading the ImageStream",
        source,
    })?;
    Ok(current
        .and_then(|s| {
            s.data["spec"]["tags"]
                .as_array()?
                .iter()
                .find(|t| t["name"] == tag)
                .map(|t| t["annotations"].clone())
        })
        .unwrap_or(Value::Null))
}

/// Applies `stream` (an ImageStream document) for `image`.
pub async fn apply_image_stream(
    client: &kube::Client,
    api_resource: &ApiResource,
    image: &NotebookImage,
    stream: &Value,
) -> Result<(), Error> {
    let api: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &image.namespace().unwrap_or_default(),
        api_resource,
    );
    let name = stream["metadata"]["name"].as_str().unwrap_or_default();
    api.patch(
        name,
        &PatchParams::apply(&field_manager(image)).force(),
        &Patch::Apply(stream),
    )
    .await
    .map(|_| ())
    .map_err(|source| Error::Kube {
        action: "publishing the ImageStream tag",
        source,
    })
}

/// The catalogue entry of `image`: what a dashboard needs to offer it.
pub fn catalogue_entry(image: &NotebookImage, published: &Published) -> String {
    let display = image.spec.display.clone().unwrap_or_default();
    json!({
        "image": published.image,
        "name": display.name.unwrap_or_else(|| image.name_any()),
        "description": display.description,
        "creator": display.creator,
        "order": display.order,
        "recommended": display.recommended,
        "round": published.round,
        "sourceDigest": published.source_digest,
    })
    .to_string()
}

/// Writes `entry` as `image`'s key in the ConfigMap `name`, or with `None` takes the key back.
pub async fn apply_catalogue(
    client: &kube::Client,
    image: &NotebookImage,
    name: &str,
    entry: Option<String>,
) -> Result<(), Error> {
    let api: Api<ConfigMap> =
        Api::namespaced(client.clone(), &image.namespace().unwrap_or_default());
    let taking_back = entry.is_none();
    if taking_back {
        let exists = api.get_opt(name).await.map_err(|source| Error::Kube {
            action: "reading the image catalogue ConfigMap",
            source,
        })?;
        if exists.is_none() {
            return Ok(());
        }
    }
    let data: BTreeMap<String, String> = entry
        .map(|e| BTreeMap::from([(image.name_any(), e)]))
        .unwrap_or_default();
    let patch = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "labels": {"app.kubernetes.io/managed-by": "nbv-operator"},
        },
        "data": data,
    });
    api.patch(
        name,
        &PatchParams::apply(&field_manager(image)).force(),
        &Patch::Apply(&patch),
    )
    .await
    .map(|_| ())
    .map_err(|source| Error::Kube {
        action: "writing the image catalogue ConfigMap",
        source,
    })
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;

    use super::*;
    use crate::crd::image::Package;

    fn image() -> NotebookImage {
        serde_yaml_ng::from_str(
            "apiVersion: mlops.redhat.com/v1alpha1\nkind: NotebookImage\nmetadata: { name: datasci, namespace: team-a, uid: 0b5c }\nspec:\n  buildType: ImageImport\n  fromImage: reg.local/nb:1\n  display: { name: Data science, description: pandas and friends, creator: team-a, order: 3, recommended: true }\n  validationNotebooks: [{ notebook: { git: { url: 'https://h/r.git' }, path: a.ipynb } }]\n",
        )
        .expect("image")
    }

    fn published(round: i64) -> Published {
        Published {
            image: format!("reg.local/nb@sha256:{round:064}"),
            round,
            generation: round,
            source_digest: Some(format!("sha256:{round:064}")),
            image_stream_tag: None,
            config_map: None,
            time: Time(Timestamp::UNIX_EPOCH),
        }
    }

    #[test]
    fn the_image_stream_carries_the_new_tag_the_previous_one_and_the_dashboards_annotations() {
        let software = ImageSoftware {
            python: "3.11.2".into(),
            packages: vec![Package {
                name: "pandas".into(),
                version: "2.2.0".into(),
            }],
            package_count: 1,
        };
        let (software, dependencies) = software_lists(Some(&software));
        let stream = image_stream(
            &image(),
            "datasci",
            &published(2),
            Some((
                &published(1),
                json!({"opendatahub.io/notebook-software": "[{\"name\":\"Python\",\"version\":\"v3.11.1\"}]"}),
            )),
            &software,
            &dependencies,
        );
        insta::assert_yaml_snapshot!(stream);
    }

    #[test]
    fn the_catalogue_entry_names_the_pinned_image_and_the_display_metadata() {
        let entry: Value =
            serde_json::from_str(&catalogue_entry(&image(), &published(1))).expect("JSON");
        insta::assert_yaml_snapshot!(entry);
    }
}
