#!/usr/bin/env bash
# Runs the AWS SAM transform on the template, as `sam deploy` has CloudFormation
# do, lints its output, and checks what matters after it.
#
# CloudFormation deploys the transformed template: the versions, the alias
# `live` and the resources SAM generates from AutoPublishAlias. The source
# template's checks (template_invariants.py) read `!Ref FUNCTION.Alias` the
# way SAM documents it; this proves what SAM makes of it. For several
# parameter sets (keyless defaults; MinReplicas 0 with the wake alarm, the
# age alarm and a failure topic; the key path with an existing queue; two
# models on one GPU pool in one stack) it
# transforms the template with aws-sam-translator (in .venv-sam, `make
# sam-venv`; CodeUri set to an S3 object, as `sam package` does), runs
# cfn-lint on the output, and checks:
#   - every alarm action and every rule target that invokes a function names
#     an AWS::Lambda::Alias called live (Ref), never the function or a version;
#   - every AWS::Lambda::Permission is on such an alias;
#   - each function has exactly one AWS::Lambda::Version, retained
#     (DeletionPolicy Retain: make rollback points live at old versions), and
#     the alias points at it;
#   - each AWS::Lambda::EventInvokeConfig is the alias's (Qualifier live) and
#     depends on it;
#   - two models (docs/deploy.md, one stack each): for the parameter sets
#     text-model (QueueName text-jobs, TargetDeployment text-model) and
#     image-model, every alarm that invokes a function watches that model's
#     queue, and the function it invokes (through the alias) scales that
#     model's Deployment from that queue (TARGET_DEPLOYMENT, TARGET_QUEUES,
#     resolved with the set's parameters).
#
# Usage: tests/infra/sam-transform.sh [TEMPLATE]   (make test-sam-transform)
#   SAM_PYTHON  the Python with aws-sam-translator (default .venv-sam/bin/python)
# Needs cfn-lint and PyYAML on PATH's python3 (the .venv of `make venv`).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
template="${1:-$root/infra/aws/template.yaml}"
sam_python="${SAM_PYTHON:-$root/.venv-sam/bin/python}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

[[ -x "$sam_python" ]] || { echo "sam-transform: no $sam_python; run make sam-venv" >&2; exit 2; }

# The transform, one output per parameter set.
AWS_DEFAULT_REGION=eu-west-1 "$sam_python" - "$template" "$tmp" <<'PYTHON'
import json
import logging
import sys

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

path, out = sys.argv[1:]
keyless = '{"type": "external_account", "audience": "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/queue-scaler/providers/aws-lambda"}'
sets = {
    "defaults": {"GkeCluster": "projects/p/locations/l/clusters/c", "GcpCredentialConfig": keyless},
    "zero-wake-age-topic": {"GkeCluster": "projects/p/locations/l/clusters/c", "GcpCredentialConfig": keyless,
                            "MinReplicas": "0", "WakeAlarmEnabled": "true", "OldestMessageAgeSeconds": "600",
                            "FailureNotificationTopicArn": "arn:aws:sns:eu-west-1:123456789012:scaling"},
    "key-existing-queue": {"GkeEndpoint": "https://gke-0123abcd.europe-west4.gke.goog", "QueueName": "model-jobs",
                           "ServiceAccountKeySecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:k-AbCdEf"},
    # The deployment guide's two models on one GPU pool, in one stack.
    "two-models-one-stack": {"GkeCluster": "projects/p/locations/l/clusters/c", "GcpCredentialConfig": keyless,
                             "QueueName": "text-jobs", "TargetDeployment": "text-model",
                             "SecondTargetDeployment": "image-model", "SecondQueueName": "image-jobs",
                             "NodePool": "gpu-pool", "MessagesPerReplica": "100"},
}
# The deployment guide's two models, one stack each (the file name says which).
for model, queue in (("text-model", "text-jobs"), ("image-model", "image-jobs")):
    sets[f"model__{model}__{queue}"] = {"GkeCluster": "projects/p/locations/l/clusters/c",
                                      "GcpCredentialConfig": keyless, "QueueName": queue,
                                      "TargetDeployment": model}


