//! Cloning a repository in a pod: the container that runs the shared clone script, with the
//! repository's credentials mounted as files, and the small pieces of pod spec it needs.

use buildstrategy_api::git;
use k8s_openapi::api::core::v1::{
    Container, EmptyDirVolumeSource, EnvVar, SecretVolumeSource, Volume, VolumeMount,
};

use super::pod_lifecycle::restricted;
use crate::config::PodSettings;
use crate::crd::GitSpec;

/// A plain environment variable.
pub(crate) fn env(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        value_from: None,
    }
}

/// A volume mount, read-only when asked.
pub(crate) fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        read_only: read_only.then_some(true),
        ..VolumeMount::default()
    }
}

/// An `emptyDir` volume.
pub(crate) fn empty_dir(name: &str) -> Volume {
    Volume {
        name: name.into(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Volume::default()
    }
}

/// A container cloning `git_spec` into `dir` (under the `workspace` volume, with `home` as
/// its home), with its credentials volume when it has one.
pub(crate) fn clone_container(
    name: &str,
    git_spec: &GitSpec,
    dir: &str,
    settings: &PodSettings,
) -> (Container, Option<Volume>) {
    let mut git_source = buildstrategy_api::GitSource::new(git_spec.url.clone());
    git_source.git_ref = git_spec.git_ref.clone();
    let mut mounts = vec![
        mount("workspace", "/workspace", false),
        mount("home", "/home/nbv", false),
    ];
    let volume = git_spec.credentials_secret.as_ref().map(|secret| {
        let volume_name = format!("{name}-credentials");
        mounts.push(mount(&volume_name, git::CREDENTIALS_MOUNT, true));
        Volume {
            name: volume_name,
            secret: Some(SecretVolumeSource {
                secret_name: Some(secret.clone()),
                default_mode: Some(git::CREDENTIALS_MODE),
                ..SecretVolumeSource::default()
            }),
            ..Volume::default()
        }
    });
    let mut vars: Vec<EnvVar> = git::clone_env(&git_source, dir)
        .into_iter()
        .map(|(k, v)| env(k, v))
        .collect();
    vars.push(env("HOME", "/home/nbv"));
    let container = Container {
        name: name.into(),
        image: Some(settings.git_image.clone()),
        command: Some(vec![
            "/bin/sh".into(),
            "-c".into(),
            git::CLONE_SCRIPT.into(),
        ]),
        env: Some(vars),
        volume_mounts: Some(mounts),
        security_context: Some(restricted()),
        // git's own words (an unknown ref, a refused login) reach the job's status.
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        ..Container::default()
    };
    (container, volume)
}
