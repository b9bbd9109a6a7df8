"""The SAM transform of tests/infra/sam-transform.sh: the template transformed by SAM's own
translator once per parameter set, each output written to TMPDIR. Runs in the SAM venv.
Usage: sam_transform_run.py TEMPLATE TMPDIR."""
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
    except Exception as e:  # noqa: BLE001 (the translator raises many kinds; each names what is wrong)
        sys.exit(f"sam-transform: {path} ({name}): the SAM transform failed: {type(e).__name__}: {e}")
    with open(f"{out}/{name}.json", "w") as f:
        json.dump(result, f, indent=1)
