#!/usr/bin/env bash
# The main job: validate an example notebook on this machine, then start the local control plane
# with the CRD installed and show which build strategies this operator build offers.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== nbv validate: a notebook against its golden copy (sets up papermill on first use)"
cargo run --quiet -p nbv-runner --bin nbv -- validate \
  examples/notebooks/passing.ipynb --golden examples/notebooks/passing.golden.ipynb

echo "== the local control plane (etcd, kube-apiserver, kube-controller-manager built from source)"
cargo xtask cluster up

echo "== the build strategies of an operator built with --features community"
cargo run --quiet -p notebook-validator-operator --features community -- strategies --all

echo "Stop the control plane with: cargo xtask cluster down"
