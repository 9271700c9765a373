package trainer

import (
	"context"
	"fmt"
	"os"

	"github.com/fomo-grid/grid/engine"
	"github.com/fomo-grid/grid/engine/data"
)

// Check implements engine.Checker: it loads the model (weights and
// tokenizer, kept for the jobs this worker runs next), opens the dataset's
// split and tokenises every class sentence the jobs will build. It reads no
// image: a corrupt image still fails its job, before the first step.
func (t *Trainer) Check(ctx context.Context, spec engine.InputSpec) error {
	m, err := t.load(spec.Model)
	if err != nil {
		return &engine.InputError{Key: engine.KeyModel, Err: err}
	}
	if _, err := os.Stat(spec.Data.Root); err != nil {
		return &engine.InputError{Key: engine.KeyDataRoot, Err: fmt.Errorf("data root: %w", err)}
	}
	ds, err := t.split(engine.DataSpec{Dataset: spec.Data.Dataset, Root: spec.Data.Root, Classes: spec.Data.Classes})
	if err != nil {
		return &engine.InputError{Key: engine.KeyDataset, Err: err}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	key, prefix := engine.KeyNCtx, contextPrefix(spec.NCtx)
	if spec.Prompt != "" {
		key, prefix = engine.KeyPrompt, spec.Prompt
	}
	if _, err := classPrompts(m.tok, ds.ClassNames, prefix, m.model.Config.ContextLength); err != nil {
		what := fmt.Sprintf("n_ctx = %d", spec.NCtx)
		if spec.Prompt != "" {
			what = fmt.Sprintf("prompt %q", spec.Prompt)
		}
		return &engine.InputError{Key: key, Err: fmt.Errorf("%s with the class names of %s (%d classes, longest %q): %w",
			what, spec.Data.Dataset, len(ds.ClassNames), longest(ds.ClassNames), err)}
	}
	return nil
}

// longest is the longest class name, the one that runs out of context first.
func longest(names []string) string {
	var out string
	for _, n := range names {
		if len(data.PromptName(n)) > len(data.PromptName(out)) {
			out = n
		}
	}
	return out
}
