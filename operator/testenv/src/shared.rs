//! One control plane per test binary, and a namespace per test.

use std::sync::{Arc, OnceLock};

use crate::{ControlPlane, Error};

type Shared = OnceLock<Result<ControlPlane, Arc<Error>>>;

static SHARED: Shared = OnceLock::new();
static SHARED_WITH_NODE: Shared = OnceLock::new();

/// The control plane shared by all tests of this binary, started by the first caller.
///
/// It is started on a thread and tokio runtime of its own rather than in the calling test's
/// runtime: each `#[tokio::test]` has its own runtime, which ends with the test, and nothing the
/// shared control plane keeps may depend on one. It is never dropped (Rust does not drop
/// statics); its servers stop when the process ends, because their supervisors see their stdin
/// pipe close. A failed start is remembered and reported to every test, not retried.
pub async fn shared() -> Result<&'static ControlPlane, Error> {
    shared_in(&SHARED, false).await
}

/// The same with a node (see [`crate::node`]), so that pods really run. One node runs per
/// machine: keep the tests that need it in one test binary.
pub async fn shared_with_node() -> Result<&'static ControlPlane, Error> {
    shared_in(&SHARED_WITH_NODE, true).await
}

async fn shared_in(cell: &'static Shared, node: bool) -> Result<&'static ControlPlane, Error> {
    let result = match cell.get() {
        Some(result) => result,
        // Concurrent first callers block in `get_or_init` until the first one is done; on a
        // blocking-pool thread, so their runtimes are not stalled.
        None => tokio::task::spawn_blocking(move || cell.get_or_init(|| start_on_own_thread(node)))
            .await
            .map_err(|e| Error::Invalid(format!("starting the shared control plane: {e}")))?,
    };
    result.as_ref().map_err(|e| Error::Shared(Arc::clone(e)))
}

fn start_on_own_thread(node: bool) -> Result<ControlPlane, Arc<Error>> {
    let start = move || -> Result<ControlPlane, Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io("tokio runtime", e))?;
        let builder = ControlPlane::builder();
        let builder = if node { builder.with_node() } else { builder };
        runtime.block_on(builder.start())
    };
    std::thread::Builder::new()
        .name("nbv-testenv-start".into())
        .spawn(start)
        .map_err(|e| Arc::new(Error::io("thread", e)))?
        .join()
        .unwrap_or_else(|_| Err(Error::Invalid("the start-up thread panicked".into())))
        .map_err(Arc::new)
}

/// What a test gets: the shared control plane, an admin client bound to the test's runtime, and
/// a fresh namespace of its own.
#[derive(Clone)]
pub struct TestEnv {
    /// Admin client (`system:masters`).
    pub client: kube::Client,
    /// This test's namespace.
    pub namespace: String,
    control_plane: &'static ControlPlane,
}

impl std::fmt::Debug for TestEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestEnv")
            .field("namespace", &self.namespace)
            .field("server", &self.control_plane.server_url())
            .finish_non_exhaustive()
    }
}

impl TestEnv {
    /// A namespace named after `prefix`, on the shared control plane.
    pub async fn new(prefix: &str) -> Result<Self, Error> {
        Self::with_namespace_labels(prefix, &[]).await
    }

    /// Same, with labels on the namespace, such as
    /// `pod-security.kubernetes.io/enforce=restricted`.
    pub async fn with_namespace_labels(
        prefix: &str,
        labels: &[(&str, &str)],
    ) -> Result<Self, Error> {
        Self::in_control_plane(shared().await?, prefix, labels).await
    }

    /// A namespace on the shared control plane with a node, where pods really run.
    pub async fn on_node(prefix: &str, labels: &[(&str, &str)]) -> Result<Self, Error> {
        Self::in_control_plane(shared_with_node().await?, prefix, labels).await
    }

    async fn in_control_plane(
        control_plane: &'static ControlPlane,
        prefix: &str,
        labels: &[(&str, &str)],
    ) -> Result<Self, Error> {
        let namespace = control_plane.create_namespace(prefix, labels).await?;
        Ok(Self {
            client: control_plane.client()?,
            namespace,
            control_plane,
        })
    }

    /// The shared control plane.
    pub fn control_plane(&self) -> &'static ControlPlane {
        self.control_plane
    }

    /// A client acting as ServiceAccount `name` of this namespace, with a real token.
    pub async fn service_account_client(&self, name: &str) -> Result<kube::Client, Error> {
        self.control_plane
            .service_account_client(&self.namespace, name)
            .await
    }

    /// Installs CRDs (YAML, several documents allowed) and waits until they are served.
    pub async fn install_crds(&self, manifests: &[&str]) -> Result<Vec<String>, Error> {
        crate::install_crds(&self.client, manifests).await
    }
}
