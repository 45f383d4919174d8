//! What a Build asks for, read from its spec, and the pod that builds it: pure functions, so
//! every rule is tested without a cluster.

use std::collections::BTreeMap;

use buildstrategy_api::git;
use serde_json::{Value, json};

/// The label (and annotation) OpenShift puts on a build's pod, naming the Build.
pub const BUILD_NAME_LABEL: &str = "openshift.io/build.name";
/// The Secret with the internal registry's login that each namespace gets, as OpenShift's
/// `builder-dockercfg-*` Secret.
pub const INTERNAL_REGISTRY_SECRET: &str = "builder-dockercfg";
/// Where the source is cloned, as in OpenShift's build pods.
const SOURCE_DIR: &str = "/tmp/build/inputs";
/// Where s2i writes its Dockerfile and the build context it copies.
const S2I_DIR: &str = "/tmp/build/s2i";
const PULL_AUTH_DIR: &str = "/var/run/secrets/openshift.io/pull";
const PUSH_AUTH_DIR: &str = "/var/run/secrets/openshift.io/push";
/// The key of a `kubernetes.io/dockerconfigjson` Secret, the only kind of registry Secret the
/// executor mounts.
pub const DOCKER_CONFIG_KEY: &str = ".dockerconfigjson";

/// The builder container's script: a constant; everything the Build says arrives as
/// environment variables or arguments, always quoted. Arguments are s2i's `-e` options for a
/// Source build and Buildah's `--build-arg` options for a Docker build.
const BUILD_SCRIPT: &str = r#"set -eu
context="$BUILD_CONTEXT"
dockerfile="$context/${DOCKERFILE_PATH:-Dockerfile}"
if [ -n "${S2I_BUILDER_IMAGE:-}" ]; then
  s2i build --copy "$context" "$S2I_BUILDER_IMAGE" --as-dockerfile "$S2I_DIR/Dockerfile" "$@"
  # s2i reports some errors without failing.
  [ -s "$S2I_DIR/Dockerfile" ] || { echo "s2i wrote no Dockerfile" >&2; exit 1; }
  set --
  context="$S2I_DIR"
  dockerfile="$S2I_DIR/Dockerfile"
elif [ -n "${INLINE_DOCKERFILE+set}" ]; then
  mkdir -p "${dockerfile%/*}"
  printf '%s\n' "$INLINE_DOCKERFILE" > "$dockerfile"
fi
buildah build --isolation=chroot --file "$dockerfile" --tag "$OUTPUT_IMAGE" "$@" -- "$context"
buildah push ${PUSH_AUTH_FILE:+--authfile "$PUSH_AUTH_FILE"} --digestfile /dev/termination-log -- "$OUTPUT_IMAGE" "docker://$OUTPUT_IMAGE"
"#;

/// What the executor runs builds with.
#[derive(Debug, Clone)]
pub struct ExecutorImages {
    /// Buildah with s2i (the node's `openshift-builder` image).
    pub builder: String,
    /// An image with git and sh that runs as non-root, for the clone.
    pub git: String,
}

/// The two build types the executor runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildType {
    /// `strategy.dockerStrategy`.
    Docker,
    /// `strategy.sourceStrategy`.
    Source,
}

/// Where a Build's image goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// `output.to` of kind ImageStreamTag: pushed to the internal registry.
    ImageStreamTag { stream: String, tag: String },
    /// `output.to` of kind DockerImage: pushed where it names.
    DockerImage(String),
}

/// A Build as the executor runs it.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildPlan {
    pub build_type: BuildType,
    pub output: Output,
    /// The reference pushed to.
    pub output_image: String,
    /// The Secrets the pod mounts, with the Build field naming each and the key it needs.
    pub secrets: Vec<SecretUse>,
    /// The build pod.
    pub pod: Value,
}

/// A Secret a build pod mounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretUse {
    pub name: String,
    /// The Build field that names it, or the executor's own login.
    pub field: &'static str,
    /// The key the pod reads, if it reads one.
    pub key: Option<&'static str>,
}

