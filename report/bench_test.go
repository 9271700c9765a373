package report

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fomo-grid/grid/internal/study"
	"github.com/fomo-grid/grid/results"
)

// The report over a big grid: 10,000 train jobs with 1,000 metric points
// each (10 million rows), each with its new-class evaluation, on the 11
// datasets over 3 seeds, with zero-shot baselines. The budget is 10 s and
// 1 GB. The reference, measured in the same run, is one full scan of the
// metrics table: what a report that read every curve would at least pay.
//
//	go test -run '^$' -bench Report -benchtime 1x ./report
const benchSteps = 1000

// benchTrainJobs is 10,000, or GRID_BENCH_JOBS for a quicker look.
var benchTrainJobs = func() int {
	if n, err := strconv.Atoi(os.Getenv("GRID_BENCH_JOBS")); err == nil && n > 0 {
		return n
	}
	return 10000
}()

var benchDatasets = []string{"imagenet", "caltech101", "oxford_pets", "stanford_cars", "oxford_flowers", "food101",
	"fgvc_aircraft", "sun397", "dtd", "eurosat", "ucf101"}

func BenchmarkReportOnTenThousandJobs(b *testing.B) {
	db, path := benchDB(b)
	scan, err := fullMetricsScan(path)
	if err != nil {
		b.Fatal(err)
	}
	out := b.TempDir()
	var elapsed, cpu time.Duration
	var peak int64
	b.ResetTimer()
	for range b.N {
		runtime.GC()
		stop := sampleRSS()
		t0, c0 := time.Now(), cpuTime()
		if _, err := Write(db, "bench", out, Options{Plots: true}); err != nil {
			b.Fatal(err)
		}
		elapsed, cpu = elapsed+time.Since(t0), cpu+cpuTime()-c0
		peak = max(peak, stop())
	}
	b.StopTimer()
	per, perCPU := elapsed/time.Duration(b.N), cpu/time.Duration(b.N)
	b.ReportMetric(per.Seconds(), "s/report")
	b.ReportMetric(perCPU.Seconds(), "cpu-s/report")
	b.ReportMetric(float64(peak)/(1<<20), "MiB-peak-RSS")
	fmt.Printf("report over %d jobs (%d metric rows): %v wall, %v CPU (user+system, all threads), peak RSS %d MiB; "+
		"budget 10 s / 1024 MiB: %.2f× / %.2f×; full scan of the metrics table (reference, same run) %v: report/scan = %.2f\n",
		2*benchTrainJobs+22, benchTrainJobs*benchSteps, per.Round(time.Millisecond), perCPU.Round(time.Millisecond), peak>>20,
		per.Seconds()/10, float64(peak)/(1<<30), scan.Round(time.Millisecond), per.Seconds()/scan.Seconds())
}

// The big database is built once per process (Go calls a benchmark again
// for each b.N) and removed by TestMain.
var (
	benchOnce   sync.Once
	benchDir    string
	benchHandle *results.DB
	benchErr    error
)

