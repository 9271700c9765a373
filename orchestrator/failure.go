package orchestrator

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/fomo-grid/grid/internal/atomicfile"
	"github.com/fomo-grid/grid/results"
	"github.com/fomo-grid/grid/worker"
)

// stopError is a failure no job can get past: the database or the run
// directory cannot be written (a full disk, a read-only or vanished
// filesystem), or a worker found its disk full. The run stops at once with
// the reason; it is not a job failure, and no job is blamed for it.
type stopError struct{ err error }

func (e *stopError) Error() string { return e.err.Error() }
func (e *stopError) Unwrap() error { return e.err }

// stopRun marks err (if any) as one that stops the run.
func stopRun(err error) error {
	if err == nil {
		return nil
	}
	return &stopError{err}
}

// stopsRun says whether err stops the run: a write that failed, or a worker
// whose disk is full (every job after it would fail the same way).
func stopsRun(err error) bool {
	var s *stopError
	return errors.As(err, &s) || errors.Is(err, worker.ErrNoSpace)
}

// diskFull says whether err means a full disk: an ENOSPC or EDQUOT of
// the orchestrator's, a worker's, or SQLite's "database or disk is full".
func diskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, worker.ErrNoSpace) || results.IsFull(err)
}

// The reserve is a file of reserveBytes in the run directory, made when a
// run starts. When the disk fills up mid-run, the writes that put the
// run's jobs back to pending would fail too, leaving them marked running;
// deleting the reserve first gives those writes room, so a full disk
// leaves the database exactly as consistent as an interrupt does.
const (
	reserveFile  = ".reserve"
	reserveBytes = 4 << 20
)

// makeReserve creates the reserve unless it is there already, and checks
// that as much again is free: a run that starts on a full disk (or on the
// room a stopped run freed) is refused before it writes anything else.
func makeReserve(runDir string) error {
	path := filepath.Join(runDir, reserveFile)
	if st, err := os.Stat(path); err != nil || st.Size() != reserveBytes {
		err := atomicfile.Write(path, 0o644, func(w io.Writer) error {
			_, err := w.Write(make([]byte, reserveBytes))
			return err
		})
		if err != nil {
			return fmt.Errorf("run directory: cannot reserve %d MiB for recovering from a full disk: %w", reserveBytes>>20, err)
		}
	}
	var fs syscall.Statfs_t
	if err := syscall.Statfs(runDir, &fs); err != nil {
		return fmt.Errorf("run directory: %w", err)
	}
	if free := uint64(fs.Bavail) * uint64(fs.Bsize); free < reserveBytes {
		return fmt.Errorf("run directory: the disk holding %s has %d KiB free (%w): free some space and run again", runDir, free>>10, syscall.ENOSPC)
	}
	return nil
}

// freeReserve deletes the reserve, making room for the writes of a stop.
func freeReserve(runDir string) {
	os.Remove(filepath.Join(runDir, reserveFile))
}
