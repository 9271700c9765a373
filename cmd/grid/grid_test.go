package main

import (
	"bytes"
	"encoding/json"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fomo-grid/grid/results"
)

// These tests drive the real binary: real plugin worker processes, the real
// engine on the built-in demo model and datasets, a real SQLite file.

// TestMain removes what the shared helpers below built, and stops the
// SLURM test cluster if this process started it.
func TestMain(m *testing.M) {
	code := m.Run()
	stopTestCluster()
	if buildErr == nil && builtBin != "" {
		os.RemoveAll(filepath.Dir(builtBin))
	}
	if demoErr == nil && demoDir != "" {
		os.RemoveAll(demoDir)
	}
	os.Exit(code)
}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// gridBinary builds cmd/grid once per test process.
func gridBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "grid-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "grid")
		out, err := exec.Command("go", "build", "-o", builtBin, ".").CombinedOutput()
		if err != nil {
			buildErr = err
			builtBin = string(out)
		}
	})
	if buildErr != nil {
		t.Fatalf("go build: %v\n%s", buildErr, builtBin)
	}
	return builtBin
}

// demoOnce writes the demo model and datasets once; every test copies
// nothing and points its grid file at the shared directory (read-only use).
var (
	demoOnce sync.Once
	demoDir  string
	demoErr  error
)

func demoAssets(t testing.TB) string {
	t.Helper()
	bin := gridBinary(t)
	demoOnce.Do(func() {
		demoDir, demoErr = os.MkdirTemp("", "grid-demo-")
		if demoErr != nil {
			return
		}
		out, err := exec.Command(bin, "demo", "--dir", demoDir).CombinedOutput()
		if err != nil {
			demoErr = err
			demoDir = string(out)
		}
	})
	if demoErr != nil {
		t.Fatalf("grid demo: %v\n%s", demoErr, demoDir)
	}
	return demoDir
}

type cmdResult struct {
	code           int
	stdout, stderr string
}

func runGrid(t *testing.T, dir string, args ...string) cmdResult {
	t.Helper()
	res, err := execGrid(gridBinary(t), dir, args...)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// execGrid runs the binary in dir; err is set only when it could not run.
func execGrid(bin, dir string, args ...string) (cmdResult, error) {
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GRID_CACHE_DIR="+filepath.Join(dir, "cache"))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		return cmdResult{}, err
	}
	return cmdResult{code, out.String(), errb.String()}, nil
}

// smallGrid is the demo grid cut down: 2 base2new cells, one ablation
// variant (its full variant is the n_ctx=2 cell), a train-on-all source and
// its transfer evaluation: 8 jobs.
func smallGrid(demo string, epochs int) string {
	return `
[grid]
name = "small"
out = "runs/small"
model = "` + filepath.Join(demo, "model") + `"
data_root = "` + filepath.Join(demo, "data") + `"
workers = 2
retries = 1

[defaults]
epochs = ` + strconv.Itoa(epochs) + `

[[experiment]]
name = "grid"
protocol = "base2new"
datasets = ["demo"]
[experiment.axes]
n_ctx = [1, 2]

[[experiment]]
name = "ablate"
protocol = "base2new"
datasets = ["demo"]
variants = ["noshared"]
[experiment.set]
n_ctx = 2

[[experiment]]
name = "source"
protocol = "train"
classes = "all"
datasets = ["demo"]

[[experiment]]
name = "transfer"
protocol = "transfer"
from = "source"
targets = ["demo_b"]
`
}

