//! The admin API's handlers, under `/_admin` on the google listener: read and set replicas, set a
//! Deployment's tolerations and node selector, inject faults, read the request log, change the
//! token lifetime, revoke the tokens issued, set, widen, narrow and remove grants, create, replace
//! and read Leases and grant or revoke their use, allow and refuse Events and list those created,
//! replace the node pools, add AWS identities and workload identity users, and (in
//! `pod_identity`) bind Kubernetes service accounts to Google ones and place pods for the
//! metadata server. Admin requests are not
//! themselves recorded in the request log. The bodies are the types of [`crate::admin`]. No I/O
//! beyond the shared state.

use std::time::Duration;

use hyper::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{
    AddedAwsIdentity, AdminGrant, AdminRefusal, DeploymentState, EventGrant, Events, Fault, Grants,
    LeaseGrants, NodePools, PodScheduling, RequestLog, RevokedTokens, SetReplicas, TokenLifetime,
    WorkloadIdentityUser,
};
use crate::app::App;
use crate::config::{AwsIdentity, Grant, LeaseGrant};
use crate::http::{empty_response, json_response, Request, Response};
use crate::model::lease::{create_problems, update_problems, LeaseBody, LeaseContent};
use crate::model::node_pool::{validate_node_pools, NodePool};
use crate::model::rbac::{GrantRules, LeaseRules};
use crate::state::Deployment;

/// Serves `/_admin/{rest...}`.
pub(crate) fn handle(app: &App, request: &Request, rest: &[&str]) -> Response {
    let outcome = match (&request.method, rest) {
        (&Method::GET, ["deployments", namespace, name]) => get_deployment(app, namespace, name),
        (&Method::PUT, ["deployments", namespace, name]) => {
            set_deployment(app, request, namespace, name)
        }
        (&Method::PUT, ["deployments", namespace, name, "scheduling"]) => {
            set_scheduling(app, request, namespace, name)
        }
        (&Method::GET, ["leases", namespace, name]) => get_lease(app, namespace, name),
        (&Method::PUT, ["leases", namespace, name]) => put_lease(app, request, namespace, name),
        (&Method::GET, ["lease-grants"]) => Ok(list_lease_grants(app)),
        (&Method::POST, ["lease-grants"]) => add_lease_grant(app, request),
        (&Method::DELETE, ["lease-grants"]) => remove_lease_grant(app, request),
        (&Method::POST, ["faults"]) => add_fault(app, request),
        (&Method::DELETE, ["faults"]) => {
            app.state.instruments().clear_faults();
            Ok(empty_response(StatusCode::NO_CONTENT))
        }
        (&Method::GET, ["requests"]) => {
            let requests = app.state.instruments().requests().to_vec();
            Ok(json_response(StatusCode::OK, &RequestLog { requests }))
        }
        (&Method::DELETE, ["requests"]) => {
            app.state.instruments().clear_requests();
            Ok(empty_response(StatusCode::NO_CONTENT))
        }
        (&Method::PUT, ["token-lifetime"]) => set_token_lifetime(app, request),
        (&Method::DELETE, ["tokens"]) => {
            let revoked = app.state.credentials().revoke_tokens();
            Ok(json_response(StatusCode::OK, &RevokedTokens { revoked }))
        }
        (&Method::GET, ["grants"]) => Ok(list_grants(app)),
        (&Method::POST, ["grants"]) => add_grant(app, request),
        (&Method::DELETE, ["grants"]) => remove_grant(app, request),
        (&Method::GET, ["events", namespace, name]) => Ok(list_events(app, namespace, name)),
        (&Method::DELETE, ["events"]) => {
            app.state.cluster().clear_events();
            Ok(empty_response(StatusCode::NO_CONTENT))
        }
        (&Method::POST, ["event-grants"]) => add_event_grant(app, request),
        (&Method::DELETE, ["event-grants"]) => remove_event_grant(app, request),
        (&Method::GET, ["node-pools"]) => Ok(node_pools_response(app.state.cluster().node_pools())),
        (&Method::PUT, ["node-pools"]) => set_node_pools(app, request),
        (&Method::POST, ["aws-identities"]) => add_aws_identity(app, request),
        (&Method::POST, ["workload-identity-users"]) => add_workload_identity_user(app, request),
        (&Method::POST, ["workload-identity-bindings"]) => {
            super::pod_identity::bind_service_account(app, request)
        }
        (&Method::PUT, ["pods", address]) => super::pod_identity::set_pod(app, request, address),
        _ => Err((StatusCode::NOT_FOUND, "no such admin endpoint".to_owned())),
    };
    outcome.unwrap_or_else(|(status, error)| json_response(status, &AdminRefusal { error }))
}

