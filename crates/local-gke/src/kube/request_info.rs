//! A request for a Kubernetes resource, as a kube-apiserver's request-info parser reads its path,
//! for the requests the cluster listener refuses. No I/O.

use hyper::Method;

/// A request for a Kubernetes resource, as a kube-apiserver's request-info parser reads its
/// path: `/api/v1/...` (the core group) or `/apis/{group}/{version}/...`, then optionally
/// `namespaces/{ns}/`, then `{resource}[/{name}[/{subresource}]]`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ResourceRequest<'a> {
    pub verb: &'static str,
    pub group: &'a str,
    pub namespace: Option<&'a str>,
    pub resource: &'a str,
    pub name: Option<&'a str>,
    pub subresource: Option<&'a str>,
}

impl<'a> ResourceRequest<'a> {
    pub(crate) fn parse(method: &Method, segments: &[&'a str]) -> Option<Self> {
        let (group, rest) = match segments {
            ["api", _version, rest @ ..] => ("", rest),
            ["apis", group, _version, rest @ ..] => (*group, rest),
            _ => return None,
        };
        let (namespace, rest) = match rest {
            // `namespaces/{ns}` alone, or with its own subresources, is the namespace object.
            ["namespaces", namespace] | ["namespaces", namespace, "status" | "finalize"] => {
                (Some(*namespace), rest)
            }
            ["namespaces", namespace, rest @ ..] => (Some(*namespace), rest),
            _ => (None, rest),
        };
        let (resource, name, subresource) = match rest {
            [resource] => (*resource, None, None),
            [resource, name] => (*resource, Some(*name), None),
            [resource, name, subresource] => (*resource, Some(*name), Some(*subresource)),
            _ => return None,
        };
        if resource.is_empty() {
            return None;
        }
        let verb = match (method, name.is_some()) {
            (&Method::GET | &Method::HEAD, true) => "get",
            (&Method::GET | &Method::HEAD, false) => "list",
            (&Method::POST, _) => "create",
            (&Method::PUT, _) => "update",
            (&Method::PATCH, _) => "patch",
            (&Method::DELETE, true) => "delete",
            (&Method::DELETE, false) => "deletecollection",
            _ => "unsupported",
        };
        Some(ResourceRequest {
            verb,
            group,
            namespace,
            resource,
            name,
            subresource,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_paths_are_read_as_kube_apiserver_reads_them() {
        let parse = |method: Method, path: &'static str| {
            let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
            ResourceRequest::parse(&method, &segments).map(|r| {
                (
                    r.verb,
                    r.group,
                    r.namespace,
                    r.resource,
                    r.name,
                    r.subresource,
                )
            })
        };
        assert_eq!(
            parse(Method::GET, "/api/v1/namespaces/ml/secrets/s"),
            Some(("get", "", Some("ml"), "secrets", Some("s"), None))
        );
        assert_eq!(
            parse(Method::GET, "/api/v1/namespaces/ml/secrets"),
            Some(("list", "", Some("ml"), "secrets", None, None))
        );
        assert_eq!(
            parse(Method::DELETE, "/apis/apps/v1/namespaces/ml/deployments/w"),
            Some(("delete", "apps", Some("ml"), "deployments", Some("w"), None))
        );
        assert_eq!(
            parse(
                Method::PATCH,
                "/apis/apps/v1/namespaces/ml/deployments/w/status"
            ),
            Some((
                "patch",
                "apps",
                Some("ml"),
                "deployments",
                Some("w"),
                Some("status")
            ))
        );
        assert_eq!(
            parse(Method::GET, "/api/v1/namespaces/ml"),
            Some(("get", "", Some("ml"), "namespaces", Some("ml"), None))
        );
        assert_eq!(parse(Method::GET, "/healthz"), None);
        assert_eq!(parse(Method::GET, "/apis/apps/v1"), None);
    }
}
