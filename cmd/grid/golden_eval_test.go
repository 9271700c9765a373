package main

import (
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// TestEvalMatchesPyTorchReference runs `grid eval` on the small DTD-layout
// dataset and model that engine/reference/dpt_reference.py wrote, and
// expects the numbers the PyTorch reference computed on the same files: a
// hand-written prompt, a DPT checkpoint, and the checkpoint without visual
// prompts (crossds_projfree).
func TestEvalMatchesPyTorchReference(t *testing.T) {
	fixtures, err := filepath.Abs("../../engine/reference/fixtures")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Checkpoint string `json:"checkpoint"`
		Dataset    string `json:"dataset"`
		Prompt     string `json:"prompt"`
		Results    map[string]struct {
			Accuracy float64 `json:"accuracy"`
			Correct  int     `json:"correct"`
			MacroF1  float64 `json:"macro_f1"`
			Pred     []int   `json:"pred"`
		} `json:"results"`
	}
	b, err := os.ReadFile(filepath.Join(fixtures, "eval.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	base := []string{"eval", "--json", "--model", filepath.Join(fixtures, "model"),
		"--data-root", filepath.Join(fixtures, "evalset"), "--dataset", ref.Dataset}
	cases := map[string][]string{
		"prompt":       {"--prompt", ref.Prompt},
		"dpt":          {"--checkpoint", filepath.Join(fixtures, ref.Checkpoint)},
		"dpt_noshared": {"--checkpoint", filepath.Join(fixtures, ref.Checkpoint), "--noshared"},
	}
	for name, extra := range cases {
		want, ok := ref.Results[name]
		if !ok {
			t.Fatalf("eval.json has no %q result", name)
		}
		logits := filepath.Join(dir, name+".csv")
		args := append(append(append([]string{}, base...), extra...), "--logits", logits)
		res := runGrid(t, dir, args...)
		if res.code != 0 {
			t.Fatalf("%s: exit %d: %s", name, res.code, res.stderr)
		}
		var got struct {
			Total    int     `json:"total"`
			Correct  int     `json:"correct"`
			Accuracy float64 `json:"accuracy"`
			MacroF1  float64 `json:"macro_f1"`
		}
		if err := json.Unmarshal([]byte(res.stdout), &got); err != nil {
			t.Fatalf("%s: %v in %q", name, err, res.stdout)
		}
		if got.Total != len(want.Pred) || got.Correct != want.Correct ||
			math.Abs(got.Accuracy-want.Accuracy) > 1e-9 || math.Abs(got.MacroF1-want.MacroF1) > 1e-9 {
			t.Errorf("%s: grid eval gives %+v, the reference %d/%d correct, accuracy %v, macro-F1 %v",
				name, got, want.Correct, len(want.Pred), want.Accuracy, want.MacroF1)
		}
		// Each image's prediction, from the logits file.
		f, err := os.Open(logits)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(f).ReadAll()
		f.Close()
		if err != nil || len(rows) != len(want.Pred)+1 {
			t.Fatalf("%s: logits file: %d rows, %v", name, len(rows), err)
		}
		for i, row := range rows[1:] {
			best, bestV := -1, math.Inf(-1)
			for c, cell := range row[2:] {
				v, err := strconv.ParseFloat(cell, 64)
				if err != nil {
					t.Fatal(err)
				}
				if v > bestV {
					best, bestV = c, v
				}
			}
			if best != want.Pred[i] {
				t.Errorf("%s: image %s predicted %d, the reference %d", name, row[0], best, want.Pred[i])
			}
		}
	}
}
