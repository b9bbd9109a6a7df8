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
cp "$root/infra/gke/node-pool.sh" "$tmp/node-pool.sh"

passed=0
failed=0

# lint VAR=files... : run the make target ($target, default lint-infra) on
# other files; output in $tmp/out.
lint() {
  make --no-print-directory -C "$root" "${target:-lint-infra}" "$@" >"$tmp/out" 2>&1
}

# break_copy NAME SRC SED_SCRIPT: write $tmp/NAME, a broken copy of SRC.
# Or: break_copy NAME SRC -e SCRIPT -e SCRIPT..., for several edits.
break_copy() {
  local name="$1" src="$2"
  shift 2
  if [[ "$1" != -e ]]; then set -- -e "$1"; fi
  sed "$@" "$tmp/$src" >"$tmp/$name"
  if cmp -s "$tmp/$src" "$tmp/$name"; then
    echo "test setup: '$*' changed nothing in $src" >&2
    exit 1
  fi
}

ok() { echo "ok - $1"; passed=$((passed + 1)); }
not_ok() {
  echo "not ok - $1"
  sed 's/^/    /' "$tmp/out"
  failed=$((failed + 1))
}

# expect_rejected DESCRIPTION EXPECTED_TEXT VAR=files...
expect_rejected() {
  local description="$1" expected="$2"
  shift 2
  if lint "$@"; then
    not_ok "$description: the validators accepted it"
  elif ! grep -qF -- "$expected" "$tmp/out"; then
    not_ok "$description: rejected, but without '$expected'"
  else
    ok "$description"
  fi
}

# The control: unbroken copies pass.
if lint INFRA_TEMPLATES="$tmp/template.yaml" \
  INFRA_MANIFESTS="$tmp/model-deployment.yaml $tmp/rbac.yaml" \
  INFRA_LEAST_PRIVILEGE="$tmp/iam-role.yaml $tmp/rbac.yaml" \
  INFRA_SCRIPTS="$tmp/node-pool.sh"; then
  ok "unbroken copies pass"
else
  not_ok "unbroken copies pass"
fi

# CloudFormation: a misspelt property of a function.
break_copy template-unknown-property.yaml template.yaml \
  's/^      CodeUri: \.\.\/\.\.\/target\/lambda\/scale-up\//&\n      MemorySise: 256/'
expect_rejected "template with an unknown function property" "MemorySise" \
  INFRA_TEMPLATES="$tmp/template-unknown-property.yaml"

# CloudFormation: a number that is not a number.
break_copy template-wrong-type.yaml template.yaml \
  's/^      EvaluationPeriods: !Ref HighEvaluationPeriods$/      EvaluationPeriods: twice/'
expect_rejected "template with a wrong type" "'twice' is not of type" \
  INFRA_TEMPLATES="$tmp/template-wrong-type.yaml"

# The template's invariants (tests/infra/template_invariants.py): breaks that
# cfn-lint accepts, since each resource stays well formed, but that would let
# the scaling loop stay stuck or hide its failures.

# The heartbeat reaches scale-down no more: its permission is gone.
break_copy template-no-heartbeat-permission.yaml template.yaml \
  '/^  ScaleDownInvokedByHeartbeat:$/,/^$/d'
expect_rejected "template whose heartbeat may not invoke scale-down" \
  "no AWS::Lambda::Permission lets the heartbeat rule HeartbeatRule" \
  INFRA_TEMPLATES="$tmp/template-no-heartbeat-permission.yaml"

# The heartbeat targets scale-up only.
break_copy template-heartbeat-one-target.yaml template.yaml \
  '/^        - Id: scale-down$/,/^            MaximumRetryAttempts: 3$/d'
expect_rejected "template whose heartbeat targets one function" \
  "no enabled EventBridge rule on HeartbeatSchedule targets ScaleDownFunction" \
  INFRA_TEMPLATES="$tmp/template-heartbeat-one-target.yaml"

# Two models, one stack each: every stack would scale the same Deployment.
break_copy template-one-deployment.yaml template.yaml \
  's/^        TARGET_DEPLOYMENT: !Ref TargetDeployment$/        TARGET_DEPLOYMENT: model-worker/'