/// Reads a Build and renders its pod. `registry` is the internal registry's address, and
/// `internal_login` whether the namespace has [`INTERNAL_REGISTRY_SECRET`]; `uid` is the
/// Build's, for the pod's owner reference. The error says what the executor cannot run, as
/// OpenShift's build controller says it in the Build's status.
pub fn plan(
    name: &str,
    namespace: &str,
    uid: &str,
    spec: &Value,
    images: &ExecutorImages,
    (registry, internal_login): (&str, bool),
) -> Result<BuildPlan, String> {
    let text = |pointer: &str| spec.pointer(pointer).and_then(Value::as_str);
    let output = match (text("/output/to/kind"), text("/output/to/name")) {
        (Some("ImageStreamTag"), Some(name)) => {
            let (stream, tag) = name.split_once(':').unwrap_or((name, "latest"));
            Output::ImageStreamTag {
                stream: stream.to_owned(),
                tag: tag.to_owned(),
            }
        }
        (Some("DockerImage"), Some(image)) => Output::DockerImage(image.to_owned()),
        (kind, _) => {
            return Err(format!(
                "output.to of kind {kind:?} is not supported: ImageStreamTag or DockerImage"
            ));
        }
    };
    let output_image = match &output {
        Output::ImageStreamTag { stream, tag } => format!("{registry}/{namespace}/{stream}:{tag}"),
        Output::DockerImage(image) => image.clone(),
    };
    let (build_type, strategy) = match text("/strategy/type") {
        Some("Docker") => (BuildType::Docker, &spec["strategy"]["dockerStrategy"]),
        Some("Source") => (BuildType::Source, &spec["strategy"]["sourceStrategy"]),
        other => {
            return Err(format!(
                "strategy type {other:?} is not supported: Docker or Source"
            ));
        }
    };
    if strategy["incremental"] == json!(true) {
        return Err("incremental Source builds are not supported by this executor".into());
    }
    let env = name_values(&strategy["env"], "env")?;
    let from = strategy.pointer("/from/name").and_then(Value::as_str);

    let mut builder_env = BTreeMap::from([
        ("OUTPUT_IMAGE".to_owned(), output_image.clone()),
        ("STORAGE_DRIVER".to_owned(), "vfs".to_owned()),
        ("BUILDAH_ISOLATION".to_owned(), "chroot".to_owned()),
        ("S2I_DIR".to_owned(), S2I_DIR.to_owned()),
        ("HOME".to_owned(), "/tmp".to_owned()),
    ]);
    let context = match text("/source/contextDir").map(|d| d.trim_matches('/')) {
        Some(dir) if !dir.is_empty() => {
            git::validate_relative_path(dir).map_err(|r| format!("source.contextDir: {r}"))?;
            format!("{SOURCE_DIR}/{dir}")
        }
        _ => SOURCE_DIR.to_owned(),
    };
    builder_env.insert("BUILD_CONTEXT".into(), context);
    let mut args = Vec::new();
    match build_type {
        BuildType::Source => {
            let builder = from.ok_or("sourceStrategy.from.name is missing")?;
            builder_env.insert("S2I_BUILDER_IMAGE".into(), builder.to_owned());
            for (key, value) in &env {
                args.push("-e".to_owned());
                args.push(format!("{key}={value}"));
            }
        }
        BuildType::Docker => {
            for (key, value) in name_values(&strategy["buildArgs"], "buildArgs")? {
                args.push(format!("--build-arg={key}={value}"));
            }
            if let Some(path) = strategy["dockerfilePath"].as_str() {
                git::validate_relative_path(path)
                    .map_err(|r| format!("dockerStrategy.dockerfilePath: {r}"))?;
                builder_env.insert("DOCKERFILE_PATH".into(), path.to_owned());
            }
            if let Some(inline) = text("/source/dockerfile") {
                let build_env = [
                    ("OPENSHIFT_BUILD_NAME".to_owned(), name.to_owned()),
                    ("OPENSHIFT_BUILD_NAMESPACE".to_owned(), namespace.to_owned()),
                ];
                builder_env.insert(
                    "INLINE_DOCKERFILE".into(),
                    with_build_parameters(inline, from, &env, &build_env),
                );
            }
        }
    }

    let git_source = match text("/source/type") {
        Some("Git") => {
            Some(text("/source/git/uri").ok_or("source.git.uri is missing for a Git source")?)
        }
        Some("Dockerfile") if text("/source/dockerfile").is_some() => None,
        Some("Dockerfile") => return Err("a Dockerfile source without source.dockerfile".into()),
        other => {
            return Err(format!(
                "source type {other:?} is not supported: Git or Dockerfile"
            ));
        }
    };
    if git_source.is_none() && build_type == BuildType::Source {
        return Err("a Source build needs a Git source".into());
    }

    let restricted = json!({
        "allowPrivilegeEscalation": false,
        "runAsNonRoot": true,
        "capabilities": { "drop": ["ALL"] },
        "seccompProfile": { "type": "RuntimeDefault" }
    });
    let mut volumes = vec![
        json!({ "name": "buildworkdir", "emptyDir": {} }),
        json!({ "name": "s2i", "emptyDir": {} }),
        json!({ "name": "container-storage", "emptyDir": {} }),
    ];
    let mut build_mounts = vec![
        json!({ "name": "buildworkdir", "mountPath": SOURCE_DIR }),
        json!({ "name": "s2i", "mountPath": S2I_DIR }),
        json!({ "name": "container-storage", "mountPath": "/var/lib/containers" }),
    ];
    // Pulls (FROM, the builder image) with the strategy's pullSecret, else the internal
    // registry's login; the push with output.pushSecret, else the same login for the internal
    // registry.
    let secret_name = |pointer: &str| spec.pointer(pointer).and_then(Value::as_str);
    let strategy_key = match build_type {
        BuildType::Docker => "dockerStrategy",
        BuildType::Source => "sourceStrategy",
    };
    let internal =
        internal_login.then_some((INTERNAL_REGISTRY_SECRET, "the internal registry's login"));
    let pull_field = match build_type {
        BuildType::Docker => "strategy.dockerStrategy.pullSecret",
        BuildType::Source => "strategy.sourceStrategy.pullSecret",
    };
    let pull = secret_name(&format!("/strategy/{strategy_key}/pullSecret/name"))
        .map(|s| (s, pull_field))
        .or(internal);
    let push = secret_name("/output/pushSecret/name")
        .map(|s| (s, "output.pushSecret"))
        .or(match output {
            Output::ImageStreamTag { .. } => internal,
            Output::DockerImage(_) => None,
        });
    let mut secrets = Vec::new();
    for (volume, secret, dir, variables) in [
        // s2i looks at the builder image through DOCKER_CONFIG, Buildah through the other.
        (
            "pull-secret",
            pull,
            PULL_AUTH_DIR,
            &["REGISTRY_AUTH_FILE", "DOCKER_CONFIG"][..],
        ),
        ("push-secret", push, PUSH_AUTH_DIR, &["PUSH_AUTH_FILE"][..]),
    ] {
        let Some((secret, field)) = secret else {
            continue;
        };
        volumes.push(json!({ "name": volume, "secret": {
            "secretName": secret,
            "items": [{ "key": DOCKER_CONFIG_KEY, "path": "config.json" }]
        }}));
        build_mounts.push(json!({ "name": volume, "mountPath": dir, "readOnly": true }));
        for variable in variables {
            let value = if *variable == "DOCKER_CONFIG" {
                dir.to_owned()
            } else {
                format!("{dir}/config.json")
            };
            builder_env.insert((*variable).into(), value);
        }
        secrets.push(SecretUse {
            name: secret.to_owned(),
            field,
            key: Some(DOCKER_CONFIG_KEY),
        });
    }

    let mut init_containers = Vec::new();
    if let Some(uri) = git_source {
        let mut source = buildstrategy_api::GitSource::new(uri);
        if let Some(git_ref) = text("/source/git/ref") {
            source = source.with_ref(git_ref);
        }
        git::validate_source("openshift-build", &source).map_err(|e| e.to_string())?;
        let mut mounts = vec![json!({ "name": "buildworkdir", "mountPath": SOURCE_DIR })];
        if let Some(secret) = text("/source/sourceSecret/name") {
            secrets.push(SecretUse {
                name: secret.to_owned(),
                field: "source.sourceSecret",
                key: None,
            });
            volumes.push(json!({ "name": "source-secret", "secret": {
                "secretName": secret, "defaultMode": git::CREDENTIALS_MODE
            }}));
            mounts.push(json!({ "name": "source-secret", "mountPath": git::CREDENTIALS_MOUNT, "readOnly": true }));
        }
        init_containers.push(json!({
            "name": "git-clone",
            "image": images.git,
            "command": ["/bin/sh", "-c", git::CLONE_SCRIPT],
            "env": env_list(git::clone_env(&source, SOURCE_DIR).into_iter().map(|(k, v)| (k.to_owned(), v))),
            "securityContext": restricted,
            "volumeMounts": mounts,
        }));
    }
    let container = match build_type {
        BuildType::Docker => "docker-build",
        BuildType::Source => "sti-build",
    };
    let mut command = vec![
        json!("/bin/sh"),
        json!("-c"),
        json!(BUILD_SCRIPT),
        json!("build"),
    ];
    command.extend(args.iter().map(|arg| json!(literal(arg))));
    let mut pod_spec = json!({
        "restartPolicy": "Never",
        "automountServiceAccountToken": false,
        "initContainers": init_containers,
        "containers": [{
            "name": container,
            "image": images.builder,
            "command": command,
            "env": env_list(builder_env.into_iter()),
            // As the Buildah strategy's pods on this node: root with SYS_ADMIN for chroot
            // isolation, no privileged mode.
            "securityContext": {
                "runAsUser": 0,
                "runAsNonRoot": false,
                "allowPrivilegeEscalation": false,
                "capabilities": { "add": ["SYS_ADMIN", "SETFCAP"] },
                "seccompProfile": { "type": "RuntimeDefault" }
            },
            "terminationMessagePolicy": "File",
            "volumeMounts": build_mounts,
        }],
        "volumes": volumes,
    });
    if let Some(account) = text("/serviceAccount") {
        pod_spec["serviceAccountName"] = json!(account);
    }
    if let Some(deadline) = spec["completionDeadlineSeconds"].as_i64() {
        pod_spec["activeDeadlineSeconds"] = json!(deadline.max(1));
    }
    let pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod_name(name),
            "namespace": namespace,
            "labels": { BUILD_NAME_LABEL: name },
            "annotations": { BUILD_NAME_LABEL: name },
            "ownerReferences": [{
                "apiVersion": "build.openshift.io/v1",
                "kind": "Build",
                "name": name,
                "uid": uid,
                "controller": true,
            }],
        },
        "spec": pod_spec,
    });
    Ok(BuildPlan {
        build_type,
        output,
        output_image,
        secrets,
        pod,
    })
}

