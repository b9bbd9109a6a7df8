//! The key file works with the client the Lambda functions use: gcp_auth's
//! CustomServiceAccount, trusting the google CA through SSL_CERT_FILE, gets a token that opens
//! the GKE API and the Kubernetes API, and reuses it rather than asking again.
//!
//! This binary holds a single test because it sets SSL_CERT_FILE for the whole process.

mod common;

use common::{Harness, TempDir, TestResult};
use gcp_auth::{CustomServiceAccount, TokenProvider};
use local_gke::{CLOUD_PLATFORM_SCOPE, USERINFO_EMAIL_SCOPE};
use reqwest::StatusCode;
use serde_json::Value;

#[tokio::test]
async fn gcp_auth_gets_a_token_from_the_key_file_that_opens_gke_and_the_cluster() -> TestResult {
    let harness = Harness::start().await?;
    let dir = TempDir::new("gcp-auth")?;
    harness.gke.write_state_dir(&dir.0)?;
    let env: Vec<(String, String)> = std::fs::read_to_string(dir.0.join("env"))?
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let var = |key: &str| {
        env.iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .ok_or(format!("{key} missing from env"))
    };
    // gcp_auth trusts the platform's roots; SSL_CERT_FILE replaces them. Set before the
    // client exists, and with no other test in this process to race with.
    std::env::set_var("SSL_CERT_FILE", var("SSL_CERT_FILE")?);

    let account = CustomServiceAccount::from_file(var("GOOGLE_APPLICATION_CREDENTIALS")?)?;
    let scopes = [CLOUD_PLATFORM_SCOPE, USERINFO_EMAIL_SCOPE];
    let token = account.token(&scopes).await?;

    let cluster: Value = harness
        .google
        .get(format!(
            "{}/v1/{}",
            var("GKE_API_URL")?,
            var("GKE_CLUSTER")?
        ))
        .bearer_auth(token.as_str())
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    assert_eq!(cluster["status"], "RUNNING");

    let (status, scale) = harness
        .get_scale("ml", "model-worker", token.as_str())
        .await?;
    assert_eq!(status, StatusCode::OK, "{scale}");
    assert_eq!(scale["spec"]["replicas"], 2);

    // A warm invocation asks gcp_auth again: the cached token is reused, not re-requested.
    let again = account.token(&scopes).await?;
    assert_eq!(again.as_str(), token.as_str());
    let log = harness.admin.requests().await?;
    let token_requests = log
        .iter()
        .filter(|r| r.kind == local_gke::admin::RequestKind::Token)
        .count();
    assert_eq!(token_requests, 1, "{log:?}");
    Ok(())
}
