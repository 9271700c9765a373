package orchestrator

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/fomo-grid/grid/internal/atomicfile"
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

// The reserve is a file of reserveBytes in the run directory, made when a
// run starts. When the disk fills up mid-run, the writes that put the
// run's jobs back to pending would fail too, leaving them marked running;
// deleting the reserve first gives those writes room, so a full disk
// leaves the database exactly as consistent as an interrupt does.
const (
	reserveFile  = ".reserve"
	reserveBytes = 4 << 20
)

// makeReserve creates the reserve unless it is there already.
func makeReserve(runDir string) error {
	path := filepath.Join(runDir, reserveFile)
	if st, err := os.Stat(path); err == nil && st.Size() == reserveBytes {
		return nil
	}
	err := atomicfile.Write(path, 0o644, func(w io.Writer) error {
		_, err := w.Write(make([]byte, reserveBytes))
		return err
	})
	if err != nil {
		return fmt.Errorf("run directory: cannot reserve %d MiB for recovering from a full disk: %w", reserveBytes>>20, err)
	}
	return nil
}

// freeReserve deletes the reserve, making room for the writes of a stop.
func freeReserve(runDir string) {
	os.Remove(filepath.Join(runDir, reserveFile))
}
