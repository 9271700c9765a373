package report

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/fomo-grid/grid/internal/study"
	"github.com/fomo-grid/grid/results"
)

const missing = "—"

func pct(v float64) string {
	if !finite(v) {
		return missing
	}
	return fmt.Sprintf("%.2f", v)
}

func delta(v float64) string {
	if !finite(v) {
		return missing
	}
	return fmt.Sprintf("%+.2f", v)
}

// cellText makes s safe inside a Markdown table cell.
func cellText(s string) string {
	s = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ", "|", `\|`).Replace(s)
	return strings.TrimSpace(s)
}

// code shows a prompt verbatim (spaces and punctuation matter) as a code
// span, which GitHub renders inside tables as long as pipes are escaped.
func code(s string) string {
	s = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
	if s == "" {
		return "` `"
	}
	fence := "`"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	pad := ""
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") || strings.HasPrefix(s, " ") || strings.HasSuffix(s, " ") {
		pad = " "
	}
	return fence + pad + strings.ReplaceAll(s, "|", `\|`) + pad + fence
}

func promptText(p *results.Prompt) string {
	if p == nil {
		return missing
	}
	return code(p.Text)
}

// jobState says why a job has no result yet, with its last error.
func jobState(j results.Job) string {
	s := j.StateText()
	if j.Error != "" && j.State != results.StateDone {
		s += ": " + truncate(j.Error, 80)
	}
	return s
}

// cellState is "done" when the cell's numbers are all in; otherwise it says
// which job is holding them up.
func cellState(c results.Cell) string {
	var parts []string
	if c.Job.State != results.StateDone {
		parts = append(parts, "train "+jobState(c.Job))
	}
	if c.Classes == study.ClassesBase {
		switch {
		case c.NewJob == nil:
			parts = append(parts, "no new-class evaluation in the grid")
		case c.NewJob.State != results.StateDone:
			parts = append(parts, "new "+jobState(*c.NewJob))
		}
	} else if c.Classes == study.ClassesAll {
		parts = append(parts, "trained on all classes")
	}
	if len(parts) == 0 {
		return "done"
	}
	return cellText(strings.Join(parts, "; "))
}

func rankText(r row) string {
	if r.rank == 0 {
		return missing
	}
	return fmt.Sprint(r.rank)
}

// datasetTable is one dataset's configurations, best first.
func datasetTable(gridName string, g datasetGroup) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s: grid `%s`\n\n", cellText(g.name), gridName)
	if g.allClasses {
		fmt.Fprintf(&b, "Ranked best first by accuracy on the test split of all classes "+
			"(these configurations trained on all classes, so there is no new split). "+
			"Rows without a result are not ranked and come last. Numbers are percent; %s marks a missing value.\n\n", missing)
		b.WriteString("| rank | configuration | accuracy | macro-F1 | prompt | state |\n")
		b.WriteString("|---:|---|---:|---:|---|---|\n")
		for _, r := range g.rows {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", rankText(r), cellText(r.label),
				pct(accuracy(r.cell.Base)), pct(macroF1(r.cell.Base)), promptText(r.cell.Prompt), cellState(r.cell))
		}
		return b.String()
	}
	fmt.Fprintf(&b, "Ranked best first by H = 2·B·N/(B+N), the harmonic mean of base accuracy B "+
		"and new accuracy N (ties by the mean (B+N)/2). Rows without both accuracies are not ranked "+
		"and come last. Numbers are percent on the test split; %s marks a missing value.\n\n", missing)
	b.WriteString("| rank | configuration | base acc | new acc | H | mean | base macro-F1 | new macro-F1 | prompt | state |\n")
	b.WriteString("|---:|---|---:|---:|---:|---:|---:|---:|---|---|\n")
	for _, r := range g.rows {
		c := r.cell
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", rankText(r), cellText(r.label),
			pct(accuracy(c.Base)), pct(accuracy(c.New)), pct(r.hm), pct(r.mean),
			pct(macroF1(c.Base)), pct(macroF1(c.New)), promptText(c.Prompt), cellState(c))
	}
	return b.String()
}

// configKey identifies a configuration apart from its variant, so that an
// ablation variant can be matched with the full method's cell.
func configKey(c results.Cell) string {
	var m map[string]any
	if json.Unmarshal(c.Job.Config, &m) != nil {
		return c.Job.ID
	}
	delete(m, "variant")
	key, err := json.Marshal(m) // map keys come out sorted
	if err != nil {
		return c.Job.ID
	}
	return string(key)
}

// ablationPair is a variant's cell and the full method's cell of the same
// configuration (full is nil when the grid has none).
type ablationPair struct {
	full, variant *row
}

