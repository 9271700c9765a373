package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fomo-grid/grid/internal/slurmtest"
	"github.com/fomo-grid/grid/results"
)

var (
	clusterMu sync.Mutex
	cluster   *slurmtest.Cluster
)

// testCluster starts the one-node SLURM cluster of the tests (or skips,
// saying why, where SLURM cannot run); TestMain stops it.
func testCluster(t *testing.T) *slurmtest.Cluster {
	clusterMu.Lock()
	defer clusterMu.Unlock()
	if cluster == nil {
		cluster = slurmtest.Start(t)
	}
	return cluster
}

func stopTestCluster() {
	clusterMu.Lock()
	defer clusterMu.Unlock()
	if cluster != nil {
		cluster.Stop()
	}
}

// slurmGrid is smallGrid with sixteen epochs (a train job of the tiny demo
// model runs long enough, a second or so, to be signalled in the middle) and a [slurm] table fit for the one-node test
// cluster.
func slurmGrid(demo string) string {
	return smallGrid(demo, 16) + `
[slurm]
cpus = 1
mem = "600M"
time = "10"
throttle = 2
`
}

// sourceOnly is the part of slurmGrid run locally before it is submitted:
// the train-on-all-classes source of the transfer.
func sourceOnly(demo string) string {
	grid := slurmGrid(demo)
	return grid[:strings.Index(grid, "[[experiment]]")] + `
[[experiment]]
name = "source"
protocol = "train"
classes = "all"
datasets = ["demo"]
`
}

