// Package study names the parts a study is made of, in one place for every
// package that needs them: the variants of the method, the class halves of
// a dataset, the protocols of an experiment and the kinds of job. The grid
// language, the engine, the worker protocol, the store and the report all
// use these names; they appear in grid files, job configurations (and so
// in job IDs) and the database, so their spelling never changes.
package study

// Variant is the method as run: the full method, or one component switched
// off (the seed's NOSHARED, NOSELECT and NOFILTER).
type Variant string

// Variants.
const (
	VariantFull     Variant = "full"
	VariantNoShared Variant = "noshared" // no visual prompts (projection-free)
	VariantNoSelect Variant = "noselect" // no decode/encode round-trip selection
	VariantNoFilter Variant = "nofilter" // plain argmax, no BOS/EOS filter
)

// Ablations are the variants that switch one component off, in the order
// the seed's scripts list them.
var Ablations = []Variant{VariantNoShared, VariantNoSelect, VariantNoFilter}

// Classes is the part of a dataset's classes a job trains or tests on.
type Classes string

// Class halves.
const (
	ClassesBase Classes = "base" // the first ceil(n/2) labels
	ClassesNew  Classes = "new"  // the remaining labels
	ClassesAll  Classes = "all"
)

// Protocol is what an experiment of a grid file does with its cells.
type Protocol string

// Protocols.
const (
	// ProtocolBase2New trains on the base classes and tests the checkpoint
	// on the new ones.
	ProtocolBase2New Protocol = "base2new"
	// ProtocolTrain only trains (on the base classes or all of them).
	ProtocolTrain Protocol = "train"
	// ProtocolTransfer tests another experiment's checkpoints on other
	// datasets.
	ProtocolTransfer Protocol = "transfer"
	// ProtocolZeroShot tests CLIP with a hand-written template per
	// dataset and no training: the baseline.
	ProtocolZeroShot Protocol = "zeroshot"
)

// Kind is what a job does.
type Kind string

// Job kinds.
const (
	// KindTrain learns a prompt and tests it on the test split of its
	// training classes.
	KindTrain Kind = "train"
	// KindEval tests a prompt on a test split: a train job's checkpoint,
	// or a hand-written template (zero-shot).
	KindEval Kind = "eval"
)

// Precision is the arithmetic a job runs at: the storage type of weights and
// activations and the input type of GEMMs (LayerNorm and softmax statistics
// and GEMM accumulation stay fp32). The seed ran fp16 (PREC=fp16).
type Precision string

// Precisions.
const (
	PrecisionFP32 Precision = "fp32" // the default; the only one the CPU backend runs
	PrecisionFP16 Precision = "fp16"
	PrecisionBF16 Precision = "bf16"
)

// Precisions lists them, the default first.
var Precisions = []Precision{PrecisionFP32, PrecisionFP16, PrecisionBF16}
