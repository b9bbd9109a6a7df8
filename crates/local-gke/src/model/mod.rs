//! The data local-gke holds and its admin API carries, with the rules that belong to it: grants
//! and RBAC's matching ([`rbac`]), Leases and their compare-and-swap ([`lease`]), the GKE API's
//! node pools ([`node_pool`]), which pods the GPU pool runs ([`gpu_pool`]), a Deployment's pod
//! scheduling fields ([`scheduling`]), who a pod is to the GKE metadata server
//! ([`pod_identity`]), the cluster issuer's published documents ([`issuer`]), injected faults ([`fault`]) and the request log ([`request_log`]). Plain types, below everything else:
//! no I/O, and nothing here imports the rest of the crate, so the state, the configuration and
//! every handler can use them.

pub(crate) mod fault;
pub(crate) mod gpu_pool;
pub(crate) mod issuer;
pub(crate) mod lease;
pub(crate) mod node_pool;
pub(crate) mod pod_identity;
pub(crate) mod rbac;
pub(crate) mod request_log;
pub(crate) mod scheduling;
