// Command nbv-node-down records what the local node is about to change on the host, and undoes
// it from that record.
//
// `nbv-node-down record <node-host.json> -root <dir> -run-dir <dir> -containerd-address <socket>
// [-bridge <name>] [-iptables-chain <chain> -iptables-jump "<rule>"]` runs before the node
// changes anything: it reads the values to restore from the host now (sysctls, which shared
// paths do not exist yet) and writes the record atomically, so the record is either whole or
// absent.
//
// `nbv-node-down <node-host.json>` undoes everything from that record:
//
//  1. stops the kubelet and containerd if they still run, then every process left in the node's
//     cgroups (pod containers) and every containerd shim serving the node's socket;
//  2. unmounts everything mounted below the node's directories (container root filesystems,
//     network namespaces, secret and projected volumes);
//  3. removes the node's cgroups, the pods' veths, the pod bridge, the egress firewall chain and
//     its jump rule;
//  4. writes back the sysctls the kubelet and the network plugins changed;
//  5. removes the files and directories the node created outside its own directory, and then its
//     directory.
//
// Every step is attempted even when an earlier one failed, and running it twice is harmless, so
// it runs both from containerd's supervisor (when the owner of the node dies) and from
// `cargo xtask cluster down`. A missing record means it was undone already. It exits 1 when
// anything could not be undone, naming it.
//
// Record is the only definition of the record: the side that undoes also decides what is kept.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Record is what the node changes on the host, taken before it changes anything.
type Record struct {
	PidFiles          []string          `json:"pidFiles"`
	ContainerdAddress string            `json:"containerdAddress"`
	CgroupName        string            `json:"cgroupName"`
	MountRoots        []string          `json:"mountRoots"`
	Bridge            string            `json:"bridge"`
	IptablesChain     string            `json:"iptablesChain"`
	IptablesJump      []string          `json:"iptablesJump"`
	Sysctls           map[string]string `json:"sysctls"`
	LinksInto         []LinkDir         `json:"linksInto"`
	Remove            []string          `json:"remove"`
}

// LinkDir names a shared directory where the kubelet leaves symlinks into the node's directory.
type LinkDir struct {
	Dir    string `json:"dir"`
	Target string `json:"target"`
}

// sysctls are the ones the kubelet or the network plugins may change.
var sysctls = []string{
	"vm.overcommit_memory",
	"kernel.panic",
	"kernel.panic_on_oops",
	"net.ipv4.ip_forward",
	"net.ipv4.conf.all.route_localnet",
}

// sharedPaths are created by the kubelet or containerd outside the node's directory; only those
// missing before the node starts are removed after it.
var sharedPaths = []string{
	"/var/lib/kubelet",
	"/var/log/containers",
	"/run/containerd",
	"/var/log/pods",
}

var failures []string

func fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	failures = append(failures, msg)
	fmt.Fprintln(os.Stderr, "nbv-node-down: "+msg)
}

const usage = `usage:
  nbv-node-down record <node-host.json> -root <dir> -run-dir <dir> -containerd-address <socket> [-bridge <name>] [-iptables-chain <chain> -iptables-jump "<rule>"]
  nbv-node-down <node-host.json>`