expect_rejected "template whose stacks all scale model-worker, whatever TargetDeployment says" \
  "two models, stack text-model: scale-up scales ml/model-worker from 'text-jobs', not text-model" \
  INFRA_TEMPLATES="$tmp/template-one-deployment.yaml"

# Two models: the high alarm's name does not follow the stack name, so the
# second stack collides with the first, and both roles re-arm one alarm.
# shellcheck disable=SC2016 # the template's own ${...}, not the shell's
break_copy template-shared-alarm-name.yaml template.yaml 's/\${AWS::StackName}-backlog-high/backlog-high/g'
expect_rejected "template whose two stacks create the same alarm" \
  "two models: both stacks create AWS::CloudWatch::Alarm backlog-high" \
  INFRA_TEMPLATES="$tmp/template-shared-alarm-name.yaml"

# A role may read every alarm of the account.
break_copy template-describe-any-alarm.yaml template.yaml \
  '/^                Action: cloudwatch:DescribeAlarms$/{n;N;s/^                Resource:\n                  - !Sub .*-backlog-low$/                Resource: "*"/;}'
expect_rejected "template with DescribeAlarms on every alarm" \
  "cloudwatch:DescribeAlarms is granted on a wildcard resource" \
  INFRA_TEMPLATES="$tmp/template-describe-any-alarm.yaml"

# The heartbeat is told to read an alarm that does not exist (a typo).
break_copy template-wrong-target-alarm.yaml template.yaml \
  's/^\(          TARGET_ALARMS: !Sub .*-backlog-lo\)w$/\1/'
expect_rejected "template naming an alarm it does not create" \
  "alarm 'qs-backlog-lo' named in its environment is not in the template" \
  INFRA_TEMPLATES="$tmp/template-wrong-target-alarm.yaml"

# MinReplicas 0 with a wake alarm that needs as many periods as the high one.
break_copy template-slow-wake.yaml template.yaml \
  '/^  WakeAlarm:$/,/^$/s/^      EvaluationPeriods: 1$/      EvaluationPeriods: !Ref HighEvaluationPeriods/'
expect_rejected "template without a one-period wake alarm" \
  "MinReplicas 0, WakeAlarmEnabled true: no wake alarm (visible messages > 0 for one period) invokes scale-up" \
  INFRA_TEMPLATES="$tmp/template-slow-wake.yaml"

# The wake alarm exists, but scale-up is not told it is a wake alarm.
break_copy template-wake-not-named.yaml template.yaml \
  '/^          TARGET_WAKE_ALARMS: /d'
expect_rejected "template whose scale-up does not know its wake alarm" \
  "MinReplicas 0, WakeAlarmEnabled true: scale-up has no TARGET_WAKE_ALARMS" \
  INFRA_TEMPLATES="$tmp/template-wake-not-named.yaml"

# The wake alarm is created whatever MinReplicas is.
break_copy template-wake-always.yaml template.yaml \
  '/^  WakeAlarm:$/,/^    Properties:$/{/^    Condition: CreateWakeAlarm$/d;}'
expect_rejected "template with a wake alarm when MinReplicas is not 0" \
  "it belongs to MinReplicas 0 with WakeAlarmEnabled true only" \
  INFRA_TEMPLATES="$tmp/template-wake-always.yaml"

# The wake alarm is back whenever MinReplicas is 0, although the heartbeat
# wakes the target: it must be asked for (WakeAlarmEnabled).
break_copy template-wake-not-optional.yaml template.yaml \
  '/^  CreateWakeAlarm: !And$/,/^  HasAgeAlarm:/s/^    - !Equals \[!Ref WakeAlarmEnabled, "true"\]$/    - !Equals [!Ref MinReplicas, "0"]/'
expect_rejected "template whose wake alarm is not optional" \
  "MinReplicas 0, WakeAlarmEnabled false: a wake alarm exists" \
  INFRA_TEMPLATES="$tmp/template-wake-not-optional.yaml"

# The functions are not told which queue to read live.
break_copy template-no-target-queues.yaml template.yaml \
  '/^        TARGET_QUEUES: /d'
expect_rejected "template without TARGET_QUEUES" \
  "scale-up: TARGET_QUEUES is None, not the queue" \
  INFRA_TEMPLATES="$tmp/template-no-target-queues.yaml"

