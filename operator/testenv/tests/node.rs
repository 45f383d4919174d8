//! The node runs real pods, and leaves the host as it found it.

use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, LogParams, PostParams};
use nbv_testenv::{ControlPlane, Lifetime, NodeServer};

/// What the node may change on the host while it runs, read before and after.
fn host_state() -> String {
    let mut state = String::new();
    for key in [
        "vm/overcommit_memory",
        "kernel/panic",
        "kernel/panic_on_oops",
        "net/ipv4/ip_forward",
    ] {
        let value = std::fs::read_to_string(format!("/proc/sys/{key}")).unwrap_or_default();
        state.push_str(&format!("{key}={}", value.trim()));
        state.push('\n');
    }
    for (program, args) in [
        ("iptables", &["-S"][..]),
        ("iptables", &["-t", "nat", "-S"]),
        ("ip", &["-br", "link"]),
    ] {
        let out = Command::new(program).args(args).output().expect("runs");
        state.push_str(&String::from_utf8_lossy(&out.stdout));
    }
    for path in [
        "/var/lib/kubelet",
        "/var/log/containers",
        "/var/log/pods",
        "/sys/fs/cgroup/memory/kubepods",
        nbv_testenv::node::HOST_RECORD,
    ] {
        state.push_str(&format!(
            "{path} exists: {}\n",
            std::path::Path::new(path).exists()
        ));
    }
    state
}

fn pod(name: &str, image: &str, script: &str) -> Pod {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": false,
            "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "main",
                "image": image,
                "command": ["python3", "-c", script],
                "terminationMessagePolicy": "File",
                "securityContext": {
                    "allowPrivilegeEscalation": false,
                    "capabilities": {"drop": ["ALL"]},
                },
            }],
        },
    }))
    .expect("pod")
}

async fn wait_finished(pods: &Api<Pod>, name: &str) -> Pod {
    for _ in 0..1200 {
        let pod = pods.get(name).await.expect("pod");
        let phase = pod
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_default();
        if phase == "Succeeded" || phase == "Failed" {
            return pod;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "pod {name} did not finish: {:#?}",
        pods.get(name).await.ok().and_then(|p| p.status)
    );
}

#[tokio::test]
async fn pods_run_serve_logs_reach_the_node_and_the_host_is_restored() {
    let before = host_state();
    let cp = ControlPlane::builder()
        .with_node()
        .start()
        .await
        .expect("control plane with a node starts");
    eprintln!("start-up: {:?}", cp.startup_timings());
    let images = cp.node_images().expect("node images").clone();
    let client = cp.client().expect("client");
    let namespace = cp
        .create_namespace(
            "node",
            &[("pod-security.kubernetes.io/enforce", "restricted")],
        )
        .await
        .expect("namespace");
    let pods: Api<Pod> = Api::namespaced(client, &namespace);

    // A pod that prints, and fetches a file the node serves on the gateway address.
    let dir = tempfile::tempdir().expect("dir");
    let server = NodeServer::start(dir.path(), Lifetime::Owned).expect("node server");
    std::fs::write(server.files_dir().join("hello.txt"), "from the node").expect("file");
    let script = format!(
        "import urllib.request\nbody = urllib.request.urlopen('{}hello.txt', timeout=10).read().decode()\nprint('fetched:', body)\nopen('/dev/termination-log', 'w').write('done')",
        server.files_url()
    );
    pods.create(
        &PostParams::default(),
        &pod("hello", &images.notebook.reference, &script),
    )
    .await
    .expect("pod created");
    let finished = wait_finished(&pods, "hello").await;
    let status = finished.status.expect("status");
    assert_eq!(status.phase.as_deref(), Some("Succeeded"), "{status:#?}");
    let terminated = status.container_statuses.expect("statuses")[0]
        .state
        .as_ref()
        .and_then(|s| s.terminated.clone())
        .expect("terminated");
    assert_eq!(terminated.message.as_deref(), Some("done"));
    let logs = pods
        .logs("hello", &LogParams::default())
        .await
        .expect("logs through the kubelet");
    assert_eq!(logs.trim(), "fetched: from the node");

    // The firewall keeps pod traffic on the machine.
    let rules = Command::new("iptables")
        .args(["-S", "NBV-NODE-EGRESS"])
        .output()
        .expect("iptables");
    let rules = String::from_utf8_lossy(&rules.stdout);
    assert!(
        rules.contains("-d 10.213.0.0/24 -j ACCEPT") && rules.contains("-j DROP"),
        "{rules}"
    );

    drop(server);
    cp.stop();
    let after = host_state();
    assert_eq!(before, after, "the host differs after the node stopped");
}
