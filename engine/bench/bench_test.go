package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/fomo-grid/grid/engine/cpu"
	cpuid "golang.org/x/sys/cpu"
)

// settings are the knobs of one `make bench` run.
type settings struct {
	quick   bool
	threads int
	python  string
}

func loadSettings() settings {
	s := settings{quick: os.Getenv("BENCH_QUICK") == "1", threads: runtime.NumCPU(), python: "python3"}
	if n, err := strconv.Atoi(os.Getenv("BENCH_THREADS")); err == nil && n > 0 {
		s.threads = n
	}
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		s.python = "/usr/bin/python3" // Debian's, the one python3-torch installs into
	}
	if p := os.Getenv("PYTHON"); p != "" {
		s.python = p
	}
	return s
}

// reps is the number of timed repetitions after the warm-up.
func (s settings) reps(full, quick int) int {
	if s.quick {
		return quick
	}
	return full
}

// gemmShapes are the products of a ViT-B/16 training step (4 images of
// 197 tokens: the attention input projection, output projection and the two
// MLP layers), a square one, and the text tower's at PyTorch's length (10
// classes × 77 tokens) and at the Go engine's (10 classes cut at their
// end-of-text token).
func (s settings) gemmShapes() []gemmShape {
	if s.quick {
		return []gemmShape{{788, 3072, 768}, {768, 768, 768}, {770, 2048, 512}}
	}
	return []gemmShape{
		{788, 2304, 768}, {788, 768, 768}, {788, 3072, 768}, {788, 768, 3072}, {768, 768, 768},
		{770, 1536, 512}, {770, 2048, 512}, {770, 512, 2048}, {100, 2048, 512},
	}
}

// stepJobs are the training steps measured: shared (visual prompts on) and
// noshared, 10 and 100 classes, batch 4, n_ctx 2.
func (s settings) stepJobs() []job {
	reps := s.reps(3, 1)
	jobs := []job{
		{Kind: "step", Classes: 10, Shared: true, Batch: 4, Reps: reps},
		{Kind: "step", Classes: 10, Shared: false, Batch: 4, Reps: reps},
	}
	if !s.quick {
		jobs = append(jobs,
			job{Kind: "step", Classes: 100, Shared: true, Batch: 4, Reps: reps},
			job{Kind: "step", Classes: 100, Shared: false, Batch: 4, Reps: reps})
	}
	return jobs
}

func (s settings) evalJob() job {
	return job{Kind: "eval", Batch: s.reps(16, 8), Reps: s.reps(3, 2)}
}

// row is one line of the summary table.
type row struct {
	what, unit      string
	higherIsBetter  bool
	goBest, goSprd  float64
	ptBest, ptSprd  float64 // 0: no PyTorch figure
	pinned          float64 // PyTorch with OpenBLAS pinned to AVX2; 0: not measured
	goRSS, ptRSS    int64
	ptMissingReason string
}

// BenchmarkVsPyTorch measures, in one run: GEMM GFLOP/s per CLIP shape,
// training-step seconds (shared and noshared, 10 and 100 classes) with
// peak RSS, and evaluation images/s, for the Go engine and for PyTorch, and
// prints each pair with its ratio.
func BenchmarkVsPyTorch(b *testing.B) {
	s := loadSettings()
	ref := newReference(s)
	b.Logf("threads %d; PyTorch: %s", s.threads, ref.describe())
	loadBefore := loadAverage()
	var rows []row
	gemmReps := s.reps(10, 5)
	ptGEMM, ptPinned := ref.gemms(b, s.gemmShapes(), gemmReps)
	for _, shape := range s.gemmShapes() {
		b.Run("gemm/"+shape.String(), func(b *testing.B) {
			r := row{what: "GEMM " + shape.String(), unit: "GFLOP/s", higherIsBetter: true}
			r.goBest, r.goSprd = bestAndSpread(goGEMM(shape, gemmReps, s.threads), true)
			if rates := ptGEMM[shape.String()]; rates != nil {
				r.ptBest, r.ptSprd = bestAndSpread(rates, true)
			}
			if rates := ptPinned[shape.String()]; rates != nil {
				r.pinned, _ = bestAndSpread(rates, true)
			}
			report(b, r)
			rows = append(rows, r)
		})
	}
	for _, j := range append(s.stepJobs(), s.evalJob()) {
		b.Run(j.String(), func(b *testing.B) {
			r := row{what: j.String(), unit: j.unit(), higherIsBetter: j.Kind == "eval"}
			m := runGoChild(b, j, s.threads)
			r.goBest, r.goSprd, r.goRSS = m.Best, spread(m.All, r.higherIsBetter), m.PeakRSS
			ref.job(b, &r, j)
			report(b, r)
			rows = append(rows, r)
		})
	}
	printSummary(s, ref, rows, loadBefore, loadAverage())
}

