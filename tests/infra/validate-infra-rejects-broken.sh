#!/usr/bin/env bash
# Proves that `make lint-infra` rejects broken infrastructure files.
#
# A validator that accepts everything would pass on the real files too, so a
# green lint-infra alone proves little. This copies the real template,
# manifests and scripts to a temporary folder, breaks one copy at a time (an
# unknown property, a value of the wrong type, a shell error), and runs the
# same make target on it with INFRA_TEMPLATES / INFRA_MANIFESTS /
# INFRA_SCRIPTS pointing at the copy. Each broken copy must fail, with the
# validator's message naming the fault. For the template this covers both
# cfn-lint and the template's own invariants (heartbeat, alarm permissions,
# wake alarm, age alarm, the live queue read, errors alarms, one-day evaluation windows, the heartbeat's and
# the event age's defaults, the heartbeat's pattern, keyless credentials
# without Secrets Manager access, exactly one credential, every invoker on the
# alias live, the job queue retained, ReservedConcurrency, the dashboard, two
# models in two stacks), and
# the checks of the SAM transform's output (sam-transform.sh). The unbroken copies
# must pass, so a failure comes from the break and not from the copying.
#
# Usage: tests/infra/validate-infra-rejects-broken.sh   (or: make test-infra)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

cp "$root/infra/aws/template.yaml" "$tmp/template.yaml"
cp "$root/infra/gke/model-deployment.yaml" "$tmp/model-deployment.yaml"
cp "$root/infra/gke/rbac.yaml" "$tmp/rbac.yaml"
cp "$root/infra/gke/iam-role.yaml" "$tmp/iam-role.yaml"
cp "$root/infra/gke/pool-lease.yaml" "$tmp/pool-lease.yaml"
cp "$root/infra/gke/node-pool.sh" "$tmp/node-pool.sh"

passed=0
failed=0

# lint TARGET VAR=files... : run the make target on other files; output in $tmp/out.
lint() {
  local target="$1"
  shift
  make --no-print-directory -C "$root" "$target" "$@" >"$tmp/out" 2>&1
}

ok() { echo "ok - $1"; passed=$((passed + 1)); }
not_ok() {
  echo "not ok - $1"
  sed 's/^/    /' "$tmp/out"
  failed=$((failed + 1))
}

# The control: unbroken copies pass, so a failure below comes from the break.
if lint lint-infra INFRA_TEMPLATES="$tmp/template.yaml" \
  INFRA_MANIFESTS="$tmp/model-deployment.yaml $tmp/rbac.yaml $tmp/pool-lease.yaml" \
  INFRA_LEAST_PRIVILEGE="$tmp/iam-role.yaml $tmp/rbac.yaml $tmp/pool-lease.yaml" \
  INFRA_SCRIPTS="$tmp/node-pool.sh"; then
  ok "unbroken copies pass"
else
  not_ok "unbroken copies pass"
fi
# After the SAM transform (tests/infra/sam-transform.sh, make test-sam-transform).
if lint test-sam-transform INFRA_TEMPLATES="$tmp/template.yaml"; then
  ok "unbroken copy passes the SAM transform checks"
else
  not_ok "unbroken copy passes the SAM transform checks"
fi

