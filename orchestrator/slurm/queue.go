package slurm

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
)

// TaskView is SLURM's view of the array task that holds a grid job in the
// latest submission that lists the job.
type TaskView struct {
	Submission string `json:"submission"`
	Stage      string `json:"stage"`
	Task       int    `json:"task"`       // task number in the stage
	ArrayTask  string `json:"array_task"` // SLURM's "<array job ID>_<index>"; "" if never submitted
	// State is SLURM's (PENDING, RUNNING, COMPLETED, FAILED, CANCELLED,
	// ...), UNSUBMITTED when its sbatch call never happened, or ENDED when
	// SLURM no longer knows the job (it ended more than MinJobAge ago).
	State    string `json:"state"`
	Reason   string `json:"reason,omitempty"`
	Restarts int    `json:"restarts,omitempty"` // times requeued
	ExitCode string `json:"exit_code,omitempty"`
}

// Live says whether the task may still run: submitting its jobs again
// would run them twice.
func (v TaskView) Live() bool { return live(v.State) }

func (v TaskView) String() string {
	s := v.ArrayTask + " " + v.State
	if v.ArrayTask == "" {
		s = v.State
	}
	if v.Reason != "" && v.Reason != "None" {
		s += " (" + v.Reason + ")"
	}
	if v.Restarts > 0 {
		s += fmt.Sprintf(", requeued %d×", v.Restarts)
	}
	if v.State == "FAILED" || v.State == "CANCELLED" || v.State == "TIMEOUT" || v.State == "OUT_OF_MEMORY" {
		if v.ExitCode != "" && v.ExitCode != "0:0" {
			s += " exit " + v.ExitCode
		}
	}
	return s
}

// ArrayView is one array (or the merge job) of a submission.
type ArrayView struct {
	Submission string         `json:"submission"`
	Stage      string         `json:"stage"`
	JobID      string         `json:"job_id,omitempty"`
	States     map[string]int `json:"states"` // tasks per state
}

func (a ArrayView) String() string {
	id := a.JobID
	if id == "" {
		id = "unsubmitted"
	}
	states := make([]string, 0, len(a.States))
	for state := range a.States {
		states = append(states, state)
	}
	sort.Strings(states)
	parts := make([]string, 0, len(states))
	for _, state := range states {
		parts = append(parts, fmt.Sprintf("%d %s", a.States[state], strings.ToLower(state)))
	}
	return fmt.Sprintf("%s %s %s: %s", a.Submission, a.Stage, id, strings.Join(parts, ", "))
}

// View is SLURM's view of a run directory's submissions.
type View struct {
	Arrays []ArrayView          `json:"arrays"`
	Jobs   map[string]*TaskView `json:"jobs"` // by grid job ID
}

// Queue asks the cluster about every submission of the run directory.
// Requeued tasks show as pending (or running) with a restart count.
func Queue(ctx context.Context, runDir string, cluster Cluster) (*View, error) {
	subs, err := submissions(runDir)
	if err != nil {
		return nil, err
	}
	v := &View{Jobs: map[string]*TaskView{}}
	for _, sub := range subs {
		for _, st := range sub.m.Stages {
			for p, part := range st.Parts {
				if err := v.addPart(ctx, cluster, sub, st, p, part); err != nil {
					return nil, err
				}
			}
		}
	}
	return v, nil
}

// addPart records one array: every task's state under the grid jobs it
// holds (a later submission's view replaces an earlier one's).
func (v *View) addPart(ctx context.Context, cluster Cluster, sub submission, st Stage, p int, part Part) error {
	jobID := sub.record.JobIDs[partKey(st.Name, p)]
	arr := ArrayView{Submission: sub.m.Submission, Stage: st.Name, JobID: jobID, States: map[string]int{}}
	byIndex := map[int]TaskRecord{}
	var single *TaskRecord
	if jobID != "" {
		recs, err := cluster.Job(ctx, jobID)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if r.Tasks == nil {
				single = &r
			}
			for _, i := range r.Tasks {
				byIndex[i] = r
			}
		}
	}
	if part.Indices == "" { // the merge job
		arr.States[recordState(jobID, single)]++
		v.Arrays = append(v.Arrays, arr)
		return nil
	}
	indices, err := expandRanges(part.Indices)
	if err != nil {
		return err
	}
	for _, i := range indices {
		r, known := byIndex[i]
		tv := &TaskView{Submission: sub.m.Submission, Stage: st.Name, Task: part.Offset + i}
		if known {
			tv.State, tv.Reason, tv.Restarts, tv.ExitCode = r.State, r.Reason, r.Restarts, r.ExitCode
		} else {
			tv.State = recordState(jobID, nil)
		}
		if jobID != "" {
			tv.ArrayTask = fmt.Sprintf("%s_%d", jobID, i)
		}
		arr.States[tv.State]++
		for _, id := range st.Tasks[part.Offset+i] {
			v.Jobs[id] = tv
		}
	}
	v.Arrays = append(v.Arrays, arr)
	return nil
}

func recordState(jobID string, r *TaskRecord) string {
	switch {
	case jobID == "":
		return "UNSUBMITTED"
	case r == nil:
		return "ENDED"
	}
	return r.State
}

// Queued lists the grid jobs held by a live array task, with the SLURM job
// ID of its array.
func (v *View) Queued() map[string]string {
	out := map[string]string{}
	for id, tv := range v.Jobs {
		if tv.Live() {
			out[id], _, _ = strings.Cut(tv.ArrayTask, "_")
		}
	}
	return out
}

// QueueOf is Queue of a run directory; nil when its grid was never
// submitted.
func QueueOf(ctx context.Context, runDir string, cluster Cluster) (*View, error) {
	if _, err := os.Stat(Dir(runDir)); err != nil {
		return nil, nil
	}
	return Queue(ctx, runDir, cluster)
}
