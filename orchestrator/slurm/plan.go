package slurm

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/fomo-grid/grid/internal/study"
	"github.com/fomo-grid/grid/sweeps"
)

// plan lays out a submission's jobs as stages of array tasks.
//
// Train jobs are packed jobs_per_task to a task. Eval task i holds the
// evaluations of train task i's jobs, so that --dependency=aftercorr lets
// it start as soon as train task i has ended well, not when the whole
// train array has. Evaluations whose source is not in this submission
// (done, or queued by an earlier one) follow in arrays of their own, packed
// by the eval stage's jobs_per_task, which wait for nothing here. Each
// stage is cut into arrays of at most maxArray tasks; eval array p depends
// on train array p, and any eval array on the earlier arrays still running
// the sources of its jobs (queuedIn: job ID -> SLURM job ID).
func plan(jobs []sweeps.Job, cfg sweeps.Slurm, maxArray int, queuedIn map[string]string) []Stage {
	train := Stage{Name: sweeps.StageTrain, Resources: cfg.Stage(sweeps.StageTrain)}
	eval := Stage{Name: sweeps.StageEval, Resources: cfg.Stage(sweeps.StageEval)}
	var trains []string
	sourceOf := map[string]string{}
	for _, j := range jobs {
		sourceOf[j.ID] = j.Config.Source
		if j.Config.Kind == study.KindTrain {
			trains = append(trains, j.ID)
		}
	}
	train.Tasks = pack(trains, train.Resources.JobsPerTask)
	taskOf := map[string]int{}
	for i, task := range train.Tasks {
		for _, id := range task {
			taskOf[id] = i
		}
	}
	eval.Tasks = make([][]string, len(train.Tasks))
	var rest []string
	for _, j := range jobs {
		if j.Config.Kind != study.KindEval {
			continue
		}
		if i, ok := taskOf[j.Config.Source]; ok {
			eval.Tasks[i] = append(eval.Tasks[i], j.ID)
		} else {
			rest = append(rest, j.ID)
		}
	}
	aligned := len(eval.Tasks)
	eval.Tasks = append(eval.Tasks, pack(rest, eval.Resources.JobsPerTask)...)
	train.Parts = parts(train.Tasks, 0, len(train.Tasks), maxArray)
	for _, part := range parts(eval.Tasks, 0, aligned, maxArray) {
		part.After = []Dep{{Type: "aftercorr", Stage: sweeps.StageTrain, Part: trainPartAt(train.Parts, part.Offset)}}
		eval.Parts = append(eval.Parts, part)
	}
	eval.Parts = append(eval.Parts, parts(eval.Tasks, aligned, len(eval.Tasks), maxArray)...)
	for p := range eval.Parts {
		eval.Parts[p].After = append(eval.Parts[p].After, earlierArrays(eval.Tasks, eval.Parts[p], sourceOf, queuedIn)...)
	}
	var stages []Stage
	for _, st := range []Stage{train, eval} {
		if len(st.Parts) > 0 {
			stages = append(stages, st)
		}
	}
	return append(stages, mergeStage(cfg, stages))
}

// trainPartAt is the train array holding the task numbered offset: eval
// task i pairs with train task i.
func trainPartAt(trainParts []Part, offset int) int {
	for p, part := range trainParts {
		if part.Offset == offset {
			return p
		}
	}
	return -1
}

// pack cuts ids into tasks of at most n.
func pack(ids []string, n int) [][]string {
	var tasks [][]string
	for len(ids) > 0 {
		k := min(n, len(ids))
		tasks = append(tasks, ids[:k:k])
		ids = ids[k:]
	}
	return tasks
}

// parts cuts tasks [from, to) into arrays of at most maxArray indices
// (SLURM refuses an index >= MaxArraySize); each lists its non-empty tasks.
func parts(tasks [][]string, from, to, maxArray int) []Part {
	var out []Part
	for off := from; off < to; off += maxArray {
		var idx []int
		for i := off; i < min(off+maxArray, to); i++ {
			if len(tasks[i]) > 0 {
				idx = append(idx, i-off)
			}
		}
		if len(idx) > 0 {
			out = append(out, Part{Offset: off, Indices: ranges(idx)})
		}
	}
	return out
}

// earlierArrays are afterany dependencies on the arrays of earlier
// submissions that still hold a source of one of the part's jobs.
func earlierArrays(tasks [][]string, part Part, sourceOf, queuedIn map[string]string) []Dep {
	idx, _ := expandRanges(part.Indices)
	seen := map[string]bool{}
	for _, i := range idx {
		for _, id := range tasks[part.Offset+i] {
			if job, ok := queuedIn[sourceOf[id]]; ok {
				seen[job] = true
			}
		}
	}
	ids := make([]string, 0, len(seen))
	for id := range seen {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var deps []Dep
	for _, id := range ids {
		deps = append(deps, Dep{Type: "afterany", JobID: id})
	}
	return deps
}

// mergeStage is the one job that merges the shards and writes the report
// once every array of the submission has ended, however it ended.
func mergeStage(cfg sweeps.Slurm, stages []Stage) Stage {
	merge := Stage{Name: sweeps.StageMerge, Resources: cfg.Stage(sweeps.StageMerge)}
	part := Part{}
	for _, st := range stages {
		for p := range st.Parts {
			part.After = append(part.After, Dep{Type: "afterany", Stage: st.Name, Part: p})
		}
	}
	merge.Parts = []Part{part}
	return merge
}

// ranges writes sorted indices as SLURM's array list: "0-3,5,7-8".
func ranges(idx []int) string {
	var b strings.Builder
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && idx[j+1] == idx[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(idx[i]))
		if j > i {
			fmt.Fprintf(&b, "-%d", idx[j])
		}
		i = j + 1
	}
	return b.String()
}

// expandRanges reads an array list back ("0-3,5", "1-7%2", "4"), dropping a
// throttle; SLURM also writes a step ("0-8:2").
func expandRanges(s string) ([]int, error) {
	s, _, _ = strings.Cut(s, "%")
	var out []int
	for _, r := range strings.Split(s, ",") {
		r, stepText, hasStep := strings.Cut(r, ":")
		step := 1
		if hasStep {
			var err error
			if step, err = strconv.Atoi(stepText); err != nil || step < 1 {
				return nil, fmt.Errorf("array list %q: bad step", s)
			}
		}
		lo, hi, isRange := strings.Cut(r, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil, fmt.Errorf("array list %q: %w", s, err)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil {
				return nil, fmt.Errorf("array list %q: %w", s, err)
			}
		}
		for i := a; i <= b; i += step {
			out = append(out, i)
		}
	}
	return out, nil
}
