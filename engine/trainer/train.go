package trainer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/fomo-grid/grid/engine"
	"github.com/fomo-grid/grid/engine/backend"
	"github.com/fomo-grid/grid/engine/clip"
	"github.com/fomo-grid/grid/engine/data"
	"github.com/fomo-grid/grid/engine/dpt"
)

// trainJob is what a training run reads: the model, the dataset split, the
// class prompts and the image pipeline.
type trainJob struct {
	spec   engine.TrainSpec
	m      *loaded
	ds     *data.Dataset
	tokens [][]int
	loader *data.Loader
}

// Train runs DPT training (Algorithm 1 selection every step, straight-through
// gradient to the scores, SGD with the per-epoch schedule), then tests the
// last-epoch prompt on the test split of the training classes and writes the
// checkpoint.
func (t *Trainer) Train(ctx context.Context, spec engine.TrainSpec, progress func(engine.Progress)) (engine.TrainResult, error) {
	t.job.Lock()
	defer t.job.Unlock()
	if err := checkTrainSpec(spec); err != nil {
		return engine.TrainResult{}, err
	}
	if err := t.atPrecision(spec.Precision); err != nil {
		return engine.TrainResult{}, err
	}
	job, err := t.prepareTraining(ctx, spec)
	if err != nil {
		return engine.TrainResult{}, err
	}
	defer job.m.runner.Release()
	// One stream for initialisation, one for the epoch order and
	// augmentation, both from the job's seed.
	seed := uint64(spec.Data.Seed)
	initRNG := rand.New(rand.NewPCG(seed, 0x696e6974)) // "init"
	dataRNG := rand.New(rand.NewPCG(seed, 0x64617461)) // "data"
	p := newPrompt(job.m.model.Config, spec.NCtx, spec.WeightStd, initRNG)
	if err := t.trainPrompt(ctx, job, p, dataRNG, progress); err != nil {
		return engine.TrainResult{}, err
	}
	// The training workspaces go before the evaluation makes its own.
	job.m.runner.Release()

	// The test forward selects again from the final scores, as the seed's
	// GetToggle does in every forward.
	selected, err := selectTokens(p, job.m, spec.Variant)
	if err != nil {
		return engine.TrainResult{}, err
	}
	test, err := t.evaluate(ctx, job.m, job.loader, job.ds, job.tokens, p, selected, spec.Variant, "")
	if err != nil {
		return engine.TrainResult{}, err
	}
	res := engine.TrainResult{TokenIDs: selected, Prompt: job.m.tok.Decode(selected), Test: test, Checkpoint: spec.Checkpoint}
	if spec.Checkpoint != "" {
		if err := saveCheckpoint(spec.Checkpoint, p, selected, res.Prompt, spec); err != nil {
			return engine.TrainResult{}, err
		}
	}
	return res, nil
}

// prepareTraining loads the model and the dataset split, tokenises the
// class prompts and decodes every image before the first step, so that a
// missing or corrupt file fails the job at once, naming it, not after an
// epoch of work.
func (t *Trainer) prepareTraining(ctx context.Context, spec engine.TrainSpec) (*trainJob, error) {
	m, err := t.load(spec.Model)
	if err != nil {
		return nil, err
	}
	cfg := m.model.Config
	ds, err := t.split(spec.Data)
	if err != nil {
		return nil, err
	}
	if len(ds.Train) == 0 {
		return nil, fmt.Errorf("dataset %s (%s classes): no training images", spec.Data.Dataset, spec.Data.Classes)
	}
	tokens, err := classPrompts(m.tok, ds.ClassNames, contextPrefix(spec.NCtx), cfg.ContextLength)
	if err != nil {
		return nil, err
	}
	cache, err := t.cache(cfg.ImageResolution)
	if err != nil {
		return nil, err
	}
	loader := newLoader(cache, cfg.ImageResolution)
	if err := loader.Warm(ctx, ds.Train, data.Squash); err != nil {
		return nil, err
	}
	if err := loader.Warm(ctx, ds.Test, data.ShorterSideCrop); err != nil {
		return nil, err
	}
	return &trainJob{spec: spec, m: m, ds: ds, tokens: tokens, loader: loader}, nil
}

// promptTraining is the state of a training loop on the backend: the
// prompt's tensors, the optimiser and the score gradient.
type promptTraining struct {
	job        *trainJob
	p          *prompt
	dev        *devicePrompt
	opt        *dpt.SGD
	scoresGrad backend.Buffer
	params     []dpt.Param // scores, then proj.weight and proj.bias unless NoShared
}

