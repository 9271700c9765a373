// Command grid runs grids of prompt-tuning experiments (Discrete Prompt
// Tuning on CLIP): `grid run` expands a TOML grid into a DAG of jobs and runs
// them in plugin worker processes, storing everything in SQLite; `grid report`
// turns the database into tables and figures.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/term"

	"github.com/fomo-grid/grid/engine/backend/registry"
	"github.com/fomo-grid/grid/engine/demo"
	"github.com/fomo-grid/grid/orchestrator"
	"github.com/fomo-grid/grid/orchestrator/slurm"
	"github.com/fomo-grid/grid/report"
)

// workerCommand is the hidden subcommand that turns this binary into a
// plugin worker; the orchestrator starts it, users never type it.
const workerCommand = "__worker"

const usage = `grid: grids of discrete-prompt-tuning experiments on CLIP

usage:
  grid run    [--workers N] [--retries N] [--backend auto|cpu|cuda] [--plain] [--redo stale|JOB,...] [grid.toml]
                                          run every job not done yet; --redo: those jobs again, then their dependents
  grid submit [--dry-run] [--backend auto|cpu|cuda] [grid.toml]
                                          submit the jobs not done to SLURM as job arrays (also: grid run --slurm)
  grid plan   [--json] [grid.toml]        list jobs and whether each is new, done, failed or stale; check the inputs
  grid status [--json] [grid.toml]        state, attempts and accuracies of every job
  grid report [--plot] [--dataset A,B] [--experiment E,F] [--top N] [--reference FILE.csv] [--heatmap P,Q] [grid.toml]
                                          tables (Markdown, CSV, LaTeX), figures (PNG, SVG, PDF) and index.html in <run dir>/report
  grid eval   --model DIR --data-root DIR --dataset NAME [--classes all|base|new]
              (--prompt TEXT | --checkpoint FILE | --job ID [grid.toml]) [--noshared] [--logits FILE.csv]
              [--backend auto|cpu|cuda] [--json]
                                          accuracy and macro-F1 of a prompt or checkpoint on a test split
  grid demo   [--dir demo]                write the built-in demo: tiny CLIP, vocabulary, image dataset

The grid file defaults to grid.toml. Exit status: 0 all done, 1 jobs failed, bad input or a failed write
(e.g. a full disk: free space and run again), 130 interrupted.
`

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case workerCommand:
			serveWorker() // never returns
		case slurm.TaskCommand:
			os.Exit(slurmTask(os.Args[2:], os.Stdout, os.Stderr))
		case slurm.MergeCommand:
			os.Exit(slurmMerge(os.Args[2:], os.Stdout, os.Stderr))
		}
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case "run":
		err = cmdRun(rest, stdout, stderr)
	case "submit":
		err = cmdSubmit(rest, stdout)
	case "plan":
		err = cmdPlan(rest, stdout, stderr)
	case "status":
		err = cmdStatus(rest, stdout, stderr)
	case "report":
		err = cmdReport(rest, stdout, stderr)
	case "demo":
		err = cmdDemo(rest, stdout)
	case "eval":
		err = cmdEval(rest, stdout, stderr)
	default:
		fmt.Fprintf(stderr, "grid: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	var interrupted interruptedError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &interrupted):
		fmt.Fprintln(stderr, "grid:", err)
		return 130
	default:
		fmt.Fprintln(stderr, "grid:", err)
		return 1
	}
}

type interruptedError struct{ error }

// parse parses flags wherever they stand among the arguments and returns the
// grid file (the one positional argument, default grid.toml).
func parse(fs *flag.FlagSet, args []string) (string, error) {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if strings.HasPrefix(a, "-") && a != "-" {
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if !strings.Contains(name, "=") {
				if f := fs.Lookup(name); f != nil {
					if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); !ok || !bf.IsBoolFlag() {
						if i+1 < len(args) {
							i++
							flags = append(flags, args[i])
						}
					}
				}
			}
			continue
		}
		pos = append(pos, a)
	}
	fs.SetOutput(io.Discard)
	if err := fs.Parse(flags); err != nil {
		return "", fmt.Errorf("%s: %w", fs.Name(), err)
	}
	switch len(pos) {
	case 0:
		return "grid.toml", nil
	case 1:
		return pos[0], nil
	}
	return "", fmt.Errorf("%s: one grid file expected, got %q", fs.Name(), pos)
}

