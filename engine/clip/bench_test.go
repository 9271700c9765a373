package clip

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkDPTStepDemo is one training step of the built-in demo model:
// batch 4, 10 classes, 4 context tokens, with visual prompts.
func BenchmarkDPTStepDemo(b *testing.B) {
	cfg := DemoConfig(1000)
	m := NewRandom(cfg, 1)
	rng := rand.New(rand.NewPCG(1, 1))
	nCtx := 4
	var tokens [][]int
	for k := range 10 {
		tokens = append(tokens, []int{998, 1, 2, 3, 4, 10 + k, 20 + k, 5, 999})
	}
	in := DPTInput{
		ClassTokens: tokens, NCtx: nCtx, Ctx: m.TokenEmbeddings([]int{1, 2, 3, 4}),
		ProjW: randSlice(rng, cfg.VisionWidth*cfg.TextWidth, 0.05), ProjB: make([]float32, cfg.VisionWidth),
		Images: randSlice(rng, 4*3*32*32, 1), Batch: 4, Labels: []int{0, 3, 5, 9},
	}
	for b.Loop() {
		m.DPTStep(in, true)
	}
}

// BenchmarkImageForwardViTB16 is one ViT-B/16 image through the vision
// tower with 4 visual prompts, keeping activations (the forward half of a
// training step).
func BenchmarkImageForwardViTB16(b *testing.B) {
	m := NewRandom(ViTB16, 1)
	rng := rand.New(rand.NewPCG(1, 1))
	images := randSlice(rng, 3*224*224, 1)
	extra := randSlice(rng, 4*768, 0.1)
	b.ResetTimer()
	for b.Loop() {
		m.VisionForward(images, 1, extra)
	}
}