# The translator's usage metrics are never published here; silence their warning.
logging.disable(logging.WARNING)


class NoManagedPolicies:
    """The template names no managed policy, so none is looked up."""

    def load(self):
        return {}


for name, params in sets.items():
    with open(path) as f:
        template = yaml_parse(f.read())
    for resource in template["Resources"].values():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://bucket/queue-scaler.zip"
    try:
        result = transform(template, params, NoManagedPolicies())
    except Exception as e:  # the translator's own errors name what is wrong
        sys.exit(f"sam-transform: {path} ({name}): the SAM transform failed: {type(e).__name__}: {e}")
    with open(f"{out}/{name}.json", "w") as f:
        json.dump(result, f, indent=1)
PYTHON

cfn-lint --non-zero-exit-code warning -- "$tmp"/*.json

python3 - "$tmp"/*.json <<'PYTHON'
import json
import os
import re
import sys

problems = []
checked = 0


def resolver(template, params):
    """Resolve Ref (of parameters), Fn::If and the conditions, as CloudFormation would."""
    conditions = template.get("Conditions", {})

    def truth(node):
        (fn, arg), = node.items()
        if fn == "Fn::Equals":
            return str(value(arg[0])) == str(value(arg[1]))
        if fn == "Fn::Not":
            return not truth(arg[0])
        if fn == "Fn::And":
            return all(truth(x) for x in arg)
        if fn == "Fn::Or":
            return any(truth(x) for x in arg)
        if fn == "Condition":
            return truth(conditions[arg])
        raise ValueError(f"condition {fn}")

    def value(node):
        if isinstance(node, dict) and set(node) == {"Ref"} and node["Ref"] in params:
            return params[node["Ref"]]
        if isinstance(node, dict) and set(node) == {"Fn::If"}:
            cond, yes, no = node["Fn::If"]
            return value(yes if truth(conditions[cond]) else no)
        if isinstance(node, dict) and set(node) == {"Condition"}:
            return truth(node)
        return node if not isinstance(node, dict) else json.dumps(node, sort_keys=True)

    return value


def refs(node):
    """The resources a value names with Ref or Fn::GetAtt, anywhere inside it."""
    if isinstance(node, dict):
        if set(node) == {"Ref"} and isinstance(node["Ref"], str):
            yield node["Ref"]
            return
        if set(node) == {"Fn::GetAtt"}:
            att = node["Fn::GetAtt"]
            yield att[0] if isinstance(att, list) else att.split(".")[0]
            return
        for v in node.values():
            yield from refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from refs(v)


for path in sys.argv[1:]:
    label = os.path.basename(path).removesuffix(".json")
    resources = json.load(open(path))["Resources"]
    types = {rid: r["Type"] for rid, r in resources.items()}
    lambdas = {rid for rid, t in types.items() if t.startswith("AWS::Lambda::") and
               t in ("AWS::Lambda::Function", "AWS::Lambda::Version", "AWS::Lambda::Alias")}
    live = {rid for rid, r in resources.items()
            if r["Type"] == "AWS::Lambda::Alias" and r["Properties"].get("Name") == "live"}

    def bad(msg):
        problems.append(f"{label}: {msg}")

    def on_live(rid, what, value):
        global checked
        named = [x for x in refs(value) if x in lambdas]
        if not named:
            return
        checked += 1
        if not (isinstance(value, dict) and value.get("Ref") in live):
            bad(f"{rid}: {what} names {named}, not Ref of the alias live "
                f"({sorted(live)}): it would run another version than make rollback points at")

    invoking = 0
    for rid, r in resources.items():
        p = r.get("Properties", {})
        if r["Type"] == "AWS::CloudWatch::Alarm":
            for action in p.get("AlarmActions", []) if isinstance(p.get("AlarmActions"), list) else []:
                if any(x in lambdas for x in refs(action)):
                    invoking += 1
                on_live(rid, "an alarm action", action)
        elif r["Type"] == "AWS::Events::Rule":
            for target in p.get("Targets", []):
                on_live(rid, f"the rule target {target.get('Id')}", target.get("Arn"))
        elif r["Type"] == "AWS::Lambda::Permission":
            if not (isinstance(p.get("FunctionName"), dict) and p["FunctionName"].get("Ref") in live):
                bad(f"{rid}: the invoke permission is on {p.get('FunctionName')}, not on the alias live")
        elif r["Type"] == "AWS::Lambda::EventInvokeConfig":
            depends = r.get("DependsOn", [])
            depends = depends if isinstance(depends, list) else [depends]
            if p.get("Qualifier") != "live" or not set(depends) & live:
                bad(f"{rid}: the invoke config is for {p.get('Qualifier')!r} and depends on {depends}, "
                    "not the alias live")
    if invoking < 2:
        bad(f"only {invoking} alarm action(s) invoke a function; the backlog alarms must")

    # Two models: resolved with the set's parameters, each alarm that invokes a
    # function watches the model's queue, and that function scales the model.
    model = re.fullmatch(r"model__(.+)__(.+)", label)
    if model:
        deployment, queue = model.groups()
        template = json.load(open(path))
        params = {k: str(v.get("Default", "")) for k, v in template.get("Parameters", {}).items()}
        params.update(QueueName=queue, TargetDeployment=deployment)
        resolve = resolver(template, params)
        alias_of = {rid: resources[rid]["Properties"]["FunctionName"].get("Ref") for rid in live}
        scaling = 0
        for rid, r in resources.items():
            if r["Type"] != "AWS::CloudWatch::Alarm" or not isinstance(r["Properties"].get("AlarmActions"), list):
                continue
            if "Condition" in r and not resolve({"Condition": r["Condition"]}):
                continue
            p = r["Properties"]
            for action in p["AlarmActions"]:
                fid = alias_of.get(action.get("Ref")) if isinstance(action, dict) else None
                if fid is None:
                    continue
                scaling += 1
                dims = list(p.get("Dimensions", [])) + [
                    d for m in p.get("Metrics", [])
                    for d in m.get("MetricStat", {}).get("Metric", {}).get("Dimensions", [])]
                watched = {resolve(d["Value"]) for d in dims if d.get("Name") == "QueueName"}
                env = resources[fid]["Properties"].get("Environment", {}).get("Variables", {})
                target = (resolve(env.get("TARGET_DEPLOYMENT")), resolve(env.get("TARGET_QUEUES")))
                if watched != {queue} or target != (deployment, queue):
                    bad(f"{rid} watches {sorted(map(str, watched))} and invokes {fid}, which scales "
                        f"{target[0]} from {target[1]}; the model is {deployment} on {queue}")
        checked += scaling
        if scaling < 2:
            bad(f"only {scaling} alarm(s) of {queue} invoke a function that scales {deployment}")

    functions = [rid for rid, t in types.items() if t == "AWS::Lambda::Function"]
    for fid in functions:
        versions = [rid for rid, r in resources.items() if r["Type"] == "AWS::Lambda::Version"
                    and r["Properties"].get("FunctionName") == {"Ref": fid}]
        aliases = [rid for rid in live if resources[rid]["Properties"].get("FunctionName") == {"Ref": fid}]
        if len(versions) != 1 or len(aliases) != 1:
            bad(f"{fid}: {len(versions)} version(s) and {len(aliases)} alias(es) live; SAM makes one of each")
            continue
        version = resources[versions[0]]
        if version.get("DeletionPolicy") != "Retain":
            bad(f"{versions[0]}: DeletionPolicy {version.get('DeletionPolicy', 'Delete (the default)')}, "
                "not Retain: a deployment would delete the version make rollback goes back to")
        if resources[aliases[0]]["Properties"].get("FunctionVersion") != {"Fn::GetAtt": [versions[0], "Version"]}:
            bad(f"{aliases[0]}: the alias does not point at {versions[0]}")

for p in problems:
    print(f"sam-transform: {p}", file=sys.stderr)
if problems or not checked:
    sys.exit(1)
print(f"sam-transform: {len(sys.argv) - 1} transformed templates lint clean; {checked} invokers "
      "name the alias live, every version is retained, and each model's alarms scale its own Deployment")
PYTHON