// ablationTables compares every ablation variant with the full method's
// cell of the same configuration, per dataset and averaged over datasets.
// ok is false when the grid has no variants.
func ablationTables(gridName string, groups []datasetGroup) (md string, ok bool) {
	var b strings.Builder
	fmt.Fprintf(&b, "# Ablations: grid `%s`\n\n", gridName)
	fmt.Fprintf(&b, "Each variant switches off one component of DPT and is compared with the full method "+
		"on the same configuration (same dataset, seed and hyperparameters). Δ = variant − full, "+
		"in percentage points; H = 2·B·N/(B+N). %s marks a missing value.\n\n", missing)

	byVariant := map[string][]ablationPair{}
	for gi := range groups {
		g := &groups[gi]
		fulls := map[string]*row{}
		var variants []*row
		for i := range g.rows {
			r := &g.rows[i]
			if r.cell.Variant == study.VariantFull {
				if _, dup := fulls[configKey(r.cell)]; !dup {
					fulls[configKey(r.cell)] = r
				}
			} else {
				variants = append(variants, r)
			}
		}
		if len(variants) == 0 {
			continue
		}
		ok = true
		// Name each configuration (a full cell, or a variant without one)
		// by what varies among them; variants take their full cell's name
		// and are told apart by the variant column.
		var pairs []ablationPair
		var named []results.Cell
		for _, v := range variants {
			p := ablationPair{full: fulls[configKey(v.cell)], variant: v}
			pairs = append(pairs, p)
			if p.full == nil {
				named = append(named, v.cell)
			}
		}
		for _, f := range fulls {
			named = append(named, f.cell)
		}
		sort.SliceStable(named, func(a, b int) bool { return named[a].Job.ID < named[b].Job.ID })
		labels, _ := configLabels(named, map[string]bool{"variant": true})
		labelOf := map[string]string{}
		for i, c := range named {
			labelOf[configKey(c)] = labels[i]
		}
		// Each full cell (in ranking order) followed by its variants; then
		// variants whose full cell is not in the grid.
		variantsOf := map[*row][]ablationPair{}
		var orphans []ablationPair
		for _, p := range pairs {
			if p.full == nil {
				orphans = append(orphans, p)
			} else {
				variantsOf[p.full] = append(variantsOf[p.full], p)
			}
		}
		var ordered []ablationPair
		for i := range g.rows {
			ps := variantsOf[&g.rows[i]]
			sort.SliceStable(ps, func(a, b int) bool { return ps[a].variant.cell.Variant < ps[b].variant.cell.Variant })
			ordered = append(ordered, ps...)
		}
		ordered = append(ordered, orphans...)

		fmt.Fprintf(&b, "## %s\n\n", cellText(g.name))
		b.WriteString("| configuration | variant | base acc | new acc | H | Δ base | Δ new | Δ H | state |\n")
		b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---|\n")
		shown := map[*row]bool{}
		for _, p := range ordered {
			v := p.variant
			if p.full != nil && !shown[p.full] {
				shown[p.full] = true
				f := p.full
				fmt.Fprintf(&b, "| %s | full | %s | %s | %s | | | | %s |\n", cellText(labelOf[configKey(f.cell)]),
					pct(accuracy(f.cell.Base)), pct(accuracy(f.cell.New)), pct(f.hm), cellState(f.cell))
			}
			dBase, dNew, dH := math.NaN(), math.NaN(), math.NaN()
			state := cellState(v.cell)
			if p.full == nil {
				state = "no full-method cell with this configuration; " + state
			} else {
				dBase = accuracy(v.cell.Base) - accuracy(p.full.cell.Base)
				dNew = accuracy(v.cell.New) - accuracy(p.full.cell.New)
				dH = v.hm - p.full.hm
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", cellText(labelOf[configKey(v.cell)]),
				cellText(string(v.cell.Variant)), pct(accuracy(v.cell.Base)), pct(accuracy(v.cell.New)), pct(v.hm),
				delta(dBase), delta(dNew), delta(dH), state)
			byVariant[string(v.cell.Variant)] = append(byVariant[string(v.cell.Variant)], p)
		}
		b.WriteString("\n")
	}
	if !ok {
		return "", false
	}

	b.WriteString("## Mean over datasets\n\n")
	b.WriteString("Means over the pairs where both the variant and its full-method cell have base and new accuracy; " +
		"the full row averages the full-method cells of those pairs.\n\n")
	b.WriteString("| variant | pairs | base acc | new acc | H | Δ base | Δ new | Δ H |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|\n")
	var names []string
	for v := range byVariant {
		names = append(names, v)
	}
	sort.Strings(names)
	var fullBase, fullNew, fullH mean
	counted := map[*row]bool{}
	type line struct {
		name            string
		n               int
		base, new, h    mean
		dBase, dNew, dH mean
	}
	var lines []line
	for _, name := range names {
		l := line{name: name}
		for _, p := range byVariant[name] {
			if p.full == nil || !finite(p.full.hm) || !finite(p.variant.hm) {
				continue
			}
			f, v := p.full, p.variant
			l.n++
			l.base.add(v.cell.Base.Accuracy)
			l.new.add(v.cell.New.Accuracy)
			l.h.add(v.hm)
			l.dBase.add(v.cell.Base.Accuracy - f.cell.Base.Accuracy)
			l.dNew.add(v.cell.New.Accuracy - f.cell.New.Accuracy)
			l.dH.add(v.hm - f.hm)
			if !counted[f] {
				counted[f] = true
				fullBase.add(f.cell.Base.Accuracy)
				fullNew.add(f.cell.New.Accuracy)
				fullH.add(f.hm)
			}
		}
		lines = append(lines, l)
	}
	fmt.Fprintf(&b, "| full | %d | %s | %s | %s | | | |\n", len(counted), pct(fullBase.value()), pct(fullNew.value()), pct(fullH.value()))
	for _, l := range lines {
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s | %s | %s |\n", cellText(l.name), l.n,
			pct(l.base.value()), pct(l.new.value()), pct(l.h.value()),
			delta(l.dBase.value()), delta(l.dNew.value()), delta(l.dH.value()))
	}
	return b.String(), true
}

