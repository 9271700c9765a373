package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/hashicorp/go-hclog"

	"github.com/fomo-grid/grid/internal/study"
	"github.com/fomo-grid/grid/orchestrator"
	"github.com/fomo-grid/grid/worker"
)

// evalOutput is what `grid eval --json` prints: what was tested and the
// Classification evaluator's numbers (Dassl's keys accuracy, error_rate,
// macro_f1, in percent).
type evalOutput struct {
	Model      string        `json:"model"`
	DataRoot   string        `json:"data_root"`
	Dataset    string        `json:"dataset"`
	Classes    study.Classes `json:"classes"`
	Variant    study.Variant `json:"variant"`
	Prompt     string        `json:"prompt,omitempty"`
	Checkpoint string        `json:"checkpoint,omitempty"`
	Job        string        `json:"job,omitempty"`
	Total      int           `json:"total"`
	Correct    int           `json:"correct"`
	Accuracy   float64       `json:"accuracy"`
	ErrorRate  float64       `json:"error_rate"`
	MacroF1    float64       `json:"macro_f1"`
	LogitsFile string        `json:"logits_file,omitempty"`
}

// cmdEval tests a hand-written prompt or a learned checkpoint on the test
// split of a dataset. It runs the engine in one worker process, exactly as a
// grid's eval job does, so its numbers are the ones a grid would record.
func cmdEval(args []string, stdout, stderr io.Writer) error {
	f, file, err := parseEvalFlags(args)
	if err != nil {
		return err
	}
	if err := f.checkSources(file); err != nil {
		return err
	}
	variant, gridBackend, err := f.fromJob(file)
	if err != nil {
		return err
	}
	if err := f.checkInputs(); err != nil {
		return err
	}
	backendName, err := chooseBackend(f.backend, gridBackend, file, stderr)
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	task := worker.Task{
		JobID:        "eval",
		Kind:         study.KindEval,
		Model:        f.model,
		DataRoot:     f.dataRoot,
		Dataset:      f.dataset,
		Classes:      study.Classes(f.classes),
		Variant:      variant,
		CheckpointIn: f.checkpoint,
		Prompt:       f.prompt,
		LogitsFile:   f.logits,
	}
	ev, err := runEval(task, backendName, stderr, f.verbose)
	if err != nil {
		return err
	}
	if f.logits != "" {
		// A worker that dropped the field would leave no file; say so
		// rather than let an old CSV pass for this run's.
		if _, err := os.Stat(f.logits); err != nil {
			return fmt.Errorf("eval: the worker wrote no logits file: %w", err)
		}
	}
	return printEval(stdout, stderr, f, task, ev)
}

// evalFlags are `grid eval`'s flags; given names those set on the command
// line.
type evalFlags struct {
	model, dataRoot, dataset, classes, prompt, checkpoint, jobID, logits, backend string
	noShared, asJSON, verbose                                                     bool
	given                                                                         map[string]bool
}

func parseEvalFlags(args []string) (*evalFlags, string, error) {
	f := &evalFlags{given: map[string]bool{}}
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.StringVar(&f.model, "model", "", "model directory (weights and tokenizer); with --job, the grid's")
	fs.StringVar(&f.dataRoot, "data-root", "", "directory holding one folder per dataset; with --job, the grid's")
	fs.StringVar(&f.dataset, "dataset", "", "dataset whose test split is classified; with --job, the job's")
	fs.StringVar(&f.classes, "classes", string(study.ClassesAll), "which classes: all, base or new")
	fs.StringVar(&f.prompt, "prompt", "", `hand-written prompt: context put before each class name ("a photo of a"), or a template with {} for the name ("a photo of a {}, a type of pet.")`)
	fs.StringVar(&f.checkpoint, "checkpoint", "", "learned checkpoint (.safetensors) written by a train job")
	fs.StringVar(&f.jobID, "job", "", "ID (or unique ID prefix) of a train job of the grid file")
	fs.BoolVar(&f.noShared, "noshared", false, "test without the visual prompts (projection-free transfer)")
	fs.StringVar(&f.logits, "logits", "", "write every test image's path, label and class logits to this CSV file")
	fs.StringVar(&f.backend, "backend", "", "what the worker computes on: auto, cpu or cuda (default: with --job the grid file's, else auto)")
	fs.BoolVar(&f.asJSON, "json", false, "print JSON")
	fs.BoolVar(&f.verbose, "v", false, "show worker logs")
	file, err := parse(fs, args)
	if err != nil {
		return nil, "", err
	}
	fs.Visit(func(fl *flag.Flag) { f.given[fl.Name] = true })
	return f, file, nil
}

