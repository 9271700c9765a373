// Package slurm runs a grid as SLURM job arrays, with nothing left running
// on the login node.
//
// `grid submit` (Submit) writes, for one submission of the jobs that are
// neither done nor already queued, an immutable manifest (which jobs each
// array task runs, with their resolved configurations) and one sbatch
// script per stage: train, eval (each task after the train task holding
// its sources: --dependency=aftercorr), and a merge job that runs when the
// arrays have ended (afterany). Stages larger than MaxArraySize are split
// into several arrays.
//
// An array task (RunTask, the hidden `grid __slurm-task`) runs its jobs as
// an orchestrator share: through the same worker processes, retries and
// claims as `grid run`, into a results database of its own on node-local
// disk, which it publishes atomically into the run directory after every
// job. The run's database is written only by `grid run`, `grid status`,
// `grid report`, `grid submit` and the merge job, which merge the shards.
// At SIGUSR1 (the time limit is near) a task stops its jobs, publishes,
// and exits with ExitRequeue, and its script requeues it; the requeued task
// starts from what it published.
//
// Queue reads SLURM's view of the submissions (scontrol, one call per
// array) for `grid status`.
package slurm

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/fomo-grid/grid/internal/atomicfile"
	"github.com/fomo-grid/grid/sweeps"
)

// manifestVersion is the manifest format this package reads and writes.
const manifestVersion = 1

// Manifest is one submission, written before anything is submitted and
// never changed: what every array task of it runs.
type Manifest struct {
	Version    int       `json:"version"`
	Submission string    `json:"submission"` // "001", "002", ... in the run directory
	Created    time.Time `json:"created"`
	Grid       GridInfo  `json:"grid"`
	Binary     string    `json:"binary"` // the grid executable the scripts start
	// Jobs are the submission's jobs with their resolved configurations,
	// in topological order.
	Jobs []sweeps.Job `json:"jobs"`
	// Attempts are the jobs' attempt counts in the run's database when
	// submitted, so that attempt numbers continue.
	Attempts map[string]int `json:"attempts,omitempty"`
	// DoneBefore lists dependencies outside the submission that were done
	// when it was submitted.
	DoneBefore []string `json:"done_before,omitempty"`
	Stages     []Stage  `json:"stages"`
}

// GridInfo is what a task needs of the grid file; the file itself may be
// edited after the submission without changing what the tasks run.
type GridInfo struct {
	Name    string `json:"name"`
	File    string `json:"file"`    // absolute path of the grid file
	Dir     string `json:"dir"`     // its directory: relative paths of jobs resolve against it
	RunDir  string `json:"run_dir"` // absolute
	Retries int    `json:"retries"`
	// Backend is the engine backend setting (auto, cpu, cuda; "" is
	// auto), resolved by each task on its node.
	Backend string `json:"backend,omitempty"`
}

// Stage is one sbatch script and the arrays submitted with it.
type Stage struct {
	Name      string           `json:"name"`
	Resources sweeps.Resources `json:"resources"`
	// Tasks maps a task number to the IDs of the jobs it runs. Array
	// index a of a part runs task Offset+a. Empty tasks are not submitted.
	Tasks [][]string `json:"tasks,omitempty"`
	Parts []Part     `json:"parts"`
}

// Part is one array of a stage (one sbatch call).
type Part struct {
	Offset  int    `json:"offset"`
	Indices string `json:"indices,omitempty"` // the --array list without throttle, e.g. "0-3,5"; "" for the merge job
	After   []Dep  `json:"after,omitempty"`
}

// Dep is one --dependency of a part: on a part of this submission, or on
// an array of an earlier one that is still queued.
type Dep struct {
	Type  string `json:"type"` // "aftercorr" or "afterany"
	Stage string `json:"stage,omitempty"`
	Part  int    `json:"part,omitempty"`
	JobID string `json:"job_id,omitempty"`
}

// Record is what was submitted of a manifest: SLURM's job ID of every
// part, by partKey. It is rewritten after every sbatch call.
type Record struct {
	JobIDs map[string]string `json:"job_ids"`
}

func partKey(stage string, part int) string { return fmt.Sprintf("%s/%d", stage, part) }

// Dir is the directory of submissions in a run directory.
func Dir(runDir string) string { return filepath.Join(runDir, "slurm") }

// SubmissionDir is where one submission's manifest, scripts, record and
// logs are.
func SubmissionDir(runDir, submission string) string { return filepath.Join(Dir(runDir), submission) }

const (
	manifestFile = "manifest.json"
	recordFile   = "submitted.json"
)

// ReadManifest reads a submission's manifest.
func ReadManifest(path string) (*Manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := &Manifest{}
	if err := json.Unmarshal(data, m); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", path, err)
	}
	if m.Version != manifestVersion {
		return nil, fmt.Errorf("manifest %s: version %d, this grid reads %d", path, m.Version, manifestVersion)
	}
	return m, nil
}

// Stage returns the named stage.
func (m *Manifest) Stage(name string) (*Stage, bool) {
	for i := range m.Stages {
		if m.Stages[i].Name == name {
			return &m.Stages[i], true
		}
	}
	return nil, false
}

// Path is the manifest's file.
func (m *Manifest) Path() string {
	return filepath.Join(SubmissionDir(m.Grid.RunDir, m.Submission), manifestFile)
}

func (m *Manifest) write() error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	// Read-only: the manifest is never changed once written.
	return atomicfile.WriteFile(m.Path(), append(data, '\n'), 0o444)
}

func readRecord(dir string) (Record, error) {
	r := Record{JobIDs: map[string]string{}}
	data, err := os.ReadFile(filepath.Join(dir, recordFile))
	if errors.Is(err, fs.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return r, fmt.Errorf("%s: %w", filepath.Join(dir, recordFile), err)
	}
	return r, nil
}

func (r Record) write(dir string) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, recordFile), append(data, '\n'), 0o644)
}

// submission is a manifest read back with what was submitted of it.
type submission struct {
	m      *Manifest
	record Record
}

// submissions reads every submission of a run directory, oldest first.
func submissions(runDir string) ([]submission, error) {
	entries, err := os.ReadDir(Dir(runDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	var out []submission
	for _, name := range names {
		dir := SubmissionDir(runDir, name)
		m, err := ReadManifest(filepath.Join(dir, manifestFile))
		if errors.Is(err, fs.ErrNotExist) {
			continue // a submission being written
		}
		if err != nil {
			return nil, err
		}
		r, err := readRecord(dir)
		if err != nil {
			return nil, err
		}
		out = append(out, submission{m: m, record: r})
	}
	return out, nil
}

// nextSubmission is the next free submission name; the directory is
// created (so two submitters never share one) unless dryRun.
func nextSubmission(runDir string, dryRun bool) (string, error) {
	if !dryRun {
		if err := os.MkdirAll(Dir(runDir), 0o755); err != nil {
			return "", err
		}
	}
	for n := 1; ; n++ {
		name := fmt.Sprintf("%03d", n)
		dir := SubmissionDir(runDir, name)
		if dryRun {
			if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
				return name, nil
			}
			continue
		}
		err := os.Mkdir(dir, 0o755)
		if err == nil {
			return name, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", err
		}
	}
}
