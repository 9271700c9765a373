package trainer

import (
	"context"
	"fmt"

	"github.com/fomo-grid/grid/engine"
	"github.com/fomo-grid/grid/engine/backend"
	"github.com/fomo-grid/grid/engine/data"
)

// evaluate classifies the test split: the class features once, the visual
// prompts once, then the images in batches of TestBatchSize. With
// logitsFile set it also writes every image's logits there (see
// engine.EvalSpec.LogitsFile).
func (t *Trainer) evaluate(ctx context.Context, m *loaded, loader *data.Loader, ds *data.Dataset, tokens [][]int, p *prompt, selected []int, v engine.Variant, logitsFile string) (engine.Evaluation, error) {
	if len(ds.Test) == 0 {
		return engine.Evaluation{}, fmt.Errorf("dataset %s: empty test split", ds.Name)
	}
	classes, prompts, err := t.classifier(m, tokens, p, selected, v)
	if err != nil {
		return engine.Evaluation{}, err
	}
	defer t.backend.Free(classes)
	defer t.backend.Free(prompts)
	nClasses := len(tokens)
	pred := make([]int, 0, len(ds.Test))
	truth := make([]int, 0, len(ds.Test))
	var logits []float32 // len(ds.Test) × nClasses, kept only for logitsFile
	if logitsFile != "" {
		logits = make([]float32, 0, len(ds.Test)*nClasses)
	}
	batchLogits := make([]float32, TestBatchSize*nClasses)
	for _, idx := range data.TestBatches(len(ds.Test), TestBatchSize) {
		if err := ctx.Err(); err != nil {
			return engine.Evaluation{}, err
		}
		batch, err := loader.TestBatch(ds.Test, idx)
		if err != nil {
			return engine.Evaluation{}, err
		}
		if err := m.runner.ImageLogits(batchLogits, batch.Images, len(idx), prompts, classes, nClasses); err != nil {
			return engine.Evaluation{}, err
		}
		for i := range idx {
			pred = append(pred, argmax(batchLogits[i*nClasses:(i+1)*nClasses]))
			truth = append(truth, batch.Labels[i])
		}
		if logitsFile != "" {
			logits = append(logits, batchLogits[:len(idx)*nClasses]...)
		}
	}
	if logitsFile != "" {
		if err := writeLogits(logitsFile, ds, truth, logits); err != nil {
			return engine.Evaluation{}, err
		}
	}
	return classify(pred, truth), nil
}

// classifier computes what every test batch is compared with, once per
// evaluation: the normalised class features (with the selected tokens in
// the slots of a learned prompt) and the visual prompts (nil without a
// learned prompt or with NoShared). The caller frees both.
func (t *Trainer) classifier(m *loaded, tokens [][]int, p *prompt, selected []int, v engine.Variant) (classes, prompts backend.Buffer, err error) {
	var ids []int
	nCtx := 0
	if p != nil {
		ids, nCtx = selected, p.nCtx
	}
	if classes, err = m.runner.ClassFeatures(tokens, ids, nCtx); err != nil || p == nil || v.NoShared {
		return classes, nil, err
	}
	dev, err := p.upload(t.backend)
	if err != nil {
		t.backend.Free(classes)
		return nil, nil, err
	}
	defer dev.free()
	if prompts, err = m.runner.ContextPrompts(selected, dev.projW, dev.projB); err != nil {
		t.backend.Free(classes)
		return nil, nil, err
	}
	return classes, prompts, nil
}

// Evaluate tests a learned checkpoint (or a hand-written prompt) on the test
// split of a dataset.
func (t *Trainer) Evaluate(ctx context.Context, spec engine.EvalSpec) (engine.Evaluation, error) {
	t.job.Lock()
	defer t.job.Unlock()
	if err := t.atPrecision(spec.Precision); err != nil {
		return engine.Evaluation{}, err
	}
	m, err := t.load(spec.Model)
	if err != nil {
		return engine.Evaluation{}, err
	}
	defer m.runner.Release()
	cfg := m.model.Config
	ds, err := t.split(engine.DataSpec{Dataset: spec.Data.Dataset, Root: spec.Data.Root, Classes: spec.Data.Classes})
	if err != nil {
		return engine.Evaluation{}, err
	}
	cache, err := t.cache(cfg.ImageResolution)
	if err != nil {
		return engine.Evaluation{}, err
	}
	loader := newLoader(cache, cfg.ImageResolution)
	if spec.Checkpoint == "" {
		text := spec.Prompt
		if text == "" {
			text = ContextInit
		}
		tokens, err := classPrompts(m.tok, ds.ClassNames, text, cfg.ContextLength)
		if err != nil {
			return engine.Evaluation{}, err
		}
		return t.evaluate(ctx, m, loader, ds, tokens, nil, nil, spec.Variant, spec.LogitsFile)
	}
	p, err := loadCheckpoint(spec.Checkpoint, cfg)
	if err != nil {
		return engine.Evaluation{}, err
	}
	selected, err := selectTokens(p, m, spec.Variant)
	if err != nil {
		return engine.Evaluation{}, err
	}
	tokens, err := classPrompts(m.tok, ds.ClassNames, contextPrefix(p.nCtx), cfg.ContextLength)
	if err != nil {
		return engine.Evaluation{}, err
	}
	return t.evaluate(ctx, m, loader, ds, tokens, p, selected, spec.Variant, spec.LogitsFile)
}
