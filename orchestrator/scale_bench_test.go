package orchestrator

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fomo-grid/grid/sweeps"
)

// BenchmarkGridScale measures what a user waits for before any job of a
// large grid runs: `grid plan` (before the first run, and with a
// database), `grid run` up to the start of its first job (creating the
// database, then again with it), and `grid status`. The large grid has
// 100,000 base2new cells (200,000 jobs); the reference, measured in the
// same run, has 1,000 cells. It prints seconds, microseconds per job, the
// per-job ratio large/reference (1.0 means time grows linearly with the
// job list) and the peak heap of each phase per job (with its ratio: 1.0
// means memory grows linearly with the job list).
func BenchmarkGridScale(b *testing.B) {
	for i := 0; i < b.N; i++ {
		small := measureScale(b, 1000)
		large := measureScale(b, 100_000)
		fmt.Printf("%-34s %10s %10s %12s %12s %12s\n", "phase (200,000 jobs; ref 2,000)", "seconds", "µs/job", "time ratio", "peak KiB/job", "heap ratio")
		for k, phase := range large {
			ref := small[k]
			fmt.Printf("%-34s %10.2f %10.1f %12.2f %12.2f %12.2f\n", phase.name, phase.d.Seconds(),
				perJob(phase.d, phase.jobs), perJob(phase.d, phase.jobs)/perJob(ref.d, ref.jobs),
				float64(phase.heap)/1024/float64(phase.jobs), float64(phase.heap)/float64(phase.jobs)/(float64(ref.heap)/float64(ref.jobs)))
		}
	}
}

type scalePhase struct {
	name string
	jobs int
	d    time.Duration
	heap uint64 // peak heap during the phase, above the heap before it
}

// heapObjects is the bytes of live and not yet swept heap objects.
func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// watchPeakHeap samples the heap every millisecond until the returned
// function is called, which returns the highest sample.
func watchPeakHeap() func() uint64 {
	done := make(chan struct{})
	result := make(chan uint64)
	go func() {
		peak := heapObjects()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				result <- max(peak, heapObjects())
				return
			case <-tick.C:
				peak = max(peak, heapObjects())
			}
		}
	}()
	return func() uint64 {
		close(done)
		return <-result
	}
}

func perJob(d time.Duration, jobs int) float64 { return float64(d.Microseconds()) / float64(jobs) }

// measureScale times the phases on a grid of cells base2new cells.
func measureScale(b *testing.B, cells int) []scalePhase {
	b.Helper()
	dir := b.TempDir()
	b.Setenv(envDir, dir)
	b.Setenv(envStep, "0")
	grid := writeScaleGrid(b, dir, cells)
	jobs := 2 * cells
	var phases []scalePhase
	measure := func(name string, f func() any) {
		runtime.GC()
		base := heapObjects()
		peak := watchPeakHeap()
		start := time.Now()
		keep := f()
		d := time.Since(start)
		top := peak()
		runtime.KeepAlive(keep)
		phases = append(phases, scalePhase{name: name, jobs: jobs, d: d, heap: top - min(base, top)})
	}
	measure("grid plan, no database", func() any { return mustPlan(b, grid) })
	measure("grid run to first job, new db", func() any { runToFirstJob(b, grid); return nil })
	measure("grid plan, with database", func() any { return mustPlan(b, grid) })
	measure("grid status", func() any {
		rows, err := Status(grid)
		if err != nil {
			b.Fatal(err)
		}
		return rows
	})
	measure("grid run to first job, again", func() any { runToFirstJob(b, grid); return nil })
	return phases
}

func mustPlan(b *testing.B, grid string) []PlanRow {
	rows, err := Plan(grid)
	if err != nil {
		b.Fatal(err)
	}
	return rows
}

// runToFirstJob runs the grid as `grid run` does and interrupts it as soon
// as the first job has started.
func runToFirstJob(b *testing.B, grid string) {
	s, err := Open(grid)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	disp := &firstJob{started: cancel}
	if _, err := s.Run(ctx, Options{Workers: 1, WorkerCommand: workerCommand, Display: disp}); err != nil {
		b.Fatal(err)
	}
	if !disp.seen {
		b.Fatal("no job started")
	}
}

// firstJob is a Display that cancels the run when the first job starts.
type firstJob struct {
	nopDisplay
	once    sync.Once
	seen    bool
	started func()
}

func (f *firstJob) JobStarted(sweeps.Job, int) JobBar {
	f.once.Do(func() { f.seen = true; f.started() })
	return nopBar{}
}

// writeScaleGrid writes a base2new grid of cells cells over the two demo
// datasets: seeds × 10 n_ctx × 10 learning rates.
func writeScaleGrid(b *testing.B, dir string, cells int) string {
	seeds := make([]string, cells/200)
	for i := range seeds {
		seeds[i] = strconv.Itoa(i + 1)
	}
	src := `[grid]
name = "scale"
model = "model"
data_root = "data"

[[experiment]]
name = "big"
protocol = "base2new"
datasets = ["demo", "demo_b"]
[experiment.axes]
seed = [` + strings.Join(seeds, ", ") + `]
n_ctx = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
lr = [0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.007, 0.008, 0.009, 0.01]
`
	p := filepath.Join(dir, "grid.toml")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		b.Fatal(err)
	}
	for _, d := range []string{"model", "data"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			b.Fatal(err)
		}
	}
	return p
}
