package results

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/fomo-grid/grid/internal/study"
)

func trainSpec(id, dataset, variant string, labels map[string]string, experiments ...string) JobSpec {
	cfg, _ := json.Marshal(map[string]any{"kind": "train", "dataset": dataset, "classes": "base", "variant": variant, "n_ctx": 2, "seed": 1})
	lab, _ := json.Marshal(labels)
	return JobSpec{ID: id, Name: "exp/" + dataset + "/" + id + "/train", Kind: study.KindTrain, Config: cfg, Labels: lab, Experiments: experiments}
}

func evalSpec(id, source, dataset, classes string, experiments ...string) JobSpec {
	cfg, _ := json.Marshal(map[string]any{"kind": "eval", "dataset": dataset, "classes": classes, "variant": "full", "source": source})
	return JobSpec{ID: id, Name: "exp/" + dataset + "/" + id + "/eval", Kind: study.KindEval, Config: cfg, Deps: []string{source}, Experiments: experiments}
}

func mustGrid(t *testing.T, db *DB, name string) int64 {
	t.Helper()
	id, err := db.UpsertGrid(name, name+".toml", "")
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func mustSync(t *testing.T, db *DB, grid int64, jobs ...JobSpec) int {
	t.Helper()
	n, err := db.SyncJobs(grid, jobs)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func mustJob(t *testing.T, db *DB, id string) Job {
	t.Helper()
	j, err := db.Job(id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func ids(jobs []Job) []string {
	var out []string
	for _, j := range jobs {
		out = append(out, j.ID)
	}
	return out
}

func TestSyncJobsInsertsOnceAndKeepsStates(t *testing.T) {
	db := openTemp(t)
	g := mustGrid(t, db, "sweep")
	a := trainSpec("a", "eurosat", "full", map[string]string{"n_ctx": "2"}, "grid")
	aNew := evalSpec("a-new", "a", "eurosat", "new", "grid")
	b := trainSpec("b", "dtd", "full", map[string]string{"n_ctx": "2"}, "grid")

	if n := mustSync(t, db, g, a, aNew, b); n != 3 {
		t.Fatalf("first sync added %d jobs, want 3", n)
	}
	if _, err := db.StartAttempt("a", "w1"); err != nil {
		t.Fatal(err)
	}
	if err := db.CompleteJob("a", Completion{Evaluations: []Evaluation{{Split: study.ClassesBase, Dataset: "eurosat", Total: 10, Correct: 9, Accuracy: 90, MacroF1: 88}}}); err != nil {
		t.Fatal(err)
	}

	// Re-run with the same jobs, a relabelled b, a new c, in another order.
	b.Labels = json.RawMessage(`{"n_ctx":"2","epochs":"8"}`)
	c := trainSpec("c", "dtd", "nofilter", map[string]string{"variant": "nofilter"}, "abla")
	if n := mustSync(t, db, g, c, b, a, aNew); n != 1 {
		t.Fatalf("second sync added %d jobs, want 1", n)
	}
	jobs, err := db.Jobs(g)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(jobs), []string{"c", "b", "a", "a-new"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("jobs in order %v, want %v", got, want)
	}
	var count int
	if err := db.sql.QueryRow(`SELECT count(*) FROM jobs`).Scan(&count); err != nil || count != 4 {
		t.Fatalf("%d job rows after two syncs (err %v), want 4", count, err)
	}
	byID := map[string]Job{}
	for _, j := range jobs {
		byID[j.ID] = j
	}
	if j := byID["a"]; j.State != StateDone || j.Attempts != 1 || j.Worker != "w1" {
		t.Errorf("done job after re-sync: state %s, attempts %d, worker %q", j.State, j.Attempts, j.Worker)
	}
	if j := byID["b"]; j.State != StatePending || string(j.Labels) != `{"n_ctx":"2","epochs":"8"}` {
		t.Errorf("pending job after re-sync: state %s, labels %s", j.State, j.Labels)
	}
	if got := byID["a-new"].Deps; !reflect.DeepEqual(got, []string{"a"}) {
		t.Errorf("deps of a-new = %v", got)
	}
	if got := byID["c"].Experiments; !reflect.DeepEqual(got, []string{"abla"}) {
		t.Errorf("experiments of c = %v", got)
	}
	counts, err := db.StateCounts(g)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[JobState]int{StateDone: 1, StatePending: 3}; !reflect.DeepEqual(counts, want) {
		t.Errorf("state counts %v, want %v", counts, want)
	}
}

func TestSyncJobsUnlinksRemovedJobsButKeepsThem(t *testing.T) {
	db := openTemp(t)
	g := mustGrid(t, db, "sweep")
	mustSync(t, db, g, trainSpec("a", "eurosat", "full", nil), trainSpec("b", "dtd", "full", nil))
	mustSync(t, db, g, trainSpec("a", "eurosat", "full", nil))
	jobs, err := db.Jobs(g)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(jobs); !reflect.DeepEqual(got, []string{"a"}) {
		t.Errorf("grid jobs after dropping b: %v", got)
	}
	if j := mustJob(t, db, "b"); j.State != StatePending {
		t.Errorf("dropped job b: state %s", j.State)
	}
}

func TestJobSharedByTwoGrids(t *testing.T) {
	db := openTemp(t)
	g1, g2 := mustGrid(t, db, "one"), mustGrid(t, db, "two")
	mustSync(t, db, g1, trainSpec("a", "eurosat", "full", nil, "grid"))
	if n := mustSync(t, db, g2, trainSpec("a", "eurosat", "full", nil, "abla", "best")); n != 0 {
		t.Errorf("second grid re-added a shared job (%d)", n)
	}
	if got := mustJob(t, db, "a").Experiments; !reflect.DeepEqual(got, []string{"abla", "best", "grid"}) {
		t.Errorf("experiments over both grids: %v", got)
	}
	jobs, err := db.Jobs(g1)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(jobs[0].Experiments, []string{"grid"}) {
		t.Errorf("experiments within grid one: %v", jobs[0].Experiments)
	}
}

func TestSyncJobsRejectsBadInput(t *testing.T) {
	db := openTemp(t)
	g := mustGrid(t, db, "sweep")
	good := trainSpec("a", "eurosat", "full", nil)
	badKind := good
	badKind.ID, badKind.Kind = "k", "test"
	badConfig := good
	badConfig.ID, badConfig.Config = "c", json.RawMessage(`[1,2]`)
	badLabels := good
	badLabels.ID, badLabels.Labels = "l", json.RawMessage(`"x"`)
	cases := []struct {
		name string
		jobs []JobSpec
		want string
	}{
		{"missing dependency", []JobSpec{evalSpec("e", "nowhere", "eurosat", "new")}, "nowhere"},
		{"duplicate", []JobSpec{good, good}, "listed twice"},
		{"kind", []JobSpec{badKind}, `kind "test"`},
		{"config", []JobSpec{badConfig}, "config"},
		{"labels", []JobSpec{badLabels}, "labels"},
		{"unknown grid", nil, "not found"},
	}
	for _, c := range cases {
		grid := g
		if c.name == "unknown grid" {
			grid = 999
		}
		_, err := db.SyncJobs(grid, c.jobs)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want one mentioning %q", c.name, err, c.want)
		}
	}
	// A failed sync stores nothing.
	jobs, err := db.Jobs(g)
	if err != nil || len(jobs) != 0 {
		t.Errorf("jobs after failed syncs: %v (err %v)", ids(jobs), err)
	}
	// A job keeps its kind.
	mustSync(t, db, g, good)
	asEval := good
	asEval.Kind = study.KindEval
	if _, err := db.SyncJobs(g, []JobSpec{asEval}); err == nil || !strings.Contains(err.Error(), "stored as a train job") {
		t.Errorf("kind change: err %v", err)
	}
}

func TestAttemptLifecycle(t *testing.T) {
	db := openTemp(t)
	g := mustGrid(t, db, "sweep")
	mustSync(t, db, g, trainSpec("a", "eurosat", "full", nil))

	attempt, err := db.StartAttempt("a", "worker-1")
	if err != nil || attempt != 1 {
		t.Fatalf("first attempt = %d, %v", attempt, err)
	}
	j := mustJob(t, db, "a")
	if j.State != StateRunning || j.Attempts != 1 || j.Worker != "worker-1" || j.Started == nil || j.Finished != nil {
		t.Fatalf("after start: %+v", j)
	}
	if _, err := db.StartAttempt("a", "worker-2"); err == nil || !strings.Contains(err.Error(), "running") {
		t.Errorf("starting a running job: err %v", err)
	}
	if err := db.AddMetrics("a", 1, []Metric{{Step: 0, Loss: 2.5}, {Step: 1, Loss: 2.0}, {Step: 2, Loss: 1.5}}); err != nil {
		t.Fatal(err)
	}
	if err := db.FailAttempt("a", "worker crashed: signal: killed", false); err != nil {
		t.Fatal(err)
	}
	j = mustJob(t, db, "a")
	if j.State != StatePending || j.Error != "worker crashed: signal: killed" || j.Finished == nil {
		t.Fatalf("after retryable failure: %+v", j)
	}

	if attempt, err = db.StartAttempt("a", "worker-2"); err != nil || attempt != 2 {
		t.Fatalf("second attempt = %d, %v", attempt, err)
	}
	if err := db.AddMetrics("a", 2, []Metric{{Step: 0, Epoch: 0, Loss: 3, BatchLoss: 3, LR: 1e-5, Prompt: "a photo"}, {Step: 1, Epoch: 0, Loss: 2.9}}); err != nil {
		t.Fatal(err)
	}
	ms, err := db.Metrics("a")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].Attempt != 2 || ms[0].Loss != 3 || ms[0].LR != 1e-5 || ms[0].Prompt != "a photo" || ms[1].Loss != 2.9 {
		t.Fatalf("metrics of latest attempt: %+v", ms)
	}
	if err := db.FailAttempt("a", "out of memory", true); err != nil {
		t.Fatal(err)
	}
	if j := mustJob(t, db, "a"); j.State != StateFailed || j.Error != "out of memory" || j.StateText() != "failed after 2 attempts" {
		t.Fatalf("after final failure: %+v (%s)", j, j.StateText())
	}
	if _, err := db.StartAttempt("a", "w"); err == nil {
		t.Error("started a failed job")
	}

	n, err := db.ResetFailed(g)
	if err != nil || n != 1 {
		t.Fatalf("ResetFailed = %d, %v", n, err)
	}
	if j := mustJob(t, db, "a"); j.State != StatePending || j.Attempts != 0 || j.Error != "out of memory" {
		t.Fatalf("after ResetFailed: %+v", j)
	}
	// The attempt number 1 is reused: the curves of the old attempts 1 and
	// 2 must not leak into the new run's.
	if attempt, err = db.StartAttempt("a", "w"); err != nil || attempt != 1 {
		t.Fatalf("attempt after reset = %d, %v", attempt, err)
	}
	if ms, err := db.Metrics("a"); err != nil || len(ms) != 0 {
		t.Fatalf("metrics right after restart: %+v, %v", ms, err)
	}
	if err := db.AddMetrics("a", 1, []Metric{{Step: 0, Loss: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := db.CompleteJob("a", Completion{Prompt: &Prompt{TokenIDs: []int{320, 1125}, Text: "a photo"}}); err != nil {
		t.Fatal(err)
	}
	j = mustJob(t, db, "a")
	if j.State != StateDone || j.Error != "" || j.Finished == nil {
		t.Fatalf("after completion: %+v", j)
	}
	if n, err := db.ResetFailed(g); err != nil || n != 0 {
		t.Errorf("ResetFailed touched a done job: %d, %v", n, err)
	}
}

func TestUnknownJob(t *testing.T) {
	db := openTemp(t)
	if _, err := db.Job("x"); !isNotFound(err) {
		t.Errorf("Job: %v", err)
	}
	if _, err := db.StartAttempt("x", ""); !isNotFound(err) {
		t.Errorf("StartAttempt: %v", err)
	}
	if err := db.AddMetrics("x", 1, []Metric{{Step: 0}}); !isNotFound(err) {
		t.Errorf("AddMetrics: %v", err)
	}
	if err := db.CompleteJob("x", Completion{}); !isNotFound(err) {
		t.Errorf("CompleteJob: %v", err)
	}
	if err := db.FailAttempt("x", "r", true); !isNotFound(err) {
		t.Errorf("FailAttempt: %v", err)
	}
}

func TestMetricsStoreNaNAsMissing(t *testing.T) {
	db := openTemp(t)
	g := mustGrid(t, db, "sweep")
	mustSync(t, db, g, trainSpec("a", "eurosat", "full", nil))
	if _, err := db.StartAttempt("a", ""); err != nil {
		t.Fatal(err)
	}
	if err := db.AddMetrics("a", 1, []Metric{{Step: 0, Loss: math.NaN(), BatchLoss: math.Inf(1), LR: 0.002}}); err != nil {
		t.Fatal(err)
	}
	// Storing a step again replaces it.
	if err := db.AddMetrics("a", 1, []Metric{{Step: 1, Loss: 2}, {Step: 1, Loss: 1.75}}); err != nil {
		t.Fatal(err)
	}
	ms, err := db.Metrics("a")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || !math.IsNaN(ms[0].Loss) || !math.IsNaN(ms[0].BatchLoss) || ms[0].LR != 0.002 || ms[1].Loss != 1.75 {
		t.Fatalf("metrics: %+v", ms)
	}
}

func TestCompleteJobIsAtomic(t *testing.T) {
	db := openTemp(t)
	g := mustGrid(t, db, "sweep")
	mustSync(t, db, g, trainSpec("a", "eurosat", "full", nil))
	if _, err := db.StartAttempt("a", ""); err != nil {
		t.Fatal(err)
	}
	good := Evaluation{Split: study.ClassesBase, Dataset: "eurosat", Total: 100, Correct: 90, Accuracy: 90, MacroF1: 89.5}
	checkpoint := Artifact{Kind: ArtifactCheckpoint, Path: "ckpt/a.safetensors", Bytes: 1024, SHA256: strings.Repeat("ab", 32)}
	prompt := &Prompt{TokenIDs: []int{1, 2}, Text: "x y"}
	bad := []struct {
		name string
		c    Completion
		want string
	}{
		{"correct > total", Completion{Evaluations: []Evaluation{good, {Split: study.ClassesNew, Dataset: "eurosat", Total: 10, Correct: 11, Accuracy: 50, MacroF1: 50}}, Prompt: prompt, Artifacts: []Artifact{checkpoint}}, "evaluation 1"},
		{"NaN accuracy", Completion{Evaluations: []Evaluation{good, {Split: study.ClassesNew, Dataset: "eurosat", Total: 10, Correct: 5, Accuracy: math.NaN(), MacroF1: 50}}, Prompt: prompt}, "evaluation 1"},
		{"unknown split", Completion{Evaluations: []Evaluation{{Split: "val", Dataset: "eurosat", Total: 1, Correct: 1, Accuracy: 100, MacroF1: 100}}}, "evaluation 0"},
		{"bad checksum", Completion{Evaluations: []Evaluation{good}, Prompt: prompt, Artifacts: []Artifact{checkpoint, {Kind: ArtifactCheckpoint, Path: "b", Bytes: 1, SHA256: "ABC"}}}, "artifact 1"},
	}
	for _, c := range bad {
		err := db.CompleteJob("a", c.c)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want one naming %q", c.name, err, c.want)
		}
		evals, _ := db.Evaluations("a")
		p, _ := db.Prompt("a")
		arts, _ := db.Artifacts("a")
		if len(evals) != 0 || p != nil || len(arts) != 0 {
			t.Errorf("%s: partial completion stored: %v %v %v", c.name, evals, p, arts)
		}
		if j := mustJob(t, db, "a"); j.State != StateRunning {
			t.Errorf("%s: state %s after a rejected completion", c.name, j.State)
		}
	}

	if err := db.CompleteJob("a", Completion{Evaluations: []Evaluation{good}, Prompt: prompt, Artifacts: []Artifact{checkpoint}}); err != nil {
		t.Fatal(err)
	}
	evals, err := db.Evaluations("a")
	if err != nil || !reflect.DeepEqual(evals, []Evaluation{good}) {
		t.Errorf("evaluations %+v, %v", evals, err)
	}
	p, err := db.Prompt("a")
	if err != nil || !reflect.DeepEqual(p, prompt) {
		t.Errorf("prompt %+v, %v", p, err)
	}
	arts, err := db.Artifacts("a")
	if err != nil || !reflect.DeepEqual(arts, []Artifact{checkpoint}) {
		t.Errorf("artifacts %+v, %v", arts, err)
	}
}

func TestResetRunningOnlyTouchesTheGrid(t *testing.T) {
	db := openTemp(t)
	g1, g2 := mustGrid(t, db, "one"), mustGrid(t, db, "two")
	mustSync(t, db, g1, trainSpec("a", "eurosat", "full", nil), trainSpec("b", "dtd", "full", nil), trainSpec("c", "ucf101", "full", nil))
	mustSync(t, db, g2, trainSpec("z", "eurosat", "noshared", nil))
	for _, id := range []string{"a", "b", "c", "z"} {
		if _, err := db.StartAttempt(id, "w"); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.CompleteJob("c", Completion{}); err != nil {
		t.Fatal(err)
	}
	n, err := db.ResetRunning(g1, "interrupted: the orchestrator stopped")
	if err != nil || n != 2 {
		t.Fatalf("ResetRunning = %d, %v; want 2", n, err)
	}
	for _, id := range []string{"a", "b"} {
		j := mustJob(t, db, id)
		if j.State != StatePending || j.Attempts != 1 || !strings.Contains(j.Error, "interrupted") {
			t.Errorf("%s after reset: %+v", id, j)
		}
	}
	if j := mustJob(t, db, "c"); j.State != StateDone {
		t.Errorf("done job reset: %s", j.State)
	}
	if j := mustJob(t, db, "z"); j.State != StateRunning {
		t.Errorf("job of another grid reset: %s", j.State)
	}
	if a, err := db.StartAttempt("a", "w"); err != nil || a != 2 {
		t.Errorf("attempt after an interrupted one = %d, %v; want 2", a, err)
	}
}

func TestHarmonicMean(t *testing.T) {
	// Grid bests from fomo's grid.ipynb (spec §6.3): Base, New, H.
	for _, c := range [][3]float64{{73.78, 70.1, 71.89}, {89.21, 79.9, 84.30}, {32.95, 35.9, 34.36}} {
		if got := HarmonicMean(c[0], c[1]); math.Abs(got-c[2]) > 0.005 {
			t.Errorf("HarmonicMean(%v, %v) = %.4f, want %.2f", c[0], c[1], got, c[2])
		}
	}
	if got := HarmonicMean(0, 0); got != 0 {
		t.Errorf("HarmonicMean(0, 0) = %v", got)
	}
}

func complete(t *testing.T, db *DB, id string, c Completion) {
	t.Helper()
	if _, err := db.StartAttempt(id, "w"); err != nil {
		t.Fatal(err)
	}
	if err := db.CompleteJob(id, c); err != nil {
		t.Fatal(err)
	}
}

func eval(split study.Classes, dataset string, acc, f1 float64) Evaluation {
	return Evaluation{Split: split, Dataset: dataset, Total: 1000, Correct: int(acc * 10), Accuracy: acc, MacroF1: f1}
}

func TestGridEvaluationsAndPrompts(t *testing.T) {
	db := openTemp(t)
	g := mustGrid(t, db, "sweep")
	other := mustGrid(t, db, "other")
	mustSync(t, db, g,
		trainSpec("a", "eurosat", "full", map[string]string{"n_ctx": "4"}),
		evalSpec("a-new", "a", "eurosat", "new"),
		evalSpec("a-dtd", "a", "dtd", "all"),
		evalSpec("a-caltech", "a", "caltech101", "all"),
		trainSpec("b", "eurosat", "noshared", map[string]string{"variant": "noshared"}),
		evalSpec("b-new", "b", "eurosat", "new"),
		trainSpec("c", "dtd", "", nil),
	)
	// An eval job of a in another grid is not part of this grid's report.
	mustSync(t, db, other, evalSpec("a-pets", "a", "oxford_pets", "all"))

	complete(t, db, "a", Completion{Evaluations: []Evaluation{eval(study.ClassesBase, "eurosat", 89.21, 88)}, Prompt: &Prompt{TokenIDs: []int{5, 6, 7}, Text: "increased underdog gihc"}})
	complete(t, db, "a-new", Completion{Evaluations: []Evaluation{eval(study.ClassesNew, "eurosat", 79.9, 77)}})
	complete(t, db, "a-dtd", Completion{Evaluations: []Evaluation{eval(study.ClassesAll, "dtd", 42.5, 40)}})
	complete(t, db, "b", Completion{Evaluations: []Evaluation{eval(study.ClassesBase, "eurosat", 76, 75)}})
	if _, err := db.StartAttempt("b-new", "w"); err != nil {
		t.Fatal(err)
	}
	if err := db.FailAttempt("b-new", "checkpoint missing", true); err != nil {
		t.Fatal(err)
	}

	evals, err := db.GridEvaluations(g)
	if err != nil {
		t.Fatal(err)
	}
	if len(evals) != 4 {
		t.Errorf("evaluations of %d jobs, want 4 (a, a-new, a-dtd, b): %v", len(evals), evals)
	}
	if e := evals["a"]; len(e) != 1 || e[0].Split != study.ClassesBase || e[0].Accuracy != 89.21 {
		t.Errorf("evaluations of a: %+v", e)
	}
	if e := evals["a-new"]; len(e) != 1 || e[0].Split != study.ClassesNew || e[0].Accuracy != 79.9 || e[0].MacroF1 != 77 {
		t.Errorf("evaluations of a-new: %+v", e)
	}
	if _, ok := evals["b-new"]; ok {
		t.Error("a failed job has evaluations")
	}
	prompts, err := db.GridPrompts(g)
	if err != nil {
		t.Fatal(err)
	}
	if len(prompts) != 1 || prompts["a"] == nil || prompts["a"].Text != "increased underdog gihc" || len(prompts["a"].TokenIDs) != 3 {
		t.Errorf("prompts %+v, want a's only", prompts)
	}
	// The other grid's eval of a is not this grid's.
	if other, err := db.GridEvaluations(other); err != nil || len(other) != 0 {
		t.Errorf("other grid: %v %v", other, err)
	}
	if h := HarmonicMean(89.21, 79.9); math.Abs(h-84.30) > 0.005 {
		t.Errorf("HarmonicMean = %v", h)
	}
}

func TestDeviceUsageIsStoredWithTheJob(t *testing.T) {
	db := openTemp(t)
	g := mustGrid(t, db, "gpu")
	mustSync(t, db, g, trainSpec("a", "eurosat", "full", nil), trainSpec("b", "dtd", "full", nil))
	complete(t, db, "a", Completion{Evaluations: []Evaluation{eval(study.ClassesBase, "eurosat", 70, 69)},
		Device: "cuda:1 NVIDIA H200", PeakMemory: 3 << 30})
	complete(t, db, "b", Completion{Evaluations: []Evaluation{eval(study.ClassesBase, "dtd", 50, 49)}})
	a, err := db.Job("a")
	if err != nil {
		t.Fatal(err)
	}
	if a.Device != "cuda:1 NVIDIA H200" || a.PeakMemory != 3<<30 {
		t.Errorf("job a: device %q, %d bytes", a.Device, a.PeakMemory)
	}
	b, err := db.Job("b")
	if err != nil {
		t.Fatal(err)
	}
	if b.Device != "" || b.PeakMemory != 0 {
		t.Errorf("job b measured nothing but reads device %q, %d bytes", b.Device, b.PeakMemory)
	}
	var nulls int
	if err := db.sql.QueryRow(`SELECT count(*) FROM jobs WHERE id = 'b' AND device IS NULL AND peak_memory IS NULL`).Scan(&nulls); err != nil || nulls != 1 {
		t.Errorf("an unmeasured job stores NULLs: %d rows (%v)", nulls, err)
	}
}

// A SLURM array task's GPU job keeps its device and memory when its shard
// is merged into the run database.
func TestDeviceUsageSurvivesAShardMerge(t *testing.T) {
	db := openTemp(t)
	train := trainSpec("t", "eurosat", "full", nil)
	mustSync(t, db, mustGrid(t, db, "sweep"), train)
	sh := newShard(t, train)
	if _, err := sh.StartAttempt("t", "slurm 7_1"); err != nil {
		t.Fatal(err)
	}
	if err := sh.CompleteJob("t", Completion{Evaluations: []Evaluation{eval(study.ClassesBase, "eurosat", 70, 69)},
		Device: "cuda:0 NVIDIA H100", PeakMemory: 5 << 30}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.MergeShard(publish(t, sh, t.TempDir(), "s-0.db")); err != nil {
		t.Fatal(err)
	}
	if j := mustJob(t, db, "t"); j.Device != "cuda:0 NVIDIA H100" || j.PeakMemory != 5<<30 {
		t.Errorf("after the merge: device %q, %d bytes", j.Device, j.PeakMemory)
	}
}
