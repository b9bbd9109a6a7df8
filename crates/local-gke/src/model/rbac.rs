//! Authorization as Kubernetes RBAC decides it for the rules a grant stands for: what a request
//! asks to do ([`Attributes`]), what a grant on a deployment allows ([`GrantRules`]) and what a
//! grant on a Lease allows ([`LeaseRules`]). No I/O.

use std::collections::BTreeSet;

use super::lease;

/// The verbs a grant lets its identity use on which resources of its deployment (all in the
/// `apps` group, and only on the one deployment named, as `resourceNames` restricts a rule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GrantRules {
    pub verbs: BTreeSet<String>,
    pub resources: BTreeSet<String>,
    /// `get` on the Deployment itself, as the shipped Role's rule on `deployments` (by name)
    /// allows: the default grant has it beside the verbs on the scale; a grant whose resources
    /// are given has exactly what they say.
    pub read_deployment: bool,
}

/// The verbs a grant covers by default: what the scaler may need on `deployments/scale` (and
/// `get` on the Deployment itself: [`GrantRules::read_deployment`]).
pub(crate) const DEFAULT_GRANT_VERBS: [&str; 3] = ["get", "update", "patch"];
/// The resource a grant covers by default.
pub(crate) const DEFAULT_GRANT_RESOURCE: &str = "deployments/scale";

impl Default for GrantRules {
    fn default() -> Self {
        GrantRules {
            verbs: DEFAULT_GRANT_VERBS
                .iter()
                .map(|v| (*v).to_owned())
                .collect(),
            resources: BTreeSet::from([DEFAULT_GRANT_RESOURCE.to_owned()]),
            read_deployment: true,
        }
    }
}

impl GrantRules {
    /// RBAC's `RuleAllows` for a rule with `apiGroups: ["apps"]` and `resourceNames: [name]`:
    /// the group must be `apps`; the verb listed (or `*`); the resource, with its subresource
    /// (`deployments/scale`), listed (or `*`, or `*/scale`); and the name the one named, so a
    /// request without a name is not allowed.
    pub(crate) fn allow(&self, name: &str, request: &Attributes<'_>) -> bool {
        let verb = self.verbs.contains("*") || self.verbs.contains(request.verb);
        let combined = if request.subresource.is_empty() {
            request.resource.to_owned()
        } else {
            format!("{}/{}", request.resource, request.subresource)
        };
        let resource = self.resources.iter().any(|r| {
            r == "*"
                || *r == combined
                || (!request.subresource.is_empty()
                    && r.strip_prefix("*/") == Some(request.subresource))
        });
        let read = self.read_deployment
            && request.verb == "get"
            && request.resource == "deployments"
            && request.subresource.is_empty();
        request.group == "apps" && (verb && resource || read) && request.name == name
    }
}

/// The verbs a grant on a Lease covers by default: what the scaler needs for its compare and
/// swap (a read, then a `PUT` at the version read).
pub(crate) const DEFAULT_LEASE_VERBS: [&str; 2] = ["get", "update"];

/// The verbs a grant lets its identity use on one named Lease: a Role rule with
/// `apiGroups: ["coordination.k8s.io"]`, `resources: ["leases"]` and `resourceNames: [NAME]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LeaseRules {
    pub verbs: BTreeSet<String>,
}

impl Default for LeaseRules {
    fn default() -> Self {
        LeaseRules {
            verbs: DEFAULT_LEASE_VERBS
                .iter()
                .map(|v| (*v).to_owned())
                .collect(),
        }
    }
}

impl LeaseRules {
    /// RBAC's `RuleAllows` for that rule: the group `coordination.k8s.io`, the resource `leases`
    /// without a subresource, the verb listed (or `*`), and the name the Lease's (so neither a
    /// list nor a create by `POST`, which carry no name, is allowed; a create by `PUT` is, if
    /// `create` is listed).
    pub(crate) fn allow(&self, lease: &str, request: &Attributes<'_>) -> bool {
        let verb = self.verbs.contains("*") || self.verbs.contains(request.verb);
        request.group == lease::GROUP
            && request.resource == lease::RESOURCE
            && request.subresource.is_empty()
            && verb
            && request.name == lease
    }
}

/// Whether the request is the one the Role's second rule allows in its namespace: `create` on
/// `events` in API group `events.k8s.io`, any name (RBAC cannot limit create by name).
pub(crate) fn is_event_create(request: &Attributes<'_>) -> bool {
    request.verb == "create"
        && request.group == "events.k8s.io"
        && request.resource == "events"
        && request.subresource.is_empty()
}

/// What a request asks to do, as an authorizer sees it (`authorizer.Attributes`); empty
/// strings for what it does not name.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Attributes<'a> {
    pub verb: &'a str,
    pub group: &'a str,
    pub namespace: &'a str,
    pub resource: &'a str,
    pub subresource: &'a str,
    pub name: &'a str,
}
