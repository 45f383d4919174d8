//go:build tools

// Package tools pins the commands this module builds: the Shipwright Build controller, which
// the local node runs as a host process, and the programs its build pods run.
package tools

import (
	_ "github.com/shipwright-io/build/cmd/bundle"
	_ "github.com/shipwright-io/build/cmd/git"
	_ "github.com/shipwright-io/build/cmd/image-processing"
	_ "github.com/shipwright-io/build/cmd/shipwright-build-controller"
	_ "github.com/shipwright-io/build/cmd/waiter"
)
