// Package report renders a grid's results, replacing the seed's notebooks:
// the grid search per dataset (configurations over their seeds, ranked,
// against zero-shot CLIP), the main effects of every swept parameter, the
// ablations (each variant paired with the full method by configuration and
// seed, over every grid of the study), the cross-dataset transfer, loss
// curves and the learned prompt over training. Tables come as Markdown, CSV
// and LaTeX, figures as PNG, SVG and PDF, and index.html holds all of them
// in one file. It reads the results store only; its view model (cells,
// means over seeds, transfer rows) lives here, not in the store.
package report

import (
	"fmt"
	"os"

	"github.com/fomo-grid/grid/results"
)

// Options choose what Write produces.
type Options struct {
	// Plots adds the figures (PNG, SVG, PDF) and the pgfplots loss curves;
	// without it only the tables and the indexes are written.
	Plots bool
	// Datasets and Experiments restrict the report; empty keeps all.
	Datasets    []string
	Experiments []string
	// Top bounds what a figure shows (configurations, sources, parameters);
	// the rest is counted. 0 means DefaultTop.
	Top int
	// References is a CSV of published numbers of other methods
	// (method,dataset,base,new[,h]), shown beside the measured ones.
	References string
	// Heatmaps are extra pairs of swept parameters to draw mean H for, on
	// top of the pairs of the parameters with the largest effects.
	Heatmaps [][2]string
}

// DefaultTop is how many configurations a figure shows unless told.
const DefaultTop = 15

// Write renders the report of the grid called gridName into outDir
// (created if needed) and returns the paths of the files it wrote. Every
// file is written atomically. A figure that cannot be drawn is left out and
// reported in the returned error, after everything else was written.
func Write(db *results.DB, gridName, outDir string, opts Options) ([]string, error) {
	if opts.Top <= 0 {
		opts.Top = DefaultTop
	}
	r, err := load(db, gridName, opts)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	out := &output{dir: outDir, pngs: map[string][]byte{}}
	secs, err := r.sections()
	if err != nil {
		return nil, err
	}
	for _, s := range secs {
		for _, t := range s.tables {
			if err := out.table(t); err != nil {
				return out.sortedFiles(), err
			}
		}
	}
	if opts.Plots {
		if err := r.drawFigures(out, secs); err != nil {
			return out.sortedFiles(), err
		}
	}
	if err := out.write("README.md", []byte(r.markdownIndex(secs, out))); err != nil {
		return out.sortedFiles(), err
	}
	if err := out.write("index.html", []byte(r.htmlIndex(secs, out))); err != nil {
		return out.sortedFiles(), err
	}
	return out.sortedFiles(), out.err()
}

// report is everything one report shows, computed from the store.
type report struct {
	opts    Options
	grid    results.Grid
	records []*record
	counts  map[results.JobState]int
	cells   []*cell
	groups  []*group
	bases   map[string]*baseline
	refs    []reference
	mr      *metricReader

	// The study: every grid of the database, for the ablations.
	ablationDS    []string
	ablationPairs map[string][]*pair
	ablationMeans []*variantMeans
}

// load reads the grid (and the study around it) and builds the views.
func load(db *results.DB, gridName string, opts Options) (*report, error) {
	grid, err := db.GridByName(gridName)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	records, err := loadGrid(db, grid.ID)
	if err != nil {
		return nil, err
	}
	flt := filter{datasets: opts.Datasets, experiments: opts.Experiments}
	r := &report{opts: opts, grid: grid, records: flt.keep(records), mr: &metricReader{db: db}}
	r.counts = map[results.JobState]int{}
	for _, rec := range r.records {
		r.counts[rec.job.State]++
	}
	r.cells = buildCells(r.records)
	r.groups = gridGroups(r.cells)
	r.bases = baselines(r.records)
	if opts.References != "" {
		if r.refs, err = readReferences(opts.References); err != nil {
			return nil, err
		}
	}
	studyRecords, err := loadStudy(db, grid.ID, records)
	if err != nil {
		return nil, err
	}
	// The study's cells are built apart from the grid's: the ablation view
	// names them among their own dataset's variants.
	studyCells := buildCells(filter{datasets: opts.Datasets}.keep(studyRecords))
	r.ablationDS, r.ablationPairs = ablationByDataset(pairCells(studyCells))
	r.ablationMeans = ablationMeans(r.ablationDS, r.ablationPairs)
	return r, nil
}
