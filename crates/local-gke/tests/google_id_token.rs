//! The GKE metadata server's identity endpoint gives a pod a Google-signed ID token of the Google
//! service account its Kubernetes service account is bound to, and refuses as the metadata
//! server does; the token verifies with the key Google's discovery document leads to.

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::{now, Fallible, Harness, TestResult};
use local_gke::{PodIdentity, ServiceAccountBinding, POD_ADDRESS_HEADER};
use reqwest::StatusCode;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::signature::Verifier;
use rsa::{BigUint, RsaPublicKey};
use serde_json::{json, Value};
use sha2::Sha256;

const EMAIL: &str = "model-worker@demo-project.iam.gserviceaccount.com";
const UNIQUE_ID: &str = "104729104729104729104";
const POD_IP: &str = "10.4.0.7";

/// local-gke with `ml/model-worker` bound to [`EMAIL`], and a pod of it at [`POD_IP`].
async fn bound() -> Fallible<Harness> {
    let harness = Harness::start().await?;
    harness
        .admin
        .bind_service_account(&ServiceAccountBinding {
            namespace: "ml".to_owned(),
            service_account: "model-worker".to_owned(),
            google_service_account: EMAIL.to_owned(),
            unique_id: UNIQUE_ID.to_owned(),
        })
        .await?;
    set_pod(&harness, POD_IP, "ml", "model-worker").await?;
    Ok(harness)
}

async fn set_pod(harness: &Harness, ip: &str, namespace: &str, account: &str) -> TestResult {
    let pod = PodIdentity {
        namespace: namespace.to_owned(),
        service_account: account.to_owned(),
    };
    harness.admin.set_pod(ip, &pod).await?;
    Ok(())
}

/// A GET of the identity endpoint with `query`, from the pod at `pod_ip`, with or without the
/// `Metadata-Flavor` header: the status, the `Metadata-Flavor` answered and the body.
async fn identity(
    harness: &Harness,
    query: &str,
    pod_ip: &str,
    flavor: bool,
) -> Fallible<(StatusCode, Option<String>, String)> {
    let mut request = harness
        .google
        .get(format!("{}?{query}", harness.gke.metadata_identity_url()))
        .header(POD_ADDRESS_HEADER, pod_ip);
    if flavor {
        request = request.header("Metadata-Flavor", "Google");
    }
    let response = request.send().await?;
    let status = response.status();
    let answered = response
        .headers()
        .get("metadata-flavor")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    Ok((status, answered, response.text().await?))
}

fn json_part(token: &str, i: usize) -> Fallible<Value> {
    let part = token.split('.').nth(i).ok_or("not a JWT")?;
    Ok(serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part)?)?)
}

