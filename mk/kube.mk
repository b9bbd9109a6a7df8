# A real Kubernetes API server for the end-to-end tests: kube-apiserver,
# kube-scheduler, kube-controller-manager and etcd, built from source with Go
# at the versions pinned in tools/kube/go.mod.
# The walk-through is docs/real-kube.md.

.PHONY: kube-binaries
kube-binaries: ## build kube-apiserver, kube-scheduler, kube-controller-manager and etcd into .tools/bin (first time several minutes; then reused)
	scripts/build-kube.sh

.PHONY: test-real-kube
test-real-kube: venv kube-binaries ## the end-to-end scenarios against a real kube-apiserver with RBAC, and the GPU pool with a real scheduler
	cargo test -p queue-scaler-tests --test real_kube_apiserver --test real_scheduler
