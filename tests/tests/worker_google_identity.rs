//! The workers reach SQS without an AWS key, way (b) (docs/design.md, "The workers' AWS
//! access"): a model's Kubernetes service account acts as a Google service account of its own
//! (GKE Workload Identity), and the metadata server gives the worker that account's Google-signed
//! ID token for the audience `sts.amazonaws.com`. local-gke stands for the metadata server and
//! for Google: it binds the service account to the Google account, knows which pod asks, signs
//! the token, and publishes `accounts.google.com`'s discovery document and Google's keys. The
//! token is verified as STS verifies one (tests/src/web_identity.rs: the documents fetched
//! anonymously, Google's URLs mapped to local-gke's paths; signature, `iss`, `exp`), and the
//! trust policy the template gives the worker role with `WorkerGoogleAccountId` is evaluated on
//! its claims as AWS maps Google's (`:aud` is the token's `azp`, `:oaud` its `aud`): it admits
//! exactly this model's Google account, for STS only. End to end, moto's STS and SQS give
//! credentials for that token that receive and delete a message of the model's queue. The
//! guide's sidecar command, run against local-gke's metadata server, renews the token file by
//! write-then-rename and keeps the previous token when the metadata server refuses.
//!
//! Needs python3 with PyYAML and moto (the `.venv`), and `sh` and `curl` (the sidecar's command).

use local_gke::{Config, LocalGke, PodIdentity, ServiceAccountBinding, POD_ADDRESS_HEADER};
use queue_scaler_tests::web_identity::{
    roles_trusting, template_worker_roles, trust_allows, verify_as_sts, worker_takes_its_message,
    Claims, STS_AUDIENCE, WORKER_ACTIONS,
};
use serde_json::Value;

/// Google's issuer: the provider URL STS verifies Google's ID tokens for.
const GOOGLE: &str = "https://accounts.google.com";
/// How a role's trust names Google (AWS's built-in provider, no IAM OIDC provider).
const GOOGLE_PROVIDER: &str = "accounts.google.com";
/// The unique ids of the Google service accounts: the first model's, the second's, another.
const FIRST_ID: &str = "104729104729104729101";
const SECOND_ID: &str = "104729104729104729102";
const OTHER_ID: &str = "104729104729104729103";
/// Google's built-in provider has no list of client ids: the role's `:aud` condition is the only
/// check of `azp`, so every account here is a client STS accepts.
const ANY_ACCOUNT: [&str; 3] = [FIRST_ID, SECOND_ID, OTHER_ID];
/// The account tests/infra/template_invariants.py resolves the template in.
const ACCOUNT: &str = "123456789012";

/// local-gke as Google and the metadata server, with an HTTPS client that trusts its CA and sends
/// no credentials.
struct Google {
    gke: LocalGke,
    http: reqwest::Client,
}

