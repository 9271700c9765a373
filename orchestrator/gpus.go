package orchestrator

import "fmt"

// GPU is a device jobs run on.
type GPU struct {
	Index int    // position among the machine's GPUs, for names
	ID    string // how CUDA_VISIBLE_DEVICES names it (its UUID)
	Name  string // e.g. "NVIDIA H200"
}

// slotSpec is one worker slot: its name and what it adds to its worker's
// environment.
type slotSpec struct {
	name string
	env  []string
}

// workerSlots lays out a run's worker slots. With GPUs, there are gpuSlots
// per GPU, each worker seeing only its GPU (CUDA_VISIBLE_DEVICES), so
// every GPU of the machine is used and each runs gpuSlots jobs at once;
// slot i is on GPU i mod n, so a run with fewer ready jobs than slots
// spreads them over the GPUs. Without GPUs there are `workers` slots that
// see the environment as it is.
func workerSlots(workers int, gpus []GPU, gpuSlots int) []slotSpec {
	if len(gpus) == 0 {
		specs := make([]slotSpec, workers)
		for i := range specs {
			specs[i].name = fmt.Sprintf("w%d", i)
		}
		return specs
	}
	specs := make([]slotSpec, len(gpus)*max(gpuSlots, 1))
	for i := range specs {
		g := gpus[i%len(gpus)]
		specs[i] = slotSpec{
			name: fmt.Sprintf("w%d-gpu%d", i, g.Index),
			env:  []string{"CUDA_VISIBLE_DEVICES=" + g.ID},
		}
	}
	return specs
}
