//! criterion: the parts of `scale-up`'s start-up and of its first token request, each on its
//! own, to explain the whole-process numbers of `bench-harness`:
//!
//! - reading the roots as the function does, once (`queue_scaler_io::PublicRoots::read_system_now`,
//!   the read `PublicRoots::load` runs in the background, here on the spot: the system's CA
//!   bundle file, or `SSL_CERT_FILE` naming one CA), and
//!   building an HTTPS client from them (`queue_scaler_io::http::public_client`);
//!   beside it, reqwest's own native roots, which read the bundle file and every file of the
//!   certificate directory;
//! - building `gcp_auth`'s service-account provider (parses the RSA key, builds its own client,
//!   which loads the roots again);
//! - parsing the RSA key, and signing one RS256 JWT with it (`ring`, as `gcp_auth` does);
//! - reading the configuration.
//!
//! Setup generates a service-account key and a CA with local-gke's library; the loops do no
//! network I/O, but the roots are read from disk as the function reads them.

// criterion_group! generates a public function that cannot carry a doc comment.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion};
use queue_scaler_core::Config;
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivatePkcs8KeyDer;
use std::collections::HashMap;
use std::hint::black_box;
use std::path::PathBuf;

struct Fixture {
    key_json: String,
    key_der: Vec<u8>,
    ca_file: PathBuf,
    env: HashMap<&'static str, String>,
}

fn fixture() -> Fixture {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let gke = runtime
        .block_on(local_gke::LocalGke::start(local_gke::Config::default()))
        .expect("local-gke starts");
    let key = gke.key_file().expect("a key file");
    let pem = key["private_key"].as_str().expect("a private key");
    let key_der = PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes())
        .expect("a PKCS#8 key")
        .secret_pkcs8_der()
        .to_vec();
    let ca_file = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-startup-ca.pem");
    std::fs::write(&ca_file, gke.google_ca_pem()).expect("writing the CA");
    let env = HashMap::from([
        ("GKE_CLUSTER", gke.cluster_name()),
        (
            "GOOGLE_APPLICATION_CREDENTIALS",
            "/nonexistent/key.json".into(),
        ),
        ("TARGET_NAMESPACE", "ml".into()),
        ("TARGET_DEPLOYMENT", "model-worker".into()),
        ("MAX_REPLICAS", "40".into()),
        ("AWS_REGION", "eu-west-1".into()),
        ("AWS_ACCESS_KEY_ID", "AKIDBENCHMARK".into()),
        ("AWS_SECRET_ACCESS_KEY", "bench-secret".into()),
    ]);
    Fixture {
        key_json: key.to_string(),
        key_der,
        ca_file,
        env,
    }
}

/// Run `f` with `SSL_CERT_FILE` naming `ca` (or unset), and `SSL_CERT_DIR` unset. Criterion runs
/// benchmarks on this one thread, and nothing else reads the environment meanwhile.
fn with_roots(ca: Option<&PathBuf>) {
    std::env::remove_var("SSL_CERT_DIR");
    match ca {
        Some(path) => std::env::set_var("SSL_CERT_FILE", path),
        None => std::env::remove_var("SSL_CERT_FILE"),
    }
}

fn startup(c: &mut Criterion) {
    let f = fixture();
    let mut group = c.benchmark_group("startup");
    group.sample_size(30);

    for (label, ca) in [("system roots", None), ("one CA", Some(&f.ca_file))] {
        with_roots(ca);
        group.bench_function(format!("roots read, {label}"), |b| {
            b.iter(|| {
                queue_scaler_io::PublicRoots::read_system_now(ca.is_some())
                    .store()
                    .expect("roots")
            })
        });
        let roots = queue_scaler_io::PublicRoots::read_system_now(ca.is_some());
        roots.store().expect("roots");
        group.bench_function(
            format!("HTTPS client build from read roots, {label}"),
            |b| b.iter(|| queue_scaler_io::http::public_client(&roots).expect("a client")),
        );
        group.bench_function(
            format!("reqwest client build with its native roots, {label}"),
            |b| b.iter(|| reqwest::Client::builder().build().expect("a client")),
        );
        group.bench_function(
            format!("gcp_auth provider build (RSA key + client), {label}"),
            |b| {
                b.iter(|| {
                    gcp_auth::CustomServiceAccount::from_json(black_box(&f.key_json))
                        .expect("a provider")
                })
            },
        );
    }
    with_roots(Some(&f.ca_file));

    group.bench_function("RSA-2048 key parse (ring)", |b| {
        b.iter(|| RsaKeyPair::from_pkcs8(black_box(&f.key_der)).expect("a key"))
    });
    let pair = RsaKeyPair::from_pkcs8(&f.key_der).expect("a key");
    let rng = SystemRandom::new();
    let message = [b'x'; 400];
    group.bench_function("RS256 JWT signature (ring)", |b| {
        b.iter(|| {
            let mut signature = vec![0; pair.public().modulus_len()];
            pair.sign(&RSA_PKCS1_SHA256, &rng, black_box(&message), &mut signature)
                .expect("a signature");
            signature
        })
    });
    group.bench_function("configuration from the environment", |b| {
        b.iter(|| {
            Config::from_lookup(
                |name| f.env.get(name).cloned(),
                |_| Err(std::io::ErrorKind::NotFound.into()),
            )
            .expect("a valid configuration")
        })
    });
    group.finish();
}

criterion_group!(benches, startup);
criterion_main!(benches);
