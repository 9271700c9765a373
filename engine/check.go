package engine

import (
	"context"
	"errors"
)

// ErrBadInput is wrapped by errors that running the job again cannot fix: a
// missing or unreadable file, a corrupt image or weights file, a class
// sentence longer than the model's context. A worker reports such a failure
// as final, so the orchestrator does not retry it.
var ErrBadInput = errors.New("bad input")

// Keys an InputError blames: the grid file keys a user changes to fix it.
const (
	KeyModel    = "model"
	KeyDataRoot = "data_root"
	KeyDataset  = "datasets"
	KeyNCtx     = "n_ctx"
	KeyPrompt   = "prompt" // a zero-shot eval's template
)

// InputError is a problem with what a job reads, blamed on one grid file key
// (KeyModel, KeyDataRoot, KeyDataset or KeyNCtx). It is an ErrBadInput.
type InputError struct {
	Key string
	Err error
}

func (e *InputError) Error() string   { return e.Err.Error() }
func (e *InputError) Unwrap() []error { return []error{e.Err, ErrBadInput} }

// InputSpec is everything a set of jobs reads from disk before they train:
// a model directory, and one dataset's class half under a data root. NCtx
// is the longest context the jobs put in front of the class names.
type InputSpec struct {
	Model string   `json:"model"`
	Data  DataSpec `json:"data"` // Root, Dataset and Classes; Shots and Seed are not read
	NCtx  int      `json:"n_ctx"`
	// Prompt is a zero-shot eval's hand-written prompt (with {} for the
	// class name); the class sentences are then built from it, not NCtx.
	Prompt string `json:"prompt,omitempty"`
}

// Checker is an Engine that can check a job's inputs without running it:
// the model directory has weights and a tokenizer, the dataset folder and
// its split file exist, and every class sentence fits the model's context.
// Problems are *InputError. The orchestrator asks before its first write,
// so a bad grid fails in seconds instead of job by job.
type Checker interface {
	Check(ctx context.Context, spec InputSpec) error
}
