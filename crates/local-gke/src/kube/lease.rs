//! `coordination.k8s.io/v1` Leases on the cluster listener: `GET` and `PUT` of
//! `/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/{name}`, the two requests of a compare and
//! swap, with bearer authentication, per-Lease grants, and what kube-apiserver checks of an update
//! in its order: the body, its name and namespace, the uid precondition, then either create on
//! update (Leases allow it, for a caller that may also `create`) or the resourceVersion, which an
//! update must give (Leases refuse unconditional updates) and which must be the stored one. The
//! compare and swap itself is [`crate::model::lease`]'s. No I/O beyond the shared state.

use hyper::StatusCode;
use serde_json::Value;

use super::request_info::ResourceRequest;
use super::review::decode;
use super::status::{Status, OPTIMISTIC_LOCK_MESSAGE};
use crate::app::App;
use crate::http::{json_response, Request, Response};
use crate::model::lease::{LeaseBody, Refusal, Written, GROUP, KIND, RESOURCE};
use crate::model::rbac::Attributes;

/// What a Lease request asks, as the authorizer sees it.
fn attributes<'a>(verb: &'a str, namespace: &'a str, name: &'a str) -> Attributes<'a> {
    Attributes {
        verb,
        group: GROUP,
        namespace,
        resource: RESOURCE,
        subresource: "",
        name,
    }
}

/// 401 without a live token, 403 (kube's message) unless a grant allows `verb` on the Lease;
/// the caller's identity otherwise.
fn authorize(
    app: &App,
    request: &Request,
    verb: &'static str,
    namespace: &str,
    name: &str,
) -> Result<String, Status> {
    let identity = app
        .bearer_identity(request)
        .ok_or_else(Status::unauthorized)?;
    if !app
        .state
        .authorization()
        .allows(&identity, &attributes(verb, namespace, name))
    {
        return Err(Status::forbidden_resource(
            &identity,
            &ResourceRequest {
                verb,
                group: GROUP,
                namespace: Some(namespace),
                resource: RESOURCE,
                name: Some(name),
                subresource: None,
            },
        ));
    }
    Ok(identity)
}

/// `GET`: authentication, authorization (`get`), existence; the Lease as stored.
pub(crate) fn get(
    app: &App,
    request: &Request,
    namespace: &str,
    name: &str,
) -> Result<Value, Status> {
    authorize(app, request, "get", namespace, name)?;
    let state = app.state.cluster();
    let lease = state
        .lease(namespace, name)
        .ok_or_else(|| Status::not_found_in(GROUP, RESOURCE, name))?;
    Ok(lease.to_json(namespace, name))
}

/// `PUT`: authentication, authorization (`update`), media type (415), body (400), its name and
/// namespace (400), then the store's checks (409, 422, and 403 for a create on update the caller
/// may not create). 200 with the Lease updated, 201 with the Lease created.
pub(crate) fn update(
    app: &App,
    request: &Request,
    namespace: &str,
    name: &str,
) -> Result<Response, Status> {
    let identity = authorize(app, request, "update", namespace, name)?;
    let body = decode(request, KIND, GROUP)?;
    let body = body
        .as_object()
        .map(LeaseBody::decode)
        .unwrap_or_else(|| Err("the body is not a JSON object".to_owned()))
        .map_err(|detail| {
            Status::bad_request(format!(
                "{KIND} in version \"v1\" cannot be handled as a {KIND}: {detail}"
            ))
        })?;
    // `checkName`: the name must be the URL's; a namespace, if given, too.
    if body.name != name {
        return Err(Status::bad_request(format!(
            "the name of the object ({}) does not match the name on the URL ({name})",
            body.name
        )));
    }
    if !body.namespace.is_empty() && body.namespace != namespace {
        return Err(Status::bad_request(format!(
            "the namespace of the object ({}) does not match the namespace on the URL ({namespace})",
            body.namespace
        )));
    }
    let (authorization, mut cluster) = app.state.authorization_and_cluster();
    // A create on update is authorized again, as `create` of this name.
    let may_create = authorization.allows(&identity, &attributes("create", namespace, name));
    let (lease, written) = cluster
        .update_lease(namespace, name, body, may_create)
        .map_err(|refusal| refused(refusal, namespace, name))?;
    let code = match written {
        Written::Created => StatusCode::CREATED,
        Written::Updated => StatusCode::OK,
    };
    Ok(json_response(code, &lease.to_json(namespace, name)))
}

/// The `Status` kube-apiserver answers a refused update with.
fn refused(refusal: Refusal, namespace: &str, name: &str) -> Status {
    match refusal {
        // `storage.Preconditions.Check`'s error, as the store reports it.
        Refusal::UidPrecondition { given, stored } => Status::conflict_in(
            GROUP,
            RESOURCE,
            name,
            &format!(
                "StorageError: invalid object, Code: 4, Key: /registry/{RESOURCE}/{namespace}/\
                 {name}, ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: UID in \
                 precondition: {given}, UID in object meta: {stored}"
            ),
        ),
        Refusal::InvalidCreate(problems) | Refusal::InvalidUpdate(problems) => {
            let problems: Vec<(&str, &str)> = problems
                .iter()
                .map(|p| (p.field, p.body.as_str()))
                .collect();
            Status::invalid_named(GROUP, KIND, name, &problems)
        }
        // RBAC gives no reason when no rule allows a request.
        Refusal::CreateForbidden => Status::forbidden_in(GROUP, RESOURCE, name, ""),
        // The store's own check, which names the resource where the kind would be.
        Refusal::ResourceVersionRequired => Status::invalid_named(
            GROUP,
            RESOURCE,
            name,
            &[(
                "metadata.resourceVersion",
                "Invalid value: 0x0: must be specified for an update",
            )],
        ),
        Refusal::Stale => Status::conflict_in(GROUP, RESOURCE, name, OPTIMISTIC_LOCK_MESSAGE),
    }
}
