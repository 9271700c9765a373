// Package engine holds the domain types of the DPT engine: what a training or
// evaluation run is asked to do, what it reports while it runs, and what it
// returns. Implementations live in the subpackages (clip: the model, tokenizer:
// OpenAI's BPE, data: datasets and transforms, dpt: Algorithm 1 and the
// optimiser, trainer: the Engine itself). The engine knows nothing of grids,
// workers or databases.
package engine

import (
	"context"

	"github.com/fomo-grid/grid/internal/study"
)

// Variant switches off one component of DPT, as the seed's NOSHARED, NOSELECT
// and NOFILTER environment variables do. The zero value is the full method.
type Variant struct {
	// NoShared appends no visual prompts to the ViT: the vision tower is plain
	// CLIP and the projection is never trained.
	NoShared bool `json:"noshared,omitempty"`
	// NoSelect keeps the BOS/EOS filter of Algorithm 1 but skips the
	// decode/encode round-trip selection.
	NoSelect bool `json:"noselect,omitempty"`
	// NoFilter takes the plain argmax of each score row.
	NoFilter bool `json:"nofilter,omitempty"`
}

// ParseVariant maps a variant of a grid to its switches; empty is the full
// method.
func ParseVariant(name study.Variant) (Variant, bool) {
	switch name {
	case "", study.VariantFull:
		return Variant{}, true
	case study.VariantNoShared:
		return Variant{NoShared: true}, true
	case study.VariantNoSelect:
		return Variant{NoSelect: true}, true
	case study.VariantNoFilter:
		return Variant{NoFilter: true}, true
	}
	return Variant{}, false
}

// DataSpec names a dataset split the way the CoOp protocol does.
type DataSpec struct {
	Dataset string `json:"dataset"`   // "demo", "eurosat", "imagenet", ...
	Root    string `json:"data_root"` // directory holding one folder per dataset
	// Classes is the half of the classes a run sees: base (the first
	// ceil(n/2) labels, relabelled 0..m-1), new (the rest, relabelled
	// 0..n-m-1) or all.
	Classes study.Classes `json:"classes"`
	Shots   int           `json:"shots"` // training images per class; <= 0 means all
	Seed    int64         `json:"seed"`  // seeds few-shot sampling and training order
}

// TrainSpec is one DPT training run: learn n_ctx discrete tokens (and the
// projection that turns them into visual prompts) on the training split, then
// test on the test split of the same classes.
type TrainSpec struct {
	Model        string   `json:"model"` // model directory (weights + tokenizer)
	Data         DataSpec `json:"data"`
	NCtx         int      `json:"n_ctx"`
	WeightStd    float64  `json:"weight_std"` // scores ~ N(0, WeightStd)
	Epochs       int      `json:"epochs"`
	LR           float64  `json:"lr"`
	WarmupLR     float64  `json:"warmup_lr"`
	WarmupEpochs int      `json:"warmup_epochs"`
	Momentum     float64  `json:"momentum"`
	WeightDecay  float64  `json:"weight_decay"`
	BatchSize    int      `json:"batch_size"`
	Variant      Variant  `json:"variant"`
	// Checkpoint is the file the learned scores, projection and tokens are
	// written to (atomically) when training ends.
	Checkpoint string `json:"checkpoint"`
	// Precision is the arithmetic of the run; empty means fp32. A backend
	// that cannot run it fails the job saying so.
	Precision study.Precision `json:"precision,omitempty"`
}

// EvalSpec is one evaluation: a learned checkpoint (or a hand-written prompt)
// classifying the test split of a dataset.
type EvalSpec struct {
	Model      string   `json:"model"`
	Data       DataSpec `json:"data"`
	Checkpoint string   `json:"checkpoint,omitempty"` // learned prompt; empty means Prompt
	// Prompt is a hand-written prompt: context words put before each class
	// name ("a photo of a" gives "a photo of a dog."), or a template with
	// {} where the name goes ("a photo of a {}, a type of pet.").
	Prompt  string  `json:"prompt,omitempty"`
	Variant Variant `json:"variant"` // test-time switches (NoShared for projection-free transfer)
	// LogitsFile, when set, is the CSV the evaluation writes (atomically)
	// with one row per test image in split order: its path relative to the
	// dataset directory, its label, and the logit of every class
	// (exp(logit_scale)·cosine, as the argmax saw them). The header row is
	// "path,label" followed by the class names.
	LogitsFile string `json:"logits_file,omitempty"`
	// Precision is the arithmetic of the evaluation; empty means fp32.
	Precision study.Precision `json:"precision,omitempty"`
}

// Progress is reported after every training step.
type Progress struct {
	Epoch     int     `json:"epoch"` // 0-based
	Epochs    int     `json:"epochs"`
	Step      int     `json:"step"` // 0-based global step: epoch*StepsPerEpoch + batch
	Steps     int     `json:"steps"`
	Loss      float64 `json:"loss"`       // running mean of the batch losses of this epoch
	BatchLoss float64 `json:"batch_loss"` // this step's cross-entropy
	LR        float64 `json:"lr"`         // the learning rate this step used
	TokenIDs  []int   `json:"token_ids"`  // the selected prompt tokens
	Prompt    string  `json:"prompt"`     // their decoded text
}

// Evaluation is the Classification evaluator's result on one split.
type Evaluation struct {
	Total    int     `json:"total"`
	Correct  int     `json:"correct"`
	Accuracy float64 `json:"accuracy"` // percent
	MacroF1  float64 `json:"macro_f1"` // percent, over the labels present in the split
}

// TrainResult is what a finished training run returns.
type TrainResult struct {
	TokenIDs   []int      `json:"token_ids"`
	Prompt     string     `json:"prompt"`
	Test       Evaluation `json:"test"` // test split of the training classes, last-epoch weights
	Checkpoint string     `json:"checkpoint"`
}

// Placed is implemented by an Engine that computes on a backend
// (engine/backend): Placement names the backend ("cpu", "cuda") and the
// device, for the worker's Info.
type Placed interface {
	Placement() (backend, device string)
}

// Engine trains and evaluates DPT. Implementations must honour ctx: a
// cancelled context stops the run promptly with ctx.Err().
type Engine interface {
	Train(ctx context.Context, spec TrainSpec, progress func(Progress)) (TrainResult, error)
	Evaluate(ctx context.Context, spec EvalSpec) (Evaluation, error)
}

// Usage is what a job used of the device it ran on.
type Usage struct {
	Device string `json:"device,omitempty"` // e.g. "cuda:0 NVIDIA H200"
	// PeakMemory is the most device memory, in bytes, the job's computation
	// held at once (the model's weights included).
	PeakMemory int64 `json:"peak_memory,omitempty"`
}

// UsageMeter is implemented by engines that measure their device use. An
// engine runs one job at a time, so a caller resets the meter before a job
// and reads it after.
type UsageMeter interface {
	ResetUsage()
	Usage() Usage
}
