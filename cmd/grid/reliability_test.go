package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fomo-grid/grid/internal/testfs"
	"github.com/fomo-grid/grid/orchestrator"
	"github.com/fomo-grid/grid/results"
)

// The faults of docs/reliability.md, on the real binary, engine and demo
// model. (orchestrator/reliability_test.go injects the ones that need a
// fake engine: a disk filling up mid-job, a hung engine.)

// reliabilityGrid is one base2new cell (2 jobs) with n_ctx 2.
func reliabilityGrid(model, data, grid, experiment string) string {
	return `[grid]
name = "r"
out = "runs/r"
model = "` + model + `"
data_root = "` + data + `"
retries = 1
` + grid + `
[defaults]
epochs = 2

[[experiment]]
name = "grid"
protocol = "base2new"
datasets = ["demo"]
[experiment.axes]
n_ctx = [2]
` + experiment
}

func lineOf(src, prefix string) int {
	for i, line := range strings.Split(src, "\n") {
		if strings.HasPrefix(line, prefix) {
			return i + 1
		}
	}
	return 0
}

// Bad inputs are found by `grid plan` and by `grid run` before anything is
// written, each error naming the file, the line and the key.
func TestBadInputsAreRefusedBeforeAnyWrite(t *testing.T) {
	demo := demoAssets(t)
	model, data := filepath.Join(demo, "model"), filepath.Join(demo, "data")
	noTokenizer := t.TempDir()
	if err := os.Symlink(filepath.Join(model, "model.safetensors"), filepath.Join(noTokenizer, "model.safetensors")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, src, key, want string
	}{
		{"empty data root", reliabilityGrid(model, t.TempDir(), "", ""), "datasets =", `experiment "grid": datasets: `},
		{"model without tokenizer", reliabilityGrid(noTokenizer, data, "", ""), "model =", "grid.model: model " + noTokenizer + ": no tokenizer"},
		{"n_ctx too long", strings.Replace(reliabilityGrid(model, data, "", ""), "n_ctx = [2]", "n_ctx = [2, 75]", 1), "n_ctx =",
			`experiment "grid": axes.n_ctx: n_ctx = 75 does not fit the class names of demo in the model's context: class "`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "grid.toml"), tc.src)
			want := fmt.Sprintf("grid.toml:%d: %s", lineOf(tc.src, tc.key), tc.want)
			for _, cmd := range []string{"plan", "run"} {
				res := runGrid(t, dir, cmd, "grid.toml")
				if res.code != 1 || !strings.Contains(res.stderr, want) {
					t.Fatalf("grid %s: exit %d, stderr %q; want exit 1 and %q", cmd, res.code, res.stderr, want)
				}
				t.Logf("grid %s: %s", cmd, res.stderr)
			}
			if _, err := os.Stat(filepath.Join(dir, "runs")); err == nil {
				t.Fatal("a refused run left a run directory")
			}
		})
	}
}

