"""The checks of tests/infra/deploy-guide-render.sh (which says what they are): the guide's sed
commands run with sample values, their renders checked. Usage: deploy_guide_render.py GUIDE TMPDIR,
from the repository's root."""
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
    "TEXT_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/111122223333/text-jobs",
    "IMAGE_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/111122223333/image-jobs",
    "WORKER_ROLE_ARN": "arn:aws:iam::111122223333:role/queue-scaler-WorkerRole-AbCdEf",
    "TEXT_WORKER_ROLE_ARN": "arn:aws:iam::111122223333:role/gpu-models-WorkerRole-AbCdEf",
    "IMAGE_WORKER_ROLE_ARN": "arn:aws:iam::111122223333:role/gpu-models-SecondWorkerRole-GhIjKl",
}
TOKEN_FILE = "/var/run/secrets/sts.amazonaws.com/serviceaccount/token"
# The section that deploys two models, one stack each.
TWO_MODELS = "Two models on one GPU pool: one stack"
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


# The guide's shell commands, one per logical line, by section (## heading).
with open(guide) as f:
    text = f.read()
sections = {}
for part in re.split(r"^## ", text, flags=re.MULTILINE)[1:]:
    title, _, body = part.partition("\n")
    commands = []
    for block in re.findall(r"^```sh\n(.*?)^```", body, re.DOTALL | re.MULTILINE):
        block = re.sub(r"\\\n\s*", " ", block)
        commands += [line.strip() for line in block.splitlines() if line.strip()]
    sections[title.strip()] = commands


def renders_of(commands):
    """(file, sed command) of every `sed ... FILE | kubectl apply -f -`, in order."""
    found = []
    for c in commands:
        m = re.fullmatch(r"(sed .*?(infra/gke/[\w-]+\.yaml))\s*\|\s*kubectl apply -f -", c)
        if m:
            found.append((m.group(2), m.group(1)))
    return found


renders = dict(r for title, commands in sections.items() if title != TWO_MODELS
               for r in renders_of(commands))
two_models = renders_of(sections.get(TWO_MODELS, []))
result(TWO_MODELS in sections, f"the guide has a section \"{TWO_MODELS}\"")
for want in ("infra/gke/model-deployment.yaml", "infra/gke/rbac.yaml"):
    result(want in renders, f"the guide renders {want} with sed | kubectl apply")


def render(path, command=None, label=None):
    label = label or path
    out = os.path.join(tmp, re.sub(r"\W+", "-", label) + ".yaml")
    with open(out, "w") as f:
        run = subprocess.run(["bash", "-c", command or renders[path]], check=False, stdout=f, stderr=subprocess.PIPE,
                             text=True, env={**os.environ, **values})
    result(run.returncode == 0, f"{label}: the guide's command runs", run.stderr.strip())
    with open(out) as f:
        rendered = f.read()
    left = sorted(set(PLACEHOLDER.findall(rendered)))
    result(not left, f"{label}: no placeholder is left", f"left: {left}")
    validate = subprocess.run(["kubernetes-validate", "--strict", "--quiet", out], check=False,
                              capture_output=True, text=True)
    result(validate.returncode == 0, f"{label}: the rendered file passes kubernetes-validate --strict",
           (validate.stdout + validate.stderr).strip())
    return list(yaml.safe_load_all(rendered)), out


