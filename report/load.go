package report

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"

	"github.com/fomo-grid/grid/internal/study"
	"github.com/fomo-grid/grid/results"
)

// record is one job of a grid with what the store holds about it.
type record struct {
	job    results.Job
	cfg    jobConfig
	labels map[string]string // the swept values, seed included
	evals  []results.Evaluation
	prompt *results.Prompt
	// cellKey is the job's configuration without its seed: the runs of one
	// configuration over several seeds share it. Eval jobs of a checkpoint
	// carry their source's key instead (their own names the source by ID).
	cellKey string
}

// jobConfig holds the configuration keys the report reads.
type jobConfig struct {
	Kind     study.Kind    `json:"kind"`
	Dataset  string        `json:"dataset"`
	Classes  study.Classes `json:"classes"`
	Variant  study.Variant `json:"variant"`
	Seed     int64         `json:"seed"`
	Source   string        `json:"source"`
	Template string        `json:"template"`
}

// zeroShot reports whether the record is a zero-shot evaluation: no source
// checkpoint, a hand-written template.
func (r *record) zeroShot() bool { return r.cfg.Kind == study.KindEval && r.cfg.Source == "" }

// variant is the record's variant, full when the configuration has none.
func (r *record) variant() study.Variant {
	if r.cfg.Variant == "" {
		return study.VariantFull
	}
	return r.cfg.Variant
}

// eval returns the record's evaluation of its own dataset and classes (a
// job has one), or nil while it has none.
func (r *record) eval() *results.Evaluation {
	for i := range r.evals {
		e := &r.evals[i]
		if e.Dataset == r.cfg.Dataset && (r.cfg.Classes == "" || e.Split == r.cfg.Classes) {
			return e
		}
	}
	if len(r.evals) == 1 {
		return &r.evals[0]
	}
	return nil
}

// filter restricts a report to some datasets and experiments; empty sets
// keep everything.
type filter struct {
	datasets    []string
	experiments []string
}

// loadGrid reads every job of a grid with its evaluations and prompt, in
// grid order.
func loadGrid(db *results.DB, gridID int64) ([]*record, error) {
	jobs, err := db.Jobs(gridID)
	if err != nil {
		return nil, err
	}
	evals, err := db.GridEvaluations(gridID)
	if err != nil {
		return nil, err
	}
	prompts, err := db.GridPrompts(gridID)
	if err != nil {
		return nil, err
	}
	out := make([]*record, 0, len(jobs))
	for _, j := range jobs {
		r := &record{job: j, evals: evals[j.ID], prompt: prompts[j.ID]}
		if err := decodeRecord(r); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	resolveEvalKeys(out)
	return out, nil
}

// decodeRecord fills the configuration, labels and cell key of r.
func decodeRecord(r *record) error {
	if err := json.Unmarshal(r.job.Config, &r.cfg); err != nil {
		return fmt.Errorf("report: job %s config: %w", r.job.ID, err)
	}
	labels, err := r.job.LabelMap()
	if err != nil {
		return fmt.Errorf("report: job %s: %w", r.job.ID, err)
	}
	r.labels = labels
	r.cellKey = seedField.ReplaceAllString(string(r.job.Config), "")
	return nil
}

// seedField is the seed of a configuration's JSON (flat, one key each, as
// sweeps writes it): cutting it out leaves the key a cell's seeds share,
// without decoding the configuration a second time.
var seedField = regexp.MustCompile(`"seed"\s*:\s*-?[0-9]+\s*,?`)

// resolveEvalKeys gives each eval of a checkpoint the cell key of its
// source, so that the evaluations of one configuration's seeds group.
func resolveEvalKeys(records []*record) {
	byID := make(map[string]*record, len(records))
	for _, r := range records {
		byID[r.job.ID] = r
	}
	for _, r := range records {
		if r.cfg.Kind != study.KindEval || r.cfg.Source == "" {
			continue
		}
		if src, ok := byID[r.cfg.Source]; ok {
			r.cellKey = src.cellKey
		}
	}
}

// keep applies the filter. The dataset is the one a job's numbers are
// about: its own for train and zero-shot jobs, its source's for evals of
// a checkpoint (a transfer belongs to the dataset it was trained on).
// Zero-shot baselines ignore the experiment filter: they are what every
// view compares against.
func (f filter) keep(records []*record) []*record {
	if len(f.datasets) == 0 && len(f.experiments) == 0 {
		return records
	}
	home := map[string]string{}
	for _, r := range records {
		if r.cfg.Kind == study.KindTrain {
			home[r.job.ID] = r.cfg.Dataset
		}
	}
	var out []*record
	for _, r := range records {
		ds := r.cfg.Dataset
		if r.cfg.Source != "" {
			ds = home[r.cfg.Source]
		}
		if len(f.datasets) > 0 && !slices.Contains(f.datasets, ds) {
			continue
		}
		if len(f.experiments) > 0 && !r.zeroShot() && !overlaps(r.job.Experiments, f.experiments) {
			continue
		}
		out = append(out, r)
	}
	return out
}

func overlaps(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

// loadStudy reads the jobs of every grid in the database, each once: the
// study the ablation view averages over. The grid already read (gridID,
// its records) is not read again.
func loadStudy(db *results.DB, gridID int64, have []*record) ([]*record, error) {
	grids, err := db.Grids()
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []*record
	for i := len(grids) - 1; i >= 0; i-- { // oldest grid first
		recs := have
		if grids[i].ID != gridID {
			if recs, err = loadGrid(db, grids[i].ID); err != nil {
				return nil, err
			}
		}
		for _, r := range recs {
			if !seen[r.job.ID] {
				seen[r.job.ID] = true
				out = append(out, r)
			}
		}
	}
	resolveEvalKeys(out)
	return out, nil
}