func cmdRun(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	workers := fs.Int("workers", 0, "parallel worker processes (default: the grid file's, else 1)")
	retries := fs.Int("retries", -1, "extra attempts per failed job (default: the grid file's)")
	plain := fs.Bool("plain", false, "log lines instead of progress bars")
	onSlurm := fs.Bool("slurm", false, "submit to SLURM instead (grid submit)")
	verbose := fs.Bool("v", false, "show worker logs")
	backendFlag := fs.String("backend", "", "what the workers compute on: auto, cpu or cuda (default: the grid file's, else auto)")
	var redo listFlag
	fs.Var(&redo, "redo", "run done jobs again, then everything downstream: stale, or job IDs, ID prefixes or names (repeat or separate with commas)")
	file, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *onSlurm {
		return submit(file, false, *backendFlag, stdout)
	}
	s, err := orchestrator.Load(file)
	if err != nil {
		return err
	}
	defer s.Close()
	backendName, err := chooseBackend(*backendFlag, s.Grid.Backend, file, stderr)
	if err != nil {
		return err
	}
	gpus, err := gpusFor(backendName, s.Grid.GPUSlots, stderr)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var disp orchestrator.Display
	if !*plain && isTerminal(stdout) {
		disp = orchestrator.NewBars(stdout)
	} else {
		disp = orchestrator.NewLog(stdout)
	}
	level := hclog.Warn
	if *verbose {
		level = hclog.Debug
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "grid", Output: stderr, Level: level})
	live, err := livenessFromEnv()
	if err != nil {
		return err
	}
	sum, err := s.Run(ctx, orchestrator.Options{Workers: *workers, Retries: *retries, Backend: backendName, GPUs: gpus,
		Display: disp, Logger: logger, Redo: redo, Liveness: live})
	if sum.Total > 0 {
		// Also after a failure stopped the run: the counts are the database's.
		fmt.Fprintf(stdout, "grid %s: %d jobs: %d done now, %d done before, %d failed, %d blocked; results in %s\n",
			s.Grid.Name, sum.Total, sum.Done, sum.Skipped, sum.Failed, sum.Blocked, s.RunDir)
	}
	if err != nil {
		return err
	}
	if err := sum.Err(); err != nil {
		if sum.Interrupted {
			return interruptedError{err}
		}
		return err
	}
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func cmdPlan(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("plan", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	file, err := parse(fs, args)
	if err != nil {
		return err
	}
	s, err := orchestrator.Load(file)
	if err != nil {
		return err
	}
	rows, err := s.Plan()
	if err != nil {
		return err
	}
	err = printRows(stdout, *asJSON, rows, "STATE\tKIND\tID\tNAME\tDEPENDS ON\tNOTE",
		func(r orchestrator.PlanRow, cells []string) []string {
			return append(cells, r.State, string(r.Kind), r.ID, r.Name, strings.Join(r.Deps, ","), r.Reason)
		})
	if err != nil {
		return err
	}
	if !*asJSON {
		if err := printEstimate(stdout, s, rows); err != nil {
			return err
		}
	}
	// What `grid run` checks before its first write: a plan that cannot
	// run says so now.
	logger := hclog.New(&hclog.LoggerOptions{Name: "grid", Output: stderr, Level: hclog.Warn})
	return s.Check(context.Background(), orchestrator.Options{Logger: logger})
}

// printEstimate says what the jobs still to run compute, and how long that
// takes per backend.
func printEstimate(w io.Writer, s *orchestrator.Session, rows []orchestrator.PlanRow) error {
	work, estimates, err := s.EstimateWork(rows)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "to run: %d jobs, %d training steps, %d test images", work.Jobs, work.TrainSteps, work.TestImages)
	if work.Unknown > 0 {
		fmt.Fprintf(w, " (%d jobs of unknown size left out)", work.Unknown)
	}
	fmt.Fprintln(w)
	for _, e := range estimates {
		fmt.Fprintf(w, "  %-14s %-10s %s\n", e.Backend, orchestrator.Duration(e.Seconds), e.Basis)
	}
	return nil
}