// On a full disk `grid run` refuses before writing anything, saying so;
// once space is freed it runs the grid.
func TestFullDiskIsRefusedThenRecovered(t *testing.T) {
	demo := demoAssets(t)
	dir := t.TempDir()
	small := testfs.Small(t, 16<<20)
	src := strings.Replace(reliabilityGrid(filepath.Join(demo, "model"), filepath.Join(demo, "data"), "", ""),
		`out = "runs/r"`, `out = "`+filepath.Join(small, "r")+`"`, 1)
	writeFile(t, filepath.Join(dir, "grid.toml"), src)
	free := testfs.Fill(t, small)
	res := runGrid(t, dir, "run", "grid.toml")
	if res.code != 1 || !strings.Contains(res.stderr, "no space left on device") {
		t.Fatalf("run on a full disk: exit %d, stderr %q", res.code, res.stderr)
	}
	t.Logf("grid run: %s", res.stderr)
	if _, err := os.Stat(filepath.Join(small, "r", "grid.db")); err == nil {
		t.Fatal("a database was created on the full disk")
	}
	free()
	res = runGrid(t, dir, "run", "grid.toml")
	if res.code != 0 || !strings.Contains(res.stdout, "2 done now") {
		t.Fatalf("run after freeing space: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	db, err := results.Open(filepath.Join(small, "r", "grid.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.IntegrityCheck(); err != nil {
		t.Fatal(err)
	}
}

// A worker stopped with SIGSTOP is seen in `grid status` (its job's age
// grows, its last report does not), is killed once silent for
// GRID_WORKER_SILENCE, and its job is retried and finishes. Then a deleted
// checkpoint makes the train job stale, and `grid run --redo stale` runs it
// and its eval again.
func TestStoppedWorkerThenRedoStale(t *testing.T) {
	demo := demoAssets(t)
	dir := t.TempDir()
	src := reliabilityGrid(filepath.Join(demo, "model"), filepath.Join(demo, "data"), "", "")
	writeFile(t, filepath.Join(dir, "grid.toml"), src)
	cmd := exec.Command(gridBinary(t), "run", "--plain", "grid.toml")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GRID_CACHE_DIR="+filepath.Join(dir, "cache"), "GRID_WORKER_SILENCE=3s")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	pid, jobID := stopRunningWorker(t, filepath.Join(dir, "runs", "r", "grid.db"))
	defer syscall.Kill(pid, syscall.SIGKILL)

	// While it is stopped, status shows the job running with an old report.
	var row orchestrator.StatusRow
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		row = statusOf(t, dir, jobID)
		if row.State != "running" || (row.LastReport != nil && time.Since(*row.LastReport) > 1500*time.Millisecond) {
			break
		}
	}
	if row.State != "running" || row.LastReport == nil || row.Orphaned || time.Since(*row.LastReport) < time.Second {
		t.Fatalf("status of the stopped worker's job: %+v", row)
	}
	err := cmd.Wait()
	if err != nil || !strings.Contains(out.String(), "sent nothing for") {
		t.Fatalf("run with a stopped worker: %v\n%s%s", err, out.String(), errb.String())
	}
	t.Logf("grid run:\n%s", out.String())
	if syscall.Kill(pid, 0) == nil {
		t.Errorf("the stopped worker %d is still there", pid)
	}
	db, gid := openRunDB(t, dir, "r")
	defer db.Close()
	if err := db.IntegrityCheck(); err != nil {
		t.Fatal(err)
	}
	jobs, _ := db.Jobs(gid)
	for _, j := range jobs {
		if j.State != results.StateDone || (j.ID == jobID) != (j.Attempts == 2) {
			t.Errorf("%s: %s after %d attempts (%s)", j.Name, j.State, j.Attempts, j.Error)
		}
	}

	for _, j := range jobs {
		if j.Kind == "train" {
			os.Remove(filepath.Join(dir, "runs", "r", "jobs", j.ID, "checkpoint.safetensors"))
		}
	}
	plan := runGrid(t, dir, "plan", "grid.toml")
	if plan.code != 0 || !strings.Contains(plan.stdout, "\nstale ") {
		t.Fatalf("plan after deleting the checkpoint (exit %d):\n%s%s", plan.code, plan.stdout, plan.stderr)
	}
	res := runGrid(t, dir, "run", "--redo", "stale", "grid.toml")
	if res.code != 0 || !strings.Contains(res.stdout, "2 done now, 0 done before") {
		t.Fatalf("run --redo stale (exit %d):\n%s%s", res.code, res.stdout, res.stderr)
	}
	plan = runGrid(t, dir, "plan", "grid.toml")
	if strings.Count(plan.stdout, "\ndone ") != 2 {
		t.Fatalf("plan after the redo:\n%s", plan.stdout)
	}
}

// stopRunningWorker waits for a running job and SIGSTOPs its worker.
func stopRunningWorker(t *testing.T, dbPath string) (pid int, jobID string) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(dbPath); err != nil {
			continue
		}
		db, err := results.Open(dbPath)
		if err != nil {
			continue
		}
		rows, _ := db.JobRows()
		db.Close()
		for id, j := range rows {
			if f := strings.Fields(j.Worker); j.State == results.StateRunning && len(f) == 3 {
				pid, _ = strconv.Atoi(f[2])
				if pid > 0 && syscall.Kill(pid, syscall.SIGSTOP) == nil {
					return pid, id
				}
			}
		}
	}
	t.Fatal("no job started")
	return 0, ""
}

func statusOf(t *testing.T, dir, jobID string) orchestrator.StatusRow {
	t.Helper()
	res := runGrid(t, dir, "status", "--json", "grid.toml")
	var rows []orchestrator.StatusRow
	if res.code != 0 || json.Unmarshal([]byte(res.stdout), &rows) != nil {
		t.Fatalf("status --json (exit %d): %s %s", res.code, res.stdout, res.stderr)
	}
	for _, r := range rows {
		if r.ID == jobID {
			return r
		}
	}
	t.Fatalf("no job %s in status", jobID)
	return orchestrator.StatusRow{}
}
