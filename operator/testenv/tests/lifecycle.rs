//! The control plane starts, serves, and leaves nothing behind: not when stopped, and not when
//! its owner is killed.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nbv_testenv::{ControlPlane, ProcessInfo, is_running};

const SERVERS: [&str; 3] = ["etcd", "kube-apiserver", "kube-controller-manager"];

fn server_pids(processes: &[ProcessInfo]) -> Vec<u32> {
    let names: Vec<&str> = processes.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, SERVERS);
    processes
        .iter()
        .map(|p| p.server_pid.expect("server pid recorded"))
        .collect()
}

fn wait_for_gone(pids: &[u32], root: &std::path::Path, limit: Duration) {
    let deadline = Instant::now() + limit;
    while (pids.iter().any(|p| is_running(*p)) || root.exists()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let alive: Vec<u32> = pids.iter().copied().filter(|p| is_running(*p)).collect();
    assert!(alive.is_empty(), "servers still running: {alive:?}");
    assert!(!root.exists(), "{} was not removed", root.display());
}

#[tokio::test]
async fn starts_serves_and_stops_cleanly() {
    let cp = ControlPlane::start().await.expect("control plane starts");
    let timings = cp.startup_timings();
    eprintln!("start-up: {timings:?}");
    let pids = server_pids(&cp.processes());
    assert!(pids.iter().all(|p| is_running(*p)));
    for (name, pid) in SERVERS.iter().zip(&pids) {
        eprintln!(
            "{name}: RSS {} KiB",
            nbv_testenv::rss_kib(*pid).unwrap_or(0)
        );
    }

    let client = cp.client().unwrap();
    assert_eq!(nbv_testenv::readyz(&client).await.unwrap(), "ok");
    let version = client.apiserver_version().await.unwrap();
    assert_eq!(version.git_version, nbv_testenv::KUBERNETES_VERSION);

    let root = cp.root_dir().to_path_buf();
    assert!(root.join("admin.kubeconfig").is_file());
    cp.stop();
    wait_for_gone(&pids, &root, Duration::from_secs(5));
}

/// Where the helper below reports what it started.
const REPORT_ENV: &str = "NBV_TESTENV_TEST_REPORT";

#[derive(serde::Serialize, serde::Deserialize)]
struct Report {
    root: PathBuf,
    processes: Vec<ProcessInfo>,
}

/// Run by `servers_die_with_their_owner` in a child process, which it then kills.
#[tokio::test]
#[ignore = "helper: run in a child process by servers_die_with_their_owner"]
async fn helper_start_and_hang() {
    let report = std::env::var(REPORT_ENV).expect("report path");
    let cp = ControlPlane::start().await.expect("control plane starts");
    let json = serde_json::to_string(&Report {
        root: cp.root_dir().to_path_buf(),
        processes: cp.processes(),
    })
    .unwrap();
    std::fs::write(format!("{report}.tmp"), json).unwrap();
    std::fs::rename(format!("{report}.tmp"), &report).unwrap();
    // Wait to be killed; `cp` is never dropped.
    std::future::pending::<()>().await;
}

#[test]
fn servers_die_with_their_owner() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "helper_start_and_hang",
            "--ignored",
            "--nocapture",
        ])
        .env(REPORT_ENV, &report)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(120);
    while !report.exists() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("helper exited before starting the control plane: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "helper did not start the control plane"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let report: Report = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let pids = server_pids(&report.processes);
    assert!(pids.iter().all(|p| is_running(*p)));
    assert!(report.root.is_dir());

    // SIGKILL: no destructor, no atexit, nothing in the test process gets to clean up.
    child.kill().unwrap();
    child.wait().unwrap();
    wait_for_gone(&pids, &report.root, Duration::from_secs(15));
}
