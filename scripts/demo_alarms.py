"""The demo's two CloudWatch alarms in the local CloudWatch API (moto).

usage: demo_alarms.py create ALARM...   create each alarm and set it to ALARM
       demo_alarms.py fire ALARM        set the alarm to ALARM, as its next evaluation would
       demo_alarms.py state ALARM       print the alarm's state
The endpoint, region and credentials come from AWS_ENDPOINT_URL_CLOUDWATCH, AWS_REGION and
AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY.
"""
import os
import sys

import boto3


def client():
    return boto3.client(
        "cloudwatch",
        endpoint_url=os.environ["AWS_ENDPOINT_URL_CLOUDWATCH"],
        region_name=os.environ["AWS_REGION"],
    )


def main(argv):
    cw = client()
    if argv[:1] == ["create"]:
        for name in argv[1:]:
            cw.put_metric_alarm(
                AlarmName=name,
                Namespace="AWS/SQS",
                MetricName="ApproximateNumberOfMessagesVisible",
                Dimensions=[{"Name": "QueueName", "Value": "model-jobs"}],
                Statistic="Maximum",
                Period=60,
                EvaluationPeriods=2,
                Threshold=100.0,
                ComparisonOperator="GreaterThanThreshold",
            )
            cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="demo: backlog")
    elif argv[:1] == ["fire"] and len(argv) == 2:
        cw.set_alarm_state(AlarmName=argv[1], StateValue="ALARM", StateReason="demo: threshold crossed")
    elif argv[:1] == ["state"] and len(argv) == 2:
        alarms = cw.describe_alarms(AlarmNames=[argv[1]])["MetricAlarms"]
        print(alarms[0]["StateValue"] if alarms else "missing")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
