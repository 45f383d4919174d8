//! Counts the operator's API requests by verb, resource and the job they concern, as a tower
//! layer around its `kube::Client`: the operator's metrics have no client request counters, and
//! the API server's `apiserver_request_total` is not labelled by client.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures::FutureExt;
use http::{Method, Request};
use kube::client::Body;
use serde::{Deserialize, Serialize};

/// One kind of request.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub(crate) struct Call {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`, or
    /// `discovery` for API discovery and `/version`.
    pub(crate) verb: String,
    /// The resource, with the subresource after a slash (`notebookvalidationjobs/status`).
    pub(crate) resource: String,
    /// The benchmark job class (the job name's prefix, e.g. `pre` or `s2i`) of the object, or
    /// `shared` for requests about no one job (lists, watches, discovery).
    pub(crate) class: String,
}

impl Call {
    /// Whether the request changes state.
    pub(crate) fn is_write(&self) -> bool {
        matches!(
            self.verb.as_str(),
            "create" | "update" | "patch" | "delete" | "deletecollection"
        )
    }
}

/// What the counting layer saw.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Tally {
    /// Requests of each kind.
    pub(crate) calls: Vec<(Call, u64)>,
    /// Writes about each job, by job name.
    pub(crate) writes_by_job: BTreeMap<String, u64>,
}

#[derive(Debug, Default)]
struct Inner {
    calls: HashMap<Call, u64>,
    writes_by_job: HashMap<String, u64>,
}

/// Shared counters; clones count into the same ones.
#[derive(Debug, Clone, Default)]
pub(crate) struct Counts(Arc<Mutex<Inner>>);

impl Counts {
    fn record(&self, call: Call, job: Option<String>) {
        if let Ok(mut inner) = self.0.lock() {
            if call.is_write()
                && let Some(job) = job
            {
                *inner.writes_by_job.entry(job).or_default() += 1;
            }
            *inner.calls.entry(call).or_default() += 1;
        }
    }

    /// A copy of the counters.
    pub(crate) fn tally(&self) -> Tally {
        let Ok(inner) = self.0.lock() else {
            return Tally::default();
        };
        let mut calls: Vec<(Call, u64)> =
            inner.calls.iter().map(|(c, n)| (c.clone(), *n)).collect();
        calls.sort();
        Tally {
            calls,
            writes_by_job: inner
                .writes_by_job
                .iter()
                .map(|(j, n)| (j.clone(), *n))
                .collect(),
        }
    }
}

/// The layer to pass to `kube::client::ClientBuilder::with_layer`.
#[derive(Debug, Clone)]
pub(crate) struct CountingLayer {
    pub(crate) counts: Counts,
    /// Job name prefixes the benchmark uses (`pre`, `s2i`).
    pub(crate) classes: Arc<[String]>,
}

impl<S> tower::Layer<S> for CountingLayer {
    type Service = Counting<S>;

    fn layer(&self, inner: S) -> Counting<S> {
        Counting {
            inner,
            layer: self.clone(),
        }
    }
}

/// The counting service.
#[derive(Debug, Clone)]
pub(crate) struct Counting<S> {
    inner: S,
    layer: CountingLayer,
}

impl<S> tower::Service<Request<Body>> for Counting<S>
where
    S: tower::Service<Request<Body>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> S::Future {
        // A create names its object in the body only; kube sends bodies as one buffer, which
        // clones without copying and reads without waiting.
        let created = (request.method() == Method::POST)
            .then(|| request.body().try_clone())
            .flatten()
            .and_then(|body| body.collect_bytes().now_or_never())
            .and_then(Result::ok)
            .and_then(|bytes| object_name(&bytes));
        let (call, name) = classify(
            request.method(),
            request.uri().path(),
            request.uri().query().unwrap_or_default(),
        );
        let job = name
            .or(created)
            .and_then(|n| job_of(&n, &self.layer.classes));
        let call = Call {
            class: job
                .as_deref()
                .and_then(|j| j.split_once('-'))
                .map_or("shared", |(class, _)| class)
                .to_owned(),
            ..call
        };
        self.layer.counts.record(call, job);
        self.inner.call(request)
    }
}

/// `metadata.name` of a JSON object.
fn object_name(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Named {
        metadata: Meta,
    }
    #[derive(Deserialize)]
    struct Meta {
        name: Option<String>,
    }
    serde_json::from_slice::<Named>(body).ok()?.metadata.name
}

