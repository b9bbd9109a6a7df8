//! The `local-gke` binary writes its state directory, prints the ready line once it serves,
//! and exits cleanly on SIGTERM.

mod common;

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::{client_trusting, TempDir, TestResult};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::time::timeout;

#[tokio::test]
async fn the_binary_writes_the_state_dir_prints_ready_and_exits_on_sigterm() -> TestResult {
    let dir = TempDir::new("binary")?;
    let mut child = Command::new(env!("CARGO_BIN_EXE_local-gke"))
        .arg("--state-dir")
        .arg(&dir.0)
        .args(["--project", "p1", "--deployment", "jobs/worker=4"])
        .args(["--project-number", "1234", "--identity-pool", "pool1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let ready = timeout(Duration::from_secs(120), lines.next_line())
        .await??
        .ok_or("stdout closed before the ready line")?;
    assert_eq!(
        ready,
        format!(
            "local-gke ready: env written to {}",
            dir.0.join("env").display()
        )
    );

    let env: HashMap<String, String> = std::fs::read_to_string(dir.0.join("env"))?
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let mut keys: Vec<&str> = env.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "GKE_API_URL",
            "GKE_CA_CERT",
            "GKE_CLUSTER",
            "GKE_ENDPOINT",
            "GOOGLE_APPLICATION_CREDENTIALS",
            "LOCAL_GKE_ADMIN_URL",
            "LOCAL_GKE_AWS_ACCESS_KEY_ID",
            "LOCAL_GKE_AWS_ROLE_ARN",
            "LOCAL_GKE_AWS_SECRET_ACCESS_KEY",
            "LOCAL_GKE_AWS_SESSION_TOKEN",
            "LOCAL_GKE_CREDENTIAL_CONFIG",
            "LOCAL_GKE_IMPERSONATION_URL",
            "LOCAL_GKE_STS_URL",
            "LOCAL_GKE_TOKENREVIEW_KUBECONFIG",
            "LOCAL_GKE_TOKENREVIEW_URL",
            "LOCAL_GKE_WIF_AUDIENCE",
            "SCALER_SERVICE_ACCOUNT",
            "SCALER_SERVICE_ACCOUNT_ID",
            "SSL_CERT_FILE",
        ]
    );
    assert_eq!(
        env["GKE_CLUSTER"],
        "projects/p1/locations/europe-west4/clusters/gpu-cluster"
    );
    assert!(env["GKE_ENDPOINT"].starts_with("https://127.0.0.1:"));

    let key_file: Value = serde_json::from_str(&std::fs::read_to_string(
        &env["GOOGLE_APPLICATION_CREDENTIALS"],
    )?)?;
    assert_eq!(key_file["type"], "service_account");
    assert_eq!(key_file["project_id"], "p1");
    assert_eq!(
        key_file["client_email"],
        env["SCALER_SERVICE_ACCOUNT"].as_str()
    );
    assert_eq!(
        key_file["client_email"],
        "queue-scaler@p1.iam.gserviceaccount.com"
    );
    assert_eq!(
        key_file["client_id"],
        env["SCALER_SERVICE_ACCOUNT_ID"].as_str()
    );
    assert_eq!(env["SCALER_SERVICE_ACCOUNT_ID"].len(), 21);
    assert_eq!(
        key_file["token_uri"],
        format!("{}/token", env["GKE_API_URL"])
    );
    assert!(key_file["private_key"]
        .as_str()
        .is_some_and(|k| k.starts_with("-----BEGIN PRIVATE KEY-----")));

    // The keyless credential configuration names local-gke's endpoints and the pool's provider.
    let credential_config: Value = serde_json::from_str(&std::fs::read_to_string(
        &env["LOCAL_GKE_CREDENTIAL_CONFIG"],
    )?)?;
    assert_eq!(credential_config["type"], "external_account");
    assert_eq!(
        env["LOCAL_GKE_WIF_AUDIENCE"],
        "//iam.googleapis.com/projects/1234/locations/global/workloadIdentityPools/pool1/providers/aws"
    );
    assert_eq!(
        credential_config["audience"],
        env["LOCAL_GKE_WIF_AUDIENCE"].as_str()
    );
    assert_eq!(
        credential_config["token_url"],
        format!("{}/v1/token", env["GKE_API_URL"])
    );
    assert_eq!(
        credential_config["token_url"],
        env["LOCAL_GKE_STS_URL"].as_str()
    );
    assert_eq!(
        credential_config["service_account_impersonation_url"],
        format!(
            "{}/v1/projects/-/serviceAccounts/queue-scaler@p1.iam.gserviceaccount.com:generateAccessToken",
            env["GKE_API_URL"]
        )
    );
    assert_eq!(
        env["LOCAL_GKE_AWS_ACCESS_KEY_ID"],
        local_gke::config::TEST_AWS_ACCESS_KEY_ID
    );
    assert_eq!(
        env["LOCAL_GKE_AWS_SESSION_TOKEN"],
        local_gke::config::TEST_AWS_SESSION_TOKEN
    );

    let cluster_ca = std::fs::read_to_string(dir.0.join("cluster-ca.pem"))?;
    assert_eq!(STANDARD.decode(&env["GKE_CA_CERT"])?, cluster_ca.as_bytes());

    // The listeners serve, with the CA that SSL_CERT_FILE names.
    let google = client_trusting(&std::fs::read_to_string(&env["SSL_CERT_FILE"])?)?;
    let deployment: Value = google
        .get(format!(
            "{}/deployments/jobs/worker",
            env["LOCAL_GKE_ADMIN_URL"]
        ))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    assert_eq!(deployment["replicas"], 4);

    let pid = child.id().ok_or("the child has already exited")?;
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()?;
    assert!(killed.success());
    let status = timeout(Duration::from_secs(10), child.wait()).await??;
    assert!(status.success(), "{status}");
    Ok(())
}
