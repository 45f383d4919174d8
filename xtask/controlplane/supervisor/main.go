// Command nbv-supervise runs one control-plane server and makes sure it does not outlive its owner.
//
// Rust cannot set PR_SET_PDEATHSIG on a child without unsafe code, and a test binary that is killed
// (or simply exits: Rust does not drop statics) never gets to stop what it started. So every server
// runs under this supervisor, which the owner starts with a stdin pipe:
//
//   - stdin reaches EOF when the owner closes the pipe or dies for any reason (the kernel closes
//     its file descriptors), and then the supervisor stops the server: SIGTERM, SIGKILL after a
//     grace period;
//   - the server gets PR_SET_PDEATHSIG=SIGKILL, so it also dies if the supervisor itself is killed;
//   - after the server has stopped, the --after command runs (the node's host clean-up), then the
//     --cleanup paths are removed (the temporary state dir).
//
// With --detached (for `cargo xtask cluster up`), stdin is not watched; SIGTERM or SIGINT stops it.
//
// If the server exits on its own, the supervisor records its exit status in --exit-file and keeps
// waiting for the stop signal, so that logs stay in place for the owner to report.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type pathList []string

func (p *pathList) String() string     { return strings.Join(*p, ",") }
func (p *pathList) Set(v string) error { *p = append(*p, v); return nil }

func main() {
	var cleanup pathList
	flag.Var(&cleanup, "cleanup", "path to remove after the server has stopped (repeatable)")
	var after pathList
	flag.Var(&after, "after", "argument of a command to run after the server has stopped, before --cleanup (repeatable: program, then its arguments)")
	detached := flag.Bool("detached", false, "do not watch stdin; stop on SIGTERM or SIGINT only")
	grace := flag.Duration("grace", 5*time.Second, "time between SIGTERM and SIGKILL")
	pidFile := flag.String("pid-file", "", "file to write the server's pid to")
	exitFile := flag.String("exit-file", "", "file to write the server's exit status to when it exits by itself")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: nbv-supervise [flags] -- command [args...]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	args := flag.Args()
	if len(args) == 0 {
		flag.Usage()
		os.Exit(2)
	}

	// Pdeathsig fires when the thread that forked the child exits, so keep this goroutine on the
	// main thread for the life of the process.
	runtime.LockOSThread()

	// Signals first, so a stop requested during start-up is not lost.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)

	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Pdeathsig: syscall.SIGKILL,
		// Its own process group: a Ctrl-C in the terminal reaches the supervisor, which then stops
		// the server in order, instead of reaching every server at once.
		Setpgid: true,
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "nbv-supervise: cannot start %s: %v\n", args[0], err)
		if *exitFile != "" {
			_ = os.WriteFile(*exitFile, []byte("start failed: "+err.Error()+"\n"), 0o644)
		}
		waitForStop(*detached, signals)
		runAfter(after)
		removeAll(cleanup)
		os.Exit(1)
	}
	if *pidFile != "" {
		_ = os.WriteFile(*pidFile, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644)
	}

	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	stop := make(chan struct{})
	go func() {
		waitForStop(*detached, signals)
		close(stop)
	}()

	code := 0
	select {
	case err := <-exited:
		// The server stopped by itself: keep its logs and wait for the owner to stop us.
		code = exitCode(err)
		if *exitFile != "" {
			_ = os.WriteFile(*exitFile, []byte(describe(err)+"\n"), 0o644)
		}
		<-stop
	case <-stop:
		_ = syscall.Kill(cmd.Process.Pid, syscall.SIGTERM)
		select {
		case err := <-exited:
			code = exitCode(err)
		case <-time.After(*grace):
			_ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
			code = exitCode(<-exited)
		}
	}
	runAfter(after)
	removeAll(cleanup)
	os.Exit(code)
}

// runAfter runs the --after command, if any, with the supervisor's output.
func runAfter(argv []string) {
	if len(argv) == 0 {
		return
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "nbv-supervise: %s: %v\n", argv[0], err)
	}
}

// waitForStop returns when stdin reaches EOF (unless detached) or a stop signal arrives.
func waitForStop(detached bool, signals <-chan os.Signal) {
	eof := make(chan struct{})
	if !detached {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			close(eof)
		}()
	}
	for {
		select {
		case <-eof:
			return
		case s := <-signals:
			// A detached supervisor outlives the terminal it was started from.
			if detached && s == syscall.SIGHUP {
				continue
			}
			return
		}
	}
}

func removeAll(paths []string) {
	for _, p := range paths {
		if err := os.RemoveAll(p); err != nil {
			fmt.Fprintf(os.Stderr, "nbv-supervise: cannot remove %s: %v\n", p, err)
		}
	}
}

func exitCode(err error) int {
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		if exitErr.ExitCode() >= 0 {
			return exitErr.ExitCode()
		}
		return 1
	}
	if err != nil {
		return 1
	}
	return 0
}

func describe(err error) string {
	if err == nil {
		return "exited with status 0"
	}
	return err.Error()
}