func benchDB(b *testing.B) (*results.DB, string) {
	benchOnce.Do(func() {
		if benchDir, benchErr = os.MkdirTemp("", "grid-report-bench-"); benchErr != nil {
			return
		}
		start := time.Now()
		benchHandle, benchErr = buildBenchDB(filepath.Join(benchDir, "grid.db"))
		fmt.Printf("generated %d train jobs × %d metric points in %v\n", benchTrainJobs, benchSteps, time.Since(start).Round(time.Second))
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchHandle, filepath.Join(benchDir, "grid.db")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if benchHandle != nil {
		benchHandle.Close()
	}
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

// cpuTime is the process's user and system time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// buildBenchDB writes the big grid through the store's own write path.
func buildBenchDB(path string) (*results.DB, error) {
	db, err := results.Open(path)
	if err != nil {
		return nil, err
	}
	grid, err := db.UpsertGrid("bench", "bench.toml", "")
	if err != nil {
		return nil, err
	}
	specs, runs := benchSpecs()
	if _, err := db.SyncJobs(grid, specs); err != nil {
		return nil, err
	}
	ms := make([]results.Metric, benchSteps)
	ts := time.Now()
	for _, r := range runs {
		if err := r.complete(db, ms, ts); err != nil {
			return nil, err
		}
	}
	return db, nil
}

// benchRun is one job of the big grid and the accuracy it completes with.
type benchRun struct {
	id      string
	split   study.Classes
	dataset string
	acc     float64
	steps   bool
}

func (r benchRun) complete(db *results.DB, ms []results.Metric, ts time.Time) error {
	attempt, err := db.StartAttempt(r.id, "bench")
	if err != nil {
		return err
	}
	if r.steps {
		for i := range ms {
			loss := 2 - float64(i)/benchSteps + r.acc/1000
			ms[i] = results.Metric{Step: i, Epoch: i / 100, Loss: loss, BatchLoss: loss, LR: 0.002, Prompt: "tok" + strconv.Itoa(i/50), Time: ts}
		}
		if err := db.AddMetrics(r.id, attempt, ms); err != nil {
			return err
		}
	}
	c := results.Completion{Evaluations: []results.Evaluation{{Split: r.split, Dataset: r.dataset, Total: 1000, Correct: int(r.acc * 10), Accuracy: r.acc}}}
	if r.steps {
		c.Prompt = &results.Prompt{TokenIDs: []int{1, 2}, Text: "tok tok"}
	}
	return db.CompleteJob(r.id, c)
}

// benchSpecs lays out the grid: per dataset, cells of four swept
// parameters over 3 seeds, each a train job and its new-class eval.
func benchSpecs() ([]results.JobSpec, []benchRun) {
	var specs []results.JobSpec
	var runs []benchRun
	perDS := benchTrainJobs / len(benchDatasets) / 3
	n := 0
	for d, ds := range benchDatasets {
		for c := 0; c < perDS || (d == len(benchDatasets)-1 && n < benchTrainJobs); c++ {
			labels := map[string]string{"weight_std": []string{"0.001", "0.012", "0.08"}[c%3], "n_ctx": strconv.Itoa(1 + c/3%4),
				"momentum": []string{"0", "0.9"}[c/12%2], "lr": strconv.Itoa(c / 24)}
			for seed := 1; seed <= 3 && n < benchTrainJobs; seed++ {
				id := fmt.Sprintf("%s-%d-%d", ds, c, seed)
				cfg := map[string]any{"kind": "train", "dataset": ds, "classes": "base", "variant": "full", "seed": seed}
				lab := map[string]string{"seed": strconv.Itoa(seed)}
				for k, v := range labels {
					cfg[k], lab[k] = v, v
				}
				specs = append(specs, results.JobSpec{ID: id, Name: "grid/" + id, Kind: study.KindTrain, Config: mustJSON(cfg), Labels: mustJSON(lab), Experiments: []string{"grid"}},
					results.JobSpec{ID: id + "-new", Name: "grid/" + id + "/new", Kind: study.KindEval, Deps: []string{id},
						Config: mustJSON(map[string]any{"kind": "eval", "dataset": ds, "classes": "new", "variant": "full", "source": id}), Experiments: []string{"grid"}})
				acc := 50 + float64((c*7+seed*3+d)%40)
				runs = append(runs, benchRun{id, study.ClassesBase, ds, acc, true}, benchRun{id + "-new", study.ClassesNew, ds, acc - 5, false})
				n++
			}
		}
		for _, cl := range []study.Classes{study.ClassesBase, study.ClassesNew} {
			id := "zs-" + ds + "-" + string(cl)
			specs = append(specs, results.JobSpec{ID: id, Name: "zeroshot/" + ds + "/" + string(cl), Kind: study.KindEval, Experiments: []string{"zeroshot"},
				Config: mustJSON(map[string]any{"kind": "eval", "dataset": ds, "classes": cl, "template": "a photo of a {}."})})
			runs = append(runs, benchRun{id, cl, ds, 60, false})
		}
	}
	return specs, runs
}

// fullMetricsScan reads every metric row once: the reference.
func fullMetricsScan(path string) (time.Duration, error) {
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	t0 := time.Now()
	rows, err := db.Query(`SELECT job_id, step, loss, prompt FROM metrics`)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var id, prompt string
		var step int
		var loss sql.NullFloat64
		if err := rows.Scan(&id, &step, &loss, &prompt); err != nil {
			return 0, err
		}
		n++
	}
	if n != benchTrainJobs*benchSteps {
		return 0, fmt.Errorf("scanned %d metric rows, want %d", n, benchTrainJobs*benchSteps)
	}
	return time.Since(t0), rows.Err()
}

// sampleRSS samples the process's resident set every 5 ms until the
// returned function is called, which returns the peak in bytes.
func sampleRSS() func() int64 {
	var mu sync.Mutex
	var peak int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			if rss := residentBytes(); rss > 0 {
				mu.Lock()
				peak = max(peak, rss)
				mu.Unlock()
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() int64 {
		close(done)
		wg.Wait()
		return peak
	}
}

// residentBytes reads VmRSS from /proc/self/status (Linux); 0 elsewhere.
func residentBytes() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
