// Package slurmtest gives tests a real one-node SLURM cluster on this host:
// Debian's slurmctld and slurmd (apt-get install slurmctld slurmd
// slurm-client munge), run as root without systemd. The cluster has its own
// configuration, state and ports in one directory, named to SLURM's
// commands by SLURM_CONF, so it stands beside a cluster the machine may
// already run. Start is idempotent: a cluster that an earlier test process
// left up is reused, and a dead one is started again.
//
// Where SLURM is not installed, or the tests do not run as root, the tests
// that need it are skipped, saying why; under CI=true that is a failure.
package slurmtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Cluster is the running test cluster.
type Cluster struct {
	Dir  string // configuration, state, logs
	Conf string // its slurm.conf; SLURM_CONF names it
	// user is a shared flock on Dir/users held while this process uses
	// the cluster: the last user to stop stops the daemons.
	user *os.File
}

// Packages are the Debian packages the cluster needs.
const Packages = "slurmctld slurmd slurm-client munge"

// Ports of the test cluster, beside SLURM's defaults (6817, 6818).
const (
	ctldPort   = 6917
	slurmdPort = 6918
)

// credExpire is AuthInfo's cred_expire: SLURM holds a requeued job back
// until the job credential's lifetime has passed, 120 s by default. Five
// seconds is ample on one host and lets the tests requeue.
const credExpire = 5

// Start starts the test cluster, or finds it running, and sets SLURM_CONF
// for this process and its children. Call Stop when done.
func Start(t testing.TB) *Cluster {
	t.Helper()
	if why := unavailable(); why != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("SLURM is needed under CI=true: %s", why)
		}
		t.Skipf("SLURM tests skipped: %s", why)
	}
	c := &Cluster{Dir: filepath.Join(os.TempDir(), "grid-slurmtest")}
	c.Conf = filepath.Join(c.Dir, "slurm.conf")
	if err := c.start(); err != nil {
		t.Fatalf("start the test SLURM cluster in %s: %v\n%s", c.Dir, err, c.logTail())
	}
	return c
}

// unavailable says why this machine cannot run the test cluster, or "".
func unavailable() string {
	for _, name := range []string{"slurmctld", "slurmd", "sbatch", "scontrol", "munged", "munge"} {
		if _, err := lookPath(name); err != nil {
			return fmt.Sprintf("%s is not installed (apt-get install %s)", name, Packages)
		}
	}
	if os.Geteuid() != 0 {
		return "the daemons must be started as root"
	}
	if _, err := user.Lookup("slurm"); err != nil {
		return "there is no user slurm (the slurmctld package creates it)"
	}
	return ""
}

// lookPath finds a command also in the sbin directories a non-login PATH
// may lack.
func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", exec.ErrNotFound
}

// lock takes the exclusive lock under which the cluster is started or
// stopped, so that test processes running at once (go test runs packages
// in parallel) start it once, and none stops it while another starts it.
func (c *Cluster) lock() (unlock func(), err error) {
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(c.Dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}

// start brings the cluster up, or finds it up, and registers this process
// as a user.
func (c *Cluster) start() error {
	unlock, err := c.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if c.user, err = os.OpenFile(filepath.Join(c.Dir, "users"), os.O_CREATE|os.O_RDWR, 0o644); err != nil {
		return err
	}
	if err := syscall.Flock(int(c.user.Fd()), syscall.LOCK_SH); err != nil {
		return err
	}
	os.Setenv("SLURM_CONF", c.Conf)
	if err := c.startMunge(); err != nil {
		return fmt.Errorf("munge: %w", err)
	}
	if c.up() {
		return nil
	}
	if err := c.configure(); err != nil {
		return err
	}
	return c.startDaemons()
}

// startMunge starts the host's munged (SLURM's authentication) unless it
// answers already.
func (c *Cluster) startMunge() error {
	if mungeWorks() {
		return nil
	}
	if err := os.MkdirAll("/run/munge", 0o755); err != nil {
		return err
	}
	if out, err := exec.Command("chown", "munge:munge", "/run/munge").CombinedOutput(); err != nil {
		return fmt.Errorf("chown /run/munge: %v: %s", err, out)
	}
	munged, _ := lookPath("munged")
	if out, err := exec.Command("runuser", "-u", "munge", "--", munged).CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v: %s", munged, err, out)
	}
	// munged is the host's; the cluster stops it only if it started it.
	if err := os.WriteFile(filepath.Join(c.Dir, "munged.started"), nil, 0o644); err != nil {
		return err
	}
	for i := 0; i < 50 && !mungeWorks(); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if !mungeWorks() {
		return errors.New("munged started but munge -n | unmunge fails")
	}
	return nil
}

func mungeWorks() bool {
	return exec.Command("sh", "-c", "munge -n | unmunge >/dev/null 2>&1").Run() == nil
}

// up says whether the test cluster's controller answers and its node is
// usable.
func (c *Cluster) up() bool {
	if _, err := os.Stat(c.Conf); err != nil {
		return false
	}
	// sinfo waits MessageTimeout (10 s) for a controller that is not there.
	for _, daemon := range []string{"slurmctld", "slurmd"} {
		if daemonPID(filepath.Join(c.Dir, daemon+".pid")) == 0 {
			return false
		}
	}
	out, err := exec.Command("sinfo", "-h", "-o", "%T").Output()
	state := strings.TrimSpace(string(out))
	return err == nil && (strings.HasPrefix(state, "idle") || strings.HasPrefix(state, "mixed") || strings.HasPrefix(state, "allocated"))
}