/// The name of a Build's pod, as OpenShift names it.
pub fn pod_name(build: &str) -> String {
    format!("{build}-build")
}

/// A value the kubelet passes on as it is: it expands `$(NAME)` in env values and commands, and
/// turns `$$` into `$`.
fn literal(value: &str) -> String {
    value.replace('$', "$$")
}

fn env_list(vars: impl Iterator<Item = (String, String)>) -> Value {
    vars.map(|(name, value)| json!({ "name": name, "value": literal(&value) }))
        .collect()
}

/// `[{name, value}]` as pairs; a missing list is empty.
fn name_values(list: &Value, field: &str) -> Result<Vec<(String, String)>, String> {
    let Some(items) = list.as_array() else {
        return Ok(Vec::new());
    };
    items
        .iter()
        .map(|item| {
            let name = item["name"]
                .as_str()
                .filter(|n| !n.is_empty() && !n.contains('='))
                .ok_or_else(|| format!("{field}: an entry without a valid name"))?;
            if item.get("valueFrom").is_some() {
                return Err(format!(
                    "{field}: {name} uses valueFrom, which this executor does not resolve"
                ));
            }
            Ok((
                name.to_owned(),
                item["value"].as_str().unwrap_or_default().to_owned(),
            ))
        })
        .collect()
}

