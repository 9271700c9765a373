package clip

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkDPTStepDemo is one training step of the built-in demo model:
// batch 4, 10 classes, 4 context tokens, with visual prompts, a new context
// every step (no text pass is reused).
func BenchmarkDPTStepDemo(b *testing.B) {
	cfg := DemoConfig(1000)
	m := NewRandom(cfg, 1)
	r := runner(b, m)
	rng := rand.New(rand.NewPCG(1, 1))
	var tokens [][]int
	for k := range 10 {
		tokens = append(tokens, []int{998, 1, 2, 3, 4, 10 + k, 20 + k, 5, 999})
	}
	in := DPTInput{
		ClassTokens: tokens, NCtx: 4, CtxIDs: []int{1, 2, 3, 4},
		ProjW: upload(b, r, randSlice(rng, cfg.VisionWidth*cfg.TextWidth, 0.05)), ProjB: upload(b, r, make([]float32, cfg.VisionWidth)),
		Images: randSlice(rng, 4*3*32*32, 1), Batch: 4, Labels: []int{0, 3, 5, 9},
	}
	if _, err := r.DPTStep(in, true); err != nil { // makes the step's workspace
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		in.CtxIDs[0] = 1 + i%2
		if _, err := r.DPTStep(in, true); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkImageForwardViTB16 is one ViT-B/16 image through the vision
// tower with 4 visual prompts (the forward half of a training step).
func BenchmarkImageForwardViTB16(b *testing.B) {
	m := NewRandom(ViTB16, 1)
	r := runner(b, m)
	rng := rand.New(rand.NewPCG(1, 1))
	images := randSlice(rng, 3*224*224, 1)
	extra := upload(b, r, randSlice(rng, 4*768, 0.1))
	w, err := r.visionWork(visionKey{batch: 1, nExtra: 4, keep: true})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		r.visionForward(w, images, extra)
	}
}
