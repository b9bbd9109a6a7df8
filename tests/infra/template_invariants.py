#!/usr/bin/env python3
"""Checks what cfn-lint cannot: that the SAM template wires the scaling loop so
that it can never stay stuck (see docs/never-stuck.md).

cfn-lint proves that each resource is well formed; it does not know that the
heartbeat must reach both functions, that a role may read exactly the alarms
its function is told to read, or that the functions may read their queue
and nothing else. This script reads the template, resolves it for several
sets of parameters (defaults; MinReplicas 0 with and without the wake alarm;
the age alarm; a failure topic; the key path; the DNS endpoint; a reserved
concurrency; an existing queue and another target), and checks, for each
set:

  - an EventBridge rule on HeartbeatSchedule targets each function, and a
    Lambda permission lets exactly that rule (events.amazonaws.com) invoke it;
  - TARGET_ALARMS / TARGET_WAKE_ALARMS of each function name alarms of the
    template that invoke that function (and no alarm invoking it is left
    out), each with a Lambda permission for exactly that alarm;
  - each role may DescribeAlarms and SetAlarmState on exactly those alarms'
    ARNs: no "*", nothing more, nothing less;
  - the wake alarm (visible > 0, one period) exists, and is named in
    TARGET_WAKE_ALARMS of scale-up, if and only if MinReplicas is 0 and
    WakeAlarmEnabled is true (the heartbeat wakes a target at 0 by itself);
  - the live queue read: each function has TARGET_QUEUES naming the queue,
    and its role may sqs:GetQueueAttributes and sqs:GetQueueUrl on exactly
    that queue's ARN (no wildcard);
  - scale-down's alarm is metric math summing exactly the queue's
    ApproximateNumberOfMessagesVisible and ...NotVisible (visible plus in
    flight), below LowThreshold: zero only when no job runs;
  - the age alarm (ApproximateAgeOfOldestMessage of the queue above
    OldestMessageAgeSeconds) exists if and only if that parameter is given,
    invokes scale-up and is in its TARGET_ALARMS (so its role may read and
    re-arm it, above);
  - each function has an alarm on its AWS/Lambda Errors metric, notifying
    the failure topic when one is given;
  - each function has an async invoke config with an on-failure destination;
  - no AlarmPeriodSeconds x evaluation-periods combination that the
    parameter constraints and Rules accept spans more than one day;
  - HeartbeatSchedule's AllowedPattern accepts valid rate and cron
    expressions and refuses the forms EventBridge refuses (rate(1 minutes),
    rate(5 minute), ...); the default HeartbeatSchedule is a rate(...) its
    own AllowedPattern accepts, at most one minute (scale-up's heartbeat is what wakes a
    target at 0 replicas), at most 2 periods of the default AlarmPeriodSeconds (an alarm
    left in ALARM waits up to one interval for it, and the goal is recovery
    within 2 periods of a fault's end) and at most 10 minutes (the errors
    alarms' 5-minute windows must see it), and the default
    MaximumEventAgeSeconds is exactly one of its intervals;
  - the Google credentials: keyless (GcpCredentialConfig) gives both
    functions GCP_CREDENTIAL_CONFIG and no secret setting, and no role any
    Secrets Manager or KMS permission; the key path (ServiceAccountKeySecretArn)
    gives them GCP_SERVICE_ACCOUNT_KEY_SECRET and no GCP_CREDENTIAL_CONFIG,
    and each role GetSecretValue on exactly that secret (kms:Decrypt only
    with ServiceAccountKeySecretKmsKeyArn); the Rules refuse neither and
    both, and a KMS key without a secret;
  - GKE's DNS endpoint (GkeEndpoint a host name, no GkeCaCert) is accepted,
    and the functions get GKE_ENDPOINT and no GKE_CA_CERT; with GkeCluster,
    GKE_CLUSTER alone;
  - rollback: each function has AutoPublishAlias (a version on each
    deployment, and an alias), and every alarm action, rule target and
    Lambda permission names that alias (!Ref FUNCTION.Alias), never the
    bare function, which would run $LATEST whatever the alias points at;
    the async invoke configs are the alias's and DependsOn it;
  - ReservedConcurrency reaches both functions when given, neither when
    empty; its pattern refuses 0;
  - the job queue the stack creates is retained (DeletionPolicy and
    UpdateReplacePolicy Retain);
  - two models, one stack each (docs/deploy.md, "Two models: one stack
    each"): the template resolved as the stacks text-model (QueueName
    text-jobs, TargetDeployment text-model) and image-model (image-jobs,
    image-model) passes every check above under its own name; each
    queue's alarms invoke the alias of a function of the same stack whose
    TARGET_DEPLOYMENT and TARGET_QUEUES are that model's; each role may
    read and re-arm exactly its own stack's alarms, none of the other's;
    no name the two stacks create (functions, alarms, queues, log groups,
    rule, dashboard) is the same;
  - the dashboard: its body, substituted, is JSON; it shows the queue's
    visible and in-flight messages, each function's invocations and
    errors, every QueueScaler metric for the target in both directions
    (the error metrics also for target "-"), and exactly the stack's
    alarms in its alarm widget.

  - the workers: with WorkerOidcIssuer or WorkerGoogleAccountId, each model's worker role
    trusts exactly its own identity (its service account through the cluster's issuer with
    audience sts.amazonaws.com; or its Google account's unique id) and may exactly receive,
    delete and extend its own queue's messages (kms:Decrypt on its queue's key when given);
    without them, no worker role; the Rules refuse both ways at once, and one Google account for
    two models.

Usage: python3 tests/infra/template_invariants.py TEMPLATE...   (make lint-infra runs it)
       python3 tests/infra/template_invariants.py --worker-roles TEMPLATE KEY=VALUE...
Needs python3 with PyYAML (the .venv of `make venv`, which cfn-lint brings).
"""
import json
import re
import sys

import yaml

FUNCTIONS = {"ScaleUpFunction": "scale-up", "ScaleDownFunction": "scale-down"}
STACK, REGION, ACCOUNT, PARTITION = "qs", "eu-west-1", "123456789012", "aws"
NOVALUE = object()
ONE_DAY = 86400


class Loader(yaml.SafeLoader):
    pass


def _tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {"Fn::" + suffix: value}


Loader.add_multi_constructor("!", _tag)


class Unresolvable(Exception):
    pass