/// The verb and resource of a request to the API server, and the object name in its path. The
/// returned call's class is left empty.
pub(crate) fn classify(method: &Method, path: &str, query: &str) -> (Call, Option<String>) {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    // /api/v1/... and /apis/<group>/<version>/...; anything shorter is discovery.
    let rest = match segments.first() {
        Some(&"api") if segments.len() > 2 => &segments[2..],
        Some(&"apis") if segments.len() > 3 => &segments[3..],
        _ => &[][..],
    };
    let call = |verb: &str, resource: String| Call {
        verb: verb.to_owned(),
        resource,
        class: String::new(),
    };
    let (resource, name, sub) = match rest {
        ["namespaces", _, resource, tail @ ..] => (*resource, tail.first(), tail.get(1)),
        [resource, tail @ ..] => (*resource, tail.first(), tail.get(1)),
        [] => return (call("discovery", path.to_owned()), None),
    };
    let resource = match sub {
        Some(sub) => format!("{resource}/{sub}"),
        None => resource.to_owned(),
    };
    let watching = query
        .split('&')
        .any(|pair| pair == "watch=true" || pair == "watch=1");
    let verb = match (method, name.is_some()) {
        (&Method::GET, true) => "get",
        (&Method::GET, false) if watching => "watch",
        (&Method::GET, false) => "list",
        (&Method::POST, _) => "create",
        (&Method::PUT, _) => "update",
        (&Method::PATCH, _) => "patch",
        (&Method::DELETE, true) => "delete",
        (&Method::DELETE, false) => "deletecollection",
        _ => "other",
    };
    (call(verb, resource), name.map(|n| (*n).to_owned()))
}

/// The benchmark job an object belongs to, from its name: `pre-00042` for the job itself,
/// `pre-00042-validation`, `s2i-00042-build` or the Event `s2i-00042.18a3f…`.
pub(crate) fn job_of(name: &str, classes: &[String]) -> Option<String> {
    let (class, rest) = name.split_once('-')?;
    if !classes.iter().any(|c| c == class) {
        return None;
    }
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    (digits > 0).then(|| format!("{class}-{}", &rest[..digits]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes() -> Vec<String> {
        vec!["pre".into(), "s2i".into()]
    }

    fn verb_resource(method: Method, path: &str, query: &str) -> (String, String, Option<String>) {
        let (call, name) = classify(&method, path, query);
        (call.verb, call.resource, name)
    }

    #[test]
    fn requests_are_classified_by_verb_and_resource() {
        let ns = "/api/v1/namespaces/bench";
        let jobs = "/apis/mlops.redhat.com/v1alpha1/namespaces/bench/notebookvalidationjobs";
        let cases = [
            (
                Method::GET,
                format!("{ns}/pods/pre-00001-validation"),
                "",
                ("get", "pods", Some("pre-00001-validation")),
            ),
            (
                Method::POST,
                format!("{ns}/pods"),
                "",
                ("create", "pods", None),
            ),
            (
                Method::GET,
                format!("{ns}/pods"),
                "labelSelector=x&watch=true&timeoutSeconds=290",
                ("watch", "pods", None),
            ),
            (
                Method::GET,
                format!("{ns}/pods"),
                "limit=500",
                ("list", "pods", None),
            ),
            (
                Method::PATCH,
                format!("{jobs}/pre-00001/status"),
                "fieldManager=x&force=true",
                ("patch", "notebookvalidationjobs/status", Some("pre-00001")),
            ),
            (
                Method::PATCH,
                format!("{jobs}/s2i-00002"),
                "",
                ("patch", "notebookvalidationjobs", Some("s2i-00002")),
            ),
            (
                Method::GET,
                "/apis/build.openshift.io/v1".to_owned(),
                "",
                ("discovery", "/apis/build.openshift.io/v1", None),
            ),
            (
                Method::GET,
                "/apis/apiextensions.k8s.io/v1/customresourcedefinitions".to_owned(),
                "",
                ("list", "customresourcedefinitions", None),
            ),
        ];
        for (method, path, query, (verb, resource, name)) in cases {
            assert_eq!(
                verb_resource(method, &path, query),
                (
                    verb.to_owned(),
                    resource.to_owned(),
                    name.map(str::to_owned)
                ),
                "{path}?{query}"
            );
        }
    }

    #[test]
    fn objects_are_traced_back_to_their_job() {
        let classes = classes();
        assert_eq!(job_of("pre-00042", &classes).as_deref(), Some("pre-00042"));
        assert_eq!(
            job_of("pre-00042-validation", &classes).as_deref(),
            Some("pre-00042")
        );
        assert_eq!(
            job_of("s2i-00007-build", &classes).as_deref(),
            Some("s2i-00007")
        );
        assert_eq!(
            job_of("s2i-00007.18a3f0c2", &classes).as_deref(),
            Some("s2i-00007")
        );
        assert_eq!(job_of("kube-root-ca.crt", &classes), None);
        assert_eq!(job_of("pre-x", &classes), None);
        assert_eq!(
            object_name(br#"{"metadata":{"name":"s2i-00001.abc"},"reason":"BuildStarted"}"#)
                .as_deref(),
            Some("s2i-00001.abc")
        );
    }
}