// trainPrompt trains p on the backend for the spec's epochs and leaves the
// trained values in p.
func (t *Trainer) trainPrompt(ctx context.Context, job *trainJob, p *prompt, dataRNG *rand.Rand, progress func(engine.Progress)) error {
	dev, err := p.upload(t.backend)
	if err != nil {
		return err
	}
	defer dev.free()
	spec := job.spec
	s := &promptTraining{job: job, p: p, dev: dev, opt: dpt.NewSGD(t.backend, spec.Momentum, spec.WeightDecay)}
	defer s.opt.Free()
	if s.scoresGrad, err = t.backend.Alloc(backend.Float32, len(p.scores)); err != nil {
		return err
	}
	defer t.backend.Free(s.scoresGrad)
	s.params = []dpt.Param{{Name: "scores", Value: dev.scores, Grad: s.scoresGrad}}
	if !spec.Variant.NoShared {
		// With no visual prompts the projection gets no gradient, and so
		// no weight decay either.
		s.params = append(s.params, dpt.Param{Name: "proj.weight", Value: dev.projW}, dpt.Param{Name: "proj.bias", Value: dev.projB})
	}
	perEpoch := len(data.TrainBatches(len(job.ds.Train), spec.BatchSize, rand.New(rand.NewPCG(0, 0))))
	for epoch := 0; epoch < spec.Epochs; epoch++ {
		lr := dpt.LR(epoch, spec.Epochs, spec.LR, spec.WarmupLR, spec.WarmupEpochs)
		var sum float64
		for b, idx := range data.TrainBatches(len(job.ds.Train), spec.BatchSize, dataRNG) {
			if err := ctx.Err(); err != nil {
				return err
			}
			batch, err := job.loader.TrainBatch(job.ds.Train, idx, dataRNG)
			if err != nil {
				return err
			}
			loss, selected, err := s.step(batch, lr)
			if err != nil {
				return fmt.Errorf("epoch %d step %d: %w", epoch, b, err)
			}
			sum += float64(loss)
			if progress != nil {
				progress(engine.Progress{
					Epoch: epoch, Epochs: spec.Epochs, Step: epoch*perEpoch + b, Steps: perEpoch * spec.Epochs,
					Loss: sum / float64(b+1), BatchLoss: float64(loss), LR: lr,
					TokenIDs: selected, Prompt: job.m.tok.Decode(selected),
				})
			}
		}
	}
	return dev.download(s.p)
}

// step selects the tokens from the current scores, runs the DPT objective
// on the batch and updates the prompt: the scores through the
// straight-through gradient, the projection through its own.
func (s *promptTraining) step(batch data.Batch, lr float64) (loss float32, selected []int, err error) {
	if err := s.dev.downloadScores(s.p); err != nil {
		return 0, nil, err
	}
	if selected, err = selectTokens(s.p, s.job.m, s.job.spec.Variant); err != nil {
		return 0, nil, err
	}
	in := clip.DPTInput{ClassTokens: s.job.tokens, NCtx: s.p.nCtx, CtxIDs: selected,
		Images: batch.Images, Batch: len(batch.Labels), Labels: batch.Labels}
	if len(s.params) == 3 {
		in.ProjW, in.ProjB = s.dev.projW, s.dev.projB
	}
	runner := s.job.m.runner
	out, err := runner.DPTStep(in, true)
	if err != nil {
		return 0, nil, err
	}
	if math.IsNaN(float64(out.Loss)) || math.IsInf(float64(out.Loss), 0) {
		return 0, nil, fmt.Errorf("loss is %v", out.Loss)
	}
	runner.ScoresGrad(s.scoresGrad, out.DCtx, s.p.nCtx)
	if len(s.params) == 3 {
		s.params[1].Grad, s.params[2].Grad = out.DProjW, out.DProjB
	}
	return out.Loss, selected, s.opt.Step(lr, s.params)
}

// selectTokens runs Algorithm 1 on the prompt's scores. Where the reference
// would crash (a rank runs past the vocabulary, see
// dpt.ErrVocabularyExhausted) it takes what the NOSELECT variant would: the
// BOS/EOS-filtered argmax. Every selection the reference completes is
// unchanged; only runs it would have aborted go on.
func selectTokens(p *prompt, m *loaded, v engine.Variant) ([]int, error) {
	vocab := m.model.Config.VocabSize
	ids, err := dpt.Select(p.scores, p.nCtx, vocab, m.tok, v, nil)
	if errors.Is(err, dpt.ErrVocabularyExhausted) {
		v.NoSelect = true
		return dpt.Select(p.scores, p.nCtx, vocab, m.tok, v, nil)
	}
	return ids, err
}