# The roles may read every queue of the account.
# shellcheck disable=SC2016 # ${...} is CloudFormation's, not the shell's
break_copy template-read-any-queue.yaml template.yaml \
  's/^                  - !Sub arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${QueueName}$/                  - !Sub arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:*/'
expect_rejected "template whose roles may read any queue" \
  "sqs:GetQueueAttributes is granted on a wildcard resource" \
  INFRA_TEMPLATES="$tmp/template-read-any-queue.yaml"

# The roles may not read the queue at all: no GetQueueUrl.
break_copy template-no-queue-url.yaml template.yaml \
  's/^                Action: \[sqs:GetQueueAttributes, sqs:GetQueueUrl\]$/                Action: sqs:GetQueueAttributes/'
expect_rejected "template whose roles may not look up the queue's URL" \
  "scale-down: sqs:GetQueueUrl is granted on [], but its queue is ['<JobQueue.Arn>']" \
  INFRA_TEMPLATES="$tmp/template-no-queue-url.yaml"

# The age alarm fires, but the heartbeat never reads it (nor may the role re-arm it).
# shellcheck disable=SC2016 # ${...} is CloudFormation's, not the shell's
break_copy template-age-not-named.yaml template.yaml \
  's/^            - !Sub ${AWS::StackName}-backlog-high,${AWS::StackName}-backlog-age$/            - !Sub ${AWS::StackName}-backlog-high/'
expect_rejected "template whose age alarm is not in scale-up's TARGET_ALARMS" \
  "the age alarm qs-backlog-age is not in scale-up's TARGET_ALARMS" \
  INFRA_TEMPLATES="$tmp/template-age-not-named.yaml"

# The age alarm is on by default.
break_copy template-age-always.yaml template.yaml \
  '/^  AgeAlarm:$/,/^    Properties:$/{/^    Condition: HasAgeAlarm$/d;}'
expect_rejected "template whose age alarm is not optional" \
  "OldestMessageAgeSeconds empty: an age alarm exists (['AgeAlarm'])" \
  INFRA_TEMPLATES="$tmp/template-age-always.yaml"

# Scale-down's alarm counts visible messages only: the in-flight jobs are
# forgotten, and the last workers could go to zero while they run.
break_copy template-low-visible-only.yaml template.yaml \
  '/^  LowBacklogAlarm:$/,/^$/s/^          Expression: visible + inflight$/          Expression: visible/'
expect_rejected "template whose low alarm forgets in-flight messages" \
  "scale-down's alarm counts ApproximateNumberOfMessagesVisible, not ApproximateNumberOfMessagesVisible + ApproximateNumberOfMessagesNotVisible" \
  INFRA_TEMPLATES="$tmp/template-low-visible-only.yaml"

# ... or counts the visible messages twice.
break_copy template-low-visible-twice.yaml template.yaml \
  '/^  LowBacklogAlarm:$/,/^$/s/^          Expression: visible + inflight$/          Expression: visible + visible/'
expect_rejected "template whose low alarm counts visible messages twice" \
  "scale-down's alarm counts ApproximateNumberOfMessagesVisible + ApproximateNumberOfMessagesVisible, not" \
  INFRA_TEMPLATES="$tmp/template-low-visible-twice.yaml"

# scale-down's failures are not watched.
break_copy template-no-errors-alarm.yaml template.yaml \
  '/^  ScaleDownErrorsAlarm:$/,/^$/s/^      MetricName: Errors$/      MetricName: Invocations/'
expect_rejected "template without an Errors alarm for scale-down" \
  "no alarm on the AWS/Lambda Errors metric of ScaleDownFunction" \
  INFRA_TEMPLATES="$tmp/template-no-errors-alarm.yaml"

# An evaluation window over one day gets through: no MaxValue any more ...
break_copy template-unbounded-periods.yaml template.yaml \
  '/^  LowEvaluationPeriods:$/,/^  AlarmPeriodSeconds:$/{/^    MaxValue: 288$/d;}'
