package clip

import (
	"fmt"
	"sync"

	"github.com/fomo-grid/grid/engine/backend"
)

// Runner is a Model on one backend: the weights it uploaded there (once per
// backend, shared by every Runner of the model on that backend) and the
// workspaces of the passes it ran. A workspace is made for each shape of
// pass (text classes and length, image batch, number of prompts, whether
// a backward pass follows) the first time it is seen, and reused for every
// later pass of that shape, so a training loop allocates nothing per step.
//
// A Runner is for one goroutine at a time; use one Runner per concurrent
// user. Buffers a Runner returns are its workspaces' own (valid until the
// next call of the same kind and shape) unless a method says the caller
// owns them.
type Runner struct {
	model *Model
	b     backend.Backend
	w     *deviceWeights

	texts     map[textKey]*textWork
	visions   map[visionKey]*visionWork
	steps     map[stepKey]*stepWork
	classify  map[logitsKey]*logitsWork
	contrasts map[contrastKey]*contrastWork

	// ImageChunk is how many images ImageLogits sends through the ViT at
	// once (DefaultImageChunk unless set): larger chunks make larger
	// matrix products, smaller ones hold less memory.
	ImageChunk int

	// reuseText lets a DPT step reuse the text forward pass of the previous
	// step of its shape when the class tokens and selected ids are the same
	// (tests switch it off to show the saving changes nothing).
	reuseText bool
}

// DefaultImageChunk bounds the images of one ViT pass of an evaluation. A
// ViT-B/16 image holds some 13 MB of activations in fp32 on the way through:
// 32 images about 400 MB, where the 100 of a Dassl test batch would hold
// 1.3 GB.
const DefaultImageChunk = 32

// deviceCache holds a model's uploaded weights by backend. Copies of a
// Model share it (a copy made to set Observe uploads nothing again).
type deviceCache struct {
	mu      sync.Mutex
	weights map[backend.Backend]*deviceWeights
}

// On returns a new Runner of m on b, uploading the weights to b if this
// model has not done so before.
func (m *Model) On(b backend.Backend) (*Runner, error) {
	if m.devices == nil {
		return nil, fmt.Errorf("clip: a Model must come from Load, FromTensors or NewRandom")
	}
	w, err := m.devices.get(m, b)
	if err != nil {
		return nil, err
	}
	return &Runner{
		model: m, b: b, w: w,
		texts: map[textKey]*textWork{}, visions: map[visionKey]*visionWork{},
		steps: map[stepKey]*stepWork{}, classify: map[logitsKey]*logitsWork{},
		contrasts:  map[contrastKey]*contrastWork{},
		ImageChunk: DefaultImageChunk,
		reuseText:  true,
	}, nil
}

func (c *deviceCache) get(m *Model, b backend.Backend) (*deviceWeights, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if w, ok := c.weights[b]; ok {
		return w, nil
	}
	w, err := uploadWeights(m, b)
	if err != nil {
		return nil, fmt.Errorf("clip: uploading the weights to the %s backend: %w", b.Name(), err)
	}
	if c.weights == nil {
		c.weights = map[backend.Backend]*deviceWeights{}
	}
	c.weights[b] = w
	return w, nil
}

// Backend is the backend the Runner runs on.
func (r *Runner) Backend() backend.Backend { return r.b }

// Model is the model the Runner runs.
func (r *Runner) Model() *Model { return r.model }

// Release frees every workspace; the next pass of each shape makes a new
// one. The weights stay uploaded. A trainer calls it between training and
// evaluation, whose shapes differ, so that both are never held at once.
func (r *Runner) Release() {
	releaseAll(r.texts)
	releaseAll(r.visions)
	releaseAll(r.steps)
	releaseAll(r.classify)
	releaseAll(r.contrasts)
}

// releaseAll frees every workspace of a map and empties it.
func releaseAll[K comparable, W interface{ release() }](works map[K]W) {
	for k, w := range works {
		w.release()
		delete(works, k)
	}
}

func (w *textWork) release()   { w.mem.free() }
func (w *visionWork) release() { w.mem.free() }
func (w *stepWork) release()   { w.mem.free() }
func (w *logitsWork) release() { w.mem.free() }

// release frees the loss's buffers; the towers' workspaces are r.texts' and
// r.visions' own.
func (w *contrastWork) release() { w.mem.free() }

// arena allocates the buffers of one workspace, remembering the first error
// (so a workspace is built without an error check per buffer) and every
// buffer (so the workspace is freed in one call).
type arena struct {
	b    backend.Backend
	bufs []backend.Buffer
	err  error
}

func (a *arena) alloc(dtype backend.DType, n int) backend.Buffer {
	if a.err != nil {
		return nil
	}
	buf, err := a.b.Alloc(dtype, n)
	if err != nil {
		a.err = err
		return nil
	}
	a.bufs = append(a.bufs, buf)
	return buf
}

// f32 allocates a Float32 buffer of n elements.
func (a *arena) f32(n int) backend.Buffer { return a.alloc(backend.Float32, n) }

// i32 allocates an Int32 buffer of n elements.
func (a *arena) i32(n int) backend.Buffer { return a.alloc(backend.Int32, n) }

func (a *arena) free() {
	for _, buf := range a.bufs {
		a.b.Free(buf)
	}
	a.bufs = nil
}

// done returns the arena's error, freeing what it allocated if there is
// one.
func (a *arena) done() error {
	if a.err != nil {
		a.free()
	}
	return a.err
}
