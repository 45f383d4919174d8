//! Builds that fail for their registry login, told apart from builds that fail for their
//! content: a push secret that does not exist, or one the registry refuses, says so in the job's
//! status instead of a `BuildFailed` with a log to read.

use buildstrategy_api::{BuildRequest, ImageReference};
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;

use super::context::Context;
use super::pod_lifecycle;
use crate::reason::Reason;

/// Words registries and builders use when a login is missing or refused: the distribution
/// registry, Quay and Harbor answer 401 `UNAUTHORIZED`, Buildah and Kaniko print
/// `authentication required`, containerd `unauthorized`, and some answer `denied`.
const REFUSALS: [&str; 4] = [
    "unauthorized",
    "authentication required",
    "denied: requested access",
    "no basic auth credentials",
];

/// The reason and message for a failed build whose log shows a registry of the build (the
/// output's or the base image's) refusing its login; `None` when no log line says so. A line
/// must name that registry, so that a package index asking pip for a password is not taken for
/// the registry.
pub fn refused(logs_tail: &str, request: &BuildRequest) -> Option<(Reason, String)> {
    let registries: Vec<String> = [request.output_image.as_deref(), Some(&request.base_image)]
        .into_iter()
        .flatten()
        .map(|image| ImageReference::parse(image).registry().to_lowercase())
        .collect();
    let said = logs_tail.lines().find_map(|line| {
        let line = line.to_lowercase();
        let word = REFUSALS.iter().find(|word| line.contains(*word))?;
        registries
            .iter()
            .any(|r| line.contains(r.as_str()))
            .then_some(*word)
    })?;
    let image = request
        .output_image
        .as_deref()
        .unwrap_or("the output image");
    let message = match &request.push_secret {
        Some(secret) => format!(
            "the registry refused the build's login ({said}): buildConfig.pushSecret \"{secret}\" must hold a login that may push to {image} and pull its base image (a kubernetes.io/dockerconfigjson Secret, as `kubectl create secret docker-registry` makes)"
        ),
        None => format!(
            "the registry asks for a login ({said}) and the build has none: set buildConfig.pushSecret to a kubernetes.io/dockerconfigjson Secret that may push to {image} and pull its base image"
        ),
    };
    Some((Reason::RegistryLoginRefused, message))
}

/// The reason and message for a build pod that cannot start because a Secret it mounts does not
/// exist: the kubelet waits for it forever, and only its `FailedMount` events say why. Only
/// builds whose primary object is a pod of the build's name have such events to read.
pub async fn missing_secret(ctx: &Context, request: &BuildRequest) -> Option<(Reason, String)> {
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &request.namespace);
    let pod = pods.get_opt(&request.build_name).await.ok()??;
    let messages = pod_lifecycle::event_messages(&ctx.client, &pod, "FailedMount").await?;
    let named = |secret: Option<&'_ str>| -> Option<String> {
        secret.map(str::to_owned).filter(|name| {
            messages
                .iter()
                .any(|m| m.contains(&format!("secret \"{name}\" not found")))
        })
    };
    if let Some(name) = named(request.push_secret.as_deref()) {
        return Some((
            Reason::PushSecretNotFound,
            format!(
                "buildConfig.pushSecret \"{name}\" does not exist in namespace {}: create it (type kubernetes.io/dockerconfigjson) or correct buildConfig.pushSecret, then re-create the job",
                request.namespace
            ),
        ));
    }
    named(request.source.credentials_secret.as_deref()).map(|name| {
        (
            Reason::CredentialsSecretNotFound,
            format!(
                "the credentialsSecret \"{name}\" does not exist in namespace {}: create it (keys username and password, or ssh-privatekey) or correct the job's credentialsSecret, then re-create the job",
                request.namespace
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use buildstrategy_api::GitSource;

    fn request(push_secret: Option<&str>) -> BuildRequest {
        let request = BuildRequest::new(
            "ns",
            "job-build",
            GitSource::new("https://git.example/r.git"),
        )
        .with_output_image("registry.example/team/nb:latest");
        match push_secret {
            Some(secret) => request.with_push_secret(secret),
            None => request,
        }
    }

    #[test]
    fn a_refused_login_names_the_push_secret_and_what_it_must_allow() {
        let tail = "Writing manifest to image destination\nError: pushing image registry.example/team/nb:latest: unexpected status: 401 Unauthorized\n";
        let (reason, message) = refused(tail, &request(Some("quay-robot"))).expect("refused");
        assert_eq!(reason, Reason::RegistryLoginRefused);
        assert!(message.contains("\"quay-robot\""), "{message}");
        assert!(
            message.contains("registry.example/team/nb:latest"),
            "{message}"
        );
        let kaniko = "error checking push permissions -- make sure you entered the correct tag name, and that you are authenticated correctly, and try again: checking push permission for \"registry.example/team/nb\": POST https://registry.example/v2/team/nb/blobs/uploads/: UNAUTHORIZED: authentication required";
        let (_, message) = refused(kaniko, &request(None)).expect("refused");
        assert!(message.contains("set buildConfig.pushSecret"), "{message}");
    }

    #[test]
    fn a_build_that_failed_for_its_content_is_not_a_login_problem() {
        let pip = "ERROR: Could not find a version that satisfies the requirement nbv-no-such-package==1.0\nerror building image: exit status 1";
        assert_eq!(refused(pip, &request(Some("push"))), None);
        // A private package index asking for a password is not the registry.
        let index =
            "ERROR: HTTP error 401 while getting https://pypi.internal/simple/acme/ (Unauthorized)";
        assert_eq!(refused(index, &request(Some("push"))), None);
    }
}
