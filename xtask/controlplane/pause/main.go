// Command nbv-pause is the only program in the node's sandbox ("pause") image. It holds a pod's
// namespaces open and does nothing else: it sleeps until SIGTERM or SIGINT and then exits 0. As
// PID 1 of the pod's PID namespace (when shared), it also reaps orphaned children.
//
// The upstream pause image cannot be pulled here (no registry outside the machine), so the node
// builds its own from this.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for s := range signals {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		reap()
	}
}

// reap collects every exited child without blocking.
func reap() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
