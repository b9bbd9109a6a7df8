//! Authorization: who may do what in the cluster. The grants on Deployments (each one RBAC rule,
//! [`crate::model::rbac::GrantRules`]), the grants on Leases, and who may create Events where;
//! [`Authorization::allows`] and [`Authorization::authorizing_grant`] decide a request as
//! Kubernetes RBAC would. Every cluster handler and the self reviews ask it; the admin API sets
//! it. No I/O.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::{Grant, LeaseGrant};
use crate::model::rbac::{is_event_create, Attributes, GrantRules, LeaseRules};

/// The grants, by what they are on.
#[derive(Debug, Default)]
pub(crate) struct Authorization {
    grants: BTreeMap<Grant, GrantRules>,
    /// Who may do what on which Lease: (identity, namespace, Lease).
    lease_grants: BTreeMap<(String, String, String), LeaseRules>,
    /// Who may create Events in which namespace: (identity, namespace).
    event_grants: BTreeSet<(String, String)>,
}

impl Authorization {
    /// Lets the grant's identity get, update and patch its deployment's scale, and create Events
    /// in its namespace: the two rules of the Role `infra/gke/rbac.yaml` ships.
    pub(crate) fn grant(&mut self, grant: Grant) {
        self.grant_events(&grant.identity, &grant.namespace);
        self.set_grant(grant, GrantRules::default());
    }

    /// Lets `identity` create Events in `namespace`.
    pub(crate) fn grant_events(&mut self, identity: &str, namespace: &str) {
        self.event_grants
            .insert((identity.to_owned(), namespace.to_owned()));
    }

    /// Stops `identity` creating Events in `namespace`; whether it could.
    pub(crate) fn revoke_events(&mut self, identity: &str, namespace: &str) -> bool {
        self.event_grants
            .remove(&(identity.to_owned(), namespace.to_owned()))
    }

    /// Gives the grant's identity exactly its verbs (by default `get` and `update`) on its
    /// Lease, replacing what it had there; answers the rules now granted.
    pub(crate) fn grant_lease(&mut self, grant: &LeaseGrant) -> &LeaseRules {
        let rules = match &grant.verbs {
            Some(verbs) => LeaseRules {
                verbs: verbs.iter().cloned().collect(),
            },
            None => LeaseRules::default(),
        };
        let key = (
            grant.identity.clone(),
            grant.namespace.clone(),
            grant.lease.clone(),
        );
        let entry = self.lease_grants.entry(key).or_default();
        *entry = rules;
        entry
    }

    /// Removes `identity`'s grant on the Lease; whether there was one.
    pub(crate) fn revoke_lease_grant(
        &mut self,
        identity: &str,
        namespace: &str,
        lease: &str,
    ) -> bool {
        let key = (identity.to_owned(), namespace.to_owned(), lease.to_owned());
        self.lease_grants.remove(&key).is_some()
    }

    /// Every grant on a Lease, by (identity, namespace, Lease).
    pub(crate) fn lease_grants(
        &self,
    ) -> impl Iterator<Item = (&(String, String, String), &LeaseRules)> {
        self.lease_grants.iter()
    }

    /// Whether `identity` may do what `request` asks: a grant on its deployment or on the
    /// Lease named allows it, or it creates Events where it may.
    pub(crate) fn allows(&self, identity: &str, request: &Attributes<'_>) -> bool {
        let lease_key = (
            identity.to_owned(),
            request.namespace.to_owned(),
            request.name.to_owned(),
        );
        self.authorizing_grant(identity, request).is_some()
            || self
                .lease_grants
                .get(&lease_key)
                .is_some_and(|rules| rules.allow(request.name, request))
            || (is_event_create(request)
                && self
                    .event_grants
                    .contains(&(identity.to_owned(), request.namespace.to_owned())))
    }

    /// Gives the grant's identity exactly `rules` on its deployment, replacing what it had.
    pub(crate) fn set_grant(&mut self, grant: Grant, rules: GrantRules) {
        self.grants.insert(grant, rules);
    }

    /// Removes a grant; whether there was one.
    pub(crate) fn revoke(&mut self, grant: &Grant) -> bool {
        self.grants.remove(grant).is_some()
    }

    /// Every grant, in order.
    pub(crate) fn grants(&self) -> impl Iterator<Item = (&Grant, &GrantRules)> {
        self.grants.iter()
    }