// configure writes slurm.conf for one node with this machine's CPUs and
// memory (from `slurmd -C`: without RealMemory the node would have 1 MB and
// refuse --mem), and the state directories.
func (c *Cluster) configure() error {
	slurmd, _ := lookPath("slurmd")
	out, err := exec.Command(slurmd, "-C").Output()
	if err != nil {
		return fmt.Errorf("slurmd -C: %w", err)
	}
	cpus := regexp.MustCompile(`CPUs=(\d+)`).FindSubmatch(out)
	mem := regexp.MustCompile(`RealMemory=(\d+)`).FindSubmatch(out)
	if cpus == nil || mem == nil {
		return fmt.Errorf("slurmd -C printed no CPUs= and RealMemory=: %s", out)
	}
	for _, d := range []string{"state", "spool", "log"} {
		if err := os.MkdirAll(filepath.Join(c.Dir, d), 0o755); err != nil {
			return err
		}
	}
	if out, err := exec.Command("chown", "-R", "slurm:slurm", filepath.Join(c.Dir, "state"), filepath.Join(c.Dir, "log")).CombinedOutput(); err != nil {
		return fmt.Errorf("chown: %v: %s", err, out)
	}
	return os.WriteFile(c.Conf, []byte(c.conf(string(cpus[1]), string(mem[1]))), 0o644)
}

func (c *Cluster) conf(cpus, mem string) string {
	d := c.Dir
	return fmt.Sprintf(`# The test cluster of grid's tests (internal/slurmtest); rewritten at every start.
ClusterName=gridtest
SlurmctldHost=localhost
SlurmctldPort=%d
SlurmdPort=%d
AuthType=auth/munge
AuthInfo=cred_expire=%d
SlurmUser=slurm
StateSaveLocation=%s/state
SlurmdSpoolDir=%s/spool
SlurmctldPidFile=%s/slurmctld.pid
SlurmdPidFile=%s/slurmd.pid
SlurmctldLogFile=%s/log/slurmctld.log
SlurmdLogFile=%s/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
# Look at pending jobs every few seconds, not every minute: a requeued task
# becomes eligible at a time, and no event wakes the scheduler then.
SchedulerParameters=sched_interval=2,bf_interval=2
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MaxArraySize=1001
NodeName=localhost NodeAddr=127.0.0.1 CPUs=%s RealMemory=%s State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
`, ctldPort, slurmdPort, credExpire, d, d, d, d, d, d, cpus, mem)
}

// startDaemons stops what a dead cluster left, starts slurmctld (with a
// clean state: jobs of an earlier test run are forgotten) and slurmd, and
// waits for the node to be idle.
func (c *Cluster) startDaemons() error {
	for _, pidFile := range []string{"slurmd.pid", "slurmctld.pid"} {
		stopPidFile(filepath.Join(c.Dir, pidFile))
	}
	ctld, _ := lookPath("slurmctld")
	if out, err := exec.Command(ctld, "-c").CombinedOutput(); err != nil {
		return fmt.Errorf("slurmctld: %v: %s", err, out)
	}
	slurmd, _ := lookPath("slurmd")
	// -N: the node is named localhost, not after the host.
	if out, err := exec.Command(slurmd, "-N", "localhost").CombinedOutput(); err != nil {
		return fmt.Errorf("slurmd: %v: %s", err, out)
	}
	deadline := time.Now().Add(60 * time.Second)
	for !c.up() {
		if time.Now().After(deadline) {
			out, _ := exec.Command("sinfo").CombinedOutput()
			return fmt.Errorf("the node did not become idle within a minute: %s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return nil
}

// Stop ends this process's use of the cluster; the last user stops the
// daemons (and munged, if the cluster started it).
func (c *Cluster) Stop() {
	if c.user == nil {
		return
	}
	unlock, err := c.lock()
	if err != nil {
		return
	}
	defer unlock()
	c.user.Close() // releases this process's shared lock
	c.user = nil
	f, err := os.OpenFile(filepath.Join(c.Dir, "users"), os.O_RDWR, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		return // another test process still uses it
	}
	stopPidFile(filepath.Join(c.Dir, "slurmd.pid"))
	stopPidFile(filepath.Join(c.Dir, "slurmctld.pid"))
	if os.Remove(filepath.Join(c.Dir, "munged.started")) == nil {
		stopPidFile("/run/munge/munged.pid")
	}
}

// stopPidFile sends SIGTERM to the daemon of a pid file and waits up to 10 s
// for it to end.
func stopPidFile(path string) {
	pid := daemonPID(path)
	if pid == 0 || syscall.Kill(pid, syscall.SIGTERM) != nil {
		return
	}
	for i := 0; i < 100 && syscall.Kill(pid, 0) == nil; i++ {
		time.Sleep(100 * time.Millisecond)
	}
}

// daemonPID is the PID in a daemon's pid file (<daemon>.pid) if that
// process runs and is that daemon (a stale file may name a process that
// reused the number); 0 otherwise.
func daemonPID(path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 1 {
		return 0
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil || strings.TrimSpace(string(comm)) != strings.TrimSuffix(filepath.Base(path), ".pid") {
		return 0
	}
	return pid
}

// logTail is the end of the daemons' logs, for a failure message.
func (c *Cluster) logTail() string {
	var b strings.Builder
	for _, name := range []string{"slurmctld.log", "slurmd.log"} {
		data, err := os.ReadFile(filepath.Join(c.Dir, "log", name))
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		fmt.Fprintf(&b, "--- %s\n%s\n", name, strings.Join(lines[max(0, len(lines)-15):], "\n"))
	}
	return b.String()
}
