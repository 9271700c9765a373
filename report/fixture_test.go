package report

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fomo-grid/grid/internal/study"
	"github.com/fomo-grid/grid/results"
)

// fixture builds a results database the way the orchestrator fills it:
// job configurations and labels as sweeps writes them, states and results
// through the store's own write path.
type fixture struct {
	t    *testing.T
	db   *results.DB
	grid int64
	jobs []results.JobSpec
	// after are completions of the jobs added, run once they are synced.
	after []func()
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db, err := results.Open(filepath.Join(t.TempDir(), "grid.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f := &fixture{t: t, db: db}
	f.grid = f.newGrid("sweep")
	return f
}

func (f *fixture) newGrid(name string) int64 {
	f.t.Helper()
	g, err := f.db.UpsertGrid(name, "grids/"+name+".toml", "# test grid")
	if err != nil {
		f.t.Fatal(err)
	}
	return g
}

// train adds a train job. Its swept values go into labels and config
// alike, as sweeps does; seed is a label too when seeds is an axis.
func (f *fixture) train(id, dataset string, classes study.Classes, variant study.Variant, seed int, labels map[string]string, experiments ...string) {
	cfg := map[string]any{"kind": "train", "model": "m", "data_root": "d", "dataset": dataset, "classes": classes,
		"variant": variant, "seed": seed, "n_ctx": 2, "epochs": 4}
	lab := map[string]string{"seed": itoa(seed)}
	for k, v := range labels {
		cfg[k], lab[k] = json.Number(v), v // numbers in the config, text in the labels
	}
	if variant != study.VariantFull {
		lab["variant"] = string(variant)
	}
	if len(experiments) == 0 {
		experiments = []string{"grid"}
	}
	f.add(results.JobSpec{ID: id, Name: experiments[0] + "/" + dataset + "/" + id + "/train", Kind: study.KindTrain,
		Config: mustJSON(cfg), Labels: mustJSON(lab), Experiments: experiments})
}

// eval adds an eval of source's checkpoint.
func (f *fixture) eval(id, source, dataset string, classes study.Classes, variant study.Variant, experiments ...string) {
	cfg := map[string]any{"kind": "eval", "model": "m", "data_root": "d", "dataset": dataset, "classes": classes,
		"variant": variant, "seed": 0, "n_ctx": 2, "source": source}
	if len(experiments) == 0 {
		experiments = []string{"grid"}
	}
	f.add(results.JobSpec{ID: id, Name: experiments[0] + "/" + dataset + "/" + id, Kind: study.KindEval,
		Config: mustJSON(cfg), Deps: []string{source}, Experiments: experiments})
}

// zeroshot adds a zero-shot evaluation of dataset's classes.
func (f *fixture) zeroshot(id, dataset string, classes study.Classes) {
	cfg := map[string]any{"kind": "eval", "model": "m", "data_root": "d", "dataset": dataset, "classes": classes,
		"variant": "", "seed": 0, "n_ctx": 0, "template": "a photo of a {}."}
	f.add(results.JobSpec{ID: id, Name: "zeroshot/" + dataset + "/" + string(classes), Kind: study.KindEval,
		Config: mustJSON(cfg), Experiments: []string{"zeroshot"}})
}

func (f *fixture) add(j results.JobSpec) { f.jobs = append(f.jobs, j) }

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// sync records the jobs added so far in grid g (the fixture's own when 0).
func (f *fixture) sync(g ...int64) {
	f.t.Helper()
	grid := f.grid
	if len(g) > 0 {
		grid = g[0]
	}
	if _, err := f.db.SyncJobs(grid, f.jobs); err != nil {
		f.t.Fatal(err)
	}
	f.jobs = nil
	for _, fn := range f.after {
		fn()
	}
	f.after = nil
}

// done completes a job with one evaluation, an optional prompt and a loss
// curve (whose steps also carry prompts "p<step/2>").
func (f *fixture) done(id string, split study.Classes, dataset string, acc float64, prompt string, losses ...float64) {
	f.t.Helper()
	attempt, err := f.db.StartAttempt(id, "w")
	if err != nil {
		f.t.Fatal(err)
	}
	var ms []results.Metric
	for i, l := range losses {
		ms = append(ms, results.Metric{Step: i, Epoch: i / 4, Loss: l, BatchLoss: l, LR: 0.002, Prompt: "p" + itoa(i/2)})
	}
	if err := f.db.AddMetrics(id, attempt, ms); err != nil {
		f.t.Fatal(err)
	}
	c := results.Completion{Evaluations: []results.Evaluation{{Split: split, Dataset: dataset, Total: 1000,
		Correct: int(acc * 10), Accuracy: acc, MacroF1: acc - 1}}}
	if prompt != "" {
		c.Prompt = &results.Prompt{TokenIDs: []int{1, 2}, Text: prompt}
	}
	if err := f.db.CompleteJob(id, c); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) fail(id, reason string) {
	f.t.Helper()
	if _, err := f.db.StartAttempt(id, "w"); err != nil {
		f.t.Fatal(err)
	}
	if err := f.db.FailAttempt(id, reason, true); err != nil {
		f.t.Fatal(err)
	}
}

// b2n adds a base-to-new run (train + new-class eval), both completed
// with the given accuracies once synced; the train job's loss curve has
// steps points falling from 2 to 1.
func (f *fixture) b2n(id, dataset string, variant study.Variant, seed int, labels map[string]string, base, new float64, experiments ...string) {
	f.train(id, dataset, study.ClassesBase, variant, seed, labels, experiments...)
	f.eval(id+"-new", id, dataset, study.ClassesNew, variant, experiments...)
	f.after = append(f.after, func() {
		losses := make([]float64, 8)
		for i := range losses {
			losses[i] = 2 - float64(i)/7 + float64(seed)/100
		}
		f.done(id, study.ClassesBase, dataset, base, "prompt "+id, losses...)
		f.done(id+"-new", study.ClassesNew, dataset, new, "")
	})
}

func writeReport(t *testing.T, f *fixture, opts Options) (string, []string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "run", "report")
	files, err := Write(f.db, "sweep", dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	return dir, files
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// mdRows returns the rows of the Markdown table in md, each split into
// trimmed cells, without the header and alignment rows.
func mdRows(t *testing.T, md string) [][]string {
	t.Helper()
	var rows [][]string
	seenHeader := false
	for _, line := range strings.Split(md, "\n") {
		if !strings.HasPrefix(line, "|") || strings.HasPrefix(line, "|---") {
			continue
		}
		if !seenHeader {
			seenHeader = true
			continue
		}
		var cells []string
		var cur strings.Builder
		prev := '|'
		for _, r := range line[1:] {
			if r == '|' && prev != '\\' {
				cells = append(cells, strings.TrimSpace(cur.String()))
				cur.Reset()
			} else {
				cur.WriteRune(r)
			}
			prev = r
		}
		rows = append(rows, cells)
	}
	return rows
}

// tableFile reads a Markdown table of the report.
func tableFile(t *testing.T, dir, name string) [][]string {
	t.Helper()
	return mdRows(t, readFile(t, filepath.Join(dir, name+".md")))
}

// row finds the row whose first cells are prefix.
func row(t *testing.T, rows [][]string, prefix ...string) []string {
	t.Helper()
	for _, r := range rows {
		if len(r) >= len(prefix) && strings.Join(r[:len(prefix)], "|") == strings.Join(prefix, "|") {
			return r
		}
	}
	t.Fatalf("no row starting %q among %q", prefix, rows)
	return nil
}