// loadAverage is the 1-minute load average ("" where /proc has none): other
// work on the machine slows both sides, PyTorch's spinning OpenMP threads
// far more than Go's, so the summary shows it.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	return strings.Fields(string(data))[0]
}

// report adds r's figures to the benchmark line.
func report(b *testing.B, r row) {
	b.ReportMetric(r.goBest, r.unit)
	if r.goRSS > 0 {
		b.ReportMetric(float64(r.goRSS)/1e6, "MB_peak_rss")
	}
	if r.ptBest == 0 {
		return
	}
	b.ReportMetric(r.ptBest, "torch_"+r.unit)
	b.ReportMetric(r.goBest/r.ptBest, "go/torch")
	if r.ptRSS > 0 {
		b.ReportMetric(float64(r.ptRSS)/1e6, "torch_MB_peak_rss")
	}
}

// bestAndSpread returns the best of xs (the largest when higher is better)
// and the spread, (max−min)/best.
func bestAndSpread(xs []float64, higherIsBetter bool) (best, sprd float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	best = slices.Min(xs)
	if higherIsBetter {
		best = slices.Max(xs)
	}
	return best, (slices.Max(xs) - slices.Min(xs)) / best
}

func spread(xs []float64, higherIsBetter bool) float64 {
	_, s := bestAndSpread(xs, higherIsBetter)
	return s
}

func printSummary(s settings, ref *reference, rows []row, loadBefore, loadAfter string) {
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nGo engine vs PyTorch, %d threads; the CPU backend: %s\n", s.threads, cpu.New().Device())
	fmt.Fprintf(&sb, "PyTorch: %s\n", ref.describe())
	if loadBefore != "" {
		fmt.Fprintf(&sb, "load average %s before, %s after: figures taken under load (more than the threads) are not comparable\n", loadBefore, loadAfter)
	}
	fmt.Fprintf(&sb, "best of the repetitions; ± is the spread (max−min)/best; Go/PyTorch below 1 is Go ahead for seconds, above 1 for rates\n\n")
	fmt.Fprintf(&sb, "%-28s %-9s %16s %16s %10s %14s %9s %9s %7s\n", "", "unit", "Go", "PyTorch", "Go/PyTorch", "PyTorch AVX2", "Go RSS", "PT RSS", "RSS")
	for _, r := range rows {
		pt, ratio, pinned := "-", "-", "-"
		if r.ptBest > 0 {
			pt = fmt.Sprintf("%.3g ±%2.0f%%", r.ptBest, 100*r.ptSprd)
			ratio = fmt.Sprintf("%.3f", r.goBest/r.ptBest)
		}
		if r.pinned > 0 {
			pinned = fmt.Sprintf("%.3g", r.pinned)
		}
		goRSS, ptRSS, rssRatio := "-", "-", "-"
		if r.goRSS > 0 {
			goRSS = fmt.Sprintf("%.2f GB", float64(r.goRSS)/1e9)
		}
		if r.ptRSS > 0 {
			ptRSS = fmt.Sprintf("%.2f GB", float64(r.ptRSS)/1e9)
			rssRatio = fmt.Sprintf("%.2f", float64(r.goRSS)/float64(r.ptRSS))
		}
		fmt.Fprintf(&sb, "%-28s %-9s %16s %16s %10s %14s %9s %9s %7s\n", r.what, r.unit,
			fmt.Sprintf("%.3g ±%2.0f%%", r.goBest, 100*r.goSprd), pt, ratio, pinned, goRSS, ptRSS, rssRatio)
	}
	fmt.Print(sb.String())
}

// reference runs engine/reference/bench_pytorch.py, or says why it cannot.
type reference struct {
	s       settings
	script  string
	missing string // why there is no reference; "" when there is one
	version string
	pin     bool // also measure with OpenBLAS pinned to AVX2
}

