package orchestrator

import (
	"github.com/fomo-grid/grid/internal/study"
	"github.com/fomo-grid/grid/results"
	"github.com/fomo-grid/grid/sweeps"
)

// schedule is the run's view of the DAG: which jobs are done, waiting,
// handed out or failed. Jobs are handed out in the grid's topological order.
type schedule struct {
	order  []sweeps.Job
	state  map[string]string // id -> one of the sched* states
	done   int               // jobs already done when the run started
	failed map[string]bool
}

const (
	schedWaiting = "waiting"
	schedRunning = "running"
	schedDone    = "done"
	schedFailed  = "failed"
)

func (s *Session) newSchedule() (*schedule, error) {
	rows, err := s.DB.Jobs(s.GridID)
	if err != nil {
		return nil, err
	}
	dbState := make(map[string]results.JobState, len(rows))
	for _, r := range rows {
		dbState[r.ID] = r.State
	}
	st := &schedule{order: s.Grid.Jobs, state: map[string]string{}, failed: map[string]bool{}}
	for _, j := range s.Grid.Jobs {
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

// next returns a waiting job whose dependencies are all done.
func (st *schedule) next() (sweeps.Job, bool) {
	for _, j := range st.order {
		if st.state[j.ID] != schedWaiting {
			continue
		}
		ready := true
		for _, d := range j.Deps {
			if st.state[d] != schedDone {
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

func (st *schedule) markDone(id string)   { st.state[id] = schedDone }
func (st *schedule) markFailed(id string) { st.state[id] = schedFailed }

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

// blocked counts waiting jobs that can never run because something upstream
// failed.
func (st *schedule) blocked() int {
	memo := map[string]bool{}
	var dead func(id string) bool
	byID := map[string]sweeps.Job{}
	for _, j := range st.order {
		byID[j.ID] = j
	}
	dead = func(id string) bool {
		if v, ok := memo[id]; ok {
			return v
		}
		memo[id] = false
		if st.state[id] == schedFailed {
			memo[id] = true
			return true
		}
		for _, d := range byID[id].Deps {
			if dead(d) {
				memo[id] = true
				return true
			}
		}
		return false
	}
	n := 0
	for _, j := range st.order {
		if st.state[j.ID] == schedWaiting && dead(j.ID) {
			n++
		}
	}
	return n
}