func main() {
	if len(os.Args) >= 2 && os.Args[1] == "record" {
		if err := record(os.Args[2:]); err != nil {
			fmt.Fprintf(os.Stderr, "nbv-node-down record: %v\n", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	undo(os.Args[1])
}

// record captures the host's current state for a node in -root and writes it to the path given.
func record(args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return fmt.Errorf("the record's path comes first\n%s", usage)
	}
	path := args[0]
	flags := flag.NewFlagSet("nbv-node-down record", flag.ContinueOnError)
	root := flags.String("root", "", "the node's directory (unmounted below, then removed)")
	runDir := flags.String("run-dir", "", "the directory holding kubelet.pid and containerd.pid")
	address := flags.String("containerd-address", "", "the node's containerd socket (its shims are killed)")
	bridge := flags.String("bridge", "", "the pod bridge (removed with its veths)")
	chain := flags.String("iptables-chain", "", "the egress firewall chain (flushed and removed)")
	jump := flags.String("iptables-jump", "", `the rule sending traffic to the chain, as given to iptables -I, e.g. "FORWARD -s 10.0.0.0/24 -j CHAIN"`)
	if err := flags.Parse(args[1:]); err != nil {
		return err
	}
	if flags.NArg() != 0 {
		return fmt.Errorf("unexpected arguments %q\n%s", flags.Args(), usage)
	}
	for _, f := range []struct{ name, value string }{
		{"-root", *root}, {"-run-dir", *runDir}, {"-containerd-address", *address},
	} {
		if !filepath.IsAbs(f.value) {
			return fmt.Errorf("%s must be an absolute path, got %q\n%s", f.name, f.value, usage)
		}
	}
	// Undo removes the root.
	if filepath.Clean(*root) == "/" {
		return errors.New("-root must be the node's own directory, not /")
	}
	jumpRule := strings.Fields(*jump)
	if (*chain == "") != (len(jumpRule) == 0) {
		return errors.New("-iptables-chain and -iptables-jump go together")
	}

	rec := Record{
		PidFiles:          []string{filepath.Join(*runDir, "kubelet.pid"), filepath.Join(*runDir, "containerd.pid")},
		ContainerdAddress: *address,
		CgroupName:        "kubepods",
		MountRoots:        []string{*root},
		Bridge:            *bridge,
		IptablesChain:     *chain,
		IptablesJump:      jumpRule,
		Sysctls:           map[string]string{},
		LinksInto:         []LinkDir{{Dir: "/var/log/containers", Target: *root}},
		Remove:            []string{},
	}
	// An empty list rather than null, as in every record so far.
	if rec.IptablesJump == nil {
		rec.IptablesJump = []string{}
	}
	for _, key := range sysctls {
		// A sysctl this kernel (or network namespace) lacks cannot be changed either.
		if value, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(key, ".", "/")); err == nil {
			rec.Sysctls[key] = strings.TrimSpace(string(value))
		}
	}
	for _, p := range sharedPaths {
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			rec.Remove = append(rec.Remove, p)
		}
	}
	rec.Remove = append(rec.Remove, *root)
	return writeAtomically(path, rec)
}

// writeAtomically replaces path with rec, so that a reader (or an undo after a crash) sees
// either the whole record or none.
func writeAtomically(path string, rec Record) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	done := false
	defer func() {
		if !done {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	enc := json.NewEncoder(f)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rec); err != nil {
		return fmt.Errorf("writing %s: %w", f.Name(), err)
	}
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", f.Name(), err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	done = true
	return nil
}

// undo reverts everything the record at path names, then removes the record.
func undo(path string) {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return // already undone
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "nbv-node-down: %v\n", err)
		os.Exit(1)
	}
	var rec Record
	if err := json.Unmarshal(data, &rec); err != nil {
		fmt.Fprintf(os.Stderr, "nbv-node-down: reading %s: %v\n", path, err)
		os.Exit(1)
	}

	for _, f := range rec.PidFiles {
		killPidFile(f)
	}
	killCgroupProcesses(rec.CgroupName)
	killShims(rec.ContainerdAddress)
	for _, root := range rec.MountRoots {
		unmountBelow(root)
	}
	removeCgroups(rec.CgroupName)
	if rec.Bridge != "" {
		// The pods' veths first: the kernel frees a pod's network namespace, and the veth with
		// it, some time after its last user went; deleting the host end removes both now.
		ports, _ := os.ReadDir("/sys/class/net/" + rec.Bridge + "/brif")
		for _, port := range ports {
			run("ip", "link", "delete", port.Name())
		}
		if _, err := os.Stat("/sys/class/net/" + rec.Bridge); err == nil {
			run("ip", "link", "delete", rec.Bridge)
		}
	}
	if rec.IptablesChain != "" {
		// -C first: deleting a rule that is not there is an error worth reporting only once.
		for exec.Command("iptables", append([]string{"-C"}, rec.IptablesJump...)...).Run() == nil {
			if !run("iptables", append([]string{"-D"}, rec.IptablesJump...)...) {
				break
			}
		}
		if exec.Command("iptables", "-L", rec.IptablesChain, "-n").Run() == nil {
			run("iptables", "-F", rec.IptablesChain)
			run("iptables", "-X", rec.IptablesChain)
		}
	}
	keys := make([]string, 0, len(rec.Sysctls))
	for k := range rec.Sysctls {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		file := "/proc/sys/" + strings.ReplaceAll(k, ".", "/")
		current, _ := os.ReadFile(file)
		if strings.TrimSpace(string(current)) == rec.Sysctls[k] {
			continue
		}
		if err := os.WriteFile(file, []byte(rec.Sysctls[k]+"\n"), 0o644); err != nil {
			fail("restoring sysctl %s=%s: %v", k, rec.Sysctls[k], err)
		}
	}
	for _, l := range rec.LinksInto {
		removeLinksInto(l)
	}
	for _, p := range rec.Remove {
		if err := os.RemoveAll(p); err != nil {
			fail("removing %s: %v", p, err)
		}
	}
	if len(failures) > 0 {
		fmt.Fprintf(os.Stderr, "nbv-node-down: %d step(s) failed; the record stays in %s\n", len(failures), path)
		os.Exit(1)
	}
	_ = os.Remove(path)
	// Its directory too, once empty.
	_ = os.Remove(filepath.Dir(path))
}