impl Google {
    /// local-gke with each `(namespace, service account, unique id, pod IP)` bound to a Google
    /// service account of its own, and a pod of it at that IP.
    async fn start(accounts: &[(&str, &str, &str, &str)]) -> Google {
        let gke = LocalGke::start(Config::default())
            .await
            .expect("local-gke starts");
        let admin = gke.admin_client().expect("an admin client");
        let ca = reqwest::Certificate::from_pem(gke.google_ca_pem().as_bytes()).expect("the CA");
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca)
            .build()
            .expect("an HTTPS client");
        for (namespace, name, unique_id, ip) in accounts {
            let binding = ServiceAccountBinding {
                namespace: (*namespace).to_owned(),
                service_account: (*name).to_owned(),
                google_service_account: format!("{name}@demo-project.iam.gserviceaccount.com"),
                unique_id: (*unique_id).to_owned(),
            };
            admin
                .bind_service_account(&binding)
                .await
                .expect("the binding");
            let pod = PodIdentity {
                namespace: (*namespace).to_owned(),
                service_account: (*name).to_owned(),
            };
            admin.set_pod(ip, &pod).await.expect("the pod");
        }
        Google { gke, http }
    }

    /// What the pod at `ip` gets from the metadata server for `audience`, as
    /// `curl -H 'Metadata-Flavor: Google' .../identity?audience=AUD&format=full` does.
    async fn token(&self, ip: &str, audience: &str) -> String {
        let response = self
            .http
            .get(self.gke.metadata_identity_url())
            .query(&[("audience", audience), ("format", "full")])
            .header("Metadata-Flavor", "Google")
            .header(POD_ADDRESS_HEADER, ip)
            .send()
            .await
            .expect("the metadata server answers");
        let status = response.status();
        let body = response.text().await.expect("a body");
        assert_eq!(status, 200, "the metadata server refused {ip}: {body}");
        body
    }

    /// An anonymous GET of one of Google's URLs, from local-gke, which answers for it: the
    /// discovery document at its own path, the keys at the `jwks_uri` it names (local-gke's own
    /// certs URL, and Google's, mapped to it).
    async fn fetch(&self, url: String) -> Result<Value, String> {
        let local = if url == format!("{GOOGLE}/.well-known/openid-configuration") {
            self.gke.google_discovery_url()
        } else if url == "https://www.googleapis.com/oauth2/v3/certs"
            || url == self.gke.google_certs_url()
        {
            self.gke.google_certs_url()
        } else {
            return Err(format!("no server answers for {url}"));
        };
        let response = self
            .http
            .get(&local)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        if status == 200 {
            Ok(body)
        } else {
            Err(format!("GET {url} answered {status}: {body}"))
        }
    }

    /// `token` verified as STS verifies a Google ID token at `now`.
    async fn verify(&self, token: &str, now: i64) -> Result<Claims, String> {
        verify_as_sts(token, GOOGLE, &ANY_ACCOUNT, now, |url| self.fetch(url)).await
    }
}

