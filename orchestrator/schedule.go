package orchestrator

import (
	"errors"

	"github.com/fomo-grid/grid/internal/study"
	"github.com/fomo-grid/grid/results"
	"github.com/fomo-grid/grid/sweeps"
)

// schedule is the run's view of the DAG: which jobs are done, waiting,
// handed out, failed or run elsewhere. Jobs are handed out in the grid's
// topological order.
type schedule struct {
	order []sweeps.Job
	state map[string]string // id -> one of the sched* states
	done  int               // jobs already done when the run started
	// external says whether a dependency outside order is done; nil means
	// none is (a whole grid has no such dependency).
	external func(id string) bool
}

const (
	schedWaiting   = "waiting"
	schedRunning   = "running"
	schedDone      = "done"
	schedFailed    = "failed"
	schedElsewhere = "elsewhere" // claimed by another live process
)

// newSchedule plans jobs (in topological order) from their states in the
// session's database.
func (s *Session) newSchedule(jobs []sweeps.Job, external func(string) bool) (*schedule, error) {
	rows, err := s.DB.Jobs(s.GridID)
	if err != nil {
		return nil, err
	}
	dbState := make(map[string]results.JobState, len(rows))
	for _, r := range rows {
		dbState[r.ID] = r.State
	}
	st := &schedule{order: jobs, state: map[string]string{}, external: external}
	for _, j := range jobs {
		if dbState[j.ID] == results.StateDone && !s.needsRerun(j, dbState) {
			st.state[j.ID] = schedDone
			st.done++
		} else {
			st.state[j.ID] = schedWaiting
		}
	}
	return st, nil
}

// needsRerun is true for a done train job whose checkpoint is gone while a
// job that reads it still has to run: without it the dependents cannot.
func (s *Session) needsRerun(j sweeps.Job, dbState map[string]results.JobState) bool {
	if j.Config.Kind != study.KindTrain || fileExists(s.CheckpointPath(j.ID)) {
		return false
	}
	for _, other := range s.Grid.Jobs {
		if other.Config.Source == j.ID && dbState[other.ID] != results.StateDone {
			return true
		}
	}
	return false
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
	for _, j := range st.order {
		if st.state[j.ID] != schedWaiting {
			continue
		}
		ready := true
		for _, d := range j.Deps {
			if !st.depDone(d) {
				ready = false
				break
			}
		}
		if ready {
			st.state[j.ID] = schedRunning
			return j, true
		}
	}
	return sweeps.Job{}, false
}

// record books a job's outcome in the schedule and the summary.
func (st *schedule) record(o outcome, cancelled bool, sum *Summary) {
	var held *heldError
	switch {
	case o.err == nil:
		st.state[o.job.ID] = schedDone
		sum.Done++
	case errors.Is(o.err, errDoneElsewhere):
		st.state[o.job.ID] = schedDone
		sum.Skipped++
	case errors.As(o.err, &held):
		st.state[o.job.ID] = schedElsewhere
		sum.Elsewhere++
	case cancelled:
		// Cancelled: the job went back to pending.
		st.state[o.job.ID] = schedWaiting
	default:
		st.state[o.job.ID] = schedFailed
		sum.Failed++
	}
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
