//! Leader election on the real control plane: of several replicas one leads, a standby takes
//! over when the leader stops or dies, a leader that loses its lease stops working, and a job is
//! processed by one operator only.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ListParams, PostParams};
use notebook_validator_operator::controller;
use notebook_validator_operator::crd::Phase;
use notebook_validator_operator::health::{Health, Readiness};
use notebook_validator_operator::leader::{self, Ended, LeaseConfig};
use support::{Harness, job_yaml};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Short, so takeovers happen within the test's patience.
const LEASE: Duration = Duration::from_secs(2);

/// Counts replicas working at once and remembers the most there ever were.
#[derive(Default)]
struct Leaders {
    now: AtomicUsize,
    most: AtomicUsize,
    who: Mutex<Vec<String>>,
}

/// Held while a replica works; dropping it (a stop, or a crash that drops the task) ends the work.
struct Working(Arc<Leaders>);

impl Working {
    fn start(leaders: &Arc<Leaders>, identity: &str) -> Self {
        let now = leaders.now.fetch_add(1, Ordering::SeqCst) + 1;
        leaders.most.fetch_max(now, Ordering::SeqCst);
        if let Ok(mut who) = leaders.who.lock() {
            who.push(identity.to_owned());
        }
        Self(Arc::clone(leaders))
    }
}

