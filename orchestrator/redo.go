package orchestrator

import (
	"fmt"
	"strings"
)

// RedoStale is the --redo value that names every stale job.
const RedoStale = "stale"

// redoRequest is what --redo asked for, resolved against the grid file
// before anything is written: job IDs, and whether the stale jobs are to be
// found too (which needs the database).
type redoRequest struct {
	ids   []string
	stale bool
}

// resolveRedo finds the jobs --redo names: each reference (or each of a
// comma-separated list) is "stale", a job ID, a unique ID prefix or a job
// name. A reference that names no job of the grid is an error.
func (s *Session) resolveRedo(refs []string) (redoRequest, error) {
	var req redoRequest
	for _, ref := range refs {
		for _, r := range strings.Split(ref, ",") {
			r = strings.TrimSpace(r)
			switch {
			case r == "":
			case r == RedoStale:
				req.stale = true
			default:
				ids, err := s.findJobs(r)
				if err != nil {
					return req, err
				}
				req.ids = append(req.ids, ids...)
			}
		}
	}
	return req, nil
}

// findJobs resolves one job reference.
func (s *Session) findJobs(ref string) ([]string, error) {
	if _, ok := s.Grid.Job(ref); ok {
		return []string{ref}, nil
	}
	var byName, byPrefix []string
	for _, j := range s.Grid.Jobs {
		if j.Name == ref {
			byName = append(byName, j.ID)
		}
		if strings.HasPrefix(j.ID, ref) {
			byPrefix = append(byPrefix, j.ID)
		}
	}
	switch {
	case len(byName) > 0:
		return byName, nil
	case len(byPrefix) == 1:
		return byPrefix, nil
	case len(byPrefix) > 1:
		return nil, fmt.Errorf("--redo %s: the ID prefix fits %d jobs of %s; give more of the ID", ref, len(byPrefix), s.Grid.File)
	}
	return nil, fmt.Errorf("--redo %s: no job of %s has that ID, ID prefix or name (see `grid plan`; or --redo %s)", ref, s.Grid.File, RedoStale)
}

// redo puts the requested jobs, and every job downstream of them, back to
// pending with a fresh set of attempts; the schedule then runs them in DAG
// order. Their old results stay until the new ones replace them.
func (s *Session) redo(req redoRequest) error {
	ids := req.ids
	if req.stale {
		rows, err := s.DB.JobRows()
		if err != nil {
			return err
		}
		for id := range staleJobs(s.Grid, s.RunDir, rows) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	return s.DB.Redo(s.downstream(ids))
}

// downstream is ids and every job that depends on one of them, directly
// or not, in grid (topological) order.
func (s *Session) downstream(ids []string) []string {
	dependents := map[string][]string{}
	for _, j := range s.Grid.Jobs {
		for _, d := range j.Deps {
			dependents[d] = append(dependents[d], j.ID)
		}
	}
	in := map[string]bool{}
	queue := append([]string(nil), ids...)
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		if in[id] {
			continue
		}
		in[id] = true
		queue = append(queue, dependents[id]...)
	}
	out := make([]string, 0, len(in))
	for _, j := range s.Grid.Jobs {
		if in[j.ID] {
			out = append(out, j.ID)
		}
	}
	return out
}