expect_rejected "template with unbounded evaluation periods" \
  "AlarmPeriodSeconds 300 with LowEvaluationPeriods 289 is accepted" \
  INFRA_TEMPLATES="$tmp/template-unbounded-periods.yaml"

# ... or a Rule that never applies.
break_copy template-rule-never-applies.yaml template.yaml \
  's/RuleCondition: !Equals \[!Ref AlarmPeriodSeconds, "3600"\]/RuleCondition: !Equals [!Ref AlarmPeriodSeconds, "360"]/'
expect_rejected "template with a one-day rule that never applies" \
  "AlarmPeriodSeconds 3600 with HighEvaluationPeriods 25 is accepted" \
  INFRA_TEMPLATES="$tmp/template-rule-never-applies.yaml"

# The heartbeat's default back at 5 minutes (with its event age): an alarm left
# in ALARM could wait 5 periods, more than the recovery goal of 2.
break_copy template-slow-heartbeat.yaml template.yaml \
  -e '/^  HeartbeatSchedule:$/,/^    Default:/s/^    Default: rate(1 minute)$/    Default: rate(5 minutes)/' \
  -e '/^  MaximumEventAgeSeconds:$/,/^    Default:/s/^    Default: 60$/    Default: 300/'
expect_rejected "template whose default heartbeat misses the recovery goal" \
  "HeartbeatSchedule: its default rate(5 minutes) (300 s) lets an alarm left in ALARM wait more than 2 periods" \
  INFRA_TEMPLATES="$tmp/template-slow-heartbeat.yaml"

# The heartbeat's default back at 2 minutes: a target at 0 waits longer for its first replica.
break_copy template-heartbeat-two-minutes.yaml template.yaml \
  -e '/^  HeartbeatSchedule:$/,/^    Default:/s/^    Default: rate(1 minute)$/    Default: rate(2 minutes)/' \
  -e '/^  MaximumEventAgeSeconds:$/,/^    Default:/s/^    Default: 60$/    Default: 120/'
expect_rejected "template whose default heartbeat is not every minute" \
  "HeartbeatSchedule: its default rate(2 minutes) (120 s) is longer than one minute" \
  INFRA_TEMPLATES="$tmp/template-heartbeat-two-minutes.yaml"

# The heartbeat's pattern takes any unit for any number again.
break_copy template-schedule-any-unit.yaml template.yaml \
  '/^  HeartbeatSchedule:$/,/^    ConstraintDescription:/s/^    AllowedPattern: .*/    AllowedPattern: "^(rate\\\\([1-9][0-9]* (minute|minutes|hour|hours|day|days)\\\\)|cron\\\\([^()]+\\\\))$"/'
expect_rejected "template whose HeartbeatSchedule accepts rate(1 minutes)" \
  "HeartbeatSchedule: 'rate(1 minutes)' is accepted by its AllowedPattern" \
  INFRA_TEMPLATES="$tmp/template-schedule-any-unit.yaml"

# The event age no longer follows the heartbeat.
break_copy template-event-age-not-heartbeat.yaml template.yaml \
  '/^  MaximumEventAgeSeconds:$/,/^    Default:/s/^    Default: 60$/    Default: 300/'
expect_rejected "template whose default event age is not one heartbeat interval" \
  "MaximumEventAgeSeconds: its default 300 s is not one interval of the default HeartbeatSchedule" \
  INFRA_TEMPLATES="$tmp/template-event-age-not-heartbeat.yaml"

# Keyless, the roles may still read secrets: the statement is no longer tied to
# the key path, and names every secret of the account instead of the one.
# shellcheck disable=SC2016 # ${AWS::...} is CloudFormation's, not the shell's
break_copy template-keyless-reads-secret.yaml template.yaml \
  -e 's|^                - UseKeySecret$|                - UseClusterName|' \
  -e 's|^                  Resource: !Ref ServiceAccountKeySecretArn$|                  Resource: !Sub "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:*"|'
expect_rejected "template whose keyless roles may still read the secret" \
  "keyless, but its role may still use Secrets Manager" \
  INFRA_TEMPLATES="$tmp/template-keyless-reads-secret.yaml"

# Keyless, but the functions are not given the configuration.
break_copy template-keyless-no-config.yaml template.yaml \
  '/^        GCP_CREDENTIAL_CONFIG: /d'
