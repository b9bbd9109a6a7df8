"""The exact taint and label lists infra/gke/node-pool.sh sets on an existing pool.

Usage: node_pool_lists.py POOL_JSON TAINT LABEL, with POOL_JSON gcloud's JSON of the pool, TAINT
ours (mlonly=true:NoSchedule) and LABEL ours (mlonly=true). Prints four lines: the exact taint
list, whether it differs from the pool's (changed/same), the exact label list, and whether that
differs. gcloud's JSON gives the effect as the API's enum (NO_SCHEDULE); the --node-taints flag
takes the Kubernetes spelling (NoSchedule). GKE's own nvidia.com/gpu taint is never listed.
"""
import json
import sys

ours_key, ours_taint, gke_gpu_key = "mlonly", sys.argv[2], "nvidia.com/gpu"
label_key, label_value = sys.argv[3].split("=", 1)
config = json.loads(sys.argv[1]).get("config") or {}
spelling = {"NO_SCHEDULE": "NoSchedule", "PREFER_NO_SCHEDULE": "PreferNoSchedule",
            "NO_EXECUTE": "NoExecute"}
current, taints, seen = [], [ours_taint], {(ours_key, ours_taint.rsplit(":", 1)[1])}
for taint in config.get("taints") or []:
    key, effect = taint.get("key", ""), spelling.get(taint.get("effect"), taint.get("effect"))
    if key == gke_gpu_key:
        continue
    text = "{}={}:{}".format(key, taint.get("value") or "", effect)
    current.append(text)
    if key == ours_key or (key, effect) in seen:
        continue
    seen.add((key, effect))
    taints.append(text)
labels = dict(config.get("labels") or {})
had = dict(labels)
labels[label_key] = label_value
print(",".join(taints))
print("same" if sorted(current) == sorted(taints) else "changed")
print(",".join("{}={}".format(*item) for item in labels.items()))
print("same" if had == labels else "changed")
