//! The doctor: `{"action": "doctor"}` makes a function check its own deployment, with its own
//! configuration and credentials, from where it runs, before the first alarm fires. Read-only:
//! it writes no replica count, no Event, and sets no alarm (the reviews it creates are questions to the
//! API server, stored nowhere).
//!
//! Checks, in order; a failure that leaves nothing to check further ends the list:
//! configuration, credentials, token, cluster (reachable, certificate verifies), identity (the
//! email the cluster sees, through `SelfSubjectReview`), for each target its access
//! (`SelfSubjectAccessReview`: the verbs the functions use allowed, `patch` and `delete` on the
//! Deployment refused), whether it may record Events (a `warn` when not: scaling works without)
//! and its Deployment, the GPU node pool's taints (from `clusters.get`) and
//! the pods' tolerations, the queues read live, each model's worker role, the service account
//! its pods run as and the cluster issuer's public documents (`doctor/workers.rs`), and the
//! alarms that should invoke the function.
//!
//! Does I/O, through the deployed clients.

use crate::error_text::chain;
use crate::report::doctor::Report;
use crate::scaler::placement::PoolSize;
use crate::scaler::{Call, DeployedScaler, NodePools};
use queue_scaler_core::capacity::Pools;
use queue_scaler_core::{DescribedAlarm, Routes, Target};
use queue_scaler_io::kube::node_pool::NodePool;
use queue_scaler_io::kube::probe::{ResourceAttributes, Toleration};
use queue_scaler_io::{ClusterProbe, Error as IoError, Probed, ScaleApi};

mod workers;

/// `POST selfsubjectaccessreviews` for one verb on a target's Deployment (or its scale).
fn access_review(target: &Target, verb: &str, subresource: Option<&str>) -> ResourceAttributes {
    ResourceAttributes {
        namespace: target.namespace.clone(),
        verb: verb.to_owned(),
        group: "apps".to_owned(),
        resource: "deployments".to_owned(),
        subresource: subresource.map(str::to_owned),
        name: Some(target.deployment.clone()),
    }
}

/// `POST selfsubjectaccessreviews` for `create` on Events in a target's namespace (any name:
/// RBAC cannot limit create by name).
fn events_review(target: &Target) -> ResourceAttributes {
    ResourceAttributes {
        namespace: target.namespace.clone(),
        verb: "create".to_owned(),
        group: "events.k8s.io".to_owned(),
        resource: "events".to_owned(),
        subresource: None,
        name: None,
    }
}

/// The verbs the functions use, which must be allowed, and those they do not, which must not.
const ACCESS: [(&str, Option<&str>, bool); 4] = [
    ("get", Some("scale"), true),
    ("update", Some("scale"), true),
    ("patch", None, false),
    ("delete", None, false),
];

/// Whether `tolerations` tolerate `taint` (`key`, `value`, `effect` as Kubernetes writes them).
fn tolerates(tolerations: &[Toleration], key: &str, value: &str, effect: &str) -> bool {
    tolerations.iter().any(|t| {
        let key_ok = t.key.is_empty() && t.operator == "Exists" || t.key == key;
        let value_ok = t.operator == "Exists" || t.value == value;
        let effect_ok = t.effect.is_empty() || t.effect == effect;
        key_ok && value_ok && effect_ok
    })
}

