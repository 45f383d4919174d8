//go:build tools

// Package tools pins the command this module builds: Rancher's local-path provisioner, which
// the local node runs as a host process so that volume claims (a Tekton PipelineRun's
// workspace) get volumes on this machine's disk.
package tools

import (
	_ "github.com/rancher/local-path-provisioner"
)