    /// The grant that allows `identity` the request, if any, decided as Kubernetes RBAC decides
    /// it for a Role in the grant's namespace with one rule (`apiGroups: ["apps"]`, the grant's
    /// resources and verbs, `resourceNames: [its deployment]`) bound to the identity as a User.
    pub(crate) fn authorizing_grant(
        &self,
        identity: &str,
        request: &Attributes<'_>,
    ) -> Option<&Grant> {
        self.grants
            .iter()
            .find(|(grant, rules)| {
                grant.identity == identity
                    && grant.namespace == request.namespace
                    && rules.allow(&grant.deployment, request)
            })
            .map(|(grant, _)| grant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scale_request<'a>(verb: &'a str, name: &'a str) -> Attributes<'a> {
        Attributes {
            verb,
            group: "apps",
            namespace: "ml",
            resource: "deployments",
            subresource: "scale",
            name,
        }
    }

    fn grant(identity: &str) -> Grant {
        Grant {
            identity: identity.to_owned(),
            namespace: "ml".to_owned(),
            deployment: "w".to_owned(),
        }
    }

    #[test]
    fn a_default_grant_covers_get_update_and_patch_of_its_deployments_scale_only() {
        let mut state = Authorization::default();
        state.grant(grant("a@p"));
        for verb in ["get", "update", "patch"] {
            assert!(state
                .authorizing_grant("a@p", &scale_request(verb, "w"))
                .is_some());
        }
        let denied = [
            ("b@p", scale_request("get", "w")),
            ("a@p", scale_request("delete", "w")),
            ("a@p", scale_request("create", "w")),
            ("a@p", scale_request("get", "other")),
            ("a@p", scale_request("get", "")),
            (
                "a@p",
                Attributes {
                    namespace: "default",
                    ..scale_request("get", "w")
                },
            ),
            (
                "a@p",
                Attributes {
                    group: "",
                    ..scale_request("get", "w")
                },
            ),
            (
                "a@p",
                Attributes {
                    subresource: "",
                    ..scale_request("patch", "w")
                },
            ),
            (
                "a@p",
                Attributes {
                    subresource: "status",
                    ..scale_request("patch", "w")
                },
            ),
        ];
        for (identity, request) in denied {
            assert!(
                state.authorizing_grant(identity, &request).is_none(),
                "{identity} {request:?}"
            );
        }
    }

    #[test]
    fn a_grant_can_be_widened_replaced_and_revoked() {
        let mut state = Authorization::default();
        state.grant(grant("a@p"));
        let patch_deployment = Attributes {
            subresource: "",
            ..scale_request("patch", "w")
        };
        assert!(state.authorizing_grant("a@p", &patch_deployment).is_none());
        state.set_grant(
            grant("a@p"),
            GrantRules {
                verbs: ["get", "update", "patch"].map(str::to_owned).into(),
                resources: ["deployments/scale", "deployments"]
                    .map(str::to_owned)
                    .into(),
                read_deployment: false,
            },
        );
        assert!(state.authorizing_grant("a@p", &patch_deployment).is_some());
        state.set_grant(
            grant("a@p"),
            GrantRules {
                verbs: ["*"].map(str::to_owned).into(),
                resources: ["*/scale"].map(str::to_owned).into(),
                read_deployment: false,
            },
        );
        assert!(state.authorizing_grant("a@p", &patch_deployment).is_none());
        assert!(state
            .authorizing_grant("a@p", &scale_request("delete", "w"))
            .is_some());
        assert!(state.revoke(&grant("a@p")));
        assert!(!state.revoke(&grant("a@p")));
        assert!(state
            .authorizing_grant("a@p", &scale_request("get", "w"))
            .is_none());
    }

    fn lease_request<'a>(verb: &'a str, name: &'a str) -> Attributes<'a> {
        Attributes {
            verb,
            group: "coordination.k8s.io",
            namespace: "ml",
            resource: "leases",
            subresource: "",
            name,
        }
    }

    #[test]
    fn a_lease_grant_allows_its_verbs_on_its_lease_only() {
        let mut state = Authorization::default();
        state.grant(grant("a@p"));
        assert!(!state.allows("a@p", &lease_request("get", "gpu-pool")));
        state.grant_lease(&LeaseGrant::new("a@p", "ml", "gpu-pool"));
        assert!(state.allows("a@p", &lease_request("get", "gpu-pool")));
        assert!(state.allows("a@p", &lease_request("update", "gpu-pool")));
        for (identity, request) in [
            ("a@p", lease_request("create", "gpu-pool")),
            ("a@p", lease_request("get", "other-pool")),
            ("a@p", lease_request("list", "")),
            ("b@p", lease_request("get", "gpu-pool")),
            (
                "a@p",
                Attributes {
                    namespace: "default",
                    ..lease_request("get", "gpu-pool")
                },
            ),
            (
                "a@p",
                Attributes {
                    group: "coordination.k8s.io.example",
                    ..lease_request("get", "gpu-pool")
                },
            ),
        ] {
            assert!(!state.allows(identity, &request), "{identity} {request:?}");
        }
        // A lease grant is not a deployment grant of that name, nor the other way round.
        assert!(state
            .authorizing_grant("a@p", &scale_request("get", "gpu-pool"))
            .is_none());
        assert!(!state.allows("a@p", &lease_request("get", "w")));
        assert!(state.revoke_lease_grant("a@p", "ml", "gpu-pool"));
        assert!(!state.revoke_lease_grant("a@p", "ml", "gpu-pool"));
        assert!(!state.allows("a@p", &lease_request("get", "gpu-pool")));
    }
}
