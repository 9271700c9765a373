// Package report renders a grid's results as Markdown tables and PNG/SVG
// figures: training-loss curves, base/new accuracy per configuration, and
// cross-dataset transfer, plus an index (README.md) linking them all. It reads
// the results store only.
package report

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/fomo-grid/grid/internal/atomicfile"
	"github.com/fomo-grid/grid/internal/study"
	"github.com/fomo-grid/grid/results"
)

// row is one train job (a configuration) in a dataset's table.
type row struct {
	cell  results.Cell
	label string  // the configuration, by the labels that differ within the dataset
	hm    float64 // NaN while base or new is missing
	mean  float64 // likewise
	score float64 // ranking key: hm, or the accuracy in all-classes groups
	rank  int     // 1 = best; 0 = unranked (incomplete)
}

// datasetGroup is the configurations trained on one dataset.
type datasetGroup struct {
	name string
	slug string // for file names
	rows []row  // ranked best first, then unranked in grid order
	// allClasses: every cell trained on all classes (a cross-dataset
	// source), so there is no new split and no H; rank by accuracy.
	allClasses bool
	labelKeys  []string // the label keys that name configurations
}

// Options choose what Write produces.
type Options struct {
	// Plots adds the PNG and SVG figures; without it only the Markdown
	// tables and the index are written.
	Plots bool
}

// Write renders the report of the grid called gridName into outDir (created
// if needed) and returns the paths of the files it wrote. Every file is
// written atomically. A figure that cannot be drawn is skipped and reported
// in the returned error, after everything else was written.
func Write(db *results.DB, gridName, outDir string, opts Options) ([]string, error) {
	grid, err := db.GridByName(gridName)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	cells, err := db.Cells(grid.ID)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	counts, err := db.StateCounts(grid.ID)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	out := &output{dir: outDir}
	groups := groupByDataset(cells)
	idx := index{grid: grid, counts: counts, groups: groups}

	for _, g := range groups {
		sec := section{group: g, table: "table-" + g.slug + ".md"}
		if err := out.write(sec.table, datasetTable(grid.Name, g)); err != nil {
			return out.files, err
		}
		if opts.Plots {
			curves, err := loadCurves(db, g)
			if err != nil {
				return out.files, fmt.Errorf("report: %w", err)
			}
			fig, err := lossFigure(g.name, curves)
			sec.loss = out.figure("loss-"+g.slug, fig, err)
			if !g.allClasses { // one number per configuration: the table says it all
				fig, err = accuracyFigure(g.name, accuracyRows(g))
				sec.accuracy = out.figure("accuracy-"+g.slug, fig, err)
			}
		}
		idx.sections = append(idx.sections, sec)
	}

	if md, ok := ablationTables(grid.Name, groups); ok {
		idx.ablation = "ablation.md"
		if err := out.write(idx.ablation, md); err != nil {
			return out.files, err
		}
	}
	if t := collectTransfers(groups); len(t.rows) > 0 {
		idx.transfer = "transfer.md"
		if err := out.write(idx.transfer, transferTable(grid.Name, t)); err != nil {
			return out.files, err
		}
		if opts.Plots {
			fig, err := transferFigure(t.sourceLabels(), t.targets, t.accuracies())
			idx.transferFig = out.figure("transfer", fig, err)
		}
	}
	idx.figureErrors = out.figureErrors
	if err := out.write("README.md", idx.markdown()); err != nil {
		return out.files, err
	}
	if len(out.figureErrors) > 0 {
		return out.files, fmt.Errorf("report: %w", errors.Join(out.figureErrors...))
	}
	return out.files, nil
}

// output writes files into the report directory and remembers them.
type output struct {
	dir          string
	files        []string
	figureErrors []error
}

func (o *output) write(name, content string) error {
	return o.writeBytes(name, []byte(content))
}

func (o *output) writeBytes(name string, data []byte) error {
	path := filepath.Join(o.dir, name)
	if err := writeFileAtomic(path, data); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	o.files = append(o.files, path)
	return nil
}

// figure renders fig as PNG and SVG under base and returns base, or "" when
// there is nothing to draw or drawing failed (the failure is kept).
func (o *output) figure(base string, fig *figure, buildErr error) string {
	if buildErr != nil {
		o.figureErrors = append(o.figureErrors, fmt.Errorf("figure %s: %w", base, buildErr))
		return ""
	}
	if fig == nil {
		return ""
	}
	for _, format := range []string{"png", "svg"} {
		data, err := fig.render(format)
		if err == nil {
			err = o.writeBytes(base+"."+format, data)
		}
		if err != nil {
			o.figureErrors = append(o.figureErrors, fmt.Errorf("figure %s: %w", base, err))
			return ""
		}
	}
	return base
}

// writeFileAtomic writes data to path, mode 0644, so that a reader never
// sees half a file (atomicfile).
func writeFileAtomic(path string, data []byte) error {
	return atomicfile.WriteFile(path, data, 0o644)
}

