package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestEvalResultFormat(t *testing.T) {
	for n, want := range map[int]string{
		0: "0", 7: "7", 999: "999", 1000: "1,000", 1410: "1,410", 50000: "50,000",
		1234567: "1,234,567", -1234: "-1,234",
	} {
		if got := formatCount(n); got != want {
			t.Errorf("formatCount(%d) = %q, want %q", n, got, want)
		}
	}
	// The example of reference semantics §5.1: 1,070 of 1,410 right.
	var b bytes.Buffer
	writeEvalResult(&b, 1410, 1070, 100*1070.0/1410, 70.8)
	want := "=> result\n* total: 1,410\n* correct: 1,070\n* accuracy: 75.9%\n* error: 24.1%\n* macro_f1: 70.8%\n"
	if b.String() != want {
		t.Errorf("result block:\n%s\nwant:\n%s", b.String(), want)
	}
	// Python's .1f rounds the exact binary value: 0.25 -> 0.2, 0.35 -> 0.3
	// (0.35 is stored just below), 99.95 -> 100.0 (stored just above).
	b.Reset()
	writeEvalResult(&b, 4, 0, 0.25, 0.35)
	if !strings.Contains(b.String(), "* accuracy: 0.2%\n* error: 99.8%\n* macro_f1: 0.3%\n") {
		t.Errorf("rounding:\n%s", b.String())
	}
}

// evalTestEnv is a built grid binary and a directory holding the demo.
type evalTestEnv struct {
	bin, dir, cache string
}

// evalTestBinary builds the grid binary into a directory removed when t
// ends; the subtests of one test share it.
func evalTestBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "grid")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// run runs the binary in the environment's directory and returns its stdout,
// stderr and exit status.
func (e evalTestEnv) run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(e.bin, args...)
	cmd.Dir = e.dir
	cmd.Env = append(os.Environ(), "GRID_CACHE_DIR="+e.cache)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return stdout.String(), stderr.String(), exit.ExitCode()
	case err != nil:
		t.Fatalf("grid %s: %v", strings.Join(args, " "), err)
	}
	return stdout.String(), stderr.String(), 0
}

// mustRun runs the binary and fails the test unless it exits 0.
func (e evalTestEnv) mustRun(t *testing.T, args ...string) string {
	t.Helper()
	stdout, stderr, code := e.run(t, args...)
	if code != 0 {
		t.Fatalf("grid %s: exit %d\nstderr: %s", strings.Join(args, " "), code, stderr)
	}
	return stdout
}

// evalTestResult is the parsed result block.
type evalTestResult struct {
	total, correct             int
	accuracy, errRate, macroF1 string // as printed, without "%"
}

// evalTestParse parses the reference's result block and checks that its
// numbers agree with each other.
func evalTestParse(t *testing.T, out string) evalTestResult {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	keys := []string{"total", "correct", "accuracy", "error", "macro_f1"}
	if len(lines) != 1+len(keys) || lines[0] != "=> result" {
		t.Fatalf("not a result block:\n%s", out)
	}
	values := make([]string, len(keys))
	for i, key := range keys {
		v, ok := strings.CutPrefix(lines[1+i], "* "+key+": ")
		if !ok {
			t.Fatalf("line %d is %q, want \"* %s: ...\"", i+2, lines[1+i], key)
		}
		if i >= 2 {
			if v, ok = strings.CutSuffix(v, "%"); !ok {
				t.Fatalf("%s %q has no %%", key, lines[1+i])
			}
		}
		values[i] = v
	}
	count := func(s string) int {
		n, err := strconv.Atoi(strings.ReplaceAll(s, ",", ""))
		if err != nil {
			t.Fatalf("count %q: %v", s, err)
		}
		return n
	}
	r := evalTestResult{total: count(values[0]), correct: count(values[1]), accuracy: values[2], errRate: values[3], macroF1: values[4]}
	acc := 100 * float64(r.correct) / float64(r.total)
	if want := fmt.Sprintf("%.1f", acc); r.accuracy != want {
		t.Errorf("accuracy %s%%, but 100·%d/%d is %s", r.accuracy, r.correct, r.total, want)
	}
	if want := fmt.Sprintf("%.1f", 100-acc); r.errRate != want {
		t.Errorf("error %s%%, want %s", r.errRate, want)
	}
	return r
}

// evalTestSplit reads the demo's CoOp split file: the test images in order.
func evalTestSplit(t *testing.T, dataRoot string) (paths []string, labels []int) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dataRoot, "demo", "split_zhou_Demo.json"))
	if err != nil {
		t.Fatal(err)
	}
	var split struct{ Test [][3]any }
	if err := json.Unmarshal(raw, &split); err != nil {
		t.Fatal(err)
	}
	for _, it := range split.Test {
		paths = append(paths, "images/"+it[0].(string))
		labels = append(labels, int(it[1].(float64)))
	}
	return paths, labels
}

func evalTestReadCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rows
}

