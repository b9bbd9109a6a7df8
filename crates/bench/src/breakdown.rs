//! Where a cold invocation's time goes: the same I/O code the function runs
//! (`queue-scaler-io`), called in-process step by step against local-gke, each step timed on
//! its own, with fresh clients on every run. I/O: HTTPS to local-gke on 127.0.0.1.
//!
//! Google's endpoints are verified against `SSL_CERT_FILE`, which `bench-harness` points at
//! local-gke's CA before it starts its runtime; the cost of loading the system's roots instead
//! is measured by the `startup` criterion bench.

use crate::scaler_env::{DEPLOYMENT, NAMESPACE};
use crate::Error;
use queue_scaler_core::cluster::ClusterSource;
use queue_scaler_core::config::{roots_from_environment, KeySource, DEFAULT_TOKEN_SCOPES};
use queue_scaler_core::{Policy, Target};
use queue_scaler_harness::ControlPlane;
use queue_scaler_io::http::public_client;
use queue_scaler_io::kube::cluster;
use queue_scaler_io::{GoogleTokens, KubeScaleApi, PublicRoots, ScaleApi, TokenSource};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The steps, in the order a cold invocation takes them, then the warm ones.
pub const STEPS: [&str; 9] = [
    "read the key, build the token provider (parses the RSA key, loads roots)",
    "token: sign the JWT (RS256), TLS handshake, POST /token",
    "read the roots, build the Google API client",
    "discovery: TLS handshake, GET clusters.get",
    "build the cluster client (parses the cluster CA)",
    "GET scale: TLS handshake to the cluster, GET",
    "PUT scale (kept-alive connection)",
    "warm: token from cache",
    "warm: GET + PUT scale (kept-alive connection)",
];

/// One run's time per step, in [`STEPS`] order.
pub type Run = [Duration; 9];

fn fail(step: &str) -> impl FnOnce(queue_scaler_io::Error) -> Error + '_ {
    move |e| Error::Breakdown(format!("{step}: {e}"))
}

/// Run every step once, from nothing.
pub async fn run_once(plane: &ControlPlane) -> Result<Run, Error> {
    let key_file = plane
        .key_file()
        .ok_or_else(|| Error::Breakdown("local-gke wrote no key file".into()))?;
    let target = Target {
        namespace: NAMESPACE.into(),
        deployment: DEPLOYMENT.into(),
        policy: Policy {
            min: 1,
            max: 1_000_000,
            step: 1,
            messages_per_replica: None,
        },
    };
    // The token source takes the container's public client, which the key path does not use:
    // it is built before the clock starts, and again in its own step below.
    let tokens_client =
        public_client(&PublicRoots::read_system_now(roots_named())).map_err(fail("client"))?;
    let mut laps = Laps::start();

    // As the function does on its first invocation: read the key and build the provider.
    let tokens = Arc::new(GoogleTokens::lazy(
        KeySource::File(key_file),
        None,
        tokens_client,
        DEFAULT_TOKEN_SCOPES.map(String::from).to_vec(),
    ));
    tokens.account().await.map_err(fail("key"))?;
    laps.lap(0);
    let token = tokens.token().await.map_err(fail("token"))?;
    laps.lap(1);
    // Waited for here, so that reading them counts in this step as it does at start-up.
    let roots = PublicRoots::load(roots_named());
    roots.store().map_err(fail("roots"))?;
    let google = public_client(&roots).map_err(fail("public client"))?;
    laps.lap(2);
    let endpoint = cluster::discover(
        &google,
        plane.gke().google_url(),
        &plane.gke().cluster_name(),
        &token,
    )
    .await
    .map_err(fail("discovery"))?;
    laps.lap(3);
    // `KubeScaleApi::new` builds the cluster client for a given endpoint; it takes the public
    // client, which the function builds once at start-up.
    let client = cluster::cluster_client(&endpoint, &roots).map_err(fail("cluster client"))?;
    drop(client);
    laps.lap(4);
    let api = KubeScaleApi::new(
        tokens.clone(),
        ClusterSource::Direct(endpoint),
        google.clone(),
        roots.clone(),
    )
    .map_err(fail("scale API"))?;
    laps.restart();
    let scale = api.get(&target).await.map_err(fail("GET scale"))?;
    laps.lap(5);
    let body = scale.with_replicas(scale.spec.replicas + 1);
    api.put(&target, &body).await.map_err(fail("PUT scale"))?;
    laps.lap(6);
    tokens.token().await.map_err(fail("cached token"))?;
    laps.lap(7);
    let scale = api.get(&target).await.map_err(fail("warm GET scale"))?;
    let body = scale.with_replicas(scale.spec.replicas + 1);
    api.put(&target, &body)
        .await
        .map_err(fail("warm PUT scale"))?;
    laps.lap(8);
    Ok(laps.times)
}

/// Times consecutive steps.
struct Laps {
    times: Run,
    clock: Instant,
}

impl Laps {
    fn start() -> Laps {
        Laps {
            times: [Duration::ZERO; 9],
            clock: Instant::now(),
        }
    }

    /// Step `i` ended now; the next starts now.
    fn lap(&mut self, i: usize) {
        let now = Instant::now();
        self.times[i] = now - self.clock;
        self.clock = now;
    }

    /// What happened since the last lap is not counted.
    fn restart(&mut self) {
        self.clock = Instant::now();
    }
}

/// Whether this process's environment names the CA roots, as the functions decide it.
fn roots_named() -> bool {
    roots_from_environment(|name| std::env::var(name).ok())
}