func writeFile(t testing.TB, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func openRunDB(t *testing.T, dir, name string) (*results.DB, int64) {
	t.Helper()
	db, err := results.Open(filepath.Join(dir, "runs", name, "grid.db"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := db.GridByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return db, g.ID
}

func TestGridRunStoresEverythingAndReports(t *testing.T) {
	demo := demoAssets(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "grid.toml"), smallGrid(demo, 1))

	plan := runGrid(t, dir, "plan", "grid.toml")
	if plan.code != 0 || strings.Count(plan.stdout, "\nnew ") != 8 {
		t.Fatalf("plan before the run (exit %d):\n%s%s", plan.code, plan.stdout, plan.stderr)
	}
	res := runGrid(t, dir, "run", "grid.toml")
	if res.code != 0 {
		t.Fatalf("grid run exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	if !strings.Contains(res.stdout, "8 done now") {
		t.Fatalf("summary line missing:\n%s", res.stdout)
	}

	db, gid := openRunDB(t, dir, "small")
	defer db.Close()
	jobs, err := db.Jobs(gid)
	if err != nil || len(jobs) != 8 {
		t.Fatalf("%d jobs, %v", len(jobs), err)
	}
	for _, j := range jobs {
		if j.State != results.StateDone || j.Attempts != 1 {
			t.Errorf("%s: %s after %d attempts (%s)", j.Name, j.State, j.Attempts, j.Error)
		}
		evs, _ := db.Evaluations(j.ID)
		if len(evs) != 1 || evs[0].Total == 0 {
			t.Errorf("%s: evaluations %+v", j.Name, evs)
		}
		if j.Kind != "train" {
			continue
		}
		ms, _ := db.Metrics(j.ID)
		// demo: 20 train images per class, 16 shots, batch 4, one epoch;
		// base has 4 classes (16 steps), all has 8 (32 steps).
		want := 16
		if strings.HasPrefix(j.Name, "source/") {
			want = 32
		}
		if len(ms) != want {
			t.Errorf("%s: %d loss points, want %d", j.Name, len(ms), want)
		}
		p, _ := db.Prompt(j.ID)
		if p == nil || len(p.TokenIDs) == 0 || p.Text == "" {
			t.Errorf("%s: no learned prompt", j.Name)
		}
		arts, _ := db.Artifacts(j.ID)
		if len(arts) != 1 || arts[0].Bytes == 0 {
			t.Errorf("%s: checkpoint artifacts %+v", j.Name, arts)
		}
	}

	st := runGrid(t, dir, "status", "--json", "grid.toml")
	var rows []map[string]any
	if st.code != 0 || json.Unmarshal([]byte(st.stdout), &rows) != nil || len(rows) != 8 {
		t.Fatalf("status --json (exit %d): %s %s", st.code, st.stdout, st.stderr)
	}
	plan = runGrid(t, dir, "plan", "grid.toml")
	if strings.Count(plan.stdout, "\ndone ") != 8 {
		t.Fatalf("plan after the run:\n%s", plan.stdout)
	}

	rep := runGrid(t, dir, "report", "--plot", "grid.toml")
	if rep.code != 0 {
		t.Fatalf("report exit %d: %s", rep.code, rep.stderr)
	}
	reportDir := filepath.Join(dir, "runs", "small", "report")
	for _, name := range []string{"README.md", "index.html", "summary.md", "summary.csv", "summary.tex", "grid-demo.md",
		"loss-demo.png", "loss-demo.svg", "loss-demo.pdf", "loss_demo.tex", "accuracy-demo.png", "transfer.md", "ablation.md"} {
		if _, err := os.Stat(filepath.Join(reportDir, name)); err != nil {
			t.Errorf("report: %v", err)
		}
	}
	f, err := os.Open(filepath.Join(reportDir, "loss-demo.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if img, err := png.Decode(f); err != nil || img.Bounds().Dx() < 200 {
		t.Fatalf("loss figure: %v", err)
	}

	// Running again runs nothing.
	res = runGrid(t, dir, "run", "grid.toml")
	if res.code != 0 || !strings.Contains(res.stdout, "0 done now, 8 done before") {
		t.Fatalf("second run (exit %d):\n%s%s", res.code, res.stdout, res.stderr)
	}
}

func TestKilledRunResumesWithoutRerunningFinishedJobs(t *testing.T) {
	demo := demoAssets(t)
	dir := t.TempDir()
	// Epochs enough that some jobs are still running when two are done.
	writeFile(t, filepath.Join(dir, "grid.toml"), smallGrid(demo, 8))

	cmd := exec.Command(gridBinary(t), "run", "--plain", "grid.toml")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GRID_CACHE_DIR="+filepath.Join(dir, "cache"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(dir, "runs", "small", "grid.db")
	doneBefore := map[string]bool{}
	var running []int
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) && (len(doneBefore) < 2 || len(running) == 0) {
		time.Sleep(50 * time.Millisecond)
		if _, err := os.Stat(dbPath); err != nil {
			continue
		}
		db, err := results.Open(dbPath)
		if err != nil {
			continue
		}
		if g, err := db.GridByName("small"); err == nil {
			jobs, _ := db.Jobs(g.ID)
			running = running[:0]
			for _, j := range jobs {
				if j.State == results.StateDone {
					doneBefore[j.ID] = true
				}
				if j.State == results.StateRunning {
					if f := strings.Fields(j.Worker); len(f) == 3 {
						pid, _ := strconv.Atoi(f[2])
						running = append(running, pid)
					}
				}
			}
		}
		db.Close()
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if len(doneBefore) < 2 || len(running) == 0 {
		t.Fatalf("never saw 2 done jobs and a running one before the kill (done %d)", len(doneBefore))
	}
	for _, pid := range running {
		for i := 0; i < 100 && syscall.Kill(pid, 0) == nil; i++ {
			time.Sleep(20 * time.Millisecond)
		}
		if syscall.Kill(pid, 0) == nil {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Errorf("worker %d outlived the killed grid run", pid)
		}
	}

	res := runGrid(t, dir, "run", "grid.toml")
	if res.code != 0 {
		t.Fatalf("resume exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	db, gid := openRunDB(t, dir, "small")
	defer db.Close()
	jobs, _ := db.Jobs(gid)
	for _, j := range jobs {
		if j.State != results.StateDone {
			t.Errorf("%s: %s after resume", j.Name, j.State)
		}
		if doneBefore[j.ID] && (j.Attempts != 1 || j.Finished == nil) {
			t.Errorf("%s finished before the kill but has %d attempts", j.Name, j.Attempts)
		}
	}
	if !strings.Contains(res.stdout, strconv.Itoa(len(doneBefore))+" done before") {
		// Jobs may have finished between the last poll and the kill, so
		// at least the ones seen done were skipped.
		var before int
		for _, f := range strings.Split(res.stdout, ",") {
			if strings.HasSuffix(strings.TrimSpace(f), "done before") {
				before, _ = strconv.Atoi(strings.Fields(f)[0])
			}
		}
		if before < len(doneBefore) {
			t.Errorf("resume skipped %d jobs, %d were done before the kill:\n%s", before, len(doneBefore), res.stdout)
		}
	}
}

func TestBadGridFileNamesFileLineAndKey(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "bad.toml"), `[grid]
name = "x"
model = "m"
data_root = "d"

[[experiment]]
name = "g"
protocol = "base2new"
datasets = ["demo"]
[experiment.axes]
n_ctx = []
`)
	for _, cmd := range []string{"run", "plan", "status"} {
		res := runGrid(t, dir, cmd, "bad.toml")
		if res.code != 1 || !strings.Contains(res.stderr, "bad.toml:11") || !strings.Contains(res.stderr, "n_ctx") {
			t.Errorf("grid %s: exit %d, stderr %q: want exit 1 naming bad.toml:11 and n_ctx", cmd, res.code, res.stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "runs")); err == nil {
		t.Error("a bad grid file created a run directory")
	}
	res := runGrid(t, dir, "run", "missing.toml")
	if res.code != 1 || !strings.Contains(res.stderr, "missing.toml") {
		t.Errorf("missing file: exit %d %q", res.code, res.stderr)
	}
	res = runGrid(t, dir, "frobnicate")
	if res.code != 2 || !strings.Contains(res.stderr, "unknown command") {
		t.Errorf("unknown command: exit %d %q", res.code, res.stderr)
	}

	// A backend this binary does not have is named with where it was set.
	const experiment = "[[experiment]]\nname = \"g\"\nprotocol = \"train\"\ndatasets = [\"demo\"]\n"
	writeFile(t, filepath.Join(dir, "tpu.toml"), "[grid]\nname = \"x\"\nmodel = \"m\"\ndata_root = \"d\"\nbackend = \"tpu\"\n"+experiment)
	writeFile(t, filepath.Join(dir, "good.toml"), "[grid]\nname = \"y\"\nmodel = \"m\"\ndata_root = \"d\"\n"+experiment)
	for _, tc := range []struct{ args, where []string }{
		{[]string{"run", "tpu.toml"}, []string{"tpu.toml: grid.backend", `unknown backend "tpu"`}},
		{[]string{"run", "--backend", "tpu", "good.toml"}, []string{"--backend", `unknown backend "tpu"`, "auto, "}},
	} {
		res := runGrid(t, dir, tc.args...)
		for _, want := range tc.where {
			if res.code != 1 || !strings.Contains(res.stderr, want) {
				t.Errorf("grid %v: exit %d, stderr %q: want exit 1 and %q", tc.args, res.code, res.stderr, want)
			}
		}
	}
}

func TestInterruptStopsCleanlyAndResumes(t *testing.T) {
	demo := demoAssets(t)
	dir := t.TempDir()
	// Epochs enough that the grid is still running when it is interrupted.
	writeFile(t, filepath.Join(dir, "grid.toml"), smallGrid(demo, 12))

	cmd := exec.Command(gridBinary(t), "run", "--plain", "grid.toml")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GRID_CACHE_DIR="+filepath.Join(dir, "cache"))
	out := &lockedBuffer{}
	cmd.Stdout = out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until a training job has reported progress.
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) && !strings.Contains(out.String(), " epoch ") {
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(os.Interrupt)
	start := time.Now()
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		t.Fatalf("interrupted run: %v, want exit status 130\n%s", err, out.String())
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("stopping took %v", d)
	}
	db, gid := openRunDB(t, dir, "small")
	jobs, _ := db.Jobs(gid)
	done := 0
	for _, j := range jobs {
		switch j.State {
		case results.StateRunning, results.StateFailed:
			t.Errorf("%s is %s after Ctrl-C (%s)", j.Name, j.State, j.Error)
		case results.StateDone:
			done++
		}
	}
	db.Close()
	if done == len(jobs) {
		t.Fatal("the grid finished before the interrupt; nothing was tested")
	}
	res := runGrid(t, dir, "run", "grid.toml")
	if res.code != 0 || !strings.Contains(res.stdout, strconv.Itoa(done)+" done before") {
		t.Fatalf("resume after Ctrl-C (exit %d):\n%s%s", res.code, res.stdout, res.stderr)
	}
}

// lockedBuffer is a bytes.Buffer a running command writes while the test reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