# reject: run the case read into from, edits, check, target, description and refusal. Its
# broken copy, $tmp/broken-N-$from, is $tmp/$from with the edits applied; `make $target`
# with $check pointing at it must fail, and say $refusal.
cases=0
reject() {
  if [[ -z "$from" || -z "$description" || -z "$refusal" || ${#edits[@]} == 0 ]]; then
    echo "test setup: a case lacks from, edit, case or refusal (case '$description')" >&2
    exit 1
  fi
  cases=$((cases + 1))
  local copy="broken-$cases-$from"
  sed "${edits[@]}" "$tmp/$from" >"$tmp/$copy"
  if cmp -s "$tmp/$from" "$tmp/$copy"; then
    echo "test setup: '${edits[*]}' changed nothing in $from" >&2
    exit 1
  fi
  if lint "$target" "$check=$tmp/$copy"; then
    not_ok "$description: the validators accepted it"
  elif ! grep -qF -- "$refusal" "$tmp/out"; then
    not_ok "$description: rejected, but without '$refusal'"
  else
    ok "$description"
  fi
}

# next: forget the case read so far.
next() {
  from="" description="" refusal="" edits=() check=INFRA_TEMPLATES target=lint-infra
}

# The cases, one per paragraph, one field a line ("field: value"):
#   from     the unbroken copy it is made from
#   edit     a sed script that breaks it; several edit lines apply in order
#   check    the make variable that points the validators at it (default INFRA_TEMPLATES)
#   target   the make target (default lint-infra)
#   case     what is broken, as the test is named
#   refusal  text that the validators' output must contain
# A line that starts with # is a comment.
next
while IFS= read -r line <&3; do
  if [[ -z "$line" ]]; then
    if [[ -n "$from$description" ]]; then reject; fi
    next
    continue
  fi
  [[ "$line" == \#* ]] && continue
  field="${line%%:*}"
  value="${line#*:}"
  value="${value#"${value%%[! ]*}"}"
  case "$field" in
  from) from="$value" ;;
  edit) edits+=(-e "$value") ;;
  check) check="$value" ;;
  target) target="$value" ;;
  case) description="$value" ;;
  refusal) refusal="$value" ;;
  *)
    echo "test setup: unknown field in '$line'" >&2
    exit 1
    ;;
  esac
done 3<<'CASES'
# CloudFormation: a misspelt property of a function.
from:    template.yaml
edit:    s/^      CodeUri: \.\.\/\.\.\/target\/lambda\/scale-up\//&\n      MemorySise: 256/
case:    template with an unknown function property
refusal: MemorySise

# CloudFormation: a number that is not a number.
from:    template.yaml
edit:    s/^      EvaluationPeriods: !Ref HighEvaluationPeriods$/      EvaluationPeriods: twice/
case:    template with a wrong type
refusal: 'twice' is not of type

# The template's invariants (tests/infra/template_invariants.py): breaks that
# cfn-lint accepts, since each resource stays well formed, but that would let
# the scaling loop stay stuck or hide its failures.

# The heartbeat reaches scale-down no more: its permission is gone.
from:    template.yaml
edit:    /^  ScaleDownInvokedByHeartbeat:$/,/^$/d
case:    template whose heartbeat may not invoke scale-down
refusal: no AWS::Lambda::Permission lets the heartbeat rule HeartbeatRule

# A worker role whose trust admits every service account of the namespace.
from:    template.yaml
edit:    /^  WorkerRole:$/,/^  SecondWorkerRole:$/{/"${WorkerOidcIssuer}:sub": /d;}
case:    template whose worker role trusts any service account
refusal: WorkerRole: its trust's condition is

# A worker role that may also send to its queue.
from:    template.yaml
edit:    /^  WorkerRole:$/,/^  SecondWorkerRole:$/s/^                  - sqs:ChangeMessageVisibility$/&\n                  - sqs:SendMessage/
case:    template whose worker role may send messages
refusal: WorkerRole: may ['sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:ReceiveMessage', 'sqs:SendMessage']

# The doctor may read any role, not the worker roles alone.
from:    template.yaml
edit:    0,/^                    - !GetAtt WorkerRole.Arn$/s//                    - "*"/
case:    template whose functions may read every IAM role
refusal: scale-up: iam:GetRole is granted on a wildcard resource

# The heartbeat targets scale-up only.
from:    template.yaml
edit:    /^        - Id: scale-down$/,/^            MaximumRetryAttempts: 3$/d
case:    template whose heartbeat targets one function
refusal: no enabled EventBridge rule on HeartbeatSchedule targets ScaleDownFunction

# Two models, one stack each: every stack would scale the same Deployment.
from:    template.yaml
edit:    s/^        TARGET_DEPLOYMENT: !If \[OneModel, !Ref TargetDeployment, !Ref AWS::NoValue\]$/        TARGET_DEPLOYMENT: model-worker/
case:    template whose stacks all scale model-worker, whatever TargetDeployment says
refusal: two models, stack text-model: scale-up scales ml/model-worker from 'text-jobs', not text-model