func cmdStatus(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	file, err := parse(fs, args)
	if err != nil {
		return err
	}
	s, err := orchestrator.Load(file) // once: a grid of 200,000 jobs takes a second to expand
	if err != nil {
		return err
	}
	m, err := s.MergeShardsIfRun()
	if err != nil {
		return err
	}
	reportMerge(stderr, m)
	rows, err := s.Status()
	if err != nil {
		return err
	}
	view := slurmView(s.RunDir, stderr)
	lines := make([]statusLine, len(rows))
	for i, r := range rows {
		lines[i].StatusRow = r
		if view != nil {
			lines[i].Slurm = view.Jobs[r.ID]
		}
	}
	// GPU jobs record their device memory; a CPU grid keeps the plain table.
	gpu := slices.ContainsFunc(rows, func(r orchestrator.StatusRow) bool { return r.PeakMemory > 0 })
	header := "STATE\tTRIES\tNAME\tACCURACY\tPROMPT\tTIME\tERROR"
	if gpu {
		header = "STATE\tTRIES\tNAME\tACCURACY\tPROMPT\tTIME\tGPU MEM\tERROR"
	}
	if view != nil {
		header += "\tSLURM"
	}
	err = printRows(stdout, *asJSON, lines, header, func(r statusLine, cells []string) []string {
		cells = r.columns(cells, gpu, time.Now())
		if view != nil {
			cells = append(cells, r.slurmText())
		}
		return cells
	})
	if err == nil && view != nil && !*asJSON {
		printArrays(stdout, view)
	}
	return err
}

// columns appends a job's cells of `grid status` to cells, its state first
// and the GPU memory among them when gpu is set.
func (r statusLine) columns(cells []string, gpu bool, now time.Time) []string {
	acc := "—"
	if len(r.Evaluations) > 0 {
		parts := make([]string, 0, len(r.Evaluations))
		for _, e := range r.Evaluations {
			parts = append(parts, fmt.Sprintf("%s %.1f%%", e.Split, e.Accuracy))
		}
		acc = strings.Join(parts, ", ")
	}
	state, note := r.State, oneLine(r.Error, 60)
	if r.Orphaned {
		state, note = "orphaned", "left running by a `grid run` that is gone; the next run resets it"
	}
	cells = append(cells, state, strconv.Itoa(r.Attempts), r.Name, acc, r.Prompt, statusTime(r.StatusRow, now))
	if gpu {
		mem := ""
		if r.PeakMemory > 0 {
			mem = fmt.Sprintf("%.2f GiB", float64(r.PeakMemory)/(1<<30))
		}
		cells = append(cells, mem)
	}
	return append(cells, note)
}

// statusTime is how long a job's last attempt took; for a running job, how
// long it has run and when its worker last reported.
func statusTime(r orchestrator.StatusRow, now time.Time) string {
	if r.Seconds <= 0 {
		return ""
	}
	d := (time.Duration(r.Seconds*1000) * time.Millisecond).Round(100 * time.Millisecond).String()
	if r.State != "running" {
		return d
	}
	d = "running " + d
	if r.LastReport != nil {
		d += ", last report " + now.Sub(*r.LastReport).Round(time.Second).String() + " ago"
	}
	return d
}

// envSilence is how long a worker may send nothing (no progress, no
// heartbeat) before `grid run` kills it as stopped or hung; default 1m.
const envSilence = "GRID_WORKER_SILENCE"

func livenessFromEnv() (orchestrator.Liveness, error) {
	v := os.Getenv(envSilence)
	if v == "" {
		return orchestrator.Liveness{}, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return orchestrator.Liveness{}, fmt.Errorf("%s=%q: want a positive duration such as 30s or 5m", envSilence, v)
	}
	// Several heartbeats fit in the silence, so one late beat is no death.
	return orchestrator.Liveness{Silence: d, Heartbeat: min(5*time.Second, d/10)}, nil
}

