package trainer

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fomo-grid/grid/engine"
	"github.com/fomo-grid/grid/engine/backend"
	"github.com/fomo-grid/grid/engine/backend/backendtest"
	"github.com/fomo-grid/grid/engine/cpu"
	"github.com/fomo-grid/grid/engine/data"
	"github.com/fomo-grid/grid/engine/demo"
	"github.com/fomo-grid/grid/internal/study"
)

// twoPrecisions is a backend with a sibling at fp16 (both compute on the
// CPU); each counts its attention passes and meters a fixed "memory".
type twoPrecisions struct {
	*backendtest.Counter
	half  *twoPrecisions
	bytes int64
	peak  int64
}

func (b *twoPrecisions) WithPrecision(p study.Precision) (backend.Backend, error) {
	if p == study.PrecisionFP16 {
		return b.half, nil
	}
	return b, nil
}

func (b *twoPrecisions) PeakBytes() int64   { return b.peak }
func (b *twoPrecisions) ResetPeak()         { b.peak = b.bytes }
func (b *twoPrecisions) DeviceName() string { return "fake GPU" }

func TestJobsRunAtTheirPrecision(t *testing.T) {
	root, scratch := sharedDemo(t), t.TempDir()
	spec := engine.EvalSpec{
		Model:  filepath.Join(root, demo.ModelDir),
		Data:   engine.DataSpec{Dataset: data.DemoName, Root: filepath.Join(root, demo.DataDir), Classes: study.ClassesAll},
		Prompt: ContextInit,
	}
	plain := New(cpu.New())
	plain.CacheDir = filepath.Join(scratch, "cache")
	half := spec
	half.Precision = study.PrecisionFP16
	if _, err := plain.Evaluate(context.Background(), half); err == nil || !strings.Contains(err.Error(), "the cpu backend computes in fp32 only") {
		t.Errorf("fp16 on the CPU: %v", err)
	}

	fp16 := &twoPrecisions{Counter: &backendtest.Counter{Backend: cpu.New()}, bytes: 2 << 20}
	base := &twoPrecisions{Counter: &backendtest.Counter{Backend: cpu.New()}, half: fp16, bytes: 4 << 20}
	tr := New(base)
	tr.CacheDir = plain.CacheDir
	tr.ResetUsage()
	if _, err := tr.Evaluate(context.Background(), half); err != nil {
		t.Fatal(err)
	}
	if fp16.FullForward == 0 || base.FullForward != 0 {
		t.Errorf("an fp16 job ran %d vision passes at fp16 and %d at fp32", fp16.FullForward, base.FullForward)
	}
	if u := tr.Usage(); u.Device != "fake GPU" || u.PeakMemory != 2<<20 {
		t.Errorf("usage of the fp16 job: %+v", u)
	}
	if _, err := tr.Evaluate(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	if base.FullForward == 0 {
		t.Error("an fp32 job after an fp16 one did not run on the fp32 backend")
	}
	if name, _ := tr.Placement(); name != "cpu" {
		t.Errorf("placement %q", name)
	}
}
