//go:build tools

// Package tools pins the command this module builds.
package tools

import _ "github.com/operator-framework/api/cmd/operator-verify"