expect_rejected "template that does not pass GcpCredentialConfig to the functions" \
  "keyless, but GCP_CREDENTIAL_CONFIG is not GcpCredentialConfig" \
  INFRA_TEMPLATES="$tmp/template-keyless-no-config.yaml"

# Neither credential is required any more: the Rule is gone.
break_copy template-no-credential-rule.yaml template.yaml \
  '/^  OneGoogleCredential:$/,/^  KmsKeyOnlyWithSecret:$/{/^  KmsKeyOnlyWithSecret:$/!d;}'
expect_rejected "template that accepts neither credential, or both" \
  "the template accepts neither GcpCredentialConfig nor ServiceAccountKeySecretArn" \
  INFRA_TEMPLATES="$tmp/template-no-credential-rule.yaml"

# The credential configuration would take a service-account key.
break_copy template-config-takes-a-key.yaml template.yaml \
  '/^  GcpCredentialConfig:$/,/^  ServiceAccountKeySecretArn:$/{/^    AllowedPattern: /d;}'
expect_rejected "template whose GcpCredentialConfig accepts a service-account key" \
  "GcpCredentialConfig accepts a service-account key" \
  INFRA_TEMPLATES="$tmp/template-config-takes-a-key.yaml"

# Rollback: what invokes a function must name its alias live, which
# make rollback moves. An alarm that invokes the function itself runs
# $LATEST, whatever version the alias points at.
break_copy template-alarm-invokes-latest.yaml template.yaml \
  '/^  HighBacklogAlarm:$/,/^$/s/^        - !Ref ScaleUpFunction.Alias$/        - !GetAtt ScaleUpFunction.Arn/'
expect_rejected "template whose alarm invokes \$LATEST instead of the alias" \
  "HighBacklogAlarm: the alarm invokes ScaleUpFunction unqualified (\$LATEST), not its alias" \
  INFRA_TEMPLATES="$tmp/template-alarm-invokes-latest.yaml"

# The heartbeat's permission is on the function, not on the alias it targets.
break_copy template-permission-not-alias.yaml template.yaml \
  '/^  ScaleDownInvokedByHeartbeat:$/,/^$/s/FunctionName: !Ref ScaleDownFunction.Alias$/FunctionName: !Ref ScaleDownFunction/'
expect_rejected "template whose heartbeat permission is not on the alias" \
  "ScaleDownInvokedByHeartbeat: the Lambda permission names ScaleDownFunction itself, not its alias" \
  INFRA_TEMPLATES="$tmp/template-permission-not-alias.yaml"

# The retry settings and the failure queue apply to $LATEST, which nothing invokes.
# shellcheck disable=SC2016 # $LATEST is Lambda's, not the shell's
break_copy template-invoke-config-latest.yaml template.yaml \
  '/^  ScaleUpInvokeConfig:$/,/^$/s/^      Qualifier: live$/      Qualifier: $LATEST/'
expect_rejected "template whose invoke config is not the alias's" \
  "scale-up: no EventInvokeConfig with an on-failure destination for its alias live" \
  INFRA_TEMPLATES="$tmp/template-invoke-config-latest.yaml"

# No version is published, so there is nothing to roll back to.
break_copy template-no-alias.yaml template.yaml \
  '/^    AutoPublishAlias: live$/d'
expect_rejected "template without AutoPublishAlias" \
  "ScaleUpFunction has no AutoPublishAlias, so SAM creates no alias and no version" \
  INFRA_TEMPLATES="$tmp/template-no-alias.yaml"

# The job queue goes with the stack again, and its jobs with it (both
# policies gone: cfn-lint itself warns when only one of them is there).
break_copy template-queue-not-retained.yaml template.yaml \
  '/^  JobQueue:$/,/^    Properties:$/{/^    \(DeletionPolicy\|UpdateReplacePolicy\): Retain$/d;}'
expect_rejected "template whose job queue is deleted with the stack" \
  "JobQueue: the job queue the stack creates has DeletionPolicy Delete (the default), not Retain" \
  INFRA_TEMPLATES="$tmp/template-queue-not-retained.yaml"

