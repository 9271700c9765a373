package sweeps

import "github.com/fomo-grid/grid/internal/study"

// MaxJobs bounds how many jobs a grid file may expand to. A few axes of a
// few dozen values multiply fast; past this the expansion alone would need
// gigabytes, so the file is refused, naming the experiment, before anything
// is expanded. A variable so that tests can lower it.
var MaxJobs = 2_000_000

// checkSize refuses a file whose experiments would expand to more than
// MaxJobs jobs. It counts before exclusions and before merging equal cells,
// so the bound is an upper one: the file really expands to at most that.
func (f *gridFile) checkSize() error {
	total := 0
	defer func() { f.jobBound = total }()
	trains := map[string]int{}
	for _, e := range f.experiments {
		if e.protocol == study.ProtocolTransfer {
			continue
		}
		cells := len(e.datasets) * (1 + len(e.variants))
		for _, a := range e.axes {
			cells = capMul(cells, a.size())
		}
		trains[e.name] = cells
		perCell := 1
		if e.protocol == study.ProtocolBase2New {
			perCell = 2
		}
		total = capAdd(total, capMul(cells, perCell))
		if total > MaxJobs {
			return e.nameScope.errorf("the grid expands to more than %d jobs (this experiment alone: %d cells); split it into several grid files", MaxJobs, cells)
		}
	}
	for _, e := range f.experiments {
		if e.protocol != study.ProtocolTransfer {
			continue
		}
		total = capAdd(total, capMul(trains[e.source], len(e.targets)))
		if total > MaxJobs {
			return e.nameScope.errorf("the grid expands to more than %d jobs (this transfer alone: %d sources × %d targets); split it into several grid files",
				MaxJobs, trains[e.source], len(e.targets))
		}
	}
	return nil
}

// capMul and capAdd saturate instead of overflowing: the counts only need
// to say "more than MaxJobs".
func capMul(a, b int) int {
	if a == 0 || b == 0 {
		return 0
	}
	if a > (MaxJobs+1)/b+1 {
		return MaxJobs + 1
	}
	return min(a*b, MaxJobs+1)
}

func capAdd(a, b int) int { return min(a+b, MaxJobs+1) }
