package sweeps

import "github.com/fomo-grid/grid/internal/study"

// Config is a job's resolved configuration: every value that decides its
// result, and nothing else. A job's ID is a hash of it, so the same cell gets
// the same ID however the grid file is written, ordered or named.
type Config struct {
	Kind     study.Kind    `json:"kind"`      // train, or eval of its Source's checkpoint or of a Template
	Model    string        `json:"model"`     // as written in the grid file (relative to it)
	DataRoot string        `json:"data_root"` // likewise
	Dataset  string        `json:"dataset"`
	Classes  study.Classes `json:"classes"`
	Variant  study.Variant `json:"variant"`
	Seed     int64         `json:"seed"`
	NCtx     int           `json:"n_ctx"`

	// Training only (zero for eval jobs).
	Shots        int     `json:"shots,omitempty"`
	WeightStd    float64 `json:"weight_std,omitempty"`
	Epochs       int     `json:"epochs,omitempty"`
	LR           float64 `json:"lr,omitempty"`
	WarmupLR     float64 `json:"warmup_lr,omitempty"`
	WarmupEpochs int     `json:"warmup_epochs,omitempty"`
	Momentum     float64 `json:"momentum,omitempty"`
	WeightDecay  float64 `json:"weight_decay,omitempty"`
	BatchSize    int     `json:"batch_size,omitempty"`

	// Eval only: the ID of the train job whose checkpoint is evaluated.
	Source string `json:"source,omitempty"`
	// Zero-shot eval only (no Source): the hand-written prompt, with {}
	// where the class name goes.
	Template string `json:"template,omitempty"`

	// Precision is the job's arithmetic, empty for the default fp32: a
	// grid that does not set it keeps the job IDs it always had. Eval
	// jobs take their source's.
	Precision study.Precision `json:"precision,omitempty"`
}

// Job is one node of the expanded DAG.
type Job struct {
	ID     string `json:"id"`   // hex hash of Config
	Name   string `json:"name"` // readable: experiment/dataset/cell/kind
	Config Config `json:"config"`
	// Deps are the IDs of jobs that must be done first (an eval's Source).
	Deps []string `json:"deps,omitempty"`
	// Experiments names every experiment of the file that produced this job
	// (one cell can belong to several, e.g. a grid cell and an ablation's
	// "full" variant); it is not part of the ID.
	Experiments []string `json:"experiments"`
	// Labels holds the swept values that tell this cell apart in reports
	// (axis name -> value, plus "variant" for ablations); not part of the ID.
	Labels map[string]string `json:"labels,omitempty"`
}
