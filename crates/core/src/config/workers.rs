//! The worker roles: `TARGET_WORKER_ROLE` for the single target, or a table entry's
//! `worker_role`: the AWS role each model's workers assume keyless (the stack's
//! `WorkerRoleArn`), checked into [`WorkerRoles`]. Optional; the doctor checks the roles given.

use super::problem::Problems;
use crate::policy::Routes;
use crate::worker::{RoleArn, WorkerRoles};

/// What one target's settings say of its worker role, before the check; `at` names the
/// setting (or the table entry) that a problem names.
pub(super) struct WorkerClaim {
    pub(super) at: String,
    pub(super) role: Option<String>,
}

/// Check the claims of `routes`' targets (one per route, in order) into [`WorkerRoles`].
pub(super) fn check(
    claims: Vec<WorkerClaim>,
    routes: &Routes,
    problems: &mut Problems,
) -> WorkerRoles {
    let mut roles = WorkerRoles::default();
    for (claim, route) in claims.into_iter().zip(routes.routes()) {
        let Some(role) = claim.role else { continue };
        match RoleArn::parse(&role) {
            Ok(role) => roles.insert(route.target.to_string(), role),
            Err(e) => problems.add(&claim.at, e),
        }
    }
    roles
}