// evalTestMetrics recomputes correct and macro-F1 (percent) from a logits
// CSV: prediction = argmax of a row, F1 averaged over the true labels.
func evalTestMetrics(t *testing.T, rows [][]string) (correct int, macroF1 float64) {
	t.Helper()
	tp, predicted, actual := map[int]int{}, map[int]int{}, map[int]int{}
	for i, row := range rows[1:] {
		label, err := strconv.Atoi(row[1])
		if err != nil {
			t.Fatalf("row %d label: %v", i+1, err)
		}
		best, bestLogit := -1, math.Inf(-1)
		for c, s := range row[2:] {
			v, err := strconv.ParseFloat(s, 32)
			if err != nil {
				t.Fatalf("row %d logit %d: %v", i+1, c, err)
			}
			if v > bestLogit {
				best, bestLogit = c, v
			}
		}
		actual[label]++
		predicted[best]++
		if best == label {
			correct++
			tp[label]++
		}
	}
	for y, n := range actual {
		p, r := 0.0, float64(tp[y])/float64(n)
		if predicted[y] > 0 {
			p = float64(tp[y]) / float64(predicted[y])
		}
		if p+r > 0 {
			macroF1 += 2 * p * r / (p + r)
		}
	}
	return correct, 100 * macroF1 / float64(len(actual))
}

