package worker

import (
	"context"
	"testing"
	"time"

	"github.com/fomo-grid/grid/engine"
	"github.com/fomo-grid/grid/internal/study"
)

// measuredEngine is the fake engine with a device meter: a job "uses" 1 GiB
// per training epoch, so tests can tell jobs' measurements apart.
type measuredEngine struct {
	*fakeEngine
	peak int64
}

func (m *measuredEngine) ResetUsage() { m.peak = 0 }

func (m *measuredEngine) Usage() engine.Usage {
	return engine.Usage{Device: "cuda:0 fake GPU", PeakMemory: m.peak}
}

func (m *measuredEngine) Train(ctx context.Context, spec engine.TrainSpec, progress func(engine.Progress)) (engine.TrainResult, error) {
	m.peak = int64(spec.Epochs) << 30
	return m.fakeEngine.Train(ctx, spec, progress)
}

// A job's precision reaches the engine, and what a measuring engine says a
// job used comes back with the job's result, measured afresh for each job.
func TestPrecisionAndDeviceUsageCrossTheBoundary(t *testing.T) {
	expectNoChildren(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := Start(ctx, Options{Env: []string{testModeEnv + "=measured-worker"}, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Kill)
	model := t.TempDir()
	task := trainTask(model, "ok")
	task.Precision = study.PrecisionFP16
	res, err := c.Run(runCtx(t), task, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Device != "cuda:0 fake GPU" || res.PeakMemory != 5<<30 {
		t.Errorf("result reports device %q and %d bytes, want the meter's", res.Device, res.PeakMemory)
	}
	var spec engine.TrainSpec
	readSpec(t, model, &spec)
	if spec.Precision != study.PrecisionFP16 {
		t.Errorf("engine got precision %q", spec.Precision)
	}
	eval, err := c.Run(runCtx(t), Task{JobID: "e", Kind: study.KindEval, Dataset: "ok", Classes: study.ClassesNew, Model: model, Precision: study.PrecisionBF16}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if eval.PeakMemory != 0 {
		t.Errorf("an eval after a train reports the train's %d bytes: the meter was not reset", eval.PeakMemory)
	}
	var espec engine.EvalSpec
	readSpec(t, model, &espec)
	if espec.Precision != study.PrecisionBF16 {
		t.Errorf("eval engine got precision %q", espec.Precision)
	}
}