class Stack:
    """The template resolved for one set of parameter values."""

    def __init__(self, template, params, name=STACK):
        self.t = template
        self.params = params
        self.name = name  # the stack name, AWS::StackName
        self.conditions = {}

    @property
    def resources(self):
        return {
            rid: r
            for rid, r in self.t["Resources"].items()
            if "Condition" not in r or self.condition(r["Condition"])
        }

    def condition(self, name):
        if name not in self.conditions:
            self.conditions[name] = self.truth(self.t["Conditions"][name])
        return self.conditions[name]

    def truth(self, node):
        (fn, arg), = node.items()
        if fn == "Fn::Equals":
            a, b = (self.value(x) for x in arg)
            return str(a) == str(b)
        if fn == "Fn::Not":
            return not self.truth(arg[0])
        if fn == "Fn::And":
            return all(self.truth(x) for x in arg)
        if fn == "Fn::Or":
            return any(self.truth(x) for x in arg)
        if fn == "Condition":
            return self.condition(arg)
        if fn == "Fn::Contains":
            values, needle = arg
            return str(self.value(needle)) in [str(self.value(v)) for v in values]
        raise Unresolvable(f"condition function {fn}")

    def ref(self, name):
        pseudo = {
            "AWS::StackName": self.name,
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": PARTITION,
            "AWS::NoValue": NOVALUE,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.params:
            return self.params[name]
        if name in self.t["Resources"]:
            return f"<Ref {name}>"
        # SAM: !Ref FUNCTION.Alias is the ARN of the alias that AutoPublishAlias
        # creates (FUNCTION.Version, of the version); without it there is none.
        res, _, att = name.partition(".")
        if att in ("Alias", "Version") and \
                self.t["Resources"].get(res, {}).get("Type") == "AWS::Serverless::Function":
            if self.function_property(res, "AutoPublishAlias") in (NOVALUE, "", None):
                raise Unresolvable(f"Ref {name}: {res} has no AutoPublishAlias, so SAM creates "
                                   "no alias and no version")
            return f"<{res}.{att}>"
        raise Unresolvable(f"Ref {name}")

    def function_property(self, fid, name):
        """A property of a SAM function, its own value first, then Globals'."""
        local = self.t["Resources"][fid].get("Properties", {})
        glob = self.t.get("Globals", {}).get("Function", {})
        if name in local:
            return self.value(local[name])
        if name in glob:
            return self.value(glob[name])
        return NOVALUE

    def value(self, node):
        """Resolve intrinsics; resources resolve to <Ref X> and <X.Attr> tokens."""
        if isinstance(node, list):
            out = [self.value(x) for x in node]
            return [x for x in out if x is not NOVALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                return f"<{arg[0]}.{arg[1]}>"
            if key == "Fn::If":
                cond, yes, no = arg
                return self.value(yes if self.condition(cond) else no)
            if key == "Fn::Sub":
                variables = {}
                if isinstance(arg, list):
                    arg, variables = arg[0], self.value(arg[1])
                if not isinstance(arg, str):
                    raise Unresolvable("Fn::Sub of something other than a string")

                def sub(m):
                    name = m.group(1)
                    if name in variables:
                        return str(variables[name])
                    if "." in name:
                        res, att = name.split(".", 1)
                        return f"<{res}.{att}>"
                    return str(self.ref(name))

                return re.sub(r"\$\{([^}!]+)\}", sub, arg)
            if key.startswith("Fn::") or key == "Condition":
                raise Unresolvable(key)
        out = {k: self.value(v) for k, v in node.items()}
        return {k: v for k, v in out.items() if v is not NOVALUE}

    def of_type(self, type_):
        return {
            rid: self.value(r.get("Properties", {}))
            for rid, r in self.resources.items()
            if r["Type"] == type_
        }

    def environment(self, fid, derived=True):
        """The function's environment. With a routing table (SCALER_TARGETS) and `derived`, the
        alarms and queues of all its entries also stand as TARGET_ALARMS, TARGET_WAKE_ALARMS and
        TARGET_QUEUES, so the checks of a single target read a table the same way; a table that
        is not JSON is left as it is, and check_routing_tables says so."""
        glob = (self.t.get("Globals", {}).get("Function", {})
                .get("Environment", {}).get("Variables", {}))
        local = (self.t["Resources"][fid].get("Properties", {})
                 .get("Environment", {}).get("Variables", {}))
        env = self.value({**glob, **local})
        if not derived:
            return env
        try:
            table = json.loads(env["SCALER_TARGETS"])
        except (KeyError, TypeError, ValueError):
            return env
        for key, field in (("TARGET_ALARMS", "alarms"), ("TARGET_WAKE_ALARMS", "wake_alarms"),
                           ("TARGET_QUEUES", "queues")):
            joined = ",".join(n for entry in table for n in entry.get(field, []))
            if joined:
                env[key] = joined
        return env

    def rules_accept(self):
        for name, rule in self.t.get("Rules", {}).items():
            if "RuleCondition" in rule and not self.truth(rule["RuleCondition"]):
                continue
            for a in rule.get("Assertions", []):
                if not self.truth(a["Assert"]):
                    return False, f"{name}: {a.get('AssertDescription', '')}"
        return True, ""


def alarm_arn(name):
    return f"arn:{PARTITION}:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}"


def names(value):
    return [n.strip() for n in (value or "").split(",") if n.strip()]


def as_list(x):
    return x if isinstance(x, list) else [x]


def check(s, problems):
    def bad(msg):
        problems.append(msg)

    functions = s.of_type("AWS::Serverless::Function")
    perms = list(s.of_type("AWS::Lambda::Permission").items())
    alarms = s.of_type("AWS::CloudWatch::Alarm")
    by_name = {p.get("AlarmName"): (rid, p) for rid, p in alarms.items()}
    rules = s.of_type("AWS::Events::Rule")
    configs = s.of_type("AWS::Lambda::EventInvokeConfig")
    roles = s.of_type("AWS::IAM::Role")
    topic = s.params.get("FailureNotificationTopicArn", "")

    # What invokes a function must name its alias (AutoPublishAlias): the
    # alias is what make rollback moves, and a permission, alarm action or
    # rule target on the bare function would run $LATEST instead.
    def permits(fid, principal, source):
        return any(
            p.get("Action") == "lambda:InvokeFunction"
            and p.get("Principal") == principal
            and p.get("FunctionName") == f"<{fid}.Alias>"
            and p.get("SourceArn") == source
            for _, p in perms
        )

    def bare(fid, value):
        """Names the function without its alias: its ARN, its name, or a Sub of its name."""
        return value in (f"<{fid}.Arn>", f"<Ref {fid}>") or (
            isinstance(value, str) and re.search(rf":function:{s.name}-{FUNCTIONS[fid]}(:\$LATEST)?$", value))

    for fid in FUNCTIONS:
        for rid, p in perms:
            if bare(fid, p.get("FunctionName")):
                bad(f"{rid}: the Lambda permission names {fid} itself, not its alias; what the "
                    "alarms and the heartbeat invoke is the alias")
        for rid, a in alarms.items():
            if any(bare(fid, x) for x in as_list(a.get("AlarmActions", []))):
                bad(f"{rid}: the alarm invokes {fid} unqualified ($LATEST), not its alias: "
                    "make rollback would not reach it")
        for rid, r in rules.items():
            if any(bare(fid, x.get("Arn")) for x in r.get("Targets", [])):
                bad(f"{rid}: the rule targets {fid} unqualified ($LATEST), not its alias: "
                    "make rollback would not reach it")

    for rid, p in perms:
        if p.get("Principal", "").endswith(".amazonaws.com") and not p.get("SourceArn"):
            bad(f"{rid}: a Lambda permission for {p.get('Principal')} without SourceArn "
                "lets any such source in the account invoke the function")

    for fid, label in FUNCTIONS.items():
        if fid not in functions:
            bad(f"no function {fid}")
            continue
        alias = s.function_property(fid, "AutoPublishAlias")
        if alias in (NOVALUE, "", None):
            bad(f"{label}: {fid} has no AutoPublishAlias: no version is published on deployment, "
                "and there is no alias to roll back")
            continue
        arn = f"<{fid}.Alias>"

        # Heartbeat.
        beating = [
            rid for rid, r in rules.items()
            if r.get("ScheduleExpression") == s.params["HeartbeatSchedule"]
            and r.get("State", "ENABLED") == "ENABLED"
            and any(t.get("Arn") == arn for t in r.get("Targets", []))
        ]
        if not beating:
            bad(f"{label}: no enabled EventBridge rule on HeartbeatSchedule targets {fid}")
        for rid in beating:
            if not permits(fid, "events.amazonaws.com", f"<{rid}.Arn>"):
                bad(f"{label}: no AWS::Lambda::Permission lets the heartbeat rule {rid} "
                    f"(events.amazonaws.com, SourceArn its ARN) invoke {fid}")

        # The alarms it is told to read, and the alarms that invoke it.
        env = s.environment(fid)
        backlog = names(env.get("TARGET_ALARMS"))
        wake = names(env.get("TARGET_WAKE_ALARMS"))
        told = backlog + wake
        if not backlog:
            bad(f"{label}: TARGET_ALARMS is not set")
        both = set(backlog) & set(wake)
        if both:
            bad(f"{label}: {sorted(both)} in both TARGET_ALARMS and TARGET_WAKE_ALARMS")
        for name in told:
            if name not in by_name:
                bad(f"{label}: alarm {name!r} named in its environment is not in the template")
                continue
            rid, alarm = by_name[name]
            if arn not in as_list(alarm.get("AlarmActions", [])):
                bad(f"{label}: alarm {name!r} does not invoke {fid}")
            if not permits(fid, "lambda.alarms.cloudwatch.amazonaws.com", f"<{rid}.Arn>"):
                bad(f"{label}: no AWS::Lambda::Permission lets alarm {rid} invoke {fid}")
        for rid, alarm in alarms.items():
            if arn in as_list(alarm.get("AlarmActions", [])) and alarm.get("AlarmName") not in told:
                bad(f"{label}: alarm {rid} invokes {fid} but is not in its "
                    "TARGET_ALARMS/TARGET_WAKE_ALARMS (the heartbeat would never read it)")

        # Its role: exactly those alarms, by ARN.
        statements = role_statements(functions, roles, fid)
        for action in ("cloudwatch:DescribeAlarms", "cloudwatch:SetAlarmState"):
            granted_exactly(statements, action, {alarm_arn(n) for n in told}, "the alarm ARNs",
                            f"{label}: {{action}} is granted on {{granted}}, but its alarms are {{want}}", bad)

        # Errors are visible.
        errors = [
            a for a in alarms.values()
            if a.get("Namespace") == "AWS/Lambda" and a.get("MetricName") == "Errors"
            and {"Name": "FunctionName", "Value": f"<Ref {fid}>"} in a.get("Dimensions", [])
        ]
        if not errors:
            bad(f"{label}: no alarm on the AWS/Lambda Errors metric of {fid}")
        for a in errors:
            if not (a.get("ComparisonOperator") == "GreaterThanThreshold" and str(a.get("Threshold")) == "0"):
                bad(f"{label}: the Errors alarm {a.get('AlarmName')} does not fire on any error (> 0)")
            if topic and topic not in as_list(a.get("AlarmActions", [])):
                bad(f"{label}: the Errors alarm {a.get('AlarmName')} does not notify FailureNotificationTopicArn")

        # Failed events are kept, for the qualifier that is invoked.
        mine = [
            cid for cid, c in configs.items()
            if c.get("FunctionName") == f"<Ref {fid}>" and c.get("Qualifier") == alias
            and c.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        ]
        if not mine:
            bad(f"{label}: no EventInvokeConfig with an on-failure destination for its alias {alias}")
        for cid in mine:
            # SAM names the alias FUNCTIONAlias<name>; without the dependency
            # CloudFormation may create the config before the alias exists.
            if f"{fid}Alias{alias}" not in as_list(s.t["Resources"][cid].get("DependsOn", [])):
                bad(f"{label}: {cid} does not DependsOn {fid}Alias{alias}, the alias it configures")

    check_credentials(s, functions, roles, bad)
    check_queue_read(s, functions, roles, bad)
    check_workers(s, roles, bad)
    check_worker_doctor(s, functions, roles, bad)
    check_routing_tables(s, functions, alarms, bad)
    check_low_alarm(s, alarms, bad)
    check_age_alarm(s, alarms, bad)
    check_cluster(s, functions, bad)
    check_reserved_concurrency(s, functions, bad)
    check_job_queue(s, alarms, bad)
    check_dashboard(s, alarms, bad)

    # Zero: the wake alarm, only where it is asked for.
    zero = str(s.params["MinReplicas"]) == "0" and s.params.get("WakeAlarmEnabled") == "true"
    when = f"MinReplicas {s.params['MinReplicas']}, WakeAlarmEnabled {s.params.get('WakeAlarmEnabled')}"
    up_wake = names(s.environment("ScaleUpFunction").get("TARGET_WAKE_ALARMS"))
    down_wake = names(s.environment("ScaleDownFunction").get("TARGET_WAKE_ALARMS"))
    if down_wake:
        bad(f"scale-down: TARGET_WAKE_ALARMS is set ({down_wake}); only scale-up wakes")
    wake_alarms = [
        a for a in alarms.values()
        if "<ScaleUpFunction.Alias>" in as_list(a.get("AlarmActions", []))
        and a.get("MetricName") == "ApproximateNumberOfMessagesVisible"
        and a.get("ComparisonOperator") == "GreaterThanThreshold"
        and str(a.get("Threshold")) == "0"
        and str(a.get("EvaluationPeriods")) == "1"
    ]
    if zero:
        if not wake_alarms:
            bad(f"{when}: no wake alarm (visible messages > 0 for one period) invokes scale-up")
        if not up_wake:
            bad(f"{when}: scale-up has no TARGET_WAKE_ALARMS")
        for a in wake_alarms:
            if a.get("AlarmName") not in up_wake:
                bad(f"{when}: wake alarm {a.get('AlarmName')} is not in scale-up's TARGET_WAKE_ALARMS")
    else:
        if wake_alarms:
            bad(f"{when}: a wake alarm exists ({[a.get('AlarmName') for a in wake_alarms]}); "
                "it belongs to MinReplicas 0 with WakeAlarmEnabled true only")
        if up_wake:
            bad(f"{when}: scale-up has TARGET_WAKE_ALARMS {up_wake}")

    if topic:
        for rid, a in alarms.items():
            if "<ScalingFailureQueue.QueueName>" in str(a.get("Dimensions")) and topic not in as_list(a.get("AlarmActions", [])):
                bad(f"{rid}: the failure-queue alarm does not notify FailureNotificationTopicArn")


def role_statements(functions, roles, fid):
    """The Allow statements of the function's execution role."""
    role_id = functions[fid].get("Role", "").strip("<>").removesuffix(".Arn")
    return [
        st
        for policy in roles.get(role_id, {}).get("Policies", [])
        for st in as_list(policy["PolicyDocument"]["Statement"])
        if st.get("Effect") == "Allow"
    ]


def granted_exactly(statements, action, want, scope, message, bad):
    """The action is allowed on exactly the resources `want`, no wildcard; message names what differs."""
    service = action.split(":", 1)[0]
    granted = set()
    for st in statements:
        acts = as_list(st.get("Action", []))
        if action in acts or f"{service}:*" in acts or "*" in acts:
            granted |= set(as_list(st.get("Resource", [])))
    if any("*" in r for r in granted):
        bad(f"{message.split(':', 1)[0]}: {action} is granted on a wildcard resource "
            f"{sorted(r for r in granted if '*' in r)}; scope it to {scope}")
    elif granted != want:
        bad(message.format(action=action, granted=sorted(granted), want=sorted(want)))


def job_queue(s):
    """The job queue's name and ARN, as the resolved template names them."""
    name = s.params.get("QueueName")
    if name:
        return name, f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:{name}"
    return "<JobQueue.QueueName>", "<JobQueue.Arn>"


def second_queue(s):
    """The second model's queue name and ARN, when the stack has a second model."""
    name = s.params.get("SecondQueueName") if s.params.get("SecondTargetDeployment") else ""
    return (name, f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:{name}") if name else None


def check_queue_read(s, functions, roles, bad):
    """Each function reads its queues live: TARGET_QUEUES (or its table) names them, and its role
    may read exactly them."""
    queues = [job_queue(s)] + ([second_queue(s)] if second_queue(s) else [])
    want = [name for name, _ in queues]
    for fid, label in FUNCTIONS.items():
        if fid not in functions:
            continue
        env = s.environment(fid)
        if names(env.get("TARGET_QUEUES")) != want:
            bad(f"{label}: TARGET_QUEUES is {env.get('TARGET_QUEUES')!r}, not the queues {want}: "
                "the function would not read its queues live")
        statements = role_statements(functions, roles, fid)
        for action in ("sqs:GetQueueAttributes", "sqs:GetQueueUrl"):
            granted_exactly(statements, action, {arn for _, arn in queues}, "the queues' ARNs",
                            f"{label}: {{action}} is granted on {{granted}}, but its queues are {{want}}", bad)


STS_AUDIENCE = "sts.amazonaws.com"


def worker_roles(s):
    """Each model's worker role as the stack should make it: role id -> (Deployment, queue ARN,
    KMS key or "", Google account id or "")."""
    p = s.params
    models = {"WorkerRole": (p.get("TargetDeployment"), job_queue(s)[1], p.get("QueueKmsKeyArn", ""),
                             p.get("WorkerGoogleAccountId", ""))}
    if second_queue(s):
        models["SecondWorkerRole"] = (p.get("SecondTargetDeployment"), second_queue(s)[1],
                                      p.get("SecondQueueKmsKeyArn", ""),
                                      p.get("SecondWorkerGoogleAccountId", ""))
    return models


def worker_trust(role):
    """A worker role's trust policy, parsed (the template gives it as a JSON string)."""
    doc = role.get("AssumeRolePolicyDocument")
    return json.loads(doc) if isinstance(doc, str) else doc


def check_workers(s, roles, bad):
    """The workers' keyless access: with WorkerOidcIssuer or WorkerGoogleAccountId, each model has
    a role that trusts exactly its own identity (its Kubernetes service account, named as its
    Deployment, through the cluster's issuer and audience sts.amazonaws.com; or its Google
    service account, by unique id) and may exactly receive, delete and extend its own queue's
    messages (and decrypt them with its queue's key when given); with neither, no worker role."""
    issuer = s.params.get("WorkerOidcIssuer", "")
    google = s.params.get("WorkerGoogleAccountId", "")
    namespace = s.params.get("TargetNamespace")
    if not issuer and not google:
        for rid in ("WorkerRole", "SecondWorkerRole"):
            if rid in roles:
                bad(f"{rid}: a worker role, but neither WorkerOidcIssuer nor WorkerGoogleAccountId is given")
        return
    for rid, (deployment, queue_arn, kms, account) in worker_roles(s).items():
        role = roles.get(rid)
        if role is None:
            bad(f"{rid}: keyless workers, but no role for {deployment}")
            continue
        try:
            trust = worker_trust(role)
        except ValueError as e:
            bad(f"{rid}: its trust policy is not JSON ({e})")
            continue
        statements = as_list(trust.get("Statement", []))
        if len(statements) != 1 or statements[0].get("Effect") != "Allow" \
                or statements[0].get("Action") != "sts:AssumeRoleWithWebIdentity":
            bad(f"{rid}: the trust must be one Allow of sts:AssumeRoleWithWebIdentity, not {statements}")
            continue
        st = statements[0]
        if issuer:
            principal = f"arn:{PARTITION}:iam::{ACCOUNT}:oidc-provider/{issuer}"
            want = {f"{issuer}:sub": f"system:serviceaccount:{namespace}:{deployment}",
                    f"{issuer}:aud": STS_AUDIENCE}
        else:
            principal = "accounts.google.com"
            # AWS reads accounts.google.com:aud from the token's azp (the account's unique id)
            # and :oaud from its aud.
            want = {"accounts.google.com:aud": account, "accounts.google.com:sub": account,
                    "accounts.google.com:oaud": STS_AUDIENCE}
        if st.get("Principal") != {"Federated": principal}:
            bad(f"{rid}: trusts {st.get('Principal')}, not {{'Federated': {principal!r}}}")
        if set(st.get("Condition", {})) != {"StringEquals"} or st["Condition"]["StringEquals"] != want:
            bad(f"{rid}: its trust's condition is {st.get('Condition')}, not StringEquals {want}: "
                f"it must admit {deployment}'s identity alone")
        statements = [x for policy in role.get("Policies", [])
                      for x in as_list(policy["PolicyDocument"]["Statement"]) if x.get("Effect") == "Allow"]
        actions = {a for x in statements for a in as_list(x.get("Action", []))}
        want_actions = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"}
        if kms:
            want_actions.add("kms:Decrypt")
        if actions != want_actions:
            bad(f"{rid}: may {sorted(actions)}, not exactly {sorted(want_actions)}")
        for action in sorted(want_actions - {"kms:Decrypt"}):
            granted_exactly(statements, action, {queue_arn}, "its own queue",
                            f"{rid}: {{action}} is granted on {{granted}}, not on its own queue {{want}}", bad)
        if kms:
            granted_exactly(statements, "kms:Decrypt", {kms}, "QueueKmsKeyArn",
                            f"{rid}: {{action}} is granted on {{granted}}, not on its queue's key {{want}}", bad)


def check_worker_doctor(s, functions, roles, bad):
    """The doctor checks each model's worker role: keyless, each function is told its models' roles
    (TARGET_WORKER_ROLE, or each table entry's worker_role) and may iam:GetRole exactly them;
    with the key path, neither."""
    keyless = bool(s.params.get("WorkerOidcIssuer") or s.params.get("WorkerGoogleAccountId"))
    want = {"<WorkerRole.Arn>"}
    if keyless and "SecondWorkerRole" in roles:
        want.add("<SecondWorkerRole.Arn>")
    for fid, label in FUNCTIONS.items():
        if fid not in functions:
            continue
        env = s.environment(fid)
        named = set()
        if env.get("TARGET_WORKER_ROLE"):
            named.add(env["TARGET_WORKER_ROLE"])
        try:
            named |= {e["worker_role"] for e in json.loads(env.get("SCALER_TARGETS") or "[]")
                      if "worker_role" in e}
        except (TypeError, ValueError):
            pass  # check_routing_tables reports a table that is not JSON
        statements = role_statements(functions, roles, fid)
        if not keyless:
            if named:
                bad(f"{label}: worker roles {sorted(named)} are named, but the workers are not keyless")
            granted_exactly(statements, "iam:GetRole", set(), "nothing",
                            f"{label}: {{action}} is granted on {{granted}} with no worker role", bad)
            continue
        if named != want:
            bad(f"{label}: the doctor is told the worker roles {sorted(named)}, not {sorted(want)} "
                "(TARGET_WORKER_ROLE, or each table entry's worker_role)")
        granted_exactly(statements, "iam:GetRole", want, "the worker roles",
                        f"{label}: {{action}} is granted on {{granted}}, not on the worker roles {{want}}", bad)


def check_routing_tables(s, functions, alarms, bad):
    """With a second model, each function takes one routing table with both models: valid JSON,
    in place of the single-target settings; each entry's Deployment, its own queue, the alarms
    of this function that watch that queue only, and the node pool both share."""
    second = s.params.get("SecondTargetDeployment")
    by_name = {a.get("AlarmName"): a for a in alarms.values()}
    for fid, label in FUNCTIONS.items():
        if fid not in functions:
            continue
        env = s.environment(fid)
        if not second:
            if "SCALER_TARGETS" in env:
                bad(f"{label}: one model, yet SCALER_TARGETS is set")
            continue
        single = sorted(k for k in ("TARGET_NAMESPACE", "TARGET_DEPLOYMENT", "MIN_REPLICAS",
                                    "MAX_REPLICAS", "TARGET_POOL") if k in env)
        if single:
            bad(f"{label}: two models, yet the single-target settings {single} are set beside the table")
        try:
            table = json.loads(env.get("SCALER_TARGETS"))
        except (TypeError, ValueError) as e:
            bad(f"{label}: SCALER_TARGETS is not JSON once substituted: {e}")
            continue
        models = [(s.params["TargetDeployment"], job_queue(s)[0], "MinReplicas", "MaxReplicas"),
                  (second, s.params["SecondQueueName"], "SecondMinReplicas", "SecondMaxReplicas")]
        if [e.get("deployment") for e in table] != [m[0] for m in models]:
            bad(f"{label}: the table scales {[e.get('deployment') for e in table]}, "
                f"not {[m[0] for m in models]}")
            continue
        for entry, (deployment, queue, low, high) in zip(table, models):
            if entry.get("namespace") != s.params["TargetNamespace"] or entry.get("queues") != [queue]:
                bad(f"{label}: {deployment} reads {entry.get('queues')} in "
                    f"{entry.get('namespace')}, not [{queue}] in {s.params['TargetNamespace']}")
            if (str(entry.get("min_replicas")), str(entry.get("max_replicas"))) != \
                    (str(s.params[low]), str(s.params[high])):
                bad(f"{label}: {deployment} is bounded {entry.get('min_replicas')}-"
                    f"{entry.get('max_replicas')}, not {low}-{high}")
            if entry.get("pool", "") != s.params.get("NodePool", ""):
                bad(f"{label}: {deployment} is on pool {entry.get('pool')!r}, not NodePool "
                    f"{s.params.get('NodePool')!r}")
            named = entry.get("alarms", []) + entry.get("wake_alarms", [])
            if not entry.get("alarms"):
                bad(f"{label}: {deployment} has no alarm in the table")
            for name in named:
                alarm = by_name.get(name)
                if alarm is None:
                    bad(f"{label}: {deployment}'s alarm {name!r} is not in the template")
                elif queues_watched(alarm) != {queue}:
                    bad(f"{label}: {deployment}'s alarm {name} watches {sorted(queues_watched(alarm))}, "
                        f"not its queue {queue}")
                elif f"<{fid}.Alias>" not in as_list(alarm.get("AlarmActions", [])):
                    bad(f"{label}: {deployment}'s alarm {name} does not invoke {fid}")


def check_low_alarm(s, alarms, bad):
    """Scale-down's alarms count visible plus in-flight messages of one of the stack's queues:
    zero only when no job runs."""
    queues = [job_queue(s)[0]] + ([second_queue(s)[0]] if second_queue(s) else [])
    want = {"ApproximateNumberOfMessagesVisible", "ApproximateNumberOfMessagesNotVisible"}
    low = {rid: a for rid, a in alarms.items()
           if "<ScaleDownFunction.Alias>" in as_list(a.get("AlarmActions", []))}
    if not low:
        bad("no alarm invokes scale-down")
    for rid, a in low.items():
        watched = queues_watched(a)
        name = next(iter(watched)) if len(watched) == 1 and watched <= set(queues) else queues[0]
        if a.get("ComparisonOperator") != "LessThanThreshold":
            bad(f"{rid}: scale-down's alarm is {a.get('ComparisonOperator')}, not LessThanThreshold")
        metrics = {m.get("Id"): m for m in a.get("Metrics", [])}
        returned = [m for m in metrics.values() if m.get("ReturnData") in (True, "true")]
        counted = []
        if len(returned) == 1 and "Expression" in returned[0]:
            for term in str(returned[0]["Expression"]).split("+"):
                stat = metrics.get(term.strip(), {}).get("MetricStat", {})
                metric = stat.get("Metric", {})
                if metric.get("Namespace") == "AWS/SQS" and \
                        metric.get("Dimensions") == [{"Name": "QueueName", "Value": name}]:
                    counted.append(metric.get("MetricName"))
                else:
                    counted.append(f"{term.strip()!r} (not a metric of the queue {name})")
        elif a.get("MetricName"):
            counted = [a["MetricName"]]
        if sorted(counted) != sorted(want):
            bad(f"{rid}: scale-down's alarm counts {' + '.join(counted) or 'nothing it can read'}, not "
                "ApproximateNumberOfMessagesVisible + ApproximateNumberOfMessagesNotVisible of the queue: "
                "without in-flight messages, the last workers would go to zero with jobs running")


def check_age_alarm(s, alarms, bad):
    """The age alarm exists with OldestMessageAgeSeconds only, and triggers scale-up like the high alarm."""
    threshold = s.params.get("OldestMessageAgeSeconds", "")
    name, _ = job_queue(s)
    age = {rid: a for rid, a in alarms.items() if a.get("MetricName") == "ApproximateAgeOfOldestMessage"}
    if not threshold:
        if age:
            bad(f"OldestMessageAgeSeconds empty: an age alarm exists ({sorted(age)}); "
                "it must be off unless the parameter is given")
        return
    triggers = [
        a for a in age.values()
        if a.get("Namespace") == "AWS/SQS"
        and a.get("Dimensions") == [{"Name": "QueueName", "Value": name}]
        and a.get("ComparisonOperator") == "GreaterThanThreshold"
        and str(a.get("Threshold")) == threshold
        and "<ScaleUpFunction.Alias>" in as_list(a.get("AlarmActions", []))
    ]
    if not triggers:
        bad(f"OldestMessageAgeSeconds {threshold}: no alarm on ApproximateAgeOfOldestMessage of the "
            f"queue {name} above {threshold} s invokes scale-up")
    up = names(s.environment("ScaleUpFunction").get("TARGET_ALARMS"))
    for a in triggers:
        if a.get("AlarmName") not in up:
            bad(f"OldestMessageAgeSeconds {threshold}: the age alarm {a.get('AlarmName')} is not in "
                "scale-up's TARGET_ALARMS: a trigger like the high alarm, the heartbeat must read it")


CREDENTIAL_SETTINGS = ("GOOGLE_APPLICATION_CREDENTIALS", "GCP_CREDENTIAL_CONFIG",
                       "GCP_SERVICE_ACCOUNT_KEY", "GCP_SERVICE_ACCOUNT_KEY_SECRET")


def check_credentials(s, functions, roles, bad):
    """Keyless: the configuration and no secret access at all. Key: the one secret."""
    config = s.params.get("GcpCredentialConfig", "")
    secret = s.params.get("ServiceAccountKeySecretArn", "")
    kms = s.params.get("ServiceAccountKeySecretKmsKeyArn", "")
    for fid, label in FUNCTIONS.items():
        if fid not in functions:
            continue
        env = s.environment(fid)
        given = [k for k in CREDENTIAL_SETTINGS if k in env]
        if len(given) != 1:
            bad(f"{label}: exactly one Google credential setting must be set, not {given}")
        if config:
            if env.get("GCP_CREDENTIAL_CONFIG") != config:
                bad(f"{label}: keyless, but GCP_CREDENTIAL_CONFIG is not GcpCredentialConfig "
                    f"({env.get('GCP_CREDENTIAL_CONFIG')!r})")
        elif secret and env.get("GCP_SERVICE_ACCOUNT_KEY_SECRET") != secret:
            bad(f"{label}: key path, but GCP_SERVICE_ACCOUNT_KEY_SECRET is not "
                f"ServiceAccountKeySecretArn ({env.get('GCP_SERVICE_ACCOUNT_KEY_SECRET')!r})")

        statements = role_statements(functions, roles, fid)

        def granted(prefix, statements=statements):
            out = []
            for st in statements:
                for act in as_list(st.get("Action", [])):
                    if act == "*" or act.startswith(prefix) or act == prefix.rstrip(":") + ":*":
                        out.append((act, as_list(st.get("Resource", []))))
            return out

        sm, decrypt = granted("secretsmanager:"), granted("kms:")
        if config:
            if sm:
                bad(f"{label}: keyless, but its role may still use Secrets Manager: {sm}")
            if decrypt:
                bad(f"{label}: keyless, but its role may still use KMS: {decrypt}")
        elif secret:
            if sm != [("secretsmanager:GetSecretValue", [secret])]:
                bad(f"{label}: key path: its role must have secretsmanager:GetSecretValue on exactly "
                    f"ServiceAccountKeySecretArn, and no other Secrets Manager action; it has {sm}")
            want = [("kms:Decrypt", [kms])] if kms else []
            if decrypt != want:
                bad(f"{label}: key path: kms:Decrypt must be granted on exactly "
                    f"ServiceAccountKeySecretKmsKeyArn when it is given, else not at all; it has {decrypt}")


def check_cluster(s, functions, bad):
    """GkeCluster, or GkeEndpoint with GkeCaCert only when one is given (none for the DNS endpoint)."""
    want = {}
    if s.params.get("GkeCluster"):
        want["GKE_CLUSTER"] = s.params["GkeCluster"]
    else:
        want["GKE_ENDPOINT"] = s.params.get("GkeEndpoint")
        if s.params.get("GkeCaCert"):
            want["GKE_CA_CERT"] = s.params["GkeCaCert"]
    for fid, label in FUNCTIONS.items():
        if fid not in functions:
            continue
        env = s.environment(fid)
        got = {k: env[k] for k in ("GKE_CLUSTER", "GKE_ENDPOINT", "GKE_CA_CERT") if k in env}
        if got != want:
            bad(f"{label}: the cluster settings are {got}, not {want}")


def check_reserved_concurrency(s, functions, bad):
    """ReservedConcurrency: both functions reserve it when given, neither when empty."""
    want = s.params.get("ReservedConcurrency", "")
    for fid, label in FUNCTIONS.items():
        if fid not in functions:
            continue
        got = s.function_property(fid, "ReservedConcurrentExecutions")
        got = "" if got is NOVALUE else str(got)
        if got != want:
            bad(f"{label}: ReservedConcurrentExecutions is {got or 'unset'}, but "
                f"ReservedConcurrency is {want or 'empty (no reservation)'}")


def check_reserved_pattern(template, problems):
    """Empty (no reservation) and 1 are accepted; 0, which would stop both functions, is not."""
    spec = template["Parameters"].get("ReservedConcurrency")
    if spec is None:
        problems.append("no ReservedConcurrency parameter")
        return
    if str(spec.get("Default", "")) != "":
        problems.append("ReservedConcurrency: the default must be empty (no reservation)")
    pattern = spec.get("AllowedPattern", "")
    for value, want in (("", True), ("1", True), ("2", True), ("0", False), ("-1", False), ("1.5", False)):
        if bool(re.fullmatch(pattern, value)) != want:
            problems.append(f"ReservedConcurrency: {value!r} is {'refused' if want else 'accepted'}"
                            + ("" if want else " (0 would stop both functions)" if value == "0" else ""))


def check_job_queue(s, alarms, bad):
    """A queue the stack creates for the jobs survives the stack's deletion and its replacement."""
    queues = set()
    for a in alarms.values():
        dims = list(a.get("Dimensions", []))
        for m in a.get("Metrics", []):
            dims += m.get("MetricStat", {}).get("Metric", {}).get("Dimensions", [])
        # The queues whose alarms invoke a function: the job queue, not the failure queue.
        if any(re.fullmatch(rf"<({'|'.join(FUNCTIONS)})\.(Alias|Arn)>", str(x))
               for x in as_list(a.get("AlarmActions", []))):
            for d in dims:
                m = re.fullmatch(r"<(\w+)\.QueueName>", str(d.get("Value", "")))
                if d.get("Name") == "QueueName" and m:
                    queues.add(m.group(1))
    for rid in sorted(queues):
        r = s.t["Resources"].get(rid, {})
        for policy in ("DeletionPolicy", "UpdateReplacePolicy"):
            if r.get(policy) != "Retain":
                bad(f"{rid}: the job queue the stack creates has {policy} {r.get(policy, 'Delete (the default)')}, "
                    "not Retain: deleting or replacing the stack would drop the queued jobs")


EMF_METRICS = ("ReplicasBefore", "ReplicasAfter", "ReplicasDesired", "Backlog", "Applied",
               "RearmFailed", "ErrorsRetryable", "ErrorsNonRetryable", "ErrorsConfig")
ERROR_METRICS = ("ErrorsRetryable", "ErrorsNonRetryable", "ErrorsConfig")


def check_dashboard(s, alarms, bad):
    """The dashboard's body is JSON once substituted, and shows what an operator needs."""
    dashboards = s.of_type("AWS::CloudWatch::Dashboard")
    if not dashboards:
        bad("no AWS::CloudWatch::Dashboard")
    for rid, d in dashboards.items():
        if d.get("DashboardName") != s.name:
            bad(f"{rid}: DashboardName is {d.get('DashboardName')!r}, not the stack name")
        try:
            body = json.loads(d.get("DashboardBody"))
            widgets = body["widgets"]
        except (TypeError, ValueError, KeyError) as e:
            bad(f"{rid}: DashboardBody is not valid JSON with widgets after substitution: {e}")
            continue
        metrics, listed = [], []
        for w in widgets:
            props = w.get("properties", {})
            if w.get("type") == "metric":
                if props.get("region") != REGION:
                    bad(f"{rid}: the widget {props.get('title')!r} has no region (or another one)")
                for m in props.get("metrics", []):
                    names = [x for x in m if not isinstance(x, dict)]
                    metrics.append((names[0], names[1], dict(zip(names[2::2], names[3::2]))))
            elif w.get("type") == "alarm":
                listed += props.get("alarms", [])

        def shows(namespace, name, *, metrics=metrics, **dims):
            return any(ns == namespace and n == name and all(got.get(k) == v for k, v in dims.items())
                       for ns, n, got in metrics)

        queue = s.params.get("QueueName") or "<JobQueue.QueueName>"
        for name in ("ApproximateNumberOfMessagesVisible", "ApproximateNumberOfMessagesNotVisible"):
            if not shows("AWS/SQS", name, QueueName=queue):
                bad(f"{rid}: the dashboard does not show {name} of the queue {queue}")
        for fid in FUNCTIONS:
            for name in ("Invocations", "Errors"):
                if not shows("AWS/Lambda", name, FunctionName=f"<Ref {fid}>"):
                    bad(f"{rid}: the dashboard does not show AWS/Lambda {name} of {fid}")
        target = f"{s.params['TargetNamespace']}/{s.params['TargetDeployment']}"
        for name in EMF_METRICS:
            for direction in ("up", "down"):
                if not shows("QueueScaler", name, Target=target, Direction=direction):
                    bad(f"{rid}: the dashboard does not show QueueScaler {name} "
                        f"(Target {target}, Direction {direction})")
                if name in ERROR_METRICS and not shows("QueueScaler", name, Target="-", Direction=direction):
                    bad(f"{rid}: the dashboard does not show QueueScaler {name} "
                        f"(Target -, Direction {direction}): errors before the target is known")
        want = {f"<{a}.Arn>" for a in alarms}
        if set(listed) != want:
            missing, extra = sorted(want - set(listed)), sorted(set(listed) - want)
            bad(f"{rid}: the alarm status widget does not show exactly the stack's alarms"
                + (f"; missing {missing}" if missing else "") + (f"; not in the stack {extra}" if extra else ""))

def check_credential_rules(template, params, problems):
    """The Rules let exactly one credential source through, for the functions and for the
    workers (and one Google account per model on way (b))."""
    config = '{"type": "external_account"}'
    secret = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:k-AbCdEf"
    kms = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    cases = [
        ("keyless", {"GcpCredentialConfig": config, "ServiceAccountKeySecretArn": ""}, True),
        ("key", {"GcpCredentialConfig": "", "ServiceAccountKeySecretArn": secret}, True),
        ("key with a KMS key", {"GcpCredentialConfig": "", "ServiceAccountKeySecretArn": secret,
                                "ServiceAccountKeySecretKmsKeyArn": kms}, True),
        ("neither GcpCredentialConfig nor ServiceAccountKeySecretArn",
         {"GcpCredentialConfig": "", "ServiceAccountKeySecretArn": ""}, False),
        ("both GcpCredentialConfig and ServiceAccountKeySecretArn",
         {"GcpCredentialConfig": config, "ServiceAccountKeySecretArn": secret}, False),
        ("keyless with a KMS key", {"GcpCredentialConfig": config, "ServiceAccountKeySecretArn": "",
                                    "ServiceAccountKeySecretKmsKeyArn": kms}, False),
    ]
    issuer = "container.googleapis.com/v1/projects/p/locations/l/clusters/c"
    two = {"SecondTargetDeployment": "image-model", "SecondQueueName": "image-jobs"}
    cases += [
        ("workers by the cluster's issuer", {"WorkerOidcIssuer": issuer}, True),
        ("workers by a Google account", {"WorkerGoogleAccountId": "1122"}, True),
        ("workers by both the cluster's issuer and a Google account",
         {"WorkerOidcIssuer": issuer, "WorkerGoogleAccountId": "1122"}, False),
        ("two models' workers by two Google accounts",
         {**two, "WorkerGoogleAccountId": "1122", "SecondWorkerGoogleAccountId": "3344"}, True),
        ("two models' workers by a Google account for the first only",
         {**two, "WorkerGoogleAccountId": "1122"}, False),
        ("two models' workers by one Google account for both",
         {**two, "WorkerGoogleAccountId": "1122", "SecondWorkerGoogleAccountId": "1122"}, False),
    ]
    for label, values, want in cases:
        ok, why = Stack(template, {**params, "ServiceAccountKeySecretKmsKeyArn": "", **values}).rules_accept()
        if ok and not want:
            problems.append(f"the template accepts {label}: a Rule must refuse it")
        elif want and not ok:
            problems.append(f"the template refuses {label}: {why}")
    spec = template["Parameters"].get("GcpCredentialConfig", {})
    pattern = spec.get("AllowedPattern")
    key_json = '{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----"}'
    if spec.get("NoEcho") not in (None, False, "false"):
        problems.append("GcpCredentialConfig is NoEcho: it holds no secret, and operators need to read it")
    if not pattern or re.fullmatch(pattern, key_json, re.DOTALL):
        problems.append("GcpCredentialConfig accepts a service-account key: its AllowedPattern must "
                        "ask for an external_account configuration")


def accepted(template, params, name, value):
    spec = template["Parameters"][name]
    v = int(value)
    if "MinValue" in spec and v < int(spec["MinValue"]):
        return False
    if "MaxValue" in spec and v > int(spec["MaxValue"]):
        return False
    if "AllowedValues" in spec and str(value) not in [str(x) for x in spec["AllowedValues"]]:
        return False
    ok, _ = Stack(template, {**params, name: str(value)}).rules_accept()
    return ok


def check_one_day(template, params, problems):
    """Every (period, evaluation periods) pair the template accepts fits in one day."""
    periods = template["Parameters"]["AlarmPeriodSeconds"].get("AllowedValues")
    if not periods:
        problems.append("AlarmPeriodSeconds has no AllowedValues")
        return
    for name in ("HighEvaluationPeriods", "LowEvaluationPeriods"):
        spec = template["Parameters"][name]
        top = int(spec.get("MaxValue", 100000))
        for p in periods:
            base = {**params, "AlarmPeriodSeconds": str(p)}
            # The largest accepted count, searched up to MaxValue (or far beyond
            # one day when there is none).
            over = next((n for n in range(ONE_DAY // int(p) + 1, min(top, 2 * ONE_DAY) + 1)
                         if accepted(template, base, name, n)), None)
            if over is not None:
                problems.append(
                    f"AlarmPeriodSeconds {p} with {name} {over} is accepted, but spans "
                    f"{int(p) * over} s: CloudWatch refuses more than {ONE_DAY} s "
                    "(bound it with MaxValue or a Rule)")
        if not accepted(template, {**params, "AlarmPeriodSeconds": "60"}, name, spec.get("Default")):
            problems.append(f"{name}: its default is refused at 60 s periods")


# docs/never-stuck.md: after a fault, the loop recovers within this many alarm
# periods; an alarm left in ALARM waits up to one heartbeat interval.
RECOVERY_GOAL_PERIODS = 2
# The errors alarms (2 of 3 five-minute windows) see a heartbeat up to this.
HEARTBEAT_MAX_SECONDS = 600
# Scale-up's heartbeat reads the queue and wakes a target at 0 replicas; the
# first replica is due within 2 minutes of the first message on an idle queue
# (SQS's metrics may take 15), so the default heartbeat runs every minute.
HEARTBEAT_DEFAULT_MAX_SECONDS = 60
RATE = re.compile(r"rate\(([1-9][0-9]*) (minute|minutes|hour|hours|day|days)\)")
RATE_UNIT_SECONDS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600,
                     "day": ONE_DAY, "days": ONE_DAY}


# EventBridge's rate expressions: the unit singular for 1, plural above 1.
SCHEDULES_VALID = ("rate(1 minute)", "rate(2 minutes)", "rate(10 minutes)", "rate(1 hour)",
                   "rate(12 hours)", "rate(1 day)", "rate(7 days)", "cron(0/5 * * * ? *)")
SCHEDULES_INVALID = ("rate(1 minutes)", "rate(5 minute)", "rate(1 hours)", "rate(2 day)",
                     "rate(0 minutes)", "rate(01 minute)", "rate(5 seconds)", "rate(5minutes)",
                     "rate(-1 minutes)", "", "cron()")


def check_schedule_pattern(template, problems):
    """HeartbeatSchedule's AllowedPattern accepts exactly what EventBridge accepts, of these."""
    pattern = template["Parameters"]["HeartbeatSchedule"].get("AllowedPattern")
    if not pattern:
        problems.append("HeartbeatSchedule has no AllowedPattern")
        return
    for value in SCHEDULES_VALID:
        if not re.fullmatch(pattern, value):
            problems.append(f"HeartbeatSchedule: {value!r} is refused by its AllowedPattern, "
                            "but EventBridge accepts it")
    for value in SCHEDULES_INVALID:
        if re.fullmatch(pattern, value):
            problems.append(f"HeartbeatSchedule: {value!r} is accepted by its AllowedPattern, but "
                            "EventBridge refuses it when it creates the rule (the unit is singular "
                            "for 1 and plural above)")


def check_heartbeat_defaults(template, problems):
    """The default heartbeat meets the recovery goal, and the default event age is its interval."""
    params = template["Parameters"]
    spec = params["HeartbeatSchedule"]
    schedule = str(spec.get("Default", ""))
    pattern = spec.get("AllowedPattern")
    if pattern and not re.fullmatch(pattern, schedule):
        problems.append(f"HeartbeatSchedule: its default {schedule!r} is refused by its AllowedPattern")
    m = RATE.fullmatch(schedule)
    if not m:
        problems.append(f"HeartbeatSchedule: its default {schedule!r} is not rate(N unit), so "
                        "its interval, the longest an alarm left in ALARM waits, is unchecked")
        return
    interval = int(m.group(1)) * RATE_UNIT_SECONDS[m.group(2)]
    if interval > HEARTBEAT_DEFAULT_MAX_SECONDS:
        problems.append(
            f"HeartbeatSchedule: its default {schedule} ({interval} s) is longer than one minute: "
            "scale-up's heartbeat is what wakes a target at 0 replicas from the live queue")
    period = int(params["AlarmPeriodSeconds"]["Default"])
    if interval > RECOVERY_GOAL_PERIODS * period:
        problems.append(
            f"HeartbeatSchedule: its default {schedule} ({interval} s) lets an alarm left in ALARM "
            f"wait more than {RECOVERY_GOAL_PERIODS} periods of the default AlarmPeriodSeconds "
            f"({period} s): the goal is recovery within {RECOVERY_GOAL_PERIODS} periods of a fault's end")
    if interval > HEARTBEAT_MAX_SECONDS:
        problems.append(
            f"HeartbeatSchedule: its default {schedule} is longer than 10 minutes: the errors "
            "alarms (2 of 3 five-minute windows) would miss a fault only the heartbeat meets")
    age = int(params["MaximumEventAgeSeconds"]["Default"])
    if age != interval:
        problems.append(
            f"MaximumEventAgeSeconds: its default {age} s is not one interval of the default "
            f"HeartbeatSchedule, {schedule} ({interval} s)")


KEYLESS_CONFIG = (
    '{"type": "external_account", "audience": "//iam.googleapis.com/projects/1/locations/global/'
    'workloadIdentityPools/queue-scaler/providers/aws-lambda"}'
)


def parameter_sets(template):
    defaults = {k: str(v.get("Default", "")) for k, v in template["Parameters"].items()}
    base = {
        **defaults,
        "GkeCluster": "projects/p/locations/l/clusters/c",
        "GcpCredentialConfig": KEYLESS_CONFIG,
    }
    key = {
        **base,
        "GcpCredentialConfig": "",
        "ServiceAccountKeySecretArn":
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:k-AbCdEf",
    }
    topic = "arn:aws:sns:eu-west-1:123456789012:scaling"
    yield "defaults", base
    yield "MinReplicas=0", {**base, "MinReplicas": "0"}
    yield "MinReplicas=0 with the wake alarm", {**base, "MinReplicas": "0", "WakeAlarmEnabled": "true"}
    yield "an age alarm", {**base, "OldestMessageAgeSeconds": "600"}
    yield "MinReplicas=0 with the wake alarm, an age alarm and a failure topic", {
        **base, "MinReplicas": "0", "WakeAlarmEnabled": "true", "OldestMessageAgeSeconds": "300",
        "FailureNotificationTopicArn": topic}
    yield "MinReplicas=2 with WakeAlarmEnabled and a failure topic", {
        **base, "MinReplicas": "2", "WakeAlarmEnabled": "true", "FailureNotificationTopicArn": topic}
    yield "key path", key
    yield "key path with a KMS key", {
        **key, "ServiceAccountKeySecretKmsKeyArn":
            "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"}
    yield "GKE's DNS endpoint", {**base, "GkeCluster": "",
                                 "GkeEndpoint": "https://gke-0123abcd.europe-west4.gke.goog"}
    yield "an IP endpoint with its CA", {**base, "GkeCluster": "", "GkeEndpoint": "https://34.1.2.3",
                                         "GkeCaCert": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg=="}
    yield "ReservedConcurrency=2", {**base, "ReservedConcurrency": "2"}
    yield "an existing queue, another target", {**base, "QueueName": "model-jobs",
                                                "TargetNamespace": "gpu", "TargetDeployment": "text-model"}
    yield "an existing queue with an age alarm", {**base, "QueueName": "model-jobs",
                                                  "OldestMessageAgeSeconds": "900"}
    yield "one model on a GPU pool", {**base, "NodePool": "gpu-pool"}
    two = {**base, "QueueName": "text-jobs", "TargetDeployment": "text-model",
           "SecondTargetDeployment": "image-model", "SecondQueueName": "image-jobs",
           "NodePool": "gpu-pool", "MessagesPerReplica": "100", "SecondMessagesPerReplica": "50"}
    yield "two models on one GPU pool, one stack", two
    issuer = "container.googleapis.com/v1/projects/p/locations/l/clusters/c"
    key = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    yield "keyless workers by the cluster's issuer", {**base, "WorkerOidcIssuer": issuer}
    yield "two models, keyless workers by the cluster's issuer, an encrypted queue", {
        **two, "WorkerOidcIssuer": issuer, "SecondQueueKmsKeyArn": key}
    yield "two models, keyless workers by Google ID tokens", {
        **two, "WorkerGoogleAccountId": "112233445566778899001",
        "SecondWorkerGoogleAccountId": "998877665544332211009", "QueueKmsKeyArn": key}
    yield "two models at 0 with the wake alarm, an age alarm, a sized pool at a DNS endpoint", {
        **two, "MinReplicas": "0", "WakeAlarmEnabled": "true", "OldestMessageAgeSeconds": "600",
        "SecondMinReplicas": "0", "MessagesPerReplica": "", "PoolGpus": "4", "GkeCluster": "",
        "GkeEndpoint": "https://gke-0123abcd.europe-west4.gke.goog"}


# The deployment guide's two models, one stack each: stack -> (queue, Deployment).
MODELS = {"text-model": ("text-jobs", "text-model"), "image-model": ("image-jobs", "image-model")}
# The properties that name a resource in its account and region: two stacks must not share one.
PHYSICAL_NAMES = {"AWS::Serverless::Function": "FunctionName", "AWS::CloudWatch::Alarm": "AlarmName",
                  "AWS::SQS::Queue": "QueueName", "AWS::Logs::LogGroup": "LogGroupName",
                  "AWS::Events::Rule": "Name", "AWS::CloudWatch::Dashboard": "DashboardName"}


def queues_watched(alarm):
    """The QueueName dimensions of an alarm, of its metric or of its metric math's metrics."""
    dims = list(alarm.get("Dimensions", []))
    for m in alarm.get("Metrics", []):
        dims += m.get("MetricStat", {}).get("Metric", {}).get("Dimensions", [])
    return {d.get("Value") for d in dims if d.get("Name") == "QueueName"}


def check_two_models(template, base, problems):
    """Two stacks of the template, one per model: each wired to its own queue and Deployment."""
    created, granted = {}, {}
    for stack, (queue, deployment) in MODELS.items():
        s = Stack(template, {**base, "QueueName": queue, "TargetDeployment": deployment}, name=stack)

        def bad(msg, stack=stack):
            problems.append(f"two models, stack {stack}: {msg}")

        ok, why = s.rules_accept()
        if not ok:
            bad(f"the Rules refuse it: {why}")
        check(s, found := [])
        for p in found:
            bad(p)
        functions = s.of_type("AWS::Serverless::Function")
        alarms = s.of_type("AWS::CloudWatch::Alarm")
        roles = s.of_type("AWS::IAM::Role")
        for fid, label in FUNCTIONS.items():
            if fid not in functions:
                continue
            env = s.environment(fid)
            if env.get("TARGET_DEPLOYMENT") != deployment or names(env.get("TARGET_QUEUES")) != [queue]:
                bad(f"{label} scales {env.get('TARGET_NAMESPACE')}/{env.get('TARGET_DEPLOYMENT')} from "
                    f"{env.get('TARGET_QUEUES')!r}, not {deployment} from {queue}")
            invoking = {rid: a for rid, a in alarms.items()
                        if f"<{fid}.Alias>" in as_list(a.get("AlarmActions", []))}
            if not any(queues_watched(a) == {queue} for a in invoking.values()):
                bad(f"no alarm on the queue {queue} invokes {label}")
            for a in invoking.values():
                if queues_watched(a) != {queue}:
                    bad(f"alarm {a.get('AlarmName')} watches {sorted(queues_watched(a))}, not {queue}, "
                        f"and invokes {label}, which scales {deployment}")
                if not str(a.get("AlarmName", "")).startswith(f"{stack}-"):
                    bad(f"alarm {a.get('AlarmName')} invokes {label} but is not named after the stack")
            statements = role_statements(functions, roles, fid)
            for action in ("cloudwatch:SetAlarmState", "cloudwatch:DescribeAlarms"):
                arns = {r for st in statements if action in as_list(st.get("Action", []))
                        for r in as_list(st.get("Resource", []))}
                granted[(stack, label, action)] = arns
                foreign = sorted(r for r in arns if not r.startswith(alarm_arn(f"{stack}-")))
                if foreign:
                    bad(f"{label}'s role may {action} on {foreign}, alarms that are not its stack's")
        for type_, key in PHYSICAL_NAMES.items():
            for p in s.of_type(type_).values():
                if isinstance(p.get(key), str):
                    created.setdefault(f"{type_} {p[key]}", []).append(stack)
    for name, stacks in created.items():
        if len(stacks) > 1:
            problems.append(f"two models: both stacks create {name}; the second stack would fail")
    for (stack, label, action), arns in granted.items():
        for (other, other_label, other_action), theirs in granted.items():
            if other > stack and action == other_action and arns & theirs:
                problems.append(f"two models: {stack}'s {label} role and {other}'s {other_label} role may "
                                f"both {action} on {sorted(arns & theirs)}")


def main(paths):
    """Checks each template; 1 when any has a problem, 2 without a template."""
    if not paths:
        print("usage: python3 tests/infra/template_invariants.py TEMPLATE...", file=sys.stderr)
        return 2
    failed = False
    for path in paths:
        with open(path) as f:
            template = yaml.load(f, Loader=Loader)
        problems = []
        seen = {}  # problem -> the parameter sets it was found with
        for label, params in parameter_sets(template):
            found = []
            try:
                ok, why = Stack(template, params).rules_accept()
                if not ok:
                    found.append(f"the Rules refuse a valid parameter set: {why}")
                check(Stack(template, params), found)
            except (Unresolvable, KeyError, TypeError, AttributeError) as e:
                found.append(f"cannot resolve the template: {type(e).__name__} {e}")
            for p in found:
                seen.setdefault(p, []).append(label)
        problems += [f"{p} (with {'; '.join(labels)})" for p, labels in seen.items()]
        try:
            check_one_day(template, dict(parameter_sets(template))["defaults"], problems)
        except (Unresolvable, KeyError, ValueError) as e:
            problems.append(f"cannot check the evaluation windows: {type(e).__name__} {e}")
        try:
            check_two_models(template, dict(parameter_sets(template))["defaults"], problems)
        except (Unresolvable, KeyError, TypeError, AttributeError) as e:
            problems.append(f"cannot resolve the template as two stacks: {type(e).__name__} {e}")
        try:
            check_heartbeat_defaults(template, problems)
        except (KeyError, ValueError, re.error) as e:
            problems.append(f"cannot check the heartbeat's defaults: {type(e).__name__} {e}")
        try:
            check_schedule_pattern(template, problems)
        except (KeyError, re.error) as e:
            problems.append(f"cannot check the heartbeat's pattern: {type(e).__name__} {e}")
        try:
            check_reserved_pattern(template, problems)
        except re.error as e:
            problems.append(f"cannot check ReservedConcurrency: {type(e).__name__} {e}")
        try:
            check_credential_rules(template, dict(parameter_sets(template))["defaults"], problems)
        except (Unresolvable, KeyError, ValueError, re.error) as e:
            problems.append(f"cannot check the credential Rules: {type(e).__name__} {e}")
        for p in dict.fromkeys(problems):
            print(f"{path}: {p}", file=sys.stderr)
        if problems:
            failed = True
        else:
            print(f"{path}: template invariants hold")
    return 1 if failed else 0


def environments(path):
    """Each parameter set's environment of each function, as JSON lines
    {"set", "function", "env"}: what the functions would start with (tests/tests/template_env.rs
    starts them from it)."""
    with open(path) as f:
        template = yaml.load(f, Loader=Loader)
    for label, params in parameter_sets(template):
        s = Stack(template, params)
        for fid in FUNCTIONS:
            env = {k: v for k, v in s.environment(fid, derived=False).items()
                   if isinstance(v, str) and k.isupper()}
            print(json.dumps({"set": label, "function": fid, "env": env}))
    return 0


def worker_roles_of(path, overrides):
    """The worker roles the template makes with the defaults and `overrides` (KEY=VALUE), as
    JSON lines {"role", "trust", "policies"}: what tests/tests/worker_identity.rs evaluates on
    real tokens."""
    with open(path) as f:
        template = yaml.load(f, Loader=Loader)
    params = dict(parameter_sets(template))["defaults"]
    params.update(kv.split("=", 1) for kv in overrides)
    s = Stack(template, params)
    ok, why = s.rules_accept()
    if not ok:
        print(f"the Rules refuse the parameters: {why}", file=sys.stderr)
        return 1
    roles = s.of_type("AWS::IAM::Role")
    for rid in ("WorkerRole", "SecondWorkerRole"):
        if rid in roles:
            print(json.dumps({"role": rid, "trust": worker_trust(roles[rid]),
                              "policies": [p["PolicyDocument"] for p in roles[rid].get("Policies", [])]}))
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--environments"]:
        sys.exit(environments(sys.argv[2]))
    if sys.argv[1:2] == ["--worker-roles"]:
        sys.exit(worker_roles_of(sys.argv[2], sys.argv[3:]))
    sys.exit(main(sys.argv[1:]))
