#!/usr/bin/env bash
# The main job: validate an example notebook on this machine, then run the operator against a
# local control plane with a real node (containerd, kubelet) and watch two jobs run to their
# verdicts: one that passes, one whose outputs differ from its golden notebook.
#
# Needs root (the node runs containerd and the kubelet). The first run installs the node's
# distribution packages, builds the control plane, the kubelet and the node's images; later runs
# reuse them. It leaves the cluster running: `cargo xtask cluster down` stops it and restores the
# host.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== nbv validate: a notebook against its golden copy (sets up papermill on first use)"
cargo run --quiet -p nbv-runner --bin nbv -- validate \
  examples/notebooks/passing.ipynb --golden examples/notebooks/passing.golden.ipynb

echo "== the local control plane with a node, and a git server on it holding examples/notebooks"
up="$(cargo xtask cluster up --node)"
echo "$up"
field() { printf '%s\n' "$up" | sed -n "s/^$1: //p"; }
export KUBECONFIG="$(field kubeconfig)"
repo="$(field 'examples repository')"
notebook_image="$(field 'notebook image')"
operator_image="$(field 'operator image')"
kubectl="$(cargo xtask controlplane path)/kubectl"

namespace="demo-$(date +%s)"
"$kubectl" create namespace "$namespace"
"$kubectl" label namespace "$namespace" pod-security.kubernetes.io/enforce=restricted

echo "== two jobs: a notebook that matches its golden copy, and one that does not"
job() { # name notebook golden
  cat <<YAML
apiVersion: mlops.redhat.com/v1alpha1
kind: NotebookValidationJob
metadata:
  name: $1
spec:
  notebook:
    git: { url: "$repo", ref: main }
    path: $2
  goldenNotebook:
    git: { url: "$repo", ref: main }
    path: $3
  podConfig:
    containerImage: "$notebook_image"
  timeout: 5m
YAML
}
{ job passing passing.ipynb passing.golden.ipynb; echo ---; job differing golden-mismatch.ipynb golden-mismatch.golden.ipynb; } \
  | "$kubectl" apply -n "$namespace" -f -

echo "== the operator, until both jobs have a verdict"
cargo build --quiet -p notebook-validator-operator
target/debug/nbv-operator run --namespace "$namespace" --log-level warn \
  --runner-image "$operator_image" --default-image "$notebook_image" &
operator=$!
trap 'kill "$operator" 2>/dev/null || true' EXIT
for _ in $(seq 1 180); do
  phases="$("$kubectl" get nvj -n "$namespace" -o jsonpath='{.items[*].status.phase}')"
  "$kubectl" get nvj -n "$namespace" --no-headers 2>/dev/null | sed 's/^/   /'
  case "$phases" in
    *Pending*|*Running*|*Building*|"") sleep 2 ;;
    *) [ "$(wc -w <<<"$phases")" -eq 2 ] && break; sleep 2 ;;
  esac
done
kill "$operator" 2>/dev/null || true

"$kubectl" get nvj -n "$namespace"
for name in passing differing; do
  echo "== $name"
  "$kubectl" get nvj "$name" -n "$namespace" -o jsonpath='{range .status.conditions[*]}{.type}={.status} ({.reason}): {.message}{"\n"}{end}'
  "$kubectl" get nvj "$name" -n "$namespace" -o jsonpath='{range .status.results[*]}  cell {.cellIndex}: {.status} in {.executionTime}{"\n"}{end}'
  "$kubectl" get nvj "$name" -n "$namespace" -o jsonpath='{range .status.comparisonResult.diffs[*]}  differs: cell {.cellIndex} ({.diffType}): expected {.expected}, got {.actual}{"\n"}{end}' || true
done
pod="$("$kubectl" get nvj passing -n "$namespace" -o jsonpath='{.status.validationPodName}')"
echo "== kubectl logs $pod -c validate"
"$kubectl" logs -n "$namespace" "$pod" -c validate | tail -n 20

[ "$("$kubectl" get nvj passing -n "$namespace" -o jsonpath='{.status.phase}')" = Succeeded ]
[ "$("$kubectl" get nvj differing -n "$namespace" -o jsonpath='{.status.phase}')" = Failed ]
echo "Stop the cluster and restore the host with: cargo xtask cluster down"