# ReservedConcurrency accepts 0, which would stop both functions ...
break_copy template-reserve-zero.yaml template.yaml \
  '/^  ReservedConcurrency:$/,/^    Description:/s/^    AllowedPattern: .*/    AllowedPattern: "^$|^[0-9]+$"/'
expect_rejected "template whose ReservedConcurrency accepts 0" \
  "ReservedConcurrency: '0' is accepted (0 would stop both functions)" \
  INFRA_TEMPLATES="$tmp/template-reserve-zero.yaml"

# ... or reaches scale-up only.
break_copy template-reserve-one-function.yaml template.yaml \
  -e '/^    ReservedConcurrentExecutions: /d' \
  -e 's/^      Role: !GetAtt ScaleUpRole.Arn$/&\n      ReservedConcurrentExecutions: !If [HasReservedConcurrency, !Ref ReservedConcurrency, !Ref AWS::NoValue]/'
expect_rejected "template that reserves concurrency for one function only" \
  "scale-down: ReservedConcurrentExecutions is unset, but ReservedConcurrency is 2" \
  INFRA_TEMPLATES="$tmp/template-reserve-one-function.yaml"

# The dashboard's body is JSON only without the wake alarm: with MinReplicas 0
# its ARN lands after a comma too many.
# shellcheck disable=SC2016 # ${...} is CloudFormation's, not the shell's
break_copy template-dashboard-not-json.yaml template.yaml \
  's/^\( *"${LowBacklogAlarm.Arn}"\)${AgeAlarmArn}${WakeAlarmArn},$/\1,${AgeAlarmArn}${WakeAlarmArn},/'
expect_rejected "template whose dashboard is not JSON with MinReplicas 0" \
  "Dashboard: DashboardBody is not valid JSON with widgets after substitution" \
  INFRA_TEMPLATES="$tmp/template-dashboard-not-json.yaml"

# The dashboard leaves the wake alarm out of the alarm status widget.
break_copy template-dashboard-no-wake.yaml template.yaml \
  '/^          WakeAlarmArn: /s/: .*/: ""/'
expect_rejected "template whose dashboard does not show the wake alarm" \
  "the alarm status widget does not show exactly the stack's alarms; missing ['<WakeAlarm.Arn>']" \
  INFRA_TEMPLATES="$tmp/template-dashboard-no-wake.yaml"

# The dashboard shows the replicas of scale-up only.
break_copy template-dashboard-no-down.yaml template.yaml \
  '/"ReplicasAfter", .*"Direction", "down"/d'
expect_rejected "template whose dashboard does not show scale-down's replicas" \
  "the dashboard does not show QueueScaler ReplicasAfter (Target ml/model-worker, Direction down)" \
  INFRA_TEMPLATES="$tmp/template-dashboard-no-down.yaml"

# After the SAM transform (tests/infra/sam-transform.sh, make
# test-sam-transform): what CloudFormation really deploys.
if target=test-sam-transform lint INFRA_TEMPLATES="$tmp/template.yaml"; then
  ok "unbroken copy passes the SAM transform checks"
else
  not_ok "unbroken copy passes the SAM transform checks"
fi

# A DeletionPolicy on the function reaches the version SAM generates: the
# source template's checks do not see it, the transformed one shows it.
break_copy template-versions-deleted.yaml template.yaml \
  's/^  ScaleUpFunction:$/&\n    DeletionPolicy: Delete/'
target=test-sam-transform expect_rejected "template whose versions are not retained after the transform" \
  "DeletionPolicy Delete, not Retain" INFRA_TEMPLATES="$tmp/template-versions-deleted.yaml"

# An alarm that invokes the function, not its alias, after the transform.
break_copy template-transform-alarm-latest.yaml template.yaml \
  '/^  LowBacklogAlarm:$/,/^$/s/^        - !Ref ScaleDownFunction.Alias$/        - !GetAtt ScaleDownFunction.Arn/'
target=test-sam-transform expect_rejected "template whose alarm invokes the function after the transform" \
  "LowBacklogAlarm: an alarm action names ['ScaleDownFunction'], not Ref of the alias live" \
  INFRA_TEMPLATES="$tmp/template-transform-alarm-latest.yaml"

