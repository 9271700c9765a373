package trainer

import (
	"encoding/csv"
	"fmt"
	"io"
	"path/filepath"
	"strconv"

	"github.com/fomo-grid/grid/engine/data"
	"github.com/fomo-grid/grid/internal/atomicfile"
)

// writeLogits writes the per-image logits of an evaluation as CSV: a header
// "path,label,<class name 0>,...", then one row per test image in split order.
// Paths are relative to the dataset directory (as CoOp's split files give
// them) so that the same evaluation gives the same bytes wherever the data
// lives. Logits print with nine significant digits, enough to read back the
// exact float32. The file appears whole or not at all (atomicfile).
func writeLogits(path string, ds *data.Dataset, labels []int, logits []float32) error {
	nClasses := len(ds.ClassNames)
	if len(labels) != len(ds.Test) || len(logits) != len(ds.Test)*nClasses {
		return fmt.Errorf("logits %s: %d labels and %d logits for %d test images of %d classes", path, len(labels), len(logits), len(ds.Test), nClasses)
	}
	err := atomicfile.Write(path, 0o644, func(out io.Writer) error {
		w := csv.NewWriter(out)
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
		return w.Error()
	})
	if err != nil {
		return fmt.Errorf("logits: %w", err)
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