// checkSources insists on exactly one thing to test: a prompt, a
// checkpoint or a job of the grid file.
func (f *evalFlags) checkSources(file string) error {
	var sources []string
	for _, name := range []string{"prompt", "checkpoint", "job"} {
		if f.given[name] {
			sources = append(sources, "--"+name)
		}
	}
	switch {
	case len(sources) == 0:
		return errors.New("eval: say what to test: --prompt TEXT, --checkpoint FILE or --job ID [grid.toml]")
	case len(sources) > 1:
		return fmt.Errorf("eval: %s exclude each other; give one", strings.Join(sources, " and "))
	case f.given["prompt"] && strings.TrimSpace(f.prompt) == "":
		return errors.New("eval: --prompt is empty")
	case f.given["checkpoint"] && f.checkpoint == "":
		return errors.New("eval: --checkpoint is empty")
	case f.given["job"] && f.jobID == "":
		return errors.New("eval: --job is empty")
	case !f.given["job"] && file != "grid.toml":
		return fmt.Errorf("eval: a grid file (%s) is read only with --job", file)
	}
	return nil
}

// fromJob fills, for --job, the checkpoint and what the flags leave unset
// from the grid's job, and returns the variant to test and the grid's
// backend.
func (f *evalFlags) fromJob(file string) (study.Variant, string, error) {
	var variant study.Variant
	var gridBackend string
	if f.given["job"] {
		job, err := resolveJob(file, f.jobID)
		if err != nil {
			return "", "", err
		}
		f.jobID, f.checkpoint, gridBackend = job.id, job.checkpoint, job.backend
		f.model = cmp.Or(f.model, job.model)
		f.dataRoot = cmp.Or(f.dataRoot, job.dataRoot)
		f.dataset = cmp.Or(f.dataset, job.dataset)
		// The job's own variant decides how tokens are selected from
		// its scores; --noshared can only drop the visual prompts.
		variant = job.variant
		if f.noShared && variant != "" && variant != study.VariantFull && variant != study.VariantNoShared {
			return "", "", fmt.Errorf("eval: --noshared: job %s was trained as variant %s, and a test runs one variant", job.id, variant)
		}
	}
	if f.noShared {
		variant = study.VariantNoShared
	}
	return cmp.Or(variant, study.VariantFull), gridBackend, nil
}

// checkInputs names the flag of a missing or unusable input, and makes the
// logits file's path absolute with its folder made.
func (f *evalFlags) checkInputs() error {
	if f.model == "" {
		return errors.New("eval: --model is required (the model directory)")
	}
	if f.dataRoot == "" {
		return errors.New("eval: --data-root is required (the directory holding one folder per dataset)")
	}
	if f.dataset == "" {
		return errors.New("eval: --dataset is required (for example --dataset demo)")
	}
	switch study.Classes(f.classes) {
	case study.ClassesAll, study.ClassesBase, study.ClassesNew:
	default:
		return fmt.Errorf("eval: --classes %q: want all, base or new", f.classes)
	}
	if err := checkDir("--model", &f.model); err != nil {
		return err
	}
	if err := checkDir("--data-root", &f.dataRoot); err != nil {
		return err
	}
	if f.checkpoint != "" {
		if err := checkFile("--checkpoint", &f.checkpoint); err != nil {
			return err
		}
	}
	if f.logits == "" {
		return nil
	}
	abs, err := filepath.Abs(f.logits)
	if err != nil {
		return fmt.Errorf("eval: --logits %s: %w", f.logits, err)
	}
	if info, err := os.Stat(abs); err == nil && info.IsDir() {
		return fmt.Errorf("eval: --logits %s is a directory; name a CSV file", f.logits)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return fmt.Errorf("eval: --logits %s: %w", f.logits, err)
	}
	f.logits = abs
	return nil
}