func TestEvalCommand(t *testing.T) {
	dir := t.TempDir()
	env := evalTestEnv{bin: evalTestBinary(t), dir: dir, cache: filepath.Join(dir, "cache")}
	// The shared demo (pre-training its model takes a while), read only.
	if err := os.Symlink(demoAssets(t), filepath.Join(dir, "d")); err != nil {
		t.Fatal(err)
	}
	demoArgs := []string{"--model", "d/model", "--data-root", "d/data", "--dataset", "demo"}
	args := func(extra ...string) []string {
		return append(append([]string{"eval"}, demoArgs...), extra...)
	}

	t.Run("prompt", func(t *testing.T) {
		first := env.mustRun(t, args("--prompt", "a photo of a", "--logits", "out/first.csv")...)
		second := env.mustRun(t, args("--prompt", "a photo of a", "--logits", "out/second.csv")...)
		if first != second {
			t.Errorf("same eval twice printed\n%s\nthen\n%s", first, second)
		}
		a, _ := os.ReadFile(filepath.Join(dir, "out/first.csv"))
		b, _ := os.ReadFile(filepath.Join(dir, "out/second.csv"))
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("same eval twice wrote different logits (%d and %d bytes)", len(a), len(b))
		}
		res := evalTestParse(t, first)
		if res.total != 400 {
			t.Errorf("total %d, want 400 (8 demo classes × 50 test images)", res.total)
		}

		rows := evalTestReadCSV(t, filepath.Join(dir, "out/first.csv"))
		wantHeader := []string{"path", "label", "square", "dots", "cross", "diamond", "circle", "stripes", "triangle", "star"}
		if strings.Join(rows[0], ",") != strings.Join(wantHeader, ",") {
			t.Errorf("header %q, want %q", rows[0], wantHeader)
		}
		paths, labels := evalTestSplit(t, filepath.Join(dir, "d/data"))
		if len(rows)-1 != len(paths) {
			t.Fatalf("%d rows, want one per test image (%d)", len(rows)-1, len(paths))
		}
		for i, row := range rows[1:] {
			if len(row) != len(wantHeader) || row[0] != paths[i] || row[1] != strconv.Itoa(labels[i]) {
				t.Fatalf("row %d = %q, want %s,%d and 8 logits", i+1, row, paths[i], labels[i])
			}
		}
		correct, macroF1 := evalTestMetrics(t, rows)
		if correct != res.correct {
			t.Errorf("argmax of the logits gets %d right, eval printed %d", correct, res.correct)
		}
		if want := fmt.Sprintf("%.1f", macroF1); res.macroF1 != want {
			t.Errorf("macro_f1 %s%%, the logits give %s", res.macroF1, want)
		}

		// The prompt is what the text side reads: another one moves the logits.
		env.mustRun(t, args("--prompt", "a drawing of a", "--logits", "out/other.csv")...)
		if other, _ := os.ReadFile(filepath.Join(dir, "out/other.csv")); bytes.Equal(a, other) {
			t.Error("--prompt \"a drawing of a\" gave the logits of \"a photo of a\"")
		}

		var out evalOutput
		if err := json.Unmarshal([]byte(env.mustRun(t, args("--prompt", "a photo of a", "--json")...)), &out); err != nil {
			t.Fatal(err)
		}
		if out.Total != res.total || out.Correct != res.correct || fmt.Sprintf("%.1f", out.MacroF1) != res.macroF1 ||
			out.Accuracy != 100*float64(out.Correct)/float64(out.Total) || out.ErrorRate != 100-out.Accuracy ||
			out.Dataset != "demo" || out.Classes != "all" || out.Prompt != "a photo of a" || out.Variant != "full" ||
			!filepath.IsAbs(out.Model) {
			t.Errorf("--json printed %+v; text said %+v", out, res)
		}
	})

	t.Run("base classes", func(t *testing.T) {
		stdout := env.mustRun(t, args("--classes", "base", "--prompt", "a photo of a", "--logits", "out/base.csv")...)
		if res := evalTestParse(t, stdout); res.total != 200 {
			t.Errorf("total %d, want 200 (4 base classes × 50)", res.total)
		}
		rows := evalTestReadCSV(t, filepath.Join(dir, "out/base.csv"))
		if strings.Join(rows[0], ",") != "path,label,square,dots,cross,diamond" || len(rows) != 201 {
			t.Errorf("base classes: header %q and %d rows", rows[0], len(rows)-1)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			args []string
			want []string
		}{
			{"unknown dataset", []string{"eval", "--model", "d/model", "--data-root", "d/data", "--dataset", "nosuch", "--prompt", "a photo of a"}, []string{`unknown dataset "nosuch"`}},
			{"missing model", []string{"eval", "--model", "d/nomodel", "--data-root", "d/data", "--dataset", "demo", "--prompt", "a"}, []string{"--model d/nomodel", "no such directory"}},
			{"missing data root", []string{"eval", "--model", "d/model", "--data-root", "nodata", "--dataset", "demo", "--prompt", "a"}, []string{"--data-root nodata", "no such directory"}},
			{"prompt and checkpoint", args("--prompt", "a photo of a", "--checkpoint", "x.safetensors"), []string{"--prompt and --checkpoint"}},
			{"nothing to test", args(), []string{"--prompt TEXT, --checkpoint FILE or --job ID"}},
			{"empty prompt", args("--prompt", " "), []string{"--prompt is empty"}},
			{"missing checkpoint", args("--checkpoint", "none.safetensors"), []string{"--checkpoint none.safetensors", "no such file"}},
			{"bad classes", args("--classes", "half", "--prompt", "a"), []string{`--classes "half"`}},
			{"no dataset", []string{"eval", "--model", "d/model", "--data-root", "d/data", "--prompt", "a"}, []string{"--dataset is required"}},
			{"grid file without job", args("--prompt", "a", "g.toml"), []string{"only with --job"}},
			{"model without weights", []string{"eval", "--model", "d/data", "--data-root", "d/data", "--dataset", "demo", "--prompt", "a"}, []string{"model.safetensors"}},
		} {
			stdout, stderr, code := env.run(t, tc.args...)
			if code != 1 || stdout != "" {
				t.Errorf("%s: exit %d, stdout %q; want exit 1 and nothing on stdout", tc.name, code, stdout)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("%s: stderr %q does not say %q", tc.name, stderr, w)
				}
			}
		}
	})

	t.Run("job", func(t *testing.T) {
		grid := `[grid]
name = "evaltest"
model = "d/model"
data_root = "d/data"

[[experiment]]
name = "tiny"
protocol = "train"
datasets = ["demo"]

[experiment.set]
epochs = 1
shots = 4
n_ctx = 2
`
		if err := os.WriteFile(filepath.Join(dir, "g.toml"), []byte(grid), 0o644); err != nil {
			t.Fatal(err)
		}
		// Before the run the job has no checkpoint.
		var plan []struct{ ID, Kind string }
		if err := json.Unmarshal([]byte(env.mustRun(t, "plan", "--json", "g.toml")), &plan); err != nil {
			t.Fatal(err)
		}
		if len(plan) != 1 || plan[0].Kind != "train" {
			t.Fatalf("plan %+v, want one train job", plan)
		}
		id := plan[0].ID
		if _, stderr, code := env.run(t, "eval", "--job", id, "g.toml"); code != 1 || !strings.Contains(stderr, "no checkpoint") || !strings.Contains(stderr, "grid run g.toml") {
			t.Errorf("eval of a job not run yet: exit %d, stderr %q", code, stderr)
		}

		env.mustRun(t, "run", "--plain", "g.toml")
		byJob := env.mustRun(t, "eval", "--job", id, "--classes", "new", "--logits", "out/job.csv", "g.toml")
		if res := evalTestParse(t, byJob); res.total != 200 {
			t.Errorf("new classes of demo: total %d, want 200", res.total)
		}
		if rows := evalTestReadCSV(t, filepath.Join(dir, "out/job.csv")); len(rows) != 201 {
			t.Errorf("job's logits have %d rows, want 200", len(rows)-1)
		}
		// --job is the checkpoint in the run directory with the grid's
		// model, data root and dataset; a unique ID prefix names it too.
		ckpt := filepath.Join("runs", "evaltest", "jobs", id, "checkpoint.safetensors")
		byFile := env.mustRun(t, args("--checkpoint", ckpt, "--classes", "new")...)
		byPrefix := env.mustRun(t, "eval", "g.toml", "--classes", "new", "--job", id[:6])
		if byFile != byJob || byPrefix != byJob {
			t.Errorf("--job printed\n%s\n--checkpoint %s printed\n%s\n--job %s printed\n%s", byJob, ckpt, byFile, id[:6], byPrefix)
		}

		if _, stderr, code := env.run(t, "eval", "--job", "ffffffff", "g.toml"); code != 1 || !strings.Contains(stderr, "--job ffffffff: no such job") {
			t.Errorf("unknown job: exit %d, stderr %q", code, stderr)
		}
	})
}