func newReference(s settings) *reference {
	r := &reference{s: s, script: filepath.Join("..", "reference", "bench_pytorch.py")}
	out, err := exec.Command(s.python, "-c", "import torch; print(torch.__version__)").CombinedOutput()
	if err != nil {
		r.missing = fmt.Sprintf("skipped: %s cannot import torch (apt-get install python3-torch libopenblas0-pthread)", s.python)
		return r
	}
	r.version = strings.TrimSpace(string(out))
	r.pin = !s.quick && cpuid.X86.HasAVX512F
	return r
}

func (r *reference) describe() string {
	if r.missing != "" {
		return r.missing
	}
	d := fmt.Sprintf("torch %s (%s), OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset", r.version, r.s.python)
	if r.pin {
		d += "; the AVX2 column has OPENBLAS_CORETYPE=Haswell"
	}
	return d
}

// run runs the script for one job and decodes its JSON line; coretype, if
// set, pins OpenBLAS's kernels.
func (r *reference) run(b *testing.B, coretype string, args ...string) []byte {
	b.Helper()
	cmd := exec.Command(r.s.python, append([]string{r.script}, args...)...)
	cmd.Env = append(withoutOpenBLASPins(os.Environ()), "OMP_NUM_THREADS="+strconv.Itoa(r.s.threads))
	if coretype != "" {
		cmd.Env = append(cmd.Env, "OPENBLAS_CORETYPE="+coretype)
	}
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("%s %s: %v", r.script, strings.Join(args, " "), err)
	}
	return out
}

// withoutOpenBLASPins drops the variables that pin OpenBLAS's kernel choice
// and cache size, so it picks the best kernels for the CPU.
func withoutOpenBLASPins(env []string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		return strings.HasPrefix(kv, "OPENBLAS_CORETYPE=") || strings.HasPrefix(kv, "OPENBLAS_L2_SIZE=")
	})
}

// gemmRates are GFLOP/s repetitions per shape.
type gemmRates map[string][]float64

// gemms measures every shape in one run of the script (one torch start),
// with OpenBLAS at its best and, where r.pin says so, pinned to AVX2 (nil
// otherwise).
func (r *reference) gemms(b *testing.B, shapes []gemmShape, reps int) (best, pinned gemmRates) {
	if r.missing != "" {
		return nil, nil
	}
	var list []string
	for _, g := range shapes {
		list = append(list, g.String())
	}
	args := []string{"gemm", "--threads", strconv.Itoa(r.s.threads), "--reps", strconv.Itoa(reps), "--shapes", strings.Join(list, ",")}
	best = decodeGEMM(b, r.run(b, "", args...))
	if r.pin {
		pinned = decodeGEMM(b, r.run(b, "Haswell", args...))
	}
	return best, pinned
}

func decodeGEMM(b *testing.B, data []byte) gemmRates {
	var res struct {
		Gemm []struct {
			Shape string
			All   []float64
		}
	}
	if err := json.Unmarshal(data, &res); err != nil || len(res.Gemm) == 0 {
		b.Fatalf("bench_pytorch.py gemm printed %q: %v", data, err)
	}
	rates := gemmRates{}
	for _, g := range res.Gemm {
		rates[g.Shape] = g.All
	}
	return rates
}

func (r *reference) job(b *testing.B, out *row, j job) {
	if r.missing != "" {
		return
	}
	args := []string{j.Kind, "--threads", strconv.Itoa(r.s.threads), "--reps", strconv.Itoa(j.Reps),
		"--classes", strconv.Itoa(j.Classes), "--batch", strconv.Itoa(j.Batch), "--n-ctx", strconv.Itoa(nCtx)}
	if j.Kind == "step" && !j.Shared {
		args = append(args, "--noshared")
	}
	m := decodeMeasurement(b, r.run(b, "", args...))
	out.ptBest, out.ptSprd, out.ptRSS = m.Best, spread(m.All, out.higherIsBetter), m.PeakRSS
	if r.pin && j.Kind == "step" && j.Shared && j.Classes == 10 {
		out.pinned = decodeMeasurement(b, r.run(b, "Haswell", args...)).Best
	}
}

func decodeMeasurement(b *testing.B, data []byte) measurement {
	var m measurement
	if err := json.Unmarshal(data, &m); err != nil || len(m.All) == 0 {
		b.Fatalf("bench_pytorch.py printed %q: %v", data, err)
	}
	return m
}
