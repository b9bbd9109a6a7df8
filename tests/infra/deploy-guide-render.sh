#!/usr/bin/env bash
# Renders the GKE manifests exactly as the deployment guide says, and checks
# the result: names and values.
#
# docs/deploy.md fills the placeholders of infra/gke/*.yaml with `sed ... |
# kubectl apply -f -`. A placeholder that also matches a name (the worker's
# variable QUEUE_URL, say) renames the variable instead of filling its value:
# Kubernetes before 1.32 refuses the name, later ones accept it, and the
# worker silently runs without QUEUE_URL. So this takes every such command
# from the guide's shell blocks (continuation lines joined), runs it with the
# guide's variables set to sample values and `kubectl apply -f -` replaced by
# a file, and checks:
#   - the model Deployment: the container's image is the guide's, its
#     variables are exactly QUEUE_URL and AWS_REGION with the sample queue URL
#     and region, and no placeholder is left anywhere;
#   - the RBAC: the RoleBinding's user is the service account of the sample
#     project, and no placeholder is left;
#   - every rendered file passes kubernetes-validate --strict.
#
# Usage: tests/infra/deploy-guide-render.sh [GUIDE]   (make test-deploy-guide)
# Needs python3 with PyYAML and kubernetes-validate (the .venv of `make venv`).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
guide="${1:-$root/docs/deploy.md}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

cd "$root"
python3 - "$guide" "$tmp" <<'PYTHON'
import os
import re
import subprocess
import sys

import yaml

guide, tmp = sys.argv[1:]
values = {
    "PROJECT_ID": "my-project",
    "AWS_REGION": "eu-west-1",
    "QUEUE_NAME": "model-jobs",
    "QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/111122223333/model-jobs",
}
image = "europe-west4-docker.pkg.dev/my-project/models/model-worker:latest"
email = "queue-scaler@my-project.iam.gserviceaccount.com"
PLACEHOLDER = re.compile(r"__[A-Z_]+__|\bPROJECT_ID\b|\bIMAGE_URL\b")

passed = failed = 0


def result(good, what, detail=""):
    global passed, failed
    if good:
        passed += 1
        print(f"ok - {what}")
    else:
        failed += 1
        print(f"not ok - {what}" + (f"\n    {detail}" if detail else ""))


# The guide's shell commands, one per logical line.
text = open(guide).read()
commands = []
for block in re.findall(r"^```sh\n(.*?)^```", text, re.S | re.M):
    block = re.sub(r"\\\n\s*", " ", block)
    commands += [line.strip() for line in block.splitlines() if line.strip()]
renders = {}
for c in commands:
    m = re.fullmatch(r"(sed .*?(infra/gke/[\w-]+\.yaml))\s*\|\s*kubectl apply -f -", c)
    if m:
        renders[m.group(2)] = m.group(1)
for want in ("infra/gke/model-deployment.yaml", "infra/gke/rbac.yaml"):
    result(want in renders, f"the guide renders {want} with sed | kubectl apply")


def render(path):
    out = os.path.join(tmp, os.path.basename(path))
    with open(out, "w") as f:
        run = subprocess.run(["bash", "-c", renders[path]], stdout=f, stderr=subprocess.PIPE,
                             text=True, env={**os.environ, **values})
    result(run.returncode == 0, f"{path}: the guide's command runs", run.stderr.strip())
    with open(out) as f:
        rendered = f.read()
    left = sorted(set(PLACEHOLDER.findall(rendered)))
    result(not left, f"{path}: no placeholder is left", f"left: {left}")
    validate = subprocess.run(["kubernetes-validate", "--strict", "--quiet", out],
                              capture_output=True, text=True)
    result(validate.returncode == 0, f"{path}: the rendered file passes kubernetes-validate --strict",
           (validate.stdout + validate.stderr).strip())
    return list(yaml.safe_load_all(rendered))


if "infra/gke/model-deployment.yaml" in renders:
    deployment = render("infra/gke/model-deployment.yaml")[0]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    result(container["image"] == image, "model-deployment: the image is the guide's",
           f"image: {container['image']!r}")
    env = [(e.get("name"), e.get("value")) for e in container.get("env", [])]
    want = [("QUEUE_URL", values["QUEUE_URL"]), ("AWS_REGION", values["AWS_REGION"])]
    result(env == want, "model-deployment: the variables are QUEUE_URL and AWS_REGION, with the queue's URL and region",
           f"env: {env}")

if "infra/gke/rbac.yaml" in renders:
    objects = {o["kind"]: o for o in render("infra/gke/rbac.yaml")}
    subjects = objects.get("RoleBinding", {}).get("subjects", [])
    result([s.get("name") for s in subjects] == [email],
           f"rbac: the RoleBinding's user is {email}", f"subjects: {subjects}")

print(f"deploy-guide-render: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PYTHON