pub(super) type Outcome = Result<Response, (StatusCode, String)>;

pub(super) fn parse<T: DeserializeOwned>(request: &Request) -> Result<T, (StatusCode, String)> {
    serde_json::from_slice(&request.body).map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))
}

fn get_deployment(app: &App, namespace: &str, name: &str) -> Outcome {
    let state = app.state.cluster();
    let deployment = state.deployment(namespace, name).ok_or_else(|| {
        (
            StatusCode::NOT_FOUND,
            format!("no deployment {namespace}/{name}"),
        )
    })?;
    Ok(deployment_response(deployment))
}

fn deployment_response(deployment: &Deployment) -> Response {
    json_response(
        StatusCode::OK,
        &DeploymentState {
            replicas: deployment.replicas,
            running: deployment.running,
            pending: deployment.pending(),
            resource_version: deployment.resource_version.to_string(),
        },
    )
}

fn set_deployment(app: &App, request: &Request, namespace: &str, name: &str) -> Outcome {
    let SetReplicas { replicas } = parse(request)?;
    if replicas < 0 {
        return Err((StatusCode::BAD_REQUEST, "replicas must be >= 0".to_owned()));
    }
    let mut state = app.state.cluster();
    Ok(deployment_response(
        state.set_replicas(namespace, name, replicas),
    ))
}

/// Replaces the scheduling fields of a deployment's pod template, as an operator's edit of its
/// manifest would: 404 when there is no such deployment, 400 for fields kube-apiserver refuses.
fn set_scheduling(app: &App, request: &Request, namespace: &str, name: &str) -> Outcome {
    let scheduling: PodScheduling = parse(request)?;
    scheduling
        .check()
        .map_err(|problem| (StatusCode::BAD_REQUEST, problem))?;
    let mut state = app.state.cluster();
    let deployment = state
        .set_scheduling(namespace, name, scheduling)
        .ok_or_else(|| {
            (
                StatusCode::NOT_FOUND,
                format!("no deployment {namespace}/{name}"),
            )
        })?;
    Ok(deployment_response(deployment))
}

/// A Lease as the Kubernetes API serves it: 404 when there is none.
fn get_lease(app: &App, namespace: &str, name: &str) -> Outcome {
    let state = app.state.cluster();
    let lease = state.lease(namespace, name).ok_or_else(|| {
        (
            StatusCode::NOT_FOUND,
            format!("no lease {namespace}/{name}"),
        )
    })?;
    Ok(json_response(
        StatusCode::OK,
        &lease.to_json(namespace, name),
    ))
}

/// The fields of `PUT /_admin/leases/{ns}/{name}`'s body: `annotations`, `labels` and `spec`,
/// at the top or as a Lease's `metadata` and `spec` (its other metadata is ignored).
const LEASE_FIELDS: [&str; 6] = [
    "annotations",
    "labels",
    "spec",
    "metadata",
    "kind",
    "apiVersion",
];

/// Creates a Lease or replaces its labels, annotations and spec, unconditionally, as an operator
/// would; no body is an empty Lease. Refused (400) for what the API server would refuse.
fn put_lease(app: &App, request: &Request, namespace: &str, name: &str) -> Outcome {
    let bad_request = |message: String| (StatusCode::BAD_REQUEST, message);
    let content = if request.body.iter().all(u8::is_ascii_whitespace) {
        LeaseContent::default()
    } else {
        let Value::Object(mut body) = parse(request)? else {
            return Err(bad_request(
                "expected an object: {\"annotations\"?, \"labels\"?, \"spec\"?}, or a Lease"
                    .to_owned(),
            ));
        };
        if let Some(field) = body.keys().find(|k| !LEASE_FIELDS.contains(&k.as_str())) {
            return Err(bad_request(format!(
                "unknown field {field:?}: use {}",
                LEASE_FIELDS.join(", ")
            )));
        }
        let mut metadata = match body.remove("metadata") {
            None | Some(Value::Null) => serde_json::Map::new(),
            Some(Value::Object(metadata)) => metadata,
            Some(_) => return Err(bad_request("metadata must be an object".to_owned())),
        };
        for field in ["annotations", "labels"] {
            if let Some(value) = body.remove(field) {
                if metadata.contains_key(field) {
                    return Err(bad_request(format!(
                        "{field} given twice, at the top and in metadata"
                    )));
                }
                metadata.insert(field.to_owned(), value);
            }
        }
        body.insert("metadata".to_owned(), Value::Object(metadata));
        LeaseBody::decode(&body)
            .map_err(|e| bad_request(format!("not a Lease: {e}")))?
            .content
    };
    let mut state = app.state.cluster();
    let problems = match state.lease(namespace, name) {
        Some(_) => update_problems(&content),
        None => create_problems(name, &content),
    };
    if !problems.is_empty() {
        let problems: Vec<String> = problems
            .iter()
            .map(|p| format!("{}: {}", p.field, p.body))
            .collect();
        return Err(bad_request(format!(
            "kube-apiserver would refuse this Lease: {}",
            problems.join(", ")
        )));
    }
    let (lease, _) = state.put_lease(namespace, name, content);
    Ok(json_response(
        StatusCode::OK,
        &lease.to_json(namespace, name),
    ))
}