// groupByDataset splits cells by dataset (in order of first appearance),
// names each configuration and ranks them.
func groupByDataset(cells []results.Cell) []datasetGroup {
	var groups []datasetGroup
	at := map[string]int{}
	slugs := map[string]bool{}
	for _, c := range cells {
		i, ok := at[c.Dataset]
		if !ok {
			s := slug(c.Dataset)
			for n := 2; slugs[s]; n++ {
				s = fmt.Sprintf("%s-%d", slug(c.Dataset), n)
			}
			slugs[s] = true
			i = len(groups)
			at[c.Dataset] = i
			groups = append(groups, datasetGroup{name: c.Dataset, slug: s, allClasses: true})
		}
		g := &groups[i]
		g.rows = append(g.rows, row{cell: c})
		if c.Classes != study.ClassesAll {
			g.allClasses = false
		}
	}
	for i := range groups {
		g := &groups[i]
		cs := make([]results.Cell, len(g.rows))
		for j, r := range g.rows {
			cs[j] = r.cell
		}
		var labels []string
		labels, g.labelKeys = configLabels(cs, nil)
		for j := range g.rows {
			r := &g.rows[j]
			r.label = labels[j]
			r.hm, r.mean = hmOf(r.cell), meanOf(r.cell)
			r.score = r.hm
			if g.allClasses {
				r.score = accuracy(r.cell.Base)
			}
		}
		rankRows(g.rows)
	}
	return groups
}

// rankRows orders complete rows by score (ties: mean, then label), best
// first, numbering them; incomplete rows follow in their original order.
func rankRows(rows []row) {
	sort.SliceStable(rows, func(a, b int) bool {
		ra, rb := rows[a], rows[b]
		fa, fb := finite(ra.score), finite(rb.score)
		if fa != fb {
			return fa
		}
		if !fa {
			return false
		}
		if ra.score != rb.score {
			return ra.score > rb.score
		}
		if finite(ra.mean) && finite(rb.mean) && ra.mean != rb.mean {
			return ra.mean > rb.mean
		}
		return ra.label < rb.label
	})
	for i := range rows {
		if finite(rows[i].score) {
			rows[i].rank = i + 1
		}
	}
}

// configLabels names each cell by the label values that differ between the
// cells ("n_ctx=2, wstd=0.08"), leaving out the dataset and the keys in
// skip. A cell with no swept value is named by its experiment; cells that
// the labels cannot tell apart get their job name.
func configLabels(cells []results.Cell, skip map[string]bool) (labels, keys []string) {
	all := map[string]bool{}
	for _, c := range cells {
		for k := range c.Labels {
			if k != "dataset" && !skip[k] {
				all[k] = true
			}
		}
	}
	for k := range all {
		first := cells[0].Labels[k]
		for _, c := range cells[1:] {
			if c.Labels[k] != first {
				keys = append(keys, k)
				break
			}
		}
	}
	if len(keys) == 0 {
		// Nothing varies: a lone cell is best named by all its labels.
		for k := range all {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	labels = make([]string, len(cells))
	seen := map[string]int{}
	for i, c := range cells {
		var parts []string
		for _, k := range keys {
			if v, ok := c.Labels[k]; ok {
				parts = append(parts, k+"="+v)
			}
		}
		labels[i] = strings.Join(parts, ", ")
		if labels[i] == "" {
			// No swept value: the experiment names the cell.
			labels[i] = "default"
			if len(c.Job.Experiments) > 0 {
				labels[i] = strings.Join(c.Job.Experiments, "+")
			}
		}
		seen[labels[i]]++
	}
	for i, c := range cells {
		if seen[labels[i]] > 1 {
			labels[i] = c.Job.Name
		}
	}
	return labels, keys
}

func loadCurves(db *results.DB, g datasetGroup) ([]curve, error) {
	var curves []curve
	for _, r := range g.rows {
		ms, err := db.Metrics(r.cell.Job.ID)
		if err != nil {
			return nil, err
		}
		if len(ms) == 0 {
			continue
		}
		c := curve{label: r.label}
		for _, m := range ms {
			c.steps = append(c.steps, float64(m.Step))
			c.loss = append(c.loss, m.Loss)
		}
		curves = append(curves, c)
	}
	return curves, nil
}

func accuracyRows(g datasetGroup) []accuracyRow {
	var rows []accuracyRow
	for _, r := range g.rows {
		rows = append(rows, accuracyRow{label: r.label, base: accuracy(r.cell.Base), new: accuracy(r.cell.New), hm: r.hm,
			allClasses: r.cell.Classes == study.ClassesAll})
	}
	return rows
}

func accuracy(e *results.Evaluation) float64 {
	if e == nil {
		return math.NaN()
	}
	return e.Accuracy
}

func macroF1(e *results.Evaluation) float64 {
	if e == nil {
		return math.NaN()
	}
	return e.MacroF1
}

func meanOf(c results.Cell) float64 {
	m, ok := c.Mean()
	if !ok {
		return math.NaN()
	}
	return m
}

// slug makes a dataset name safe as part of a file name.
func slug(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	out := strings.Trim(b.String(), "-")
	if out == "" {
		return "dataset"
	}
	return out
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
