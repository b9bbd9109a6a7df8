//! The workers' AWS identity as the doctor checks it (docs/design.md, "The workers' AWS
//! access"): each model's worker role ([`RoleArn`], configured per target in [`WorkerRoles`]),
//! and what its trust policy admits ([`judge_trust`]): the tokens of one Kubernetes service
//! account from the cluster's issuer (way (a)), or one Google service account's ID tokens (way
//! (b)). Pure: the role's trust and the Deployment's service account are read by the caller.

use crate::policy::Target;
use serde_json::Value;
use std::fmt;

/// The audience of the workers' projected token, and the IAM OIDC provider's client id.
pub(crate) const STS_AUDIENCE: &str = "sts.amazonaws.com";

/// The issuer STS trusts for Google's ID tokens (way (b)).
pub(crate) const GOOGLE_ISSUER: &str = "accounts.google.com";

/// The issuer of a GKE cluster's service-account tokens, without `https://`, as IAM names its
/// OIDC provider: `container.googleapis.com/v1/projects/P/locations/L/clusters/C` for the
/// cluster `projects/P/locations/L/clusters/C`.
pub fn gke_issuer(cluster: &str) -> String {
    format!("container.googleapis.com/v1/{cluster}")
}

/// An IAM role's ARN, checked: `arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleArn {
    /// The whole ARN, as the Deployment's `AWS_ROLE_ARN` must give it.
    pub arn: String,
    /// The role's name, without its path: what `iam:GetRole` takes.
    pub name: String,
}

impl RoleArn {
    /// Check `arn`; the error says what a role ARN looks like.
    pub fn parse(arn: &str) -> Result<RoleArn, String> {
        let wrong = || {
            format!("{arn:?} is not an IAM role ARN: arn:aws:iam::ACCOUNT:role/NAME (the stack's output WorkerRoleArn)")
        };
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let ["arn", partition, "iam", "", account, resource] = parts.as_slice() else {
            return Err(wrong());
        };
        let path_and_name = resource.strip_prefix("role/").ok_or_else(wrong)?;
        let name = path_and_name.rsplit('/').next().unwrap_or_default();
        let role_char = |c: char| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c);
        let ok = matches!(*partition, "aws" | "aws-cn" | "aws-us-gov")
            && account.len() == 12
            && account.bytes().all(|b| b.is_ascii_digit())
            && (1..=64).contains(&name.len())
            && path_and_name
                .split('/')
                .all(|segment| !segment.is_empty() && segment.chars().all(role_char));
        if ok {
            Ok(RoleArn {
                arn: arn.to_owned(),
                name: name.to_owned(),
            })
        } else {
            Err(wrong())
        }
    }
}

impl fmt::Display for RoleArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.arn)
    }
}

/// Each target's worker role, where one is configured (`TARGET_WORKER_ROLE`, or a table
/// entry's `worker_role`). Only the doctor reads it: the functions never assume it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerRoles {
    roles: Vec<(String, RoleArn)>,
}

impl WorkerRoles {
    /// Note `target`'s (`namespace/deployment`) role.
    pub fn insert(&mut self, target: String, role: RoleArn) {
        self.roles.push((target, role));
    }

    /// `target`'s worker role, when one is configured.
    pub fn of(&self, target: &Target) -> Option<&RoleArn> {
        let key = target.to_string();
        self.roles.iter().find(|(t, _)| *t == key).map(|(_, r)| r)
    }
}

/// Who the Deployment's workers are, as a trust must name them.
#[derive(Debug, Clone, Copy)]
pub struct WorkerIdentity<'a> {
    /// The Deployment's namespace.
    pub namespace: &'a str,
    /// Its pods' `serviceAccountName` (`default` when it names none).
    pub service_account: &'a str,
    /// The cluster's issuer without `https://` ([`gke_issuer`]), when it is known.
    pub issuer: Option<&'a str>,
}