// listFlag collects a repeatable flag's values.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// printRows prints the jobs of `grid plan` and `grid status`: indented JSON,
// or a table closed by a count of jobs per state. cells appends a row's
// cells, its state first, one per column of the tab-separated header.
func printRows[T any](out io.Writer, asJSON bool, rows []T, header string, cells func(row T, dst []string) []string) error {
	// Buffered: a system call per 64 KiB, not per line (seconds for a grid
	// of 200,000 jobs).
	w := bufio.NewWriterSize(out, 1<<16)
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rows); err != nil {
			return err
		}
		return w.Flush()
	}
	// One flat slice of cells, no string per line to split again: building
	// a line and splitting it was a fifth of `grid plan`'s time at 200,000
	// jobs.
	columns := strings.Split(header, "\t")
	table := make([]string, 0, (len(rows)+1)*len(columns))
	table = append(table, columns...)
	counts := map[string]int{}
	for _, r := range rows {
		start := len(table)
		table = cells(r, table)
		if len(table)-start != len(columns) {
			panic(fmt.Sprintf("grid: a row of %d cells under a header of %d", len(table)-start, len(columns)))
		}
		counts[table[start]]++
	}
	writeTable(w, table, len(columns))
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintf(w, "\n%d jobs:", len(rows))
	for _, k := range keys {
		fmt.Fprintf(w, " %d %s", counts[k], k)
	}
	fmt.Fprintln(w)
	return w.Flush() // a full disk or a closed pipe is an error, not silence
}

// writeTable writes cells, columns to a row, with every column but the last
// padded to its widest cell plus two spaces, as text/tabwriter would, in
// one pass per row: tabwriter's cost per cell was a quarter of `grid plan`'s
// time on a grid of 200,000 jobs.
func writeTable(w *bufio.Writer, cells []string, columns int) {
	widths := make([]int, columns)
	for i, cell := range cells {
		if c := i % columns; c < columns-1 {
			widths[c] = max(widths[c], utf8.RuneCountInString(cell))
		}
	}
	for i, cell := range cells {
		w.WriteString(cell)
		if c := i % columns; c < columns-1 {
			for pad := widths[c] - utf8.RuneCountInString(cell) + 2; pad > 0; pad-- {
				w.WriteByte(' ')
			}
		} else {
			w.WriteByte('\n')
		}
	}
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n-1] + "…"
	}
	return s
}

func cmdReport(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	plot := fs.Bool("plot", false, "also draw the figures (PNG, SVG, PDF) and pgfplots loss curves")
	datasets := fs.String("dataset", "", "only these datasets (comma-separated)")
	experiments := fs.String("experiment", "", "only these experiments (comma-separated)")
	top := fs.Int("top", report.DefaultTop, "configurations a figure shows; the rest are counted")
	refs := fs.String("reference", "", "CSV of published numbers of other methods: method,dataset,base,new[,h]")
	heatmap := fs.String("heatmap", "", "also a heatmap of mean H for these two swept parameters, e.g. n_ctx,weight_std")
	file, err := parse(fs, args)
	if err != nil {
		return err
	}
	opts := report.Options{Plots: *plot, Datasets: splitList(*datasets), Experiments: splitList(*experiments),
		Top: *top, References: *refs}
	if *heatmap != "" {
		pair := splitList(*heatmap)
		if len(pair) != 2 {
			return fmt.Errorf("report: --heatmap %q: name two swept parameters, e.g. n_ctx,weight_std", *heatmap)
		}
		opts.Heatmaps = [][2]string{{pair[0], pair[1]}}
	}
	if *top < 1 {
		return fmt.Errorf("report: --top %d: at least 1", *top)
	}
	s, err := orchestrator.Open(file)
	if err != nil {
		return err
	}
	defer s.Close()
	m, err := s.MergeShards()
	if err != nil {
		return err
	}
	reportMerge(stderr, m)
	files, err := report.Write(s.DB, s.Grid.Name, s.ReportDir(), opts)
	fmt.Fprintf(stdout, "wrote %d files to %s (open %s)\n", len(files), s.ReportDir(), filepath.Join(s.ReportDir(), "index.html"))
	return err
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

func cmdDemo(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	dir := fs.String("dir", "demo", "directory to write the demo model and dataset into")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	start := time.Now()
	// The CPU backend, whatever the machine has: its bytes are the demo's.
	cpu, err := registry.Open("cpu")
	if err != nil {
		return err
	}
	if err := demo.Write(*dir, cpu, stdout); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "demo model, vocabulary and dataset in %s (%s)\n", *dir, time.Since(start).Round(time.Millisecond))
	return nil
}