# Two models: the high alarm's name does not follow the stack name, so the
# second stack collides with the first, and both roles re-arm one alarm.
from:    template.yaml
edit:    s/\${AWS::StackName}-backlog-high/backlog-high/g
case:    template whose two stacks create the same alarm
refusal: two models: both stacks create AWS::CloudWatch::Alarm backlog-high

# A role may read every alarm of the account.
from:    template.yaml
edit:    /^                Action: cloudwatch:DescribeAlarms$/{n;n;s/^                  - !Sub .*-backlog-low$/                  - "*"/;}
case:    template with DescribeAlarms on every alarm
refusal: cloudwatch:DescribeAlarms is granted on a wildcard resource

# The heartbeat is told to read an alarm that does not exist (a typo).
from:    template.yaml
edit:    s/^\(          TARGET_ALARMS: !If \[OneModel, !Sub ".*-backlog-lo\)w"/\1"/
case:    template naming an alarm it does not create
refusal: alarm 'qs-backlog-lo' named in its environment is not in the template

# MinReplicas 0 with a wake alarm that needs as many periods as the high one.
from:    template.yaml
edit:    /^  WakeAlarm:$/,/^$/s/^      EvaluationPeriods: 1$/      EvaluationPeriods: !Ref HighEvaluationPeriods/
case:    template without a one-period wake alarm
refusal: MinReplicas 0, WakeAlarmEnabled true: no wake alarm (visible messages > 0 for one period) invokes scale-up

# The wake alarm exists, but scale-up is not told it is a wake alarm.
from:    template.yaml
edit:    /^          TARGET_WAKE_ALARMS: !If$/,/^            - !Ref AWS::NoValue$/d
case:    template whose scale-up does not know its wake alarm
refusal: MinReplicas 0, WakeAlarmEnabled true: scale-up has no TARGET_WAKE_ALARMS

# The wake alarm is created whatever MinReplicas is.
from:    template.yaml
edit:    /^  WakeAlarm:$/,/^    Properties:$/{/^    Condition: CreateWakeAlarm$/d;}
case:    template with a wake alarm when MinReplicas is not 0
refusal: it belongs to MinReplicas 0 with WakeAlarmEnabled true only

# The wake alarm is back whenever MinReplicas is 0, although the heartbeat
# wakes the target: it must be asked for (WakeAlarmEnabled).
from:    template.yaml
edit:    /^  CreateWakeAlarm: !And$/,/^  HasAgeAlarm:/s/^    - !Equals \[!Ref WakeAlarmEnabled, "true"\]$/    - !Equals [!Ref MinReplicas, "0"]/
case:    template whose wake alarm is not optional
refusal: MinReplicas 0, WakeAlarmEnabled false: a wake alarm exists

# The functions are not told which queue to read live.
from:    template.yaml
edit:    /^        TARGET_QUEUES: !If$/,/^          - !Ref AWS::NoValue$/d
case:    template without TARGET_QUEUES
refusal: scale-up: TARGET_QUEUES is None, not the queues

# The roles may read every queue of the account.
from:    template.yaml
edit:    s/^                    - !Sub arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${QueueName}$/                    - !Sub arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:*/
case:    template whose roles may read any queue
refusal: sqs:GetQueueAttributes is granted on a wildcard resource

# The roles may not read the queue at all: no GetQueueUrl.
from:    template.yaml
edit:    s/^                Action: \[sqs:GetQueueAttributes, sqs:GetQueueUrl\]$/                Action: sqs:GetQueueAttributes/
case:    template whose roles may not look up the queue's URL
refusal: scale-down: sqs:GetQueueUrl is granted on [], but its queues are ['<JobQueue.Arn>']

# The age alarm fires, but the heartbeat never reads it (nor may the role re-arm it).
from:    template.yaml
edit:    s/^              - !Sub ${AWS::StackName}-backlog-high,${AWS::StackName}-backlog-age$/              - !Sub ${AWS::StackName}-backlog-high/
case:    template whose age alarm is not in scale-up's TARGET_ALARMS
refusal: the age alarm qs-backlog-age is not in scale-up's TARGET_ALARMS

# The age alarm is on by default.
from:    template.yaml
edit:    /^  AgeAlarm:$/,/^    Properties:$/{/^    Condition: HasAgeAlarm$/d;}
case:    template whose age alarm is not optional
refusal: OldestMessageAgeSeconds empty: an age alarm exists (['AgeAlarm'])

# Scale-down's alarm counts visible messages only: the in-flight jobs are
# forgotten, and the last workers could go to zero while they run.
from:    template.yaml
edit:    /^  LowBacklogAlarm:$/,/^$/s/^          Expression: visible + inflight$/          Expression: visible/
case:    template whose low alarm forgets in-flight messages
refusal: scale-down's alarm counts ApproximateNumberOfMessagesVisible, not ApproximateNumberOfMessagesVisible + ApproximateNumberOfMessagesNotVisible

# ... or counts the visible messages twice.
from:    template.yaml
edit:    /^  LowBacklogAlarm:$/,/^$/s/^          Expression: visible + inflight$/          Expression: visible + visible/
case:    template whose low alarm counts visible messages twice
refusal: scale-down's alarm counts ApproximateNumberOfMessagesVisible + ApproximateNumberOfMessagesVisible, not

# scale-down's failures are not watched.
from:    template.yaml
edit:    /^  ScaleDownErrorsAlarm:$/,/^$/s/^      MetricName: Errors$/      MetricName: Invocations/
case:    template without an Errors alarm for scale-down
refusal: no alarm on the AWS/Lambda Errors metric of ScaleDownFunction

# An evaluation window over one day gets through: no MaxValue any more ...
from:    template.yaml
edit:    /^  LowEvaluationPeriods:$/,/^  AlarmPeriodSeconds:$/{/^    MaxValue: 288$/d;}
case:    template with unbounded evaluation periods
refusal: AlarmPeriodSeconds 300 with LowEvaluationPeriods 289 is accepted

# ... or a Rule that never applies.
from:    template.yaml
edit:    s/RuleCondition: !Equals \[!Ref AlarmPeriodSeconds, "3600"\]/RuleCondition: !Equals [!Ref AlarmPeriodSeconds, "360"]/
case:    template with a one-day rule that never applies
refusal: AlarmPeriodSeconds 3600 with HighEvaluationPeriods 25 is accepted

# The heartbeat's default back at 5 minutes (with its event age): an alarm left
# in ALARM could wait 5 periods, more than the recovery goal of 2.
from:    template.yaml
edit:    /^  HeartbeatSchedule:$/,/^    Default:/s/^    Default: rate(1 minute)$/    Default: rate(5 minutes)/
edit:    /^  MaximumEventAgeSeconds:$/,/^    Default:/s/^    Default: 60$/    Default: 300/
case:    template whose default heartbeat misses the recovery goal
refusal: HeartbeatSchedule: its default rate(5 minutes) (300 s) lets an alarm left in ALARM wait more than 2 periods

# The heartbeat's default back at 2 minutes: a target at 0 waits longer for its first replica.
from:    template.yaml
edit:    /^  HeartbeatSchedule:$/,/^    Default:/s/^    Default: rate(1 minute)$/    Default: rate(2 minutes)/
edit:    /^  MaximumEventAgeSeconds:$/,/^    Default:/s/^    Default: 60$/    Default: 120/
case:    template whose default heartbeat is not every minute
refusal: HeartbeatSchedule: its default rate(2 minutes) (120 s) is longer than one minute

# The heartbeat's pattern takes any unit for any number again.
from:    template.yaml
edit:    /^  HeartbeatSchedule:$/,/^    ConstraintDescription:/s/^    AllowedPattern: .*/    AllowedPattern: "^(rate\\\\([1-9][0-9]* (minute|minutes|hour|hours|day|days)\\\\)|cron\\\\([^()]+\\\\))$"/
case:    template whose HeartbeatSchedule accepts rate(1 minutes)
refusal: HeartbeatSchedule: 'rate(1 minutes)' is accepted by its AllowedPattern

# The event age no longer follows the heartbeat.
from:    template.yaml
edit:    /^  MaximumEventAgeSeconds:$/,/^    Default:/s/^    Default: 60$/    Default: 300/
case:    template whose default event age is not one heartbeat interval
refusal: MaximumEventAgeSeconds: its default 300 s is not one interval of the default HeartbeatSchedule

# Keyless, the roles may still read secrets: the statement is no longer tied to
# the key path, and names every secret of the account instead of the one.
from:    template.yaml
edit:    s|^                - UseKeySecret$|                - UseClusterName|
edit:    s|^                  Resource: !Ref ServiceAccountKeySecretArn$|                  Resource: !Sub "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:*"|
case:    template whose keyless roles may still read the secret
refusal: keyless, but its role may still use Secrets Manager

# Keyless, but the functions are not given the configuration.
from:    template.yaml
edit:    /^        GCP_CREDENTIAL_CONFIG: /d
case:    template that does not pass GcpCredentialConfig to the functions
refusal: keyless, but GCP_CREDENTIAL_CONFIG is not GcpCredentialConfig

# Neither credential is required any more: the Rule is gone.
from:    template.yaml
edit:    /^  OneGoogleCredential:$/,/^  KmsKeyOnlyWithSecret:$/{/^  KmsKeyOnlyWithSecret:$/!d;}
case:    template that accepts neither credential, or both
refusal: the template accepts neither GcpCredentialConfig nor ServiceAccountKeySecretArn

# The credential configuration would take a service-account key.
from:    template.yaml
edit:    /^  GcpCredentialConfig:$/,/^  ServiceAccountKeySecretArn:$/{/^    AllowedPattern: /d;}
case:    template whose GcpCredentialConfig accepts a service-account key
refusal: GcpCredentialConfig accepts a service-account key

# Rollback: what invokes a function must name its alias live, which
# make rollback moves. An alarm that invokes the function itself runs
# $LATEST, whatever version the alias points at.
from:    template.yaml
edit:    /^  HighBacklogAlarm:$/,/^$/s/^        - !Ref ScaleUpFunction.Alias$/        - !GetAtt ScaleUpFunction.Arn/
case:    template whose alarm invokes $LATEST instead of the alias
refusal: HighBacklogAlarm: the alarm invokes ScaleUpFunction unqualified ($LATEST), not its alias

# The heartbeat's permission is on the function, not on the alias it targets.
from:    template.yaml
edit:    /^  ScaleDownInvokedByHeartbeat:$/,/^$/s/FunctionName: !Ref ScaleDownFunction.Alias$/FunctionName: !Ref ScaleDownFunction/
case:    template whose heartbeat permission is not on the alias
refusal: ScaleDownInvokedByHeartbeat: the Lambda permission names ScaleDownFunction itself, not its alias

# The retry settings and the failure queue apply to $LATEST, which nothing invokes.
from:    template.yaml
edit:    /^  ScaleUpInvokeConfig:$/,/^$/s/^      Qualifier: live$/      Qualifier: $LATEST/
case:    template whose invoke config is not the alias's
refusal: scale-up: no EventInvokeConfig with an on-failure destination for its alias live

# No version is published, so there is nothing to roll back to.
from:    template.yaml
edit:    /^    AutoPublishAlias: live$/d
case:    template without AutoPublishAlias
refusal: ScaleUpFunction has no AutoPublishAlias, so SAM creates no alias and no version

# The job queue goes with the stack again, and its jobs with it (both
# policies gone: cfn-lint itself warns when only one of them is there).
from:    template.yaml
edit:    /^  JobQueue:$/,/^    Properties:$/{/^    \(DeletionPolicy\|UpdateReplacePolicy\): Retain$/d;}
case:    template whose job queue is deleted with the stack
refusal: JobQueue: the job queue the stack creates has DeletionPolicy Delete (the default), not Retain

# ReservedConcurrency accepts 0, which would stop both functions ...
from:    template.yaml
edit:    /^  ReservedConcurrency:$/,/^    Description:/s/^    AllowedPattern: .*/    AllowedPattern: "^$|^[0-9]+$"/
case:    template whose ReservedConcurrency accepts 0
refusal: ReservedConcurrency: '0' is accepted (0 would stop both functions)

# ... or reaches scale-up only.
from:    template.yaml
edit:    /^    ReservedConcurrentExecutions: /d
edit:    s/^      Role: !GetAtt ScaleUpRole.Arn$/&\n      ReservedConcurrentExecutions: !If [HasReservedConcurrency, !Ref ReservedConcurrency, !Ref AWS::NoValue]/
case:    template that reserves concurrency for one function only
refusal: scale-down: ReservedConcurrentExecutions is unset, but ReservedConcurrency is 2

# The dashboard's body is JSON only without the wake alarm: with MinReplicas 0
# its ARN lands after a comma too many.
from:    template.yaml
edit:    s/^\( *"${LowBacklogAlarm.Arn}"\)${AgeAlarmArn}${WakeAlarmArn}${SecondAlarmArns},$/\1,${AgeAlarmArn}${WakeAlarmArn}${SecondAlarmArns},/
case:    template whose dashboard is not JSON with MinReplicas 0
refusal: Dashboard: DashboardBody is not valid JSON with widgets after substitution

# The dashboard leaves the wake alarm out of the alarm status widget.
from:    template.yaml
edit:    /^          WakeAlarmArn: /s/: .*/: ""/
case:    template whose dashboard does not show the wake alarm
refusal: the alarm status widget does not show exactly the stack's alarms; missing ['<WakeAlarm.Arn>']

# The dashboard shows the replicas of scale-up only.
from:    template.yaml
edit:    /"ReplicasAfter", .*"Direction", "down"/d
case:    template whose dashboard does not show scale-down's replicas
refusal: the dashboard does not show QueueScaler ReplicasAfter (Target ml/model-worker, Direction down)

# Two models in one stack: the second model's high alarm watches the first model's queue.
from:    template.yaml
edit:    /^  SecondHighBacklogAlarm:$/,/^  SecondLowBacklogAlarm:$/s/^          Value: !Ref SecondQueueName$/          Value: text-jobs/
case:    template whose second model's high alarm watches the first model's queue
refusal: image-model's alarm qs-image-model-backlog-high watches ['text-jobs'], not its queue image-jobs

# Two models in one stack: scale-down's table is not JSON once substituted.
from:    template.yaml
edit:    s/^                "scale_step": \${ScaleStep}\${SecondPerReplica}\${SecondPool}\${SecondWorker}}]$/                "scale_step": ${ScaleStep}${SecondPerReplica}${SecondPool}${SecondWorker}]/
case:    template whose routing table is not JSON
refusal: SCALER_TARGETS is not JSON once substituted

