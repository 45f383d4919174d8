#!/usr/bin/env bash
# The main job: validate an example notebook on this machine, then run the operator against a
# local control plane (etcd, kube-apiserver, kube-controller-manager built from source) and show
# what it does with an example job. The local control plane has no kubelet, so the validation pod
# it creates stays Pending there; on a real cluster it runs.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== nbv validate: a notebook against its golden copy (sets up papermill on first use)"
cargo run --quiet -p nbv-runner --bin nbv -- validate \
  examples/notebooks/passing.ipynb --golden examples/notebooks/passing.golden.ipynb

echo "== the local control plane, with the CRD and the OpenShift/Tekton/Shipwright stand-ins"
up="$(cargo xtask cluster up --stand-ins)"
echo "$up"
kubeconfig="$(printf '%s\n' "$up" | sed -n 's/^kubeconfig: //p')"
kubectl="$(cargo xtask controlplane path)/kubectl"
export KUBECONFIG="$kubeconfig"

echo "== the build strategies of this operator build"
cargo run --quiet -p notebook-validator-operator -- strategies

echo "== a job, and the operator reconciling it for 20 seconds"
"$kubectl" apply -n default -f examples/prebuilt-image.yaml
timeout --signal=TERM 20 cargo run --quiet -p notebook-validator-operator -- run --namespace default --log-level warn || true
"$kubectl" get nvj -n default
"$kubectl" get pods -n default
"$kubectl" get nvj analysis-prebuilt -n default -o jsonpath='{range .status.conditions[*]}{.type}={.status} ({.reason}): {.message}{"\n"}{end}'

echo "Stop the control plane with: cargo xtask cluster down"