# A heartbeat permission on the function, not on the alias, after the transform.
break_copy template-transform-permission.yaml template.yaml \
  '/^  ScaleUpInvokedByHeartbeat:$/,/^$/s/FunctionName: !Ref ScaleUpFunction.Alias$/FunctionName: !Ref ScaleUpFunction/'
target=test-sam-transform expect_rejected "template whose permission is not on the alias after the transform" \
  "ScaleUpInvokedByHeartbeat: the invoke permission is on {'Ref': 'ScaleUpFunction'}, not on the alias live" \
  INFRA_TEMPLATES="$tmp/template-transform-permission.yaml"

# Kubernetes: a misspelt field, which only strict validation catches.
break_copy deployment-unknown-field.yaml model-deployment.yaml \
  's/^          imagePullPolicy: Always$/          imagePullPolicy: Always\n          imagePulPolicy: Always/'
expect_rejected "deployment with an unknown field" "'imagePulPolicy' was unexpected" \
  INFRA_MANIFESTS="$tmp/deployment-unknown-field.yaml"

# Kubernetes: a value of the wrong type.
break_copy deployment-wrong-type.yaml model-deployment.yaml \
  's/^      terminationGracePeriodSeconds: .*/      terminationGracePeriodSeconds: ten-minutes/'
expect_rejected "deployment with a wrong type" "'ten-minutes' is not of type" \
  INFRA_MANIFESTS="$tmp/deployment-wrong-type.yaml"

# Kubernetes RBAC: verbs must be a list.
break_copy rbac-wrong-type.yaml rbac.yaml \
  's/^    verbs: .*/    verbs: update/'
expect_rejected "role with a wrong type" "'update' is not of type 'array'" \
  INFRA_MANIFESTS="$tmp/rbac-wrong-type.yaml"

# Least privilege (tests/infra/least-privilege.sh): RBAC that is well formed
# but grants what the functions do not use, or misses the Events rule.
break_copy rbac-no-events.yaml rbac.yaml \
  '/^  - apiGroups: \["events.k8s.io"\]$/,/^    verbs: \["create"\]$/d'
expect_rejected "role without create on events" \
  "no rule grants exactly create on events (events.k8s.io)" \
  INFRA_LEAST_PRIVILEGE="$tmp/rbac-no-events.yaml"

break_copy rbac-events-read.yaml rbac.yaml \
  's/^    verbs: \["create"\]$/    verbs: ["create", "list", "watch"]/'
expect_rejected "role that may also read events" \
  "Role queue-scaler: a rule the functions do not need" \
  INFRA_LEAST_PRIVILEGE="$tmp/rbac-events-read.yaml"

break_copy rbac-any-deployment.yaml rbac.yaml \
  '/^    resourceNames: \["model-worker"\]$/d'
expect_rejected "role on the scale of every deployment" \
  "the deployments/scale rule names no Deployment (resourceNames)" \
  INFRA_LEAST_PRIVILEGE="$tmp/rbac-any-deployment.yaml"

# Google IAM: the custom role may also list every cluster.
break_copy iam-role-wider.yaml iam-role.yaml \
  's/^  - container.clusters.connect$/&\n  - container.clusters.list/'
expect_rejected "IAM role with a permission the functions do not use" \
  "the IAM role must grant exactly container.clusters.get and container.clusters.connect; it also grants ['container.clusters.list']" \
  INFRA_LEAST_PRIVILEGE="$tmp/iam-role-wider.yaml"

# ... or lacks the permission that the DNS endpoint checks.
break_copy iam-role-no-connect.yaml iam-role.yaml \
  '/^  - container.clusters.connect$/d'
expect_rejected "IAM role without container.clusters.connect" \
  "it lacks ['container.clusters.connect']" \
  INFRA_LEAST_PRIVILEGE="$tmp/iam-role-no-connect.yaml"

# Shell: `local` outside a function is an error in bash.
break_copy node-pool-broken.sh node-pool.sh \
  's/^set -euo pipefail$/&\nlocal broken=1/'
expect_rejected "script with a shell error" "SC2168" \
  INFRA_SCRIPTS="$tmp/node-pool-broken.sh"

echo "validate-infra-rejects-broken: $passed passed, $failed failed"
(( failed == 0 ))
