//! The workers reach SQS without an AWS key (docs/design.md, "The workers' AWS access", way (a)).
//! The real kube-apiserver runs with a GKE-shaped `--service-account-issuer` and
//! `--service-account-jwks-uri`, and `system:service-account-issuer-discovery` bound to
//! unauthenticated users, as GKE publishes its issuer. It issues the worker's token through the
//! TokenRequest API, with the audience and lifetime of `infra/gke/model-deployment.yaml`'s
//! projected volume (what the kubelet writes to the file the worker's SDK reads). The token is
//! verified as STS verifies one (tests/src/web_identity.rs: the issuer's documents fetched
//! anonymously, the path of GKE's URL mapped to the API server's own discovery; signature,
//! `iss`, `aud`, `exp`), and the trust policy the template gives the worker role is evaluated on
//! its claims: it admits exactly this model's service account. End to end, moto's STS and SQS
//! give credentials for that token that receive and delete a message of the model's queue. The
//! doctor reads the worker role (moto's IAM), the Deployment, and the issuer's documents as
//! local-gke's GKE API publishes them (the API server's own, handed over), and names what
//! disagrees.
//!
//! Needs the kube binaries (scripts/build-kube.sh), python3 with PyYAML and moto (the `.venv`).

use queue_scaler_harness::moto::{MotoServer, ACCESS_KEY_ID, SECRET_ACCESS_KEY};
use queue_scaler_tests::real_kube::RealKube;
use queue_scaler_tests::web_identity::{
    manifest_token, roles_trusting, template_worker_roles, trust_allows, verify_as_sts,
    worker_takes_its_message, Claims, STS_AUDIENCE, WORKER_ACTIONS,
};
use queue_scaler_tests::{function_env, Functions};
use serde_json::Value;

/// The cluster's issuer, as GKE names it: the cluster local-gke serves (`GKE_CLUSTER`), so the
/// doctor derives the same issuer from the functions' configuration.
const ISSUER: &str = "https://container.googleapis.com/v1/projects/demo-project/locations/europe-west4/clusters/gpu-cluster";
/// Another cluster's issuer.
const OTHER_ISSUER: &str =
    "https://container.googleapis.com/v1/projects/demo-project/locations/europe-west4/clusters/other";
/// The Deployment the functions scale (tests/src's `function_env`), as model-deployment.yaml
/// ships it.
const NS: &str = "ml";
const DEPLOYMENT: &str = "model-worker";
/// The account tests/infra/template_invariants.py resolves the template in.
const ACCOUNT: &str = "123456789012";

/// The IAM OIDC provider for `issuer`, as infra/aws/oidc-provider.sh registers it: its URL
/// without `https://` (the stack parameter WorkerOidcIssuer) and its ARN.
fn provider(issuer: &str) -> (String, String) {
    let host = issuer.trim_start_matches("https://").to_owned();
    let arn = format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{host}");
    (host, arn)
}

/// An anonymous GET of one of the issuer's URLs, from the server that answers for it: the API
/// server's discovery document and keys stand at its own paths.
async fn fetch(kube: &RealKube, url: String) -> Result<Value, String> {
    let path = if url == format!("{ISSUER}/.well-known/openid-configuration") {
        "/.well-known/openid-configuration"
    } else if url == format!("{ISSUER}/jwks") {
        "/openid/v1/jwks"
    } else {
        return Err(format!("no server answers for {url}"));
    };
    let (status, body) = kube.anonymous_get(path).await;
    if status == 200 {
        Ok(body)
    } else {
        Err(format!("GET {url} answered {status}: {body}"))
    }
}

