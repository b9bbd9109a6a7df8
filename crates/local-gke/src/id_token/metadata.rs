//! The GKE metadata server's identity endpoint, `GET
//! /computeMetadata/v1/instance/service-accounts/default/identity?audience=AUD[&format=full]`: a
//! Google-signed ID token of the Google service account the asking pod's Kubernetes service
//! account acts as (GKE Workload Identity). The metadata server knows the pod by the request's
//! source address; here every request comes from 127.0.0.1, so the header
//! [`POD_ADDRESS_HEADER`] stands for it, and the admin API says which pod runs at which address.
//! Refusals are the metadata server's, in plain text: 403 without `Metadata-Flavor: Google`, 400
//! without an audience, 404 for a service account with no Google service account. No I/O beyond
//! the shared state.

use hyper::header::HeaderValue;
use hyper::StatusCode;
use serde_json::{json, Value};

use crate::app::App;
use crate::http::{text_response, Request, Response};
use crate::id_token_key::GOOGLE_ISSUER;
use crate::model::pod_identity::{ServiceAccountBinding, POD_ADDRESS_HEADER};

/// How long Google's ID tokens live.
const LIFETIME_SECONDS: i64 = 3600;

/// The metadata server's answer when a Kubernetes service account acts as no Google service
/// account (no `iam.gke.io/gcp-service-account` annotation, or no `workloadIdentityUser` grant).
pub(crate) fn unbound_message(namespace: &str, service_account: &str) -> String {
    format!(
        "Your Kubernetes service account ({namespace}/{service_account}) is not annotated with a \
         target Google service account, which is a requirement for retrieving Identity Tokens \
         using Workload Identity.\nPlease add the \
         iam.gke.io/gcp-service-account=[GSA_NAME]@[PROJECT_ID] annotation to your Kubernetes \
         service account.\nRefer to \
         https://cloud.google.com/kubernetes-engine/docs/how-to/workload-identity\n"
    )
}

/// A plain-text answer, with the `Metadata-Flavor` the metadata server sets on every answer.
fn answer(status: StatusCode, body: String) -> Response {
    let mut response = text_response(status, body);
    response
        .headers_mut()
        .insert("metadata-flavor", HeaderValue::from_static("Google"));
    response
}

/// Serves the identity endpoint.
pub(super) fn identity(app: &App, request: &Request) -> Response {
    let flavor = request.headers.get("metadata-flavor");
    if flavor.and_then(|v| v.to_str().ok()) != Some("Google") {
        return answer(
            StatusCode::FORBIDDEN,
            "Missing required header \"Metadata-Flavor\": \"Google\"\n".to_owned(),
        );
    }
    let audience = request.query_param("audience").unwrap_or_default();
    if audience.is_empty() {
        return answer(
            StatusCode::BAD_REQUEST,
            "non-empty audience parameter required\n".to_owned(),
        );
    }
    let address = request
        .headers
        .get(POD_ADDRESS_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let binding = {
        let identities = app.pod_identities();
        let Some(pod) = identities.pod(address) else {
            return answer(
                StatusCode::NOT_FOUND,
                format!("no pod runs at the address {address:?}: no Kubernetes service account to serve\n"),
            );
        };
        match identities.binding(&pod.namespace, &pod.service_account) {
            Some(binding) => binding.clone(),
            None => {
                return answer(
                    StatusCode::NOT_FOUND,
                    unbound_message(&pod.namespace, &pod.service_account),
                )
            }
        }
    };
    let full = request.query_param("format").as_deref() == Some("full");
    let now = chrono::Utc::now().timestamp();
    match app
        .id_token_key
        .sign(&claims(&binding, &audience, full, now))
    {
        Ok(token) => answer(StatusCode::OK, token),
        Err(error) => answer(StatusCode::INTERNAL_SERVER_ERROR, format!("{error}\n")),
    }
}

/// The claims of the ID token of `binding`'s Google account for `audience`, issued at `now`:
/// `azp` and `sub` are the account's unique id; `email` and `email_verified` come with the
/// `full` format only, as `includeEmail` in IAM Credentials' `generateIdToken`.
pub(crate) fn claims(
    binding: &ServiceAccountBinding,
    audience: &str,
    full: bool,
    now: i64,
) -> Value {
    let mut claims = json!({
        "aud": audience,
        "azp": binding.unique_id,
        "exp": now + LIFETIME_SECONDS,
        "iat": now,
        "iss": GOOGLE_ISSUER,
        "sub": binding.unique_id,
    });
    if full {
        claims["email"] = json!(binding.google_service_account);
        claims["email_verified"] = json!(true);
    }
    claims
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_claims_are_googles_for_the_bound_account() {
        let binding = ServiceAccountBinding {
            namespace: "ml".to_owned(),
            service_account: "model-worker".to_owned(),
            google_service_account: "worker@demo-project.iam.gserviceaccount.com".to_owned(),
            unique_id: "104729".to_owned(),
        };
        let full = claims(&binding, "sts.amazonaws.com", true, 1_000);
        assert_eq!(
            full,
            json!({"aud": "sts.amazonaws.com", "azp": "104729", "sub": "104729",
                   "iss": "https://accounts.google.com", "iat": 1_000, "exp": 4_600,
                   "email": "worker@demo-project.iam.gserviceaccount.com",
                   "email_verified": true})
        );
        let standard = claims(&binding, "sts.amazonaws.com", false, 1_000);
        assert!(standard.get("email").is_none() && standard.get("email_verified").is_none());
        assert_eq!(standard["sub"], "104729");
    }

    #[test]
    fn the_refusal_of_an_unbound_account_names_it_and_the_annotation() {
        let message = unbound_message("ml", "other-worker");
        assert!(message.contains("(ml/other-worker)"), "{message}");
        assert!(
            message.contains("iam.gke.io/gcp-service-account"),
            "{message}"
        );
    }
}
