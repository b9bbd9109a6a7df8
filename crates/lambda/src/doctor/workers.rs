//! The doctor's worker side (docs/design.md, "The workers' AWS access"): for each target with a
//! worker role (`TARGET_WORKER_ROLE`, `worker_role`), the role exists (`iam:GetRole`), its trust
//! admits this cluster's issuer (or one Google account) and the service account the
//! Deployment's pods run as, and the Deployment gives that role to its workers
//! (`AWS_ROLE_ARN`, `AWS_WEB_IDENTITY_TOKEN_FILE`). For the cluster's issuer (way (a)), GKE
//! publishes its discovery document and keys, read anonymously as STS reads them. Each mismatch
//! is a `fail` whose fix names the setting or the file.

use super::{unreachable, UNREACHABLE_FIX};
use crate::error_text::chain;
use crate::report::doctor::Report;
use crate::scaler::DeployedScaler;
use queue_scaler_core::worker::{judge_trust, RoleArn, WorkerIdentity, FIX_ISSUER};
use queue_scaler_core::Target;
use queue_scaler_io::google::issuer::Published;
use queue_scaler_io::kube::probe::PodIdentity;
use queue_scaler_io::{ClusterProbe, Probed};

/// The fix when the role cannot be read.
const GET_ROLE_FIX: &str = "allow iam:GetRole on the worker roles for the function's execution role (the ReadWorkerRoles statement of infra/aws/template.yaml)";

impl DeployedScaler {
    /// The worker side of each target that names a worker role; targets without one are
    /// skipped, saying how to have them checked.
    pub(super) async fn check_workers(&self, report: &mut Report) {
        for route in self.routes.routes() {
            let target = &route.target;
            let check = format!("{target}: workers' AWS access");
            let Some(role) = self.worker_roles.of(target) else {
                report.skip(&check, "no worker role named: set TARGET_WORKER_ROLE (or the entry's worker_role) to the stack's WorkerRoleArn to have the doctor check it");
                continue;
            };
            match self.check_worker(target, role).await {
                Ok(detail) => report.pass(&check, detail),
                Err((detail, fix)) => report.fail(&check, detail, fix),
            }
        }
    }

    /// One target's worker side: what passes, or what fails and its fix.
    async fn check_worker(
        &self,
        target: &Target,
        role: &RoleArn,
    ) -> Result<String, (String, String)> {
        let Some(iam) = &self.queues else {
            return Err((
                "no AWS access to read the worker role".to_owned(),
                "set AWS_REGION and the AWS credentials (Lambda sets them from the execution role)"
                    .to_owned(),
            ));
        };
        let found = iam.get_role(&role.name).await.map_err(|e| {
            let fix = if unreachable(&e) {
                format!("{UNREACHABLE_FIX}; AWS_ENDPOINT_URL_IAM (or AWS_ENDPOINT_URL), when set, must point at an IAM API")
            } else {
                GET_ROLE_FIX.to_owned()
            };
            (format!("reading the worker role {role} failed: {}", chain(&e)), fix)
        })?;
        let Some(found) = found else {
            return Err((
                format!("the worker role {role} does not exist"),
                "set TARGET_WORKER_ROLE (or the entry's worker_role) to the stack's WorkerRoleArn (SecondWorkerRoleArn) output".to_owned(),
            ));
        };
        if found.arn != role.arn {
            return Err((
                format!("the role named {} is {}, not {role}", role.name, found.arn),
                "set TARGET_WORKER_ROLE (or the entry's worker_role) to the role's whole ARN, its path included (the stack's WorkerRoleArn)".to_owned(),
            ));
        }
        let pods = self.pod_identity(target).await?;
        let who = WorkerIdentity {
            namespace: &target.namespace,
            service_account: &pods.service_account,
            issuer: self.cluster_issuer.as_deref(),
        };
        let admitted = judge_trust(&found.trust, &who).map_err(|problem| {
            (
                format!(
                    "the worker role {role} does not trust the workers: {}",
                    problem.what
                ),
                problem.fix.to_owned(),
            )
        })?;
        let manifest_fix = format!("give every container of {target} AWS_ROLE_ARN={role} and AWS_WEB_IDENTITY_TOKEN_FILE, the projected token's path (infra/gke/model-deployment.yaml, __WORKER_ROLE_ARN__)");
        let wrong: Vec<String> = pods
            .containers
            .iter()
            .filter(|c| c.role_arn.as_deref() != Some(role.arn.as_str()) || c.token_file.is_none())
            .map(|c| match (&c.role_arn, &c.token_file) {
                (None, _) => format!("container {} has no AWS_ROLE_ARN value", c.name),
                (Some(arn), _) if *arn != role.arn => {
                    format!("container {} assumes {arn}", c.name)
                }
                _ => format!(
                    "container {} has no AWS_WEB_IDENTITY_TOKEN_FILE value",
                    c.name
                ),
            })
            .collect();
        if pods.containers.is_empty() || !wrong.is_empty() {
            return Err((
                format!(
                    "the Deployment does not give its workers the role: {}",
                    if wrong.is_empty() {
                        "it has no containers".to_owned()
                    } else {
                        wrong.join("; ")
                    }
                ),
                manifest_fix,
            ));
        }
        let issuer_note = match (&admitted.provider, &self.cluster_issuer) {
            (Some(_), Some(issuer)) => format!("; {}", self.issuer_public(issuer).await?),
            (Some(_), None) => {
                " (GKE_ENDPOINT names no cluster, so the issuer is not compared: set GKE_CLUSTER)"
                    .to_owned()
            }
            (None, _) => String::new(),
        };
        Ok(format!(
            "{role} trusts {}{issuer_note}; the pods run as {} with AWS_ROLE_ARN set to it",
            admitted.what, pods.service_account
        ))
    }

