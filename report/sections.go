package report

import (
	"fmt"

	"github.com/fomo-grid/grid/internal/study"
)

// section is one part of the report's indexes: a heading, what it shows,
// its tables and figures.
type section struct {
	id      string
	title   string
	text    string
	tables  []*table
	figures []figureJob
	drawn   []figureJob // the figures drawn, after drawFigures
	pgf     []pgfFile
}

// pgfFile is a loss curve for pgfplots, written with the figures.
type pgfFile struct {
	name    string
	content string
}

// maxLossLines is how many configurations a dataset's loss figure draws:
// more lines than this no longer read as lines.
const maxLossLines = 8

// sections lays out the report: summary, zero-shot, one section per
// dataset, factors, ablations, transfer, published numbers. Training curves
// are read here (sequentially); the figures only draw.
func (r *report) sections() ([]*section, error) {
	var secs []*section
	summary := &section{id: "summary", title: "Best configuration per dataset", tables: []*table{summaryTable(r.groups, r.bases)}}
	secs = append(secs, summary)
	if len(r.bases) > 0 {
		secs = append(secs, &section{id: "zeroshot", title: "Zero-shot CLIP (the baseline)", tables: []*table{zeroShotTable(r.bases)}})
	}
	var bestNames []string
	var bestCurves []curve
	for _, g := range r.groups {
		s, best, err := r.datasetSection(g)
		if err != nil {
			return nil, err
		}
		secs = append(secs, s)
		if best != nil {
			bestNames, bestCurves = append(bestNames, g.dataset), append(bestCurves, thin(*best, 400))
		}
	}
	if r.opts.Plots {
		summary.figures = append(summary.figures, figureJob{name: "losses", title: "Training loss of the best configuration per dataset",
			build: func() (*figure, error) { return lossTiles(bestNames, bestCurves) }})
	}
	if s := r.factorSection(); s != nil {
		secs = append(secs, s)
	}
	if s := r.ablationSection(); s != nil {
		secs = append(secs, s)
	}
	if s := r.transferSection(); s != nil {
		secs = append(secs, s)
	}
	if len(r.refs) > 0 {
		secs = append(secs, &section{id: "references", title: "Published numbers", tables: []*table{referenceTable(r.refs)}})
	}
	return secs, nil
}

// datasetSection is one dataset's grid search: its table, and with plots
// its accuracy dot plot, loss curves and the best configuration's prompt
// over training. best is the best configuration's mean loss curve.
func (r *report) datasetSection(g *group) (*section, *curve, error) {
	s := &section{id: "grid-" + g.slug, title: "Grid search: " + displayName(g.dataset), tables: []*table{gridTable(g, r.bases[g.dataset])}}
	if !r.opts.Plots {
		return s, nil, nil
	}
	base := r.bases[g.dataset]
	s.figures = append(s.figures, figureJob{name: "accuracy-" + g.slug, title: "Base and new accuracy",
		build: func() (*figure, error) { return accuracyFigure(g, base, r.refs, r.opts.Top), nil }})
	curves, more, err := r.lossCurves(g)
	if err != nil {
		return nil, nil, err
	}
	if len(curves) == 0 {
		return s, nil, nil
	}
	s.figures = append(s.figures, figureJob{name: "loss-" + g.slug, title: "Training loss",
		build: func() (*figure, error) { return lossFigure(g.dataset, curves, more) }})
	s.pgf = append(s.pgf, pgfFile{name: "loss_" + g.dataset + ".tex", content: pgfLoss(g.dataset, curves[0])})
	prompts, err := promptTrajectory(r.mr, g.best())
	if err != nil {
		return nil, nil, err
	}
	label := g.best().label
	s.figures = append(s.figures, figureJob{name: "trajectory-" + g.slug, title: "Selected prompt over training",
		build: func() (*figure, error) { return trajectoryFigure(g.dataset, label, prompts, r.opts.Top), nil }})
	best := curves[0]
	for i := range curves {
		curves[i] = thin(curves[i], 400)
	}
	return s, &best, nil
}

// lossCurves are the mean curves of the best ranked configurations of a
// dataset (best first) and how many ranked ones are left out.
func (r *report) lossCurves(g *group) ([]curve, int, error) {
	var out []curve
	ranked := 0
	for _, c := range g.cells {
		if c.rankH == 0 {
			continue
		}
		ranked++
		if len(out) >= min(maxLossLines, r.opts.Top) {
			continue
		}
		losses, err := cellLosses(r.mr, c)
		if err != nil {
			return nil, 0, err
		}
		if cv, ok := meanCurve(fmt.Sprintf("%s (%d)", c.label, len(losses)), losses); ok {
			out = append(out, cv)
		}
	}
	return out, ranked - len(out), nil
}