impl WorkerIdentity<'_> {
    /// The `sub` of the workers' service-account tokens.
    pub fn subject(&self) -> String {
        format!(
            "system:serviceaccount:{}:{}",
            self.namespace, self.service_account
        )
    }
}

/// What a trust policy admits of the workers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    /// In words: whose tokens, from which issuer, for which audience.
    pub what: String,
    /// Way (a): the OIDC provider (the issuer without `https://`) whose tokens it takes, whose
    /// discovery document and keys STS must be able to fetch. `None` for way (b), Google's
    /// own issuer.
    pub provider: Option<String>,
}

/// Why a trust policy does not admit the workers, and what to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustProblem {
    /// What the trust says instead.
    pub what: String,
    /// The setting or file to change.
    pub fix: &'static str,
}

/// The fix when the trust names another cluster's issuer.
pub const FIX_ISSUER: &str = "deploy the stack with WorkerOidcIssuer set to this cluster's issuer, registered once by infra/aws/oidc-provider.sh (docs/deploy.md, \"The workers' AWS access\")";
/// The fix when the trust names another service account, or none.
pub(crate) const FIX_SUBJECT: &str = "the role trusts the service account named after the stack's TargetDeployment (SecondTargetDeployment) in TargetNamespace: run the Deployment as that service account (serviceAccountName in infra/gke/model-deployment.yaml), or redeploy the stack with the Deployment's names";
/// The fix when the trust admits another audience, or any.
pub(crate) const FIX_AUDIENCE: &str = "the trust's :aud must be sts.amazonaws.com, the audience of the projected token in infra/gke/model-deployment.yaml; the stack's WorkerRole has it";
/// The fix when nothing in the trust is a web identity the workers can have.
pub(crate) const FIX_NO_WEB_IDENTITY: &str = "set TARGET_WORKER_ROLE (or the entry's worker_role) to the stack's WorkerRoleArn (SecondWorkerRoleArn), whose trust infra/aws/template.yaml writes";

/// Whether the trust policy `policy` (the JSON document) lets the workers `who` assume the role
/// with a web identity token: a statement that allows `sts:AssumeRoleWithWebIdentity` to the
/// cluster's issuer with `StringEquals` on its `:sub` (this service account) and `:aud`
/// (`STS_AUDIENCE`), or to `accounts.google.com` with `StringEquals` on
/// `accounts.google.com:aud` (one Google service account's unique id). `Ok` says what it
/// admits; `Err` says why not, the first statement's problem that came closest.
pub fn judge_trust(policy: &Value, who: &WorkerIdentity<'_>) -> Result<Admitted, TrustProblem> {
    let statements = match &policy["Statement"] {
        Value::Array(list) => list.clone(),
        one @ Value::Object(_) => vec![one.clone()],
        _ => Vec::new(),
    };
    let mut closest: Option<TrustProblem> = None;
    for statement in &statements {
        if statement["Effect"] != "Allow"
            || !strings(&statement["Action"])
                .iter()
                .any(|a| a.eq_ignore_ascii_case("sts:AssumeRoleWithWebIdentity"))
        {
            continue;
        }
        let equals = &statement["Condition"]["StringEquals"];
        for federated in strings(&statement["Principal"]["Federated"]) {
            let verdict = if federated == GOOGLE_ISSUER {
                judge_google(equals).map(|what| Admitted {
                    what,
                    provider: None,
                })
            } else if let Some((_, provider)) = federated.split_once(":oidc-provider/") {
                judge_oidc(provider, equals, who).map(|what| Admitted {
                    what,
                    provider: Some(provider.to_owned()),
                })
            } else {
                continue;
            };
            match verdict {
                Ok(admits) => return Ok(admits),
                Err(problem) => {
                    closest.get_or_insert(problem);
                }
            }
        }
    }
    Err(closest.unwrap_or_else(|| TrustProblem {
        what: "its trust allows no sts:AssumeRoleWithWebIdentity from an OIDC provider or accounts.google.com".to_owned(),
        fix: FIX_NO_WEB_IDENTITY,
    }))
}

