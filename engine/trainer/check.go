package trainer

import (
	"context"
	"fmt"
	"os"

	"github.com/fomo-grid/grid/engine"
	"github.com/fomo-grid/grid/engine/data"
	"github.com/fomo-grid/grid/engine/tokenizer"
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
	what := fmt.Sprintf("n_ctx = %d", spec.NCtx)
	if spec.Prompt != "" {
		key, prefix, what = engine.KeyPrompt, spec.Prompt, fmt.Sprintf("prompt %q", spec.Prompt)
	}
	contextLength := m.model.Config.ContextLength
	if _, err := classPrompts(m.tok, ds.ClassNames, prefix, contextLength); err != nil {
		name, need := longestSentence(m.tok, ds.ClassNames, prefix)
		return &engine.InputError{Key: key, Err: fmt.Errorf("%s does not fit the class names of %s in the model's context: class %q needs %d tokens, the context holds %d",
			what, spec.Data.Dataset, name, need, contextLength)}
	}
	return nil
}

// longestSentence finds the class whose sentence takes the most tokens
// (with the start and end tokens), the one that runs out of context first.
func longestSentence(tok *tokenizer.Tokenizer, names []string, prefix string) (string, int) {
	var worst string
	need := 0
	for _, n := range names {
		if k := len(tok.Encode(classSentence(prefix, data.PromptName(n)))) + 2; k > need {
			worst, need = n, k
		}
	}
	return worst, need
}