// mean accumulates an arithmetic mean; NaN when empty.
type mean struct {
	sum float64
	n   int
}

func (m *mean) add(v float64) { m.sum += v; m.n++ }

func (m mean) value() float64 {
	if m.n == 0 {
		return math.NaN()
	}
	return m.sum / float64(m.n)
}

// transferSet is every train cell that has transfer evaluations, with the
// union of their targets as columns.
type transferSet struct {
	targets []string
	rows    []transferRow
}

type transferRow struct {
	dataset string
	label   string
	own     *results.Evaluation
	byTgt   map[string]results.Transfer
}

// targetName is a transfer's column: the target, its classes when not all,
// and its test-time variant when not the full method (crossds_projfree
// evaluates the same checkpoint on the same target without visual prompts).
func targetName(t results.Transfer) string {
	name := t.Dataset
	if t.Classes != study.ClassesAll && t.Classes != "" {
		name += " (" + string(t.Classes) + ")"
	}
	var cfg struct {
		Variant string `json:"variant"`
	}
	if json.Unmarshal(t.Job.Config, &cfg) == nil && cfg.Variant != "" && cfg.Variant != string(study.VariantFull) {
		name += " [" + cfg.Variant + "]"
	}
	return name
}

func collectTransfers(groups []datasetGroup) transferSet {
	var set transferSet
	seen := map[string]bool{}
	for _, g := range groups {
		for _, r := range g.rows {
			if len(r.cell.Transfers) == 0 {
				continue
			}
			tr := transferRow{dataset: g.name, label: r.label, own: r.cell.Base, byTgt: map[string]results.Transfer{}}
			for _, t := range r.cell.Transfers {
				name := targetName(t)
				tr.byTgt[name] = t
				if !seen[name] {
					seen[name] = true
					set.targets = append(set.targets, name)
				}
			}
			set.rows = append(set.rows, tr)
		}
	}
	sort.Strings(set.targets)
	return set
}

func (s transferSet) sourceLabels() []string {
	var out []string
	for _, r := range s.rows {
		out = append(out, r.dataset+": "+r.label)
	}
	return out
}

func (s transferSet) accuracies() [][]float64 {
	out := make([][]float64, len(s.rows))
	for i, r := range s.rows {
		out[i] = make([]float64, len(s.targets))
		for j, t := range s.targets {
			out[i][j] = math.NaN()
			if tr, ok := r.byTgt[t]; ok {
				out[i][j] = accuracy(tr.Eval)
			}
		}
	}
	return out
}

// average is the mean over all targets, NaN if any is missing: an average
// over a subset would not compare with the others.
func (r transferRow) average(targets []string) float64 {
	var m mean
	for _, t := range targets {
		tr, ok := r.byTgt[t]
		if !ok {
			continue // not a target of this source
		}
		if tr.Eval == nil {
			return math.NaN()
		}
		m.add(tr.Eval.Accuracy)
	}
	return m.value()
}

func transferTable(gridName string, s transferSet) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Transfer: grid `%s`\n\n", gridName)
	fmt.Fprintf(&b, "Accuracy (percent) of each source configuration's learned prompt on the test split of "+
		"each target. \"source acc\" is the source's own test; \"average\" is over the source's targets only "+
		"(not its own test) and is %s until all of them are done. Blank: not a target of that source.\n\n", missing)
	b.WriteString("| source | configuration | source acc |")
	align := "|---|---|---:|"
	for _, t := range s.targets {
		b.WriteString(" " + cellText(t) + " |")
		align += "---:|"
	}
	b.WriteString(" average |\n" + align + "---:|\n")
	for _, r := range s.rows {
		fmt.Fprintf(&b, "| %s | %s | %s |", cellText(r.dataset), cellText(r.label), pct(accuracy(r.own)))
		for _, t := range s.targets {
			tr, ok := r.byTgt[t]
			switch {
			case !ok:
				b.WriteString(" |")
			case tr.Eval != nil:
				b.WriteString(" " + pct(tr.Eval.Accuracy) + " |")
			default:
				b.WriteString(" " + missing + " (" + cellText(tr.Job.StateText()) + ") |")
			}
		}
		fmt.Fprintf(&b, " %s |\n", pct(r.average(s.targets)))
	}
	return b.String()
}