/// A grant on a Lease as the admin API answers it: its verbs filled in, sorted.
fn listed_lease_grant(key: &(String, String, String), rules: &LeaseRules) -> LeaseGrant {
    let (identity, namespace, lease) = key;
    LeaseGrant {
        verbs: Some(rules.verbs.iter().cloned().collect()),
        ..LeaseGrant::new(identity, namespace, lease)
    }
}

fn list_lease_grants(app: &App) -> Response {
    let state = app.state.authorization();
    let grants = state
        .lease_grants()
        .map(|(key, rules)| listed_lease_grant(key, rules))
        .collect();
    json_response(StatusCode::OK, &LeaseGrants { grants })
}

/// Sets an identity's grant on a Lease, replacing any it had there: by default `get` and
/// `update`.
fn add_lease_grant(app: &App, request: &Request) -> Outcome {
    let grant: LeaseGrant = parse(request)?;
    let invalid = |message: String| Err((StatusCode::BAD_REQUEST, message));
    if grant.identity.is_empty() || grant.namespace.is_empty() || grant.lease.is_empty() {
        return invalid("identity, namespace and lease must not be empty".to_owned());
    }
    if let Some(verbs) = &grant.verbs {
        if verbs.is_empty() {
            return invalid("verbs must not be empty: DELETE the grant to remove it".to_owned());
        }
        if let Some(verb) = verbs.iter().find(|v| !KUBE_VERBS.contains(&v.as_str())) {
            return invalid(format!(
                "unknown verb {verb:?}: use {}",
                KUBE_VERBS.join(", ")
            ));
        }
    }
    let mut state = app.state.authorization();
    let rules = state.grant_lease(&grant).clone();
    let key = (grant.identity, grant.namespace, grant.lease);
    Ok(json_response(
        StatusCode::CREATED,
        &listed_lease_grant(&key, &rules),
    ))
}

/// Removes an identity's grant on a Lease (its verbs, if given, are ignored): 204, or 404 when
/// there is none.
fn remove_lease_grant(app: &App, request: &Request) -> Outcome {
    let grant: LeaseGrant = parse(request)?;
    let removed = app.state.authorization().revoke_lease_grant(
        &grant.identity,
        &grant.namespace,
        &grant.lease,
    );
    if removed {
        Ok(empty_response(StatusCode::NO_CONTENT))
    } else {
        Err((
            StatusCode::NOT_FOUND,
            format!(
                "no grant for {} on lease {}/{}",
                grant.identity, grant.namespace, grant.lease
            ),
        ))
    }
}

fn add_fault(app: &App, request: &Request) -> Outcome {
    let fault: Fault = parse(request)?;
    let invalid = |message: &str| Err((StatusCode::BAD_REQUEST, message.to_owned()));
    if !fault.path.starts_with('/') {
        return invalid("path must be a request path starting with /");
    }
    if fault.count == 0 {
        return invalid("count must be at least 1");
    }
    if fault.status.is_none()
        && fault.delay_ms.is_none()
        && !fault.drop
        && !fault.apply_then_drop
        && !fault.hold
    {
        return invalid("a fault needs a status, a delay_ms, drop, apply_then_drop or hold");
    }
    if fault.apply_then_drop && (fault.drop || fault.status.is_some()) {
        return invalid("apply_then_drop serves the request, so it takes no status and no drop");
    }
    if let Some(status) = fault.status {
        if !(400..=599).contains(&status) {
            return invalid("status must be an error status, 400 to 599");
        }
    }
    app.state.instruments().add_fault(fault.clone());
    Ok(json_response(StatusCode::CREATED, &fault))
}