def keyless_worker(objects, name, role, label):
    """The worker runs as its own service account `name`, with no AWS key: the role `role` and
    the file of a token for STS, which a projected volume writes; returns its Deployment."""
    kinds = {o["kind"]: o for o in objects}
    account, deployment = kinds.get("ServiceAccount", {}), kinds.get("Deployment", {})
    spec = deployment.get("spec", {}).get("template", {}).get("spec", {})
    container = (spec.get("containers") or [{}])[0]
    result(account.get("metadata", {}).get("name") == name and spec.get("serviceAccountName") == name,
           f"{label}: the workers run as their own service account, {name}",
           f"ServiceAccount {account.get('metadata')}, serviceAccountName {spec.get('serviceAccountName')!r}")
    env = {e.get("name"): e.get("value") for e in container.get("env", [])}
    result(env.get("AWS_ROLE_ARN") == role and env.get("AWS_WEB_IDENTITY_TOKEN_FILE") == TOKEN_FILE,
           f"{label}: AWS_ROLE_ARN is its own worker role, AWS_WEB_IDENTITY_TOKEN_FILE the token's file", f"env: {env}")
    result(not container.get("envFrom") and not any(k.startswith("AWS_SECRET") or k == "AWS_ACCESS_KEY_ID" for k in env),
           f"{label}: no AWS key, no Secret", f"envFrom: {container.get('envFrom')}")
    mounts = {m["name"]: m["mountPath"] for m in container.get("volumeMounts", [])}
    tokens = [(v["name"], src["serviceAccountToken"]) for v in spec.get("volumes", [])
              for src in v.get("projected", {}).get("sources", []) if "serviceAccountToken" in src]
    result(any(t.get("audience") == "sts.amazonaws.com" and f"{mounts.get(n)}/{t.get('path')}" == TOKEN_FILE
               and int(t.get("expirationSeconds", 0)) <= 86400 for n, t in tokens),
           f"{label}: a projected token of audience sts.amazonaws.com is mounted at the token's file",
           f"tokens: {tokens}, mounts: {mounts}")
    return deployment


if "infra/gke/model-deployment.yaml" in renders:
    objects = render("infra/gke/model-deployment.yaml")[0]
    deployment = keyless_worker(objects, "model-worker", values["WORKER_ROLE_ARN"], "model-deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    result(container["image"] == image, "model-deployment: the image is the guide's",
           f"image: {container['image']!r}")
    env = [(e.get("name"), e.get("value")) for e in container.get("env", [])]
    want = [("QUEUE_URL", values["QUEUE_URL"]), ("AWS_REGION", values["AWS_REGION"]),
            ("AWS_ROLE_ARN", values["WORKER_ROLE_ARN"]), ("AWS_WEB_IDENTITY_TOKEN_FILE", TOKEN_FILE)]
    result(env == want, "model-deployment: the variables are QUEUE_URL, AWS_REGION, AWS_ROLE_ARN and "
           "AWS_WEB_IDENTITY_TOKEN_FILE, with the queue's URL, its region and the worker role",
           f"env: {env}")

if "infra/gke/rbac.yaml" in renders:
    objects = {o["kind"]: o for o in render("infra/gke/rbac.yaml")[0]}
    subjects = objects.get("RoleBinding", {}).get("subjects", [])
    result([s.get("name") for s in subjects] == [email],
           f"rbac: the RoleBinding's user is {email}", f"subjects: {subjects}")

# Two models, one stack each: a Deployment per model on its own queue, one Role for both.
models = {"text-model": values["TEXT_QUEUE_URL"], "image-model": values["IMAGE_QUEUE_URL"]}
roles = {"text-model": values["TEXT_WORKER_ROLE_ARN"], "image-model": values["IMAGE_WORKER_ROLE_ARN"]}
deployments = [(f, c) for f, c in two_models if f == "infra/gke/model-deployment.yaml"]
rbacs = [(f, c) for f, c in two_models if f == "infra/gke/rbac.yaml"]
result(len(deployments) == 2 and len(rbacs) == 1,
       "two models: the section renders model-deployment.yaml twice and rbac.yaml once",
       f"renders: {[f for f, _ in two_models]}")
seen = {}
for i, (path, command) in enumerate(deployments):
    objects = render(path, command, f"two models: model-deployment.yaml #{i + 1}")[0]
    d = {o["kind"]: o for o in objects}.get("Deployment", {})
    name = d.get("metadata", {}).get("name")
    seen[name] = d
    if name not in models:
        result(False, f"two models: Deployment #{i + 1} is text-model or image-model", f"name: {name!r}")
        continue
    spec = d["spec"]["template"]["spec"]
    container = spec["containers"][0]
    env = [(e.get("name"), e.get("value")) for e in container.get("env", [])]
    result(env[:2] == [("QUEUE_URL", models[name]), ("AWS_REGION", values["AWS_REGION"])],
           f"two models: {name} reads its own queue ({models[name].rsplit('/', 1)[1]})", f"env: {env}")
    keyless_worker(objects, name, roles[name], f"two models: {name}")
    labels = [d["metadata"]["labels"].get("app.kubernetes.io/name"),
              d["spec"]["selector"]["matchLabels"].get("app.kubernetes.io/name"),
              d["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/name")]
    result(labels == [name] * 3, f"two models: {name}'s labels and selector are its own, not the other model's",
           f"labels: {labels}")
    result(container["image"].endswith(f"/{name}:latest"), f"two models: {name} runs its own image",
           f"image: {container['image']!r}")