/// What OpenShift's Docker builder does to a Dockerfile before building it: the last stage's
/// base becomes the strategy's `from`, the strategy's env is set after every `FROM` (so `RUN`
/// steps see it), and the build's own identity is appended as env.
pub fn with_build_parameters(
    dockerfile: &str,
    from: Option<&str>,
    env: &[(String, String)],
    build_env: &[(String, String)],
) -> String {
    let lines: Vec<&str> = dockerfile.lines().collect();
    // A line continuing the one before it (`RUN x \`) is not an instruction of its own.
    let froms: Vec<bool> = lines
        .iter()
        .enumerate()
        .map(|(index, line)| {
            let continued = index > 0 && lines[index - 1].trim_end().ends_with('\\');
            !continued
                && line
                    .trim_start()
                    .get(..5)
                    .is_some_and(|head| head.eq_ignore_ascii_case("FROM "))
        })
        .collect();
    let last_from = froms.iter().rposition(|f| *f);
    let mut out = Vec::with_capacity(lines.len() + 4);
    for (index, line) in lines.iter().enumerate() {
        if !froms[index] {
            out.push((*line).to_owned());
            continue;
        }
        match from.filter(|_| Some(index) == last_from) {
            Some(image) => out.push(replace_from_image(line, image)),
            None => out.push((*line).to_owned()),
        }
        if !env.is_empty() {
            out.push(env_instruction(env));
        }
    }
    if !build_env.is_empty() {
        out.push(env_instruction(build_env));
    }
    out.join("\n")
}