fn set_token_lifetime(app: &App, request: &Request) -> Outcome {
    let lifetime: TokenLifetime = parse(request)?;
    app.state
        .credentials()
        .set_token_lifetime(Duration::from_secs(lifetime.seconds));
    Ok(json_response(StatusCode::OK, &lifetime))
}

/// The verbs Kubernetes knows for resources, and RBAC's `*`.
const KUBE_VERBS: [&str; 9] = [
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
    "*",
];

/// A grant asked for: its key (none of it empty), and its rules.
fn checked_grant(request: &AdminGrant) -> Result<(Grant, GrantRules), (StatusCode, String)> {
    if request.identity.is_empty() || request.namespace.is_empty() || request.deployment.is_empty()
    {
        return Err((
            StatusCode::BAD_REQUEST,
            "identity, namespace and deployment must not be empty".to_owned(),
        ));
    }
    Ok((request.key(), grant_rules(request)?))
}

/// The rules asked for: the default ones for what is left out. A resource is `deployments`,
/// `deployments/{subresource}`, `*/{subresource}` or `*`, all in the `apps` group.
fn grant_rules(request: &AdminGrant) -> Result<GrantRules, (StatusCode, String)> {
    let invalid = |message: String| Err((StatusCode::BAD_REQUEST, message));
    let mut rules = GrantRules::default();
    if let Some(verbs) = &request.verbs {
        if let Some(verb) = verbs.iter().find(|v| !KUBE_VERBS.contains(&v.as_str())) {
            return invalid(format!(
                "unknown verb {verb:?}: use {}",
                KUBE_VERBS.join(", ")
            ));
        }
        rules.verbs = verbs.iter().cloned().collect();
    }
    if let Some(resources) = &request.resources {
        let valid = |resource: &str| {
            let (resource, subresource) = match resource.split_once('/') {
                Some((resource, subresource)) => (resource, Some(subresource)),
                None => (resource, None),
            };
            matches!(resource, "deployments" | "*")
                && subresource.is_none_or(|s| !s.is_empty() && !s.contains('/'))
        };
        if let Some(resource) = resources.iter().find(|r| !valid(r)) {
            return invalid(format!(
                "unsupported resource {resource:?}: grants are on a deployment, so use \
                 deployments, deployments/SUBRESOURCE (e.g. deployments/scale), */SUBRESOURCE \
                 or *"
            ));
        }
        rules.resources = resources.iter().cloned().collect();
        rules.read_deployment = false;
    }
    if rules.verbs.is_empty() || rules.resources.is_empty() {
        return invalid(
            "verbs and resources must not be empty: DELETE the grant to remove it".to_owned(),
        );
    }
    Ok(rules)
}

/// A grant as the admin API answers it: with its rules, sorted.
fn listed_grant(grant: &Grant, rules: &GrantRules) -> AdminGrant {
    AdminGrant {
        identity: grant.identity.clone(),
        namespace: grant.namespace.clone(),
        deployment: grant.deployment.clone(),
        verbs: Some(rules.verbs.iter().cloned().collect()),
        resources: Some(rules.resources.iter().cloned().collect()),
    }
}

fn list_grants(app: &App) -> Response {
    let state = app.state.authorization();
    let grants = state
        .grants()
        .map(|(grant, rules)| listed_grant(grant, rules))
        .collect();
    json_response(StatusCode::OK, &Grants { grants })
}

/// Sets the grant for an identity and deployment, replacing any it had: by default get, update
/// and patch on `deployments/scale`.
fn add_grant(app: &App, request: &Request) -> Outcome {
    let (grant, rules) = checked_grant(&parse(request)?)?;
    let body = listed_grant(&grant, &rules);
    app.state.authorization().set_grant(grant, rules);
    Ok(json_response(StatusCode::CREATED, &body))
}

/// Removes the grant for an identity and deployment: 204, or 404 when there is none.
fn remove_grant(app: &App, request: &Request) -> Outcome {
    let grant: Grant = parse(request)?;
    if app.state.authorization().revoke(&grant) {
        Ok(empty_response(StatusCode::NO_CONTENT))
    } else {
        Err((
            StatusCode::NOT_FOUND,
            format!(
                "no grant for {} on {}/{}",
                grant.identity, grant.namespace, grant.deployment
            ),
        ))
    }
}

