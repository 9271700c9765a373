// Package orchestrator schedules the jobs of a grid: it expands the grid file
// (sweeps), keeps the state of every job in the run's SQLite database
// (results), and runs ready jobs on plugin worker processes (worker), never
// running a finished job twice. It is the only writer of the database.
package orchestrator

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/fomo-grid/grid/results"
	"github.com/fomo-grid/grid/sweeps"
)

// DBFile is the name of the database inside a run directory.
const DBFile = "grid.db"

// Session is one grid file opened against its run directory: the expanded
// jobs and the database that records them.
type Session struct {
	Grid   *sweeps.Grid
	RunDir string // the grid's `out`, resolved against the grid file
	DB     *results.DB
	GridID int64

	source []byte // the grid file's text, recorded with the grid
}

// Load expands the grid file. It reads nothing else and writes nothing:
// Run checks the inputs and takes the run directory's lock before the
// first write (Record).
func Load(gridFile string) (*Session, error) {
	src, err := os.ReadFile(gridFile)
	if err != nil {
		return nil, err
	}
	g, err := sweeps.Parse(gridFile, src)
	if err != nil {
		return nil, err
	}
	return &Session{Grid: g, RunDir: g.Resolve(g.Out), source: src}, nil
}

// Open is Load then Record: the grid and its new jobs are in the database
// when it returns.
func Open(gridFile string) (*Session, error) {
	s, err := Load(gridFile)
	if err != nil {
		return nil, err
	}
	if err := s.Record(); err != nil {
		return nil, err
	}
	return s, nil
}

// Record opens (or creates) the run directory and database and records the
// grid and any job not seen before as pending. Jobs already in the
// database keep their state: that is what makes runs resumable. A session
// already recorded is left as it is.
func (s *Session) Record() error {
	if s.DB != nil {
		return nil
	}
	if err := s.openDB(); err != nil {
		return err
	}
	if err := s.syncJobs(); err != nil {
		s.DB.Close()
		s.DB = nil
		return err
	}
	return nil
}

// openDB opens (or creates) the run directory and database and records the
// grid (not its jobs).
func (s *Session) openDB() error {
	if err := os.MkdirAll(s.RunDir, 0o755); err != nil {
		return fmt.Errorf("run directory: %w", err)
	}
	db, err := results.Open(filepath.Join(s.RunDir, DBFile))
	if err != nil {
		return err
	}
	abs, _ := filepath.Abs(s.Grid.File)
	if s.GridID, err = db.UpsertGrid(s.Grid.Name, abs, string(s.source)); err != nil {
		db.Close()
		return err
	}
	s.DB = db
	return nil
}

// syncJobs records the grid's job list, unless the database holds exactly
// this list already (same digest, every job still linked): a grid of
// 200,000 jobs run again then costs a hash of its jobs, not a sync.
func (s *Session) syncJobs() error {
	digest, unchanged, err := s.unchanged()
	if err != nil || unchanged {
		return err
	}
	specs, err := jobSpecs(s.Grid.Jobs)
	if err != nil {
		return err
	}
	if _, err := s.DB.SyncJobs(s.GridID, specs); err != nil {
		return err
	}
	return s.DB.SetJobsDigest(s.GridID, digest)
}

// unchanged says whether the database holds the grid's job list as it is,
// and returns the list's digest.
func (s *Session) unchanged() (string, bool, error) {
	digest := jobsDigest(s.Grid.Jobs)
	stored, linked, err := s.DB.JobsDigest(s.GridID)
	return digest, err == nil && stored == digest && linked == len(s.Grid.Jobs), err
}

// jobSpecs is jobs as the results store records them.
func jobSpecs(jobs []sweeps.Job) ([]results.JobSpec, error) {
	specs := make([]results.JobSpec, 0, len(jobs))
	for _, j := range jobs {
		spec, err := jobSpec(j)
		if err != nil {
			return nil, err
		}
		specs = append(specs, spec)
	}
	return specs, nil
}

// jobsDigest hashes everything SyncJobs records of a job list: each job's
// ID (a hash of its config), name, labels, experiments and dependencies, in
// order.
func jobsDigest(jobs []sweeps.Job) string {
	h := sha256.New()
	var b []byte
	for _, j := range jobs {
		b = append(b[:0], j.ID...)
		b = append(b, 0)
		b = append(b, j.Name...)
		b = append(b, 0)
		keys := make([]string, 0, len(j.Labels))
		for k := range j.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			b = append(append(append(b, k...), '='), j.Labels[k]...)
			b = append(b, 0)
		}
		b = append(b, 1)
		for _, list := range [][]string{j.Experiments, j.Deps} {
			for _, x := range list {
				b = append(append(b, x...), 0)
			}
			b = append(b, 1)
		}
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Close releases the database, if the session opened one.
func (s *Session) Close() error {
	if s.DB == nil {
		return nil
	}
	return s.DB.Close()
}

// CheckpointPath is where a train job's checkpoint lives in the run directory.
func (s *Session) CheckpointPath(jobID string) string {
	return filepath.Join(s.RunDir, "jobs", jobID, "checkpoint.safetensors")
}

// ReportDir is where `grid report` writes.
func (s *Session) ReportDir() string { return ReportDirOf(s.RunDir) }

// ReportDirOf is the report directory of a run directory.
func ReportDirOf(runDir string) string { return filepath.Join(runDir, "report") }
