package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkGridScale measures what a user waits for before any job of a
// large grid runs, on the real binary: `grid plan` (before the first run,
// with its input check), `grid run` up to the start of its first job
// (recording the grid in a new database, then again with it), `grid plan`
// with the database and `grid status`, each printing every job. It runs
// every phase on grids of 2,000, 20,000 and 200,000 jobs (1,000 to 100,000
// base2new cells) and prints, for the largest, wall and CPU seconds (of
// the command and its workers) and peak memory (max RSS); then the CPU time
// and memory each extra job costs from 20,000 to 200,000 jobs, and the
// ratio of that to what it cost from 2,000 to 20,000 (1.0: growing
// linearly with the job list; the fixed costs cancel out). On a busy
// machine wall time exceeds CPU time; the ratios hold.
//
//	go test -run '^$' -bench GridScale -benchtime 1x ./cmd/grid
func BenchmarkGridScale(b *testing.B) {
	demo := demoAssets(b)
	for i := 0; i < b.N; i++ {
		small := measureScale(b, demo, 1000)
		mid := measureScale(b, demo, 10_000)
		big := measureScale(b, demo, 100_000)
		fmt.Printf("%-38s %7s %7s %8s %10s %8s %10s %8s\n", "phase, 200,000 jobs", "wall s", "cpu s", "RSS MiB",
			"cpu µs/job", "ratio", "KiB/job", "ratio")
		for k, p := range big {
			cpuBig, cpuMid := marginal(p.cpu.Seconds(), mid[k].cpu.Seconds(), p.jobs, mid[k].jobs), marginal(mid[k].cpu.Seconds(), small[k].cpu.Seconds(), mid[k].jobs, small[k].jobs)
			memBig, memMid := marginal(float64(p.rssKiB), float64(mid[k].rssKiB), p.jobs, mid[k].jobs), marginal(float64(mid[k].rssKiB), float64(small[k].rssKiB), mid[k].jobs, small[k].jobs)
			fmt.Printf("%-38s %7.2f %7.2f %8.0f %10.1f %8.2f %10.2f %8.2f\n", p.name, p.wall.Seconds(), p.cpu.Seconds(), float64(p.rssKiB)/1024,
				cpuBig*1e6, cpuBig/cpuMid, memBig, memBig/memMid)
		}
	}
}

// marginal is what each job beyond the smaller grid's cost.
func marginal(big, small float64, bigJobs, smallJobs int) float64 {
	return (big - small) / float64(bigJobs-smallJobs)
}

type scalePhase struct {
	name      string
	jobs      int
	wall, cpu time.Duration
	rssKiB    int64
}

func measureScale(b *testing.B, demo string, cells int) []scalePhase {
	dir := b.TempDir()
	writeFile(b, filepath.Join(dir, "grid.toml"), scaleGrid(demo, cells))
	jobs := 2 * cells
	var phases []scalePhase
	add := func(name string, cmd *exec.Cmd, wall time.Duration) {
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		phases = append(phases, scalePhase{name: name, jobs: jobs, wall: wall, cpu: cpu, rssKiB: ru.Maxrss})
	}
	command := func(args ...string) {
		cmd := exec.Command(gridBinary(b), args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GRID_CACHE_DIR="+filepath.Join(dir, "cache"))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		if err := cmd.Run(); err != nil {
			b.Fatalf("grid %v: %v\n%s", args, err, tail(out.String()))
		}
		add("grid "+args[0]+phaseNote(len(phases)), cmd, time.Since(start))
	}
	command("plan", "grid.toml")
	runToFirstJob(b, dir, add, " (new database)")
	command("plan", "grid.toml")
	command("status", "grid.toml")
	runToFirstJob(b, dir, add, " (again)")
	return phases
}

func phaseNote(i int) string {
	if i == 0 {
		return " (no database)"
	}
	return ""
}

// runToFirstJob starts `grid run --plain` and interrupts it as soon as it
// prints that the first job started.
func runToFirstJob(b *testing.B, dir string, add func(string, *exec.Cmd, time.Duration), note string) {
	cmd := exec.Command(gridBinary(b), "run", "--plain", "--workers", "1", "grid.toml")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GRID_CACHE_DIR="+filepath.Join(dir, "cache"))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	var wall time.Duration
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if strings.Contains(sc.Text(), " start ") && wall == 0 {
			wall = time.Since(start)
			cmd.Process.Signal(os.Interrupt)
		}
	}
	cmd.Wait()
	if wall == 0 {
		b.Fatal("grid run started no job")
	}
	add("grid run to first job"+note, cmd, wall)
}

// scaleGrid is cells base2new cells over the two demo datasets: seeds × 10
// n_ctx × 10 learning rates.
func scaleGrid(demo string, cells int) string {
	seeds := make([]string, cells/200)
	for i := range seeds {
		seeds[i] = strconv.Itoa(i + 1)
	}
	return `[grid]
name = "scale"
model = "` + filepath.Join(demo, "model") + `"
data_root = "` + filepath.Join(demo, "data") + `"

[[experiment]]
name = "big"
protocol = "base2new"
datasets = ["demo", "demo_b"]
[experiment.axes]
seed = [` + strings.Join(seeds, ", ") + `]
n_ctx = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
lr = [0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.007, 0.008, 0.009, 0.01]
`
}

func tail(s string) string {
	if len(s) > 2000 {
		return s[len(s)-2000:]
	}
	return s
}
