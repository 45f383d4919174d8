//! The operator's HTTP endpoints: `/metrics` for Prometheus, `/healthz` for the liveness probe
//! and `/readyz` for the readiness probe.
//!
//! Readiness: a replica is ready once it leads and the controller's job cache has synced, or,
//! with leader election, while it stands by for the lease (it can take over at any time; a
//! standby that never became ready would stall every rolling update of a Deployment with more
//! than one replica).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::metrics::{CONTENT_TYPE, Metrics};

/// Where the replica is in its life, as `/readyz` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// Starting: not connected to the API server yet.
    Starting,
    /// Waiting for the leader-election lease, which another replica holds.
    Standby,
    /// Leading; the controller is filling its cache of jobs.
    Syncing,
    /// Leading with a synced cache: reconciling.
    Ready,
}

impl Readiness {
    fn is_ready(self) -> bool {
        matches!(self, Self::Standby | Self::Ready)
    }

    fn describe(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Standby => "standing by for the leader-election lease",
            Self::Syncing => "leading; waiting for the job cache to sync",
            Self::Ready => "leading; caches synced",
        }
    }
}

/// The replica's readiness, shared between the controller, the elector and the endpoints.
#[derive(Debug)]
pub struct Health {
    state: Mutex<Readiness>,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            state: Mutex::new(Readiness::Starting),
        }
    }
}

impl Health {
    /// Records where the replica is.
    pub fn set(&self, readiness: Readiness) {
        if let Ok(mut state) = self.state.lock() {
            if *state != readiness {
                tracing::info!(readiness = readiness.describe(), "readiness changed");
            }
            *state = readiness;
        }
    }

    /// Where the replica is.
    pub fn get(&self) -> Readiness {
        self.state.lock().map_or(Readiness::Starting, |s| *s)
    }
}

/// Why the endpoints could not be served.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address could not be bound.
    #[error("cannot listen on {addr} for /metrics, /healthz and /readyz: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The server failed while running.
    #[error("the metrics and health server failed: {0}")]
    Serve(#[source] std::io::Error),
}

#[derive(Clone)]
struct Shared {
    metrics: Arc<Metrics>,
    health: Arc<Health>,
}

/// Binds `addr`; binding early makes a taken port fail the start instead of a later probe.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })
}

/// Serves the endpoints on `listener` until `stop` is cancelled.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    stop: CancellationToken,
) -> Result<(), ServeError> {
    let app = Router::new()
        .route("/metrics", get(metrics_endpoint))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(Shared { metrics, health });
    axum::serve(listener, app)
        .with_graceful_shutdown(stop.cancelled_owned())
        .await
        .map_err(ServeError::Serve)
}

async fn metrics_endpoint(State(shared): State<Shared>) -> impl IntoResponse {
    match shared.metrics.encode() {
        Ok(text) => (StatusCode::OK, [(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "the metrics could not be encoded",
        )
            .into_response(),
    }
}

async fn readyz(State(shared): State<Shared>) -> impl IntoResponse {
    let readiness = shared.health.get();
    let code = if readiness.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, readiness.describe())
}
