package main

import (
	"strings"
	"testing"
	"time"

	"github.com/fomo-grid/grid/orchestrator"
)

// `grid status` shows each job's GPU memory when the jobs measured it, and
// keeps the CPU table as it was otherwise.
func TestStatusShowsGPUMemory(t *testing.T) {
	row := statusLine{StatusRow: orchestrator.StatusRow{State: "done", Attempts: 1, Name: "e/demo/train", PeakMemory: 3 << 29, Device: "cuda NVIDIA H200"}}
	if got := line(row.columns(nil, true, time.Now())); !strings.Contains(got, "\t1.50 GiB\t") {
		t.Errorf("GPU line %q lacks the memory column", got)
	}
	unmeasured := statusLine{StatusRow: orchestrator.StatusRow{State: "done", Name: "e/demo/new"}}
	if got := line(unmeasured.columns(nil, true, time.Now())); strings.Count(got, "\t") != 7 {
		t.Errorf("an unmeasured job in a GPU table has %d columns: %q", strings.Count(got, "\t")+1, got)
	}
	if got := line(row.columns(nil, false, time.Now())); strings.Contains(got, "GiB") || strings.Count(got, "\t") != 6 {
		t.Errorf("CPU line %q", got)
	}
}

func line(cells []string) string { return strings.Join(cells, "\t") }