/// The API server, its issuer's documents readable without credentials (the authorizer reads
/// the new binding through a cache: wait until an anonymous GET is answered).
async fn published_cluster() -> RealKube {
    let kube = RealKube::start_with_issuer(ISSUER).await;
    let (status, body) = kube
        .anonymous_get("/.well-known/openid-configuration")
        .await;
    assert!(
        status == 401 || status == 403,
        "before it is published, the discovery document is not public: {status} {body}"
    );
    kube.publish_issuer_discovery().await;
    for _ in 0..100 {
        if kube.anonymous_get("/openid/v1/jwks").await.0 == 200 {
            kube.publish_issuer_on_gke_api().await;
            return kube;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (status, body) = kube.anonymous_get("/openid/v1/jwks").await;
    panic!("the issuer's keys never became public: {status} {body}");
}

/// A token of `namespace/name` with the manifest's audience (or `audience`) and lifetime, and its
/// claims as STS would verify them now.
async fn token_of(
    kube: &RealKube,
    namespace: &str,
    name: &str,
    audience: Option<&str>,
) -> (String, Result<Claims, String>) {
    let (manifest_audience, seconds, _) = manifest_token();
    let audience = audience.unwrap_or(&manifest_audience);
    kube.create_service_account(namespace, name).await;
    let token = kube
        .service_account_token(namespace, name, audience, seconds)
        .await;
    let now = chrono::Utc::now().timestamp();
    let claims = verify_as_sts(&token, ISSUER, &[STS_AUDIENCE], now, |url| fetch(kube, url)).await;
    (token, claims)
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_models_own_service_account_token_is_trusted_by_its_worker_role() {
    let kube = published_cluster().await;
    let (audience, seconds, file) = manifest_token();
    assert_eq!(audience, STS_AUDIENCE, "the manifest's token is for STS");
    assert!(
        seconds <= 86_400,
        "the token is short-lived ({seconds} s), and the kubelet renews it"
    );
    assert_eq!(
        file,
        "/var/run/secrets/sts.amazonaws.com/serviceaccount/token"
    );

    let (token, claims) = token_of(&kube, "ml", "model-worker", None).await;
    let claims = claims.unwrap_or_else(|e| panic!("STS would refuse the worker's token: {e}"));
    assert_eq!(claims.iss, ISSUER);
    assert_eq!(claims.sub, "system:serviceaccount:ml:model-worker");
    assert_eq!(claims.aud, [STS_AUDIENCE]);
    let now = chrono::Utc::now().timestamp();
    let lifetime = i64::try_from(seconds).unwrap_or(i64::MAX);
    assert!(
        claims.exp > now && claims.exp <= now + lifetime + 5,
        "it expires within the manifest's {seconds} s"
    );

    let (host, arn) = provider(ISSUER);
    let roles = template_worker_roles(&[("WorkerOidcIssuer", &host), ("QueueName", "model-jobs")]);
    let role = roles
        .iter()
        .find(|r| r.id == "WorkerRole")
        .expect("the template makes a worker role with WorkerOidcIssuer");
    assert!(
        trust_allows(&role.trust, &arn, &host, &claims),
        "the worker role refuses its own workers: {}",
        role.trust
    );

    // Another service account of the namespace, and the same name in another namespace: valid
    // tokens of this issuer, refused by the trust.
    for (namespace, name) in [("ml", "other-worker"), ("batch", "model-worker")] {
        let (_, other) = token_of(&kube, namespace, name, None).await;
        let other = other.unwrap_or_else(|e| panic!("{namespace}/{name}: {e}"));
        assert!(
            !trust_allows(&role.trust, &arn, &host, &other),
            "{namespace}/{name} may assume model-worker's role"
        );
    }
    // Another audience: STS refuses the token, and the trust would too.
    let (_, other_audience) = token_of(&kube, "ml", "model-worker", Some("kubernetes")).await;
    let refused = other_audience.expect_err("a token for another audience is refused");
    assert!(refused.contains("Incorrect token audience"), "{refused}");
    let as_if = Claims {
        aud: vec!["kubernetes".to_owned()],
        ..claims.clone()
    };
    assert!(!trust_allows(&role.trust, &arn, &host, &as_if));
    // A role whose keys name another issuer (another cluster's provider) refuses this one's.
    let (other_host, other_arn) = provider(OTHER_ISSUER);
    let other_roles = template_worker_roles(&[("WorkerOidcIssuer", &other_host)]);
    let other_role = &other_roles[0];
    assert!(!trust_allows(&other_role.trust, &arn, &host, &claims));
    assert!(!trust_allows(&other_role.trust, &other_arn, &host, &claims));

    // What STS checks of the token itself: a signature that does not verify, an expired token,
    // an issuer with no provider.
    let (signed, signature) = token.rsplit_once('.').expect("a JWT");
    let mut forged = signature.as_bytes().to_vec();
    forged[10] = if forged[10] == b'A' { b'B' } else { b'A' };
    let forged = format!("{signed}.{}", String::from_utf8_lossy(&forged));
    let fetch_kube = |url| fetch(&kube, url);
    let err = verify_as_sts(&forged, ISSUER, &[STS_AUDIENCE], now, fetch_kube)
        .await
        .expect_err("a forged signature is refused");
    assert!(err.contains("signature"), "{err}");
    let later = claims.exp + 1;
    let err = verify_as_sts(&token, ISSUER, &[STS_AUDIENCE], later, |url| {
        fetch(&kube, url)
    })
    .await
    .expect_err("an expired token is refused");
    assert!(err.contains("expired"), "{err}");
    let err = verify_as_sts(&token, OTHER_ISSUER, &[STS_AUDIENCE], now, |url| {
        fetch(&kube, url)
    })
    .await
    .expect_err("a token of another issuer finds no provider");
    assert!(err.contains("No OpenIDConnect provider"), "{err}");

    // Two models in one stack: each role trusts its own model's service account only.
    let two = template_worker_roles(&[
        ("WorkerOidcIssuer", &host),
        ("QueueName", "text-jobs"),
        ("TargetDeployment", "text-model"),
        ("SecondTargetDeployment", "image-model"),
        ("SecondQueueName", "image-jobs"),
    ]);
    let mut seen = Vec::new();
    for model in ["text-model", "image-model"] {
        let (_, model_claims) = token_of(&kube, "ml", model, None).await;
        let model_claims = model_claims.unwrap_or_else(|e| panic!("{model}: {e}"));
        seen.push((model, roles_trusting(&two, &arn, &host, &model_claims)));
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
async fn a_worker_takes_its_queues_message_with_the_credentials_its_token_buys() {
    let kube = published_cluster().await;
    let (token, claims) = token_of(&kube, "ml", "model-worker", None).await;
    let claims = claims.unwrap_or_else(|e| panic!("STS would refuse the worker's token: {e}"));
    let (host, arn) = provider(ISSUER);
    let roles = template_worker_roles(&[("WorkerOidcIssuer", &host), ("QueueName", "model-jobs")]);
    let role = roles
        .iter()
        .find(|r| r.id == "WorkerRole")
        .expect("a worker role");
    assert!(trust_allows(&role.trust, &arn, &host, &claims));
    // What the role may do: its own queue's messages, nothing else.
    assert_eq!(
        role.actions_on("arn:aws:sqs:eu-west-1:123456789012:model-jobs"),
        WORKER_ACTIONS
    );
    let role_arn = format!("arn:aws:iam::{ACCOUNT}:role/queue-scaler-WorkerRole-AbCdEf");
    worker_takes_its_message(&token, &role_arn).await;
}

/// The doctor's check of the workers' AWS access: its status, detail and fix.
async fn worker_check(functions: &Functions) -> (String, String, String) {
    let report = functions
        .invoke("scale-up", &serde_json::json!({"action": "doctor"}))
        .await
        .ok();
    let check = report["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"] == format!("{NS}/{DEPLOYMENT}: workers' AWS access"))
        .unwrap_or_else(|| panic!("no worker check: {report:#}"))
        .clone();
    let text = |k: &str| check[k].as_str().unwrap_or_default().to_owned();
    (text("status"), text("detail"), text("fix"))
}

/// The doctor reads the worker role the stack made (moto's IAM, as `iam:GetRole` answers), and
/// the Deployment as `infra/gke/model-deployment.yaml` ships it, its role filled in as the guide
/// fills it, on the real API server: it passes, and each way the two can disagree is a `fail`
/// whose fix names the setting or the file.
#[tokio::test(flavor = "multi_thread")]
async fn the_doctor_checks_the_worker_role_its_trust_and_the_deployments_service_account() {
    let kube = published_cluster().await;
    let moto = MotoServer::start().await.expect("moto_server starts");
    let iam = moto.iam();
    let (host, _) = provider(ISSUER);
    let trust_of = |host: &str| {
        template_worker_roles(&[("WorkerOidcIssuer", host), ("QueueName", "model-jobs")])
            .into_iter()
            .find(|r| r.id == "WorkerRole")
            .expect("the template makes a worker role")
            .trust
    };
    let trust = trust_of(&host);
    let name = "queue-scaler-WorkerRole-AbCdEf";
    let role = iam.create_role(name, &trust).await.expect("the role");
    kube.set_worker_env(NS, DEPLOYMENT, "AWS_ROLE_ARN", &role)
        .await;
    let env = function_env(
        &kube.env,
        &[
            ("TARGET_WORKER_ROLE", &role),
            ("AWS_ENDPOINT_URL_IAM", moto.endpoint()),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY),
            ("AWS_SESSION_TOKEN", ""),
        ],
    );
    let functions = Functions::start(&env).await;

    let (status, detail, _) = worker_check(&functions).await;
    assert_eq!(status, "pass", "{detail}");
    assert!(
        detail.contains("system:serviceaccount:ml:model-worker") && detail.contains(&host),
        "{detail}"
    );
    assert!(
        detail.contains("discovery document and 1 key(s) are public"),
        "{detail}"
    );

    // GKE does not publish this cluster's issuer: STS could verify no token of it.
    kube.local.gke().publish_issuer(None);
    let (status, detail, fix) = worker_check(&functions).await;
    assert_eq!(status, "fail", "{detail}");
    assert!(
        detail.contains("STS cannot verify") && detail.contains("404"),
        "{detail}"
    );
    assert!(fix.contains("WorkerGoogleAccountId"), "{fix}");
    kube.publish_issuer_on_gke_api().await;

    // The stack was deployed for another cluster's issuer.
    let (other_host, _) = provider(OTHER_ISSUER);
    iam.set_trust(name, &trust_of(&other_host))
        .await
        .expect("trust");
    let (status, detail, fix) = worker_check(&functions).await;
    assert_eq!(status, "fail", "{detail}");
    assert!(
        detail.contains(&other_host) && detail.contains(&host),
        "{detail}"
    );
    assert!(fix.contains("WorkerOidcIssuer"), "{fix}");
    iam.set_trust(name, &trust).await.expect("trust");

    // The pods run as another service account.
    kube.set_service_account(NS, DEPLOYMENT, "default").await;
    let (status, detail, fix) = worker_check(&functions).await;
    assert_eq!(status, "fail", "{detail}");
    assert!(
        detail.contains("system:serviceaccount:ml:default"),
        "{detail}"
    );
    assert!(fix.contains("serviceAccountName"), "{fix}");
    kube.set_service_account(NS, DEPLOYMENT, DEPLOYMENT).await;

    // The workers are given another role.
    let other_role = format!("arn:aws:iam::{ACCOUNT}:role/another-role");
    kube.set_worker_env(NS, DEPLOYMENT, "AWS_ROLE_ARN", &other_role)
        .await;
    let (status, detail, fix) = worker_check(&functions).await;
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.contains(&other_role), "{detail}");
    assert!(fix.contains("model-deployment.yaml"), "{fix}");
    kube.set_worker_env(NS, DEPLOYMENT, "AWS_ROLE_ARN", &role)
        .await;
    assert_eq!(worker_check(&functions).await.0, "pass");

    // The role is gone.
    iam.delete_role(name).await.expect("deleted");
    let (status, detail, fix) = worker_check(&functions).await;
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.contains("does not exist"), "{detail}");
    assert!(fix.contains("TARGET_WORKER_ROLE"), "{fix}");
}