result(sorted(seen) == sorted(models), "two models: the Deployments are text-model and image-model",
       f"names: {sorted(seen)}")
for path, command in rbacs:
    objects, out = render(path, command, "two models: rbac.yaml")
    subjects = {o["kind"]: o for o in objects}.get("RoleBinding", {}).get("subjects", [])
    result([s.get("name") for s in subjects] == [email],
           f"two models: the RoleBinding's user is {email}", f"subjects: {subjects}")
    check = subprocess.run(["tests/infra/least-privilege.sh", "--deployments", ",".join(models), out], check=False,
                           capture_output=True, text=True)
    result(check.returncode == 0,
           "two models: the Role grants exactly what the functions use, for text-model and image-model "
           "(least-privilege.sh --deployments)", (check.stdout + check.stderr).strip())

# The pool both models share: its Lease and the grant on it, as the section renders them.
leases = [(f, c) for f, c in two_models if f == "infra/gke/pool-lease.yaml"]
result(len(leases) == 1, "two models: the section renders pool-lease.yaml once",
       f"renders: {[f for f, _ in two_models]}")
for path, command in leases:
    objects, out = render(path, command, "two models: pool-lease.yaml")
    lease = [o["metadata"]["name"] for o in objects if o["kind"] == "Lease"]
    result(lease == ["queue-scaler-pool-gpu-pool"], "two models: the Lease is gpu-pool's, as NodePool=gpu-pool books it",
           f"Leases: {lease}")
    subjects = {o["kind"]: o for o in objects}.get("RoleBinding", {}).get("subjects", [])
    result([s.get("name") for s in subjects] == [email],
           f"two models: the Lease's RoleBinding's user is {email}", f"subjects: {subjects}")
    check = subprocess.run(["tests/infra/least-privilege.sh", out], check=False, capture_output=True, text=True)
    result(check.returncode == 0, "two models: the Lease's grant is exactly get and update on it",
           (check.stdout + check.stderr).strip())

# The check that each alarm watches its own queue: the section's describe-alarms query, run on the
# template's alarms for the section's stack, names a queue for every backlog alarm (the low ones'
# metric math included), never None.
sys.path.insert(0, "tests/infra")
import jmespath
import template_invariants as ti

queries = [re.search(r'--query\s+"([^"]+)"', c) for c in sections.get(TWO_MODELS, [])
           if c.startswith("aws cloudwatch describe-alarms --alarm-name-prefix gpu-models-")]
queries = [q.group(1) for q in queries if q]
result(len(queries) == 1, "two models: the section checks the alarms' queues with one describe-alarms query",
       f"queries: {queries}")
with open("infra/aws/template.yaml") as f:
    template = yaml.load(f, Loader=ti.Loader)
params = {**dict(ti.parameter_sets(template))["two models on one GPU pool, one stack"]}
stack = ti.Stack(template, params, name="gpu-models")
alarms = [{k: a[k] for k in ("AlarmName", "Dimensions", "Metrics") if k in a}
          for a in stack.of_type("AWS::CloudWatch::Alarm").values()]
for query in queries:
    rows = {name: queue for name, queue in jmespath.search(query, {"MetricAlarms": alarms})}
    want = {"gpu-models-backlog-high": "text-jobs", "gpu-models-backlog-low": "text-jobs",
            "gpu-models-image-model-backlog-high": "image-jobs",
            "gpu-models-image-model-backlog-low": "image-jobs"}
    result({k: rows.get(k) for k in want} == want and None not in rows.values(),
           "two models: the alarms' query names each backlog alarm's own queue, the low alarms' too, and no None",
           f"rows: {rows}")

print(f"deploy-guide-render: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
