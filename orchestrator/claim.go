package orchestrator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fomo-grid/grid/results"
)

// Claims say which process runs, or ran, a job. They are what keeps a job
// from running twice when a local `grid run` and SLURM array tasks on other
// hosts work on one run directory, which they share only as files: the
// run directory's flock and the database cannot serve (flock is unreliable
// on network filesystems, and array tasks must not open the database).
//
// A job's claims are a log of numbered entries, jobs/<id>/claim/<n>.json,
// each created once by a hard link, which fails if the name exists, on
// every filesystem including NFS. So of two processes that read entry n and
// write n+1, one wins. The latest entry is the job's state: running (with
// an owner that refreshes the entry's modification time), done, or
// released (the owner stopped without finishing: the job is free).
type claimLog struct {
	runDir string
	me     claimOwner
	// lease is how long a running claim of another host lives without a
	// heartbeat. On this host the owner's process is checked directly.
	lease time.Duration
}

// Claim states.
const (
	claimRunning  = "running"
	claimDone     = "done"
	claimReleased = "released"
)

// claimLease and claimHeartbeat: NFS clients cache attributes for up to a
// minute, so a heartbeat every minute is seen within two, and a claim is
// taken over only after five minutes of silence.
const (
	claimLease     = 5 * time.Minute
	claimHeartbeat = time.Minute
)

// claimOwner identifies a process across hosts and PID reuse.
type claimOwner struct {
	Host string `json:"host"`
	PID  int    `json:"pid"`
	// Start is the process's start time in clock ticks after boot
	// (/proc/<pid>/stat), so a new process with the same PID is not
	// mistaken for the owner.
	Start uint64 `json:"start"`
	Who   string `json:"who"` // e.g. "grid run", "slurm 1234_5"
}

type claimEntry struct {
	claimOwner
	State string    `json:"state"`
	Time  time.Time `json:"time"`
	n     int       // its number in the log
	seen  time.Time // its modification time: the latest heartbeat
}

// errClaimRace is a lost race for the next entry: read again.
var errClaimRace = errors.New("claim taken meanwhile")

func newClaimLog(runDir, who string) (*claimLog, error) {
	host, err := os.Hostname()
	if err != nil {
		return nil, err
	}
	start, err := processStart(os.Getpid())
	if err != nil {
		return nil, err
	}
	return &claimLog{runDir: runDir, lease: claimLease,
		me: claimOwner{Host: host, PID: os.Getpid(), Start: start, Who: who}}, nil
}

func (c *claimLog) dir(jobID string) string { return filepath.Join(c.runDir, "jobs", jobID, "claim") }

// latest returns the job's latest claim entry; nil when there is none.
func (c *claimLog) latest(jobID string) (*claimEntry, error) {
	names, err := filesIn(c.dir(jobID), ".json")
	if err != nil {
		return nil, err
	}
	var numbers []int
	for _, name := range names {
		if n, err := strconv.Atoi(strings.TrimSuffix(name, ".json")); err == nil {
			numbers = append(numbers, n)
		}
	}
	if len(numbers) == 0 {
		return nil, nil
	}
	sort.Ints(numbers)
	n := numbers[len(numbers)-1]
	p := c.entryPath(jobID, n)
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	e := &claimEntry{n: n, seen: st.ModTime()}
	if err := json.Unmarshal(data, e); err != nil {
		return nil, fmt.Errorf("claim %s: %w", p, err)
	}
	return e, nil
}

func (c *claimLog) entryPath(jobID string, n int) string {
	return filepath.Join(c.dir(jobID), fmt.Sprintf("%06d.json", n))
}

// append writes entry n+1 after the entry last read, or fails with
// errClaimRace when another process wrote it first. The entry is complete
// before its name appears: it is written under a temporary name and hard
// linked.
func (c *claimLog) append(jobID string, after *claimEntry, state string) (*claimEntry, error) {
	n := 1
	if after != nil {
		n = after.n + 1
	}
	e := &claimEntry{claimOwner: c.me, State: state, Time: time.Now().UTC(), n: n}
	data, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(c.dir(jobID), 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(c.dir(jobID), ".entry-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("claim of job %s: %w", jobID, err)
	}
	if err := os.Link(tmp.Name(), c.entryPath(jobID, n)); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, errClaimRace
		}
		return nil, fmt.Errorf("claim of job %s: %w", jobID, err)
	}
	e.seen = time.Now()
	return e, nil
}