/// `FROM [--flag ...] image [AS name]` with `image` replaced.
fn replace_from_image(line: &str, image: &str) -> String {
    let mut replaced = false;
    let words: Vec<String> = line
        .split_whitespace()
        .enumerate()
        .map(|(index, word)| {
            if index == 0 || word.starts_with("--") || replaced {
                word.to_owned()
            } else {
                replaced = true;
                image.to_owned()
            }
        })
        .collect();
    words.join(" ")
}

/// `ENV "K"="V" ...`, each value quoted so that spaces and `$` stay literal.
fn env_instruction(vars: &[(String, String)]) -> String {
    let pairs: Vec<String> = vars
        .iter()
        .map(|(key, value)| {
            let quoted = value
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('$', "\\$");
            format!("{key}=\"{quoted}\"")
        })
        .collect();
    format!("ENV {}", pairs.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images() -> ExecutorImages {
        ExecutorImages {
            builder: "nbv.local/openshift-builder:1".into(),
            git: "nbv.local/notebook:1".into(),
        }
    }

    fn docker_spec() -> Value {
        json!({
            "serviceAccount": "builder",
            "source": { "type": "Git", "git": { "uri": "https://git.example/repo.git", "ref": "main" },
                        "contextDir": "sub", "sourceSecret": { "name": "git-login" },
                        "dockerfile": "FROM base\nRUN pip install x" },
            "strategy": { "type": "Docker", "dockerStrategy": {
                "from": { "kind": "DockerImage", "name": "registry.example/base:2" },
                "env": [{ "name": "A", "value": "b c" }],
                "buildArgs": [{ "name": "V", "value": "1" }] } },
            "output": { "to": { "kind": "ImageStreamTag", "name": "nb:latest" } },
            "completionDeadlineSeconds": 600
        })
    }

    #[test]
    fn replaces_the_last_stage_base_and_sets_env_after_every_from() {
        let dockerfile = "FROM --platform=linux/amd64 a AS first\nRUN x\nfrom b as second\nRUN y";
        let env = [("A".to_owned(), "1 $HOME \"q\"".to_owned())];
        let build = [("OPENSHIFT_BUILD_NAME".to_owned(), "nb".to_owned())];
        assert_eq!(
            with_build_parameters(dockerfile, Some("c:1"), &env, &build),
            "FROM --platform=linux/amd64 a AS first\nENV A=\"1 \\$HOME \\\"q\\\"\"\nRUN x\nfrom c:1 as second\nENV A=\"1 \\$HOME \\\"q\\\"\"\nRUN y\nENV OPENSHIFT_BUILD_NAME=\"nb\""
        );
        assert_eq!(with_build_parameters("FROM a", None, &[], &[]), "FROM a");
        // A continued line that starts with `from` is not an instruction.
        assert_eq!(
            with_build_parameters(
                "FROM a\nRUN python -c \\\nfrom x import y",
                Some("b"),
                &[],
                &[]
            ),
            "FROM b\nRUN python -c \\\nfrom x import y"
        );
    }

    #[test]
    fn what_the_build_says_reaches_the_pod_as_it_is() {
        let mut spec = docker_spec();
        spec["source"]["dockerfile"] = json!("FROM base\nRUN echo $(HOME) $$");
        spec["strategy"]["dockerStrategy"]["buildArgs"] = json!([{ "name": "V", "value": "$(X)" }]);
        let plan = plan("nb", "ns", "u1", &spec, &images(), ("r", true)).unwrap();
        let build = plan.pod["spec"]["containers"][0].to_string();
        // The kubelet would expand $(NAME) and fold $$: each $ is doubled.
        assert!(build.contains("RUN echo $$(HOME) $$$$"), "{build}");
        assert!(build.contains("--build-arg=V=$$(X)"), "{build}");
    }

    #[test]
    fn a_docker_build_clones_writes_its_dockerfile_and_pushes_to_the_internal_registry() {
        let plan = plan(
            "nb",
            "ns",
            "u1",
            &docker_spec(),
            &images(),
            ("10.0.0.1:5000", true),
        )
        .unwrap();
        assert_eq!(plan.build_type, BuildType::Docker);
        assert_eq!(plan.output_image, "10.0.0.1:5000/ns/nb:latest");
        let pod = &plan.pod;
        assert_eq!(pod["metadata"]["name"], "nb-build");
        assert_eq!(pod["metadata"]["ownerReferences"][0]["uid"], "u1");
        assert_eq!(pod["spec"]["activeDeadlineSeconds"], 600);
        assert_eq!(pod["spec"]["serviceAccountName"], "builder");
        assert_eq!(pod["spec"]["initContainers"][0]["name"], "git-clone");
        let build = &pod["spec"]["containers"][0];
        assert_eq!(build["name"], "docker-build");
        let command: Vec<&str> = build["command"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(command[3..], ["build", "--build-arg=V=1"]);
        let env = |name: &str| {
            build["env"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["name"] == name)
                .map(|e| e["value"].as_str().unwrap().to_owned())
        };
        assert_eq!(
            env("BUILD_CONTEXT").as_deref(),
            Some("/tmp/build/inputs/sub")
        );
        assert_eq!(
            env("INLINE_DOCKERFILE").as_deref(),
            Some(
                "FROM registry.example/base:2\nENV A=\"b c\"\nRUN pip install x\nENV OPENSHIFT_BUILD_NAME=\"nb\" OPENSHIFT_BUILD_NAMESPACE=\"ns\""
            )
        );
        // Both logins default to the internal registry's.
        assert_eq!(
            env("REGISTRY_AUTH_FILE").as_deref(),
            Some("/var/run/secrets/openshift.io/pull/config.json")
        );
        assert_eq!(
            env("PUSH_AUTH_FILE").as_deref(),
            Some("/var/run/secrets/openshift.io/push/config.json")
        );
        let volumes = pod["spec"]["volumes"].to_string();
        assert!(
            volumes.contains(r#""secretName":"builder-dockercfg""#),
            "{volumes}"
        );
        assert!(volumes.contains(r#""secretName":"git-login""#), "{volumes}");
        let fields: Vec<&str> = plan.secrets.iter().map(|s| s.field).collect();
        assert_eq!(
            fields,
            [
                "the internal registry's login",
                "the internal registry's login",
                "source.sourceSecret"
            ]
        );
        // Without that login, no Secret stands in for it.
        let without =
            super::plan("nb", "ns", "u1", &docker_spec(), &images(), ("r", false)).expect("plans");
        assert!(!without.pod.to_string().contains("builder-dockercfg"));
    }

    #[test]
    fn a_source_build_hands_its_env_to_s2i_and_a_dockerfile_source_needs_no_clone() {
        let mut spec = docker_spec();
        spec["strategy"] = json!({ "type": "Source", "sourceStrategy": {
            "from": { "kind": "DockerImage", "name": "reg/s2i-python:1" },
            "env": [{ "name": "PIP_INDEX_URL", "value": "https://pypi.example/simple" }],
            "pullSecret": { "name": "pull" } } });
        spec["output"] = json!({ "to": { "kind": "DockerImage", "name": "reg/out:1" },
                                 "pushSecret": { "name": "push" } });
        let source = plan("nb", "ns", "u1", &spec, &images(), ("r", true)).unwrap();
        let build = &source.pod["spec"]["containers"][0];
        assert_eq!(build["name"], "sti-build");
        let command = build["command"].to_string();
        assert!(
            command.ends_with(r#""build","-e","PIP_INDEX_URL=https://pypi.example/simple"]"#),
            "{command}"
        );
        let volumes = source.pod["spec"]["volumes"].to_string();
        assert!(
            volumes.contains(r#""secretName":"pull""#)
                && volumes.contains(r#""secretName":"push""#),
            "{volumes}"
        );

        let mut inline = docker_spec();
        inline["source"] = json!({ "type": "Dockerfile", "dockerfile": "FROM a" });
        inline["output"] = json!({ "to": { "kind": "DockerImage", "name": "reg/out:1" } });
        let inline = plan("nb", "ns", "u1", &inline, &images(), ("r", true)).unwrap();
        assert_eq!(inline.pod["spec"]["initContainers"], json!([]));
        // No push secret for an outside registry unless the Build names one.
        let env = inline.pod["spec"]["containers"][0]["env"].to_string();
        assert!(!env.contains("PUSH_AUTH_FILE"), "{env}");
    }

    #[test]
    fn refuses_what_it_does_not_run() {
        let refused = |edit: fn(&mut Value)| {
            let mut spec = docker_spec();
            edit(&mut spec);
            plan("nb", "ns", "u", &spec, &images(), ("r", true)).unwrap_err()
        };
        assert!(refused(|s| s["strategy"]["type"] = json!("Custom")).contains("Custom"));
        assert!(
            refused(|s| s["strategy"]["dockerStrategy"]["incremental"] = json!(true))
                .contains("incremental")
        );
        assert!(refused(|s| s["source"]["contextDir"] = json!("../up")).contains("contextDir"));
        assert!(refused(|s| s["source"]["git"]["ref"] = json!("--upload-pack=x")).contains("ref"));
        assert!(
            refused(|s| s["output"]["to"]["kind"] = json!("ImageStreamImage"))
                .contains("ImageStreamImage")
        );
        assert!(
            refused(|s| s["strategy"]["dockerStrategy"]["env"] =
                json!([{ "name": "A", "valueFrom": {} }]))
            .contains("valueFrom")
        );
    }
}
