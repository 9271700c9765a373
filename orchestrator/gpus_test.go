package orchestrator

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fomo-grid/grid/engine"
)

// gpuOf is the GPU a fake worker was pinned to ("" without one).
func gpuOf() string { return os.Getenv("CUDA_VISIBLE_DEVICES") }

// A pinned fake worker measures its "device": the GPU it sees.
func (f fakeEngine) ResetUsage() {}

func (f fakeEngine) Usage() engine.Usage {
	if gpuOf() == "" {
		return engine.Usage{}
	}
	return engine.Usage{Device: "cuda:0 fake " + gpuOf(), PeakMemory: 3 << 20}
}

// logGPU records a job starting or ending on the worker's GPU.
func (f fakeEngine) logGPU(event, what string) {
	if gpuOf() != "" {
		f.log(fmt.Sprintf("gpu %s %s %s", gpuOf(), event, what))
	}
}

// The slot scheduler with two fake GPUs and gpu_slots = 2: four workers,
// each pinned to one GPU, never more than two jobs on a GPU at once, both
// GPUs used, and each job's device and memory recorded.
func TestGPUSlotsPinWorkersAndBoundJobsPerGPU(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(envDir, dir)
	t.Setenv(envStep, "40")
	seeds := make([]string, 8)
	for i := range seeds {
		seeds[i] = fmt.Sprint(i + 1)
	}
	gridFile := filepath.Join(dir, "grid.toml")
	src := fmt.Sprintf(`
[grid]
name = "gpus"
model = "model"
data_root = "data"
gpu_slots = 2
[defaults]
epochs = 2
[[experiment]]
name = "e"
protocol = "train"
datasets = ["demo"]
[experiment.axes]
seed = [%s]
`, strings.Join(seeds, ", "))
	for _, p := range []string{gridFile, filepath.Join(dir, "model"), filepath.Join(dir, "data")} {
		if p == gridFile {
			os.WriteFile(p, []byte(src), 0o644)
		} else {
			os.MkdirAll(p, 0o755)
		}
	}
	s, err := Open(gridFile)
	if err != nil {
		t.Fatal(err)
	}
	defer s.DB.Close()
	gpus := []GPU{{Index: 0, ID: "GPU-aaaa", Name: "fake"}, {Index: 1, ID: "GPU-bbbb", Name: "fake"}}
	sum, err := s.Run(context.Background(), Options{GPUs: gpus, Workers: 7, Retries: 0, WorkerCommand: workerCommand})
	if err != nil || sum.Err() != nil || sum.Done != 8 {
		t.Fatalf("run: %+v %v %v", sum, err, sum.Err())
	}
	running, most, jobs := map[string]int{}, map[string]int{}, map[string]int{}
	for _, line := range calls(t, dir) {
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "gpu" {
			continue
		}
		switch f[2] {
		case "start":
			running[f[1]]++
			jobs[f[1]]++
			most[f[1]] = max(most[f[1]], running[f[1]])
		case "end":
			running[f[1]]--
		}
	}
	if jobs["GPU-aaaa"]+jobs["GPU-bbbb"] != 8 || jobs["GPU-aaaa"] == 0 || jobs["GPU-bbbb"] == 0 {
		t.Errorf("jobs per GPU %v, want all 8 on the two GPUs, both used", jobs)
	}
	for g, n := range most {
		if n > 2 {
			t.Errorf("%s ran %d jobs at once, gpu_slots is 2", g, n)
		}
	}
	if most["GPU-aaaa"] < 2 && most["GPU-bbbb"] < 2 {
		t.Errorf("no GPU ran two jobs at once (most %v): gpu_slots = 2 not used", most)
	}
	rows, err := Status(gridFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if !strings.HasPrefix(r.Device, "cuda:0 fake GPU-") || r.PeakMemory != 3<<20 || !strings.Contains(r.Worker, "-gpu") {
			t.Errorf("job %s: device %q, %d bytes, worker %q", r.Name, r.Device, r.PeakMemory, r.Worker)
		}
	}
}

func TestWorkerSlotsLayout(t *testing.T) {
	cpu := workerSlots(3, nil, 8)
	if len(cpu) != 3 || cpu[2].name != "w2" || cpu[0].env != nil {
		t.Errorf("without GPUs: %+v", cpu)
	}
	gpus := []GPU{{Index: 0, ID: "GPU-a"}, {Index: 1, ID: "GPU-b"}, {Index: 2, ID: "GPU-c"}}
	slots := workerSlots(1, gpus, 2)
	if len(slots) != 6 {
		t.Fatalf("%d slots for 3 GPUs × 2", len(slots))
	}
	want := []string{"GPU-a", "GPU-b", "GPU-c", "GPU-a", "GPU-b", "GPU-c"}
	for i, s := range slots {
		if len(s.env) != 1 || s.env[0] != "CUDA_VISIBLE_DEVICES="+want[i] || s.name != fmt.Sprintf("w%d-gpu%d", i, i%3) {
			t.Errorf("slot %d: %+v", i, s)
		}
	}
}
