//! The doctor's read-only questions to the cluster and the GKE API ([`ClusterProbe`]), each
//! answered as a small typed value: who the cluster sees (`SelfSubjectReview`), whether it
//! allows a verb (`SelfSubjectAccessReview`), where a Deployment's pods may run (its
//! tolerations and node selector) and the node pools' taints (`clusters.get`). Requests are
//! built as plain values first. Nothing here writes: a review is a question, stored nowhere.

use crate::error::{built, Error};
use crate::google::issuer::{published, Published};
use crate::google::token::TokenSource;
use crate::kube::deployment::deployment_request;
use crate::kube::scale::KubeScaleApi;
use queue_scaler_core::{ClusterSource, Target};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::future::Future;

/// What the API server answered a question: the answer, or the status and body of an answer
/// that is not one (an API server without the review, a refusal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probed<T> {
    /// The question was answered.
    Answered(T),
    /// Another status.
    Other {
        /// The HTTP status.
        status: u16,
        /// The body as compact JSON; `null` when it is not JSON.
        body: String,
    },
}

/// What a `SelfSubjectAccessReview` asks about: a verb on a resource in a namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceAttributes {
    /// The namespace.
    pub namespace: String,
    /// `get`, `update`, `create`…
    pub verb: String,
    /// The API group: `apps`, `events.k8s.io`.
    pub group: String,
    /// `deployments`, `events`.
    pub resource: String,
    /// `scale`, or none for the resource itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subresource: Option<String>,
    /// The object's name, or none for any name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Where a Deployment's pods may run: the part of its pod template the doctor reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodPlacement {
    /// The pods' tolerations.
    #[serde(default)]
    pub tolerations: Vec<Toleration>,
    /// The pods' node selector.
    #[serde(default)]
    pub node_selector: BTreeMap<String, String>,
}

/// Who a Deployment's pods are to AWS: the part of its pod template the doctor's worker check
/// reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodIdentity {
    /// `serviceAccountName`; `default` when the template names none, as Kubernetes runs it.
    pub service_account: String,
    /// Each container's `AWS_ROLE_ARN` and `AWS_WEB_IDENTITY_TOKEN_FILE` values, by container
    /// name (`None` where a variable is not set, or set from a reference).
    pub containers: Vec<ContainerIdentity>,
}

/// One container's web-identity variables.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerIdentity {
    /// The container's name.
    pub name: String,
    /// `AWS_ROLE_ARN`.
    pub role_arn: Option<String>,
    /// `AWS_WEB_IDENTITY_TOKEN_FILE`.
    pub token_file: Option<String>,
}

/// A pod's toleration, as Kubernetes writes it; an absent field is empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Toleration {
    /// The taint key; empty with `Exists` tolerates every key.
    pub key: String,
    /// `Equal` (the default when empty) or `Exists`.
    pub operator: String,
    /// The value, for `Equal`.
    pub value: String,
    /// `NoSchedule`, `PreferNoSchedule`, `NoExecute`; empty tolerates every effect.
    pub effect: String,
}

/// The doctor's read-only questions. Implemented by [`KubeScaleApi`], over its cluster
/// connection and token; nothing here writes.
pub trait ClusterProbe: Send + Sync {
    /// The username the cluster sees for the token (`SelfSubjectReview`); empty when the answer
    /// names none.
    fn identity(&self) -> impl Future<Output = Result<Probed<String>, Error>> + Send;
    /// Whether the cluster allows what `attributes` describe (`SelfSubjectAccessReview`).
    fn allows(
        &self,
        attributes: &ResourceAttributes,
    ) -> impl Future<Output = Result<Probed<bool>, Error>> + Send;
    /// Where `target`'s pods may run, from its Deployment (`GET`, which needs `get` on
    /// deployments).
    fn placement(
        &self,
        target: &Target,
    ) -> impl Future<Output = Result<Probed<PodPlacement>, Error>> + Send;
    /// Who `target`'s pods are to AWS, from its Deployment (`GET`, as [`Self::placement`]).
    fn pod_identity(
        &self,
        target: &Target,
    ) -> impl Future<Output = Result<Probed<PodIdentity>, Error>> + Send;
    /// Whether GKE publishes the cluster's service-account issuer for STS to read, anonymously
    /// ([`crate::google::issuer`]); `None` when the cluster is given directly (`GKE_ENDPOINT`),
    /// which names no cluster.
    fn issuer_published(&self) -> impl Future<Output = Result<Option<Published>, Error>> + Send;
}

