// Package atomicfile is grid's one way to write a file that readers, and a
// crash, see either as it was before or whole: never empty, never half
// written. Every writer of results, checkpoints, caches and reports uses it.
//
// The steps, each needed for the guarantee: the bytes go to a temporary file
// in the destination's own directory (a rename is atomic only within one
// filesystem); the file gets the mode asked for (os.CreateTemp makes 0600,
// which would hide a checkpoint from the group that shares a run
// directory); it is fsynced before the rename (otherwise a crash can leave
// the new name pointing at a file with no data blocks); it is renamed over
// the destination; and the directory is fsynced (otherwise the rename itself
// can be lost). Any failure removes the temporary file and leaves the
// destination untouched.
package atomicfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Write creates or replaces path with what fill writes, with permissions
// mode (exactly: the umask does not apply). The writer fill gets is
// buffered; fill must not keep it. If fill returns an error, nothing
// changes and the error is returned wrapped (errors.Is still sees it).
func Write(path string, mode fs.FileMode, fill func(w io.Writer) error) error {
	return write(path, mode, true, fill)
}

// WriteFile is Write of a byte slice, the atomic os.WriteFile.
func WriteFile(path string, data []byte, mode fs.FileMode) error {
	return write(path, mode, true, bytesOf(data))
}

// WriteRebuildable is WriteFile without the two fsyncs, for files that are
// checked whenever they are read and rebuilt when missing or wrong: the
// decoded-image cache (a checksum) and the demo dataset (compared byte for
// byte). Readers still never see half a file; after a power loss such a
// file may be missing or empty, which its reader notices. Thousands of
// these are written at once, and two fsyncs each would triple the time.
func WriteRebuildable(path string, data []byte, mode fs.FileMode) error {
	return write(path, mode, false, bytesOf(data))
}

func bytesOf(data []byte) func(io.Writer) error {
	return func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}
}

func write(path string, mode fs.FileMode, durable bool, fill func(w io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	buf := bufio.NewWriterSize(tmp, 1<<16)
	if err := fill(buf); err != nil {
		return fmt.Errorf("write %s: %w", path, onTemp(err, tmp.Name()))
	}
	if err := buf.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", path, onTemp(err, tmp.Name()))
	}
	if err := tmp.Chmod(mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if durable {
		if err := tmp.Sync(); err != nil {
			return fmt.Errorf("write %s: sync: %w", path, err)
		}
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if durable {
		if err := syncDir(dir); err != nil {
			return fmt.Errorf("write %s: sync directory: %w", path, err)
		}
	}
	return nil
}

// onTemp drops the temporary file's name from a write error: the message
// already names the destination, which is the file the user knows.
func onTemp(err error, tmp string) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Path == tmp {
		return pe.Err
	}
	return err
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