# Two models in one stack: the roles may not read the second model's queue.
from:    template.yaml
edit:    /^                    - HasSecondModel$/{N;s/\n                    - !Sub arn:\${AWS::Partition}:sqs:.*/\n                    - !Ref AWS::NoValue/}
case:    template whose roles may not read the second model's queue
refusal: but its queues are

# After the SAM transform (tests/infra/sam-transform.sh, make
# test-sam-transform): what CloudFormation really deploys.

# A DeletionPolicy on the function reaches the version SAM generates: the
# source template's checks do not see it, the transformed one shows it.
from:    template.yaml
edit:    s/^  ScaleUpFunction:$/&\n    DeletionPolicy: Delete/
target:  test-sam-transform
case:    template whose versions are not retained after the transform
refusal: DeletionPolicy Delete, not Retain

# An alarm that invokes the function, not its alias, after the transform.
from:    template.yaml
edit:    /^  LowBacklogAlarm:$/,/^$/s/^        - !Ref ScaleDownFunction.Alias$/        - !GetAtt ScaleDownFunction.Arn/
target:  test-sam-transform
case:    template whose alarm invokes the function after the transform
refusal: LowBacklogAlarm: an alarm action names ['ScaleDownFunction'], not Ref of the alias live

# A heartbeat permission on the function, not on the alias, after the transform.
from:    template.yaml
edit:    /^  ScaleUpInvokedByHeartbeat:$/,/^$/s/FunctionName: !Ref ScaleUpFunction.Alias$/FunctionName: !Ref ScaleUpFunction/
target:  test-sam-transform
case:    template whose permission is not on the alias after the transform
refusal: ScaleUpInvokedByHeartbeat: the invoke permission is on {'Ref': 'ScaleUpFunction'}, not on the alias live