/// The Events regarding one deployment, as `fieldSelector=regarding.name=NAME` lists them in
/// its namespace.
fn list_events(app: &App, namespace: &str, name: &str) -> Response {
    let state = app.state.cluster();
    let events = state
        .events()
        .iter()
        .filter(|e| e["regarding"]["namespace"] == namespace && e["regarding"]["name"] == name)
        .cloned()
        .collect();
    json_response(StatusCode::OK, &Events { events })
}

/// Lets an identity create Events in a namespace: 204.
fn add_event_grant(app: &App, request: &Request) -> Outcome {
    let EventGrant {
        identity,
        namespace,
    } = parse(request)?;
    app.state
        .authorization()
        .grant_events(&identity, &namespace);
    Ok(empty_response(StatusCode::NO_CONTENT))
}

/// Stops an identity creating Events in a namespace: 204, or 404 when it could not.
fn remove_event_grant(app: &App, request: &Request) -> Outcome {
    let EventGrant {
        identity,
        namespace,
    } = parse(request)?;
    if app
        .state
        .authorization()
        .revoke_events(&identity, &namespace)
    {
        Ok(empty_response(StatusCode::NO_CONTENT))
    } else {
        Err((
            StatusCode::NOT_FOUND,
            format!("{identity} may not create Events in {namespace}"),
        ))
    }
}

fn node_pools_response(pools: &[NodePool]) -> Response {
    json_response(
        StatusCode::OK,
        &NodePools {
            node_pools: pools.to_vec(),
        },
    )
}

/// Replaces every node pool `clusters.get` reports with the whole list, given bare or as
/// `{"nodePools": [...]}`.
fn set_node_pools(app: &App, request: &Request) -> Outcome {
    let bad_request = |message: String| (StatusCode::BAD_REQUEST, message);
    let body: Value = parse(request)?;
    let list = match body {
        Value::Array(_) => body,
        Value::Object(mut object) if object.len() == 1 && object.contains_key("nodePools") => {
            object.remove("nodePools").unwrap_or_default()
        }
        _ => {
            return Err(bad_request(
                "expected the list of node pools, bare or as {\"nodePools\": [...]}".to_owned(),
            ))
        }
    };
    let pools: Vec<NodePool> =
        serde_json::from_value(list).map_err(|e| bad_request(format!("not node pools: {e}")))?;
    validate_node_pools(&pools).map_err(|e| bad_request(e.to_string()))?;
    let mut state = app.state.cluster();
    state.set_node_pools(pools);
    Ok(node_pools_response(state.node_pools()))
}

/// Recognises another AWS identity in signed requests. It is not bound to the service account:
/// add a workload identity user for that.
fn add_aws_identity(app: &App, request: &Request) -> Outcome {
    let AwsIdentity {
        access_key_id,
        secret_access_key,
        session_token,
        arn,
    } = parse(request)?;
    if access_key_id.is_empty()
        || secret_access_key.is_empty()
        || session_token.as_deref().is_some_and(str::is_empty)
        || !arn.starts_with("arn:")
    {
        return Err((
            StatusCode::BAD_REQUEST,
            "access_key_id and secret_access_key must not be empty, session_token (if given) \
             neither, and arn must be an ARN"
                .to_owned(),
        ));
    }
    let body = AddedAwsIdentity {
        access_key_id: access_key_id.clone(),
        arn: arn.clone(),
    };
    app.state.credentials().add_aws_identity(AwsIdentity {
        access_key_id,
        secret_access_key,
        session_token,
        arn,
    });
    Ok(json_response(StatusCode::CREATED, &body))
}

/// Grants `roles/iam.workloadIdentityUser` on the service account to a member, given as an IAM
/// member or a role ARN; answers with its canonical form.
fn add_workload_identity_user(app: &App, request: &Request) -> Outcome {
    let WorkloadIdentityUser { member } = parse(request)?;
    let member = app
        .config
        .workload_identity
        .member(&member)
        .map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))?;
    app.state
        .credentials()
        .add_workload_identity_user(member.clone());
    Ok(json_response(
        StatusCode::CREATED,
        &WorkloadIdentityUser { member },
    ))
}