impl Drop for Working {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

struct Replica {
    identity: String,
    stop: CancellationToken,
    task: JoinHandle<Ended>,
}

fn replica(
    client: &kube::Client,
    namespace: &str,
    lease: &str,
    identity: &str,
    leaders: &Arc<Leaders>,
) -> Replica {
    let stop = CancellationToken::new();
    let config = LeaseConfig::new(lease, namespace, identity, LEASE);
    let (client, leaders, id, token) = (
        client.clone(),
        Arc::clone(leaders),
        identity.to_owned(),
        stop.clone(),
    );
    let task = tokio::spawn(async move {
        let health = Health::default();
        leader::lead(client, config, &health, token, |until| async move {
            let _working = Working::start(&leaders, &id);
            until.cancelled().await;
        })
        .await
    });
    Replica {
        identity: identity.to_owned(),
        stop,
        task,
    }
}

async fn holder(leases: &Api<Lease>, name: &str) -> Option<String> {
    leases
        .get_opt(name)
        .await
        .expect("read lease")
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
}

/// Waits until one of `candidates` holds the lease and works; returns its index and the time.
async fn wait_leader(leases: &Api<Lease>, leaders: &Leaders, candidates: &[&Replica]) -> usize {
    for _ in 0..200 {
        if leaders.now.load(Ordering::SeqCst) == 1
            && let Some(current) = holder(leases, "nbv-operator").await
            && let Some(i) = candidates.iter().position(|r| r.identity == current)
        {
            return i;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no replica took the lease");
}

#[tokio::test]
async fn one_replica_leads_and_a_standby_takes_over_when_it_stops_or_dies() {
    let env = nbv_testenv::TestEnv::new("election")
        .await
        .expect("control plane");
    let leases: Api<Lease> = Api::namespaced(env.client.clone(), &env.namespace);
    let leaders = Arc::new(Leaders::default());
    let mut replicas: Vec<Replica> = ["a", "b", "c"]
        .iter()
        .map(|id| replica(&env.client, &env.namespace, "nbv-operator", id, &leaders))
        .collect();

    let first = wait_leader(&leases, &leaders, &replicas.iter().collect::<Vec<_>>()).await;
    // Several renewals later, still exactly one.
    tokio::time::sleep(LEASE * 2).await;
    assert_eq!(leaders.now.load(Ordering::SeqCst), 1);
    assert_eq!(
        holder(&leases, "nbv-operator").await.as_deref(),
        Some(replicas[first].identity.as_str())
    );

    // A graceful stop releases the lease: a standby takes over before it would have expired.
    let stopped = replicas.remove(first);
    let since = Instant::now();
    stopped.stop.cancel();
    assert_eq!(stopped.task.await.expect("task"), Ended::Stopped);
    let second = wait_leader(&leases, &leaders, &replicas.iter().collect::<Vec<_>>()).await;
    assert!(since.elapsed() < LEASE, "{:?}", since.elapsed());

    // A crash (the task dropped, nothing released): the last standby waits out the lease.
    let crashed = replicas.remove(second);
    let since = Instant::now();
    crashed.task.abort();
    wait_leader(&leases, &leaders, &replicas.iter().collect::<Vec<_>>()).await;
    let took = since.elapsed();
    assert!(
        took >= LEASE * 2 / 3 && took < LEASE + Duration::from_secs(2),
        "takeover after {took:?}"
    );
    assert_eq!(
        leaders.most.load(Ordering::SeqCst),
        1,
        "two replicas worked at once: {:?}",
        leaders.who.lock().map(|w| w.clone())
    );
    for replica in replicas {
        replica.stop.cancel();
        replica.task.await.expect("task");
    }
}

#[tokio::test]
async fn a_leader_whose_lease_is_taken_stops_working() {
    let env = nbv_testenv::TestEnv::new("lost-lease")
        .await
        .expect("control plane");
    let leases: Api<Lease> = Api::namespaced(env.client.clone(), &env.namespace);
    let leaders = Arc::new(Leaders::default());
    let only = replica(&env.client, &env.namespace, "nbv-operator", "a", &leaders);
    wait_leader(&leases, &leaders, &[&only]).await;
    // Someone else writes itself into the lease, as a replica that believed the lease expired
    // (a partition, a paused process) would.
    let mut lease = leases.get("nbv-operator").await.expect("lease");
    if let Some(spec) = lease.spec.as_mut() {
        spec.holder_identity = Some("intruder".into());
        spec.renew_time = Some(MicroTime(k8s_openapi::jiff::Timestamp::now()));
    }
    leases
        .replace("nbv-operator", &PostParams::default(), &lease)
        .await
        .expect("lease taken");
    let ended = tokio::time::timeout(LEASE * 2, only.task)
        .await
        .expect("the leader noticed in time")
        .expect("task");
    assert_eq!(ended, Ended::Lost);
    assert_eq!(leaders.now.load(Ordering::SeqCst), 0, "its work stopped");
    assert_eq!(
        holder(&leases, "nbv-operator").await.as_deref(),
        Some("intruder")
    );
}

#[tokio::test]
async fn of_two_operators_one_processes_a_job_and_the_standby_finishes_it() {
    let h = Harness::new("ha").await;
    let mut operators = Vec::new();
    for identity in ["operator-a", "operator-b"] {
        let ctx = h.context(&[], None);
        let health = Arc::clone(&ctx.health);
        let config = LeaseConfig::new("nbv-operator", &h.env.namespace, identity, LEASE);
        let (client, namespace, stop) = (
            h.env.client.clone(),
            h.env.namespace.clone(),
            CancellationToken::new(),
        );
        let (task_health, token) = (Arc::clone(&health), stop.clone());
        let task = tokio::spawn(async move {
            leader::lead(client, config, &task_health, token, |until| async move {
                controller::run_until(ctx, Some(&namespace), until)
                    .await
                    .expect("controller");
            })
            .await
        });
        operators.push((identity, health, stop, task));
    }
    let leases: Api<Lease> = Api::namespaced(h.env.client.clone(), &h.env.namespace);
    h.create_job(&job_yaml(
        "once",
        "  podConfig:\n    containerImage: quay.io/jupyter/minimal-notebook:2025-06-30\n",
    ))
    .await;
    h.wait_object(&h.pods(), "once-validation").await;
    h.wait_phase("once", Phase::ValidationRunning).await;
    let current = holder(&leases, "nbv-operator").await.expect("a leader");
    let leading = operators
        .iter()
        .position(|(id, ..)| *id == current)
        .expect("one of ours");
    let (_, standby_health, ..) = &operators[1 - leading];
    assert_eq!(standby_health.get(), Readiness::Standby);

    let (_, _, stop, task) = operators.remove(leading);
    stop.cancel();
    assert_eq!(task.await.expect("task"), Ended::Stopped);
    h.pass_pod("once-validation").await;
    h.wait_phase("once", Phase::Succeeded).await;
    let (standby, health, stop, task) = operators.remove(0);
    assert_eq!(
        holder(&leases, "nbv-operator").await.as_deref(),
        Some(standby)
    );
    for _ in 0..20 {
        if health.get() == Readiness::Ready {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        health.get(),
        Readiness::Ready,
        "the new leader's cache synced"
    );
    let pods = h
        .pods()
        .list(&ListParams::default())
        .await
        .expect("pods")
        .items;
    assert_eq!(pods.len(), 1, "one validation pod for the job");
    stop.cancel();
    assert_eq!(task.await.expect("task"), Ended::Stopped);
    assert_eq!(
        holder(&leases, "nbv-operator").await,
        None,
        "released on shutdown"
    );
}
