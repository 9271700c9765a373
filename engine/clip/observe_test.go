package clip

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

// observedStream is one call of an Observer.
type observedStream struct {
	tower                string
	depth                int
	batch, length, width int
	residual             []float32
}

func recordStreams(m *Model) (*Model, *[]observedStream) {
	var got []observedStream
	o := *m
	o.Observe = func(tower string, depth int, residual []float32, batch, length, width int) {
		got = append(got, observedStream{tower, depth, batch, length, width, residual})
	}
	return &o, &got
}

func checkStreams(t *testing.T, what string, got []observedStream, tower string, layers, batch, length, width int) {
	t.Helper()
	if len(got) != layers+1 {
		t.Fatalf("%s: %d observer calls, want %d (entering block 0 and after each of %d blocks)", what, len(got), layers+1, layers)
	}
	for k, s := range got {
		if s.tower != tower || s.depth != k || s.batch != batch || s.length != length || s.width != width || len(s.residual) != batch*length*width {
			t.Fatalf("%s: call %d is %s depth %d, %d×%d×%d with %d values; want %s depth %d, %d×%d×%d",
				what, k, s.tower, s.depth, s.batch, s.length, s.width, len(s.residual), tower, k, batch, length, width)
		}
	}
	for k := 1; k < len(got); k++ {
		if reflect.DeepEqual(got[k].residual, got[k-1].residual) {
			t.Fatalf("%s: the stream at depth %d equals the one at depth %d: a block was not applied", what, k, k-1)
		}
	}
}

func TestObserverSeesEveryTextBlock(t *testing.T) {
	m := NewRandom(tinyConfig, 14)
	c := tinyConfig
	rng := rand.New(rand.NewPCG(4, 4))
	nCtx := 2
	ctx := randSlice(rng, nCtx*c.TextWidth, 0.02)
	tokens := tinyTokens(nCtx)
	length := textLength(tokens)
	o, got := recordStreams(m)
	r := runner(t, o)

	// The pass that keeps activations and the in-place inference pass must
	// report the same streams.
	textPass(t, r, tokens, ctx, nCtx, length, true)
	checkStreams(t, "kept text pass", *got, TextTower, c.TextLayers, len(tokens), length, c.TextWidth)
	kept := *got
	*got = nil
	textFeatures(t, r, tokens, ctx, nCtx)
	if !reflect.DeepEqual(*got, kept) {
		t.Fatal("the in-place text pass observed other streams than the kept one")
	}
	// Depth 0 is the embedded prompt: ctx in slot 1, positional embedding
	// added. The last depth feeds ln_final at the EOT rows.
	w := c.TextWidth
	for j := range w {
		if want := ctx[j] + m.positionalEmbedding[w+j]; kept[0].residual[w+j] != want {
			t.Fatalf("text depth 0, class 0, position 1 [%d] = %v, want ctx + positional embedding %v", j, kept[0].residual[w+j], want)
		}
	}
	work := r.texts[textKey{classes: len(tokens), length: length, nCtx: nCtx}]
	lnIn := download(t, r, work.head.in)
	last := kept[c.TextLayers].residual
	for i, seq := range tokens {
		e := EOTIndex(seq)
		if !slices.Equal(last[(i*length+e)*w:(i*length+e+1)*w], lnIn[i*w:(i+1)*w]) {
			t.Fatalf("class %d: the last observed text stream at EOT %d is not ln_final's input", i, e)
		}
	}
}

func TestObserverSeesEveryVisionBlock(t *testing.T) {
	m := NewRandom(tinyConfig, 15)
	c := tinyConfig
	rng := rand.New(rand.NewPCG(4, 5))
	images := randSlice(rng, 2*3*16*16, 1)
	extra := randSlice(rng, 3*c.VisionWidth, 0.5)
	visionLength := c.visionLength(3)
	o, got := recordStreams(m)
	r := runner(t, o)
	imageFeatures(t, r, images, 2, extra)
	checkStreams(t, "vision pass", *got, VisionTower, c.VisionLayers, 2, visionLength, c.VisionWidth)
	work := r.visions[visionKey{batch: 2, nExtra: 3}]
	postIn := download(t, r, work.head.in)
	vw := c.VisionWidth
	for b := range 2 {
		row := (*got)[c.VisionLayers].residual[b*visionLength*vw : (b*visionLength+1)*vw]
		if !slices.Equal(row, postIn[b*vw:(b+1)*vw]) {
			t.Fatalf("image %d: the last observed vision stream's class token is not ln_post's input", b)
		}
	}

	// A DPT step runs both towers, text first, and observes the text pass
	// every step (an observed step never reuses one).
	cs := tinyDPTCase(m, true)
	for range 2 {
		*got = nil
		step(t, r, cs.input(t, r), true)
		if n := len(*got); n != c.TextLayers+c.VisionLayers+2 || (*got)[0].tower != TextTower || (*got)[n-1].tower != VisionTower {
			t.Fatalf("DPTStep: %d observer calls, want %d, text then vision", n, c.TextLayers+c.VisionLayers+2)
		}
	}

	// The observer was set on a copy: the original model reports nothing.
	*got = nil
	plain := runner(t, m)
	imageFeatures(t, plain, images, 2, extra)
	if m.Observe != nil || len(*got) != 0 {
		t.Fatal("setting Observe on a copy changed the original model")
	}
}
