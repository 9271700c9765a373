package orchestrator

import (
	"errors"

	"github.com/fomo-grid/grid/results"
	"github.com/fomo-grid/grid/sweeps"
)

// schedule is the run's view of the DAG: which jobs are done, waiting,
// handed out, failed or run elsewhere. Jobs are handed out in the grid's
// topological order. Handing out the next job costs a heap operation, not
// a pass over the grid: a run of 200,000 jobs would otherwise spend its
// time scanning done jobs.
type schedule struct {
	order []sweeps.Job
	state map[string]string // id -> one of the sched* states
	done  int               // jobs already done when the run started
	// external says whether a dependency outside order is done; nil means
	// none is (a whole grid has no such dependency).
	external func(id string) bool

	pos        map[string]int   // id -> index in order
	dependents map[string][]int // id -> indices of the jobs that need it
	missing    []int            // per index: dependencies in order not done yet
	ready      indexHeap        // waiting jobs whose dependencies in order are done
	parked     []int            // ready but for a dependency outside order
	// recorded, when set, says how many jobs of order (a prefix) the
	// database holds yet: a grid recorded in parts (record.go).
	recorded func() int
}

const (
	schedWaiting   = "waiting"
	schedRunning   = "running"
	schedDone      = "done"
	schedFailed    = "failed"
	schedElsewhere = "elsewhere" // claimed by another live process
)

// newSchedule plans jobs (in topological order) from their states in the
// session's database. A done train job whose checkpoint is gone while a
// job that reads it still has to run is put back to pending (in the
// database too), so that it runs again first.
func (s *Session) newSchedule(jobs []sweeps.Job, external func(string) bool) (*schedule, error) {
	dbState, err := s.DB.JobStates()
	if err != nil {
		return nil, err
	}
	rerun := s.rerunNeeded(jobs, dbState)
	if len(rerun) > 0 {
		if err := s.DB.Redo(rerun); err != nil {
			return nil, err
		}
		for _, id := range rerun {
			dbState[id] = results.StatePending
		}
	}
	st := &schedule{order: jobs, state: make(map[string]string, len(jobs)), external: external,
		pos: make(map[string]int, len(jobs)), dependents: map[string][]int{}, missing: make([]int, len(jobs))}
	for i, j := range jobs {
		st.pos[j.ID] = i
		if dbState[j.ID] == results.StateDone {
			st.state[j.ID] = schedDone
			st.done++
		} else {
			st.state[j.ID] = schedWaiting
		}
	}
	for i, j := range jobs {
		for _, d := range j.Deps {
			if _, in := st.pos[d]; in {
				st.dependents[d] = append(st.dependents[d], i)
				if st.state[d] != schedDone {
					st.missing[i]++
				}
			}
		}
		if st.state[j.ID] == schedWaiting && st.missing[i] == 0 {
			st.ready.push(i)
		}
	}
	return st, nil
}

// rerunNeeded lists done train jobs whose checkpoint is gone while a job
// that reads it is not done: without the checkpoint those cannot run.
func (s *Session) rerunNeeded(jobs []sweeps.Job, dbState map[string]results.JobState) []string {
	var out []string
	seen := map[string]bool{}
	for _, j := range jobs {
		src := j.Config.Source
		if src == "" || seen[src] || dbState[j.ID] == results.StateDone || dbState[src] != results.StateDone {
			continue
		}
		seen[src] = true
		if !fileExists(s.CheckpointPath(src)) {
			out = append(out, src)
		}
	}
	return out
}

// depDone says whether a dependency is done, in this run or outside it.
func (st *schedule) depDone(id string) bool {
	if s, ok := st.state[id]; ok {
		return s == schedDone
	}
	return st.external != nil && st.external(id)
}