// printEval prints the evaluation as JSON or as the result lines.
func printEval(stdout, stderr io.Writer, f *evalFlags, task worker.Task, ev worker.Evaluation) error {
	if f.asJSON {
		out := evalOutput{
			Model: task.Model, DataRoot: task.DataRoot, Dataset: task.Dataset, Classes: task.Classes,
			Variant: task.Variant, Prompt: task.Prompt, Checkpoint: task.CheckpointIn, Job: f.jobID,
			Total: ev.Total, Correct: ev.Correct, Accuracy: ev.Accuracy, ErrorRate: 100 - ev.Accuracy,
			MacroF1: ev.MacroF1, LogitsFile: task.LogitsFile,
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	writeEvalResult(stdout, ev.Total, ev.Correct, ev.Accuracy, ev.MacroF1)
	if f.logits != "" {
		fmt.Fprintf(stderr, "grid: logits of %s test images in %s\n", formatCount(ev.Total), f.logits)
	}
	return nil
}

// runEval runs one eval task on a fresh worker process and returns its one
// evaluation.
func runEval(task worker.Task, backendName string, stderr io.Writer, verbose bool) (worker.Evaluation, error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	level := hclog.Warn
	if verbose {
		level = hclog.Debug
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "grid", Output: stderr, Level: level})
	c, err := worker.Start(ctx, worker.Options{Logger: logger, Backend: backendName})
	if err != nil {
		if ctx.Err() != nil {
			return worker.Evaluation{}, interruptedError{errors.New("eval interrupted")}
		}
		return worker.Evaluation{}, fmt.Errorf("eval: %w", err)
	}
	defer c.Kill()
	res, err := c.Run(ctx, task, nil)
	if err != nil {
		if ctx.Err() != nil {
			return worker.Evaluation{}, interruptedError{errors.New("eval interrupted")}
		}
		return worker.Evaluation{}, fmt.Errorf("eval of dataset %s (%s classes): %w", task.Dataset, task.Classes, err)
	}
	if len(res.Evaluations) != 1 {
		return worker.Evaluation{}, fmt.Errorf("eval: the worker returned %d evaluations, want 1", len(res.Evaluations))
	}
	return res.Evaluations[0], nil
}

// evalJob is what `--job` resolves to.
type evalJob struct {
	id, name                 string
	checkpoint               string
	model, dataRoot, dataset string
	variant                  study.Variant
	backend                  string // the grid file's backend setting
}

// resolveJob finds a train job of the grid file by ID (or unique ID prefix)
// and the checkpoint it wrote.
func resolveJob(gridFile, id string) (evalJob, error) {
	s, err := orchestrator.Open(gridFile)
	if err != nil {
		return evalJob{}, fmt.Errorf("eval: --job: %w", err)
	}
	defer s.Close()
	var matches []int
	for i, j := range s.Grid.Jobs {
		if j.ID == id {
			matches = []int{i}
			break
		}
		if strings.HasPrefix(j.ID, id) {
			matches = append(matches, i)
		}
	}
	switch len(matches) {
	case 0:
		return evalJob{}, fmt.Errorf("eval: --job %s: no such job in %s (see `grid plan %s`)", id, gridFile, gridFile)
	case 1:
	default:
		return evalJob{}, fmt.Errorf("eval: --job %s: %d jobs of %s start with it; give more digits", id, len(matches), gridFile)
	}
	j := s.Grid.Jobs[matches[0]]
	if j.Config.Kind != study.KindTrain {
		return evalJob{}, fmt.Errorf("eval: --job %s (%s) is an eval job and has no checkpoint; its train job is %s", j.ID, j.Name, j.Config.Source)
	}
	ckpt, err := filepath.Abs(s.CheckpointPath(j.ID))
	if err != nil {
		return evalJob{}, fmt.Errorf("eval: --job %s: %w", j.ID, err)
	}
	if _, err := os.Stat(ckpt); err != nil {
		return evalJob{}, fmt.Errorf("eval: --job %s (%s) has no checkpoint at %s; run `grid run %s` first", j.ID, j.Name, ckpt, gridFile)
	}
	return evalJob{
		id: j.ID, name: j.Name, checkpoint: ckpt,
		model:    s.Grid.Resolve(j.Config.Model),
		dataRoot: s.Grid.Resolve(j.Config.DataRoot),
		dataset:  j.Config.Dataset,
		variant:  j.Config.Variant,
		backend:  s.Grid.Backend,
	}, nil
}

// checkDir makes *path absolute (the worker may not share our idea of the
// working directory) and checks it is a directory.
func checkDir(flagName string, path *string) error { return checkPath(flagName, path, true) }

// checkFile makes *path absolute and checks it is a regular file.
func checkFile(flagName string, path *string) error { return checkPath(flagName, path, false) }

func checkPath(flagName string, path *string, wantDir bool) error {
	what := "file"
	if wantDir {
		what = "directory"
	}
	abs, err := filepath.Abs(*path)
	if err != nil {
		return fmt.Errorf("eval: %s %s: %w", flagName, *path, err)
	}
	info, err := os.Stat(abs)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("eval: %s %s: no such %s", flagName, *path, what)
	case err != nil:
		return fmt.Errorf("eval: %s %s: %w", flagName, *path, err)
	case wantDir && !info.IsDir():
		return fmt.Errorf("eval: %s %s: not a directory", flagName, *path)
	case !wantDir && !info.Mode().IsRegular():
		return fmt.Errorf("eval: %s %s: not a regular file", flagName, *path)
	}
	*path = abs
	return nil
}

// writeEvalResult prints the result block of Dassl's Classification
// evaluator (reference semantics §5.1): counts with thousands separators,
// percentages with one decimal. Go's %.1f and Python's .1f both round the
// exact binary value, so the digits agree.
func writeEvalResult(w io.Writer, total, correct int, accuracy, macroF1 float64) {
	fmt.Fprintf(w, "=> result\n* total: %s\n* correct: %s\n* accuracy: %.1f%%\n* error: %.1f%%\n* macro_f1: %.1f%%\n",
		formatCount(total), formatCount(correct), accuracy, 100-accuracy, macroF1)
}

// formatCount writes n as Python's "{:,}" does: a comma every three digits.
func formatCount(n int) string {
	digits := strconv.Itoa(n)
	sign := ""
	if n < 0 {
		sign, digits = "-", digits[1:]
	}
	var b strings.Builder
	b.WriteString(sign)
	for i, d := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(d)
	}
	return b.String()
}