/// Way (a): the cluster's issuer, this service account, this audience.
fn judge_oidc(
    provider: &str,
    equals: &Value,
    who: &WorkerIdentity<'_>,
) -> Result<String, TrustProblem> {
    if let Some(issuer) = who.issuer {
        if provider != issuer {
            return Err(TrustProblem {
                what: format!("it trusts the issuer {provider}, not this cluster's {issuer}"),
                fix: FIX_ISSUER,
            });
        }
    }
    let subject = who.subject();
    let subjects = strings(&equals[format!("{provider}:sub")]);
    if subjects.is_empty() {
        return Err(TrustProblem {
            what: format!("it sets no StringEquals on {provider}:sub: every service account of the cluster may assume it"),
            fix: FIX_SUBJECT,
        });
    }
    if !subjects.iter().any(|s| *s == subject) {
        return Err(TrustProblem {
            what: format!(
                "it trusts {}, not the Deployment's {subject}",
                subjects.join(", ")
            ),
            fix: FIX_SUBJECT,
        });
    }
    let audiences = strings(&equals[format!("{provider}:aud")]);
    if audiences != [STS_AUDIENCE] {
        return Err(TrustProblem {
            what: if audiences.is_empty() {
                format!(
                    "it sets no StringEquals on {provider}:aud: a token for any audience is taken"
                )
            } else {
                format!(
                    "it trusts the audience {}, not {STS_AUDIENCE} alone",
                    audiences.join(", ")
                )
            },
            fix: FIX_AUDIENCE,
        });
    }
    Ok(format!(
        "the tokens of {subject} from {provider}, for {STS_AUDIENCE}"
    ))
}

/// Way (b): one Google service account, by its unique id.
fn judge_google(equals: &Value) -> Result<String, TrustProblem> {
    let accounts = strings(&equals[format!("{GOOGLE_ISSUER}:aud")]);
    if accounts.is_empty() {
        return Err(TrustProblem {
            what: format!("it trusts {GOOGLE_ISSUER} with no StringEquals on {GOOGLE_ISSUER}:aud: every Google account may assume it"),
            fix: FIX_NO_WEB_IDENTITY,
        });
    }
    Ok(format!(
        "the ID tokens of the Google service account {} (GKE's binding of the Kubernetes service account to it is not read here)",
        accounts.join(", ")
    ))
}