// section is what the index lists for one dataset; empty names mean no file.
type section struct {
	group    datasetGroup
	table    string
	loss     string
	accuracy string
}

type index struct {
	grid         results.Grid
	counts       map[results.JobState]int
	groups       []datasetGroup
	sections     []section
	ablation     string
	transfer     string
	transferFig  string
	figureErrors []error
}

func figureLinks(b *strings.Builder, title, base string) {
	if base == "" {
		return
	}
	fmt.Fprintf(b, "### %s\n\n![%s](%s.png)\n\n[PNG](%s.png) · [SVG](%s.svg)\n\n", title, title, base, base, base)
}

func (x index) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Report: grid `%s`\n\n", x.grid.Name)
	if x.grid.File != "" {
		fmt.Fprintf(&b, "Grid file: `%s`. ", x.grid.File)
	}
	total := 0
	var parts []string
	for _, s := range []results.JobState{results.StateDone, results.StateRunning, results.StatePending, results.StateFailed} {
		if n := x.counts[s]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, s))
		}
		total += x.counts[s]
	}
	fmt.Fprintf(&b, "Jobs: %d", total)
	if len(parts) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(parts, ", "))
	}
	b.WriteString(".\n\n")

	if len(x.groups) == 0 {
		b.WriteString("The grid has no training jobs yet.\n")
		return b.String()
	}

	b.WriteString("## Best configuration per dataset\n\n")
	b.WriteString("The top row of each dataset's table: ranked by H = 2·B·N/(B+N) of base and new accuracy " +
		"(by accuracy for configurations trained on all classes). The last row averages base and new accuracy " +
		"over the datasets listed and gives the H of those averages.\n\n")
	b.WriteString("| dataset | configuration | base acc | new acc | H | prompt |\n|---|---|---:|---:|---:|---|\n")
	var avgBase, avgNew mean
	for _, sec := range x.sections {
		g := sec.group
		if len(g.rows) == 0 || g.rows[0].rank == 0 {
			fmt.Fprintf(&b, "| [%s](%s) | %s | | | | |\n", cellText(g.name), sec.table, "no complete configuration yet")
			continue
		}
		r := g.rows[0]
		fmt.Fprintf(&b, "| [%s](%s) | %s | %s | %s | %s | %s |\n", cellText(g.name), sec.table, cellText(r.label),
			pct(accuracy(r.cell.Base)), pct(accuracy(r.cell.New)), pct(r.hm), promptText(r.cell.Prompt))
		if finite(r.hm) {
			avgBase.add(r.cell.Base.Accuracy)
			avgNew.add(r.cell.New.Accuracy)
		}
	}
	if avgBase.n > 0 {
		h := results.HarmonicMean(avgBase.value(), avgNew.value())
		fmt.Fprintf(&b, "| **average** (%d) | | %s | %s | %s | |\n", avgBase.n, pct(avgBase.value()), pct(avgNew.value()), pct(h))
	}
	b.WriteString("\n")

	for _, sec := range x.sections {
		fmt.Fprintf(&b, "## %s\n\n", cellText(sec.group.name))
		rankedBy := "H"
		if sec.group.allClasses {
			rankedBy = "accuracy"
		}
		fmt.Fprintf(&b, "- [Table of %d configurations](%s), ranked by %s\n\n", len(sec.group.rows), sec.table, rankedBy)
		figureLinks(&b, "Training loss: "+cellText(sec.group.name), sec.loss)
		figureLinks(&b, "Base and new accuracy: "+cellText(sec.group.name), sec.accuracy)
	}
	if x.ablation != "" {
		fmt.Fprintf(&b, "## Ablations\n\n- [Variants against the full method](%s)\n\n", x.ablation)
	}
	if x.transfer != "" {
		fmt.Fprintf(&b, "## Transfer\n\n- [Accuracy per target](%s)\n\n", x.transfer)
		figureLinks(&b, "Transfer accuracy per target", x.transferFig)
	}
	if len(x.figureErrors) > 0 {
		b.WriteString("## Figures that could not be drawn\n\n")
		for _, err := range x.figureErrors {
			fmt.Fprintf(&b, "- %s\n", cellText(err.Error()))
		}
	}
	return b.String()
}
