package trainer

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/fomo-grid/grid/engine"
	"github.com/fomo-grid/grid/engine/backend"
	"github.com/fomo-grid/grid/engine/clip"
	"github.com/fomo-grid/grid/engine/safetensors"
)

// prompt is the learned state of a DPT run on the host: what a checkpoint
// holds, and the scores Algorithm 1 reads.
type prompt struct {
	nCtx   int
	scores []float32 // nCtx × vocab
	projW  []float32 // visionWidth × textWidth (PyTorch Linear weight)
	projB  []float32 // visionWidth
}

// newPrompt initialises the trained parameters: scores ~ N(0, std) and the
// projection with PyTorch's default Linear init, U(-1/√in, 1/√in) for weight
// and bias alike.
func newPrompt(cfg clip.Config, nCtx int, std float64, rng *rand.Rand) *prompt {
	p := &prompt{
		nCtx:   nCtx,
		scores: make([]float32, nCtx*cfg.VocabSize),
		projW:  make([]float32, cfg.VisionWidth*cfg.TextWidth),
		projB:  make([]float32, cfg.VisionWidth),
	}
	for i := range p.scores {
		p.scores[i] = float32(rng.NormFloat64() * std)
	}
	bound := 1 / math.Sqrt(float64(cfg.TextWidth))
	for i := range p.projW {
		p.projW[i] = float32((2*rng.Float64() - 1) * bound)
	}
	for i := range p.projB {
		p.projB[i] = float32((2*rng.Float64() - 1) * bound)
	}
	return p
}

// devicePrompt is a prompt's tensors on the backend, where training updates
// them.
type devicePrompt struct {
	b                    backend.Backend
	scores, projW, projB backend.Buffer
}

// upload copies p to b.
func (p *prompt) upload(b backend.Backend) (*devicePrompt, error) {
	d := &devicePrompt{b: b}
	var err error
	for _, t := range []struct {
		dst  *backend.Buffer
		data []float32
	}{{&d.scores, p.scores}, {&d.projW, p.projW}, {&d.projB, p.projB}} {
		if *t.dst, err = backend.FromHost(b, t.data); err != nil {
			d.free()
			return nil, fmt.Errorf("prompt: %w", err)
		}
	}
	return d, nil
}

// downloadScores copies the scores from the backend into p, for Algorithm
// 1.
func (d *devicePrompt) downloadScores(p *prompt) error {
	return d.b.Download(p.scores, d.scores)
}

// download copies every tensor from the backend into p.
func (d *devicePrompt) download(p *prompt) error {
	if err := d.downloadScores(p); err != nil {
		return err
	}
	if err := d.b.Download(p.projW, d.projW); err != nil {
		return err
	}
	return d.b.Download(p.projB, d.projB)
}

func (d *devicePrompt) free() {
	d.b.Free(d.scores)
	d.b.Free(d.projW)
	d.b.Free(d.projB)
}

// Checkpoint tensors and metadata keys.
const (
	ckScores = "scores"
	ckProjW  = "proj.weight"
	ckProjB  = "proj.bias"
)

// saveCheckpoint writes scores, projection, the selected tokens and the
// resolved spec as one safetensors file, atomically.
func saveCheckpoint(path string, p *prompt, selected []int, text string, spec engine.TrainSpec) error {
	ids, _ := json.Marshal(selected)
	cfg, _ := json.Marshal(spec)
	vocab := len(p.scores) / p.nCtx
	return safetensors.Write(path, map[string]safetensors.Tensor{
		ckScores: {Shape: []int{p.nCtx, vocab}, Data: p.scores},
		ckProjW:  {Shape: []int{len(p.projB), len(p.projW) / len(p.projB)}, Data: p.projW},
		ckProjB:  {Shape: []int{len(p.projB)}, Data: p.projB},
	}, map[string]string{"format": "grid-dpt-v1", "token_ids": string(ids), "prompt": text, "spec": string(cfg)})
}

// loadCheckpoint reads a checkpoint and checks it fits the model.
func loadCheckpoint(path string, cfg clip.Config) (*prompt, error) {
	ts, _, err := safetensors.Read(path)
	if err != nil {
		return nil, err
	}
	s, ok := ts[ckScores]
	if !ok || len(s.Shape) != 2 || s.Shape[1] != cfg.VocabSize || s.Shape[0] < 1 {
		return nil, fmt.Errorf("checkpoint %s: %s must be [n_ctx, %d]", path, ckScores, cfg.VocabSize)
	}
	w, okW := ts[ckProjW]
	b, okB := ts[ckProjB]
	if !okW || !okB || len(w.Shape) != 2 || w.Shape[0] != cfg.VisionWidth || w.Shape[1] != cfg.TextWidth || len(b.Data) != cfg.VisionWidth {
		return nil, fmt.Errorf("checkpoint %s: %s must be [%d, %d] and %s [%d]", path, ckProjW, cfg.VisionWidth, cfg.TextWidth, ckProjB, cfg.VisionWidth)
	}
	return &prompt{nCtx: s.Shape[0], scores: s.Data, projW: w.Data, projB: b.Data}, nil
}