/// Seconds since the epoch.
fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The worker role(s) the template makes with `params`, by id.
fn role(params: &[(&str, &str)], id: &str) -> Value {
    template_worker_roles(params)
        .into_iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("the template makes no {id} with {params:?}"))
        .trust
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_models_own_google_account_is_trusted_by_its_worker_role() {
    let google = Google::start(&[
        ("ml", "model-worker", FIRST_ID, "10.4.0.7"),
        ("ml", "other-worker", OTHER_ID, "10.4.0.8"),
    ])
    .await;
    let token = google.token("10.4.0.7", STS_AUDIENCE).await;
    let claims = google
        .verify(&token, now())
        .await
        .unwrap_or_else(|e| panic!("STS would refuse the worker's token: {e}"));
    assert_eq!(claims.iss, GOOGLE);
    assert_eq!(claims.sub, FIRST_ID);
    assert_eq!(claims.azp.as_deref(), Some(FIRST_ID));
    assert_eq!(claims.aud, [STS_AUDIENCE]);
    let now = now();
    assert!(
        claims.exp > now && claims.exp <= now + 3600 + 5,
        "Google's ID token lasts an hour: exp {} at {now}",
        claims.exp
    );

    let trust = role(
        &[
            ("WorkerGoogleAccountId", FIRST_ID),
            ("QueueName", "model-jobs"),
        ],
        "WorkerRole",
    );
    assert!(
        trust_allows(&trust, GOOGLE_PROVIDER, GOOGLE_PROVIDER, &claims),
        "the worker role refuses its own workers: {trust}"
    );

    // Another Google account's token: valid, refused by the trust.
    let other = google.token("10.4.0.8", STS_AUDIENCE).await;
    let other = google.verify(&other, now).await.expect("a valid token");
    assert_eq!(other.sub, OTHER_ID);
    assert!(
        !trust_allows(&trust, GOOGLE_PROVIDER, GOOGLE_PROVIDER, &other),
        "another Google account may assume model-worker's role"
    );
    // The model's own account, for another audience (`:oaud`): STS verifies it (it checks
    // `azp`), the trust refuses it.
    let elsewhere = google.token("10.4.0.7", "https://example.com").await;
    let elsewhere = google
        .verify(&elsewhere, now)
        .await
        .expect("a valid token for another audience");
    assert_eq!(elsewhere.aud, ["https://example.com"]);
    assert_eq!(elsewhere.azp.as_deref(), Some(FIRST_ID));
    assert!(
        !trust_allows(&trust, GOOGLE_PROVIDER, GOOGLE_PROVIDER, &elsewhere),
        "a token the worker got for another audience may assume its role"
    );
    // A role of way (a), trusting a cluster's issuer, refuses Google's token.
    let issuer = "container.googleapis.com/v1/projects/demo-project/locations/europe-west4/clusters/gpu-cluster";
    let way_a = role(&[("WorkerOidcIssuer", issuer)], "WorkerRole");
    assert!(!trust_allows(
        &way_a,
        GOOGLE_PROVIDER,
        GOOGLE_PROVIDER,
        &claims
    ));

    // What STS checks of the token itself: a signature that does not verify, an expired token,
    // a provider of another URL.
    let (signed, signature) = token.rsplit_once('.').expect("a JWT");
    let mut forged = signature.as_bytes().to_vec();
    forged[10] = if forged[10] == b'A' { b'B' } else { b'A' };
    let forged = format!("{signed}.{}", String::from_utf8_lossy(&forged));
    let err = google
        .verify(&forged, now)
        .await
        .expect_err("a forged signature is refused");
    assert!(err.contains("signature"), "{err}");
    let err = google
        .verify(&token, claims.exp + 1)
        .await
        .expect_err("an expired token is refused");
    assert!(err.contains("expired"), "{err}");
    let err = verify_as_sts(&token, "https://example.com", &ANY_ACCOUNT, now, |url| {
        google.fetch(url)
    })
    .await
    .expect_err("a token of another issuer finds no provider");
    assert!(err.contains("No OpenIDConnect provider"), "{err}");

    // Two models in one stack, each with its own Google account: each role trusts its own
    // model's account only.
    let two = Google::start(&[
        ("ml", "text-model", FIRST_ID, "10.4.1.1"),
        ("ml", "image-model", SECOND_ID, "10.4.1.2"),
    ])
    .await;
    let roles = template_worker_roles(&[
        ("WorkerGoogleAccountId", FIRST_ID),
        ("SecondWorkerGoogleAccountId", SECOND_ID),
        ("QueueName", "text-jobs"),
        ("TargetDeployment", "text-model"),
        ("SecondTargetDeployment", "image-model"),
        ("SecondQueueName", "image-jobs"),
    ]);
    let mut seen = Vec::new();
    for (model, ip) in [("text-model", "10.4.1.1"), ("image-model", "10.4.1.2")] {
        let token = two.token(ip, STS_AUDIENCE).await;
        let model_claims = two
            .verify(&token, now)
            .await
            .unwrap_or_else(|e| panic!("{model}: {e}"));
        let trusting = roles_trusting(&roles, GOOGLE_PROVIDER, GOOGLE_PROVIDER, &model_claims);
        seen.push((model, trusting));
    }
    assert_eq!(
        seen,
        [
            ("text-model", vec!["WorkerRole"]),
            ("image-model", vec!["SecondWorkerRole"])
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_takes_its_queues_message_with_the_credentials_its_google_token_buys() {
    let google = Google::start(&[("ml", "model-worker", FIRST_ID, "10.4.0.7")]).await;
    let token = google.token("10.4.0.7", STS_AUDIENCE).await;
    let claims = google
        .verify(&token, now())
        .await
        .unwrap_or_else(|e| panic!("STS would refuse the worker's token: {e}"));
    let roles = template_worker_roles(&[
        ("WorkerGoogleAccountId", FIRST_ID),
        ("QueueName", "model-jobs"),
    ]);
    let role = roles
        .iter()
        .find(|r| r.id == "WorkerRole")
        .expect("a worker role");
    assert!(trust_allows(
        &role.trust,
        GOOGLE_PROVIDER,
        GOOGLE_PROVIDER,
        &claims
    ));
    // What the role may do: its own queue's messages, nothing else.
    assert_eq!(
        role.actions_on("arn:aws:sqs:eu-west-1:123456789012:model-jobs"),
        WORKER_ACTIONS
    );
    let role_arn = format!("arn:aws:iam::{ACCOUNT}:role/queue-scaler-WorkerRole-AbCdEf");
    worker_takes_its_message(&token, &role_arn).await;
}

/// The sidecar's command in the guide (docs/deploy.md, way (b)): fetch the token from the
/// metadata server into `token.new`, then rename it over `token`.
fn guide_sidecar_command() -> String {
    let guide =
        std::fs::read_to_string(queue_scaler_tests::workspace_root().join("docs/deploy.md"))
            .expect("the guide");
    let start = guide
        .find("curl -fsS -H 'Metadata-Flavor: Google' -o token.new")
        .expect("the guide gives the sidecar's command");
    let end = guide[start..]
        .find("```")
        .map(|n| start + n)
        .expect("the command's block ends");
    let command = guide[start..end].trim().to_owned();
    assert!(
        command.ends_with("&& mv token.new token"),
        "the token is renamed over the old one only once fetched: {command}"
    );
    command
}

/// The guide's sidecar command, run as the pod at `ip` would run it in `dir`, against local-gke:
/// the metadata server's address mapped to local-gke's, its CA trusted, the pod's address sent.
fn run_sidecar(google: &Google, dir: &std::path::Path, ip: &str, ca: &std::path::Path) -> bool {
    let command = guide_sidecar_command()
        .replace("\\\n", " ")
        .replace("http://metadata.google.internal", google.gke.google_url())
        .replacen(
            "curl ",
            &format!(
                "curl --cacert '{}' -H '{POD_ADDRESS_HEADER}: {ip}' ",
                ca.display()
            ),
            1,
        );
    std::process::Command::new("sh")
        .arg("-c")
        .arg(&command)
        .current_dir(dir)
        .status()
        .expect("sh runs")
        .success()
}

/// The renewal the guide documents: each run of the sidecar's command leaves a new token, which
/// STS accepts, in the file the worker's SDK reads; a run the metadata server refuses leaves the
/// previous token in place, whole.
#[tokio::test(flavor = "multi_thread")]
async fn the_guides_sidecar_renews_the_token_file_and_keeps_it_on_a_refusal() {
    let google = Google::start(&[("ml", "model-worker", FIRST_ID, "10.4.0.7")]).await;
    let dir = tempfile::tempdir().expect("a directory");
    let ca = dir.path().join("google-ca.pem");
    std::fs::write(&ca, google.gke.google_ca_pem()).expect("the CA");
    let file = dir.path().join("token");

    assert!(run_sidecar(&google, dir.path(), "10.4.0.7", &ca));
    let first = std::fs::read_to_string(&file).expect("the sidecar wrote the token");
    let claims = google
        .verify(&first, now())
        .await
        .unwrap_or_else(|e| panic!("STS would refuse the file's token: {e}"));
    assert_eq!(
        (claims.sub.as_str(), claims.aud.as_slice()),
        (FIRST_ID, &[STS_AUDIENCE.to_owned()][..])
    );
    assert!(
        !dir.path().join("token.new").exists(),
        "renamed, not copied"
    );

    // A later run: a new token, expiring later.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert!(run_sidecar(&google, dir.path(), "10.4.0.7", &ca));
    let second = std::fs::read_to_string(&file).expect("the token");
    assert_ne!(second, first);
    let renewed = google.verify(&second, now()).await.expect("a valid token");
    assert!(
        renewed.exp > claims.exp,
        "{} then {}",
        claims.exp,
        renewed.exp
    );

    // The metadata server refuses (the pod's service account is not bound): the command fails,
    // and the worker keeps reading the previous token, whole.
    let unbound = PodIdentity {
        namespace: "ml".to_owned(),
        service_account: "unbound".to_owned(),
    };
    google
        .gke
        .admin_client()
        .expect("an admin client")
        .set_pod("10.4.0.7", &unbound)
        .await
        .expect("the pod");
    assert!(!run_sidecar(&google, dir.path(), "10.4.0.7", &ca));
    assert_eq!(std::fs::read_to_string(&file).expect("the token"), second);
}
