//! Authorization as Kubernetes RBAC decides it for the rules a grant stands for: what a request
//! asks to do ([`Attributes`]) and what a grant allows ([`GrantRules`]). No I/O.

use std::collections::BTreeSet;

/// The verbs a grant lets its identity use on which resources of its deployment (all in the
/// `apps` group, and only on the one deployment named, as `resourceNames` restricts a rule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GrantRules {
    pub verbs: BTreeSet<String>,
    pub resources: BTreeSet<String>,
}

/// The verbs a grant covers by default: what the scaler may need on `deployments/scale`.
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
        request.group == "apps" && verb && resource && request.name == name
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
