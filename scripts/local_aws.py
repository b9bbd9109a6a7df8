"""The local AWS (moto) of the demo and the local loop: the alarms and the job queue.

usage: local_aws.py create-alarm ALARM [ACTION_ARN]   create the alarm, its action invoking
                                                      ACTION_ARN, and set it to ALARM
       local_aws.py fire ALARM         set the alarm to ALARM, as its next evaluation would
       local_aws.py state ALARM        print the alarm's state
       local_aws.py create-queue NAME  create the queue (no message in it)
       local_aws.py backlog NAME N     make the queue hold exactly N visible messages
The endpoints, region and credentials come from AWS_ENDPOINT_URL_CLOUDWATCH,
AWS_ENDPOINT_URL_SQS, AWS_REGION and
AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY.
"""
import os
import sys

import boto3

# The queue every alarm watches, as in events/: a backlog of model jobs.
QUEUE = "model-jobs"


def client(service, endpoint):
    return boto3.client(service, endpoint_url=os.environ[endpoint], region_name=os.environ["AWS_REGION"])


def cloudwatch():
    return client("cloudwatch", "AWS_ENDPOINT_URL_CLOUDWATCH")


def sqs():
    return client("sqs", "AWS_ENDPOINT_URL_SQS")


def create_alarm(name, action=None):
    cw = cloudwatch()
    cw.put_metric_alarm(
        AlarmName=name,
        Namespace="AWS/SQS",
        MetricName="ApproximateNumberOfMessagesVisible",
        Dimensions=[{"Name": "QueueName", "Value": QUEUE}],
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=2,
        Threshold=100.0,
        ComparisonOperator="GreaterThanThreshold",
        AlarmActions=[action] if action else [],
    )
    cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="local: backlog")


def backlog(name, count):
    """Purge the queue, then send `count` messages, ten at a time."""
    client = sqs()
    url = client.get_queue_url(QueueName=name)["QueueUrl"]
    client.purge_queue(QueueUrl=url)
    for start in range(0, count, 10):
        entries = [
            {"Id": str(i), "MessageBody": f'{{"job": {start + i}}}'}
            for i in range(min(10, count - start))
        ]
        client.send_message_batch(QueueUrl=url, Entries=entries)
    attributes = client.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    print(f"queue {name}: {attributes['ApproximateNumberOfMessages']} message(s) waiting")


def main(argv):
    command, args = (argv[0], argv[1:]) if argv else ("", [])
    if command == "create-alarm" and len(args) in (1, 2):
        create_alarm(*args)
    elif command == "fire" and len(args) == 1:
        cloudwatch().set_alarm_state(AlarmName=args[0], StateValue="ALARM", StateReason="local: threshold crossed")
    elif command == "state" and len(args) == 1:
        alarms = cloudwatch().describe_alarms(AlarmNames=args)["MetricAlarms"]
        print(alarms[0]["StateValue"] if alarms else "missing")
    elif command == "create-queue" and len(args) == 1:
        sqs().create_queue(QueueName=args[0])
    elif command == "backlog" and len(args) == 2 and args[1].isdigit():
        backlog(args[0], int(args[1]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