// TestSlurmArraysMatchALocalRun submits the demo grid to a real one-node
// SLURM cluster after running part of it locally, requeues one train task
// in the middle of its job (the time-limit signal), kills another, submits
// again what the killed task left, and checks that every job ran to the
// end exactly once, with the results of a local run of the same grid.
func TestSlurmArraysMatchALocalRun(t *testing.T) {
	t.Parallel()
	start := time.Now()
	phase := func(what string) { t.Logf("%6.1fs %s", time.Since(start).Seconds(), what) }
	testCluster(t)
	demo := demoAssets(t)
	phase("cluster up, demo written")
	ref := t.TempDir()
	writeFile(t, filepath.Join(ref, "grid.toml"), slurmGrid(demo))
	bin := gridBinary(t)
	refDone := make(chan cmdResult, 1)
	go func() {
		res, err := execGrid(bin, ref, "run", "grid.toml")
		if err != nil {
			res = cmdResult{-1, "", err.Error()}
		}
		refDone <- res
	}()

	// A folder a user might have: a space and a percent sign, which
	// sbatch's #SBATCH lines and log file patterns read specially.
	dir := filepath.Join(t.TempDir(), "grid runs 100%x")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	runDir := filepath.Join(dir, "runs", "small")
	writeFile(t, filepath.Join(dir, "part.toml"), sourceOnly(demo))
	writeFile(t, filepath.Join(dir, "grid.toml"), slurmGrid(demo))
	if res := runGrid(t, dir, "run", "part.toml"); res.code != 0 {
		t.Fatalf("local run of the source: %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	phase("source run locally")
	dry := runGrid(t, dir, "submit", "--dry-run", "grid.toml")
	if dry.code != 0 || !strings.Contains(dry.stdout, "would submit 7 jobs") || !strings.Contains(dry.stdout, "--dependency=aftercorr:$TRAIN_0") {
		t.Fatalf("dry run: %d\n%s%s", dry.code, dry.stdout, dry.stderr)
	}
	if _, err := os.Stat(filepath.Join(runDir, "slurm")); err == nil {
		t.Fatal("the dry run wrote a submission")
	}

	first := submitGrid(t, dir)
	if len(first["train"]) != 1 || len(first["eval"]) != 2 || len(first["merge"]) != 1 {
		t.Fatalf("arrays of the first submission: %v", first)
	}
	phase("submitted")
	requeued, killed := disturbTwoTrainTasks(t, runDir, first["train"][0])
	phase("one task requeued, one killed")
	waitForSlurmJob(t, first["merge"][0])
	phase("first submission ended")

	// The killed task's job and the eval paired with it are pending; the
	// requeued task finished its job on its second attempt.
	rows := slurmStatus(t, dir)
	checkAfterDisturbance(t, rows, requeued, killed)

	shards, _ := filepath.Glob(filepath.Join(runDir, "shards", "001-*.db"))
	if len(shards) == 0 {
		t.Fatal("no shard was published")
	}
	half := filepath.Join(runDir, "shards", "999-train-0.db")
	copyPrefix(t, shards[0], half, 3000)
	st := runGrid(t, dir, "status", "grid.toml")
	if st.code != 0 || !strings.Contains(st.stderr, "skipped") || !strings.Contains(st.stdout, "requeued 1×") {
		t.Fatalf("status with a half-written shard (exit %d):\n%s%s", st.code, st.stdout, st.stderr)
	}
	os.Remove(half)

	dry = runGrid(t, dir, "submit", "--dry-run", "grid.toml")
	if !strings.Contains(dry.stdout, "would submit 2 jobs") {
		t.Fatalf("dry run of the resubmission:\n%s%s", dry.stdout, dry.stderr)
	}
	second := submitGrid(t, dir)
	// The second submission's tasks may already be running, or one may have
	// finished, by the time the third asks: what matters is that it submits
	// nothing and counts every job as either done or held by the queue.
	again := runGrid(t, dir, "submit", "grid.toml")
	if again.code != 0 || !nothingLeftToSubmit(again.stdout, 8) {
		t.Fatalf("a third submission while the second is queued:\n%s%s", again.stdout, again.stderr)
	}
	waitForSlurmJob(t, second["merge"][0])
	phase("second submission ended")

	run := runGrid(t, dir, "run", "grid.toml")
	if run.code != 0 || !strings.Contains(run.stdout, "0 done now, 8 done before") {
		t.Fatalf("local run after the cluster (exit %d):\n%s%s", run.code, run.stdout, run.stderr)
	}
	if rep := runGrid(t, dir, "report", "--plot", "grid.toml"); rep.code != 0 {
		t.Fatalf("report: %s", rep.stderr)
	}
	phase("local run and report")
	if res := <-refDone; res.code != 0 {
		t.Fatalf("reference run: %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	checkRanOnce(t, runDir)
	compareWithReference(t, runDir, filepath.Join(ref, "runs", "small"))
}

var nothingToSubmit = regexp.MustCompile(`nothing to submit: of (\d+) jobs, (\d+) are done and (\d+) queued`)

// nothingLeftToSubmit tells whether `grid submit` printed that it submitted
// nothing because each of the total jobs is done or queued.
func nothingLeftToSubmit(stdout string, total int) bool {
	m := nothingToSubmit.FindStringSubmatch(stdout)
	if m == nil {
		return false
	}
	all, _ := strconv.Atoi(m[1])
	done, _ := strconv.Atoi(m[2])
	queued, _ := strconv.Atoi(m[3])
	return all == total && done+queued == total
}

var arrayLine = regexp.MustCompile(`(?m)^\s+(train|eval|merge)\s+(\d+):`)

// submitGrid runs `grid submit` and returns the SLURM job IDs by stage.
func submitGrid(t *testing.T, dir string) map[string][]string {
	t.Helper()
	res := runGrid(t, dir, "submit", "grid.toml")
	if res.code != 0 {
		t.Fatalf("grid submit: %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	ids := map[string][]string{}
	for _, m := range arrayLine.FindAllStringSubmatch(res.stdout, -1) {
		ids[m[1]] = append(ids[m[1]], m[2])
	}
	return ids
}

// claimEntry is the latest claim of a job, as the array tasks write it.
type claimEntry struct {
	PID   int    `json:"pid"`
	Who   string `json:"who"`
	State string `json:"state"`
}

// claims reads every job's claim entries, in order.
func claims(t *testing.T, runDir string) map[string][]claimEntry {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(runDir, "jobs", "*", "claim", "*.json"))
	sort.Strings(files)
	out := map[string][]claimEntry{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var e claimEntry
		if json.Unmarshal(data, &e) == nil {
			job := filepath.Base(filepath.Dir(filepath.Dir(f)))
			out[job] = append(out[job], e)
		}
	}
	return out
}

// disturbTwoTrainTasks waits until a train task of the array is in the
// middle of a job (its attempt has started) and sends it
// SLURM's time-limit warning (SIGUSR1 to its batch shell); then, for
// another task in the middle of a job, SIGKILLs its grid process. It
// returns the jobs they were running.
func disturbTwoTrainTasks(t *testing.T, runDir, array string) (requeued, killed string) {
	t.Helper()
	job, claim := taskInTheMiddleOfAJob(t, runDir, array, "")
	task := strings.TrimPrefix(claim.Who, "slurm ")
	if out, err := exec.Command("scancel", "--batch", "--signal=USR1", task).CombinedOutput(); err != nil {
		t.Fatalf("scancel --signal=USR1 %s: %v %s", task, err, out)
	}
	other, claim := taskInTheMiddleOfAJob(t, runDir, array, task)
	if err := syscall.Kill(claim.PID, syscall.SIGKILL); err != nil {
		t.Fatalf("kill the task running %s: %v", other, err)
	}
	return job, other
}

// taskInTheMiddleOfAJob waits for a task of the array other than except to
// be in the middle of a job, and returns the job and its claim.
func taskInTheMiddleOfAJob(t *testing.T, runDir, array, except string) (string, claimEntry) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		for job, entries := range claims(t, runDir) {
			last := entries[len(entries)-1]
			task := strings.TrimPrefix(last.Who, "slurm ")
			if last.State == "running" && strings.HasPrefix(task, array+"_") && task != except && midJob(runDir, task) {
				return job, last
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no task of array %s but %q was ever in the middle of a job", array, except)
	return "", claimEntry{}
}

// midJob says whether an array task's log shows that its job's attempt
// has started: the job has its model to load, images to decode and
// sixteen epochs to train, a second or more, ahead of it.
func midJob(runDir, task string) bool {
	logs, _ := filepath.Glob(filepath.Join(runDir, "slurm", "*", "logs", "grid-small-train_"+task+".out"))
	for _, l := range logs {
		if data, err := os.ReadFile(l); err == nil && strings.Contains(string(data), " start ") {
			return true
		}
	}
	return false
}

// waitForSlurmJob waits until SLURM no longer runs or queues a job.
func waitForSlurmJob(t *testing.T, id string) {
	t.Helper()
	deadline := time.Now().Add(4 * time.Minute)
	for time.Now().Before(deadline) {
		out, err := exec.Command("scontrol", "show", "job", "-o", id).Output()
		state := regexp.MustCompile(`JobState=(\S+)`).FindSubmatch(out)
		if err != nil || state == nil {
			return
		}
		switch string(state[1]) {
		case "PENDING", "RUNNING", "REQUEUED", "CONFIGURING", "COMPLETING", "SUSPENDED":
			time.Sleep(300 * time.Millisecond)
			continue
		}
		return
	}
	out, _ := exec.Command("squeue").CombinedOutput()
	t.Fatalf("SLURM job %s did not end within 4 minutes:\n%s", id, out)
}

type slurmRow struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	State    string `json:"state"`
	Attempts int    `json:"attempts"`
	Deps     []string
	Slurm    *struct {
		ArrayTask string `json:"array_task"`
		State     string `json:"state"`
		Restarts  int    `json:"restarts"`
	} `json:"slurm"`
}

func slurmStatus(t *testing.T, dir string) map[string]slurmRow {
	t.Helper()
	res := runGrid(t, dir, "status", "--json", "grid.toml")
	var rows []slurmRow
	if res.code != 0 || json.Unmarshal([]byte(res.stdout), &rows) != nil {
		t.Fatalf("status --json: %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	out := map[string]slurmRow{}
	for _, r := range rows {
		out[r.ID] = r
	}
	return out
}

func checkAfterDisturbance(t *testing.T, rows map[string]slurmRow, requeued, killed string) {
	t.Helper()
	if r := rows[requeued]; r.State != "done" || r.Attempts != 2 || r.Slurm == nil || r.Slurm.Restarts != 1 || r.Slurm.State != "COMPLETED" {
		t.Errorf("requeued job %s: %s after %d attempts, SLURM %+v", r.Name, r.State, r.Attempts, r.Slurm)
	}
	if r := rows[killed]; r.State != "pending" || r.Slurm == nil || r.Slurm.State != "FAILED" {
		t.Errorf("killed job %s: %s, SLURM %+v", r.Name, r.State, r.Slurm)
	}
	for _, r := range rows {
		switch {
		case r.ID == killed || r.ID == requeued:
		case len(r.Deps) == 1 && r.Deps[0] == killed:
			if r.State != "pending" || r.Slurm == nil || r.Slurm.State != "CANCELLED" {
				t.Errorf("eval of the killed job %s: %s, SLURM %+v", r.Name, r.State, r.Slurm)
			}
		case r.State != "done":
			t.Errorf("%s is %s, SLURM %+v", r.Name, r.State, r.Slurm)
		}
	}
}

func copyPrefix(t *testing.T, src, dst string, n int) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data[:min(n, len(data)/2)], 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkRanOnce: each job's claim log says done exactly once, so no job
// ran to its end twice, whoever ran it.
func checkRanOnce(t *testing.T, runDir string) {
	t.Helper()
	all := claims(t, runDir)
	if len(all) != 8 {
		t.Errorf("%d jobs have claims, want 8", len(all))
	}
	for job, entries := range all {
		done := 0
		for _, e := range entries {
			if e.State == "done" {
				done++
			}
		}
		if done != 1 {
			t.Errorf("job %s finished %d times: %+v", job, done, entries)
		}
	}
}

// compareWithReference checks that both runs stored the same results:
// states, evaluations, prompts, harmonic means, and the loss curve of
// every job's last attempt.
func compareWithReference(t *testing.T, runDir, refDir string) {
	t.Helper()
	got, want := resultsOf(t, runDir), resultsOf(t, refDir)
	if len(got) != 8 || !reflect.DeepEqual(got, want) {
		t.Errorf("results differ from the local run's:\n got %v\nwant %v", got, want)
	}
}

func resultsOf(t *testing.T, runDir string) map[string]string {
	t.Helper()
	db, err := results.Open(filepath.Join(runDir, "grid.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	g, err := db.GridByName("small")
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := db.Jobs(g.ID)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, j := range jobs {
		evs, _ := db.Evaluations(j.ID)
		p, _ := db.Prompt(j.ID)
		ms, _ := db.Metrics(j.ID)
		losses := make([]string, len(ms))
		for i, m := range ms {
			losses[i] = fmt.Sprintf("%d:%.6g", m.Step, m.Loss)
		}
		hm := "-"
		if j.HarmonicMean != nil {
			hm = fmt.Sprint(*j.HarmonicMean)
		}
		out[j.Name] = fmt.Sprintf("%s evals=%+v prompt=%+v h=%s loss=%s", j.State, evs, p, hm, strings.Join(losses, ","))
	}
	return out
}