/// A policy value that is one string or a list of them.
fn strings(value: &Value) -> Vec<&str> {
    match value {
        Value::String(s) => vec![s.as_str()],
        Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ISSUER: &str = "container.googleapis.com/v1/projects/p/locations/l/clusters/c";

    fn oidc(provider: &str, sub: Value, aud: Value) -> Value {
        json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
            "Principal": {"Federated": format!("arn:aws:iam::123456789012:oidc-provider/{provider}")},
            "Condition": {"StringEquals": {
                format!("{provider}:sub"): sub, format!("{provider}:aud"): aud}}}]})
    }

    fn worker(
        service_account: &'static str,
        issuer: Option<&'static str>,
    ) -> WorkerIdentity<'static> {
        WorkerIdentity {
            namespace: "ml",
            service_account,
            issuer,
        }
    }

    #[test]
    fn role_arns_are_checked_and_named_without_their_path() {
        let role = RoleArn::parse("arn:aws:iam::123456789012:role/workers/model-WorkerRole-1A")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(role.name, "model-WorkerRole-1A");
        for bad in [
            "model-WorkerRole",
            "arn:aws:iam::12345:role/r",
            "arn:aws:iam::123456789012:user/r",
            "arn:aws:iam:eu-west-1:123456789012:role/r",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:iam::123456789012:role/a//b",
            "arn:other:iam::123456789012:role/r",
            "arn:aws:iam::123456789012:role/r r",
        ] {
            let err = RoleArn::parse(bad).expect_err(bad);
            assert!(err.contains("WorkerRoleArn"), "{err}");
        }
    }

    #[test]
    fn the_issuers_own_service_account_and_audience_are_admitted() {
        let policy = oidc(
            ISSUER,
            json!("system:serviceaccount:ml:model-worker"),
            json!("sts.amazonaws.com"),
        );
        let admits = judge_trust(&policy, &worker("model-worker", Some(ISSUER)))
            .unwrap_or_else(|p| panic!("{p:?}"));
        assert!(
            admits
                .what
                .contains("system:serviceaccount:ml:model-worker"),
            "{admits:?}"
        );
        assert_eq!(admits.provider.as_deref(), Some(ISSUER));
        // Without a known issuer, the provider the trust names is taken.
        assert!(judge_trust(&policy, &worker("model-worker", None)).is_ok());
    }

    #[test]
    fn another_issuer_service_account_or_audience_is_refused_with_its_fix() {
        let good_sub = json!("system:serviceaccount:ml:model-worker");
        let cases = [
            (
                oidc(
                    "other.example/issuer",
                    good_sub.clone(),
                    json!("sts.amazonaws.com"),
                ),
                "model-worker",
                FIX_ISSUER,
            ),
            (
                oidc(ISSUER, good_sub.clone(), json!("sts.amazonaws.com")),
                "default",
                FIX_SUBJECT,
            ),
            (
                oidc(ISSUER, Value::Null, json!("sts.amazonaws.com")),
                "model-worker",
                FIX_SUBJECT,
            ),
            (
                oidc(ISSUER, good_sub.clone(), json!("kubernetes")),
                "model-worker",
                FIX_AUDIENCE,
            ),
            (
                oidc(ISSUER, good_sub.clone(), Value::Null),
                "model-worker",
                FIX_AUDIENCE,
            ),
            (
                oidc(ISSUER, good_sub, json!(["sts.amazonaws.com", "kubernetes"])),
                "model-worker",
                FIX_AUDIENCE,
            ),
            (
                json!({"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                        "Principal": {"Service": "lambda.amazonaws.com"}}]}),
                "model-worker",
                FIX_NO_WEB_IDENTITY,
            ),
        ];
        for (policy, account, fix) in cases {
            let problem = judge_trust(&policy, &worker(account, Some(ISSUER)))
                .expect_err(&policy.to_string());
            assert_eq!(problem.fix, fix, "{policy}: {}", problem.what);
        }
        // A Deny is no trust.
        let mut denied = oidc(
            ISSUER,
            json!("system:serviceaccount:ml:model-worker"),
            json!("sts.amazonaws.com"),
        );
        denied["Statement"][0]["Effect"] = json!("Deny");
        assert!(judge_trust(&denied, &worker("model-worker", Some(ISSUER))).is_err());
    }

    #[test]
    fn a_google_account_trust_names_the_account_or_is_refused() {
        let google = |equals: Value| {
            json!({"Statement": {"Effect": "Allow",
                "Action": ["sts:AssumeRoleWithWebIdentity"],
                "Principal": {"Federated": "accounts.google.com"},
                "Condition": {"StringEquals": equals}}})
        };
        let admits = judge_trust(
            &google(json!({"accounts.google.com:aud": "117000000000000000001"})),
            &worker("model-worker", Some(ISSUER)),
        )
        .unwrap_or_else(|p| panic!("{p:?}"));
        assert!(admits.what.contains("117000000000000000001"), "{admits:?}");
        assert_eq!(
            admits.provider, None,
            "Google's issuer is not the cluster's"
        );
        let problem = judge_trust(&google(json!({})), &worker("model-worker", Some(ISSUER)))
            .expect_err("any Google account");
        assert!(
            problem.what.contains("every Google account"),
            "{}",
            problem.what
        );
    }
}
