package orchestrator

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// lockFile is the run directory's lock, held by the `grid run` working on it.
const lockFile = ".lock"

// lockRunDir makes sure one `grid run` at a time works on a run directory,
// creating the directory if needed. The lock is an flock on a file, so it
// dies with the process that held it: a SIGKILLed run leaves nothing to
// clean up. The file holds the holder's PID, for people reading it.
func lockRunDir(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("run directory: %w", err)
	}
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("run directory lock: %w", err)
	}
	if err := flockSoon(f); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another `grid run` is working on %s (lock %s)", dir, path)
		}
		return nil, fmt.Errorf("run directory lock %s: %w", path, err)
	}
	unlock = func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }
	err = f.Truncate(0)
	if err == nil {
		_, err = fmt.Fprintf(f, "%d\n", os.Getpid())
	}
	if err != nil {
		unlock()
		return nil, fmt.Errorf("run directory lock %s: %w", path, err)
	}
	return unlock, nil
}

// flockSoon takes the exclusive lock, trying a few times over a tenth of a
// second: `grid status` probes the lock (runHoldsLock) for microseconds,
// and a run starting at that moment must not take the probe for a run.
func flockSoon(f *os.File) error {
	var err error
	for try := 0; try < 5; try++ {
		if err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); !errors.Is(err, syscall.EWOULDBLOCK) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
	return err
}

// runHoldsLock says whether a `grid run` holds the run directory's lock now:
// it asks for a shared lock without waiting, and lets go at once.
func runHoldsLock(dir string) bool {
	f, err := os.Open(filepath.Join(dir, lockFile))
	if err != nil {
		return false // never locked: no run
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		return errors.Is(err, syscall.EWOULDBLOCK)
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