/// GKE writes taint effects as `NO_SCHEDULE`; Kubernetes as `NoSchedule`.
fn kube_effect(gke: &str) -> String {
    gke.split('_')
        .map(|w| {
            let lower = w.to_ascii_lowercase();
            let mut c = lower.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// A taint: key, value and effect (as Kubernetes writes it).
type Taint = (String, String, String);

/// The taints of the node pools that run GPU work (accelerators, or the `mlonly` label), by pool.
fn gpu_pools(cluster: &[NodePool]) -> Vec<(String, Vec<Taint>)> {
    cluster
        .iter()
        .filter(|p| !p.config.accelerators.is_empty() || p.config.labels.contains_key("mlonly"))
        .map(|p| {
            let taints = p
                .config
                .taints
                .iter()
                .map(|t| (t.key.clone(), t.value.clone(), kube_effect(&t.effect)))
                .collect();
            let name = if p.name.is_empty() { "?" } else { &p.name };
            (name.to_owned(), taints)
        })
        .collect()
}

/// The start of the fix when a call got no answer at all (nothing listening, DNS, a firewall,
/// a timeout): the address is in the message.
const UNREACHABLE_FIX: &str = "nothing answered at the address in the message: check the address is the one you mean and that this machine can reach it (DNS, a proxy, a firewall; locally: is `make local` still running?), docs/troubleshooting.md#an-endpoint-cannot-be-reached";

/// Whether `e` is a call that got no answer at all, rather than a refusal.
fn unreachable(e: &IoError) -> bool {
    e.got_no_answer()
}

/// The token check's fix: where the endpoint cannot be reached, where to look; else the fix the
/// error names, and the page that lists them.
fn token_fix(e: &IoError) -> String {
    match e {
        _ if unreachable(e) => format!("{UNREACHABLE_FIX}; the token endpoints are the key's token_uri, or the credential configuration's token_url and service_account_impersonation_url (keyless)"),
        IoError::Federation { .. } => "the fix at the end of the message; docs/troubleshooting.md#keyless-google-refuses-the-token-exchange-or-the-impersonation".to_owned(),
        _ => "docs/troubleshooting.md#401-unauthorized-or-invalid_grant-from-the-token-endpoint-key-path".to_owned(),
    }
}

impl DeployedScaler {
    /// Check this function's deployment, read-only.
    pub(crate) async fn doctor(&self, call: Call<'_>) -> Report {
        let mut report = Report::new(self.direction);
        let targets = self.routes.targets();
        report.pass(
            "configuration",
            format!(
                "{} target(s): {}; {} alarm(s) named{}",
                targets.len(),
                targets
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                self.routes.alarm_names().len(),
                if self.dry_run { "; DRY_RUN is on" } else { "" }
            ),
        );
        let tokens = self.api.tokens();
        let account = match tokens.account().await {
            Ok((account, keyless)) => {
                report.pass(
                    "credentials",
                    if keyless {
                        format!("keyless (Workload Identity Federation) for {account}")
                    } else {
                        format!("service-account key for {account}")
                    },
                );
                account
            }
            Err(e) => {
                report.fail("credentials", chain(&e), "fix the credential setting named above (README.md, Configuration; keyless: docs/deploy.md)");
                return report;
            }
        };
        if let Err(e) = queue_scaler_io::TokenSource::token(tokens.as_ref()).await {
            let fix = token_fix(&e);
            report.fail("token", chain(&e), fix);
            return report;
        }
        report.pass(
            "token",
            format!("Google issued an access token for {account}"),
        );

        match self.api.identity().await {
            Err(e) => {
                let fix = if unreachable(&e) {
                    format!("{}; a GKE control plane behind authorized networks does not admit Lambda's addresses: use its DNS endpoint. Check GKE_CLUSTER (or GKE_ENDPOINT) names this cluster", UNREACHABLE_FIX)
                } else {
                    "check GKE_CLUSTER (or GKE_ENDPOINT and GKE_CA_CERT) and that the control plane is reachable from the function".to_owned()
                };
                report.fail("cluster", chain(&e), fix);
                return report;
            }
            Ok(answer) => {
                report.pass(
                    "cluster",
                    "reachable, and its certificate verifies against the cluster CA",
                );
                match answer {
                    Probed::Answered(user) if user == account => report.pass("identity", format!("the cluster sees {user}")),
                    Probed::Answered(user) if !user.contains('@') => report.fail(
                        "identity",
                        format!("the cluster sees {user:?}, a number, not {account}"),
                        "add https://www.googleapis.com/auth/userinfo.email to GCP_TOKEN_SCOPES (or unset it): RBAC bindings name the email",
                    ),
                    Probed::Answered(user) => report.fail("identity", format!("the cluster sees {user}, not {account}"), "use the credentials of the service account that infra/gke/rbac.yaml binds"),
                    Probed::Other { status: 404, .. } => report.skip("identity", "the API server offers no SelfSubjectReview (Kubernetes before 1.28)"),
                    Probed::Other { status: 401, .. } => {
                        report.fail("identity", "the cluster refused the token (401)", "check the service account exists and the token has the userinfo.email scope");
                        return report;
                    }
                    Probed::Other { status: other, body } => report.fail("identity", format!("SelfSubjectReview answered {other}: {body}"), "docs/troubleshooting.md"),
                }
            }
        }

        for target in &targets {
            self.check_target(&mut report, target).await;
        }
        // The pools as the cluster tells them now, one clusters.get for the run, and the targets
        // without a configured pool placed by their nodeSelector; a failed read is reported by
        // the node pool check, and the configured sizes stand in.
        let cluster = self.refresh_node_pools().await;
        self.forget_placement().await;
        let pools = match &cluster {
            Ok(_) => self.placed_pools(None, call.deadline).await,
            Err(_) => std::sync::Arc::new(self.pools.clone()),
        };
        self.check_node_pools(&mut report, &targets, cluster, &pools)
            .await;
        self.check_gpu_pools(&mut report, &pools).await;
        self.check_queues(&mut report).await;
        self.check_workers(&mut report).await;
        self.check_alarms(&mut report, &self.own_arn(call.function_arn))
            .await;
        report
    }

    /// Each GPU pool the targets share (configured, or placed by their nodeSelector): its size
    /// against what its targets may ask for together (their `max` times their GPUs per replica:
    /// more is a `warn`, raises are then capped and split) and against their mins (more is a
    /// `fail`: no raise on the pool is made), and its Lease: there, and `get` and `update`
    /// allowed (else a `fail`: no raise on the pool can be booked).
    async fn check_gpu_pools(&self, report: &mut Report, placed: &Pools) {
        let mut pools: Vec<&str> = Vec::new();
        for route in self.routes.routes() {
            if let Some(entry) = placed.entry(&route.target) {
                if !pools.contains(&entry.pool.as_str()) {
                    pools.push(&entry.pool);
                }
            }
        }
        for pool in pools {
            let name = format!("GPU pool {pool}");
            let members = placed.members(pool);
            // The members' max and min replicas, in GPUs, summed.
            let gpus_of = |count: fn(&Target) -> i32| -> u64 {
                members
                    .iter()
                    .filter_map(|e| {
                        let route = self
                            .routes
                            .routes()
                            .iter()
                            .find(|r| r.target.to_string() == e.target)?;
                        Some(
                            u64::from(count(&route.target).max(0).unsigned_abs())
                                * u64::from(e.gpus_per_replica),
                        )
                    })
                    .sum()
            };
            let asked = gpus_of(|t| t.policy.max);
            let mins = gpus_of(|t| t.policy.min);
            match self.pool_size(pool).await {
                PoolSize::Gpus(gpus) if mins > gpus => report.fail(
                    &name,
                    format!("{gpus} GPUs; the mins of its {} target(s) need {mins} together (min_replicas times GPUs per replica): no raise on the pool is made until they fit", members.len()),
                    "lower a min_replicas, or size the pool (infra/gke/node-pool.sh)",
                ),
                PoolSize::Off(why) => report.warn(
                    &name,
                    format!("capacity is off ({why}): its {} target(s) may ask for {asked} GPUs together, uncapped", members.len()),
                    "set GKE_CLUSTER so the pool's size is read from clusters.get, or set pool_gpus in SCALER_TARGETS (or TARGET_POOL_GPUS): the pool's maximum nodes times GPUs per node",
                ),
                PoolSize::Gpus(gpus) if asked > gpus => report.warn(
                    &name,
                    format!("{gpus} GPUs; its {} target(s) may ask for {asked} together (max_replicas times GPUs per replica): raises are capped at what it can run and a short pool is split by need", members.len()),
                    "nothing, if intended; else lower max_replicas, or size the pool (infra/gke/node-pool.sh)",
                ),
                PoolSize::Gpus(gpus) => report.pass(
                    &name,
                    format!("{gpus} GPUs; its {} target(s) may ask for {asked} together", members.len()),
                ),
            }
            let Some((namespace, lease)) = placed.lease(pool) else {
                continue;
            };
            let check = format!("GPU pool {pool}: lease");
            let fix = format!("apply infra/gke/pool-lease.yaml for pool {pool} in namespace {namespace} (the Lease {lease} and get and update on it)");
            let mut refused = Vec::new();
            for verb in ["get", "update"] {
                let attributes = ResourceAttributes {
                    namespace: namespace.clone(),
                    verb: verb.to_owned(),
                    group: "coordination.k8s.io".to_owned(),
                    resource: "leases".to_owned(),
                    subresource: None,
                    name: Some(lease.clone()),
                };
                match self.allowed(&attributes).await {
                    Ok(true) => {}
                    Ok(false) => refused.push(verb),
                    Err(e) => {
                        refused.push(verb);
                        tracing::warn!(error = %e, "access review of the pool's Lease failed");
                    }
                }
            }
            if !refused.is_empty() {
                report.fail(&check, format!("{} on the Lease {namespace}/{lease} refused: no raise on the pool can be booked", refused.join(" and ")), fix);
                continue;
            }
            match self.api.get_lease(&namespace, &lease).await {
                Ok(_) => report.pass(
                    &check,
                    format!("{namespace}/{lease} exists; get and update allowed"),
                ),
                Err(e) if e.kube_code() == Some(404) => {
                    report.fail(&check, format!("{namespace}/{lease} does not exist"), fix)
                }
                Err(e) => report.fail(&check, chain(&e), fix),
            }
        }
    }

    /// Each target's own queues can be read live, with their counts now.
    async fn check_queues(&self, report: &mut Report) {
        for route in self.routes.routes() {
            let check = format!("queues of {}", route.target);
            if route.queues.is_empty() {
                report.skip(&check, "none of its own: each decision reads the queue its alarm names, and the heartbeat wakes nothing (set TARGET_QUEUES, or \"queues\" in SCALER_TARGETS)");
                continue;
            }
            let Some(sqs) = &self.queues else {
                report.fail(&check, "no AWS access to read them: every decision falls back to the alarm's minute-old datapoint", "set AWS_REGION and the AWS credentials (Lambda sets them from the execution role)");
                continue;
            };
            let mut counts = Vec::new();
            for queue in &route.queues {
                match queue_scaler_io::QueueDepth::counts(sqs, queue).await {
                    Ok(c) => counts.push(format!(
                        "{queue}: {} visible, {} in flight, {} delayed",
                        c.visible, c.in_flight, c.delayed
                    )),
                    Err(e) => {
                        let fix = if unreachable(&e) {
                            format!("{UNREACHABLE_FIX}; AWS_ENDPOINT_URL_SQS (or AWS_ENDPOINT_URL), when set, must point at an SQS API")
                        } else {
                            "check the queue's name or URL in TARGET_QUEUES / SCALER_TARGETS, and allow sqs:GetQueueAttributes and sqs:GetQueueUrl on it for the execution role (infra/aws/template.yaml)".to_owned()
                        };
                        report.fail(
                            &check,
                            format!("reading {queue} failed: {}; decisions fall back to the alarm's datapoint", chain(&e)),
                            fix,
                        );
                        counts.clear();
                        break;
                    }
                }
            }
            if !counts.is_empty() {
                report.pass(&check, format!("read live: {}", counts.join("; ")));
            }
        }
    }

    /// Whether the cluster allows what `attributes` describe.
    async fn allowed(&self, attributes: &ResourceAttributes) -> Result<bool, String> {
        match self.api.allows(attributes).await {
            Ok(Probed::Answered(allowed)) => Ok(allowed),
            Ok(Probed::Other {
                status,
                body: answer,
            }) => Err(format!(
                "SelfSubjectAccessReview answered {status}: {answer}"
            )),
            Err(e) => Err(chain(&e)),
        }
    }

    async fn check_target(&self, report: &mut Report, target: &Target) {
        let name = format!("{target}: access");
        let mut wrong = Vec::new();
        for (verb, sub, want) in ACCESS {
            let what = match sub {
                Some(s) => format!("{verb} deployments/{s}"),
                None => format!("{verb} deployments"),
            };
            match self.allowed(&access_review(target, verb, sub)).await {
                Ok(got) if got == want => {}
                Ok(got) => wrong.push(format!(
                    "{what} is {}",
                    if got {
                        "allowed, and should not be"
                    } else {
                        "refused, and is needed"
                    }
                )),
                Err(e) => {
                    report.fail(&name, e, "docs/troubleshooting.md");
                    return;
                }
            }
        }
        // Every verb the functions need refused: the identity may do nothing with this name,
        // which is what a misspelt deployment or namespace looks like too. From here (least
        // privilege) the two cannot be told apart, so the name comes first, and nothing is to
        // be granted for a name that may not exist.
        let needed_refused = wrong
            .iter()
            .filter(|w| w.ends_with("refused, and is needed"))
            .count();
        if wrong.is_empty() {
            report.pass(&name, "get and update on deployments/scale allowed; patch and delete on the Deployment refused");
        } else if needed_refused == 2 {
            report.fail(&name, wrong.join("; "), format!("{}. Only if it exists under that name is the RoleBinding what is missing: compare the resourceNames and namespace in infra/gke/rbac.yaml with it", self.check_the_name(target)));
        } else {
            report.fail(&name, wrong.join("; "), format!("bind exactly get and update on deployments/scale for {} in namespace {} (infra/gke/rbac.yaml, resourceNames), and nothing more", target.deployment, target.namespace));
        }
        self.check_events(report, target).await;
        self.check_deployment_read(report, target).await;
        let name = format!("{target}: deployment");
        match self.api.get(target).await {
            Ok(scale) => report.pass(&name, format!("exists, {} replica(s)", scale.spec.replicas)),
            Err(e) if e.kube_code() == Some(404) => report.fail(&name, "not found", format!("{}; if the name is right, create it (infra/gke/model-deployment.yaml)", self.check_the_name(target))),
            Err(e) if e.kube_code() == Some(403) => report.fail(&name, "its scale may not be read (403 Forbidden), so whether it exists cannot be told from here", format!("{}; then see the access check above", self.check_the_name(target))),
            Err(e) => report.fail(&name, chain(&e), "docs/troubleshooting.md"),
        }
    }

    /// Whether the Event that records each write may be created in the target's namespace: a
    /// `warn` when not, since scaling works without it.
    async fn check_events(&self, report: &mut Report, target: &Target) {
        let name = format!("{target}: events");
        let namespace = &target.namespace;
        if self.events.is_none() {
            report.skip(&name, "KUBE_EVENTS=false: no Event records a write");
            return;
        }
        let fix = format!("grant create on events in API group events.k8s.io in namespace {namespace} (the second rule of the Role in infra/gke/rbac.yaml), or set KUBE_EVENTS=false");
        match self.allowed(&events_review(target)).await {
            Ok(true) => report.pass(&name, format!("create on events (events.k8s.io) allowed in namespace {namespace}: each write is recorded on the Deployment")),
            Ok(false) => report.warn(&name, format!("create on events (events.k8s.io) refused in namespace {namespace}: scaling works, but no Event will record it"), fix),
            Err(e) => report.warn(&name, e, fix),
        }
    }

    /// Whether the Deployment itself may be read (`get` on deployments, by name): its GET
    /// replaces the scale's, and gives the pause annotations, ready replicas (capacity-limited)
    /// and GPUs per replica. A `warn` when not, since scaling works from the scale alone.
    async fn check_deployment_read(&self, report: &mut Report, target: &Target) {
        let name = format!("{target}: Deployment read");
        let fix = format!("grant get on deployments for {} in namespace {} (the first rule of the Role in infra/gke/rbac.yaml)", target.deployment, target.namespace);
        match self.allowed(&access_review(target, "get", None)).await {
            Ok(true) => report.pass(&name, "get on the Deployment allowed: its pause annotations, ready replicas and GPUs per replica are read with its scale"),
            Ok(false) => report.warn(&name, "get on the Deployment refused: the scale is read instead, so the pause annotations, capacity-limited and the Deployment's GPUs per replica are not seen", fix),
            Err(e) => report.warn(&name, e, fix),
        }
    }

    /// The first fix when a target's name may be wrong: the setting that gives it, and how to
    /// see whether the cluster has a Deployment of that name.
    fn check_the_name(&self, target: &Target) -> String {
        let setting = match &self.routes {
            Routes::Single(_) => format!(
                "TARGET_NAMESPACE={} and TARGET_DEPLOYMENT={}",
                target.namespace, target.deployment
            ),
            Routes::Table(_) => format!(
                "the SCALER_TARGETS entry with namespace {} and deployment {}",
                target.namespace, target.deployment
            ),
        };
        format!(
            "check the name first: {setting} must name an existing Deployment exactly (kubectl -n {} get deployment {}); a misspelt name is refused just like this, and then the fix is the setting, not a wider grant",
            target.namespace, target.deployment
        )
    }

    async fn check_node_pools(
        &self,
        report: &mut Report,
        targets: &[&Target],
        cluster: Result<NodePools, IoError>,
        placed: &Pools,
    ) {
        let cluster = match cluster {
            Ok(Some(cluster)) => cluster,
            Ok(None) => {
                report.skip("node pool", "GKE_ENDPOINT is given, so the GKE API (clusters.get) is not asked; set GKE_CLUSTER to check the node pools");
                return;
            }
            Err(e) => {
                report.fail(
                    "node pool",
                    chain(&e),
                    "grant container.clusters.get (infra/gke/iam-role.yaml)",
                );
                return;
            }
        };
        let pools = gpu_pools(&cluster);
        if pools.is_empty() {
            report.fail(
                "node pool",
                "no node pool has accelerators or the mlonly label",
                "create the GPU pool (infra/gke/node-pool.sh)",
            );
            return;
        }
        for (pool, taints) in &pools {
            let name = format!("node pool {pool}: taints");
            let mut seen = Vec::new();
            let mut twice = Vec::new();
            for (key, _, effect) in taints {
                if seen.contains(&(key, effect)) {
                    twice.push(format!("{key}:{effect}"));
                }
                seen.push((key, effect));
            }
            let has_ours = taints
                .iter()
                .any(|(k, v, e)| k == "mlonly" && v == "true" && e == "NoSchedule");
            if !twice.is_empty() {
                report.fail(&name, format!("taint(s) appear twice: {}", twice.join(", ")), "set the exact list with infra/gke/node-pool.sh (update); never add nvidia.com/gpu, GKE adds it itself");
            } else if !has_ours {
                report.fail(
                    &name,
                    "mlonly=true:NoSchedule is missing, so other pods may land on GPU nodes",
                    "run infra/gke/node-pool.sh (update)",
                );
            } else {
                report.pass(
                    &name,
                    format!(
                        "{} taint(s), none twice, mlonly=true:NoSchedule present",
                        taints.len()
                    ),
                );
            }
            for target in targets {
                self.check_tolerations(report, target, pool, taints).await;
            }
        }
        for target in targets {
            self.check_pool_match(report, target, &cluster, placed)
                .await;
        }
    }

    /// Where `target`'s pods may run, from its Deployment; when it cannot be read, check `name`
    /// is skipped, saying why.
    async fn placement(
        &self,
        report: &mut Report,
        name: &str,
        target: &Target,
    ) -> Option<queue_scaler_io::kube::probe::PodPlacement> {
        match self.api.placement(target).await {
            Ok(Probed::Answered(placement)) => Some(placement),
            Ok(Probed::Other { status, .. }) => {
                report.skip(name, format!("reading the Deployment answered {status}"));
                None
            }
            Err(e) => {
                report.skip(name, chain(&e));
                None
            }
        }
    }

    /// The GPU pool a target's pods land on: the one GPU pool whose labels (and GKE's
    /// `cloud.google.com/gke-nodepool`) match every key of its Deployment's `nodeSelector`. None
    /// or several fail; so does a configured pool that is not that one, since its cap would count
    /// GPUs the pods never use. Without a configured pool, the functions place the target there
    /// themselves (`placed`); where they could not, it fails too, since nothing caps it.
    async fn check_pool_match(
        &self,
        report: &mut Report,
        target: &Target,
        cluster: &[NodePool],
        placed: &Pools,
    ) {
        let name = format!("{target}: GPU pool");
        let Some(placement) = self.placement(report, &name, target).await else {
            return;
        };
        let matched: Vec<&str> = cluster
            .iter()
            .filter(|p| {
                !p.config.accelerators.is_empty() && p.selected_by(&placement.node_selector)
            })
            .map(|p| p.name.as_str())
            .collect();
        let configured = self.pools.entry(target).map(|e| e.pool.as_str());
        let selector = format!("{:?}", placement.node_selector);
        match (matched.as_slice(), configured) {
            ([one], Some(pool)) if *one == pool => report.pass(&name, format!("its nodeSelector {selector} matches GPU pool {pool}, its configured pool")),
            ([one], None) if placed.entry(target).is_some_and(|e| e.pool == *one) => report.pass(&name, format!("its nodeSelector {selector} matches GPU pool {one}; no pool is configured, so the functions place it there, and its raises are capped by it")),
            ([one], None) => report.warn(&name, format!("its nodeSelector {selector} matches GPU pool {one}, and no pool is configured: its raises are not capped, since the functions count a target on the pool its nodeSelector matches only when its Deployment asks for nvidia.com/gpu and the pool's Lease queue-scaler-pool-{one} is there"), format!("apply infra/gke/pool-lease.yaml for pool {one} in its namespace (or set its pool: TARGET_POOL, or \"pool\" in SCALER_TARGETS), and give its containers their nvidia.com/gpu limit")),
            ([one], Some(pool)) => report.fail(&name, format!("its nodeSelector {selector} matches GPU pool {one}, but it is configured on pool {pool}"), format!("set its pool to {one} (TARGET_POOL, or \"pool\" in SCALER_TARGETS)")),
            ([], _) => report.fail(&name, format!("its nodeSelector {selector} matches no GPU pool: its pods would never land on a GPU"), "select the GPU pool's label (mlonly: \"true\", infra/gke/model-deployment.yaml) or its name (cloud.google.com/gke-nodepool)"),
            (several, _) => report.fail(&name, format!("its nodeSelector {selector} matches several GPU pools ({}): which one its pods land on is up to the scheduler, so no cap can count them", several.join(", ")), "select exactly one pool, e.g. by cloud.google.com/gke-nodepool: POOL"),
        }
    }

    async fn check_tolerations(
        &self,
        report: &mut Report,
        target: &Target,
        pool: &str,
        taints: &[Taint],
    ) {
        let name = format!("{target}: tolerates {pool}");
        match self.allowed(&access_review(target, "get", None)).await {
            Ok(true) => {}
            Ok(false) => {
                report.skip(&name, "the identity may not read the Deployment (least privilege), so its pod template cannot be checked; infra/gke/model-deployment.yaml tolerates both taints");
                return;
            }
            Err(e) => {
                report.skip(&name, e);
                return;
            }
        }
        let Some(spec) = self.placement(report, &name, target).await else {
            return;
        };
        let tolerations = &spec.tolerations;
        let mut missing: Vec<String> = taints
            .iter()
            .filter(|(k, v, e)| !tolerates(tolerations, k, v, e))
            .map(|(k, v, e)| format!("{k}={v}:{e}"))
            .collect();
        if !tolerates(tolerations, "nvidia.com/gpu", "present", "NoSchedule") {
            missing.push("nvidia.com/gpu (added by GKE)".into());
        }
        let selects = spec.node_selector.get("mlonly").map(String::as_str) == Some("true");
        if missing.is_empty() && selects {
            report.pass(
                &name,
                "tolerates every taint of the pool and selects mlonly=true",
            );
        } else {
            let mut what = Vec::new();
            if !missing.is_empty() {
                what.push(format!("does not tolerate {}", missing.join(", ")));
            }
            if !selects {
                what.push("does not select mlonly=true".to_owned());
            }
            report.fail(&name, what.join("; "), "tolerate nvidia.com/gpu with operator Exists and mlonly=true exactly, and select mlonly=true (infra/gke/model-deployment.yaml)");
        }
    }

    async fn check_alarms(&self, report: &mut Report, function_arn: &str) {
        let Some(aws) = &self.rearm else {
            report.skip("alarms", "REARM_ALARM=false: the function reads no alarms");
            return;
        };
        let names = self.routes.alarm_names();
        if names.is_empty() {
            report.fail("alarms", "no alarm is named, so the heartbeat and this check cannot find them", "set TARGET_ALARMS (or alarms in SCALER_TARGETS) to the alarms that invoke this function");
            return;
        }
        let described: Vec<DescribedAlarm> = match queue_scaler_io::AlarmRearm::describe(
            aws, &names,
        )
        .await
        {
            Ok(d) => d,
            Err(e) => {
                let fix = if unreachable(&e) {
                    format!("{UNREACHABLE_FIX}; AWS_ENDPOINT_URL_CLOUDWATCH (or AWS_ENDPOINT_URL), when set, must point at a CloudWatch API")
                } else {
                    "allow cloudwatch:DescribeAlarms on these alarms for the execution role (infra/aws/template.yaml)".to_owned()
                };
                report.fail("alarms", chain(&e), fix);
                return;
            }
        };
        // One environment for both functions (QUEUE_SCALER_FUNCTION_ARN with `{function}`, as
        // `make local` writes it) names the other function's alarms too.
        let sibling =
            crate::identity::sibling_function_arn(self.direction, self.own_arn.as_deref());
        for name in names {
            let check = format!("alarm {name}");
            match described.iter().find(|a| a.name == name) {
                None => report.fail(&check, "does not exist in this region", "create it (infra/aws/template.yaml) or fix its name in TARGET_ALARMS / SCALER_TARGETS"),
                Some(a) if function_arn.is_empty() => report.pass(&check, format!("exists, now {}; its actions ({}) not compared: set QUEUE_SCALER_FUNCTION_ARN to this function's ARN", a.state, a.actions.join(", "))),
                Some(a) if sibling.as_deref().is_some_and(|arn| a.invokes(arn)) => report.pass(&check, format!("invokes the other function ({}), which one environment serves too; now {}", sibling.as_deref().unwrap_or_default(), a.state)),
                Some(a) if !a.invokes(function_arn) => report.fail(&check, format!("its actions ({}) do not invoke this function ({function_arn})", a.actions.join(", ")), "add this function's ARN to the alarm's AlarmActions"),
                Some(a) if !a.actions_enabled => report.fail(&check, "its actions are disabled", "enable them (aws cloudwatch enable-alarm-actions) unless scaling is paused on purpose"),
                Some(a) => report.pass(&check, format!("invokes this function; now {}", a.state)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tolerations_follow_kubernetes_matching() {
        let t: Vec<Toleration> = serde_json::from_value(json!([
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
            {"key": "mlonly", "operator": "Equal", "value": "true", "effect": "NoSchedule"},
        ]))
        .unwrap_or_default();
        assert!(tolerates(&t, "nvidia.com/gpu", "present", "NoSchedule"));
        assert!(tolerates(&t, "mlonly", "true", "NoSchedule"));
        assert!(!tolerates(&t, "mlonly", "false", "NoSchedule"));
        assert!(!tolerates(&t, "dedicated", "x", "NoSchedule"));
        assert_eq!(kube_effect("NO_SCHEDULE"), "NoSchedule");
        assert_eq!(kube_effect("PREFER_NO_SCHEDULE"), "PreferNoSchedule");
    }

    #[test]
    fn gpu_pools_are_those_with_accelerators_or_our_label() {
        let cluster: Vec<NodePool> = serde_json::from_value(json!([
            {"name": "default", "config": {}},
            {"name": "gpu", "config": {"accelerators": [{"acceleratorCount": "1"}],
              "taints": [{"key": "mlonly", "value": "true", "effect": "NO_SCHEDULE"}]}}
        ]))
        .unwrap_or_default();
        let pools = gpu_pools(&cluster);
        assert_eq!(pools.len(), 1);
        assert_eq!(
            pools[0].1,
            [("mlonly".into(), "true".into(), "NoSchedule".into())]
        );
    }
}