    /// Way (a) needs STS to read the cluster's issuer documents without credentials: they are
    /// read here as STS reads them, and their `issuer` must be the one the trust names.
    async fn issuer_public(&self, issuer: &str) -> Result<String, (String, String)> {
        let way_b = "GKE does not publish this cluster's issuer: give the workers Google ID tokens instead, way (b) (WorkerGoogleAccountId; docs/deploy.md, \"The workers' AWS access\")";
        match self.api.issuer_published().await {
            Ok(Some(Published::Yes {
                issuer: named,
                keys,
            })) => {
                if named == format!("https://{issuer}") {
                    Ok(format!(
                        "its discovery document and {keys} key(s) are public, as STS reads them"
                    ))
                } else {
                    Err((
                        format!("the cluster's discovery document names the issuer {named}, not https://{issuer}: STS refuses its tokens"),
                        FIX_ISSUER.to_owned(),
                    ))
                }
            }
            Ok(Some(Published::No(why))) => Err((
                format!("STS cannot verify the workers' tokens: {why}"),
                way_b.to_owned(),
            )),
            Ok(None) => Ok(String::new()),
            Err(e) => {
                let fix = if unreachable(&e) {
                    UNREACHABLE_FIX.to_owned()
                } else {
                    way_b.to_owned()
                };
                Err((
                    format!(
                        "reading the cluster's issuer documents failed: {}",
                        chain(&e)
                    ),
                    fix,
                ))
            }
        }
    }

    /// The Deployment's service account and web-identity variables, or the failure to report.
    async fn pod_identity(&self, target: &Target) -> Result<PodIdentity, (String, String)> {
        let read_fix = format!("grant get on deployments for {} in namespace {} (the first rule of the Role in infra/gke/rbac.yaml)", target.deployment, target.namespace);
        match self.api.pod_identity(target).await {
            Ok(Probed::Answered(pods)) => Ok(pods),
            Ok(Probed::Other { status: 404, .. }) => Err((
                format!("the Deployment {target} does not exist"),
                "apply infra/gke/model-deployment.yaml, or check TARGET_DEPLOYMENT".to_owned(),
            )),
            Ok(Probed::Other { status, body }) => Err((
                format!("reading the Deployment answered {status}: {body}"),
                read_fix,
            )),
            Err(e) => Err((chain(&e), read_fix)),
        }
    }
}