# Kubernetes: a misspelt field, which only strict validation catches.
from:    model-deployment.yaml
edit:    s/^          imagePullPolicy: Always$/          imagePullPolicy: Always\n          imagePulPolicy: Always/
check:   INFRA_MANIFESTS
case:    deployment with an unknown field
refusal: 'imagePulPolicy' was unexpected

# Kubernetes: a value of the wrong type.
from:    model-deployment.yaml
edit:    s/^      terminationGracePeriodSeconds: .*/      terminationGracePeriodSeconds: ten-minutes/
check:   INFRA_MANIFESTS
case:    deployment with a wrong type
refusal: 'ten-minutes' is not of type

# Kubernetes RBAC: verbs must be a list.
from:    rbac.yaml
edit:    s/^    verbs: .*/    verbs: update/
check:   INFRA_MANIFESTS
case:    role with a wrong type
refusal: 'update' is not of type 'array'

# Least privilege (tests/infra/least-privilege.sh): RBAC that is well formed
# but grants what the functions do not use, or misses the Events rule.
from:    rbac.yaml
edit:    /^  - apiGroups: \["events.k8s.io"\]$/,/^    verbs: \["create"\]$/d
check:   INFRA_LEAST_PRIVILEGE
case:    role without create on events
refusal: no rule grants exactly create on events (events.k8s.io)