/// The path of `SelfSubjectReview`.
pub(crate) const SELF_SUBJECT_REVIEW_PATH: &str =
    "/apis/authentication.k8s.io/v1/selfsubjectreviews";
/// The path of `SelfSubjectAccessReview`.
pub(crate) const ACCESS_REVIEW_PATH: &str =
    "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";

/// A JSON `POST` of `body` to `path`.
fn post(base: &str, path: &str, body: &serde_json::Value) -> Result<http::Request<Vec<u8>>, Error> {
    let url = format!("{base}{path}");
    built(
        &url,
        http::Request::post(&url)
            .header("accept", "application/json")
            .header("content-type", "application/json")
            .body(body.to_string().into_bytes()),
    )
}

/// `POST` a `SelfSubjectReview`.
pub(crate) fn self_subject_review_request(base: &str) -> Result<http::Request<Vec<u8>>, Error> {
    post(
        base,
        SELF_SUBJECT_REVIEW_PATH,
        &serde_json::json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}),
    )
}

/// `POST` a `SelfSubjectAccessReview` for `attributes`.
pub(crate) fn access_review_request(
    base: &str,
    attributes: &ResourceAttributes,
) -> Result<http::Request<Vec<u8>>, Error> {
    post(
        base,
        ACCESS_REVIEW_PATH,
        &serde_json::json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                            "spec": {"resourceAttributes": attributes}}),
    )
}

/// Read an answer: `T` from a body whose status is one of `ok` (`T`'s default where the body
/// does not hold one), else the status and the body.
fn read<T: serde::de::DeserializeOwned + Default>(
    ok: &[u16],
    status: u16,
    body: &[u8],
) -> Probed<T> {
    if ok.contains(&status) {
        Probed::Answered(serde_json::from_slice(body).unwrap_or_default())
    } else {
        let body = serde_json::from_slice::<serde_json::Value>(body).unwrap_or_default();
        Probed::Other {
            status,
            body: body.to_string(),
        }
    }
}

/// A review answers 201 Created (200 from some servers).
const REVIEWED: [u16; 2] = [200, 201];

