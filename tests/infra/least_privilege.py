"""The checks of tests/infra/least-privilege.sh (which says what they are), on the grant files
given. Usage: least_privilege.py [--deployments NAME[,NAME...]] FILE..."""
import sys

import yaml

# What the functions do in the cluster: read and set the scale of their
# Deployments, and record an Event after each write.
SCALE = {"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["get", "update"]}
# Read the Deployment itself: its scale, ready replicas, pause annotations and GPUs in one GET.
READ = {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"]}
EVENTS = {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create"]}
# A shared GPU pool: book each raise on the pool's Lease, by name.
LEASE = {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "update"]}
# Google IAM: authenticate to the cluster (and read its endpoint and CA),
# through the IP or the DNS endpoint.
IAM_PERMISSIONS = {"container.clusters.get", "container.clusters.connect"}


def same(a, b):
    return sorted(a or []) == sorted(b or [])


# --deployments: the Deployments the scale rule must name, exactly; None: any, but some.
DEPLOYMENTS = None


def check_role(role, problems):
    name = role.get("metadata", {}).get("name")
    rules = role.get("rules") or []
    events = [r for r in rules if all(same(r.get(k), v) for k, v in EVENTS.items())]
    named_rules = []
    for want, what in ((SCALE, "get and update on deployments/scale"), (READ, "get on deployments")):
        found = [r for r in rules if all(same(r.get(k), v) for k, v in want.items())]
        named_rules += found
        if len(found) != 1:
            problems.append(f"Role {name}: no rule grants exactly {what} (apps)")
        elif not found[0].get("resourceNames") or "*" in found[0]["resourceNames"]:
            problems.append(f"Role {name}: the {what} rule names no Deployment (resourceNames): "
                            "it would reach every Deployment of the namespace")
        elif DEPLOYMENTS is not None and sorted(found[0]["resourceNames"]) != sorted(DEPLOYMENTS):
            named = found[0]["resourceNames"]
            missing = sorted(set(DEPLOYMENTS) - set(named))
            extra = sorted(set(named) - set(DEPLOYMENTS))
            problems.append(f"Role {name}: the {what} rule names {named}, not exactly {sorted(DEPLOYMENTS)}"
                            + (f"; the functions cannot reach {missing}" if missing else "")
                            + (f"; it also reaches {extra}" if extra else ""))
    if len(events) != 1:
        problems.append(f"Role {name}: no rule grants exactly create on events (events.k8s.io): "
                        "the functions record an Event after each write")
    elif events[0].get("resourceNames"):
        problems.append(f"Role {name}: the events rule has resourceNames, which never match a create")
    for r in rules:
        if r not in named_rules and r not in events:
            problems.append(f"Role {name}: a rule the functions do not need: {r}")
    return name


def check_pool(documents, problems):
    leases = [d.get("metadata", {}).get("name") for d in documents if d.get("kind") == "Lease"]
    roles = [d for d in documents if d.get("kind") == "Role"]
    for role in roles:
        name = role.get("metadata", {}).get("name")
        rules = role.get("rules") or []
        if len(rules) != 1 or not all(same(rules[0].get(k), v) for k, v in LEASE.items()):
            problems.append(f"Role {name}: must grant exactly get and update on leases (coordination.k8s.io), got {rules}")
        elif sorted(rules[0].get("resourceNames") or []) != sorted(leases):
            problems.append(f"Role {name}: the leases rule must name exactly the Lease of this file {leases}, "
                            f"not {rules[0].get('resourceNames')}")
    if not leases or any(not n.startswith("queue-scaler-pool-") for n in leases):
        problems.append(f"the Lease must be named queue-scaler-pool-POOL, got {leases}")
    names = [r.get("metadata", {}).get("name") for r in roles]
    for b in (d for d in documents if d.get("kind") == "RoleBinding"):
        ref = b.get("roleRef", {})
        if ref.get("kind") != "Role" or ref.get("name") not in names:
            problems.append(f"RoleBinding {b.get('metadata', {}).get('name')}: binds {ref}, not the Role of this file")


def check_rbac(documents, problems):
    if any(d.get("kind") == "Lease" for d in documents):
        check_pool(documents, problems)
        return
    roles = [d for d in documents if d.get("kind") == "Role"]
    bindings = [d for d in documents if d.get("kind") == "RoleBinding"]
    others = [d.get("kind") for d in documents if d.get("kind") not in ("Role", "RoleBinding")]
    if others:
        problems.append(f"objects other than a Role and its RoleBinding: {others}")
    names = [check_role(r, problems) for r in roles]
    for b in bindings:
        ref = b.get("roleRef", {})
        if ref.get("kind") != "Role" or ref.get("name") not in names:
            problems.append(f"RoleBinding {b.get('metadata', {}).get('name')}: binds {ref}, not the Role of this file")


def check_iam_role(role, problems):
    permissions = role.get("includedPermissions") or []
    if sorted(permissions) != sorted(IAM_PERMISSIONS):
        extra = sorted(set(permissions) - IAM_PERMISSIONS)
        missing = sorted(IAM_PERMISSIONS - set(permissions))
        problems.append("the IAM role must grant exactly container.clusters.get and container.clusters.connect"
                        + (f"; it also grants {extra}" if extra else "")
                        + (f"; it lacks {missing}" if missing else "")
                        + ("; it lists one twice" if len(permissions) != len(set(permissions)) else ""))
    if role.get("stage") != "GA":
        problems.append(f"the IAM role's stage is {role.get('stage')!r}, not GA")


paths = sys.argv[1:]
if paths[0] == "--deployments":
    DEPLOYMENTS = [n.strip() for n in paths[1].split(",") if n.strip()]
    paths = paths[2:]
failed = False
for path in paths:
    problems = []
    with open(path) as f:
        documents = [d for d in yaml.safe_load_all(f) if d]
    if any(d.get("kind") == "Role" for d in documents):
        check_rbac(documents, problems)
    elif len(documents) == 1 and "includedPermissions" in documents[0]:
        check_iam_role(documents[0], problems)
    else:
        problems.append("neither a Kubernetes Role nor an IAM role: nothing to check")
    for p in problems:
        print(f"{path}: {p}", file=sys.stderr)
    if problems:
        failed = True
    else:
        print(f"{path}: grants exactly what the functions use"
              + (f", for the Deployments {', '.join(DEPLOYMENTS)}" if DEPLOYMENTS else ""))
sys.exit(1 if failed else 0)
