"""The checks of tests/infra/sam-transform.sh on the transformed templates (which it says).
Usage: sam_transform_check.py OUTPUT.json..."""
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
    with open(path) as f:
        resources = json.load(f)["Resources"]
    types = {rid: r["Type"] for rid, r in resources.items()}
    lambdas = {rid for rid, t in types.items() if t.startswith("AWS::Lambda::") and
               t in ("AWS::Lambda::Function", "AWS::Lambda::Version", "AWS::Lambda::Alias")}
    live = {rid for rid, r in resources.items()
            if r["Type"] == "AWS::Lambda::Alias" and r["Properties"].get("Name") == "live"}

    def bad(msg, label=label):
        problems.append(f"{label}: {msg}")

    def on_live(rid, what, value, lambdas=lambdas, live=live):
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
        with open(path) as f:
            template = json.load(f)
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
