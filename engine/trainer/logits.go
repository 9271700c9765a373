package trainer

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/fomo-grid/grid/engine/data"
)

// writeLogits writes the per-image logits of an evaluation as CSV: a header
// "path,label,<class name 0>,...", then one row per test image in split order.
// Paths are relative to the dataset directory (as CoOp's split files give
// them) so that the same evaluation gives the same bytes wherever the data
// lives. Logits print with nine significant digits, enough to read back the
// exact float32. The file appears whole or not at all: it is written to a
// temporary file in the same directory and renamed.
func writeLogits(path string, ds *data.Dataset, labels []int, logits []float32) error {
	nClasses := len(ds.ClassNames)
	if len(labels) != len(ds.Test) || len(logits) != len(ds.Test)*nClasses {
		return fmt.Errorf("logits %s: %d labels and %d logits for %d test images of %d classes", path, len(labels), len(logits), len(ds.Test), nClasses)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("logits %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed

	buf := bufio.NewWriter(tmp)
	w := csv.NewWriter(buf)
	row := make([]string, 0, 2+nClasses)
	row = append(row, "path", "label")
	row = append(row, ds.ClassNames...)
	w.Write(row)
	for i, item := range ds.Test {
		row = append(row[:0], relativePath(ds.Dir, item.Path), strconv.Itoa(labels[i]))
		for _, l := range logits[i*nClasses : (i+1)*nClasses] {
			row = append(row, strconv.FormatFloat(float64(l), 'g', 9, 32))
		}
		w.Write(row)
	}
	w.Flush()
	err = w.Error()
	if err == nil {
		err = buf.Flush()
	}
	if err == nil {
		err = tmp.Chmod(0o644) // CreateTemp's 0600 suits no results file
	}
	if err == nil {
		err = tmp.Sync()
	}
	if closeErr := tmp.Close(); err == nil {
		err = closeErr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("logits %s: %w", path, err)
	}
	return nil
}

// relativePath is p relative to dir with forward slashes, or p itself when
// it lies outside dir.
func relativePath(dir, p string) string {
	rel, err := filepath.Rel(dir, p)
	if err != nil || !filepath.IsLocal(rel) {
		return filepath.ToSlash(p)
	}
	return filepath.ToSlash(rel)
}