/// Verifies `token`'s RS256 signature with the key its `kid` names in the JWKS that Google's
/// discovery document points to, fetched anonymously; answers its claims.
async fn verified(harness: &Harness, token: &str) -> Fallible<Value> {
    let discovery: Value = harness
        .google
        .get(harness.gke.google_discovery_url())
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(discovery["issuer"], "https://accounts.google.com");
    assert_eq!(discovery["jwks_uri"], harness.gke.google_certs_url());
    let jwks_uri = discovery["jwks_uri"].as_str().ok_or("no jwks_uri")?;
    let jwks: Value = harness.google.get(jwks_uri).send().await?.json().await?;
    let header = json_part(token, 0)?;
    assert_eq!(header["alg"], "RS256");
    let key = jwks["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|k| k["kid"] == header["kid"])
        .ok_or_else(|| format!("no key {} in {jwks}", header["kid"]))?;
    assert_eq!(
        (&key["kty"], &key["alg"], &key["use"]),
        (&json!("RSA"), &json!("RS256"), &json!("sig"))
    );
    let number = |field: &str| -> Fallible<BigUint> {
        let text = key[field].as_str().ok_or("no field")?;
        Ok(BigUint::from_bytes_be(&URL_SAFE_NO_PAD.decode(text)?))
    };
    let verifier = VerifyingKey::<Sha256>::new(RsaPublicKey::new(number("n")?, number("e")?)?);
    let (signed, signature) = token.rsplit_once('.').ok_or("not a JWT")?;
    let signature = Signature::try_from(URL_SAFE_NO_PAD.decode(signature)?.as_slice())?;
    verifier.verify(signed.as_bytes(), &signature)?;
    json_part(token, 1)
}

#[tokio::test]
async fn a_bound_pod_gets_a_google_signed_token_of_its_google_account() -> TestResult {
    let harness = bound().await?;
    let before = now();
    let (status, flavor, token) = identity(
        &harness,
        "audience=sts.amazonaws.com&format=full",
        POD_IP,
        true,
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{token}");
    assert_eq!(flavor.as_deref(), Some("Google"));
    let claims = verified(&harness, &token).await?;
    let iat = claims["iat"].as_i64().ok_or("no iat")?;
    assert!((before..=now()).contains(&iat), "{claims}");
    assert_eq!(
        claims,
        json!({"iss": "https://accounts.google.com", "aud": "sts.amazonaws.com",
               "azp": UNIQUE_ID, "sub": UNIQUE_ID, "email": EMAIL, "email_verified": true,
               "iat": iat, "exp": iat + 3600})
    );

    // The standard format: no email.
    let (status, _, token) = identity(&harness, "audience=https%3A%2F%2Fx", POD_IP, true).await?;
    assert_eq!(status, StatusCode::OK, "{token}");
    let claims = verified(&harness, &token).await?;
    assert_eq!(claims["aud"], "https://x");
    assert_eq!(claims["sub"], UNIQUE_ID);
    assert!(claims.get("email").is_none(), "{claims}");

    // A token tampered with does not verify.
    let (signed, signature) = token.rsplit_once('.').ok_or("not a JWT")?;
    let (header, _) = signed.split_once('.').ok_or("not a JWT")?;
    let other = URL_SAFE_NO_PAD.encode(json!({"sub": "1", "aud": "sts.amazonaws.com"}).to_string());
    let forged = format!("{header}.{other}.{signature}");
    assert!(verified(&harness, &forged).await.is_err());
    Ok(())
}

#[tokio::test]
async fn the_metadata_server_refuses_as_gke_does() -> TestResult {
    let harness = bound().await?;
    let query = "audience=sts.amazonaws.com&format=full";

    let (status, _, body) = identity(&harness, query, POD_IP, false).await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("Metadata-Flavor"), "{body}");

    for query in ["format=full", "audience=&format=full"] {
        let (status, _, body) = identity(&harness, query, POD_IP, true).await?;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert!(body.contains("audience"), "{body}");
    }

    // A pod whose service account is bound to no Google account.
    set_pod(&harness, "10.4.0.8", "ml", "other-worker").await?;
    let (status, flavor, body) = identity(&harness, query, "10.4.0.8", true).await?;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(flavor.as_deref(), Some("Google"));
    assert!(
        body.contains("(ml/other-worker) is not annotated")
            && body.contains("iam.gke.io/gcp-service-account"),
        "{body}"
    );
    // The same name in another namespace is another service account.
    set_pod(&harness, "10.4.0.9", "batch", "model-worker").await?;
    let (status, _, body) = identity(&harness, query, "10.4.0.9", true).await?;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body.contains("(batch/model-worker)"), "{body}");
    // No pod at that address.
    let (status, _, body) = identity(&harness, query, "10.4.0.10", true).await?;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body.contains("10.4.0.10"), "{body}");

    // Once bound, the pod is served, with its own account's id.
    harness
        .admin
        .bind_service_account(&ServiceAccountBinding {
            namespace: "ml".to_owned(),
            service_account: "other-worker".to_owned(),
            google_service_account: "other-worker@demo-project.iam.gserviceaccount.com".to_owned(),
            unique_id: "2".to_owned(),
        })
        .await?;
    let (status, _, token) = identity(&harness, query, "10.4.0.8", true).await?;
    assert_eq!(status, StatusCode::OK, "{token}");
    assert_eq!(verified(&harness, &token).await?["azp"], "2");
    Ok(())
}

#[tokio::test]
async fn the_admin_api_refuses_a_binding_or_a_pod_google_or_kubernetes_would() -> TestResult {
    let harness = Harness::start().await?;
    let binding = |email: &str, id: &str| ServiceAccountBinding {
        namespace: "ml".to_owned(),
        service_account: "model-worker".to_owned(),
        google_service_account: email.to_owned(),
        unique_id: id.to_owned(),
    };
    for wrong in [binding("someone@example.com", "1"), binding(EMAIL, "id")] {
        let refused = harness
            .admin
            .bind_service_account(&wrong)
            .await
            .expect_err("refused");
        assert_eq!(refused.status(), Some(StatusCode::BAD_REQUEST), "{refused}");
    }
    let pod = PodIdentity {
        namespace: "ml".to_owned(),
        service_account: "model-worker".to_owned(),
    };
    let refused = harness
        .admin
        .set_pod("not-an-ip", &pod)
        .await
        .expect_err("refused");
    assert_eq!(refused.status(), Some(StatusCode::BAD_REQUEST), "{refused}");
    Ok(())
}