func run(name string, args ...string) bool {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		fail("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		return false
	}
	return true
}

func alive(pid int) bool {
	return syscall.Kill(pid, 0) == nil && !isZombie(pid)
}

func isZombie(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses, which may itself hold spaces.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}

func killAndWait(pids []int) {
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if alive(pid) {
			fail("process %d survived SIGKILL", pid)
		}
	}
}

func killPidFile(file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 1 || !alive(pid) {
		return
	}
	killAndWait([]int{pid})
}

// cgroupDirs lists every directory named name directly under a cgroup hierarchy's root.
func cgroupDirs(name string) []string {
	if name == "" {
		return nil
	}
	var dirs []string
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", name)); err == nil {
		dirs = append(dirs, filepath.Join("/sys/fs/cgroup", name))
	}
	hierarchies, _ := os.ReadDir("/sys/fs/cgroup")
	for _, h := range hierarchies {
		d := filepath.Join("/sys/fs/cgroup", h.Name(), name)
		if _, err := os.Stat(filepath.Join(d, "cgroup.procs")); err == nil {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

func killCgroupProcesses(name string) {
	for round := 0; round < 20; round++ {
		var pids []int
		for _, root := range cgroupDirs(name) {
			_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
				if err != nil || d.Name() != "cgroup.procs" {
					return nil
				}
				data, _ := os.ReadFile(p)
				for _, f := range strings.Fields(string(data)) {
					if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
						pids = append(pids, pid)
					}
				}
				return nil
			})
		}
		if len(pids) == 0 {
			return
		}
		killAndWait(pids)
	}
	fail("processes remain in cgroup %s", name)
}

func killShims(address string) {
	if address == "" {
		return
	}
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if len(args) == 0 || !strings.HasPrefix(filepath.Base(args[0]), "containerd-shim") {
			continue
		}
		for i := 0; i+1 < len(args); i++ {
			if args[i] == "-address" && args[i+1] == address {
				pids = append(pids, pid)
			}
		}
	}
	killAndWait(pids)
}

// unmountBelow detaches every mount point at or below root, deepest first.
func unmountBelow(root string) {
	root = filepath.Clean(root)
	for round := 0; round < 5; round++ {
		var points []string
		f, err := os.Open("/proc/self/mountinfo")
		if err != nil {
			fail("reading mountinfo: %v", err)
			return
		}
		scanner := bufio.NewScanner(f)
		scanner.Buffer(make([]byte, 1<<16), 1<<20)
		for scanner.Scan() {
			fields := strings.Fields(scanner.Text())
			if len(fields) < 5 {
				continue
			}
			point := unescape(fields[4])
			if point == root || strings.HasPrefix(point, root+"/") {
				points = append(points, point)
			}
		}
		f.Close()
		if len(points) == 0 {
			return
		}
		sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
		for _, p := range points {
			_ = syscall.Unmount(p, syscall.MNT_DETACH)
		}
	}
	fail("mounts remain below %s", root)
}

// unescape decodes mountinfo's octal escapes (\040 for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func removeCgroups(name string) {
	for _, root := range cgroupDirs(name) {
		var dirs []string
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		// Children before parents; cgroup directories are removed with rmdir, not unlink.
		sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
		for _, d := range dirs {
			if err := syscall.Rmdir(d); err != nil && !os.IsNotExist(err) {
				fail("removing cgroup %s: %v", d, err)
			}
		}
	}
}

func removeLinksInto(l LinkDir) {
	entries, err := os.ReadDir(l.Dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		p := filepath.Join(l.Dir, e.Name())
		target, err := os.Readlink(p)
		if err == nil && strings.HasPrefix(target, l.Target) {
			if err := os.Remove(p); err != nil {
				fail("removing %s: %v", p, err)
			}
		}
	}
}