// factorSection is the main effects of the swept parameters and heatmaps of
// pairs of them; nil when the grid sweeps nothing.
func (r *report) factorSection() *section {
	fs := factors(r.groups)
	if len(fs) == 0 {
		return nil
	}
	effects, levels := factorTables(fs)
	s := &section{id: "factors", title: "Factors: main effects of the swept parameters", tables: []*table{effects, levels}}
	if !r.opts.Plots {
		return s
	}
	s.figures = append(s.figures, figureJob{name: "factors", title: "Main effects",
		build: func() (*figure, error) { return factorFigure(fs, r.opts.Top), nil }})
	for _, p := range heatmapPairs(fs, r.opts.Heatmaps) {
		fa, fb := p[0], p[1]
		s.figures = append(s.figures, figureJob{name: "heatmap-" + slug(fa.param) + "-" + slug(fb.param),
			title: "Mean H by " + fa.param + " and " + fb.param,
			build: func() (*figure, error) { return heatmapFigure(fa, fb), nil }})
	}
	return s
}

// heatmapPairs are the pairs of the four parameters with the largest
// effects, and the pairs asked for that the grid sweeps.
func heatmapPairs(fs []*factor, asked [][2]string) [][2]*factor {
	var out [][2]*factor
	seen := map[[2]string]bool{}
	add := func(a, b *factor) {
		if a == nil || b == nil || a == b || seen[[2]string{a.param, b.param}] || seen[[2]string{b.param, a.param}] {
			return
		}
		seen[[2]string{a.param, b.param}] = true
		out = append(out, [2]*factor{a, b})
	}
	top := fs[:min(4, len(fs))]
	for i := range top {
		for j := i + 1; j < len(top); j++ {
			add(top[i], top[j])
		}
	}
	byName := map[string]*factor{}
	for _, f := range fs {
		byName[f.param] = f
	}
	for _, p := range asked {
		add(byName[p[0]], byName[p[1]])
	}
	return out
}

// ablationSection compares every variant with the full method over the
// study; nil when no grid of the study has variants.
func (r *report) ablationSection() *section {
	if len(r.ablationDS) == 0 {
		return nil
	}
	s := &section{id: "ablations", title: "Ablations", tables: []*table{
		ablationMeanTable(r.ablationDS, r.ablationMeans), ablationTable(r.ablationDS, r.ablationPairs)}}
	if r.opts.Plots {
		s.figures = append(s.figures, figureJob{name: "ablation", title: "Δ H per variant and dataset",
			build: func() (*figure, error) { return ablationFigure(r.ablationDS, r.ablationMeans), nil }})
	}
	return s
}

// transferSection is the cross-dataset view and the cells trained on all
// classes; nil when the grid has neither.
func (r *report) transferSection() *section {
	rows, targets := transfers(r.cells)
	hasAll := false
	for _, c := range r.cells {
		hasAll = hasAll || c.classes == study.ClassesAll
	}
	if len(rows) == 0 && !hasAll {
		return nil
	}
	s := &section{id: "transfer", title: "Transfer"}
	if len(rows) > 0 {
		s.tables = append(s.tables, transferTable(rows, targets, r.bases))
		if r.opts.Plots {
			s.figures = append(s.figures, figureJob{name: "transfer", title: "Accuracy per target",
				build: func() (*figure, error) { return transferFigure(rows, targets, r.bases, r.opts.Top), nil }})
		}
	}
	if hasAll {
		s.tables = append(s.tables, allClassesTable(r.cells))
	}
	return s
}

// drawFigures renders every section's figures and writes the pgfplots
// files.
func (r *report) drawFigures(out *output, secs []*section) error {
	var jobs []figureJob
	owner := map[string]*section{}
	for _, s := range secs {
		for _, j := range s.figures {
			jobs = append(jobs, j)
			owner[j.name] = s
		}
		for _, p := range s.pgf {
			if err := out.write(p.name, []byte(p.content)); err != nil {
				return err
			}
		}
	}
	drawn, err := out.figures(jobs)
	for _, j := range drawn {
		owner[j.name].drawn = append(owner[j.name].drawn, j)
	}
	return err
}