from:    rbac.yaml
edit:    s/^    verbs: \["create"\]$/    verbs: ["create", "list", "watch"]/
check:   INFRA_LEAST_PRIVILEGE
case:    role that may also read events
refusal: Role queue-scaler: a rule the functions do not need

from:    rbac.yaml
edit:    /^    resourceNames: \["model-worker"\]$/d
check:   INFRA_LEAST_PRIVILEGE
case:    role on the scale of every deployment
refusal: the get and update on deployments/scale rule names no Deployment (resourceNames)

from:    rbac.yaml
edit:    s/^    verbs: \["get"\]$/    verbs: ["get", "list", "watch"]/
check:   INFRA_LEAST_PRIVILEGE
case:    role that may list and watch every deployment
refusal: no rule grants exactly get on deployments (apps)

# The pool's Lease: a grant wider than get and update, or on every Lease.
from:    pool-lease.yaml
edit:    s/^    verbs: \["get", "update"\]$/    verbs: ["get", "update", "delete"]/
check:   INFRA_LEAST_PRIVILEGE
case:    pool role that may also delete the Lease
refusal: must grant exactly get and update on leases (coordination.k8s.io)

from:    pool-lease.yaml
edit:    /^    resourceNames: \["queue-scaler-pool-gpu-pool"\]$/d
check:   INFRA_LEAST_PRIVILEGE
case:    pool role on every Lease of the namespace
refusal: the leases rule must name exactly the Lease of this file

# Google IAM: the custom role may also list every cluster.
from:    iam-role.yaml
edit:    s/^  - container.clusters.connect$/&\n  - container.clusters.list/
check:   INFRA_LEAST_PRIVILEGE
case:    IAM role with a permission the functions do not use
refusal: the IAM role must grant exactly container.clusters.get and container.clusters.connect; it also grants ['container.clusters.list']

# ... or lacks the permission that the DNS endpoint checks.
from:    iam-role.yaml
edit:    /^  - container.clusters.connect$/d
check:   INFRA_LEAST_PRIVILEGE
case:    IAM role without container.clusters.connect
refusal: it lacks ['container.clusters.connect']

# Shell: `local` outside a function is an error in bash.
from:    node-pool.sh
edit:    s/^set -euo pipefail$/&\nlocal broken=1/
check:   INFRA_SCRIPTS
case:    script with a shell error
refusal: SC2168
CASES
if [[ -n "$from$description" ]]; then reject; fi

echo "validate-infra-rejects-broken: $passed passed, $failed failed"
(( failed == 0 ))