/// Who a `SelfSubjectReview` answer names.
pub(crate) fn parse_identity(status: u16, body: &[u8]) -> Probed<String> {
    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    struct Review {
        status: ReviewStatus,
    }
    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    struct ReviewStatus {
        user_info: UserInfo,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct UserInfo {
        username: String,
    }
    match read::<Review>(&REVIEWED, status, body) {
        Probed::Answered(r) => Probed::Answered(r.status.user_info.username),
        Probed::Other { status, body } => Probed::Other { status, body },
    }
}

/// Whether a `SelfSubjectAccessReview` answer allows; an answer that does not say refuses.
pub(crate) fn parse_allowed(status: u16, body: &[u8]) -> Probed<bool> {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Review {
        status: AccessStatus,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct AccessStatus {
        allowed: bool,
    }
    match read::<Review>(&REVIEWED, status, body) {
        Probed::Answered(r) => Probed::Answered(r.status.allowed),
        Probed::Other { status, body } => Probed::Other { status, body },
    }
}

/// The pod template's placement in a Deployment answer.
pub(crate) fn parse_placement(status: u16, body: &[u8]) -> Probed<PodPlacement> {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Deployment {
        spec: DeploymentSpec,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct DeploymentSpec {
        template: Template,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Template {
        spec: PodPlacement,
    }
    match read::<Deployment>(&[200], status, body) {
        Probed::Answered(d) => Probed::Answered(d.spec.template.spec),
        Probed::Other { status, body } => Probed::Other { status, body },
    }
}

/// The pod template's service account and web-identity variables in a Deployment answer.
pub(crate) fn parse_pod_identity(status: u16, body: &[u8]) -> Probed<PodIdentity> {
    match read::<serde_json::Value>(&[200], status, body) {
        Probed::Answered(d) => {
            let spec = &d["spec"]["template"]["spec"];
            let service_account = spec["serviceAccountName"]
                .as_str()
                .filter(|s| !s.is_empty())
                .unwrap_or("default")
                .to_owned();
            let containers = spec["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    let var = |name: &str| {
                        c["env"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .find(|e| e["name"] == name)
                            .and_then(|e| e["value"].as_str())
                            .map(str::to_owned)
                    };
                    ContainerIdentity {
                        name: c["name"].as_str().unwrap_or_default().to_owned(),
                        role_arn: var("AWS_ROLE_ARN"),
                        token_file: var("AWS_WEB_IDENTITY_TOKEN_FILE"),
                    }
                })
                .collect();
            Probed::Answered(PodIdentity {
                service_account,
                containers,
            })
        }
        Probed::Other { status, body } => Probed::Other { status, body },
    }
}

impl<T: TokenSource> ClusterProbe for KubeScaleApi<T> {
    async fn identity(&self) -> Result<Probed<String>, Error> {
        let a = self
            .call(SELF_SUBJECT_REVIEW_PATH, &self_subject_review_request)
            .await?;
        Ok(parse_identity(a.status, &a.body))
    }

    async fn allows(&self, attributes: &ResourceAttributes) -> Result<Probed<bool>, Error> {
        let a = self
            .call(ACCESS_REVIEW_PATH, &|base| {
                access_review_request(base, attributes)
            })
            .await?;
        Ok(parse_allowed(a.status, &a.body))
    }

    async fn placement(&self, target: &Target) -> Result<Probed<PodPlacement>, Error> {
        let a = self
            .call("get deployment", &|base| deployment_request(base, target))
            .await?;
        Ok(parse_placement(a.status, &a.body))
    }

    async fn pod_identity(&self, target: &Target) -> Result<Probed<PodIdentity>, Error> {
        let a = self
            .call("get deployment", &|base| deployment_request(base, target))
            .await?;
        Ok(parse_pod_identity(a.status, &a.body))
    }

    async fn issuer_published(&self) -> Result<Option<Published>, Error> {
        match &self.source {
            ClusterSource::Discover { cluster, api_url } => {
                published(&self.google, api_url, cluster).await.map(Some)
            }
            ClusterSource::Direct(_) => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_access_review_asks_about_exactly_the_attributes_given() {
        let attributes = ResourceAttributes {
            namespace: "ml".into(),
            verb: "create".into(),
            group: "events.k8s.io".into(),
            resource: "events".into(),
            subresource: None,
            name: None,
        };
        let r = access_review_request("https://10.0.0.1", &attributes).unwrap();
        assert_eq!(r.method(), http::Method::POST);
        assert_eq!(
            r.uri(),
            "https://10.0.0.1/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
        );
        assert_eq!(r.headers()["content-type"], "application/json");
        let body: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": {"namespace": "ml", "verb": "create",
                    "group": "events.k8s.io", "resource": "events"}}})
        );
        let r = self_subject_review_request("https://10.0.0.1").unwrap();
        assert_eq!(
            r.uri(),
            "https://10.0.0.1/apis/authentication.k8s.io/v1/selfsubjectreviews"
        );
    }

    #[test]
    fn reviews_are_read_from_201_and_other_answers_keep_status_and_body() {
        let who = br#"{"kind":"SelfSubjectReview","status":{"userInfo":{"username":"s@p.iam.gserviceaccount.com","groups":["system:authenticated"]}}}"#;
        assert_eq!(
            parse_identity(201, who),
            Probed::Answered("s@p.iam.gserviceaccount.com".to_owned())
        );
        assert_eq!(parse_identity(200, b"{}"), Probed::Answered(String::new()));
        assert_eq!(
            parse_identity(404, br#"{"code": 404, "kind": "Status"}"#),
            Probed::Other {
                status: 404,
                body: r#"{"code":404,"kind":"Status"}"#.to_owned()
            }
        );
        assert_eq!(
            parse_identity(502, b"<html>"),
            Probed::Other {
                status: 502,
                body: "null".to_owned()
            }
        );
        let allowed = br#"{"status":{"allowed":true,"reason":"RBAC: allowed by RoleBinding"}}"#;
        assert_eq!(parse_allowed(201, allowed), Probed::Answered(true));
        assert_eq!(
            parse_allowed(201, br#"{"status":{}}"#),
            Probed::Answered(false)
        );
        assert!(matches!(
            parse_allowed(403, b"{}"),
            Probed::Other { status: 403, .. }
        ));
    }

    #[test]
    fn a_deployment_gives_its_pods_tolerations_and_node_selector() {
        let body = br#"{"kind":"Deployment","spec":{"replicas":1,"template":{"spec":{
            "nodeSelector":{"mlonly":"true"},
            "tolerations":[{"key":"nvidia.com/gpu","operator":"Exists","effect":"NoSchedule"},
                           {"key":"mlonly","operator":"Equal","value":"true","effect":"NoSchedule","tolerationSeconds":5}],
            "containers":[{"name":"worker","image":"w"}]}}}}"#;
        let Probed::Answered(p) = parse_placement(200, body) else {
            panic!("a 200 is an answer")
        };
        assert_eq!(
            p.node_selector.get("mlonly").map(String::as_str),
            Some("true")
        );
        assert_eq!(p.tolerations.len(), 2);
        assert_eq!(
            p.tolerations[1],
            Toleration {
                key: "mlonly".into(),
                operator: "Equal".into(),
                value: "true".into(),
                effect: "NoSchedule".into()
            }
        );
        assert_eq!(
            parse_placement(200, br#"{"spec":{}}"#),
            Probed::Answered(PodPlacement::default())
        );
        assert!(matches!(
            parse_placement(403, b"{}"),
            Probed::Other { status: 403, .. }
        ));
    }

    #[test]
    fn a_deployments_service_account_and_web_identity_variables_are_read() {
        let body = br#"{"spec":{"template":{"spec":{"serviceAccountName":"model-worker",
            "containers":[{"name":"worker","env":[
                {"name":"AWS_ROLE_ARN","value":"arn:aws:iam::123456789012:role/w"},
                {"name":"AWS_WEB_IDENTITY_TOKEN_FILE","value":"/var/run/t"}]},
              {"name":"sidecar","env":[{"name":"AWS_ROLE_ARN","valueFrom":{"configMapKeyRef":{}}}]}]}}}}"#;
        let Probed::Answered(identity) = parse_pod_identity(200, body) else {
            panic!("answered")
        };
        assert_eq!(identity.service_account, "model-worker");
        assert_eq!(
            identity.containers[0].role_arn.as_deref(),
            Some("arn:aws:iam::123456789012:role/w")
        );
        assert_eq!(
            identity.containers[0].token_file.as_deref(),
            Some("/var/run/t")
        );
        assert_eq!(identity.containers[1].role_arn, None);
        let Probed::Answered(bare) = parse_pod_identity(200, br#"{"spec":{}}"#) else {
            panic!("answered")
        };
        assert_eq!(bare.service_account, "default", "as Kubernetes runs it");
        assert!(matches!(
            parse_pod_identity(403, br#"{"reason":"Forbidden"}"#),
            Probed::Other { status: 403, .. }
        ));
    }
}
