package cuda

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/fomo-grid/grid/engine/backend"
	"github.com/fomo-grid/grid/internal/study"
)

// Environment switches of the backend the registry opens (for measurements
// and debugging; a grid never needs them).
const (
	EnvTF32   = "GRID_CUDA_TF32"   // "1": fp32 GEMMs with TF32 inputs on tensor cores
	EnvGraphs = "GRID_CUDA_GRAPHS" // "0": issue every operation directly, no CUDA graphs
)

// Usable says why this process cannot compute on CUDA, or nil: the
// libraries open, fit together, and at least one GPU is visible. It takes
// no device (no context is made).
func Usable() error {
	rt, err := Default()
	if err != nil {
		return err
	}
	devs, err := rt.Devices()
	if err != nil {
		return err
	}
	if len(devs) == 0 {
		return fmt.Errorf("cuda: the driver sees no GPU (CUDA_VISIBLE_DEVICES=%q): %w", os.Getenv("CUDA_VISIBLE_DEVICES"), ErrUnavailable)
	}
	return nil
}

// Open makes the fp32 Backend of the first visible GPU (a worker pinned to
// a GPU by CUDA_VISIBLE_DEVICES sees only that one), with EnvTF32 and
// EnvGraphs applied. Its siblings at other precisions come from
// WithPrecision.
func Open() (*Backend, error) {
	rt, err := Default()
	if err != nil {
		return nil, err
	}
	cfg := Config{Device: 0, TF32: os.Getenv(EnvTF32) == "1", NoGraphs: os.Getenv(EnvGraphs) == "0"}
	b, err := New(rt, cfg)
	if err != nil {
		return nil, err
	}
	b.family = &family{cfg: cfg, members: map[Precision]*Backend{FP32: b}}
	return b, nil
}

// family is a Backend opened by Open and its siblings at the other
// precisions, made on first use.
type family struct {
	cfg     Config
	mu      sync.Mutex
	members map[Precision]*Backend
}

var _ backend.Precisioner = (*Backend)(nil)
var _ backend.MemoryMeter = (*Backend)(nil)

// WithPrecision returns the Backend of the same device that stores Float32
// buffers at precision p.
func (b *Backend) WithPrecision(p study.Precision) (backend.Backend, error) {
	prec, err := ParsePrecision(string(p))
	if err != nil {
		return nil, err
	}
	if prec == b.prec {
		return b, nil
	}
	if b.family == nil {
		return nil, errors.New("cuda: only a Backend from Open has siblings at other precisions")
	}
	f := b.family
	f.mu.Lock()
	defer f.mu.Unlock()
	if m, ok := f.members[prec]; ok {
		return m, nil
	}
	cfg := f.cfg
	cfg.Precision = prec
	m, err := New(b.rt, cfg)
	if err != nil {
		return nil, err
	}
	m.family = f
	f.members[prec] = m
	return m, nil
}

// ResetPeak starts a new peak measurement from what is held now.
func (b *Backend) ResetPeak() { b.peak = b.live }

// DeviceName is "cuda " and the GPU's name.
func (b *Backend) DeviceName() string { return "cuda " + b.dev.info.Name }
