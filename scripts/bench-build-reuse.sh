#!/usr/bin/env bash
# Build reuse, measured on the local node: N jobs validate the same notebook at the same commit,
# each with a Buildah build of the same inputs (base image by digest). One round with reuse (the
# default: one build, the other jobs wait for it and reuse its image), one with
# `buildConfig.reuse: Never` (N builds). Prints, per round, the builds started and the time until
# every job has a verdict. Usage: scripts/bench-build-reuse.sh [N] (default 5). Needs root (the
# node); stops the cluster at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-5}"

up="$(cargo xtask cluster up --node)"
trap 'kill "${operator:-0}" 2>/dev/null || true; cargo xtask cluster down >/dev/null' EXIT
field() { printf '%s\n' "$up" | sed -n "s/^$1: //p"; }
export KUBECONFIG="$(field kubeconfig)"
repo="$(field 'examples repository')"
operator_image="$(field 'operator image')"
notebook_image="$(field 'notebook image')"
buildah_image="$(field 'buildah image')"
kubectl="$(cargo xtask controlplane path)/kubectl"
# The node's CA signs its git server and registry.
ca="${XDG_CACHE_HOME:-$HOME/.cache}/nbv-controlplane/node-images/ca/ca.crt"
commit="$(GIT_SSL_CAINFO="$ca" git ls-remote "$repo" refs/heads/main | cut -f1)"
tag="${notebook_image##*:}"
digest="$(curl -fsSI --cacert "$ca" \
  -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
  -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
  "https://10.213.0.1:5000/v2/nbv/notebook/manifests/$tag" \
  | tr -d '\r' | sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: //p')"
base="10.213.0.1:5000/nbv/notebook@$digest"

cargo build --quiet -p notebook-validator-operator --features buildah
target/debug/nbv-operator run --log-level warn --enable-strategy buildah \
  --runner-image "$operator_image" --git-image "$operator_image" --default-image "$notebook_image" &
operator=$!

round() { # namespace reuse
  local ns="$1" reuse="$2"
  "$kubectl" create namespace "$ns" >/dev/null
  "$kubectl" label namespace "$ns" pod-security.kubernetes.io/enforce=privileged >/dev/null
  local start end
  start="$(date +%s.%N)"
  for i in $(seq 1 "$n"); do
    cat <<YAML
apiVersion: mlops.redhat.com/v1alpha1
kind: NotebookValidationJob
metadata:
  name: job-$i
spec:
  notebook:
    git: { url: "$repo", ref: "$commit" }
    path: passing.ipynb
  goldenNotebook:
    git: { url: "$repo", ref: "$commit" }
    path: passing.golden.ipynb
  podConfig:
    buildConfig:
      enabled: true
      strategy: buildah
      baseImage: "$base"
      fallbackStrategy: warn
      reuse: $reuse
      outputImage: 10.213.0.1:5000/bench/$ns-job-$i:latest
      strategyConfig: { executor: "$buildah_image", gitImage: "$operator_image" }
  timeout: 20m
---
YAML
  done | "$kubectl" apply -n "$ns" -f - >/dev/null
  while true; do
    phases="$("$kubectl" get nvj -n "$ns" -o jsonpath='{range .items[*]}{.status.phase}{"\n"}{end}')"
    done_count="$(printf '%s\n' "$phases" | grep -cE '^(Succeeded|Failed)$' || true)"
    [ "$done_count" -ge "$n" ] && break
    sleep 1
  done
  end="$(date +%s.%N)"
  local builds succeeded
  builds="$("$kubectl" get pods -n "$ns" -o name | grep -c -- '-build$' || true)"
  succeeded="$(printf '%s\n' "$phases" | grep -c '^Succeeded$' || true)"
  printf '%s\t%s jobs\t%s succeeded\t%s builds started\t%.0f s until every verdict\n' \
    "$reuse" "$n" "$succeeded" "$builds" "$(echo "$end - $start" | bc)"
}

round bench-never Never
round bench-reuse IfSameInputs