// next returns a waiting job whose dependencies are all done.
func (st *schedule) next() (sweeps.Job, bool) {
	parked := st.parked
	st.parked = nil
	for _, i := range parked {
		st.ready.push(i)
	}
	for st.ready.Len() > 0 {
		if st.recorded != nil && st.ready[0] >= st.recorded() {
			break // the earliest ready job is not in the database yet
		}
		i := st.ready.pop()
		j := st.order[i]
		if st.state[j.ID] != schedWaiting {
			continue
		}
		if !st.externalDone(j) {
			st.parked = append(st.parked, i)
			continue
		}
		st.state[j.ID] = schedRunning
		return j, true
	}
	return sweeps.Job{}, false
}

// externalDone says whether the job's dependencies outside order are done.
func (st *schedule) externalDone(j sweeps.Job) bool {
	for _, d := range j.Deps {
		if _, in := st.pos[d]; !in && !st.depDone(d) {
			return false
		}
	}
	return true
}

// setDone marks a job done and readies the jobs that waited only for it.
func (st *schedule) setDone(id string) {
	st.state[id] = schedDone
	for _, i := range st.dependents[id] {
		st.missing[i]--
		if st.missing[i] == 0 && st.state[st.order[i].ID] == schedWaiting {
			st.ready.push(i)
		}
	}
}

// setWaiting puts a handed-out job back: it may be handed out again.
func (st *schedule) setWaiting(id string) {
	st.state[id] = schedWaiting
	if i := st.pos[id]; st.missing[i] == 0 {
		st.ready.push(i)
	}
}

// record books a job's outcome in the schedule and the summary. A job cut
// off by a failure that stopped the run goes back to waiting, uncounted.
func (st *schedule) record(o outcome, cancelled bool, sum *Summary) {
	var held *heldError
	switch {
	case o.err == nil:
		st.setDone(o.job.ID)
		sum.Done++
	case errors.Is(o.err, errDoneElsewhere):
		st.setDone(o.job.ID)
		sum.Skipped++
	case errors.As(o.err, &held):
		st.state[o.job.ID] = schedElsewhere
		sum.Elsewhere++
	case cancelled || stopsRun(o.err):
		// Cancelled or stopped: the job went back to pending.
		st.setWaiting(o.job.ID)
	default:
		st.state[o.job.ID] = schedFailed
		sum.Failed++
	}
}

// indexHeap is a min-heap of job indices: the earliest ready job first.
type indexHeap []int

func (h indexHeap) Len() int { return len(h) }

func (h *indexHeap) push(i int) {
	*h = append(*h, i)
	a := *h
	for c := len(a) - 1; c > 0; {
		p := (c - 1) / 2
		if a[p] <= a[c] {
			break
		}
		a[p], a[c] = a[c], a[p]
		c = p
	}
}

func (h *indexHeap) pop() int {
	a := *h
	top := a[0]
	last := len(a) - 1
	a[0] = a[last]
	a = a[:last]
	for p := 0; ; {
		c := 2*p + 1
		if c >= len(a) {
			break
		}
		if c+1 < len(a) && a[c+1] < a[c] {
			c++
		}
		if a[p] <= a[c] {
			break
		}
		a[p], a[c] = a[c], a[p]
		p = c
	}
	*h = a
	return top
}

// remaining counts jobs not done.
func (st *schedule) remaining() int {
	n := 0
	for _, s := range st.state {
		if s != schedDone {
			n++
		}
	}
	return n
}

// blocked counts waiting jobs that cannot run in this run because something
// upstream failed, runs elsewhere or is not done outside it.
func (st *schedule) blocked() int {
	memo := map[string]bool{}
	byID := map[string]sweeps.Job{}
	for _, j := range st.order {
		byID[j.ID] = j
	}
	var dead func(id string) bool
	dead = func(id string) bool {
		if v, ok := memo[id]; ok {
			return v
		}
		memo[id] = false
		s, inRun := st.state[id]
		switch {
		case !inRun:
			memo[id] = !st.depDone(id)
		case s == schedFailed || s == schedElsewhere:
			memo[id] = true
		default:
			for _, d := range byID[id].Deps {
				if dead(d) {
					memo[id] = true
					break
				}
			}
		}
		return memo[id]
	}
	n := 0
	for _, j := range st.order {
		if st.state[j.ID] == schedWaiting && dead(j.ID) {
			n++
		}
	}
	return n
}