// alive says whether a running entry's owner may still be at work.
func (c *claimLog) alive(e *claimEntry) bool {
	if e.State != claimRunning {
		return false
	}
	if e.Host == c.me.Host {
		start, err := processStart(e.PID)
		return err == nil && start == e.Start
	}
	return time.Since(e.seen) < c.lease
}

func (c *claimLog) mine(e *claimEntry) bool { return e.claimOwner == c.me }

// claimOutcome is what take found.
type claimOutcome int

const (
	claimTaken       claimOutcome = iota // the job is ours to run
	claimHeld                            // another live process runs it
	claimDoneAlready                     // someone finished it
)

// take claims a job for this process. A done job is taken again only when
// overrideDone is set: by a process that knows from the database that the
// job must run (its row was deleted to run it again).
func (c *claimLog) take(jobID string, overrideDone bool) (claimOutcome, *claimEntry, error) {
	for {
		e, err := c.latest(jobID)
		if err != nil {
			return 0, nil, err
		}
		switch {
		case e != nil && e.State == claimRunning && c.mine(e):
			return claimTaken, e, nil
		case e != nil && c.alive(e):
			return claimHeld, e, nil
		case e != nil && e.State == claimDone && !overrideDone:
			return claimDoneAlready, e, nil
		}
		mine, err := c.append(jobID, e, claimRunning)
		if errors.Is(err, errClaimRace) {
			continue
		}
		if err != nil {
			return 0, nil, err
		}
		return claimTaken, mine, nil
	}
}

// end closes this process's claim with done or released. If another
// process took the job over meanwhile (this one looked dead to it), its
// entry stays.
func (c *claimLog) end(jobID, state string) error {
	for {
		e, err := c.latest(jobID)
		if err != nil {
			return err
		}
		if e == nil || !c.mine(e) || e.State != claimRunning {
			return nil
		}
		_, err = c.append(jobID, e, state)
		if !errors.Is(err, errClaimRace) {
			return err
		}
	}
}

// isDone says whether a job's latest claim says it was finished.
func (c *claimLog) isDone(jobID string) bool {
	e, err := c.latest(jobID)
	return err == nil && e != nil && e.State == claimDone
}

// heartbeat refreshes this process's running claim of a job every period
// until stop is closed, so that other hosts see it alive. A refresh that
// fails is reported to warn (the job goes on: the next one may succeed, and
// until the lease runs out no other host takes the job).
func (c *claimLog) heartbeat(jobID string, e *claimEntry, period time.Duration, stop <-chan struct{}, wg *sync.WaitGroup, warn func(error)) {
	defer wg.Done()
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			now := time.Now()
			if err := os.Chtimes(c.entryPath(jobID, e.n), now, now); err != nil {
				warn(fmt.Errorf("claim of job %s not refreshed: %w", jobID, err))
			}
		}
	}
}

// processStart reads a process's start time (field 22 of /proc/<pid>/stat,
// in clock ticks after boot). A zombie (killed, not yet reaped) counts as
// gone.
func processStart(pid int) (uint64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, syscall.ESRCH
		}
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	fields := strings.Fields(s[i+1:])
	if len(fields) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	if fields[0] == "Z" || fields[0] == "X" {
		return 0, syscall.ESRCH
	}
	return strconv.ParseUint(fields[19], 10, 64) // field 22 is the 20th after the name
}

// ReleaseStaleClaims prepares jobs for processes that trust claims (SLURM
// array tasks): a job the database does not have as done, whose latest claim
// says done, was deleted from the database to run again, so its claim is
// released. Shards are merged first, so that a job an array task finished
// meanwhile is seen done, not released.
func (s *Session) ReleaseStaleClaims(jobIDs []string, who string) error {
	claims, err := newClaimLog(s.RunDir, who)
	if err != nil {
		return err
	}
	var stale []string
	for _, id := range jobIDs {
		if claims.isDone(id) {
			stale = append(stale, id)
		}
	}
	if len(stale) == 0 {
		return nil
	}
	if _, err := s.MergeShards(); err != nil {
		return err
	}
	for _, id := range stale {
		row, err := s.DB.Job(id)
		if err != nil || row.State == results.StateDone {
			continue
		}
		e, err := claims.latest(id)
		if err != nil {
			return err
		}
		if _, err := claims.append(id, e, claimReleased); err != nil && !errors.Is(err, errClaimRace) {
			return err
		}
	}
	return nil
}
