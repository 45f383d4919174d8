//! Rendered Kubernetes objects and the calls that apply, read and delete them.

use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind, ObjectMeta};
use kube::{Client, ResourceExt};
use serde::Serialize;
use serde_json::Value;

use crate::BuildRequest;

/// The field manager under which strategies apply their objects (server-side apply).
pub const FIELD_MANAGER: &str = "nbv-operator";

/// The largest object sent to the API server, as JSON: etcd's default request limit (1.5 MiB),
/// below the API server's own 3 MiB. An object over it is refused before sending, with a message,
/// instead of failing in storage on every retry.
pub const MAX_OBJECT_BYTES: usize = 1536 * 1024;

/// The size of `object` as JSON when it is over [`MAX_OBJECT_BYTES`], `None` when it fits.
pub fn oversized(object: &impl Serialize) -> Option<usize> {
    let bytes = serde_json::to_vec(object).map_or(usize::MAX, |json| json.len());
    (bytes > MAX_OBJECT_BYTES).then_some(bytes)
}

/// One object a strategy creates, with the API resource it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedObject {
    /// Group, version, kind and plural of the object.
    pub api: ApiResource,
    /// The object itself, with `apiVersion`, `kind` and metadata set.
    pub object: DynamicObject,
}

impl RenderedObject {
    /// An object of kind `api` named `name` in the request's namespace, carrying the request's
    /// labels and owner reference, with `body` (its `spec`, `data`, ...) as the remaining fields.
    pub fn for_request(
        api: ApiResource,
        name: impl Into<String>,
        request: &BuildRequest,
        body: Value,
    ) -> Self {
        let metadata = ObjectMeta {
            name: Some(name.into()),
            namespace: Some(request.namespace.clone()),
            labels: (!request.labels.is_empty()).then(|| request.labels.clone()),
            owner_references: request.owner.clone().map(|owner| vec![owner]),
            ..ObjectMeta::default()
        };
        let mut object = DynamicObject::new("", &api).data(body);
        object.metadata = metadata;
        Self { api, object }
    }

    /// The object's name.
    pub fn name(&self) -> &str {
        self.object.metadata.name.as_deref().unwrap_or_default()
    }

    /// The object's namespace.
    pub fn namespace(&self) -> &str {
        self.object
            .metadata
            .namespace
            .as_deref()
            .unwrap_or_default()
    }
}

impl Serialize for RenderedObject {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.object.serialize(serializer)
    }
}

/// Everything a strategy creates for one build, in apply order, and which object tells the
/// build's status.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RenderedBuild {
    objects: Vec<RenderedObject>,
    #[serde(skip)]
    primary: usize,
}

impl RenderedBuild {
    /// A build made of `supporting` objects applied first, then `primary`, whose status is the
    /// build's.
    pub fn new(supporting: Vec<RenderedObject>, primary: RenderedObject) -> Self {
        let mut objects = supporting;
        objects.push(primary);
        let primary = objects.len() - 1;
        Self { objects, primary }
    }

    /// The objects, in apply order.
    pub fn objects(&self) -> &[RenderedObject] {
        &self.objects
    }

    /// The object whose status is the build's.
    pub fn primary(&self) -> &RenderedObject {
        &self.objects[self.primary]
    }
}

/// A prerequisite a strategy needs in the cluster, applied in order before the first build.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SetupStep {
    /// What the step ensures, for logs and status ("Tekton Task nbv-buildah").
    pub description: String,
    /// The object applied.
    pub object: RenderedObject,
}

impl SetupStep {
    /// A step applying `object`.
    pub fn new(description: impl Into<String>, object: RenderedObject) -> Self {
        Self {
            description: description.into(),
            object,
        }
    }
}

fn api_for(client: &Client, object: &RenderedObject) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), object.namespace(), &object.api)
}

/// Server-side applies `object` under [`FIELD_MANAGER`]; applying it again changes nothing.
pub async fn apply(client: &Client, object: &RenderedObject) -> Result<DynamicObject, kube::Error> {
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api_for(client, object)
        .patch(object.name(), &params, &Patch::Apply(&object.object))
        .await
}

/// Reads `object` back from the cluster, `None` when it does not exist.
pub async fn get(
    client: &Client,
    object: &RenderedObject,
) -> Result<Option<DynamicObject>, kube::Error> {
    api_for(client, object).get_opt(object.name()).await
}

/// Deletes `object` in the background; an object already gone is not an error.
pub async fn delete(client: &Client, object: &RenderedObject) -> Result<(), kube::Error> {
    match api_for(client, object)
        .delete(object.name(), &DeleteParams::background())
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Whether the API server serves `gvk` (through a CRD or an aggregated API).
pub async fn kind_is_served(client: &Client, gvk: &GroupVersionKind) -> Result<bool, kube::Error> {
    match kube::discovery::oneshot::pinned_kind(client, gvk).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
        Err(kube::Error::Discovery(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Reads a field of a dynamic object by JSON pointer (`/status/phase`).
pub fn field<'a>(object: &'a DynamicObject, pointer: &str) -> Option<&'a Value> {
    object.data.pointer(pointer)
}

/// Reads a string field of a dynamic object by JSON pointer.
pub fn str_field<'a>(object: &'a DynamicObject, pointer: &str) -> Option<&'a str> {
    field(object, pointer).and_then(Value::as_str)
}

/// The object's name, for messages.
pub fn display_name(object: &DynamicObject) -> String {
    object.name_any()
}

/// Reads an RFC 3339 timestamp field of a dynamic object by JSON pointer.
pub fn time_field(
    object: &DynamicObject,
    pointer: &str,
) -> Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time> {
    field(object, pointer).and_then(|value| serde_json::from_value(value.clone()).ok())
}

/// The condition of `type_` in `/status/conditions`, if the backend wrote one.
pub fn condition<'a>(object: &'a DynamicObject, type_: &str) -> Option<&'a Value> {
    field(object, "/status/conditions")
        .and_then(Value::as_array)
        .and_then(|conditions| conditions.iter().find(|c| c["type"] == type_))
}
