package report

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/fomo-grid/grid/results"
)

// reference is a published number of another method on one dataset, from
// the CSV the user gives `grid report --reference`.
type reference struct {
	method, dataset string
	base, new, h    float64 // NaN where the paper gives none
}

// readReferences reads a CSV with the header method,dataset,base,new[,h]
// (percent; h defaults to 2BN/(B+N); an empty base or new is allowed when
// h is given). Errors name the file and line.
func readReferences(path string) ([]reference, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("report: reference numbers: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%s:1: %w", path, err)
	}
	cols := map[string]int{}
	for i, h := range header {
		cols[strings.ToLower(strings.TrimSpace(h))] = i
	}
	for _, need := range []string{"method", "dataset", "base", "new"} {
		if _, ok := cols[need]; !ok {
			return nil, fmt.Errorf("%s:1: header %q lacks column %q (want method,dataset,base,new[,h])", path, strings.Join(header, ","), need)
		}
	}
	var out []reference
	for line := 2; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		ref, err := parseReference(rec, cols)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		out = append(out, ref)
	}
}

func parseReference(rec []string, cols map[string]int) (reference, error) {
	get := func(name string) string {
		if i, ok := cols[name]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	ref := reference{method: get("method"), dataset: get("dataset")}
	if ref.method == "" || ref.dataset == "" {
		return ref, errors.New("method and dataset must not be empty")
	}
	var err error
	for _, f := range []struct {
		name string
		dst  *float64
	}{{"base", &ref.base}, {"new", &ref.new}, {"h", &ref.h}} {
		if *f.dst, err = percent(get(f.name)); err != nil {
			return ref, fmt.Errorf("%s: %w", f.name, err)
		}
	}
	if !finite(ref.h) && finite(ref.base) && finite(ref.new) {
		ref.h = results.HarmonicMean(ref.base, ref.new)
	}
	if !finite(ref.h) {
		return ref, errors.New("give base and new, or h")
	}
	return ref, nil
}

// percent parses a percentage; empty is NaN.
func percent(s string) (float64, error) {
	if s == "" {
		return math.NaN(), nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 || v > 100 {
		return 0, fmt.Errorf("%q is not a percentage in [0, 100]", s)
	}
	return v, nil
}

// referenceTable lists the published numbers, the report's datasets first.
func referenceTable(refs []reference) *table {
	t := &table{name: "references", title: "Published numbers of other methods",
		caption: "As given to grid report --reference; not measured in this run.",
		cols:    []column{col("method"), col("dataset"), numCol("base"), numCol("new"), numCol("H")}}
	for _, r := range refs {
		t.add(str(r.method), str(displayName(r.dataset)), plainNum(r.base), plainNum(r.new), plainNum(r.h))
	}
	return t
}
